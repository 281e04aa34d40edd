/* cruddur-api: the program a web server runs. One binary, three ways in:
 * FastCGI on an inherited socket (spawn-fcgi, lighttpd bin-path, systemd),
 * FastCGI on a socket of its own (--listen, optionally --workers N), or one
 * plain CGI request when it finds no socket. Also --init-db. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/config.h"
#include "app/db.h"
#include "app/handlers.h"
#include "http/prefork.h"
#include "http/server.h"
#include "util/tstamp.h"

/* sysexits.h values, for scripts and supervisors. */
#define EXIT_USAGE 64
#define EXIT_UNAVAILABLE 69
#define EXIT_CONFIG 78

static void usage(FILE *to)
{
    fputs("usage: cruddur-api [--listen ADDRESS [--workers N]]\n"
          "       cruddur-api --init-db [PATH]\n"
          "       cruddur-api --version | --help\n"
          "\n"
          "Serves the Cruddur API over FastCGI when started with a listening socket\n"
          "(on fd 0, by systemd socket activation, or --listen unix:/path | HOST:PORT),\n"
          "and answers one CGI request otherwise. Settings come from the environment:\n"
          "see docs/configuration.md.\n",
          to);
}

typedef struct worker_args {
    const app_config *cfg;
    int listen_fd;
} worker_args;

static int run_worker(void *p)
{
    const worker_args *wa = p;
    char err[512];
    app_ctx *ctx = NULL;
    if (app_ctx_new(wa->cfg, &ctx, err, sizeof err) != 0) {
        fprintf(stderr, "cruddur-api: %s\n", err);
        return EXIT_UNAVAILABLE;
    }
    server_config sc = {wa->cfg->body_limit, app_handle, app_after, ctx, app_idle};
    int rc = server_run_fastcgi(&sc, wa->listen_fd);
    app_ctx_free(ctx);
    return rc;
}

static int run_cgi(const app_config *cfg)
{
    char err[512];
    app_ctx *ctx = NULL;
    if (app_ctx_new(cfg, &ctx, err, sizeof err) != 0) {
        /* Still a well-formed answer: the web server would otherwise show
         * its own 500 page. */
        fprintf(stderr, "cruddur-api: %s\n", err);
        fputs("Status: 503 Service Unavailable\r\n"
              "Content-Type: application/json; charset=utf-8\r\n\r\n"
              "{\"error\": \"unavailable\", \"message\": \"the service is not ready\"}",
              stdout);
        return EXIT_UNAVAILABLE;
    }
    server_config sc = {cfg->body_limit, app_handle, app_after, ctx, NULL};
    int rc = server_run_cgi(&sc);
    app_ctx_free(ctx);
    return rc;
}

static int parse_workers(const char *s, unsigned *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > 256)
        return -1;
    *out = (unsigned)v;
    return 0;
}

int main(int argc, char **argv)
{
    const char *listen_addr = NULL;
    const char *init_path = NULL;
    int init_db = 0;
    unsigned workers = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("cruddur-api %s\n", PACKAGE_VERSION);
            return 0;
        } else if (strcmp(a, "--init-db") == 0) {
            init_db = 1;
            if (i + 1 < argc && argv[i + 1][0] != '-')
                init_path = argv[++i];
        } else if (strcmp(a, "--listen") == 0 && i + 1 < argc) {
            listen_addr = argv[++i];
        } else if (strcmp(a, "--workers") == 0 && i + 1 < argc) {
            if (parse_workers(argv[++i], &workers) != 0) {
                fprintf(stderr, "cruddur-api: --workers takes a number from 1 to 256\n");
                return EXIT_USAGE;
            }
        } else {
            fprintf(stderr, "cruddur-api: unknown argument '%s'\n", a);
            usage(stderr);
            return EXIT_USAGE;
        }
    }

    app_config cfg;
    char err[512];
    if (config_load(&cfg, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "cruddur-api: %s\n", err);
        return EXIT_CONFIG;
    }

    int rc;
    if (init_db) {
        const char *path = init_path != NULL ? init_path : cfg.db_path;
        rc = app_db_init(path, tstamp_now_us(), err, sizeof err);
        if (rc != APP_DB_OK)
            fprintf(stderr, "cruddur-api: %s\n", err);
        else
            fprintf(stderr, "cruddur-api: database ready at %s\n", path);
        config_free(&cfg);
        return rc == APP_DB_OK ? 0 : 1;
    }

    int listen_fd = -1;
    if (listen_addr != NULL) {
        listen_fd = server_listen(listen_addr, 1024);
        if (listen_fd < 0) {
            fprintf(stderr, "cruddur-api: cannot listen on %s: %s\n", listen_addr, strerror(errno));
            config_free(&cfg);
            return EXIT_UNAVAILABLE;
        }
    } else {
        listen_fd = server_find_listen_fd();
    }

    if (listen_fd < 0) {
        rc = run_cgi(&cfg);
    } else {
        worker_args wa = {&cfg, listen_fd};
        if (workers > 0)
            rc = prefork_run(workers, run_worker, &wa);
        else
            rc = run_worker(&wa);
    }
    config_free(&cfg);
    return rc;
}
