/* xray: encodes spool spans as X-Ray segment documents and delivers them
 * with PutTraceSegments or to the X-Ray daemon. See xray.h. A span's
 * attribute and event JSON is read with jansson; the document is written by
 * hand, so that times keep exactly six decimals and a document that is too
 * large can be written again with tighter limits. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "export/xray.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <netdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "telemetry/attrs.h"
#include "util/jsonw.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.0.0"
#endif

#define MAX_NAME_CHARS 200          /* segment and subsegment names */
#define MAX_ANNOTATION_KEY 500
#define MAX_ANNOTATION_CHARS 1000   /* characters of a string annotation */
#define MAX_ANNOTATIONS 50          /* X-Ray keeps 50 per trace */
#define MAX_ANNOTATION_NAME 256     /* bytes of a configured attribute name */
#define MAX_FIELD_CHARS 250         /* url, user_agent, user, service.version */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

/* ---- configuration ---------------------------------------------------------- */

void xray_config_free(xray_config *c)
{
    if (c == NULL)
        return;
    free(c->url);
    for (size_t i = 0; i < c->n_annotations; i++)
        free(c->annotations[i]);
    free(c->annotations);
    expcfg_headers_free(&c->headers);
    if (c->have_signer)
        aws_signer_free(&c->signer);
    if (c->sock >= 0)
        close(c->sock);
    memset(c, 0, sizeof *c);
    c->sock = -1;
}

/* The comma list of attribute names. 0 or -1 with a message. */
static int parse_annotations(xray_config *c, const char *list, char *err, size_t err_size)
{
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        const char *a = p, *z = end;
        while (a < z && (*a == ' ' || *a == '\t'))
            a++;
        while (z > a && (z[-1] == ' ' || z[-1] == '\t'))
            z--;
        p = *end ? end + 1 : end;
        if (a == z)
            continue;
        if ((size_t)(z - a) > MAX_ANNOTATION_NAME) {
            snprintf(err, err_size, "CRUDDUR_XRAY_ANNOTATIONS: a name is longer than %d bytes",
                     MAX_ANNOTATION_NAME);
            return -1;
        }
        if (c->n_annotations == MAX_ANNOTATIONS) {
            snprintf(err, err_size, "CRUDDUR_XRAY_ANNOTATIONS: more than %d names (X-Ray keeps %d "
                     "annotations per trace)", MAX_ANNOTATIONS, MAX_ANNOTATIONS);
            return -1;
        }
        if (c->annotations == NULL && (c->annotations = calloc(MAX_ANNOTATIONS, sizeof(char *))) == NULL)
            goto oom;
        if ((c->annotations[c->n_annotations] = strndup(a, (size_t)(z - a))) == NULL)
            goto oom;
        c->n_annotations++;
    }
    return 0;
oom:
    snprintf(err, err_size, "out of memory");
    return -1;
}

/* The UDP address in AWS_XRAY_DAEMON_ADDRESS: "host:port", "[v6]:port", or
 * "tcp:host:port udp:host:port" (either order). Resolves it and opens the
 * socket. 0 or -1 with a message. */
