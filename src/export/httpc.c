/* httpc: POSTs the exporters' payloads with libcurl over one reused
 * connection, and reads back what the delivery engine needs from the answer.
 * See httpc.h. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "export/httpc.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "export/backoff.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.0.0"
#endif

struct httpc {
    CURL *curl;
    CURLM *multi;                /* drives the one transfer; keeps the connection */
    const volatile sig_atomic_t *stop;
    buf_t zbody;                 /* the compressed body, reused */
    long connect_ms, total_ms;
    /* the request in flight */
    struct curl_slist *hl;
    httpc_response *r;
    char errbuf[CURL_ERROR_SIZE];
    int inflight;
    char *sigv4;                 /* CURLOPT_AWS_SIGV4 provider, NULL: unsigned */
    char *userpwd;               /* its key pair; wiped before it is freed */
};

void httpc_response_init(httpc_response *r)
{
    memset(r, 0, sizeof *r);
    r->retry_after_ms = r->rate_remaining = r->rate_remaining_s = -1;
}

static void wipe_free(char *s)
{
    if (s == NULL)
        return;
    volatile char *p = s;
    while (*p)
        *p++ = '\0';
    free(s);
}

int httpc_set_aws_sigv4(httpc *c, const char *provider, const char *userpwd)
{
    char *pv = NULL, *up = NULL;
    if (provider != NULL) {
        pv = strdup(provider);
        up = strdup(userpwd ? userpwd : "");
        if (pv == NULL || up == NULL) {
            free(pv);
            wipe_free(up);
            return -1;
        }
    }
    free(c->sigv4);
    wipe_free(c->userpwd);
    c->sigv4 = pv;
    c->userpwd = up;
    return 0;
}

void httpc_response_free(httpc_response *r)
{
    if (r != NULL)
        buf_free(&r->body);
}

static void response_reset(httpc_response *r)
{
    buf_t body = r->body;
    buf_reset(&body);
    httpc_response_init(r);
    r->body = body;
}

int httpc_new(httpc **out, long connect_timeout_ms, long timeout_ms,
              const volatile sig_atomic_t *stop)
{
    *out = NULL;
    httpc *c = calloc(1, sizeof *c);
    if (c == NULL)
        return -1;
    c->curl = curl_easy_init();
    c->multi = curl_multi_init();
    if (c->curl == NULL || c->multi == NULL) {
        curl_easy_cleanup(c->curl);
        if (c->multi != NULL)
            curl_multi_cleanup(c->multi);
        free(c);
        return -1;
    }
    c->stop = stop;
    httpc_set_timeouts(c, connect_timeout_ms, timeout_ms);
    *out = c;
    return 0;
}

int httpc_new_like(httpc **out, const httpc *c)
{
    return httpc_new(out, c->connect_ms, c->total_ms, c->stop);
}

void httpc_set_timeouts(httpc *c, long connect_timeout_ms, long timeout_ms)
{
    c->connect_ms = connect_timeout_ms > 0 ? connect_timeout_ms : 5000;
    c->total_ms = timeout_ms > 0 ? timeout_ms : 30000;
}

void httpc_free(httpc *c)
{
    if (c == NULL)
        return;
    if (c->inflight) {
        curl_multi_remove_handle(c->multi, c->curl);
        curl_slist_free_all(c->hl);
    }
    curl_multi_cleanup(c->multi);
    curl_easy_cleanup(c->curl);
    buf_free(&c->zbody);
    free(c->sigv4);
    wipe_free(c->userpwd);
    free(c);
}

int httpc_gzip(const void *in, size_t len, buf_t *out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    /* Level 1: JSON still shrinks several times, at a fraction of the CPU. */
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    size_t bound = deflateBound(&z, (uLong)len) + 32;
    if (buf_reserve(out, bound) != 0) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out->data + out->len;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    if (rc != Z_STREAM_END) {
        deflateEnd(&z);
        return -1;
    }
    out->len += bound - z.avail_out;
    out->data[out->len] = '\0';
    deflateEnd(&z);
    return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    httpc_response *r = arg;
    size_t len = size * n;
    size_t room = r->body.len < HTTPC_MAX_BODY ? HTTPC_MAX_BODY - r->body.len : 0;
    if (room > 0 && buf_append(&r->body, p, len < room ? len : room) != 0)
        return 0;
    return len;
}

/* Copies a header's value (without blanks and CRLF) into dst. */
static void header_value(const char *p, size_t len, char *dst, size_t size)
{
    while (len > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        len--;
    }
    while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == '\n' || p[len - 1] == ' ' ||
                       p[len - 1] == '\t'))
        len--;
    if (len >= size)
        len = size - 1;
    memcpy(dst, p, len);
    dst[len] = '\0';
}

