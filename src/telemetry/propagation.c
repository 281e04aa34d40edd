/* propagation: W3C traceparent/tracestate and AWS X-Amzn-Trace-Id parsing and
 * printing. The request loop extracts a prop_context from the incoming
 * headers before the sampler runs; the response gets an X-Amzn-Trace-Id. */
#include "telemetry/propagation.h"

#include <stdio.h>
#include <string.h>

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_lchex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_lcalpha(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Trims SP/HTAB from both ends of s[0..*len); returns the new start. */
static const char *trim(const char *s, size_t *len)
{
    size_t n = *len;
    while (n > 0 && is_ows(*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_ows(s[n - 1]))
        n--;
    *len = n;
    return s;
}

void prop_context_init(prop_context *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->source = PROP_NONE;
    ctx->sampled = PROP_SAMPLED_UNKNOWN;
}

/* ---- traceparent ------------------------------------------------------ */

static bool all_lchex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_lchex(s[i]))
            return false;
    return true;
}

int prop_parse_traceparent(const char *value, uint8_t trace_id[TRACEID_SIZE],
                           uint8_t parent_id[SPANID_SIZE], uint8_t *flags)
{
    if (value == NULL)
        return -1;
    size_t len = strlen(value);
    const char *s = trim(value, &len);
    if (len < PROP_TRACEPARENT_LEN)
        return -1;
    if (!all_lchex(s, 2) || s[2] != '-')
        return -1;
    bool v00 = s[0] == '0' && s[1] == '0';
    if (s[0] == 'f' && s[1] == 'f')
        return -1;
    if (v00 && len != PROP_TRACEPARENT_LEN)
        return -1;
    if (!v00 && len > PROP_TRACEPARENT_LEN && s[PROP_TRACEPARENT_LEN] != '-')
        return -1;
    if (!all_lchex(s + 3, 32) || s[35] != '-' || !all_lchex(s + 36, 16) || s[52] != '-' ||
        !all_lchex(s + 53, 2))
        return -1;
    uint8_t t[TRACEID_SIZE], p[SPANID_SIZE], f;
    if (traceid_from_hex(s + 3, TRACEID_SIZE, false, t) != 0 ||
        traceid_from_hex(s + 36, SPANID_SIZE, false, p) != 0 ||
        traceid_from_hex(s + 53, 1, false, &f) != 0)
        return -1;
    if (traceid_is_zero(t, TRACEID_SIZE) || traceid_is_zero(p, SPANID_SIZE))
        return -1;
    if (!v00)
        f &= PROP_FLAG_SAMPLED;   /* other bits mean nothing we know of */
    memcpy(trace_id, t, TRACEID_SIZE);
    memcpy(parent_id, p, SPANID_SIZE);
    *flags = f;
    return 0;
}

void prop_format_traceparent(const uint8_t trace_id[TRACEID_SIZE],
                             const uint8_t span_id[SPANID_SIZE], bool sampled,
                             char out[PROP_TRACEPARENT_SIZE])
{
    memcpy(out, "00-", 3);
    traceid_to_hex(trace_id, TRACEID_SIZE, out + 3);
    out[35] = '-';
    traceid_to_hex(span_id, SPANID_SIZE, out + 36);
    out[52] = '-';
    out[53] = '0';
    out[54] = sampled ? '1' : '0';
    out[55] = '\0';
}

/* ---- tracestate ------------------------------------------------------- */

static bool is_keychar(char c)
{
    return is_lcalpha(c) || is_digit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}

static bool valid_key(const char *k, size_t n)
{
    const char *at = memchr(k, '@', n);
    if (at == NULL) {
        if (n < 1 || n > 256 || !is_lcalpha(k[0]))
            return false;
        for (size_t i = 1; i < n; i++)
            if (!is_keychar(k[i]))
                return false;
        return true;
    }
    size_t tn = (size_t)(at - k), sn = n - tn - 1;
    const char *sys = at + 1;
    if (tn < 1 || tn > 241 || sn < 1 || sn > 14)
        return false;
    if (!is_lcalpha(k[0]) && !is_digit(k[0]))
        return false;
    for (size_t i = 1; i < tn; i++)
        if (!is_keychar(k[i]))
            return false;
    if (!is_lcalpha(sys[0]))
        return false;
    for (size_t i = 1; i < sn; i++)
        if (!is_keychar(sys[i]))
            return false;
    return true;
}

