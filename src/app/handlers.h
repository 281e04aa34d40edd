/* handlers: the API itself. Routes a request, applies CORS, reads and checks
 * the JSON body, calls the services and writes the answer. One app_ctx is a
 * worker's whole state (configuration, database, statements, CORS, rng). */
#ifndef CRUDDUR_APP_HANDLERS_H
#define CRUDDUR_APP_HANDLERS_H

#include "app/config.h"
#include "http/request.h"
#include "http/response.h"
#include "http/router.h"

typedef struct app_ctx app_ctx;

/* Opens the database and prepares the worker. cfg is borrowed and must
 * outlive the context. Returns 0 and *out (free with app_ctx_free), or -1
 * with a message in err. */
int app_ctx_new(const app_config *cfg, app_ctx **out, char *err, size_t err_size);
void app_ctx_free(app_ctx *ctx);

/* Re-seeds the random generator: call in each child after fork(). */
void app_ctx_after_fork(app_ctx *ctx);

/* Answers one request. Always leaves a complete answer in resp: internal
 * trouble becomes a 500 with no details. Signature fits server_handler_fn. */
void app_handle(void *ctx, http_request *req, http_response *resp);

/* Runs after the answer has left (server_after_fn): writes the request's
 * telemetry to the spool. */
void app_after(void *ctx, http_request *req, http_response *resp);

/* The FastCGI loop has no request waiting (server_idle_fn): the telemetry
 * copies what it journaled meanwhile (telemetry_idle, whose answer it
 * returns). */
int app_idle(void *ctx);

/* The route the last app_handle call matched (for telemetry). */
const route_match *app_last_route(const app_ctx *ctx);

#endif