static int open_daemon(xray_config *c, const char *spec, char *err, size_t err_size)
{
    char tmp[300];
    if (strlen(spec) >= sizeof tmp) {
        snprintf(err, err_size, "AWS_XRAY_DAEMON_ADDRESS is too long");
        return -1;
    }
    const char *addr = NULL;
    int prefixed = 0;
    snprintf(tmp, sizeof tmp, "%s", spec);
    for (char *save = NULL, *w = strtok_r(tmp, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (strncmp(w, "udp:", 4) == 0) {
            addr = w + 4;
            prefixed = 1;
        } else if (strncmp(w, "tcp:", 4) == 0) {
            prefixed = 1;
        } else if (addr == NULL && !prefixed) {
            addr = w;
        }
    }
    if (addr == NULL || *addr == '\0') {
        snprintf(err, err_size, "AWS_XRAY_DAEMON_ADDRESS has no UDP address: %.100s", spec);
        return -1;
    }
    char host[256];
    const char *port;
    const char *colon = strrchr(addr, ':');
    if (strlen(addr) >= sizeof host) {
        snprintf(err, err_size, "AWS_XRAY_DAEMON_ADDRESS: the host name is too long");
        return -1;
    }
    if (addr[0] == '[') {
        const char *close_br = strchr(addr, ']');
        if (close_br == NULL || close_br[1] != ':') {
            snprintf(err, err_size, "AWS_XRAY_DAEMON_ADDRESS: want [ADDRESS]:PORT: %.100s", addr);
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(close_br - addr - 1), addr + 1);
        port = close_br + 2;
    } else if (colon != NULL && colon > addr) {
        snprintf(host, sizeof host, "%.*s", (int)(colon - addr), addr);
        port = colon + 1;
    } else {
        snprintf(err, err_size, "AWS_XRAY_DAEMON_ADDRESS: want HOST:PORT: %.100s", addr);
        return -1;
    }
    char *end;
    long pn = strtol(port, &end, 10);
    if (*port == '\0' || *end != '\0' || pn < 1 || pn > 65535 || host[0] == '\0') {
        snprintf(err, err_size, "AWS_XRAY_DAEMON_ADDRESS: bad host or port: %.100s", addr);
        return -1;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, err_size, "AWS_XRAY_DAEMON_ADDRESS: cannot resolve %.100s: %s", host,
                 gai_strerror(rc));
        return -1;
    }
    c->sock = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (c->sock < 0 || res->ai_addrlen > sizeof c->addr) {
        snprintf(err, err_size, "cannot open a UDP socket: %s", strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    memcpy(&c->addr, res->ai_addr, res->ai_addrlen);
    c->addr_len = res->ai_addrlen;
    freeaddrinfo(res);
    int colon_in_host = strchr(host, ':') != NULL;
    size_t n = strlen(host) + strlen(port) + 16;
    if ((c->url = malloc(n)) == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    snprintf(c->url, n, colon_in_host ? "udp://[%s]:%s" : "udp://%s:%s", host, port);
    return 0;
}

int xray_config_from_env(xray_config *c, int daemon, const volatile sig_atomic_t *stop,
                         char *err, size_t err_size)
{
    memset(c, 0, sizeof *c);
    c->sock = -1;
    c->daemon = daemon != 0;
    c->max_document = XRAY_MAX_DOCUMENT;
    const char *ann = getenv("CRUDDUR_XRAY_ANNOTATIONS");
    if (parse_annotations(c, ann != NULL ? ann : XRAY_DEFAULT_ANNOTATIONS, err, err_size) != 0)
        goto fail;
    if (daemon) {
        const char *spec = env("AWS_XRAY_DAEMON_ADDRESS");
        if (open_daemon(c, spec ? spec : XRAY_DEFAULT_DAEMON, err, err_size) != 0)
            goto fail;
        return 0;
    }
    aws_region(c->region, sizeof c->region);
    char endpoint[1024];
    if (aws_endpoint(endpoint, sizeof endpoint, "XRAY", "xray", c->region) != 0) {
        snprintf(err, err_size, "the X-Ray endpoint URL is too long");
        goto fail;
    }
    if (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0) {
        snprintf(err, err_size, "the X-Ray endpoint must be an http:// or https:// URL: %.100s",
                 endpoint);
        goto fail;
    }
    if ((c->url = expcfg_join_url(endpoint, "TraceSegments")) == NULL ||
        expcfg_headers_set(&c->headers, "Content-Type", "application/json") != 0) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    if (aws_signer_init(&c->signer, c->region, "xray", stop, err, err_size) != 0)
        goto fail;
    c->have_signer = 1;
    return 0;
fail:
    xray_config_free(c);
    return -1;
}

/* ---- small text helpers --------------------------------------------------------- */

/* Decodes one UTF-8 sequence at s[0..n): its length, and *cp (U+FFFD and
 * length 1 for a bad byte). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (len == 0 || len > n) {
        *cp = 0xfffd;
        return 1;
    }
    uint32_t v = len == 1 ? c : len == 2 ? (c & 0x1fu) : len == 3 ? (c & 0x0fu) : (c & 0x07u);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *cp = 0xfffd;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3fu);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
        *cp = 0xfffd;
        return 1;
    }
    *cp = v;
    return len;
}

/* Bytes of the longest prefix of s[0..len) with at most max characters. */
static size_t cut_chars(const char *s, size_t len, size_t max)
{
    size_t at = 0;
    for (size_t k = 0; at < len && k < max; k++) {
        uint32_t cp;
        at += utf8_next((const unsigned char *)s + at, len - at, &cp);
    }
    return at;
}

/* Whether a code point may appear in a segment name: Unicode letters,
 * numbers and space, and _ . : / % & # = + \ - @. Outside ASCII only
 * blocks that hold nothing but letters are kept (Latin, IPA, Greek,
 * Cyrillic, Hebrew, Arabic, Devanagari, Thai, kana, CJK, Hangul): a
 * character dropped costs a little of the name, one the service does not
 * count as a letter costs the whole document. */
static int name_char(uint32_t c)
{
    static const uint32_t letters[][2] = {
        {0xaa, 0xaa},     {0xb5, 0xb5},     {0xba, 0xba},     {0xc0, 0xd6},
        {0xd8, 0xf6},     {0xf8, 0x2af},    {0x391, 0x3a1},   {0x3a3, 0x3c9},
        {0x400, 0x481},   {0x5d0, 0x5ea},   {0x621, 0x63a},   {0x641, 0x64a},
        {0x905, 0x939},   {0xe01, 0xe30},   {0x1e00, 0x1eff}, {0x3041, 0x3096},
        {0x30a1, 0x30fa}, {0x4e00, 0x9fef}, {0xac00, 0xd7a3},
    };
    if (c < 0x80)
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c != 0 && strchr(" _.:/%&#=+\\-@", (int)c) != NULL);
    for (size_t i = 0; i < sizeof letters / sizeof letters[0]; i++)
        if (c >= letters[i][0] && c <= letters[i][1])
            return 1;
    return 0;
}

/* A valid name from s (invalid characters dropped, at most 200
 * characters), or fallback when nothing is left. */
static int put_name(buf_t *o, const char *s, const char *fallback)
{
    buf_t n = BUF_INIT;
    size_t len = s ? strlen(s) : 0, chars = 0;
    int rc = 0;
    for (size_t at = 0; at < len && chars < MAX_NAME_CHARS && rc == 0;) {
        uint32_t cp;
        size_t k = utf8_next((const unsigned char *)s + at, len - at, &cp);
        if (name_char(cp)) {
            rc = buf_append(&n, s + at, k);
            chars++;
        }
        at += k;
    }
    /* Trailing and leading spaces carry nothing. */
    size_t a = 0, z = n.len;
    while (a < z && n.data[a] == ' ')
        a++;
    while (z > a && n.data[z - 1] == ' ')
        z--;
    if (rc == 0)
        rc = a < z ? attrs_json_string(o, n.data + a, z - a) : attrs_json_cstr(o, fallback);
    buf_free(&n);
    return rc;
}

size_t xray_annotation_key(const char *name, char *out, size_t size)
{
    size_t len = strlen(name), n = 0;
    for (size_t at = 0; at < len && n + 1 < size && n < MAX_ANNOTATION_KEY;) {
        uint32_t cp;
        at += utf8_next((const unsigned char *)name + at, len - at, &cp);
        int ok = (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9');
        out[n++] = ok ? (char)cp : '_';
    }
    out[n] = '\0';
    /* A key of underscores only names nothing. */
    for (size_t i = 0; i < n; i++)
        if (out[i] != '_')
            return n;
    out[0] = '\0';
    return 0;
}

static int is_hex(const char *s, size_t n)
{
    size_t nz = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return 0;
        nz += c != '0';
    }
    return s[n] == '\0' && nz > 0;
}

int xray_trace_id(const char *hex, char out[36])
{
    if (hex == NULL || strlen(hex) != 32 || !is_hex(hex, 32))
        return -1;
    out[0] = '1';
    out[1] = '-';
    for (int i = 0; i < 8; i++)
        out[2 + i] = (char)(hex[i] | 0x20);
    out[10] = '-';
    for (int i = 0; i < 24; i++)
        out[11 + i] = (char)(hex[8 + i] | 0x20);
    out[35] = '\0';
    return 0;
}

/* Epoch seconds with six decimals, from nanoseconds. */
static int put_time(buf_t *o, int64_t ns)
{
    int64_t s = ns / 1000000000, r = ns % 1000000000;
    if (r < 0) {
        s--;
        r += 1000000000;
    }
    return buf_printf(o, "%" PRId64 ".%06" PRId64, s, r / 1000);
}

/* s[0..len) cut to max bytes at a character boundary, as a JSON string. */
static int put_strn(buf_t *o, const char *s, size_t len, size_t max)
{
    if (len > max)
        len = attrs_utf8_cut(s, len, max);
    return attrs_json_string(o, s, len);
}

static int put_str(buf_t *o, const char *s, size_t max)
{
    return put_strn(o, s ? s : "", s ? strlen(s) : 0, max);
}

/* The same, cut to max characters: the fields the segment document guide
 * keeps to 250 characters (http request strings, user, versions). */
static int put_chars(buf_t *o, const char *s, size_t len, size_t max)
{
    return attrs_json_string(o, s, cut_chars(s, len, max));
}

/* A JSON value with every string in it cut to max bytes. */
static int put_value(buf_t *o, const json_t *v, size_t max, int depth)
{
    if (json_is_string(v))
        return put_strn(o, json_string_value(v), json_string_length(v), max);
    if (json_is_array(v) && depth < 8) {
        int rc = buf_putc(o, '[');
        for (size_t i = 0; i < json_array_size(v) && rc == 0; i++) {
            if (i > 0)
                rc = buf_putc(o, ',');
            if (rc == 0)
                rc = put_value(o, json_array_get(v, i), max, depth + 1);
        }
        return rc ? rc : buf_putc(o, ']');
    }
    if (json_is_object(v) && depth < 8) {
        int rc = buf_putc(o, '{'), first = 1;
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            if (rc == 0 && !first)
                rc = buf_putc(o, ',');
            first = 0;
            if (rc == 0)
                rc = attrs_json_cstr(o, k);
            if (rc == 0)
                rc = buf_putc(o, ':');
            if (rc == 0)
                rc = put_value(o, x, max, depth + 1);
        }
        return rc ? rc : buf_putc(o, '}');
    }
    if (json_is_array(v) || json_is_object(v))
        return buf_puts(o, "null");
    return jsonw_append(o, v);
}

/* ---- reading a span ---------------------------------------------------------- */

/* What a span's document is written from. */
typedef struct span_in {
    const xray_config *c;
    const spool_span *s;
    json_t *attrs;                  /* object */
    json_t *events;                 /* array */
    json_t *res;                    /* object or NULL */
    char trace_id[36];
    int segment;                    /* a segment, not a subsegment */
    int http;                       /* has an http block */
    int sql;                        /* has an sql block */
    int64_t status;                 /* HTTP status, 0 when none */
    int fault, error, throttle;
} span_in;

/* Attributes read by http / sql / user and so left out of metadata. */
static const char *const HTTP_KEYS[] = {
    "http.request.method", "http.request.method_original", "http.method", "url.full", "http.url",
    "url.scheme", "url.path", "url.query", "server.address", "server.port", "client.address",
    "user_agent.original", "http.user_agent", "http.response.status_code", "http.status_code",
    "http.response.body.size", "http.request.header.x-forwarded-for", NULL,
};
static const char *const SQL_KEYS[] = {
    "db.system.name", "db.system", "db.query.text", "db.statement", NULL,
};

static int in_list(const char *const *list, const char *k)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(list[i], k) == 0)
            return 1;
    return 0;
}

