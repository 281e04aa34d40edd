/* cwlogs: encodes spool log records as CloudWatch Logs events, cuts
 * batches into requests PutLogEvents accepts, and reads its answers,
 * creating the log group and streams it needs. See cwlogs.h.
 *
 * An item's bytes in the batch arena are the event exactly as sent,
 * {"timestamp":MS,"message":"..."}: the timestamp and the message's size
 * (as the service counts it) are read back from there, so the target keeps
 * no per-batch state while the engine reads the next batch. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "export/cwlogs.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "telemetry/traceid.h"
#include "util/tstamp.h"
#include "util/utf8.h"

#define ACTION_PREFIX "Logs_20140328."
#define MAX_LEVEL 64                /* bytes of a severity text kept */
#define MAX_HOST 255                /* bytes of a host name in a stream name */
#define MAX_STREAM 512              /* characters of a stream name */
#define MAX_GROUP 512
#define STREAM_SIZE (MAX_STREAM * 4 + 1)   /* bytes of a stream name and its NUL */
#define MAX_KNOWN 64                /* streams remembered as existing */
#define DAY_MS (24LL * 3600 * 1000)
#define EVENT_HEAD "{\"timestamp\":"
#define EVENT_MESSAGE ",\"message\":\""
#define MARKER_HEAD "\xE2\x80\xA6[truncated "    /* U+2026 HORIZONTAL ELLIPSIS */
#define MARKER_TAIL " bytes]"

struct cwlogs_state {
    const volatile sig_atomic_t *stop;
    export_target *target;          /* whose headers authorize refreshes */
    httpc *ctl;                     /* CreateLogGroup, CreateLogStream ...; made on first use */
    expcfg_headers ctl_headers;
    char *known[MAX_KNOWN];         /* streams known to exist, a ring */
    size_t next_known;
    int retention_pending;          /* a group was created, its retention is not set yet */
    int signer_ready;
    buf_t scratch;                  /* one message while it is built */
    buf_t head, tail;               /* its parts around the body */
    int64_t date_day;               /* the UTC day date holds, when date[0] */
    char date[32];                  /* "YYYY-MM-DD" of date_day */
};

static const int retention_values[] = {
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
};

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- JSON strings ------------------------------------------------------------ */

/* One character of s[0..n) as it appears inside a JSON string: *in bytes
 * read, the bytes written returned (and put in out[6] when out != NULL).
 * Bytes that are not UTF-8 become U+FFFD; control characters are escaped. */
