/* xray: encodes spool spans as X-Ray segment documents and delivers them
 * with PutTraceSegments or to the X-Ray daemon. See xray.h. A span's
 * attribute and event JSON is read by a small scanner (jansson reads only
 * what the scanner leaves to it), a resource once for all its spans. The
 * document is written by hand, straight into the batch, so that times keep
 * exactly six decimals and a document that is too large can be written
 * again with tighter limits. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "export/xray.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <netdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "telemetry/attrs.h"
#include "util/jsonw.h"
#include "util/utf8.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.0.0"
#endif

#define MAX_NAME_CHARS 200          /* segment and subsegment names */
#define MAX_ANNOTATION_KEY 500
#define MAX_ANNOTATION_CHARS 1000   /* characters of a string annotation */
#define MAX_ANNOTATIONS 50          /* X-Ray keeps 50 per trace */
#define MAX_ANNOTATION_NAME 256     /* bytes of a configured attribute name */
#define MAX_FIELD_CHARS 250         /* url, user_agent, user, service.version */

typedef struct xray_scratch xray_scratch;
static xray_scratch *scratch_new(void);
static void scratch_free(xray_scratch *x);

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
    scratch_free(c->scratch);
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
    if ((c->scratch = scratch_new()) == NULL) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
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
    size_t len = utf8_decode((const char *)s, n, cp);
    if (len == 0) {
        *cp = 0xfffd;
        return 1;
    }
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

/* An ASCII byte a segment name may hold as it is. */
static int name_ascii(unsigned c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && c < 0x80 && strchr(" _.:/%&#=+\\-@", (int)c) != NULL);
}

/* A valid name from s (invalid characters dropped, at most 200
 * characters), or fallback when nothing is left. tmp is scratch space. */
