/* server: the request loop. Accepts FastCGI requests through libfcgi's
 * re-entrant FCGX interface (or one plain CGI request on stdin/stdout),
 * reads the body within its limit, calls the handler, writes the answer,
 * and then calls the after-response hook (telemetry) once the web server has
 * the full response. SIGTERM lets the request in hand finish, then returns. */
#ifndef CRUDDUR_HTTP_SERVER_H
#define CRUDDUR_HTTP_SERVER_H

#include <stddef.h>
#include "http/request.h"
#include "http/response.h"

/* Fills resp for req. Must always leave a status in resp. */
typedef void (*server_handler_fn)(void *arg, http_request *req, http_response *resp);
/* Runs after the response was handed over (FCGX_Finish_r, or stdout closed
 * in CGI); req and resp are still valid. May be NULL. */
typedef void (*server_after_fn)(void *arg, http_request *req, http_response *resp);
/* FastCGI only: runs when the worker has served a request and finds none
 * waiting, just before it sleeps until the next one (and once at the start,
 * when none is waiting yet): the moment for work deferred while requests
 * queued (the telemetry journal's copy into the spool). Keep it bounded: a
 * request that arrives meanwhile waits. Returns how long the worker may
 * sleep before calling it again, in milliseconds, when no request comes
 * (work is still pending elsewhere), or -1: not until after the next request. */
typedef int (*server_idle_fn)(void *arg);

typedef struct server_config {
    size_t body_limit;           /* bytes; a longer body is not read (req->body_too_large) */
    server_handler_fn handler;
    server_after_fn after;
    void *arg;                   /* passed to handler, after and idle */
    server_idle_fn idle;         /* may be NULL */
} server_config;

/* Finds the FastCGI listening socket this process was given: fd 0 when it is
 * a socket (spawn-fcgi, lighttpd bin-path, inetd-style systemd units), or fd 3
 * under systemd socket activation (LISTEN_FDS=1, LISTEN_PID = our pid).
 * Returns the fd, or -1 when there is none (plain CGI). */
int server_find_listen_fd(void);

/* Opens a listening socket: "unix:/path", "/path", "HOST:PORT" or ":PORT".
 * Returns the fd or -1. */
int server_listen(const char *address, int backlog);

/* Serves FastCGI requests on listen_fd until SIGTERM (or SIGINT/SIGHUP).
 * Returns 0 on a clean stop, or 1 if the loop could not start. */
int server_run_fastcgi(const server_config *cfg, int listen_fd);

/* Serves exactly one CGI request from the environment and stdin/stdout.
 * SIGTERM and SIGHUP are left blocked: call it last, before exiting.
 * Returns 0, or 1 if the answer could not be written. */
int server_run_cgi(const server_config *cfg);

#endif
