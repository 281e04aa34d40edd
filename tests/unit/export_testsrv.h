/* A scripted HTTP/1.1 server on loopback for the exporter unit suites: a
 * thread accepts keep-alive connections (several at once), records every
 * request (headers and body, gunzipped), and answers from a script, then
 * 200 "{}" once the script is used up. A reply can also close the
 * connection without answering, or answer late. Include once per test
 * program. */
#ifndef EXPORT_TESTSRV_H
#define EXPORT_TESTSRV_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define TSRV_MAX 4096

typedef struct tsrv_reply {
    int status;                 /* 0: close the connection without answering */
    const char *headers;        /* extra header lines, each ending in \r\n */
    const char *body;
    int delay_ms;               /* answer after this long */
} tsrv_reply;

/* Answers with reject_status (and a body naming nothing) to any request whose
 * body holds this text, before the script is consulted. */
typedef struct tsrv {
    int fd, port;
    pthread_t th;
    pthread_mutex_t mu;
    tsrv_reply script[64];
    int n_script, next;
    const char *reject_marker;
    int reject_status;
    int n_req;
    char *req_head[TSRV_MAX];
    char *req_body[TSRV_MAX];
    volatile int stop;
} tsrv;

static void tsrv_gunzip(const char *in, size_t n, char **out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    size_t cap = n * 8 + 1024;
    char *o = malloc(cap);
    inflateInit2(&z, 15 + 16);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    size_t len = 0;
    for (;;) {
        z.next_out = (Bytef *)o + len;
        z.avail_out = (uInt)(cap - len - 1);
        int rc = inflate(&z, Z_NO_FLUSH);
        len = cap - 1 - z.avail_out;
        if (rc == Z_STREAM_END || rc < 0 || (rc == Z_BUF_ERROR && z.avail_in == 0))
            break;
        if (z.avail_out == 0) {
            cap *= 2;
            o = realloc(o, cap);
        }
    }
    inflateEnd(&z);
    o[len] = '\0';
    *out = o;
}

static int tsrv_read_request(int c, char **head, char **body)
{
    size_t cap = 65536, len = 0;
    char *b = malloc(cap);
    char *end = NULL;
    while (end == NULL) {
        if (len + 1 >= cap) {
            cap *= 2;
            b = realloc(b, cap);
        }
        ssize_t r = read(c, b + len, cap - len - 1);
        if (r <= 0) {
            free(b);
            return -1;
        }
        len += (size_t)r;
        b[len] = '\0';
        end = strstr(b, "\r\n\r\n");
    }
    size_t hl = (size_t)(end - b) + 4;
    size_t clen = 0;
    for (char *p = b; p < end; p = strstr(p, "\r\n") + 2)
        if (strncasecmp(p, "Content-Length:", 15) == 0)
            clen = strtoul(p + 15, NULL, 10);
    while (len < hl + clen) {
        if (hl + clen + 1 > cap) {
            cap = hl + clen + 1;
            b = realloc(b, cap);
        }
        ssize_t r = read(c, b + len, hl + clen - len);
        if (r <= 0) {
            free(b);
            return -1;
        }
        len += (size_t)r;
    }
    *head = strndup(b, hl);
    if (strcasestr(*head, "Content-Encoding: gzip") != NULL)
        tsrv_gunzip(b + hl, clen, body);
    else
        *body = strndup(b + hl, clen);
    free(b);
    return 0;
}

/* Reads one request from connection c and answers it. 0 to keep the
 * connection, -1 to close it. */
static int tsrv_serve(tsrv *s, int c)
{
    char *head, *body;
    if (tsrv_read_request(c, &head, &body) != 0)
        return -1;
    pthread_mutex_lock(&s->mu);
    tsrv_reply rep = { 200, "", "{}", 0 };
    if (s->reject_marker != NULL && strstr(body, s->reject_marker) != NULL)
        rep = (tsrv_reply){ s->reject_status, "", "{\"code\":3,\"message\":\"bad data\"}", 0 };
    else if (s->next < s->n_script)
        rep = s->script[s->next++];
    if (s->n_req < TSRV_MAX) {
        s->req_head[s->n_req] = head;
        s->req_body[s->n_req] = body;
        s->n_req++;
    } else {
        free(head);
        free(body);
    }
    pthread_mutex_unlock(&s->mu);
    if (rep.delay_ms > 0) {
        struct timespec ts = { rep.delay_ms / 1000, (rep.delay_ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    if (rep.status == 0)
        return -1;
    const char *rb = rep.body ? rep.body : "";
    size_t cap = strlen(rb) + 4096;
    char *out = malloc(cap);
    int n = snprintf(out, cap,
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n%sContent-Length: %zu\r\n\r\n%s",
                     rep.status, rep.headers ? rep.headers : "", strlen(rb), rb);
    int ok = write(c, out, (size_t)n) == n;
    free(out);
    return ok ? 0 : -1;
}

/* Serves up to TSRV_CONNS kept-alive connections at once (an exporter's
 * client and a target's own control client, say), one request at a time,
 * in the order they arrive. */
#define TSRV_CONNS 16
static void *tsrv_main(void *arg)
{
    tsrv *s = arg;
    int conns[TSRV_CONNS];
    int n = 0;
    while (!s->stop) {
        struct pollfd p[TSRV_CONNS + 1];
        p[0] = (struct pollfd){ s->fd, POLLIN, 0 };
        for (int k = 0; k < n; k++)
            p[k + 1] = (struct pollfd){ conns[k], POLLIN, 0 };
        int had = n;
        if (poll(p, (nfds_t)had + 1, 50) <= 0)
            continue;
        for (int k = 0; k < had; k++) {
            if (p[k + 1].revents == 0)
                continue;
            if (tsrv_serve(s, conns[k]) != 0) {
                close(conns[k]);
                conns[k] = -1;
            }
        }
        int m = 0;
        for (int k = 0; k < n; k++)
            if (conns[k] >= 0)
                conns[m++] = conns[k];
        n = m;
        if ((p[0].revents & POLLIN) && n < TSRV_CONNS) {
            int c = accept(s->fd, NULL, NULL);
            if (c >= 0)
                conns[n++] = c;
        }
    }
    for (int k = 0; k < n; k++)
        close(conns[k]);
    return NULL;
}

static void tsrv_start(tsrv *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s->fd, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    listen(s->fd, 16);
    pthread_create(&s->th, NULL, tsrv_main, s);
}

static void tsrv_script(tsrv *s, tsrv_reply r)
{
    pthread_mutex_lock(&s->mu);
    s->script[s->n_script++] = r;
    pthread_mutex_unlock(&s->mu);
}

static int tsrv_requests(tsrv *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->n_req;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void tsrv_stop(tsrv *s)
{
    s->stop = 1;
    pthread_join(s->th, NULL);
    close(s->fd);
    for (int i = 0; i < s->n_req; i++) {
        free(s->req_head[i]);
        free(s->req_body[i]);
    }
    pthread_mutex_destroy(&s->mu);
}

/* Occurrences of needle in hay. */
static inline int tsrv_count(const char *hay, const char *needle)
{
    int n = 0;
    size_t l = strlen(needle);
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + l, needle))
        n++;
    return n;
}

#endif