static size_t json_char(const unsigned char *s, size_t n, size_t *in, char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char ch = s[0];
    *in = 1;
    if (ch >= 0x20 && ch != '"' && ch != '\\' && ch < 0x80) {
        if (out)
            out[0] = (char)ch;
        return 1;
    }
    if (ch == '"' || ch == '\\' || ch == '\n' || ch == '\r' || ch == '\t' || ch == '\b' || ch == '\f') {
        if (out) {
            out[0] = '\\';
            out[1] = ch == '\n' ? 'n' : ch == '\r' ? 'r' : ch == '\t' ? 't' : ch == '\b' ? 'b'
                   : ch == '\f' ? 'f' : (char)ch;
        }
        return 2;
    }
    if (ch < 0x20) {
        if (out)
            memcpy(out, (char[]){ '\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15] }, 6);
        return 6;
    }
    size_t len = utf8_seq_len((const char *)s, n);
    if (len == 0) {
        if (out)
            memcpy(out, "\xEF\xBF\xBD", 3);
        return 3;
    }
    *in = len;
    if (out)
        memcpy(out, s, len);
    return len;
}

/* Appends s[0..n) escaped, without quotes, as json_char writes each
 * character; written straight into out, a chunk at a time (a character
 * takes at most 6 bytes, so a chunk's room is reserved once). 0 or -1. */
static int put_json_chars(buf_t *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    if (buf_reserve(out, 0) != 0)
        return -1;
    while (i < n) {
        size_t chunk = n - i < 4096 ? n - i : 4096;
        if (buf_reserve(out, 6 * (chunk + 3)) != 0)
            return -1;
        char *o = out->data + out->len;
        size_t stop = i + chunk;
        while (i < stop) {
            unsigned char ch = p[i];
            if (ch >= 0x20 && ch < 0x80 && ch != '"' && ch != '\\') {
                *o++ = (char)ch;
                i++;
                continue;
            }
            size_t in;
            size_t w = json_char(p + i, n - i, &in, o);
            o += w;
            i += in;
        }
        out->len = (size_t)(o - out->data);
        out->data[out->len] = '\0';
    }
    return 0;
}

static int put_json_string(buf_t *out, const char *s, size_t n)
{
    return buf_putc(out, '"') || put_json_chars(out, s, n) || buf_putc(out, '"') ? -1 : 0;
}

/* The longest prefix of s[0..n), whole characters only, whose escaped form
 * is at most budget bytes; its length. */
static size_t json_fit(const char *s, size_t n, size_t budget)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, used = 0;
    while (i < n) {
        size_t in, w = json_char(p + i, n - i, &in, NULL);
        if (used + w > budget)
            break;
        used += w;
        i += in;
    }
    return i;
}

static size_t json_len(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, used = 0;
    while (i < n) {
        size_t in;
        used += json_char(p + i, n - i, &in, NULL);
        i += in;
    }
    return used;
}

/* ---- attributes ------------------------------------------------------------------ */

/* A record's attributes are sent as they are, once known to be a JSON
 * object as jansson reads it. This scanner accepts, without allocating, the
 * plain texts the spool holds in practice; whatever it is not sure of (a
 * \u0000 or surrogate escape, a long number, deep nesting, bad UTF-8,
 * anything that is not JSON) goes to jansson, which decides as before. It
 * only ever says yes to a text jansson reads. */
#define SCAN_MAX_DEPTH 64

static const char *scan_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int scan_hex(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
         : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* The string whose opening quote is before p: the byte after its closing
 * quote, or NULL. */
static const char *scan_string(const char *p, const char *end)
{
    while (p < end) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"')
            return p + 1;
        if (ch >= 0x20 && ch < 0x80 && ch != '\\') {
            p++;
            continue;
        }
        if (ch == '\\') {
            if (end - p < 2)
                return NULL;
            char e = p[1];
            if (e == 'u') {
                unsigned v = 0;
                if (end - p < 6)
                    return NULL;
                for (int k = 2; k < 6; k++) {
                    int h = scan_hex(p[k]);
                    if (h < 0)
                        return NULL;
                    v = v * 16 + (unsigned)h;
                }
                if (v == 0 || (v >= 0xD800 && v <= 0xDFFF))
                    return NULL;
                p += 6;
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                       e == 'r' || e == 't') {
                p += 2;
            } else {
                return NULL;
            }
            continue;
        }
        if (ch < 0x20)
            return NULL;
        size_t len = utf8_seq_len(p, (size_t)(end - p));
        if (len == 0)
            return NULL;
        p += len;
    }
    return NULL;
}

static const char *scan_digits(const char *p, const char *end)
{
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return p;
}

/* A number whose value is surely in range: an integer of at most 18
 * digits, or a real of at most 100 digits before and after the point
 * and an exponent of at most 2 digits. */
static const char *scan_number(const char *p, const char *end)
{
    if (p < end && *p == '-')
        p++;
    const char *d = p;
    if (p >= end || *p < '0' || *p > '9')
        return NULL;
    p = *p == '0' ? p + 1 : scan_digits(p, end);
    if (p < end && *p >= '0' && *p <= '9')
        return NULL;   /* a leading zero */
    size_t int_digits = (size_t)(p - d);
    int real = 0;
    if (p < end && *p == '.') {
        const char *f = p + 1;
        p = scan_digits(f, end);
        if (p == f || p - f > 100)
            return NULL;
        real = 1;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        const char *x = p;
        p = scan_digits(x, end);
        if (p == x || p - x > 2)
            return NULL;
        real = 1;
    }
    return int_digits <= (real ? 100u : 18u) ? p : NULL;
}

/* The value at p: the byte after it, or NULL. */
static const char *scan_value(const char *p, const char *end, int depth)
{
    if (p >= end)
        return NULL;
    switch (*p) {
    case '"':
        return scan_string(p + 1, end);
    case 't':
        return end - p >= 4 && memcmp(p, "true", 4) == 0 ? p + 4 : NULL;
    case 'f':
        return end - p >= 5 && memcmp(p, "false", 5) == 0 ? p + 5 : NULL;
    case 'n':
        return end - p >= 4 && memcmp(p, "null", 4) == 0 ? p + 4 : NULL;
    case '{':
    case '[': {
        int obj = *p == '{';
        char close = obj ? '}' : ']';
        if (depth >= SCAN_MAX_DEPTH)
            return NULL;
        p = scan_ws(p + 1, end);
        if (p < end && *p == close)
            return p + 1;
        for (;;) {
            if (obj) {
                if (p >= end || *p != '"' || (p = scan_string(p + 1, end)) == NULL)
                    return NULL;
                p = scan_ws(p, end);
                if (p >= end || *p != ':')
                    return NULL;
                p = scan_ws(p + 1, end);
            }
            if ((p = scan_value(p, end, depth + 1)) == NULL)
                return NULL;
            p = scan_ws(p, end);
            if (p >= end)
                return NULL;
            if (*p == close)
                return p + 1;
            if (*p != ',')
                return NULL;
            p = scan_ws(p + 1, end);
        }
    }
    default:
        return scan_number(p, end);
    }
}

/* Whether text[0..len) is surely one JSON object; 0: ask jansson. */
static int plain_object(const char *text, size_t len)
{
    const char *end = text + len, *p = scan_ws(text, end);
    if (p >= end || *p != '{' || (p = scan_value(p, end, 0)) == NULL)
        return 0;
    return scan_ws(p, end) == end;
}

/* Whether the attributes are a JSON object. */
static int attrs_object(const char *text, size_t len)
{
    if (plain_object(text, len))
        return 1;
    json_t *j = json_loads(text, 0, NULL);
    int ok = json_is_object(j);
    json_decref(j);
    return ok;
}

/* ---- names ---------------------------------------------------------------------- */

static int valid_group(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > MAX_GROUP)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("._-/#", *s) != NULL))
            return 0;
    return 1;
}