static int header_is(const char *line, size_t len, const char *name, const char **value,
                     size_t *vlen)
{
    size_t n = strlen(name);
    if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
        return 0;
    *value = line + n + 1;
    *vlen = len - n - 1;
    return 1;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    httpc_response *r = arg;
    size_t len = size * n;
    const char *v;
    size_t vl;
    char val[256];
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        /* a new answer (after 100 Continue, say): forget the previous one's headers */
        r->retry_after_ms = r->rate_remaining = r->rate_remaining_s = -1;
        r->content_type[0] = '\0';
        r->amzn_error_type[0] = '\0';
        r->date_ns = 0;
    } else if (header_is(p, len, "Date", &v, &vl)) {
        header_value(v, vl, val, sizeof val);
        time_t when = curl_getdate(val, NULL);
        r->date_ns = when > 0 ? (int64_t)when * 1000000000 : 0;
    } else if (header_is(p, len, "X-Amzn-ErrorType", &v, &vl)) {
        header_value(v, vl, r->amzn_error_type, sizeof r->amzn_error_type);
    } else if (header_is(p, len, "Retry-After", &v, &vl)) {
        header_value(v, vl, val, sizeof val);
        r->retry_after_ms = backoff_parse_retry_after(val, (int64_t)time(NULL));
    } else if (header_is(p, len, "X-Rate-Limit-Remaining-Seconds", &v, &vl)) {
        header_value(v, vl, val, sizeof val);
        r->rate_remaining_s = backoff_parse_uint(val);
    } else if (header_is(p, len, "X-Rate-Limit-Remaining", &v, &vl)) {
        header_value(v, vl, val, sizeof val);
        r->rate_remaining = backoff_parse_uint(val);
    } else if (header_is(p, len, "Content-Type", &v, &vl)) {
        header_value(v, vl, r->content_type, sizeof r->content_type);
    }
    return len;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    const httpc *c = arg;
    return c->stop != NULL && *c->stop ? 1 : 0;
}

int httpc_start(httpc *c, const char *url, const char *const *headers, const void *body,
                size_t len, int gzip, httpc_response *r)
{
    if (c->inflight)
        return -1;
    response_reset(r);
    struct curl_slist *hl = NULL, *t;
    const void *payload = body;
    size_t plen = len;
    if (gzip) {
        buf_reset(&c->zbody);
        if (httpc_gzip(body, len, &c->zbody) != 0)
            return -1;
        payload = c->zbody.data;
        plen = c->zbody.len;
        if ((t = curl_slist_append(hl, "Content-Encoding: gzip")) == NULL)
            goto oom;
        hl = t;
    }
    /* No "Expect: 100-continue" round trip before large bodies. Not with
     * SigV4: libcurl before 8.3 signs the emptied header as "expect:" while
     * leaving it out of the request, and AWS refuses the signature. */
    if (c->sigv4 == NULL) {
        if ((t = curl_slist_append(hl, "Expect:")) == NULL)
            goto oom;
        hl = t;
    }
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        if ((t = curl_slist_append(hl, headers[i])) == NULL)
            goto oom;
        hl = t;
    }
    CURL *h = c->curl;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)plen);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "cruddur-export/" PACKAGE_VERSION);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->total_ms);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
    curl_easy_setopt(h, CURLOPT_USERPWD, c->sigv4 ? c->userpwd : NULL);
    c->errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
    if (curl_multi_add_handle(c->multi, h) != CURLM_OK)
        goto oom;
    c->hl = hl;
    c->r = r;
    c->inflight = 1;
    r->sent_bytes = plen;
    /* Push the request out now, as far as the socket takes it without
     * waiting: the caller's work then overlaps the service's. */
    for (int k = 0; k < 16; k++) {
        int running = 0;
        curl_off_t up = 0;
        if (curl_multi_perform(c->multi, &running) != CURLM_OK || !running)
            break;
        curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &up);
        if ((size_t)up >= plen)
            break;
        curl_multi_poll(c->multi, NULL, 0, 1, NULL);
    }
    return 0;
oom:
    curl_slist_free_all(hl);
    return -1;
}

int httpc_finish(httpc *c)
{
    if (!c->inflight)
        return -1;
    CURL *h = c->curl;
    httpc_response *r = c->r;
    CURLcode rc = CURLE_OK;
    int done = 0;
    while (!done) {
        int running = 0;
        if (curl_multi_perform(c->multi, &running) != CURLM_OK) {
            rc = CURLE_FAILED_INIT;
            break;
        }
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(c->multi, &left)) != NULL)
            if (m->msg == CURLMSG_DONE && m->easy_handle == h) {
                rc = m->data.result;
                done = 1;
            }
        if (!done && running)
            curl_multi_poll(c->multi, NULL, 0, 100, NULL);
        else if (!done)
            done = 1;  /* not running and no message: treat as finished */
    }
    curl_multi_remove_handle(c->multi, h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(c->hl);
    c->hl = NULL;
    c->inflight = 0;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
        if (r->status > 0)
            return 0;
        rc = CURLE_GOT_NOTHING;
    }
    r->status = 0;
    r->transport_error = (int)rc;
    r->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
    r->aborted = rc == CURLE_ABORTED_BY_CALLBACK;
    snprintf(r->error, sizeof r->error, "%s", c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
    return 1;
}

int httpc_post(httpc *c, const char *url, const char *const *headers, const void *body,
               size_t len, int gzip, httpc_response *r)
{
    if (httpc_start(c, url, headers, body, len, gzip, r) != 0)
        return -1;
    return httpc_finish(c);
}