static json_t *attr(const span_in *in, const char *k)
{
    return json_object_get(in->attrs, k);
}

static const char *attr_str(const span_in *in, const char *k)
{
    return json_string_value(attr(in, k));
}

/* An integer attribute (a whole real counts, for spools read with
 * JSON_DECODE_INT_AS_REAL); 0 when absent. */
static int attr_int(const span_in *in, const char *k, int64_t *out)
{
    json_t *v = attr(in, k);
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 1;
    }
    if (json_is_real(v) && json_real_value(v) == (double)(int64_t)json_real_value(v)) {
        *out = (int64_t)json_real_value(v);
        return 1;
    }
    if (json_is_string(v)) {
        char *end;
        long long x = strtoll(json_string_value(v), &end, 10);
        if (*json_string_value(v) && *end == '\0') {
            *out = x;
            return 1;
        }
    }
    return 0;
}

static int annotated(const xray_config *c, const char *k)
{
    for (size_t i = 0; i < c->n_annotations; i++)
        if (strcmp(c->annotations[i], k) == 0)
            return 1;
    return 0;
}

static json_t *load(const char *text)
{
    if (text == NULL)
        return NULL;
    json_t *j = json_loads(text, 0, NULL);
    /* An integer beyond 64 bits makes jansson give up; read numbers as reals then. */
    return j != NULL ? j : json_loads(text, JSON_DECODE_INT_AS_REAL, NULL);
}

/* ---- writing a document ------------------------------------------------------- */