static int valid_stream(const char *s)
{
    size_t n = strlen(s);
    long chars = utf8_count(s, n);
    if (chars < 1 || chars > MAX_STREAM)
        return 0;
    for (; *s; s++)
        if (*s == ':' || *s == '*' || (unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

/* A host name as a stream name may hold it: at most MAX_HOST bytes of
 * whole characters; ':', '*', control characters and bytes that are not
 * UTF-8 become '_'. "unknown" for an empty one. */
static void clean_host(const char *in, char out[MAX_HOST + 1])
{
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    size_t n = strlen((const char *)p), i = 0, o = 0;
    while (i < n) {
        size_t len = utf8_seq_len((const char *)(p + i), n - i);
        if (len == 0 || (len == 1 && (p[i] < 0x20 || p[i] == 0x7f || p[i] == ':' || p[i] == '*'))) {
            if (o + 1 > MAX_HOST)
                break;
            out[o++] = '_';
            i++;
            continue;
        }
        if (o + len > MAX_HOST)
            break;
        memcpy(out + o, p + i, len);
        o += len;
        i += len;
    }
    if (o == 0) {
        strcpy(out, "unknown");
        return;
    }
    out[o] = '\0';
}

static int day_of(int64_t ms, int *y, int *m, int *d)
{
    time_t t = (time_t)floor_div(ms, 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL)
        return -1;
    *y = tm.tm_year + 1900;
    *m = tm.tm_mon + 1;
    *d = tm.tm_mday;
    return 0;
}

int cwlogs_stream_name(const cwlogs_config *c, const char *host, int64_t ms, char *out, size_t size)
{
    if (c->log_stream != NULL) {
        int n = snprintf(out, size, "%s", c->log_stream);
        return n >= 0 && (size_t)n < size ? 0 : -1;
    }
    char h[MAX_HOST + 1];
    int y, m, d;
    clean_host(host ? host : c->hostname, h);
    if (day_of(ms, &y, &m, &d) != 0)
        return -1;
    int n = snprintf(out, size, "%s/%04d-%02d-%02d", h, y, m, d);
    return n >= 0 && (size_t)n < size ? 0 : -1;
}

/* ---- configuration ---------------------------------------------------------------- */

void cwlogs_config_free(cwlogs_config *c)
{
    if (c == NULL)
        return;
    free(c->url);
    free(c->log_group);
    free(c->log_stream);
    expcfg_headers_free(&c->headers);
    cwlogs_state *s = c->state;
    if (s != NULL) {
        if (s->signer_ready)
            aws_signer_free(&c->signer);
        httpc_free(s->ctl);
        expcfg_headers_free(&s->ctl_headers);
        for (size_t i = 0; i < MAX_KNOWN; i++)
            free(s->known[i]);
        buf_free(&s->scratch);
        buf_free(&s->head);
        buf_free(&s->tail);
        free(s);
    }
    memset(c, 0, sizeof *c);
}

int cwlogs_config_from_env(cwlogs_config *c, const volatile sig_atomic_t *stop, char *err,
                           size_t err_size)
{
    memset(c, 0, sizeof *c);
    const char *group = env("CRUDDUR_CW_LOG_GROUP") ? env("CRUDDUR_CW_LOG_GROUP") : CWLOGS_DEFAULT_GROUP;
    if (!valid_group(group)) {
        snprintf(err, err_size,
                 "CRUDDUR_CW_LOG_GROUP must be 1 to 512 of the characters a-z A-Z 0-9 . _ - / #: %.100s",
                 group);
        return -1;
    }
    const char *stream = env("CRUDDUR_CW_LOG_STREAM");
    if (stream != NULL && !valid_stream(stream)) {
        snprintf(err, err_size,
                 "CRUDDUR_CW_LOG_STREAM must be 1 to 512 UTF-8 characters without ':', '*' or "
                 "control characters: %.100s", stream);
        return -1;
    }
    const char *ret = env("CRUDDUR_CW_RETENTION_DAYS");
    if (ret != NULL) {
        char *end;
        long v = strtol(ret, &end, 10);
        for (size_t i = 0; *end == '\0' && i < sizeof retention_values / sizeof *retention_values; i++)
            if (v == retention_values[i])
                c->retention_days = (int)v;
        if (c->retention_days == 0) {
            snprintf(err, err_size,
                     "CRUDDUR_CW_RETENTION_DAYS must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, "
                     "180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653: %.40s", ret);
            return -1;
        }
    }
    size_t max_event = CWLOGS_MAX_EVENT_BYTES;
    const char *me = env("CRUDDUR_CW_MAX_EVENT_BYTES");
    if (me != NULL) {
        char *end;
        long long v = strtoll(me, &end, 10);
        if (*end != '\0' || v < CWLOGS_MIN_EVENT_BYTES || v > CWLOGS_MAX_EVENT_BYTES) {
            snprintf(err, err_size, "CRUDDUR_CW_MAX_EVENT_BYTES must be %d to %d: %.40s",
                     CWLOGS_MIN_EVENT_BYTES, CWLOGS_MAX_EVENT_BYTES, me);
            return -1;
        }
        max_event = (size_t)v;
    }
    c->max_message = max_event - CWLOGS_EVENT_OVERHEAD;

    char region[64], endpoint[1024];
    aws_region(region, sizeof region);
    if (aws_endpoint(endpoint, sizeof endpoint, "CLOUDWATCH_LOGS", "logs", region) != 0) {
        snprintf(err, err_size, "the CloudWatch Logs endpoint URL is too long");
        return -1;
    }
    if (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0) {
        snprintf(err, err_size, "the CloudWatch Logs endpoint must be an http:// or https:// URL: %.100s",
                 endpoint);
        return -1;
    }
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        strcpy(host, "localhost");
    host[sizeof host - 1] = '\0';
    clean_host(host, c->hostname);

    int rc = 0;
    c->url = expcfg_join_url(endpoint, "");
    c->log_group = strdup(group);
    c->log_stream = stream ? strdup(stream) : NULL;
    c->state = calloc(1, sizeof *c->state);
    rc |= c->url == NULL || c->log_group == NULL || (stream != NULL && c->log_stream == NULL) ||
          c->state == NULL;
    rc |= expcfg_headers_set(&c->headers, "Content-Type", "application/x-amz-json-1.1") != 0;
    rc |= expcfg_headers_set(&c->headers, "X-Amz-Target", ACTION_PREFIX "PutLogEvents") != 0;
    if (rc == 0) {
        c->state->stop = stop;
        rc |= expcfg_headers_set(&c->state->ctl_headers, "Content-Type",
                                 "application/x-amz-json-1.1") != 0;
    }
    if (rc) {
        cwlogs_config_free(c);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    if (aws_signer_init(&c->signer, region, "logs", stop, err, err_size) != 0) {
        cwlogs_config_free(c);
        return -1;
    }
    c->state->signer_ready = 1;
    return 0;
}

/* ---- one event ------------------------------------------------------------------- */

static const char *level_of(int severity_number)
{
    static const char *const names[] = { "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL" };
    return severity_number >= 1 && severity_number <= 24 ? names[(severity_number - 1) / 4] : NULL;
}

static int hex_id(const char *s, size_t bytes, uint8_t *out)
{
    return strlen(s) == 2 * bytes && traceid_from_hex(s, bytes, true, out) == 0 &&
           !traceid_is_zero(out, bytes);
}

static size_t digits(size_t v)
{
    size_t d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* v (0 to 99) as two digits. */
static void put_2(char *o, int v)
{
    o[0] = (char)('0' + v / 10);
    o[1] = (char)('0' + v % 10);
}

#define MARKER_LEN(d) (sizeof MARKER_HEAD - 1 + (d) + sizeof MARKER_TAIL - 1)

/* The parts of the message object around the body: head ends with
 * "message":, tail starts with ,"attributes". */
static int message_parts(cwlogs_state *s, buf_t *head, buf_t *tail, const spool_log *lg,
                         int64_t ms, const char *attrs, size_t attrs_len, int attrs_dropped)
{
    int rc = 0;
    int64_t day = floor_div(ms, DAY_MS), r = ms - day * DAY_MS;
    if (s->date[0] == '\0' || s->date_day != day) {
        /* The date changes once a day: gmtime_r only then. */
        time_t t = (time_t)(day * (DAY_MS / 1000));
        struct tm tm;
        if (gmtime_r(&t, &tm) == NULL)
            return -1;
        snprintf(s->date, sizeof s->date, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday);
        s->date_day = day;
    }
    char clock[16];
    put_2(clock, (int)(r / 3600000));
    clock[2] = ':';
    put_2(clock + 3, (int)(r / 60000 % 60));
    clock[5] = ':';
    put_2(clock + 6, (int)(r / 1000 % 60));
    clock[8] = '.';
    clock[9] = (char)('0' + r % 1000 / 100);
    put_2(clock + 10, (int)(r % 100));
    rc |= buf_puts(head, "{\"time\":\"");
    rc |= buf_puts(head, s->date);
    rc |= buf_putc(head, 'T');
    rc |= buf_append(head, clock, 12);
    rc |= buf_puts(head, "Z\"");
    const char *level = lg->severity_text && *lg->severity_text ? lg->severity_text
                                                                 : level_of(lg->severity_number);
    if (level != NULL) {
        size_t n = strlen(level);
        size_t keep = json_fit(level, n, MAX_LEVEL);
        rc |= buf_puts(head, ",\"level\":");
        rc |= put_json_string(head, level, keep);
    }
    rc |= buf_puts(head, ",\"message\":");

    rc |= buf_puts(tail, ",\"attributes\":");
    rc |= attrs_dropped ? buf_puts(tail, "{},\"attributes_dropped\":true")
                        : buf_append(tail, attrs, attrs_len);
    uint8_t tid[TRACEID_SIZE], sid[SPANID_SIZE];
    if (hex_id(lg->trace_id, TRACEID_SIZE, tid)) {
        char hex[TRACEID_HEX_SIZE], xray[TRACEID_XRAY_SIZE];
        traceid_to_hex(tid, TRACEID_SIZE, hex);
        traceid_to_xray(tid, xray);
        rc |= buf_puts(tail, ",\"trace_id\":\"");
        rc |= buf_puts(tail, hex);
        rc |= buf_puts(tail, "\",\"xray_trace_id\":\"");
        rc |= buf_puts(tail, xray);
        rc |= buf_putc(tail, '"');
        if (hex_id(lg->span_id, SPANID_SIZE, sid)) {
            char shex[SPANID_HEX_SIZE];
            traceid_to_hex(sid, SPANID_SIZE, shex);
            rc |= buf_puts(tail, ",\"span_id\":\"");
            rc |= buf_puts(tail, shex);
            rc |= buf_putc(tail, '"');
        }
    }
    rc |= buf_putc(tail, '}');
    return rc ? -1 : 0;
}

/* The message object of a record into out (reset first), at most max
 * bytes. 0, 1 when the record cannot be sent (*why), -1 on allocation
 * failure. */
static int message_json(cwlogs_state *s, buf_t *out, const spool_log *lg, int64_t ms, size_t max,
                        const char **why)
{
    const char *attrs = "{}";
    size_t attrs_len = 2;
    buf_reset(out);
    if (lg->attributes_json != NULL) {
        attrs = lg->attributes_json;
        attrs_len = strlen(attrs);
        if (!attrs_object(attrs, attrs_len)) {
            *why = "attributes are not a JSON object";
            return 1;
        }
        while (attrs_len > 0 && strchr(" \t\r\n", attrs[attrs_len - 1]) != NULL)
            attrs_len--;
        while (*attrs != '\0' && strchr(" \t\r\n", *attrs) != NULL) {
            attrs++;
            attrs_len--;
        }
    }
    const char *body = lg->body ? lg->body : "";
    size_t n = strlen(body), body_len = json_len(body, n);
    buf_t *head = &s->head, *tail = &s->tail;
    int rc = 0;
    /* The whole body if it fits, else its cut; when not even an empty body
     * fits, the attributes go too. */
    for (int drop = 0; drop <= 1; drop++) {
        buf_reset(head);
        buf_reset(tail);
        if ((rc = message_parts(s, head, tail, lg, ms, attrs, attrs_len, drop)) != 0)
            break;
        size_t fixed = head->len + 2 + tail->len;
        if (fixed + body_len <= max) {
            rc = buf_append(out, head->data, head->len) || put_json_string(out, body, n) ||
                 buf_append(out, tail->data, tail->len) ? -1 : 0;
            goto done;
        }
        if (fixed + MARKER_LEN(digits(n)) <= max) {
            /* The marker's length depends on the count it shows: fit twice. */
            size_t keep = json_fit(body, n, max - fixed - MARKER_LEN(digits(n)));
            keep = json_fit(body, n, max - fixed - MARKER_LEN(digits(n - keep)));
            rc = buf_append(out, head->data, head->len) || buf_putc(out, '"') ||
                 put_json_chars(out, body, keep) ||
                 buf_printf(out, MARKER_HEAD "%zu" MARKER_TAIL "\"", n - keep) ||
                 buf_append(out, tail->data, tail->len) ? -1 : 0;
            goto done;
        }
    }
    if (rc == 0) {
        *why = "message larger than the event limit";
        rc = 1;
    }
done:
    if (head->cap > 4 * 65536)
        buf_free(head);   /* do not keep a large record's parts */
    if (tail->cap > 4 * 65536)
        buf_free(tail);
    return rc;
}

/* ---- reading items back ---------------------------------------------------------- */

static int64_t item_ts(const export_batch *b, size_t i)
{
    const char *p = b->arena.data + b->items[i].off + sizeof EVENT_HEAD - 1;
    int neg = *p == '-';
    int64_t v = 0;
    for (p += neg; *p >= '0' && *p <= '9'; p++)
        v = v * 10 + (*p - '0');
    return neg ? -v : v;
}

static unsigned hex4(const char *p)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char ch = p[k];
        v = v * 16 + (unsigned)(ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : 0);
    }
    return v;
}

/* The UTF-8 bytes of item i's message: its JSON string in the arena,
 * unescaped. */
static size_t item_message_bytes(const export_batch *b, size_t i)
{
    const export_item *it = &b->items[i];
    const char *p = b->arena.data + it->off + sizeof EVENT_HEAD - 1;
    const char *end = b->arena.data + it->off + it->len - 2;   /* before the closing "} */
    while (p < end && *p != ',')
        p++;
    p += sizeof EVENT_MESSAGE - 1;
    size_t n = 0;
    while (p < end) {
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        if (bs == NULL) {
            n += (size_t)(end - p);
            break;
        }
        n += (size_t)(bs - p);
        p = bs;
        if (p[1] != 'u') {
            n++;
            p += 2;
            continue;
        }
        unsigned cp = hex4(p + 2);
        p += 6;
        if (cp >= 0xD800 && cp <= 0xDBFF && p + 6 <= end && p[0] == '\\' && p[1] == 'u') {
            n += 4;
            p += 6;
        } else {
            n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
        }
    }
    return n;
}

/* Host names of the batch's groups, read from their resources when first
 * needed. */
typedef struct hostmap {
    char **host;
    size_t n;
} hostmap;

static int hostmap_init(hostmap *m, const export_batch *b)
{
    m->n = b->n_groups;
    m->host = calloc(m->n ? m->n : 1, sizeof *m->host);
    return m->host ? 0 : -1;
}

static void hostmap_free(hostmap *m)
{
    for (size_t g = 0; g < m->n; g++)
        free(m->host[g]);
    free(m->host);
}

static void resource_host(const cwlogs_config *c, const char *resource_json, char out[MAX_HOST + 1])
{
    json_t *res = resource_json ? json_loads(resource_json, 0, NULL) : NULL;
    const char *h = json_string_value(json_object_get(res, "host.name"));
    clean_host(h && *h ? h : c->hostname, out);
    json_decref(res);
}

/* The (cleaned) host of group g; NULL on allocation failure. */
static const char *hostmap_get(hostmap *m, const cwlogs_config *c, const export_batch *b, uint32_t g)
{
    if (g >= m->n)
        return c->hostname;
    if (m->host[g] == NULL) {
        char h[MAX_HOST + 1];
        resource_host(c, b->groups[g].resource_json, h);
        m->host[g] = strdup(h);
    }
    return m->host[g];
}

static int item_stream(const cwlogs_config *c, const export_batch *b, size_t i, char *out, size_t size)
{
    char h[MAX_HOST + 1];
    uint32_t g = b->items[i].group;
    resource_host(c, g < b->n_groups ? b->groups[g].resource_json : NULL, h);
    return cwlogs_stream_name(c, h, item_ts(b, i), out, size);
}

/* ---- the target ------------------------------------------------------------------ */

static int encode(void *ctx, export_batch *b, const void *record, const spool_origin *o)
{
    cwlogs_config *c = ctx;
    const spool_log *lg = record;
    int64_t ns = lg->time_ns > 0 ? lg->time_ns : lg->observed_ns;
    if (ns <= 0)
        return export_batch_add_bad(b, o->id, "no timestamp");
    int64_t ms = ns / 1000000;
    int64_t now = c->now_ms != 0 ? c->now_ms : tstamp_now_ns() / 1000000;
    if (ms < now - CWLOGS_MAX_AGE_MS)
        return export_batch_add_bad(b, o->id, "older than 14 days");
    if (ms > now + CWLOGS_MAX_AHEAD_MS)
        return export_batch_add_bad(b, o->id, "more than 2 hours ahead");
    int64_t g = export_batch_group(b, o);
    if (g < 0)
        return -1;
    const char *why = NULL;
    buf_t *msg = &c->state->scratch;
    int rc = message_json(c->state, msg, lg, ms, c->max_message, &why);
    if (rc < 0)
        return -1;
    if (rc > 0)
        return export_batch_add_bad(b, o->id, why);
    size_t start = b->arena.len;
    char num[24];
    size_t nd = 0;
    for (uint64_t v = (uint64_t)ms; nd == 0 || v > 0; v /= 10)
        num[sizeof num - 1 - nd++] = (char)('0' + v % 10);   /* ms >= 0 here */
    if (buf_append(&b->arena, EVENT_HEAD, sizeof EVENT_HEAD - 1) != 0 ||
        buf_append(&b->arena, num + sizeof num - nd, nd) != 0 ||
        buf_append(&b->arena, EVENT_MESSAGE, sizeof EVENT_MESSAGE - 1) != 0 ||
        put_json_chars(&b->arena, msg->data, msg->len) != 0 ||
        buf_append(&b->arena, "\"}", 2) != 0) {
        b->arena.len = start;
        if (b->arena.data)
            b->arena.data[start] = '\0';
        return -1;
    }
    if (msg->cap > 4 * 65536)
        buf_free(msg);   /* do not keep a megabyte for every batch */
    return export_batch_add(b, o->id, start, (uint32_t)g, NULL);
}

static size_t next_request(void *ctx, const export_batch *b, size_t lo, size_t hi)
{
    const cwlogs_config *c = ctx;
    hostmap m = { NULL, 0 };
    if (c->log_stream == NULL && hostmap_init(&m, b) != 0)
        return lo + 1;
    size_t i, count = 0, bytes = 0;
    int64_t day = 0, tmin = 0, tmax = 0;
    uint32_t g0 = 0;
    const char *host0 = NULL;
    for (i = lo; i < hi; i++) {
        if (!export_item_live(b, i))
            continue;
        int64_t ts = item_ts(b, i);
        size_t size = item_message_bytes(b, i) + CWLOGS_EVENT_OVERHEAD;
        if (count == 0) {
            day = floor_div(ts, DAY_MS);
            tmin = tmax = ts;
            g0 = b->items[i].group;
            if (c->log_stream == NULL && (host0 = hostmap_get(&m, c, b, g0)) == NULL) {
                i++;
                break;
            }
            count = 1;
            bytes = size;
            continue;
        }
        if (count >= CWLOGS_MAX_EVENTS || bytes + size > CWLOGS_MAX_REQUEST_BYTES)
            break;
        if (c->log_stream != NULL) {
            /* One stream for everything: keep the request's span under 24 hours. */
            int64_t a = ts < tmin ? ts : tmin, z = ts > tmax ? ts : tmax;
            if (z - a >= CWLOGS_MAX_SPAN_MS)
                break;
            tmin = a;
            tmax = z;
        } else {
            if (floor_div(ts, DAY_MS) != day)
                break;
            uint32_t g = b->items[i].group;
            if (g != g0) {
                const char *h = hostmap_get(&m, c, b, g);
                if (h == NULL || strcmp(h, host0) != 0)
                    break;
            }
        }
        count++;
        bytes += size;
    }
    hostmap_free(&m);
    return i;
}

typedef struct event_ref {
    int64_t ts;
    size_t i;
} event_ref;

static int by_time(const void *pa, const void *pb)
{
    const event_ref *a = pa, *b = pb;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* The live items of [lo, hi) in the order they are sent: by timestamp,
 * then by record id (item order). 0 or -1. */
static int sorted_live(const export_batch *b, size_t lo, size_t hi, event_ref **out, size_t *n)
{
    *n = 0;
    *out = malloc((hi > lo ? hi - lo : 1) * sizeof **out);
    if (*out == NULL)
        return -1;
    for (size_t i = lo; i < hi; i++)
        if (export_item_live(b, i))
            (*out)[(*n)++] = (event_ref){ item_ts(b, i), i };
    qsort(*out, *n, sizeof **out, by_time);
    return 0;
}

static int build(void *ctx, const export_batch *b, size_t lo, size_t hi, buf_t *body)
{
    const cwlogs_config *c = ctx;
    event_ref *v;
    size_t n;
    char stream[STREAM_SIZE];
    if (sorted_live(b, lo, hi, &v, &n) != 0)
        return -1;
    int rc = n > 0 ? 0 : -1;
    rc = rc ? rc : item_stream(c, b, v[0].i, stream, sizeof stream);
    if (rc == 0) {
        rc |= buf_puts(body, "{\"logGroupName\":");
        rc |= put_json_string(body, c->log_group, strlen(c->log_group));
        rc |= buf_puts(body, ",\"logStreamName\":");
        rc |= put_json_string(body, stream, strlen(stream));
        rc |= buf_puts(body, ",\"logEvents\":[");
        for (size_t k = 0; k < n && rc == 0; k++) {
            const export_item *it = &b->items[v[k].i];
            if (k > 0)
                rc |= buf_putc(body, ',');
            rc |= buf_append(body, b->arena.data + it->off, it->len);
        }
        rc |= buf_puts(body, "]}");
    }
    free(v);
    return rc ? -1 : 0;
}

/* ---- answers ------------------------------------------------------------------- */

static int in_list(const char *type, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(type, *list) == 0)
            return 1;
    return 0;
}

/* The verdict on an error answer of the JSON 1.1 protocol. */
static export_verdict verdict_of(const httpc_response *r, const char *type)
{
    static const char *const retry[] = {
        "ThrottlingException", "Throttling", "ServiceUnavailableException", "ServiceUnavailable",
        "InternalFailure", "InternalServerError", "OperationAbortedException", "RequestTimeout",
        "RequestTimeoutException", NULL,
    };
    static const char *const auth[] = {
        "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignature",
        "IncompleteSignatureException", "ExpiredTokenException", "ExpiredToken",
        "AccessDeniedException", "AccessDenied", "InvalidClientTokenId", "MissingAuthenticationToken",
        "MissingAuthenticationTokenException", "NotAuthorized", "SignatureDoesNotMatch",
        "UnauthorizedOperation", "RequestExpired", "AuthFailure", NULL,
    };
    static const char *const reject[] = {
        "InvalidParameterException", "SerializationException", "ValidationException", NULL,
    };
    long st = r->status;
    if (in_list(type, retry))
        return EXPORT_RETRY;
    if (in_list(type, auth))
        return EXPORT_AUTH;
    if (in_list(type, reject) || st == 413)
        return EXPORT_REJECT;
    if (st == 408 || st == 429 || (st >= 500 && st < 600))
        return EXPORT_RETRY;
    if (st == 401 || st == 403)
        return EXPORT_AUTH;
    return EXPORT_CONFIG;
}

/* Fills a from an error answer: verdict, the service's wait, and
 * "[what: ]Type: message", with the clock skew when the signature's
 * time was refused. */
static void error_answer(const httpc_response *r, const char *what, export_answer *a)
{
    char type[128], msg[300];
    aws_error_type(r, type, sizeof type);
    aws_error_message(r, msg, sizeof msg);
    a->verdict = verdict_of(r, type);
    a->wait_ms = a->verdict == EXPORT_RETRY ? r->retry_after_ms : -1;
    snprintf(a->message, sizeof a->message, "%s%s%s%s%s", what ? what : "", what ? ": " : "",
             type[0] ? type : "", type[0] && msg[0] ? ": " : "", msg[0] ? msg : "");
    if (!type[0] && !msg[0])
        snprintf(a->message, sizeof a->message, "%s%sHTTP %ld", what ? what : "", what ? ": " : "",
                 r->status);
    int64_t skew = aws_clock_skew_s(r);
    if (a->verdict == EXPORT_AUTH &&
        (strcasestr(msg, "signature expired") != NULL || strcasestr(msg, "skew") != NULL ||
         strcmp(type, "RequestExpired") == 0 || skew > 300 || skew < -300)) {
        size_t len = strlen(a->message);
        snprintf(a->message + len, sizeof a->message - len,
                 " (the local clock is %" PRId64 " s %s the service's: check NTP)",
                 skew < 0 ? -skew : skew, skew < 0 ? "behind" : "ahead of");
    }
}

static int known(const cwlogs_state *s, const char *stream)
{
    for (size_t i = 0; i < MAX_KNOWN; i++)
        if (s->known[i] != NULL && strcmp(s->known[i], stream) == 0)
            return 1;
    return 0;
}

static void forget(cwlogs_state *s, const char *stream)
{
    for (size_t i = 0; i < MAX_KNOWN; i++)
        if (s->known[i] != NULL && strcmp(s->known[i], stream) == 0) {
            free(s->known[i]);
            s->known[i] = NULL;
        }
}

/* Remembers a stream as existing (a failed copy only costs a creation). */
static void remember(cwlogs_state *s, const char *stream)
{
    if (known(s, stream))
        return;
    free(s->known[s->next_known]);
    s->known[s->next_known] = strdup(stream);
    s->next_known = (s->next_known + 1) % MAX_KNOWN;
}

enum { CTL_OK, CTL_EXISTS, CTL_NOTFOUND, CTL_FAILED };

/* One control action (CreateLogGroup ...) on the target's own client.
 * CTL_FAILED fills a. */
static int control(cwlogs_config *c, const char *action, const buf_t *body, export_answer *a)
{
    cwlogs_state *s = c->state;
    char target[64], err[256] = "";
    a->wait_ms = -1;
    if (s->ctl == NULL && httpc_new(&s->ctl, 5000, 15000, s->stop) != 0) {
        a->verdict = EXPORT_RETRY;
        snprintf(a->message, sizeof a->message, "%s: out of memory", action);
        return CTL_FAILED;
    }
    snprintf(target, sizeof target, ACTION_PREFIX "%s", action);
    if (expcfg_headers_set(&s->ctl_headers, "X-Amz-Target", target) != 0) {
        a->verdict = EXPORT_RETRY;
        snprintf(a->message, sizeof a->message, "%s: out of memory", action);
        return CTL_FAILED;
    }
    /* The same credentials as the target's client: one chain, one cache. */
    int arc = aws_signer_authorize(&c->signer, s->ctl, &s->ctl_headers, 0, err, sizeof err);
    if (arc != EXPORT_EXIT_OK) {
        a->verdict = arc == EXPORT_EXIT_TEMPFAIL ? EXPORT_RETRY : EXPORT_AUTH;
        snprintf(a->message, sizeof a->message, "%s: credentials: %s", action, err);
        return CTL_FAILED;
    }
    httpc_response r;
    httpc_response_init(&r);
    int prc = httpc_post(s->ctl, c->url, (const char *const *)s->ctl_headers.v, body->data, body->len,
                         0, &r);
    int out = CTL_FAILED;
    if (prc != 0) {
        a->verdict = EXPORT_RETRY;
        snprintf(a->message, sizeof a->message, "%s: %s", action,
                 prc < 0 ? "out of memory" : r.error[0] ? r.error : "no answer");
    } else if (r.status >= 200 && r.status < 300) {
        out = CTL_OK;
    } else {
        char type[128];
        aws_error_type(&r, type, sizeof type);
        if (strcmp(type, "ResourceAlreadyExistsException") == 0) {
            out = CTL_EXISTS;
        } else if (strcmp(type, "ResourceNotFoundException") == 0) {
            out = CTL_NOTFOUND;
        } else {
            error_answer(&r, action, a);
            if (a->verdict == EXPORT_REJECT)
                a->verdict = EXPORT_CONFIG;   /* a name the service refuses: configuration */
        }
    }
    httpc_response_free(&r);
    return out;
}

/* {"logGroupName":G[,"logStreamName":S][,"retentionInDays":N]} into b. 0 or -1. */
static int control_body(const cwlogs_config *c, buf_t *b, const char *stream, int retention)
{
    buf_reset(b);
    int rc = buf_puts(b, "{\"logGroupName\":") || put_json_string(b, c->log_group, strlen(c->log_group));
    if (stream != NULL)
        rc = rc || buf_puts(b, ",\"logStreamName\":") || put_json_string(b, stream, strlen(stream));
    if (retention > 0)
        rc = rc || buf_printf(b, ",\"retentionInDays\":%d", retention);
    return rc || buf_putc(b, '}') ? -1 : 0;
}

/* Creates the log group (fine when it exists) and sets the retention on
 * one it created. 0, or -1 with a filled. */
static int create_group(cwlogs_config *c, buf_t *body, export_answer *a)
{
    cwlogs_state *s = c->state;
    if (control_body(c, body, NULL, 0) != 0)
        goto oom;
    int rc = control(c, "CreateLogGroup", body, a);
    if (rc == CTL_FAILED)
        return -1;
    if (rc == CTL_NOTFOUND) {
        a->verdict = EXPORT_CONFIG;
        snprintf(a->message, sizeof a->message, "CreateLogGroup: ResourceNotFoundException");
        return -1;
    }
    if (rc == CTL_OK && c->retention_days > 0)
        s->retention_pending = 1;
    if (s->retention_pending) {
        if (control_body(c, body, NULL, c->retention_days) != 0)
            goto oom;
        rc = control(c, "PutRetentionPolicy", body, a);
        if (rc == CTL_FAILED)
            return -1;   /* still pending: tried again with the next creation */
        s->retention_pending = 0;
    }
    return 0;
oom:
    a->verdict = EXPORT_RETRY;
    snprintf(a->message, sizeof a->message, "out of memory");
    return -1;
}

/* PutLogEvents said the group or the stream does not exist: create what
 * is missing, then have the request sent again. */
static void create_missing(cwlogs_config *c, const char *stream, const char *why, export_answer *a)
{
    cwlogs_state *s = c->state;
    buf_t body = BUF_INIT;
    /* A stream known to exist that is "not found" lost its group, as does
     * an answer that names the group; otherwise the stream alone is new. */
    int group_first = known(s, stream) || strcasestr(why, "log group") != NULL || s->retention_pending;
    int created_group = 0;
    forget(s, stream);
    if (group_first) {
        if (create_group(c, &body, a) != 0)
            goto out;
        created_group = 1;
    }
    if (control_body(c, &body, stream, 0) != 0)
        goto oom;
    int rc = control(c, "CreateLogStream", &body, a);
    if (rc == CTL_NOTFOUND && !created_group) {
        if (create_group(c, &body, a) != 0)
            goto out;
        created_group = 1;
        if (control_body(c, &body, stream, 0) != 0)
            goto oom;
        rc = control(c, "CreateLogStream", &body, a);
    }
    if (rc == CTL_FAILED)
        goto out;
    if (rc == CTL_NOTFOUND) {
        /* The group was just created and is not visible yet. */
        a->verdict = EXPORT_RETRY;
        a->wait_ms = 1000;
        snprintf(a->message, sizeof a->message, "log group %.200s not found right after creating it",
                 c->log_group);
        goto out;
    }
    remember(s, stream);
    a->verdict = EXPORT_AGAIN;
    snprintf(a->message, sizeof a->message, "%s log stream %.300s", "created", stream);
    goto out;
oom:
    a->verdict = EXPORT_RETRY;
    snprintf(a->message, sizeof a->message, "out of memory");
out:
    buf_free(&body);
}

/* A 2xx answer: events named in rejectedLogEventsInfo (indices into the
 * events as sent, sorted) are refused for good; the rest are done. */
static void accepted(const httpc_response *r, export_batch *b, size_t lo, size_t hi, export_answer *a)
{
    json_t *doc = r->body.len > 0 ? json_loadb(r->body.data, r->body.len, 0, NULL) : NULL;
    json_t *info = json_object_get(doc, "rejectedLogEventsInfo");
    a->verdict = EXPORT_OK;
    a->wait_ms = 0;
    if (json_is_object(info)) {
        event_ref *v;
        size_t n, refused = 0;
        json_t *jn = json_object_get(info, "tooNewLogEventStartIndex");
        json_t *jo = json_object_get(info, "tooOldLogEventEndIndex");
        json_t *je = json_object_get(info, "expiredLogEventEndIndex");
        if (sorted_live(b, lo, hi, &v, &n) != 0) {
            a->verdict = EXPORT_RETRY;
            a->wait_ms = -1;
            snprintf(a->message, sizeof a->message, "out of memory");
            json_decref(doc);
            return;
        }
        /* tooNew is an inclusive start, tooOld an exclusive end, and the
         * expired end is read the same way as tooOld. */
        int64_t too_new = json_is_integer(jn) ? json_integer_value(jn) : (int64_t)n;
        int64_t too_old = json_is_integer(jo) ? json_integer_value(jo) : 0;
        int64_t expired = json_is_integer(je) ? json_integer_value(je) : 0;
        for (size_t k = 0; k < n; k++) {
            const char *why = (int64_t)k < too_old   ? "refused by CloudWatch Logs: older than 14 days"
                            : (int64_t)k < expired   ? "refused by CloudWatch Logs: older than the log "
                                                       "group's retention"
                            : (int64_t)k >= too_new  ? "refused by CloudWatch Logs: more than 2 hours ahead"
                                                     : NULL;
            if (why == NULL)
                continue;
            if (export_item_refuse(b, v[k].i, why) != 0) {
                a->verdict = EXPORT_RETRY;
                a->wait_ms = -1;
                snprintf(a->message, sizeof a->message, "out of memory");
                break;
            }
            refused++;
        }
        if (a->verdict == EXPORT_OK && refused > 0) {
            a->rejected = (int64_t)refused;
            snprintf(a->message, sizeof a->message, "%zu of %zu events refused (rejectedLogEventsInfo)",
                     refused, n);
        }
        free(v);
    }
    json_decref(doc);
}

static void classify_items(void *ctx, const httpc_response *r, export_batch *b, size_t lo, size_t hi,
                           export_answer *a)
{
    cwlogs_config *c = ctx;
    char stream[STREAM_SIZE] = "";
    size_t first = lo;
    while (first < hi && !export_item_live(b, first))
        first++;
    if (first < hi)
        item_stream(c, b, first, stream, sizeof stream);
    a->rejected = 0;
    a->wait_ms = -1;
    a->message[0] = '\0';
    if (r->status >= 200 && r->status < 300) {
        if (stream[0])
            remember(c->state, stream);
        accepted(r, b, lo, hi, a);
        return;
    }
    char type[128], msg[300];
    aws_error_type(r, type, sizeof type);
    aws_error_message(r, msg, sizeof msg);
    if (strcmp(type, "ResourceNotFoundException") == 0 && stream[0]) {
        create_missing(c, stream, msg, a);
    } else if (strcmp(type, "DataAlreadyAcceptedException") == 0) {
        /* Legacy sequence-token answer: these events are already stored. */
        a->verdict = EXPORT_OK;
        a->wait_ms = 0;
        snprintf(a->message, sizeof a->message, "DataAlreadyAcceptedException: %s", msg);
    } else if (strcmp(type, "InvalidSequenceTokenException") == 0) {
        /* Sequence tokens are ignored by the service since January 2023; an
         * endpoint that still wants them needs a person, not a retry loop. */
        a->verdict = EXPORT_CONFIG;
        snprintf(a->message, sizeof a->message,
                 "InvalidSequenceTokenException: the endpoint wants sequence tokens, which "
                 "PutLogEvents no longer uses: %s", msg);
    } else {
        error_answer(r, NULL, a);
    }
}

/* Without per-item answers (not used by the engine when classify_items is
 * set): the same verdicts, no creations. */
static void classify(void *ctx, const httpc_response *r, size_t n, export_answer *a)
{
    (void)ctx;
    (void)n;
    a->rejected = 0;
    a->wait_ms = -1;
    a->message[0] = '\0';
    if (r->status >= 200 && r->status < 300) {
        a->verdict = EXPORT_OK;
        a->wait_ms = 0;
        return;
    }
    error_answer(r, NULL, a);
}

static int authorize(void *ctx, httpc *h, int after_auth_error, char *err, size_t err_size)
{
    cwlogs_config *c = ctx;
    int rc = aws_signer_authorize(&c->signer, h, &c->headers, after_auth_error, err, err_size);
    /* The session token header may have moved the list. */
    if (c->state->target != NULL)
        c->state->target->headers = (const char *const *)c->headers.v;
    return rc;
}

void cwlogs_target_init(export_target *t, cwlogs_config *c)
{
    t->stream = SPOOL_STREAM_LOG;
    t->url = c->url;
    t->headers = (const char *const *)c->headers.v;
    t->gzip = 0;
    t->per_request = 0;
    t->max_batch = CWLOGS_MAX_EVENTS;
    t->max_bytes = 4u << 20;
    t->ctx = c;
    t->encode = encode;
    t->build = build;
    t->classify = classify;
    t->classify_items = classify_items;
    t->next_request = next_request;
    t->authorize = authorize;
    t->send = NULL;
    c->state->target = t;
}
