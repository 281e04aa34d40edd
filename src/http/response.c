/* response: collects one answer (status, header lines, body) and writes its
 * CGI/FastCGI wire form, which the server loop hands to the web server. */
#include "http/response.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/jsonw.h"

void http_response_init(http_response *r)
{
    r->status = 0;
    r->headers = (buf_t)BUF_INIT;
    r->body = (buf_t)BUF_INIT;
    r->omit_body = false;
}

void http_response_reset(http_response *r)
{
    r->status = 0;
    buf_reset(&r->headers);
    buf_reset(&r->body);
    r->omit_body = false;
}

void http_response_free(http_response *r)
{
    buf_free(&r->headers);
    buf_free(&r->body);
    r->status = 0;
    r->omit_body = false;
}

const char *http_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
    }
}

static bool has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

int http_response_header(http_response *r, const char *name, const char *value)
{
    if (name == NULL || value == NULL || *name == '\0' || has_crlf(name) || has_crlf(value) ||
        strchr(name, ':') != NULL)
        return -1;
    size_t old = r->headers.len;
    if (buf_puts(&r->headers, name) || buf_puts(&r->headers, ": ") ||
        buf_puts(&r->headers, value) || buf_puts(&r->headers, "\r\n")) {
        r->headers.len = old;
        if (r->headers.data != NULL)
            r->headers.data[old] = '\0';
        return -1;
    }
    return 0;
}

/* Drops an earlier Content-Type line so that a replaced body has one. */
static void drop_content_type(http_response *r)
{
    buf_t *h = &r->headers;
    size_t i = 0;
    while (i < h->len) {
        char *eol = strstr(h->data + i, "\r\n");
        size_t end = eol ? (size_t)(eol - h->data) + 2 : h->len;
        if (strncasecmp(h->data + i, "Content-Type:", 13) == 0) {
            memmove(h->data + i, h->data + end, h->len - end + 1);
            h->len -= end - i;
            continue;
        }
        i = end;
    }
}

static int set_body(http_response *r, int status, const char *type, const char *data, size_t len)
{
    drop_content_type(r);
    buf_reset(&r->body);
    if (buf_append(&r->body, data, len) != 0)
        return -1;
    if (http_response_header(r, "Content-Type", type) != 0)
        return -1;
    r->status = status;
    return 0;
}

int http_response_json(http_response *r, int status, const json_t *j)
{
    /* Written straight into the body, objects in insertion order: the bytes
     * json_dumps(JSON_COMPACT) would give, without its copies. */
    drop_content_type(r);
    buf_reset(&r->body);
    if (jsonw_append(&r->body, j) != 0 ||
        http_response_header(r, "Content-Type", "application/json; charset=utf-8") != 0) {
        buf_reset(&r->body);
        return -1;
    }
    r->status = status;
    return 0;
}

int http_response_error(http_response *r, int status, const char *code, const char *message)
{
    json_t *o = json_pack("{s:s, s:s}", "error", code, "message", message);
    if (o == NULL)
        return -1;
    int rc = http_response_json(r, status, o);
    json_decref(o);
    return rc;
}

int http_response_invalid(http_response *r, const char *const *codes, size_t n)
{
    json_t *a = json_array();
    if (a == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (json_array_append_new(a, json_string(codes[i])) != 0) {
            json_decref(a);
            return -1;
        }
    }
    int rc = http_response_json(r, 422, a);
    json_decref(a);
    return rc;
}

int http_response_text(http_response *r, int status, const char *text)
{
    return set_body(r, status, "text/plain; charset=utf-8", text, strlen(text));
}

int http_response_serialize(const http_response *r, buf_t *out)
{
    size_t old = out->len;
    int status = r->status ? r->status : 500;
    int rc = buf_printf(out, "Status: %d %s\r\n", status, http_status_text(status));
    if (rc == 0 && r->headers.len > 0)
        rc = buf_append(out, r->headers.data, r->headers.len);
    /* A 204 has neither a body nor a Content-Length (RFC 9110, 8.6). */
    bool no_content = status == 204;
    if (rc == 0 && !no_content)
        rc = buf_printf(out, "Content-Length: %zu\r\n", r->body.len);
    if (rc == 0)
        rc = buf_puts(out, "\r\n");
    if (rc == 0 && !no_content && !r->omit_body && r->body.len > 0)
        rc = buf_append(out, r->body.data, r->body.len);
    if (rc != 0) {
        out->len = old;
        if (out->data != NULL)
            out->data[old] = '\0';
        return -1;
    }
    return 0;
}
