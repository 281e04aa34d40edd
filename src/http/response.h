/* response: status, headers and body of one answer, and their CGI/FastCGI
 * wire form ("Status: 200 OK\r\nName: value\r\n\r\nbody"). */
#ifndef CRUDDUR_HTTP_RESPONSE_H
#define CRUDDUR_HTTP_RESPONSE_H

#include <jansson.h>
#include <stdbool.h>
#include "util/buf.h"

typedef struct http_response {
    int status;          /* 0 until set */
    buf_t headers;       /* "Name: value\r\n" lines, not counting Status/Content-Length */
    buf_t body;
    bool omit_body;      /* HEAD: Content-Length of the body, but no body bytes */
} http_response;

void http_response_init(http_response *r);
/* Empties it for the next request, keeping memory. */
void http_response_reset(http_response *r);
void http_response_free(http_response *r);

/* The reason phrase for a status ("Not Found"), "Unknown" if none. */
const char *http_status_text(int status);

/* Adds a header line; name and value must not contain CR or LF (such a
 * header is refused with -1). */
int http_response_header(http_response *r, const char *name, const char *value);
/* Replaces the body with the compact JSON form of j (j is borrowed) and sets
 * status and Content-Type: application/json; charset=utf-8. */
int http_response_json(http_response *r, int status, const json_t *j);
/* {"error": code, "message": message} with status. */
int http_response_error(http_response *r, int status, const char *code, const char *message);
/* 422 with a JSON array of the given validation codes. */
int http_response_invalid(http_response *r, const char *const *codes, size_t n);
/* A text/plain; charset=utf-8 body. */
int http_response_text(http_response *r, int status, const char *text);

/* Appends the whole answer in CGI form to out: Status, headers,
 * Content-Length, blank line, body (unless omit_body). */
int http_response_serialize(const http_response *r, buf_t *out);

#endif
