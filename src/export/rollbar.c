/* rollbar: encodes spool error reports as Rollbar items and reads the item
 * API's answers. See rollbar.h. Error reports are few, so items are built
 * with jansson, which makes the truncation of oversized items simple. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "export/rollbar.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "telemetry/attrs.h"
#include "util/utf8.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.0.0"
#endif

#define KEEP_FRAMES 10          /* outermost and innermost frames kept when cutting */
#define MAX_ENVIRONMENT 255
#define MAX_CONTEXT 255

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

void rollbar_config_free(rollbar_config *c)
{
    if (c == NULL)
        return;
    free(c->url);
    free(c->environment);
    free(c->code_version);
    free(c->root);
    expcfg_headers_free(&c->headers);
    memset(c, 0, sizeof *c);
}

int rollbar_config_from_env(rollbar_config *c, char *err, size_t err_size)
{
    memset(c, 0, sizeof *c);
    const char *token = env("ROLLBAR_ACCESS_TOKEN");
    if (token == NULL) {
        snprintf(err, err_size, "rollbar needs ROLLBAR_ACCESS_TOKEN (a post_server_item token)");
        return -1;
    }
    for (const char *p = token; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
            snprintf(err, err_size, "ROLLBAR_ACCESS_TOKEN holds a blank or control character");
            return -1;
        }
    const char *endpoint = env("ROLLBAR_ENDPOINT") ? env("ROLLBAR_ENDPOINT") : ROLLBAR_DEFAULT_ENDPOINT;
    if (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0) {
        snprintf(err, err_size, "ROLLBAR_ENDPOINT must be an http:// or https:// URL: %.100s", endpoint);
        return -1;
    }
    const char *environment = env("ROLLBAR_ENVIRONMENT") ? env("ROLLBAR_ENVIRONMENT") : "production";
    if (strlen(environment) > MAX_ENVIRONMENT) {
        snprintf(err, err_size, "ROLLBAR_ENVIRONMENT is longer than %d characters", MAX_ENVIRONMENT);
        return -1;
    }
    c->max_payload = ROLLBAR_MAX_PAYLOAD;
    const char *mp = env("ROLLBAR_MAX_PAYLOAD_BYTES");
    if (mp != NULL) {
        char *end;
        long long v = strtoll(mp, &end, 10);
        if (*end != '\0' || v < 4096 || v > 16 * 1024 * 1024) {
            snprintf(err, err_size, "ROLLBAR_MAX_PAYLOAD_BYTES must be 4096 to 16777216: %.40s", mp);
            return -1;
        }
        c->max_payload = (size_t)v;
    }
    int rc = 0;
    /* The item path ends with a slash: that is the documented URL. */
    c->url = expcfg_join_url(endpoint, "api/1/item/");
    c->environment = strdup(environment);
    c->code_version = env("ROLLBAR_CODE_VERSION") ? strdup(env("ROLLBAR_CODE_VERSION")) : NULL;
    c->root = env("ROLLBAR_ROOT") ? strdup(env("ROLLBAR_ROOT")) : NULL;
    rc |= c->url == NULL || c->environment == NULL;
    rc |= env("ROLLBAR_CODE_VERSION") != NULL && c->code_version == NULL;
    rc |= env("ROLLBAR_ROOT") != NULL && c->root == NULL;
    rc |= expcfg_headers_set(&c->headers, "Content-Type", "application/json") != 0;
    rc |= expcfg_headers_set(&c->headers, "X-Rollbar-Access-Token", token) != 0;
    if (rc) {
        rollbar_config_free(c);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- building an item --------------------------------------------------------- */

/* A JSON string from text that may not be UTF-8 (bad bytes become U+FFFD). */
static json_t *jstr(const char *s)
{
    if (s == NULL)
        s = "";
    size_t n = strlen(s);
    if (utf8_valid(s, n))
        return json_stringn(s, n);
    buf_t b = BUF_INIT, q = BUF_INIT;
    json_t *v = NULL;
    /* attrs_json_string repairs the bytes; read its JSON back */
    if (attrs_json_string(&q, s, n) == 0 && q.data != NULL) {
        json_t *arr = NULL;
        if (buf_putc(&b, '[') == 0 && buf_append(&b, q.data, q.len) == 0 && buf_putc(&b, ']') == 0)
            arr = json_loadb(b.data, b.len, 0, NULL);
        if (arr != NULL) {
            v = json_incref(json_array_get(arr, 0));
            json_decref(arr);
        }
    }
    buf_free(&b);
    buf_free(&q);
    return v;
}

static int set_new(json_t *obj, const char *key, json_t *v)
{
    return v == NULL || json_object_set_new(obj, key, v) != 0 ? -1 : 0;
}

/* A resource attribute, as a string (NULL when absent). */
static const char *res_str(json_t *res, const char *key)
{
    return res ? json_string_value(json_object_get(res, key)) : NULL;
}

/* Frames in Rollbar's form: objects with a string filename. */
static json_t *frames_from(const char *frames_json)
{
    json_t *in = frames_json ? json_loads(frames_json, 0, NULL) : NULL;
    json_t *out = json_array();
    if (out == NULL) {
        json_decref(in);
        return NULL;
    }
    size_t i;
    json_t *f;
    if (json_is_array(in)) {
        json_array_foreach(in, i, f) {
            if (!json_is_object(f))
                continue;
            json_t *fr = json_object();
            if (fr == NULL)
                break;
            json_t *fn = json_object_get(f, "filename");
            json_object_set_new(fr, "filename", json_is_string(fn) ? json_incref(fn) : json_string("?"));
            json_t *ln = json_object_get(f, "lineno");
            if (json_is_integer(ln))
                json_object_set(fr, "lineno", ln);
            json_t *m = json_object_get(f, "method");
            if (json_is_string(m))
                json_object_set(fr, "method", m);
            json_array_append_new(out, fr);
        }
    }
    json_decref(in);
    return out;
}

static json_t *build_item(const rollbar_config *c, const spool_error *e, const char *resource_json)
{
    json_t *res = resource_json ? json_loads(resource_json, 0, NULL) : NULL;
    json_t *root = json_object(), *data = json_object(), *body = json_object();
    int rc = root && data && body ? 0 : -1;
    if (rc != 0) {
        json_decref(root);
        json_decref(data);
        json_decref(body);
        json_decref(res);
        return NULL;
    }
    json_object_set_new(root, "data", data);
    json_object_set_new(data, "body", body);

    json_t *frames = frames_from(e->frames_json);
    rc |= frames ? 0 : -1;
    if (rc == 0 && json_array_size(frames) > 0) {
        json_t *trace = json_object(), *exc = json_object();
        rc |= set_new(body, "trace", trace);
        rc |= set_new(trace, "frames", frames);
        rc |= set_new(trace, "exception", exc);
        if (rc == 0) {
            rc |= set_new(exc, "class", jstr(e->class_name && *e->class_name ? e->class_name : "Error"));
            if (e->message != NULL && *e->message)
                rc |= set_new(exc, "message", jstr(e->message));
        }
    } else if (rc == 0) {
        json_decref(frames);
        buf_t text = BUF_INIT;
        const char *cls = e->class_name ? e->class_name : "";
        const char *msg = e->message ? e->message : "";
        rc |= buf_printf(&text, "%s%s%s", cls, *cls && *msg ? ": " : "", msg);
        json_t *m = json_object();
        rc |= set_new(body, "message", m);
        if (rc == 0)
            rc |= set_new(m, "body", jstr(text.data ? text.data : ""));
        buf_free(&text);
    }

    rc |= set_new(data, "environment", jstr(c->environment));
    rc |= set_new(data, "level", jstr(e->level && *e->level ? e->level : "error"));
    rc |= set_new(data, "timestamp", json_integer(e->time_ns / 1000000000));
    rc |= set_new(data, "uuid", json_string(e->uuid));
    rc |= set_new(data, "platform", json_string("linux"));
    rc |= set_new(data, "language", json_string("c"));
    rc |= set_new(data, "framework", json_string("fastcgi"));
    if (e->context != NULL && *e->context) {
        char ctx[MAX_CONTEXT + 1];
        size_t n = attrs_utf8_cut(e->context, strlen(e->context), MAX_CONTEXT);
        memcpy(ctx, e->context, n);
        ctx[n] = '\0';
        rc |= set_new(data, "context", jstr(ctx));
    }
    if (e->fingerprint != NULL && *e->fingerprint)
        rc |= set_new(data, "fingerprint", jstr(e->fingerprint));
    const char *version = c->code_version ? c->code_version : res_str(res, "service.version");
    if (version != NULL)
        rc |= set_new(data, "code_version", jstr(version));

    json_t *server = json_object();
    rc |= set_new(data, "server", server);
    if (rc == 0) {
        const char *host = res_str(res, "host.name");
        if (host != NULL)
            rc |= set_new(server, "host", jstr(host));
        if (c->root != NULL)
            rc |= set_new(server, "root", jstr(c->root));
        if (version != NULL)
            rc |= set_new(server, "code_version", jstr(version));
        json_t *pid = res ? json_object_get(res, "process.pid") : NULL;
        if (json_is_integer(pid))
            rc |= json_object_set(server, "pid", pid);
    }

    if (e->request_json != NULL) {
        json_t *req = json_loads(e->request_json, 0, NULL);
        if (json_is_object(req))
            rc |= set_new(data, "request", req);
        else
            json_decref(req);
    }

    json_t *custom = e->custom_json ? json_loads(e->custom_json, 0, NULL) : NULL;
    if (!json_is_object(custom)) {
        json_decref(custom);
        custom = json_object();
    }
    rc |= set_new(data, "custom", custom);
    if (rc == 0) {
        if (e->trace_id[0] != '\0')
            rc |= set_new(custom, "trace_id", json_string(e->trace_id));
        if (e->span_id[0] != '\0')
            rc |= set_new(custom, "span_id", json_string(e->span_id));
        const char *svc = res_str(res, "service.name");
        if (svc != NULL)
            rc |= set_new(custom, "service.name", jstr(svc));
    }

    json_t *notifier = json_object();
    rc |= set_new(data, "notifier", notifier);
    if (rc == 0) {
        rc |= set_new(notifier, "name", json_string("cruddur-export"));
        rc |= set_new(notifier, "version", json_string(PACKAGE_VERSION));
    }
    json_decref(res);
    if (rc != 0) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ---- cutting an item down to size ---------------------------------------------- */

static int dump(json_t *root, buf_t *out)
{
    char *s = json_dumps(root, JSON_COMPACT);
    if (s == NULL)
        return -1;
    buf_reset(out);
    int rc = buf_puts(out, s);
    free(s);
    return rc;
}

/* Keeps the outermost and innermost KEEP_FRAMES frames. 1 if it changed anything. */
static int cut_frames(json_t *root)
{
    json_t *frames = json_object_get(
        json_object_get(json_object_get(json_object_get(root, "data"), "body"), "trace"), "frames");
    size_t n = json_array_size(frames);
    if (n <= 2 * KEEP_FRAMES)
        return 0;
    while (json_array_size(frames) > 2 * KEEP_FRAMES)
        json_array_remove(frames, KEEP_FRAMES);
    return 1;
}

/* Cuts every string longer than max bytes (at a character boundary). */
static int cut_strings(json_t *v, size_t max)
{
    int changed = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            if (json_is_string(x) && json_string_length(x) > max) {
                size_t n = attrs_utf8_cut(json_string_value(x), json_string_length(x), max);
                json_string_setn(x, json_string_value(x), n);
                changed = 1;
            } else {
                changed |= cut_strings(x, max);
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            if (json_is_string(x) && json_string_length(x) > max) {
                size_t n = attrs_utf8_cut(json_string_value(x), json_string_length(x), max);
                json_string_setn(x, json_string_value(x), n);
                changed = 1;
            } else {
                changed |= cut_strings(x, max);
            }
        }
    }
    return changed;
}

int rollbar_item(buf_t *out, const rollbar_config *c, const spool_error *e,
                 const char *resource_json, const char **why)
{
    *why = NULL;
    json_t *root = build_item(c, e, resource_json);
    if (root == NULL)
        return -1;
    buf_t tmp = BUF_INIT;
    int rc = dump(root, &tmp);
    static const size_t limits[] = { 1024, 512, 256 };
    for (int step = 0; rc == 0 && tmp.len > c->max_payload && step < 6; step++) {
        json_t *data = json_object_get(root, "data");
        if (step == 0)
            cut_frames(root);
        else if (step <= 3)
            cut_strings(data, limits[step - 1]);
        else if (step == 4) {
            json_object_del(data, "request");
            json_object_del(data, "custom");
        } else {
            json_t *frames = json_object_get(
                json_object_get(json_object_get(data, "body"), "trace"), "frames");
            while (json_array_size(frames) > 1)
                json_array_remove(frames, 0);
        }
        rc = dump(root, &tmp);
    }
    json_decref(root);
    if (rc == 0 && tmp.len > c->max_payload) {
        *why = "item larger than the payload limit even when cut down";
        rc = 1;
    }
    if (rc == 0)
        rc = buf_append(out, tmp.data, tmp.len);
    buf_free(&tmp);
    return rc;
}

/* ---- the target ------------------------------------------------------------------ */

static int encode(void *ctx, export_batch *b, const void *record, const spool_origin *o)
{
    const rollbar_config *c = ctx;
    const spool_error *e = record;
    const char *why;
    size_t start = b->arena.len;
    int rc = rollbar_item(&b->arena, c, e, o->resource_json, &why);
    if (rc < 0)
        return -1;
    if (rc > 0)
        return export_batch_add_bad(b, o->id, why);
    return export_batch_add(b, o->id, start, 0, e->uuid);
}

static int build(void *ctx, const export_batch *b, size_t lo, size_t hi, buf_t *body)
{
    for (size_t i = lo; i < hi; i++)
        if (export_item_live(b, i))
            return buf_append(body, b->arena.data + b->items[i].off, b->items[i].len);
    return -1;
}

void rollbar_classify(const httpc_response *r, export_answer *a)
{
    long st = r->status;
    a->rejected = 0;
    a->wait_ms = -1;
    a->message[0] = '\0';
    json_t *doc = r->body.len > 0 ? json_loadb(r->body.data, r->body.len, 0, NULL) : NULL;
    const char *m = doc ? json_string_value(json_object_get(doc, "message")) : NULL;
    if (m != NULL)
        snprintf(a->message, sizeof a->message, "%s", m);
    json_decref(doc);
    if (st >= 200 && st < 300) {
        a->verdict = EXPORT_OK;
        /* The window's quota is used up: wait for its end before the next item. */
        a->wait_ms = r->rate_remaining == 0 && r->rate_remaining_s > 0 ? r->rate_remaining_s * 1000 : 0;
        a->message[0] = '\0';
    } else if (st == 400 || st == 413 || st == 422) {
        a->verdict = EXPORT_REJECT;
    } else if (st == 401 || st == 403) {
        a->verdict = EXPORT_AUTH;
    } else if (st == 429) {
        a->verdict = EXPORT_RETRY;
        a->wait_ms = r->rate_remaining_s >= 0 ? r->rate_remaining_s * 1000 : r->retry_after_ms;
    } else if (st == 408 || (st >= 500 && st < 600)) {
        a->verdict = EXPORT_RETRY;
        a->wait_ms = r->retry_after_ms;
    } else {
        a->verdict = EXPORT_CONFIG;
    }
    if (a->message[0] == '\0' && a->verdict != EXPORT_OK)
        snprintf(a->message, sizeof a->message, "HTTP %ld", st);
}

static void classify(void *ctx, const httpc_response *r, size_t n, export_answer *a)
{
    rollbar_classify(r, a);
}

void rollbar_target_init(export_target *t, rollbar_config *c)
{
    t->stream = SPOOL_STREAM_ERROR;
    t->url = c->url;
    t->headers = (const char *const *)c->headers.v;
    t->gzip = 0;
    t->per_request = 1;
    t->max_bytes = 4u << 20;
    t->ctx = c;
    t->encode = encode;
    t->build = build;
    t->classify = classify;
}
