/* xray: the AWS X-Ray target. Each span in the spool becomes one segment
 * document (AWS X-Ray Developer Guide, "AWS X-Ray segment documents"):
 *
 *   SERVER span     a segment: name = the resource's service.name, http
 *                   (request method, url, user_agent, client_ip,
 *                   x_forwarded_for; response status, content_length),
 *                   fault (5xx), error (4xx), throttle (429), cause,
 *                   origin (from cloud.platform), service.version, user
 *                   (enduser.id), aws.xray (sdk, sdk_version), parent_id
 *                   when the request came with a trace context;
 *   any other span  an independent subsegment ("type": "subsegment",
 *                   parent_id, trace_id): name = the span's name, namespace
 *                   "remote" for CLIENT spans, an sql block (sanitized_query,
 *                   database_type) for database calls; a span without a
 *                   parent becomes a segment of its own.
 *
 * trace_id is "1-<first 8 hex>-<last 24 hex>" of the OTLP id (ours start
 * with the epoch seconds, as X-Ray's do), id is the span id, start_time and
 * end_time epoch seconds with microseconds. The attributes named in
 * CRUDDUR_XRAY_ANNOTATIONS become annotations (keys reduced to letters,
 * digits and '_'), the others go under metadata.default (the resource's
 * under "otel.resource.*", segments only). "exception" events become
 * cause.exceptions (type, message, stack frames from the stack trace).
 *
 * A document is at most max_document bytes (64 kB, X-Ray's limit): a larger
 * one is trimmed (metadata strings, stack frames, messages, then metadata
 * and annotations as a whole; never ids or times); one that still does not
 * fit is dead-lettered without sending.
 *
 * Two transports:
 *   API     POST {endpoint}/TraceSegments (PutTraceSegments), at most 50
 *           documents per request as {"TraceSegmentDocuments": ["<doc>"]},
 *           signed with SigV4 (aws.h). Segments the answer lists under
 *           UnprocessedTraceSegments are sent again (throttling, internal
 *           errors, unknown codes) or dead-lettered (invalid segments).
 *   daemon  one UDP datagram per document to the X-Ray daemon
 *           (AWS_XRAY_DAEMON_ADDRESS): {"format": "json", "version": 1}\n<doc>.
 *           UDP has no answer: what left the socket counts as delivered. */
#ifndef CRUDDUR_EXPORT_XRAY_H
#define CRUDDUR_EXPORT_XRAY_H

#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include "export/aws.h"
#include "export/expcfg.h"
#include "export/export.h"
#include "util/buf.h"

#define XRAY_MAX_DOCUMENT 64000          /* bytes of one segment document */
#define XRAY_PER_REQUEST 50              /* PutTraceSegments takes at most 50 */
#define XRAY_DEFAULT_DAEMON "127.0.0.1:2000"
#define XRAY_DEFAULT_SERVICE "cruddur-api"
#define XRAY_DEFAULT_ANNOTATIONS \
    "http.route,http.request.method,http.response.status_code,enduser.id,error.type"
#define XRAY_DAEMON_HEADER "{\"format\": \"json\", \"version\": 1}"

typedef struct xray_config {
    int daemon;                     /* send to the daemon over UDP, not to the API */
    char *url;                      /* .../TraceSegments, or udp://HOST:PORT (for messages) */
    char region[64];
    char **annotations;             /* attribute names that become annotations */
    size_t n_annotations;
    size_t max_document;            /* XRAY_MAX_DOCUMENT; tests may lower it */
    expcfg_headers headers;         /* Content-Type (API); the signer adds X-Amz-Security-Token */
    aws_signer signer;              /* API only */
    int have_signer;
    int sock;                       /* daemon only: a UDP socket, else -1 */
    struct sockaddr_storage addr;   /* daemon only: where datagrams go */
    socklen_t addr_len;
    export_target *target;          /* set by xray_target_init: its headers follow ours */
    struct xray_scratch *scratch;   /* owned: memory reused from span to span (parse
                                       tables, resources already read); a copy of the
                                       struct shares it. NULL: each call makes its own */
} xray_config;

/* Reads the region and endpoint (aws_region, aws_endpoint with "XRAY" /
 * "xray": AWS_REGION, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_XRAY,
 * AWS_ENDPOINT_URL), CRUDDUR_XRAY_ANNOTATIONS (comma list of attribute
 * names; default XRAY_DEFAULT_ANNOTATIONS; "" for none) and, with daemon,
 * AWS_XRAY_DAEMON_ADDRESS ("host:port", or "tcp:host:port udp:host:port" of
 * which the udp part is used; default XRAY_DEFAULT_DAEMON), resolved and a
 * socket opened now. Without daemon, sets up SigV4 signing for service
 * "xray" (credentials are looked up later, by authorize). stop (may be NULL)
 * aborts credential requests. 0, or -1 with a message (nothing to free). */
int xray_config_from_env(xray_config *c, int daemon, const volatile sig_atomic_t *stop,
                         char *err, size_t err_size);
void xray_config_free(xray_config *c);

/* Sets t's stream (spans), URL, headers, limits and functions: encode,
 * build, classify_items, authorize (API) or send (daemon). c must outlive t
 * and is tied to it (authorize keeps t->headers current). The caller sets
 * exporter and label. */
void xray_target_init(export_target *t, xray_config *c);

/* The segment document of one span (resource_json: its resource, may be
 * NULL), at most c->max_document bytes, appended to out. 0, 1 when the span
 * cannot be sent (*why says why: bad ids, unreadable JSON, too large even
 * when trimmed; out as it was), -1 on allocation failure (out as it was).
 * Uses c->scratch: calls with one config (or copies of it) must not run at
 * the same time. */
int xray_segment(buf_t *out, const xray_config *c, const spool_span *s, const char *resource_json,
                 const char **why);

/* The key of one annotation from an attribute name: letters, digits and
 * '_' (anything else becomes '_'), at most 500 bytes, into out (size >= 1).
 * Returns its length, 0 when nothing is left. */
size_t xray_annotation_key(const char *name, char *out, size_t size);

/* "1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx" from a 32-hex trace id, into
 * out[36]. 0, or -1 when hex is not 32 hex digits or all zeros. */
int xray_trace_id(const char *hex, char out[36]);

#endif