/* How much a document may carry; relaxed first, tighter when too large. */
typedef struct limits {
    size_t meta_str;     /* bytes of a metadata string */
    size_t frames;       /* stack frames per exception */
    size_t exceptions;   /* exceptions per document */
    size_t msg;          /* bytes of an exception message or type */
    size_t text;         /* bytes of url, user agent, query, frame path ... */
    int metadata;
    int annotations;
} limits;

static const limits LEVELS[] = {
    {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX, 1, 1},
    {1024, 32, 32, 4096, 4096, 1, 1},
    {256, 8, 8, 1024, 2048, 1, 1},
    {64, 0, 2, 256, 1024, 0, 1},
    {0, 0, 1, 64, 256, 0, 0},
};

#define PUT(x)               \
    do {                     \
        if ((x) != 0)        \
            return -1;       \
    } while (0)

/* "scheme://host[:port]path[?query]" of a server span, or url.full. */
static int put_url(buf_t *o, const span_in *in)
{
    const char *full = attr_str(in, "url.full");
    if (full == NULL)
        full = attr_str(in, "http.url");
    if (full != NULL)
        return put_chars(o, full, strlen(full), MAX_FIELD_CHARS);
    const char *scheme = attr_str(in, "url.scheme"), *host = attr_str(in, "server.address");
    const char *path = attr_str(in, "url.path"), *query = attr_str(in, "url.query");
    if (host == NULL && path == NULL)
        return 1;
    if (scheme == NULL)
        scheme = "http";
    buf_t u = BUF_INIT;
    int rc = 0;
    if (host != NULL) {
        int64_t port;
        rc |= buf_printf(&u, "%s://%s%s%s", scheme, strchr(host, ':') ? "[" : "", host,
                         strchr(host, ':') ? "]" : "");
        if (attr_int(in, "server.port", &port) &&
            !(port == 80 && strcmp(scheme, "http") == 0) && !(port == 443 && strcmp(scheme, "https") == 0))
            rc |= buf_printf(&u, ":%" PRId64, port);
    }
    rc |= buf_puts(&u, path != NULL ? path : "/");
    if (query != NULL && *query)
        rc |= buf_printf(&u, "?%s", query);
    if (rc == 0)
        rc = put_chars(o, u.data, u.len, MAX_FIELD_CHARS);
    buf_free(&u);
    return rc ? -1 : 0;
}

static int put_http(buf_t *o, const span_in *in)
{
    const char *method = attr_str(in, "http.request.method");
    if (method != NULL && strcmp(method, "_OTHER") == 0 && attr_str(in, "http.request.method_original"))
        method = attr_str(in, "http.request.method_original");
    if (method == NULL)
        method = attr_str(in, "http.method");
    const char *ua = attr_str(in, "user_agent.original");
    if (ua == NULL)
        ua = attr_str(in, "http.user_agent");
    PUT(buf_puts(o, ",\"http\":{\"request\":{"));
    int n = 0;
    if (method != NULL) {
        PUT(buf_puts(o, "\"method\":"));
        PUT(put_str(o, method, 32));
        n++;
    }
    size_t mark = o->len;
    PUT(buf_puts(o, n ? ",\"url\":" : "\"url\":"));
    int rc = put_url(o, in);
    if (rc < 0)
        return -1;
    if (rc > 0) {
        o->len = mark;
        o->data[mark] = '\0';
    } else {
        n++;
    }
    if (ua != NULL) {
        PUT(buf_puts(o, n++ ? ",\"user_agent\":" : "\"user_agent\":"));
        PUT(put_chars(o, ua, strlen(ua), MAX_FIELD_CHARS));
    }
    /* A forwarded-for header, when one was recorded, names the client
     * (unverified: x_forwarded_for says so); else the peer address. */
    json_t *xff = attr(in, "http.request.header.x-forwarded-for");
    if (json_is_array(xff))
        xff = json_array_get(xff, 0);
    const char *client = NULL;
    size_t client_len = 0;
    int forwarded = 0;
    if (json_is_string(xff)) {
        client = json_string_value(xff);
        while (*client == ' ')
            client++;
        client_len = strcspn(client, ", ");
        forwarded = client_len > 0;
    }
    if (!forwarded && in->s->kind == SPOOL_KIND_SERVER && (client = attr_str(in, "client.address")) != NULL)
        client_len = strlen(client);
    if (client != NULL && client_len > 0) {
        PUT(buf_puts(o, n++ ? ",\"client_ip\":" : "\"client_ip\":"));
        PUT(put_strn(o, client, client_len, 64));
        if (forwarded)
            PUT(buf_puts(o, ",\"x_forwarded_for\":true"));
    }
    PUT(buf_puts(o, "},\"response\":{"));
    int64_t size;
    n = 0;
    if (in->status > 0) {
        PUT(buf_printf(o, "\"status\":%" PRId64, in->status));
        n++;
    }
    if (attr_int(in, "http.response.body.size", &size) && size >= 0)
        PUT(buf_printf(o, "%s\"content_length\":%" PRId64, n ? "," : "", size));
    return buf_puts(o, "}}");
}

static uint64_t fnv64(const char *s, uint64_t h)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* One stack frame from a backtrace_symbols line, "file(func+0x1a) [0xaddr]";
 * any other line becomes the path. */
static int put_frame(buf_t *o, const char *line, size_t len, size_t max)
{
    const char *open = memchr(line, '(', len);
    const char *close = open ? memchr(open, ')', len - (size_t)(open - line)) : NULL;
    PUT(buf_puts(o, "{\"path\":"));
    if (open == NULL || close == NULL) {
        PUT(put_strn(o, line, len, max));
        return buf_putc(o, '}');
    }
    PUT(put_strn(o, line, (size_t)(open - line), max));
    const char *fn = open + 1;
    size_t fl = (size_t)(close - fn);
    const char *plus = memchr(fn, '+', fl);
    if (plus != NULL)
        fl = (size_t)(plus - fn);   /* "+0x29d90" alone names no function */
    if (fl > 0) {
        PUT(buf_puts(o, ",\"label\":"));
        PUT(put_strn(o, fn, fl, max));
    }
    return buf_putc(o, '}');
}