static bool valid_value(const char *v, size_t n)
{
    if (n < 1 || n > 256)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c > 0x7E || c == ',' || c == '=')
            return false;
    }
    return v[n - 1] != ' ';
}

typedef struct ts_member {
    const char *p;      /* "key=value" */
    size_t len;
    size_t key_len;
    bool keep;
} ts_member;

int prop_parse_tracestate(const char *value, char *out, size_t out_size)
{
    ts_member m[PROP_TRACESTATE_MAX_MEMBERS];
    size_t n = 0;
    if (out_size > 0)
        out[0] = '\0';
    if (value == NULL)
        return 0;
    const char *s = value;
    for (;;) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        const char *p = trim(s, &len);
        if (len > 0) {
            if (n == PROP_TRACESTATE_MAX_MEMBERS)
                return -1;
            const char *eq = memchr(p, '=', len);
            if (eq == NULL)
                return -1;
            size_t kl = (size_t)(eq - p);
            if (!valid_key(p, kl) || !valid_value(eq + 1, len - kl - 1))
                return -1;
            for (size_t i = 0; i < n; i++)
                if (m[i].key_len == kl && memcmp(m[i].p, p, kl) == 0)
                    return -1;
            m[n++] = (ts_member){p, len, kl, true};
        }
        if (end == NULL)
            break;
        s = end + 1;
    }

    /* Fit the joined list in PROP_TRACESTATE_MAX_LEN and out_size. */
    size_t limit = out_size > 0 ? out_size - 1 : 0;
    if (limit > PROP_TRACESTATE_MAX_LEN)
        limit = PROP_TRACESTATE_MAX_LEN;
    size_t total = 0, kept = n;
    for (size_t i = 0; i < n; i++)
        total += m[i].len + (i > 0);
    for (size_t i = 0; i < n && total > limit; i++) {
        if (m[i].len > 128) {
            m[i].keep = false;
            total -= m[i].len + (kept > 1);
            kept--;
        }
    }
    for (size_t i = n; i-- > 0 && total > limit;) {
        if (m[i].keep) {
            m[i].keep = false;
            total -= m[i].len + (kept > 1);
            kept--;
        }
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (!m[i].keep)
            continue;
        if (o > 0)
            out[o++] = ',';
        memcpy(out + o, m[i].p, m[i].len);
        o += m[i].len;
    }
    if (out_size > 0)
        out[o] = '\0';
    return (int)kept;
}

/* ---- X-Amzn-Trace-Id -------------------------------------------------- */

static bool xray_extra_ok(const char *k, size_t kl, const char *v, size_t vl)
{
    if (kl == 0)
        return false;
    for (size_t i = 0; i < kl; i++) {
        unsigned char c = (unsigned char)k[i];
        if (c <= 0x20 || c > 0x7E || c == '=')
            return false;
    }
    for (size_t i = 0; i < vl; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c > 0x7E)
            return false;
    }
    return true;
}