static int put_name(buf_t *o, buf_t *tmp, const char *s, const char *fallback)
{
    size_t len = s ? strlen(s) : 0, chars = 0;
    /* Most names are valid as they are: plain ASCII, no space at either end. */
    size_t i = 0;
    if (len <= MAX_NAME_CHARS)
        while (i < len && name_ascii((unsigned char)s[i]))
            i++;
    if (len > 0 && i == len && s[0] != ' ' && s[len - 1] != ' ')
        return attrs_json_string(o, s, len);
    buf_reset(tmp);
    int rc = 0;
    for (size_t at = 0; at < len && chars < MAX_NAME_CHARS && rc == 0;) {
        uint32_t cp;
        size_t k = utf8_next((const unsigned char *)s + at, len - at, &cp);
        if (name_char(cp)) {
            rc = buf_append(tmp, s + at, k);
            chars++;
        }
        at += k;
    }
    if (rc != 0)
        return -1;
    /* Trailing and leading spaces carry nothing. */
    size_t a = 0, z = tmp->len;
    while (a < z && tmp->data[a] == ' ')
        a++;
    while (z > a && tmp->data[z - 1] == ' ')
        z--;
    return a < z ? attrs_json_string(o, tmp->data + a, z - a) : attrs_json_cstr(o, fallback);
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

/* ---- reading JSON --------------------------------------------------------------- */

/* A span's attributes and events, and a resource, are read by a small
 * scanner into a list of tokens: a value, then what it holds, strings
 * decoded into an arena. Once its lists are warm it allocates nothing.
 * Text it does not take as it stands (a key given twice, an integer beyond
 * 64 bits, a bad escape, anything that is not JSON) goes to jansson, as
 * before; what jansson reads is written back compact and scanned again,
 * so both paths see a text exactly as jansson reads it. */

enum { JT_OBJECT, JT_ARRAY, JT_STRING, JT_INT, JT_REAL, JT_TRUE, JT_FALSE, JT_NULL };

#define JT_MAX_DEPTH 2048           /* containers in containers, as jansson's parser */
#define JT_MAX_TEXT (1u << 30)      /* longer text goes to jansson */

/* Marks on the key tokens of a span's attributes (see classify). */
#define MARK_HTTP 1u                /* read into the http block */
#define MARK_SQL 2u                 /* read into the sql block */
#define MARK_USER 4u                /* enduser.id */
#define MARK_ANNOTATION 8u          /* named in CRUDDUR_XRAY_ANNOTATIONS */

typedef struct jtok {
    const char *s;                  /* JT_STRING: decoded, NUL-terminated, in the arena */
    union {
        int64_t i;                  /* JT_INT */
        double d;                   /* JT_REAL */
        uint64_t hash;              /* JT_STRING (keys): to find keys given twice */
    } v;
    uint32_t len;                   /* JT_STRING: bytes of s */
    uint32_t n;                     /* JT_ARRAY: elements; JT_OBJECT: members */
    uint32_t next;                  /* index of the token after this value and all it holds */
    uint8_t type;
    uint8_t mark;                   /* MARK_* */
} jtok;

/* Tokens of one JSON text; t[0] is its value. An object's members are a
 * key (a JT_STRING) and a value each. */
typedef struct jdoc {
    jtok *t;
    size_t n, cap;
    buf_t arena;                    /* decoded strings */
    buf_t norm;                     /* the text as jansson wrote it back, when it read it */
    uint32_t *stack;                /* open containers */
} jdoc;

static void jdoc_free(jdoc *d)
{
    free(d->t);
    buf_free(&d->arena);
    buf_free(&d->norm);
    free(d->stack);
    memset(d, 0, sizeof *d);
}

static jtok *jt_new(jdoc *d)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        jtok *t = realloc(d->t, cap * sizeof *t);
        if (t == NULL)
            return NULL;
        d->t = t;
        d->cap = cap;
    }
    jtok *t = &d->t[d->n++];
    memset(t, 0, sizeof *t);
    return t;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int hex4(const unsigned char *p, const unsigned char *end, uint32_t *out)
{
    uint32_t v = 0;
    if (end - p < 4)
        return 1;
    for (int k = 0; k < 4; k++) {
        unsigned c = p[k];
        unsigned d = c >= '0' && c <= '9' ? c - '0'
                   : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : 16;
        if (d == 16)
            return 1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

static size_t utf8_put(char *a, uint32_t cp)
{
    if (cp < 0x80) {
        a[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        a[0] = (char)(0xC0 | cp >> 6);
        a[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        a[0] = (char)(0xE0 | cp >> 12);
        a[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        a[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    a[0] = (char)(0xF0 | cp >> 18);
    a[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    a[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    a[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The string whose quote *pp is on, decoded to *ap (a NUL after it) into
 * t. Decoded text is never longer than its JSON: the arena, reserved for
 * the whole text, cannot overflow. 0, or 1 for what the scanner leaves to
 * jansson (which refuses all of it: control characters, bad UTF-8, bad
 * escapes, lone surrogates, \u0000). */
static int scan_str(const char **pp, const char *end, char **ap, jtok *t)
{
    const unsigned char *p = (const unsigned char *)*pp + 1, *e = (const unsigned char *)end;
    char *a = *ap, *start = a;
    for (;;) {
        if (p >= e)
            return 1;
        unsigned c = *p;
        if (c == '"')
            break;
        if (c >= 0x20 && c < 0x80 && c != '\\') {
            *a++ = (char)c;
            p++;
            continue;
        }
        if (c < 0x20)
            return 1;
        if (c >= 0x80) {
            size_t k = utf8_seq_len((const char *)p, (size_t)(e - p));
            if (k == 0)
                return 1;
            memcpy(a, p, k);
            a += k;
            p += k;
            continue;
        }
        if (++p >= e)
            return 1;
        switch (*p++) {
        case '"': *a++ = '"'; break;
        case '\\': *a++ = '\\'; break;
        case '/': *a++ = '/'; break;
        case 'b': *a++ = '\b'; break;
        case 'f': *a++ = '\f'; break;
        case 'n': *a++ = '\n'; break;
        case 'r': *a++ = '\r'; break;
        case 't': *a++ = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (hex4(p, e, &cp) != 0)
                return 1;
            p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (e - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, e, &lo) != 0 ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return 1;
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
                return 1;
            }
            a += utf8_put(a, cp);
            break;
        }
        default:
            return 1;
        }
    }
    *a = '\0';
    t->type = JT_STRING;
    t->s = start;
    t->len = (uint32_t)(a - start);
    *ap = a + 1;
    *pp = (const char *)p + 1;
    return 0;
}

/* A number as jansson reads it: an integer without fraction or exponent
 * (1 when beyond 64 bits: jansson fails, then reads every integer as a
 * real), else a finite real. 0 or 1. */
static int scan_number(const char **pp, const char *end, jtok *t)
{
    const char *p = *pp, *q = p;
    int real = 0;
    if (q < end && *q == '-')
        q++;
    if (q >= end || *q < '0' || *q > '9')
        return 1;
    if (*q == '0')
        q++;
    else
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    if (q < end && *q == '.') {
        real = 1;
        if (++q >= end || *q < '0' || *q > '9')
            return 1;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        real = 1;
        if (++q < end && (*q == '+' || *q == '-'))
            q++;
        if (q >= end || *q < '0' || *q > '9')
            return 1;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    }
    if (!real) {
        int neg = *p == '-';
        uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (const char *d = p + neg; d < q; d++) {
            unsigned k = (unsigned)(*d - '0');
            if (v > (lim - k) / 10)
                return 1;
            v = v * 10 + k;
        }
        t->type = JT_INT;
        t->v.i = neg ? (int64_t)(0 - v) : (int64_t)v;
    } else {
        char tmp[64];
        size_t n = (size_t)(q - p);
        if (n >= sizeof tmp)
            return 1;
        memcpy(tmp, p, n);
        tmp[n] = '\0';
        double d = strtod(tmp, NULL);
        if (!(d > -HUGE_VAL && d < HUGE_VAL))
            return 1;
        t->type = JT_REAL;
        t->v.d = d;
    }
    *pp = q;
    return 0;
}

static uint64_t key_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Whether the object at index o names a key twice (jansson keeps the last
 * value at the first place: left to it). */
static int has_twice(const jdoc *d, size_t o)
{
    const jtok *t = d->t;
    const jtok *k = &t[o + 1];
    for (uint32_t i = 0; i < t[o].n; i++, k = &t[k[1].next]) {
        const jtok *k2 = &t[k[1].next];
        for (uint32_t j = i + 1; j < t[o].n; j++, k2 = &t[k2[1].next])
            if (k2->v.hash == k->v.hash && k2->len == k->len && memcmp(k2->s, k->s, k->len) == 0)
                return 1;
    }
    return 0;
}

/* Scans text[0..len) into d. 0, 1 when left to jansson, -1 no memory. */
static int jdoc_scan(jdoc *d, const char *text, size_t len)
{
    d->n = 0;
    buf_reset(&d->arena);
    if (len > JT_MAX_TEXT)
        return 1;
    if (buf_reserve(&d->arena, len) != 0)
        return -1;
    if (d->stack == NULL && (d->stack = malloc(JT_MAX_DEPTH * sizeof *d->stack)) == NULL)
        return -1;
    const char *p = text, *end = text + len;
    char *a = d->arena.data;
    size_t depth = 0, top;
    jtok *t;

value:
    p = skip_ws(p, end);
    if (p >= end)
        return 1;
    if ((t = jt_new(d)) == NULL)
        return -1;
    switch (*p) {
    case '{':
    case '[':
        t->type = *p == '{' ? JT_OBJECT : JT_ARRAY;
        if (depth == JT_MAX_DEPTH)
            return 1;
        d->stack[depth++] = (uint32_t)(d->n - 1);
        p = skip_ws(p + 1, end);
        if (p < end && *p == (t->type == JT_OBJECT ? '}' : ']')) {
            p++;
            goto close;
        }
        if (t->type == JT_OBJECT)
            goto key;
        goto value;
    case '"':
        if (scan_str(&p, end, &a, t) != 0)
            return 1;
        break;
    case 't':
    case 'f':
    case 'n': {
        static const char *const words[] = {"true", "false", "null"};
        int w = *p == 't' ? 0 : *p == 'f' ? 1 : 2;
        size_t wl = strlen(words[w]);
        if ((size_t)(end - p) < wl || memcmp(p, words[w], wl) != 0)
            return 1;
        p += wl;
        t->type = w == 0 ? JT_TRUE : w == 1 ? JT_FALSE : JT_NULL;
        break;
    }
    default:
        if (scan_number(&p, end, t) != 0)
            return 1;
        break;
    }
    t->next = (uint32_t)d->n;
    goto after;

key:
    p = skip_ws(p, end);
    if (p >= end || *p != '"')
        return 1;
    if ((t = jt_new(d)) == NULL)
        return -1;
    if (scan_str(&p, end, &a, t) != 0)
        return 1;
    t->next = (uint32_t)d->n;
    t->v.hash = key_hash(t->s, t->len);
    p = skip_ws(p, end);
    if (p >= end || *p != ':')
        return 1;
    p++;
    goto value;

close:
    top = d->stack[--depth];
    d->t[top].next = (uint32_t)d->n;
    if (d->t[top].type == JT_OBJECT && d->t[top].n > 1 && has_twice(d, top))
        return 1;

after:
    if (depth == 0)
        return skip_ws(p, end) == end ? 0 : 1;
    top = d->stack[depth - 1];
    d->t[top].n++;
    p = skip_ws(p, end);
    if (p >= end)
        return 1;
    if (*p == ',') {
        p++;
        if (d->t[top].type == JT_OBJECT)
            goto key;
        goto value;
    }
    if (*p == (d->t[top].type == JT_OBJECT ? '}' : ']')) {
        p++;
        goto close;
    }
    return 1;
}

/* Reads text into d. 0, 1 when it is not JSON (as jansson reads it), -1
 * no memory. */
static int jdoc_load(jdoc *d, const char *text)
{
    size_t len = strlen(text);
    int rc = jdoc_scan(d, text, len);
    if (rc <= 0)
        return rc;
    json_t *j = json_loadb(text, len, 0, NULL);
    /* An integer beyond 64 bits makes jansson give up; read numbers as reals then. */
    if (j == NULL)
        j = json_loadb(text, len, JSON_DECODE_INT_AS_REAL, NULL);
    if (j == NULL)
        return 1;
    buf_reset(&d->norm);
    rc = jsonw_append(&d->norm, j);
    json_decref(j);
    if (rc != 0)
        return 1;
    rc = jdoc_scan(d, d->norm.data, d->norm.len);
    return rc < 0 ? -1 : rc;
}

/* The value of key in object o (a token of d), or NULL. */
static const jtok *jt_get(const jdoc *d, const jtok *o, const char *key, size_t klen)
{
    if (o == NULL || o->type != JT_OBJECT)
        return NULL;
    const jtok *k = o + 1;
    for (uint32_t i = 0; i < o->n; i++, k = &d->t[k[1].next])
        if (k->len == klen && memcmp(k->s, key, klen) == 0)
            return k + 1;
    return NULL;
}

#define JT_GET(d, o, lit) jt_get((d), (o), lit, sizeof lit - 1)

static const char *jt_str(const jtok *v)
{
    return v != NULL && v->type == JT_STRING ? v->s : NULL;
}

static int jt_scalar(const jtok *v)
{
    return v != NULL && v->type != JT_OBJECT && v->type != JT_ARRAY && v->type != JT_NULL;
}

/* ---- writing values ------------------------------------------------------------- */

#define PUTL(o, lit) buf_append((o), lit, sizeof lit - 1)

static int put_i64(buf_t *o, int64_t v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    /* through the unsigned magnitude, so that the most negative value works */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--p = '-';
    return buf_append(o, p, (size_t)(tmp + sizeof tmp - p));
}

/* Epoch seconds with six decimals, from nanoseconds. */
static int put_time(buf_t *o, int64_t ns)
{
    int64_t s = ns / 1000000000, r = ns % 1000000000;
    if (r < 0) {
        s--;
        r += 1000000000;
    }
    char frac[7];
    int64_t us = r / 1000;
    frac[0] = '.';
    for (int i = 6; i >= 1; i--, us /= 10)
        frac[i] = (char)('0' + us % 10);
    return put_i64(o, s) || buf_append(o, frac, sizeof frac) ? -1 : 0;
}

/* A real as jansson writes it (its build decides: %.17g or shortest). */
static int put_real(buf_t *o, double d)
{
    json_t *r = json_real(d);
    char tmp[128];
    size_t n = r ? json_dumpb(r, tmp, sizeof tmp, JSON_COMPACT | JSON_ENCODE_ANY) : 0;
    json_decref(r);
    if (n == 0 || n > sizeof tmp)
        return -1;
    return buf_append(o, tmp, n);
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

/* A number, boolean or null as jansson writes it. */
static int put_scalar(buf_t *o, const jtok *v)
{
    switch (v->type) {
    case JT_INT:
        return put_i64(o, v->v.i);
    case JT_REAL:
        return put_real(o, v->v.d);
    case JT_TRUE:
        return PUTL(o, "true");
    case JT_FALSE:
        return PUTL(o, "false");
    default:
        return PUTL(o, "null");
    }
}

/* A JSON value (a token of d) with every string in it cut to max bytes;
 * containers nested 8 deep become null. */
static int put_value(buf_t *o, const jdoc *d, const jtok *v, size_t max, int depth)
{
    if (v->type == JT_STRING)
        return put_strn(o, v->s, v->len, max);
    if (v->type != JT_ARRAY && v->type != JT_OBJECT)
        return put_scalar(o, v);
    if (depth >= 8)
        return PUTL(o, "null");
    int obj = v->type == JT_OBJECT;
    if (buf_putc(o, obj ? '{' : '[') != 0)
        return -1;
    const jtok *e = v + 1;
    for (uint32_t i = 0; i < v->n; i++) {
        if (i > 0 && buf_putc(o, ',') != 0)
            return -1;
        if (obj) {
            if (attrs_json_string(o, e->s, e->len) != 0 || buf_putc(o, ':') != 0)
                return -1;
            e++;
        }
        if (put_value(o, d, e, max, depth + 1) != 0)
            return -1;
        e = &d->t[e->next];
    }
    return buf_putc(o, obj ? '}' : ']');
}

/* ---- reading a span ---------------------------------------------------------- */

/* The attributes read by name. The first K_HTTP_END go into the http
 * block, the next into the sql block; both are then left out of metadata. */
enum {
    K_METHOD, K_METHOD_ORIGINAL, K_METHOD_OLD, K_URL_FULL, K_URL_OLD, K_SCHEME, K_PATH, K_QUERY,
    K_SERVER_ADDRESS, K_SERVER_PORT, K_CLIENT_ADDRESS, K_UA, K_UA_OLD, K_STATUS, K_STATUS_OLD,
    K_BODY_SIZE, K_XFF, K_HTTP_END = K_XFF,
    K_DB_SYSTEM_NAME, K_DB_SYSTEM, K_DB_QUERY, K_DB_STATEMENT, K_SQL_END = K_DB_STATEMENT,
    K_USER, K_ERROR_TYPE, K_COUNT
};

#define KEY(s) {s, sizeof s - 1}
static const struct {
    const char *name;
    size_t len;
} KNOWN[K_COUNT] = {
    KEY("http.request.method"), KEY("http.request.method_original"), KEY("http.method"),
    KEY("url.full"), KEY("http.url"), KEY("url.scheme"), KEY("url.path"), KEY("url.query"),
    KEY("server.address"), KEY("server.port"), KEY("client.address"),
    KEY("user_agent.original"), KEY("http.user_agent"), KEY("http.response.status_code"),
    KEY("http.status_code"), KEY("http.response.body.size"),
    KEY("http.request.header.x-forwarded-for"),
    KEY("db.system.name"), KEY("db.system"), KEY("db.query.text"), KEY("db.statement"),
    KEY("enduser.id"), KEY("error.type"),
};
#undef KEY

#define RES_CACHE 8                 /* resources kept read (the API has one per worker) */

/* A resource, read once for every span that names it. */
typedef struct res_entry {
    char *text;                     /* the JSON it was read from (owned); NULL: unused */
    size_t text_len;
    int ready;
    jdoc doc;
    const jtok *obj;                /* the resource, NULL when none or not an object */
    buf_t name;                     /* the segment name, as JSON */
    const char *origin;             /* from cloud.platform, or NULL */
    buf_t version;                  /* ,"service":{"version":...}, or empty */
    buf_t meta;                     /* its metadata members, uncut: "otel.resource.k":v,... */
    size_t n_meta;
} res_entry;

struct xray_scratch {
    jdoc attrs, events;
    buf_t tmp;                      /* names and URLs being put together */
    res_entry res[RES_CACHE];
    res_entry none;                 /* for spans without a resource */
    size_t next_res;                /* the entry to use next when none matches */
};

static void res_clear(res_entry *e)
{
    free(e->text);
    e->text = NULL;
    e->text_len = 0;
    e->ready = 0;
    e->obj = NULL;
    e->origin = NULL;
    e->n_meta = 0;
    buf_reset(&e->name);
    buf_reset(&e->version);
    buf_reset(&e->meta);
}

static void res_free(res_entry *e)
{
    res_clear(e);
    jdoc_free(&e->doc);
    buf_free(&e->name);
    buf_free(&e->version);
    buf_free(&e->meta);
}

static void scratch_free(xray_scratch *x)
{
    if (x == NULL)
        return;
    jdoc_free(&x->attrs);
    jdoc_free(&x->events);
    buf_free(&x->tmp);
    for (size_t i = 0; i < RES_CACHE; i++)
        res_free(&x->res[i]);
    res_free(&x->none);
    free(x);
}

static xray_scratch *scratch_new(void)
{
    return calloc(1, sizeof(xray_scratch));
}

/* What a span's document is written from. */
typedef struct span_in {
    const xray_config *c;
    const spool_span *s;
    xray_scratch *x;
    const jdoc *ad, *ed;
    const jtok *attrs;              /* object */
    const jtok *events;             /* array */
    const res_entry *res;
    const jtok *known[K_COUNT];     /* values of the attributes read by name */
    const jtok *ann[MAX_ANNOTATIONS]; /* values of the attributes named as annotations */
    char trace_id[36];
    int segment;                    /* a segment, not a subsegment */
    int http;                       /* has an http block */
    int sql;                        /* has an sql block */
    int64_t status;                 /* HTTP status, 0 when none */
    int fault, error, throttle;
} span_in;

static const char *attr_str(const span_in *in, int k)
{
    return jt_str(in->known[k]);
}

/* An integer attribute (a whole real counts, for spools read with
 * JSON_DECODE_INT_AS_REAL); 0 when absent. */
static int attr_int(const span_in *in, int k, int64_t *out)
{
    const jtok *v = in->known[k];
    if (v == NULL)
        return 0;
    if (v->type == JT_INT) {
        *out = v->v.i;
        return 1;
    }
    if (v->type == JT_REAL && v->v.d >= -9223372036854775808.0 && v->v.d < 9223372036854775808.0 &&
        v->v.d == (double)(int64_t)v->v.d) {
        *out = (int64_t)v->v.d;
        return 1;
    }
    if (v->type == JT_STRING) {
        char *end;
        long long x = strtoll(v->s, &end, 10);
        if (*v->s && *end == '\0') {
            *out = x;
            return 1;
        }
    }
    return 0;
}

/* Finds the attributes read by name and the annotations, and marks their
 * keys for put_metadata. */
static void classify(span_in *in)
{
    jdoc *d = &in->x->attrs;
    const jtok *o = in->attrs;
    jtok *k = &d->t[1];
    for (uint32_t i = 0; i < o->n; i++, k = &d->t[k[1].next]) {
        for (int j = 0; j < K_COUNT; j++) {
            if (k->len != KNOWN[j].len || memcmp(k->s, KNOWN[j].name, k->len) != 0)
                continue;
            in->known[j] = k + 1;
            k->mark |= j <= K_HTTP_END ? MARK_HTTP : j <= K_SQL_END ? MARK_SQL
                     : j == K_USER ? MARK_USER : 0;
            break;
        }
    }
    const xray_config *c = in->c;
    for (size_t i = 0; i < c->n_annotations && i < MAX_ANNOTATIONS; i++) {
        const jtok *v = jt_get(d, o, c->annotations[i], strlen(c->annotations[i]));
        in->ann[i] = v;
        if (v != NULL)
            d->t[v - d->t - 1].mark |= MARK_ANNOTATION;   /* its key */
    }
}

/* The cloud.platform of a resource as an X-Ray origin, NULL for none. */
static const char *origin(const char *platform)
{
    static const char *const map[][2] = {
        {"aws_ec2", "AWS::EC2::Instance"},
        {"aws_ecs", "AWS::ECS::Container"},
        {"aws_eks", "AWS::EKS::Container"},
        {"aws_elastic_beanstalk", "AWS::ElasticBeanstalk::Environment"},
        {"aws_app_runner", "AWS::AppRunner::Service"},
    };
    for (size_t i = 0; platform != NULL && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(platform, map[i][0]) == 0)
            return map[i][1];
    return NULL;
}

/* One metadata member of a resource: "otel.resource.<key>":value. */
static int put_res_member(buf_t *o, buf_t *tmp, const jdoc *d, const jtok *k, size_t max)
{
    buf_reset(tmp);
    if (PUTL(tmp, "otel.resource.") != 0 || buf_append(tmp, k->s, k->len) != 0 ||
        attrs_json_string(o, tmp->data, tmp->len) != 0 || buf_putc(o, ':') != 0)
        return -1;
    return put_value(o, d, k + 1, max, 0);
}

/* Reads a resource (text NULL: none) into e and writes what every segment
 * of it repeats. 0 or -1 (e is left unused). */
static int res_fill(res_entry *e, buf_t *tmp, const char *text)
{
    res_clear(e);
    if (text != NULL) {
        e->text_len = strlen(text);
        if ((e->text = malloc(e->text_len + 1)) == NULL)
            return -1;
        memcpy(e->text, text, e->text_len + 1);
        int rc = jdoc_load(&e->doc, e->text);
        if (rc < 0)
            goto oom;
        if (rc == 0 && e->doc.t[0].type == JT_OBJECT)
            e->obj = &e->doc.t[0];
    }
    const jdoc *d = &e->doc;
    if (put_name(&e->name, tmp, jt_str(JT_GET(d, e->obj, "service.name")), XRAY_DEFAULT_SERVICE) != 0)
        goto oom;
    e->origin = origin(jt_str(JT_GET(d, e->obj, "cloud.platform")));
    const jtok *version = JT_GET(d, e->obj, "service.version");
    if (version != NULL && version->type == JT_STRING &&
        (PUTL(&e->version, ",\"service\":{\"version\":") != 0 ||
         put_chars(&e->version, version->s, version->len, MAX_FIELD_CHARS) != 0 ||
         buf_putc(&e->version, '}') != 0))
        goto oom;
    if (e->obj != NULL) {
        const jtok *k = e->obj + 1;
        for (uint32_t i = 0; i < e->obj->n; i++, k = &d->t[k[1].next]) {
            if ((i > 0 && buf_putc(&e->meta, ',') != 0) ||
                put_res_member(&e->meta, tmp, d, k, SIZE_MAX) != 0)
                goto oom;
        }
        e->n_meta = e->obj->n;
    }
    e->ready = 1;
    return 0;
oom:
    res_clear(e);
    return -1;
}

/* The resource of text (NULL: none), read now or earlier. NULL on
 * allocation failure. */
static const res_entry *res_get(xray_scratch *x, const char *text)
{
    if (text == NULL) {
        if (!x->none.ready && res_fill(&x->none, &x->tmp, NULL) != 0)
            return NULL;
        return &x->none;
    }
    size_t len = strlen(text);
    for (size_t i = 0; i < RES_CACHE; i++) {
        res_entry *e = &x->res[i];
        if (e->ready && e->text_len == len && memcmp(e->text, text, len) == 0)
            return e;
    }
    res_entry *e = &x->res[x->next_res];
    x->next_res = (x->next_res + 1) % RES_CACHE;
    return res_fill(e, &x->tmp, text) == 0 ? e : NULL;
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
    const jtok *full = in->known[K_URL_FULL];
    if (full == NULL || full->type != JT_STRING)
        full = in->known[K_URL_OLD];
    if (full != NULL && full->type == JT_STRING)
        return put_chars(o, full->s, full->len, MAX_FIELD_CHARS);
    const char *scheme = attr_str(in, K_SCHEME), *host = attr_str(in, K_SERVER_ADDRESS);
    const char *path = attr_str(in, K_PATH), *query = attr_str(in, K_QUERY);
    if (host == NULL && path == NULL)
        return 1;
    if (scheme == NULL)
        scheme = "http";
    buf_t *u = &in->x->tmp;
    int rc = 0;
    buf_reset(u);
    if (host != NULL) {
        int64_t port;
        int v6 = strchr(host, ':') != NULL;
        rc |= buf_puts(u, scheme);
        rc |= PUTL(u, "://");
        if (v6)
            rc |= buf_putc(u, '[');
        rc |= buf_puts(u, host);
        if (v6)
            rc |= buf_putc(u, ']');
        if (attr_int(in, K_SERVER_PORT, &port) &&
            !(port == 80 && strcmp(scheme, "http") == 0) && !(port == 443 && strcmp(scheme, "https") == 0)) {
            rc |= buf_putc(u, ':');
            rc |= put_i64(u, port);
        }
    }
    rc |= buf_puts(u, path != NULL ? path : "/");
    if (query != NULL && *query) {
        rc |= buf_putc(u, '?');
        rc |= buf_puts(u, query);
    }
    if (rc == 0)
        rc = put_chars(o, u->data, u->len, MAX_FIELD_CHARS);
    return rc ? -1 : 0;
}

static int put_http(buf_t *o, const span_in *in)
{
    const char *method = attr_str(in, K_METHOD);
    if (method != NULL && strcmp(method, "_OTHER") == 0 && attr_str(in, K_METHOD_ORIGINAL))
        method = attr_str(in, K_METHOD_ORIGINAL);
    if (method == NULL)
        method = attr_str(in, K_METHOD_OLD);
    const jtok *ua = in->known[K_UA];
    if (ua == NULL || ua->type != JT_STRING)
        ua = in->known[K_UA_OLD];
    if (ua != NULL && ua->type != JT_STRING)
        ua = NULL;
    PUT(PUTL(o, ",\"http\":{\"request\":{"));
    int n = 0;
    if (method != NULL) {
        PUT(PUTL(o, "\"method\":"));
        PUT(put_str(o, method, 32));
        n++;
    }
    size_t mark = o->len;
    PUT(n ? PUTL(o, ",\"url\":") : PUTL(o, "\"url\":"));
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
        PUT(n++ ? PUTL(o, ",\"user_agent\":") : PUTL(o, "\"user_agent\":"));
        PUT(put_chars(o, ua->s, ua->len, MAX_FIELD_CHARS));
    }
    /* A forwarded-for header, when one was recorded, names the client
     * (unverified: x_forwarded_for says so); else the peer address. */
    const jtok *xff = in->known[K_XFF];
    if (xff != NULL && xff->type == JT_ARRAY)
        xff = xff->n > 0 ? xff + 1 : NULL;
    const char *client = NULL;
    size_t client_len = 0;
    int forwarded = 0;
    if ((client = jt_str(xff)) != NULL) {
        while (*client == ' ')
            client++;
        client_len = strcspn(client, ", ");
        forwarded = client_len > 0;
    }
    if (!forwarded && in->s->kind == SPOOL_KIND_SERVER && (client = attr_str(in, K_CLIENT_ADDRESS)) != NULL)
        client_len = in->known[K_CLIENT_ADDRESS]->len;
    if (client != NULL && client_len > 0) {
        PUT(n++ ? PUTL(o, ",\"client_ip\":") : PUTL(o, "\"client_ip\":"));
        PUT(put_strn(o, client, client_len, 64));
        if (forwarded)
            PUT(PUTL(o, ",\"x_forwarded_for\":true"));
    }
    PUT(PUTL(o, "},\"response\":{"));
    int64_t size;
    n = 0;
    if (in->status > 0) {
        PUT(PUTL(o, "\"status\":"));
        PUT(put_i64(o, in->status));
        n++;
    }
    if (attr_int(in, K_BODY_SIZE, &size) && size >= 0) {
        PUT(n ? PUTL(o, ",\"content_length\":") : PUTL(o, "\"content_length\":"));
        PUT(put_i64(o, size));
    }
    return PUTL(o, "}}");
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
    PUT(PUTL(o, "{\"path\":"));
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
        PUT(PUTL(o, ",\"label\":"));
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
    PUT(PUTL(o, ",\"stack\":["));
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
        PUT(PUTL(o, ",\"type\":"));
        PUT(put_str(o, type, l->msg));
    }
    if (message != NULL && *message) {
        PUT(PUTL(o, ",\"message\":"));
        PUT(put_str(o, message, l->msg));
    }
    if (in->s->kind == SPOOL_KIND_CLIENT)
        PUT(PUTL(o, ",\"remote\":true"));
    if (stack != NULL && *stack)
        PUT(put_stack(o, stack, l));
    return buf_putc(o, '}');
}

static int is_exception(const jdoc *d, const jtok *ev)
{
    const jtok *name = JT_GET(d, ev, "name");
    return name != NULL && name->type == JT_STRING && strcmp(name->s, "exception") == 0;
}

static int put_cause(buf_t *o, const span_in *in, const limits *l)
{
    const jdoc *d = in->ed;
    size_t n = 0, total = 0;
    const jtok *ev = in->events + 1;
    for (uint32_t i = 0; i < in->events->n; i++, ev = &d->t[ev->next])
        total += (size_t)is_exception(d, ev);
    const char *status_msg = in->s->status_message;
    int synth = total == 0 && (in->fault || in->error) && in->s->status_code == SPOOL_STATUS_ERROR &&
                status_msg != NULL && *status_msg;
    if (total == 0 && !synth)
        return 0;
    PUT(PUTL(o, ",\"cause\":{\"exceptions\":["));
    if (synth) {
        PUT(put_exception(o, in, 0, attr_str(in, K_ERROR_TYPE), status_msg, NULL, l));
        n++;
    }
    ev = in->events + 1;
    for (uint32_t i = 0; i < in->events->n && n < l->exceptions; i++, ev = &d->t[ev->next]) {
        if (!is_exception(d, ev))
            continue;
        const jtok *a = JT_GET(d, ev, "attributes");
        if (n++ > 0)
            PUT(buf_putc(o, ','));
        PUT(put_exception(o, in, n, jt_str(JT_GET(d, a, "exception.type")),
                          jt_str(JT_GET(d, a, "exception.message")),
                          jt_str(JT_GET(d, a, "exception.stacktrace")), l));
    }
    return PUTL(o, "]}");
}

static int put_annotations(buf_t *o, const span_in *in)
{
    const xray_config *c = in->c;
    char keys[MAX_ANNOTATIONS][MAX_ANNOTATION_KEY + 1];
    size_t n = 0;
    for (size_t i = 0; i < c->n_annotations && i < MAX_ANNOTATIONS; i++) {
        const jtok *v = in->ann[i];
        if (!jt_scalar(v))
            continue;
        char *key = keys[n];
        if (xray_annotation_key(c->annotations[i], key, MAX_ANNOTATION_KEY + 1) == 0)
            continue;
        int dup = 0;
        for (size_t k = 0; k < n && !dup; k++)
            dup = strcmp(keys[k], key) == 0;
        if (dup)
            continue;
        PUT(n++ ? buf_putc(o, ',') : PUTL(o, ",\"annotations\":{"));
        PUT(attrs_json_cstr(o, key));
        PUT(buf_putc(o, ':'));
        if (v->type == JT_STRING)
            PUT(attrs_json_string(o, v->s, cut_chars(v->s, v->len, MAX_ANNOTATION_CHARS)));
        else
            PUT(put_scalar(o, v));
    }
    return n ? buf_putc(o, '}') : 0;
}

static int put_metadata(buf_t *o, const span_in *in, const limits *l)
{
    const jdoc *d = in->ad;
    size_t n = 0;
    const jtok *k = in->attrs + 1;
    for (uint32_t i = 0; i < in->attrs->n; i++, k = &d->t[k[1].next]) {
        if ((l->annotations && (k->mark & MARK_ANNOTATION) && jt_scalar(k + 1)) ||
            (in->http && (k->mark & MARK_HTTP)) || (in->sql && (k->mark & MARK_SQL)) ||
            (in->segment && (k->mark & MARK_USER)) || (k->len >= 4 && memcmp(k->s, "AWS.", 4) == 0))
            continue;   /* "AWS." keys are reserved */
        PUT(n++ ? buf_putc(o, ',') : PUTL(o, ",\"metadata\":{\"default\":{"));
        PUT(attrs_json_string(o, k->s, k->len));
        PUT(buf_putc(o, ':'));
        PUT(put_value(o, d, k + 1, l->meta_str, 0));
    }
    const res_entry *r = in->res;
    if (in->segment && r->obj != NULL && r->n_meta > 0) {
        PUT(n ? buf_putc(o, ',') : PUTL(o, ",\"metadata\":{\"default\":{"));
        n += r->n_meta;
        if (l->meta_str == SIZE_MAX) {
            PUT(buf_append(o, r->meta.data, r->meta.len));   /* as written when it was read */
        } else {
            k = r->obj + 1;
            for (uint32_t i = 0; i < r->obj->n; i++, k = &r->doc.t[k[1].next]) {
                PUT(i > 0 ? buf_putc(o, ',') : 0);
                PUT(put_res_member(o, &in->x->tmp, &r->doc, k, l->meta_str));
            }
        }
    }
    return n ? PUTL(o, "}}") : 0;
}

static int write_doc(buf_t *o, const span_in *in, const limits *l)
{
    const spool_span *s = in->s;
    PUT(PUTL(o, "{\"trace_id\":\""));
    PUT(buf_append(o, in->trace_id, 35));
    PUT(PUTL(o, "\",\"id\":\""));
    PUT(buf_append(o, s->span_id, 16));
    PUT(PUTL(o, "\",\"name\":"));
    if (in->segment)
        PUT(buf_append(o, in->res->name.data, in->res->name.len));
    else
        PUT(put_name(o, &in->x->tmp, s->name, "span"));
    PUT(PUTL(o, ",\"start_time\":"));
    PUT(put_time(o, s->start_ns));
    PUT(PUTL(o, ",\"end_time\":"));
    PUT(put_time(o, s->end_ns));
    PUT(PUTL(o, ",\"in_progress\":false"));
    if (!in->segment)
        PUT(PUTL(o, ",\"type\":\"subsegment\""));
    if (s->parent_span_id[0] != '\0') {
        PUT(PUTL(o, ",\"parent_id\":\""));
        PUT(buf_append(o, s->parent_span_id, 16));
        PUT(buf_putc(o, '"'));
    }
    if (!in->segment && s->kind == SPOOL_KIND_CLIENT)
        PUT(PUTL(o, ",\"namespace\":\"remote\""));
    if (in->segment) {
        const char *org = in->res->origin;
        if (org != NULL) {
            PUT(PUTL(o, ",\"origin\":\""));
            PUT(buf_puts(o, org));
            PUT(buf_putc(o, '"'));
        }
        const jtok *user = in->known[K_USER];
        if (user != NULL && user->type == JT_STRING && user->len > 0) {
            PUT(PUTL(o, ",\"user\":"));
            PUT(put_chars(o, user->s, user->len, MAX_FIELD_CHARS));
        }
        PUT(buf_append(o, in->res->version.data, in->res->version.len));
    }
    if (in->http)
        PUT(put_http(o, in));
    if (in->fault)
        PUT(PUTL(o, ",\"fault\":true"));
    if (in->error)
        PUT(PUTL(o, ",\"error\":true"));
    if (in->throttle)
        PUT(PUTL(o, ",\"throttle\":true"));
    PUT(put_cause(o, in, l));
    if (in->sql) {
        const char *sys = attr_str(in, K_DB_SYSTEM_NAME);
        const char *q = attr_str(in, K_DB_QUERY);
        PUT(PUTL(o, ",\"sql\":{\"database_type\":"));
        PUT(put_str(o, sys ? sys : attr_str(in, K_DB_SYSTEM), 128));
        if (q == NULL)
            q = attr_str(in, K_DB_STATEMENT);
        if (q != NULL) {
            PUT(PUTL(o, ",\"sanitized_query\":"));
            PUT(put_str(o, q, l->text));
        }
        PUT(buf_putc(o, '}'));
    }
    if (in->segment)
        PUT(PUTL(o, ",\"aws\":{\"xray\":{\"sdk\":\"cruddur-export\",\"sdk_version\":\"" PACKAGE_VERSION "\"}}"));
    if (l->annotations)
        PUT(put_annotations(o, in));
    if (l->metadata)
        PUT(put_metadata(o, in, l));
    return buf_putc(o, '}');
}

#undef PUT

/* Reads the span's JSON and decides its shape. 0, 1 with *why, or -1 (no
 * memory). */
static int read_span(span_in *in, xray_scratch *x, const xray_config *c, const spool_span *s,
                     const char *res, const char **why)
{
    memset(in, 0, sizeof *in);
    in->c = c;
    in->s = s;
    in->x = x;
    in->ad = &x->attrs;
    in->ed = &x->events;
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
    int rc = jdoc_load(&x->attrs, s->attributes_json ? s->attributes_json : "{}");
    if (rc < 0)
        return -1;
    if (rc > 0 || x->attrs.t[0].type != JT_OBJECT) {
        *why = "attributes are not readable";
        return 1;
    }
    rc = jdoc_load(&x->events, s->events_json ? s->events_json : "[]");
    if (rc < 0)
        return -1;
    if (rc > 0 || x->events.t[0].type != JT_ARRAY) {
        *why = "events are not readable";
        return 1;
    }
    in->attrs = &x->attrs.t[0];
    in->events = &x->events.t[0];
    if ((in->res = res_get(x, res)) == NULL)
        return -1;
    classify(in);
    /* X-Ray segments are the service's own work for one request; every
     * other span hangs below its parent as a subsegment. */
    in->segment = s->kind == SPOOL_KIND_SERVER || s->parent_span_id[0] == '\0';
    if (!attr_int(in, K_STATUS, &in->status))
        attr_int(in, K_STATUS_OLD, &in->status);
    in->http = in->known[K_METHOD] != NULL || in->known[K_METHOD_OLD] != NULL || in->status > 0;
    in->sql = attr_str(in, K_DB_SYSTEM_NAME) != NULL || attr_str(in, K_DB_SYSTEM) != NULL;
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
    xray_scratch *x = c->scratch, *own = NULL;
    if (x == NULL && (x = own = scratch_new()) == NULL)
        return -1;
    span_in in;
    size_t mark = out->len;
    int rc = read_span(&in, x, c, s, resource_json, why);
    /* Written in place; again with tighter limits while too large. */
    for (size_t lv = 0; rc == 0 && lv < sizeof LEVELS / sizeof LEVELS[0]; lv++) {
        if (lv > 0) {
            out->len = mark;
            out->data[mark] = '\0';
        }
        if (write_doc(out, &in, &LEVELS[lv]) != 0)
            rc = -1;
        else if (out->len - mark <= c->max_document)
            break;
    }
    if (rc == 0 && out->len - mark > c->max_document) {
        *why = "segment document larger than the X-Ray limit even when trimmed";
        rc = 1;
    }
    if (rc != 0 && out->data != NULL) {
        out->len = mark;
        out->data[mark] = '\0';
    }
    scratch_free(own);
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

/* A document as a JSON string, in one pass. The documents written here are
 * UTF-8 and hold no control characters, so '"' and '\\' are all there is to
 * escape; should anything else turn up, attrs_json_string does it all. */
static int put_doc_string(buf_t *b, const char *doc, size_t len)
{
    if (len > (SIZE_MAX - 2) / 2 || buf_reserve(b, 2 * len + 2) != 0)
        return -1;
    char *d = b->data + b->len;
    *d++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)doc[i];
        if (c == '"' || c == '\\') {
            *d++ = '\\';
            *d++ = (char)c;
        } else if (c >= 0x20) {
            *d++ = (char)c;
        } else {
            b->data[b->len] = '\0';
            return attrs_json_string(b, doc, len);
        }
    }
    *d++ = '"';
    b->len = (size_t)(d - b->data);
    b->data[b->len] = '\0';
    return 0;
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
            rc |= put_doc_string(body, doc, len);
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