static int put_stack(buf_t *o, const char *trace, const limits *l)
{
    size_t total = 0, kept = 0;
    for (const char *p = trace; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 0)
            total++;
        p += len + (nl != NULL);
    }
    if (total == 0 || l->frames == 0) {
        if (total > 0)
            PUT(buf_printf(o, ",\"truncated\":%zu", total));
        return 0;
    }
    PUT(buf_puts(o, ",\"stack\":["));
    for (const char *p = trace; *p && kept < l->frames;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 0) {
            if (kept++ > 0)
                PUT(buf_putc(o, ','));
            PUT(put_frame(o, p, len, l->text < 512 ? l->text : 512));
        }
        p += len + (nl != NULL);
    }
    PUT(buf_putc(o, ']'));
    if (kept < total)
        PUT(buf_printf(o, ",\"truncated\":%zu", total - kept));
    return 0;
}

static int put_exception(buf_t *o, const span_in *in, size_t index, const char *type,
                         const char *message, const char *stack, const limits *l)
{
    char idx[24];
    snprintf(idx, sizeof idx, "#%zu", index);
    uint64_t id = fnv64(idx, fnv64(in->s->span_id, 0xcbf29ce484222325ULL));
    if (id == 0)
        id = 1;
    PUT(buf_printf(o, "{\"id\":\"%016" PRIx64 "\"", id));
    if (type != NULL && *type) {
        PUT(buf_puts(o, ",\"type\":"));
        PUT(put_str(o, type, l->msg));
    }
    if (message != NULL && *message) {
        PUT(buf_puts(o, ",\"message\":"));
        PUT(put_str(o, message, l->msg));
    }
    if (in->s->kind == SPOOL_KIND_CLIENT)
        PUT(buf_puts(o, ",\"remote\":true"));
    if (stack != NULL && *stack)
        PUT(put_stack(o, stack, l));
    return buf_putc(o, '}');
}

static int is_exception(const json_t *ev)
{
    const char *name = json_string_value(json_object_get(ev, "name"));
    return name != NULL && strcmp(name, "exception") == 0;
}

static int put_cause(buf_t *o, const span_in *in, const limits *l)
{
    size_t n = 0, total = 0;
    json_t *ev;
    size_t i;
    json_array_foreach(in->events, i, ev) {
        total += (size_t)is_exception(ev);
    }
    const char *status_msg = in->s->status_message;
    int synth = total == 0 && (in->fault || in->error) && in->s->status_code == SPOOL_STATUS_ERROR &&
                status_msg != NULL && *status_msg;
    if (total == 0 && !synth)
        return 0;
    PUT(buf_puts(o, ",\"cause\":{\"exceptions\":["));
    if (synth) {
        PUT(put_exception(o, in, 0, attr_str(in, "error.type"), status_msg, NULL, l));
        n++;
    }
    json_array_foreach(in->events, i, ev) {
        if (n >= l->exceptions)
            break;
        if (!is_exception(ev))
            continue;
        json_t *a = json_object_get(ev, "attributes");
        if (n++ > 0)
            PUT(buf_putc(o, ','));
        PUT(put_exception(o, in, n, json_string_value(json_object_get(a, "exception.type")),
                          json_string_value(json_object_get(a, "exception.message")),
                          json_string_value(json_object_get(a, "exception.stacktrace")), l));
    }
    return buf_puts(o, "]}");
}