int prop_parse_xray(const char *value, prop_context *ctx)
{
    prop_context_init(ctx);
    if (value == NULL)
        return -1;
    bool have_root = false;
    size_t extra_len = 0;
    const char *s = value;
    for (;;) {
        const char *end = strchr(s, ';');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        const char *p = trim(s, &len);
        const char *eq = len ? memchr(p, '=', len) : NULL;
        if (eq != NULL) {
            size_t kl = (size_t)(eq - p), vl = len - kl - 1;
            const char *k = trim(p, &kl);
            const char *v = trim(eq + 1, &vl);
            if (kl == 4 && memcmp(k, "Root", 4) == 0) {
                if (!have_root) {
                    if (traceid_from_xray(v, vl, ctx->trace_id) != 0)
                        break;   /* a bad Root spoils the whole header */
                    have_root = true;
                }
            } else if (kl == 6 && memcmp(k, "Parent", 6) == 0) {
                uint8_t pid[SPANID_SIZE];
                if (!ctx->has_parent && vl == 16 &&
                    traceid_from_hex(v, SPANID_SIZE, true, pid) == 0 &&
                    !traceid_is_zero(pid, SPANID_SIZE)) {
                    memcpy(ctx->parent_id, pid, SPANID_SIZE);
                    ctx->has_parent = true;
                }
            } else if (kl == 7 && memcmp(k, "Sampled", 7) == 0) {
                if (vl == 1 && v[0] == '1')
                    ctx->sampled = PROP_SAMPLED_YES;
                else if (vl == 1 && v[0] == '0')
                    ctx->sampled = PROP_SAMPLED_NO;
                else if (vl == 1 && v[0] == '?')
                    ctx->sampled_requested = true;
            } else if (xray_extra_ok(k, kl, v, vl)) {
                /* Whole entries only; what does not fit is dropped. */
                size_t need = (extra_len > 0) + kl + 1 + vl;
                if (extra_len + need < sizeof ctx->xray_extra) {
                    char *o = ctx->xray_extra + extra_len;
                    if (extra_len > 0)
                        *o++ = ';';
                    memcpy(o, k, kl);
                    o[kl] = '=';
                    memcpy(o + kl + 1, v, vl);
                    extra_len += need;
                    ctx->xray_extra[extra_len] = '\0';
                }
            }
        }
        if (end == NULL) {
            if (!have_root)
                break;
            ctx->source = PROP_XRAY;
            if (ctx->sampled == PROP_SAMPLED_YES)
                ctx->flags = PROP_FLAG_SAMPLED;
            return 0;
        }
        s = end + 1;
    }
    prop_context_init(ctx);
    return -1;
}

int prop_format_xray(const uint8_t trace_id[TRACEID_SIZE], const uint8_t *parent_id,
                     int sampled, const char *extra, char *out, size_t size)
{
    char root[TRACEID_XRAY_SIZE], parent[SPANID_HEX_SIZE] = "";
    traceid_to_xray(trace_id, root);
    if (parent_id != NULL)
        traceid_to_hex(parent_id, SPANID_SIZE, parent);
    const char *sv = sampled == PROP_SAMPLED_YES ? "1" : sampled == PROP_SAMPLED_NO ? "0" : NULL;
    bool has_extra = extra != NULL && extra[0] != '\0';
    int n = snprintf(out, size, "Root=%s%s%s%s%s%s%s", root,
                     parent_id ? ";Parent=" : "", parent,
                     sv ? ";Sampled=" : "", sv ? sv : "",
                     has_extra ? ";" : "", has_extra ? extra : "");
    if (n < 0 || (size_t)n >= size) {
        if (size > 0)
            out[0] = '\0';
        return -1;
    }
    return n;
}

int prop_xray_response(const prop_context *in, const uint8_t trace_id[TRACEID_SIZE],
                       bool sampled, char *out, size_t size)
{
    int s = PROP_SAMPLED_UNKNOWN;
    if (in != NULL && in->source == PROP_XRAY && in->sampled_requested)
        s = sampled ? PROP_SAMPLED_YES : PROP_SAMPLED_NO;
    return prop_format_xray(trace_id, NULL, s, NULL, out, size);
}

/* ---- precedence ------------------------------------------------------- */

prop_source prop_extract(const char *traceparent, const char *tracestate,
                         const char *xamzn_trace_id, prop_context *ctx)
{
    prop_context_init(ctx);
    if (prop_parse_traceparent(traceparent, ctx->trace_id, ctx->parent_id, &ctx->flags) == 0) {
        ctx->source = PROP_W3C;
        ctx->has_parent = true;
        ctx->sampled = (ctx->flags & PROP_FLAG_SAMPLED) ? PROP_SAMPLED_YES : PROP_SAMPLED_NO;
        if (prop_parse_tracestate(tracestate, ctx->tracestate, sizeof ctx->tracestate) < 0)
            ctx->tracestate[0] = '\0';
        return PROP_W3C;
    }
    if (prop_parse_xray(xamzn_trace_id, ctx) == 0)
        return PROP_XRAY;
    return PROP_NONE;
}
