/* httpc: the exporters' HTTP client, a thin layer over one libcurl easy
 * handle. One handle per exporter process, reused for every request so that
 * the connection stays open across batches (HTTP keep-alive). It POSTs a
 * body (gzip-compressing it on request), keeps a bounded copy of the answer
 * and the headers the delivery engine acts on (Retry-After, Rollbar's
 * X-Rate-Limit-*), and gives up early when asked to stop (SIGTERM).
 *
 * Call curl_global_init(CURL_GLOBAL_DEFAULT) once before httpc_new. */
#ifndef CRUDDUR_EXPORT_HTTPC_H
#define CRUDDUR_EXPORT_HTTPC_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include "util/buf.h"

#define HTTPC_MAX_BODY 65536     /* bytes of an answer kept; the rest is dropped */

typedef struct httpc httpc;

typedef struct httpc_response {
    long status;                 /* HTTP status; 0 when no answer came */
    int transport_error;         /* libcurl's CURLcode; 0 when an answer came */
    int timed_out;               /* the connect or total timeout ran out */
    int aborted;                 /* stopped because *stop became nonzero */
    char error[256];             /* what went wrong in transport, "" otherwise */
    buf_t body;                  /* the answer's body, at most HTTPC_MAX_BODY bytes */
    char content_type[128];
    int64_t retry_after_ms;      /* Retry-After, -1 when absent or unreadable */
    int64_t rate_remaining;      /* X-Rate-Limit-Remaining, -1 when absent */
    int64_t rate_remaining_s;    /* X-Rate-Limit-Remaining-Seconds, -1 when absent */
    size_t sent_bytes;           /* body bytes on the wire (after compression) */
    int64_t date_ns;             /* the answer's Date header (ns since the epoch), 0 absent */
    char amzn_error_type[128];   /* AWS JSON protocols: X-Amzn-ErrorType, "" absent */
} httpc_response;

/* Timeouts in milliseconds (<= 0: 5000 to connect, 30000 in total). `stop`
 * (may be NULL) is polled during transfers: nonzero aborts them. Returns 0
 * and *out, or -1. */
int httpc_new(httpc **out, long connect_timeout_ms, long timeout_ms,
              const volatile sig_atomic_t *stop);
/* A new client with c's timeouts and stop flag (not its signing). */
int httpc_new_like(httpc **out, const httpc *c);
void httpc_free(httpc *c);
void httpc_set_timeouts(httpc *c, long connect_timeout_ms, long timeout_ms);

/* Signs every following request with AWS Signature Version 4 (libcurl's
 * CURLOPT_AWS_SIGV4): provider is "aws:amz:REGION:SERVICE", userpwd
 * "ACCESS_KEY_ID:SECRET_ACCESS_KEY". Both are copied. NULL provider turns
 * signing off. Temporary credentials also need an X-Amz-Security-Token
 * header among the request's headers (it is signed with them). 0 or -1. */
int httpc_set_aws_sigv4(httpc *c, const char *provider, const char *userpwd);

void httpc_response_init(httpc_response *r);
void httpc_response_free(httpc_response *r);

/* POSTs body[0..len) to url with the given headers ("Name: value" strings,
 * NULL-terminated; may be NULL). With gzip, the body is compressed and
 * "Content-Encoding: gzip" added. Fills *r (reset first). Returns 0 when an
 * HTTP answer came (any status), 1 when none did (transport error, timeout,
 * abort: see r), -1 on a local failure (memory, libcurl setup). */
int httpc_post(httpc *c, const char *url, const char *const *headers, const void *body,
               size_t len, int gzip, httpc_response *r);

/* The same in two steps, so that the caller can work while the service
 * does: httpc_start sends the request (as far as the socket takes it) and
 * returns 0, or -1 on a local failure (nothing in flight then); body must
 * stay valid until httpc_finish, which waits for the answer and returns
 * what httpc_post returns. One request in flight per client. */
int httpc_start(httpc *c, const char *url, const char *const *headers, const void *body,
                size_t len, int gzip, httpc_response *r);
int httpc_finish(httpc *c);

/* gzip-compresses in[0..len) into out (appended). 0 or -1. */
int httpc_gzip(const void *in, size_t len, buf_t *out);

#endif