/* The cloud.platform of the resource as an X-Ray origin, NULL for none. */
static const char *origin(const span_in *in)
{
    static const char *const map[][2] = {
        {"aws_ec2", "AWS::EC2::Instance"},
        {"aws_ecs", "AWS::ECS::Container"},
        {"aws_eks", "AWS::EKS::Container"},
        {"aws_elastic_beanstalk", "AWS::ElasticBeanstalk::Environment"},
        {"aws_app_runner", "AWS::AppRunner::Service"},
    };
    const char *p = json_string_value(json_object_get(in->res, "cloud.platform"));
    for (size_t i = 0; p != NULL && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(p, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

static int put_annotations(buf_t *o, const span_in *in)
{
    const xray_config *c = in->c;
    char keys[MAX_ANNOTATIONS][MAX_ANNOTATION_KEY + 1];
    size_t n = 0;
    for (size_t i = 0; i < c->n_annotations; i++) {
        json_t *v = attr(in, c->annotations[i]);
        if (!(json_is_string(v) || json_is_number(v) || json_is_boolean(v)))
            continue;
        char *key = keys[n];
        if (xray_annotation_key(c->annotations[i], key, MAX_ANNOTATION_KEY + 1) == 0)
            continue;
        int dup = 0;
        for (size_t k = 0; k < n && !dup; k++)
            dup = strcmp(keys[k], key) == 0;
        if (dup)
            continue;
        PUT(buf_puts(o, n++ ? "," : ",\"annotations\":{"));
        PUT(attrs_json_cstr(o, key));
        PUT(buf_putc(o, ':'));
        if (json_is_string(v)) {
            const char *s = json_string_value(v);
            PUT(attrs_json_string(o, s, cut_chars(s, json_string_length(v), MAX_ANNOTATION_CHARS)));
        } else {
            PUT(jsonw_append(o, v));
        }
    }
    return n ? buf_putc(o, '}') : 0;
}

static int put_metadata(buf_t *o, const span_in *in, const limits *l)
{
    size_t n = 0;
    int rc = 0;
    const char *k;
    json_t *v;
    json_object_foreach(in->attrs, k, v) {
        if ((l->annotations && annotated(in->c, k) &&
             (json_is_string(v) || json_is_number(v) || json_is_boolean(v))) ||
            (in->http && in_list(HTTP_KEYS, k)) || (in->sql && in_list(SQL_KEYS, k)) ||
            (in->segment && strcmp(k, "enduser.id") == 0) || strncmp(k, "AWS.", 4) == 0)
            continue;   /* "AWS." keys are reserved */
        rc |= buf_puts(o, n++ ? "," : ",\"metadata\":{\"default\":{");
        rc |= attrs_json_cstr(o, k);
        rc |= buf_putc(o, ':');
        rc |= put_value(o, v, l->meta_str, 0);
        if (rc != 0)
            return -1;
    }
    buf_t key = BUF_INIT;
    if (in->segment && json_is_object(in->res)) {
        json_object_foreach(in->res, k, v) {
            buf_reset(&key);
            rc |= buf_puts(o, n++ ? "," : ",\"metadata\":{\"default\":{");
            rc |= buf_printf(&key, "otel.resource.%s", k);
            rc |= key.data ? attrs_json_string(o, key.data, key.len) : -1;
            rc |= buf_putc(o, ':');
            rc |= put_value(o, v, l->meta_str, 0);
            if (rc != 0)
                break;
        }
    }
    buf_free(&key);
    if (rc != 0)
        return -1;
    return n ? buf_puts(o, "}}") : 0;
}

static int write_doc(buf_t *o, const span_in *in, const limits *l)
{
    const spool_span *s = in->s;
    PUT(buf_printf(o, "{\"trace_id\":\"%s\",\"id\":\"%s\",\"name\":", in->trace_id, s->span_id));
    if (in->segment) {
        const char *svc = json_string_value(json_object_get(in->res, "service.name"));
        PUT(put_name(o, svc, XRAY_DEFAULT_SERVICE));
    } else {
        PUT(put_name(o, s->name, "span"));
    }
    PUT(buf_puts(o, ",\"start_time\":"));
    PUT(put_time(o, s->start_ns));
    PUT(buf_puts(o, ",\"end_time\":"));
    PUT(put_time(o, s->end_ns));
    PUT(buf_puts(o, ",\"in_progress\":false"));
    if (!in->segment)
        PUT(buf_puts(o, ",\"type\":\"subsegment\""));
    if (s->parent_span_id[0] != '\0')
        PUT(buf_printf(o, ",\"parent_id\":\"%s\"", s->parent_span_id));
    if (!in->segment && s->kind == SPOOL_KIND_CLIENT)
        PUT(buf_puts(o, ",\"namespace\":\"remote\""));
    if (in->segment) {
        const char *org = origin(in);
        if (org != NULL)
            PUT(buf_printf(o, ",\"origin\":\"%s\"", org));
        const char *user = attr_str(in, "enduser.id");
        if (user != NULL && *user) {
            PUT(buf_puts(o, ",\"user\":"));
            PUT(put_chars(o, user, strlen(user), MAX_FIELD_CHARS));
        }
        const char *version = json_string_value(json_object_get(in->res, "service.version"));
        if (version != NULL) {
            PUT(buf_puts(o, ",\"service\":{\"version\":"));
            PUT(put_chars(o, version, strlen(version), MAX_FIELD_CHARS));
            PUT(buf_putc(o, '}'));
        }
    }
    if (in->http)
        PUT(put_http(o, in));
    if (in->fault)
        PUT(buf_puts(o, ",\"fault\":true"));
    if (in->error)
        PUT(buf_puts(o, ",\"error\":true"));
    if (in->throttle)
        PUT(buf_puts(o, ",\"throttle\":true"));
    PUT(put_cause(o, in, l));
    if (in->sql) {
        const char *sys = attr_str(in, "db.system.name");
        const char *q = attr_str(in, "db.query.text");
        PUT(buf_puts(o, ",\"sql\":{\"database_type\":"));
        PUT(put_str(o, sys ? sys : attr_str(in, "db.system"), 128));
        if (q == NULL)
            q = attr_str(in, "db.statement");
        if (q != NULL) {
            PUT(buf_puts(o, ",\"sanitized_query\":"));
            PUT(put_str(o, q, l->text));
        }
        PUT(buf_putc(o, '}'));
    }
    if (in->segment)
        PUT(buf_puts(o, ",\"aws\":{\"xray\":{\"sdk\":\"cruddur-export\",\"sdk_version\":\"" PACKAGE_VERSION "\"}}"));
    if (l->annotations)
        PUT(put_annotations(o, in));
    if (l->metadata)
        PUT(put_metadata(o, in, l));
    return buf_putc(o, '}');
}

#undef PUT

/* Reads the span's JSON and decides its shape. 0, or 1 with *why. */
static int read_span(span_in *in, const xray_config *c, const spool_span *s, const char *res,
                     const char **why)
{
    memset(in, 0, sizeof *in);
    in->c = c;
    in->s = s;
    if (xray_trace_id(s->trace_id, in->trace_id) != 0) {
        *why = "trace id is not 32 hex digits";
        return 1;
    }
    if (strlen(s->span_id) != 16 || !is_hex(s->span_id, 16)) {
        *why = "span id is not 16 hex digits";
        return 1;
    }
    if (s->parent_span_id[0] != '\0' && (strlen(s->parent_span_id) != 16 || !is_hex(s->parent_span_id, 16))) {
        *why = "parent span id is not 16 hex digits";
        return 1;
    }
    in->attrs = s->attributes_json ? load(s->attributes_json) : json_object();
    if (!json_is_object(in->attrs)) {
        *why = "attributes are not readable";
        return 1;
    }
    in->events = s->events_json ? load(s->events_json) : json_array();
    if (!json_is_array(in->events)) {
        *why = "events are not readable";
        return 1;
    }
    in->res = res ? load(res) : NULL;
    if (!json_is_object(in->res)) {
        json_decref(in->res);
        in->res = NULL;
    }
    /* X-Ray segments are the service's own work for one request; every
     * other span hangs below its parent as a subsegment. */
    in->segment = s->kind == SPOOL_KIND_SERVER || s->parent_span_id[0] == '\0';
    if (!attr_int(in, "http.response.status_code", &in->status))
        attr_int(in, "http.status_code", &in->status);
    in->http = attr(in, "http.request.method") != NULL || attr(in, "http.method") != NULL ||
               in->status > 0;
    in->sql = attr_str(in, "db.system.name") != NULL || attr_str(in, "db.system") != NULL;
    if (in->status >= 500 && in->status <= 599)
        in->fault = 1;
    else if (in->status >= 400 && in->status <= 499)
        in->error = 1;
    in->throttle = in->status == 429;
    if (s->status_code == SPOOL_STATUS_ERROR && !in->error)
        in->fault = 1;
    return 0;
}

int xray_segment(buf_t *out, const xray_config *c, const spool_span *s, const char *resource_json,
                 const char **why)
{
    *why = NULL;
    span_in in;
    int rc = read_span(&in, c, s, resource_json, why);
    buf_t doc = BUF_INIT;
    for (size_t lv = 0; rc == 0 && lv < sizeof LEVELS / sizeof LEVELS[0]; lv++) {
        buf_reset(&doc);
        if (write_doc(&doc, &in, &LEVELS[lv]) != 0)
            rc = -1;
        else if (doc.len <= c->max_document)
            break;
    }
    if (rc == 0 && doc.len > c->max_document) {
        *why = "segment document larger than the X-Ray limit even when trimmed";
        rc = 1;
    }
    if (rc == 0)
        rc = buf_append(out, doc.data, doc.len);
    buf_free(&doc);
    json_decref(in.attrs);
    json_decref(in.events);
    json_decref(in.res);
    return rc;
}

/* ---- the target ----------------------------------------------------------------- */

static int encode(void *ctx, export_batch *b, const void *record, const spool_origin *o)
{
    const xray_config *c = ctx;
    const spool_span *s = record;
    const char *why;
    size_t start = b->arena.len;
    int rc = xray_segment(&b->arena, c, s, o->resource_json, &why);
    if (rc < 0)
        return -1;
    if (rc > 0)
        return export_batch_add_bad(b, o->id, why);
    return export_batch_add(b, o->id, start, 0, s->span_id);
}

/* API: {"TraceSegmentDocuments":["<doc>",...]}. Daemon: each datagram
 * (header, newline, document) followed by a newline; documents never hold
 * a raw newline, so send can split the body again. */
static int build(void *ctx, const export_batch *b, size_t lo, size_t hi, buf_t *body)
{
    const xray_config *c = ctx;
    int rc = c->daemon ? 0 : buf_puts(body, "{\"TraceSegmentDocuments\":[");
    size_t n = 0;
    for (size_t i = lo; i < hi && rc == 0; i++) {
        if (!export_item_live(b, i))
            continue;
        const char *doc = b->arena.data + b->items[i].off;
        size_t len = b->items[i].len;
        if (c->daemon) {
            rc |= buf_puts(body, XRAY_DAEMON_HEADER "\n");
            rc |= buf_append(body, doc, len);
            rc |= buf_putc(body, '\n');
        } else {
            if (n > 0)
                rc |= buf_putc(body, ',');
            rc |= attrs_json_string(body, doc, len);
        }
        n++;
    }
    if (rc == 0 && !c->daemon)
        rc = buf_puts(body, "]}");
    return rc ? -1 : 0;
}

static int daemon_send(void *ctx, const void *body, size_t len, httpc_response *r)
{
    const xray_config *c = ctx;
    const char *p = body, *end = p + len;
    size_t sent = 0;
    r->status = 0;
    r->transport_error = 0;
    r->error[0] = '\0';
    buf_reset(&r->body);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? memchr(nl + 1, '\n', (size_t)(end - nl - 1)) : NULL;
        if (nl == NULL)
            return -1;
        if (stop == NULL)
            stop = end;
        ssize_t w;
        do
            w = sendto(c->sock, p, (size_t)(stop - p), 0, (const struct sockaddr *)&c->addr,
                       c->addr_len);
        while (w < 0 && errno == EINTR);
        if (w < 0) {
            /* Nothing after this datagram left: the engine sends the
             * request again (a document the daemon got twice replaces
             * itself: same id). */
            r->transport_error = CURLE_SEND_ERROR;
            snprintf(r->error, sizeof r->error, "sending to the X-Ray daemon at %s: %s", c->url,
                     strerror(errno));
            r->sent_bytes = sent;
            return 1;
        }
        sent += (size_t)w;
        p = stop < end ? stop + 1 : end;
    }
    r->status = 200;
    r->sent_bytes = sent;
    return 0;
}

/* Unprocessed segments worth sending again: throttling and the service's
 * own trouble, and codes we do not know. Refused for good: what says the
 * segment itself is wrong. */
static int retryable_code(const char *code)
{
    static const char *const bad[] = {"Invalid", "Missing", "Malformed"};
    if (code == NULL || *code == '\0')
        return 1;
    if (strstr(code, "Throttl") != NULL || strstr(code, "Internal") != NULL ||
        strstr(code, "Unavailable") != NULL || strstr(code, "Timeout") != NULL)
        return 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (strncmp(code, bad[i], strlen(bad[i])) == 0)
            return 0;
    /* SegmentTooLarge, ValidationException ... */
    return strstr(code, "TooLarge") == NULL && strstr(code, "Validation") == NULL;
}

static void classify_ok(const httpc_response *r, export_batch *b, size_t lo, size_t hi,
                        export_answer *a)
{
    a->verdict = EXPORT_OK;
    a->wait_ms = 0;
    if (r->body.len == 0)
        return;
    json_t *doc = json_loadb(r->body.data, r->body.len, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        a->verdict = EXPORT_CONFIG;
        snprintf(a->message, sizeof a->message,
                 "HTTP %ld with a body that is not a PutTraceSegments answer", r->status);
        return;
    }
    json_t *list = json_object_get(doc, "UnprocessedTraceSegments"), *e;
    size_t k, retry = 0, refused = 0, unnamed = 0;
    const char *first = NULL;
    json_array_foreach(list, k, e) {
        const char *id = json_string_value(json_object_get(e, "Id"));
        const char *code = json_string_value(json_object_get(e, "ErrorCode"));
        const char *msg = json_string_value(json_object_get(e, "Message"));
        char reason[300];
        snprintf(reason, sizeof reason, "%s%s%s", code ? code : "", code && msg ? ": " : "",
                 msg ? msg : "");
        if (reason[0] == '\0')
            snprintf(reason, sizeof reason, "unprocessed");
        int found = 0, rc = 0;
        for (size_t i = lo; id != NULL && i < hi && rc == 0; i++) {
            if (!export_item_live(b, i) || strcmp(b->items[i].key, id) != 0)
                continue;
            found = 1;
            rc = retryable_code(code) ? export_item_retry(b, i, reason) : export_item_refuse(b, i, reason);
        }
        if (rc != 0) {
            json_decref(doc);
            a->verdict = EXPORT_RETRY;
            a->wait_ms = -1;
            snprintf(a->message, sizeof a->message, "out of memory reading the answer");
            return;
        }
        if (!found)
            unnamed++;
        else if (retryable_code(code))
            retry++;
        else
            refused++;
        if (first == NULL)
            first = code ? code : "unprocessed";
    }
    if (retry + refused + unnamed > 0)
        snprintf(a->message, sizeof a->message,
                 "%zu segments unprocessed: %zu to send again, %zu refused, %zu unmatched (%s)",
                 retry + refused + unnamed, retry, refused, unnamed, first);
    json_decref(doc);
}

static int is_throttle(const char *type)
{
    return strstr(type, "Throttl") != NULL || strcmp(type, "TooManyRequestsException") == 0 ||
           strcmp(type, "RequestLimitExceeded") == 0 || strcmp(type, "SlowDown") == 0;
}

static int is_auth(const char *type)
{
    static const char *const t[] = {
        "InvalidSignatureException", "UnrecognizedClientException", "ExpiredTokenException",
        "ExpiredToken", "AccessDenied", "AccessDeniedException", "IncompleteSignature",
        "IncompleteSignatureException", "MissingAuthenticationToken",
        "MissingAuthenticationTokenException", "InvalidClientTokenId", "SignatureDoesNotMatch",
        "RequestExpired", "RequestTimeTooSkewed", "NotAuthorized", "AuthFailure",
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(type, t[i]) == 0)
            return 1;
    return 0;
}

static void classify_items(void *ctx, const httpc_response *r, export_batch *b, size_t lo,
                           size_t hi, export_answer *a)
{
    long st = r->status;
    a->rejected = 0;
    a->wait_ms = -1;
    a->message[0] = '\0';
    if (st >= 200 && st < 300) {
        classify_ok(r, b, lo, hi, a);
        return;
    }
    char type[128], msg[300];
    aws_error_type(r, type, sizeof type);
    aws_error_message(r, msg, sizeof msg);
    if (type[0] && msg[0])
        snprintf(a->message, sizeof a->message, "%s: %s", type, msg);
    else if (type[0] || msg[0])
        snprintf(a->message, sizeof a->message, "%s", type[0] ? type : msg);
    else
        snprintf(a->message, sizeof a->message, "HTTP %ld", st);
    if (is_throttle(type) || st == 429 || st == 408 || (st >= 500 && st <= 599)) {
        a->verdict = EXPORT_RETRY;
        a->wait_ms = r->retry_after_ms;
    } else if (is_auth(type) || st == 401 || st == 403) {
        a->verdict = EXPORT_AUTH;
        int64_t skew = aws_clock_skew_s(r);
        int clock = strstr(msg, "Signature expired") != NULL || strstr(msg, "not yet current") != NULL ||
                    strcasestr(msg, "skew") != NULL || strcmp(type, "RequestExpired") == 0 ||
                    strcmp(type, "RequestTimeTooSkewed") == 0;
        if (clock || skew > 300 || skew < -300) {
            size_t n = strlen(a->message);
            snprintf(a->message + n, sizeof a->message - n,
                     " (clock skew: the local clock is %" PRId64 " s %s the service's; fix the clock)",
                     skew < 0 ? -skew : skew, skew < 0 ? "behind" : "ahead of");
        }
    } else if (strcmp(type, "UnknownOperationException") == 0 || st == 404 || st == 405) {
        a->verdict = EXPORT_CONFIG;
    } else if (st == 400 || st == 413 || st == 422) {
        /* InvalidRequestException and friends: the documents were refused. */
        a->verdict = EXPORT_REJECT;
    } else {
        a->verdict = EXPORT_CONFIG;
    }
}

static int authorize(void *ctx, httpc *h, int after_auth_error, char *err, size_t err_size)
{
    xray_config *c = ctx;
    int rc = aws_signer_authorize(&c->signer, h, &c->headers, after_auth_error, err, err_size);
    /* The signer may have grown the header list (X-Amz-Security-Token). */
    if (c->target != NULL)
        c->target->headers = (const char *const *)c->headers.v;
    return rc;
}

void xray_target_init(export_target *t, xray_config *c)
{
    c->target = t;
    t->stream = SPOOL_STREAM_SPAN;
    t->url = c->url;
    t->headers = (const char *const *)c->headers.v;
    t->gzip = 0;
    t->per_request = XRAY_PER_REQUEST;
    t->max_bytes = 4u << 20;
    t->ctx = c;
    t->encode = encode;
    t->build = build;
    t->classify = NULL;
    t->classify_items = classify_items;
    t->authorize = c->daemon ? NULL : authorize;
    t->send = c->daemon ? daemon_send : NULL;
}
