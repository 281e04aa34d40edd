/* server: the request loop between the web server and the handler.
 *
 * FastCGI: signals are blocked except while waiting in ppoll(), so SIGTERM
 * either interrupts the wait (and the worker exits at once) or stays pending
 * until the request in hand has been answered. The listening socket is
 * non-blocking: when a sibling worker wins the race for a connection,
 * FCGX_Accept_r returns EAGAIN instead of blocking with signals masked.
 *
 * CGI: one request from the environment and stdin, the answer on stdout,
 * stdout closed before the after-hook so the web server is not kept waiting. */
#include "http/server.h"

#include <errno.h>
#include <fcntl.h>
#include <fcgiapp.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

/* Set by the signal handler; the one piece of process state a signal may
 * touch. */
static volatile sig_atomic_t server_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    server_stop = 1;
}

/* Most a body may be drained past the limit before giving up on the
 * connection; keeps a worker from reading gigabytes to answer 413. */
#define DRAIN_MAX (8u << 20)

typedef ptrdiff_t (*read_fn)(void *src, char *buf, size_t n);

static ptrdiff_t read_fcgx(void *src, char *buf, size_t n)
{
    int want = n > (1u << 30) ? (1 << 30) : (int)n;
    return FCGX_GetStr(buf, want, (FCGX_Stream *)src);
}

static ptrdiff_t read_stdio(void *src, char *buf, size_t n)
{
    size_t got = fread(buf, 1, n, (FILE *)src);
    if (got == 0 && ferror((FILE *)src))
        return -1;
    return (ptrdiff_t)got;
}

/* Reads up to want bytes; returns how many arrived before EOF or error. */
static size_t read_full(read_fn rd, void *src, char *buf, size_t want)
{
    size_t got = 0;
    while (got < want) {
        ptrdiff_t n = rd(src, buf + got, want - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

static void drain(read_fn rd, void *src, size_t max)
{
    char scratch[4096];
    while (max > 0) {
        size_t chunk = max < sizeof scratch ? max : sizeof scratch;
        ptrdiff_t n = rd(src, scratch, chunk);
        if (n <= 0)
            return;
        max -= (size_t)n;
    }
}

/* Attaches the body to req, honouring the limit. Only methods that carry a
 * body are read; the rest of the input is left to the web server. */
static void read_body(http_request *req, size_t limit, read_fn rd, void *src)
{
    if (req->method != HTTP_POST && req->method != HTTP_PUT && req->method != HTTP_PATCH)
        return;
    long long cl = req->content_length;
    if (cl == 0)
        return;
    if (cl > 0 && (unsigned long long)cl > limit) {
        req->body_too_large = true;
        drain(rd, src, (unsigned long long)cl < DRAIN_MAX ? (size_t)cl : DRAIN_MAX);
        return;
    }
    size_t want = cl > 0 ? (size_t)cl : limit + 1;
    char *body = malloc(want + 1);
    if (body == NULL) {
        req->body_incomplete = true;
        return;
    }
    size_t got = read_full(rd, src, body, want);
    if (cl < 0 && got > limit) {
        free(body);
        req->body_too_large = true;
        drain(rd, src, DRAIN_MAX);
        return;
    }
    if (cl > 0 && got < (size_t)cl)
        req->body_incomplete = true;
    body[got] = '\0';
    http_request_set_body(req, body, got);
}

/* Runs the handler for one request whose parameters are in env. */
static void serve_one(const server_config *cfg, char **env, read_fn rd, void *src,
                      http_request *req, http_response *resp)
{
    http_response_reset(resp);
    int rc = http_request_init(req, env);
    if (rc == 414) {
        http_response_error(resp, 414, "uri_too_long", "the request URI is too long");
        return;
    } else if (rc >= 500) {
        http_response_error(resp, 500, "internal_error", "internal error");
        return;
    } else if (rc != 0) {
        http_response_error(resp, 400, "bad_request", "the request line is malformed");
        return;
    }
    read_body(req, cfg->body_limit, rd, src);
    cfg->handler(cfg->arg, req, resp);
    if (resp->status == 0)
        http_response_error(resp, 500, "internal_error", "internal error");
}

static int install_signals(sigset_t *wait_mask)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;   /* no SA_RESTART: ppoll must see EINTR */
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0 ||
        sigaction(SIGHUP, &sa, NULL) != 0)
        return -1;
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &block, wait_mask) != 0)
        return -1;
    sigdelset(wait_mask, SIGTERM);
    sigdelset(wait_mask, SIGINT);
    sigdelset(wait_mask, SIGHUP);
    return 0;
}

int server_run_fastcgi(const server_config *cfg, int listen_fd)
{
    FCGX_Request fr;
    sigset_t wait_mask;

    if (FCGX_Init() != 0 || FCGX_InitRequest(&fr, listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
        fprintf(stderr, "cruddur-api: cannot initialise libfcgi\n");
        return 1;
    }
    int fl = fcntl(listen_fd, F_GETFL);
    if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) != 0) {
        fprintf(stderr, "cruddur-api: fd %d is not usable: %s\n", listen_fd, strerror(errno));
        return 1;
    }
    if (install_signals(&wait_mask) != 0) {
        fprintf(stderr, "cruddur-api: cannot install signal handlers\n");
        return 1;
    }

    http_request req;
    http_response resp;
    memset(&req, 0, sizeof req);
    http_response_init(&resp);
    buf_t out = BUF_INIT;
    int status = 0;
    /* a request was served since the idle hook last ran: look before
     * sleeping. Starting counts as idle too: the hook learns that this loop
     * reports idle moments even when requests never stop coming. */
    int served = 1;
    int again_ms = -1;          /* what the idle hook asked for last */
    const struct timespec no_wait = {0, 0};

    while (!server_stop) {
        /* A kept-alive connection (fastcgi_keep_conn) brings its next request
         * on the same fd; otherwise wait for a new connection. */
        struct pollfd p = {fr.ipcFd >= 0 ? fr.ipcFd : listen_fd, POLLIN, 0};
        struct timespec again = {again_ms / 1000, (long)(again_ms % 1000) * 1000000L};
        const struct timespec *timeout = cfg->idle == NULL ? NULL
                                       : served ? &no_wait
                                       : again_ms >= 0 ? &again : NULL;
        int ready = ppoll(&p, 1, timeout, &wait_mask);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "cruddur-api: poll: %s\n", strerror(errno));
            status = 1;
            break;
        }
        if (ready == 0) {           /* nothing waiting: idle, then sleep */
            served = 0;
            again_ms = cfg->idle(cfg->arg);
            continue;
        }
        int rc = FCGX_Accept_r(&fr);
        if (rc < 0) {
            int e = -rc;
            if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR || e == ECONNABORTED || e == EPROTO)
                continue;
            fprintf(stderr, "cruddur-api: accept: %s\n", e > 0 && e < 4096 ? strerror(e) : "failed");
            status = 1;
            break;
        }

        serve_one(cfg, fr.envp, read_fcgx, fr.in, &req, &resp);
        buf_reset(&out);
        if (http_response_serialize(&resp, &out) == 0)
            FCGX_PutStr(out.data, (int)out.len, fr.out);
        /* Closing both output streams sends FCGI_END_REQUEST, while the
         * parameters that req points into stay allocated until
         * FCGX_Finish_r, after the hook. A connection that is not kept is
         * also shut for writing: nginx finishes the answer to its client
         * only once it sees the end of the connection, and the after-hook
         * must not hold the answer back (FCGX_Finish_r still waits for the
         * web server to close its side, then closes). */
        FCGX_FClose(fr.err);
        FCGX_FClose(fr.out);
        if (!fr.keepConnection && fr.ipcFd >= 0)
            shutdown(fr.ipcFd, SHUT_WR);
        if (cfg->after != NULL)
            cfg->after(cfg->arg, &req, &resp);
        http_request_free(&req);
        FCGX_Finish_r(&fr);
        served = 1;
    }

    FCGX_Free(&fr, 1);
    http_response_free(&resp);
    buf_free(&out);
    return status;
}

int server_run_cgi(const server_config *cfg)
{
    http_request req;
    http_response resp;
    buf_t out = BUF_INIT;
    int status = 0;

    memset(&req, 0, sizeof req);
    http_response_init(&resp);
    signal(SIGPIPE, SIG_IGN);

    serve_one(cfg, environ, read_stdio, stdin, &req, &resp);
    /* Some web servers (lighttpd) send SIGTERM as soon as stdout closes; the
     * after-hook's work is bounded, so let it finish first. */
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGHUP);
    sigprocmask(SIG_BLOCK, &term, NULL);
    if (http_response_serialize(&resp, &out) != 0 ||
        fwrite(out.data, 1, out.len, stdout) != out.len)
        status = 1;
    /* Closing stdout tells the web server the answer is complete. */
    if (fclose(stdout) != 0)
        status = 1;
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0 && devnull != STDOUT_FILENO) {
        dup2(devnull, STDOUT_FILENO);
        close(devnull);
    }

    if (cfg->after != NULL)
        cfg->after(cfg->arg, &req, &resp);
    http_request_free(&req);
    http_response_free(&resp);
    buf_free(&out);
    /* SIGTERM stays blocked: the process is about to exit, and it should do
     * so through its own clean-up, not the signal. */
    return status;
}

static int is_listening_socket(int fd)
{
    int v = 0;
    socklen_t len = sizeof v;
    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v != 0;
}

int server_find_listen_fd(void)
{
    const char *fds = getenv("LISTEN_FDS");
    const char *pid = getenv("LISTEN_PID");
    if (fds != NULL && pid != NULL && strcmp(fds, "1") == 0 &&
        strtol(pid, NULL, 10) == (long)getpid() && is_listening_socket(3))
        return 3;
    if (is_listening_socket(STDIN_FILENO))
        return STDIN_FILENO;
    return -1;
}

static int listen_unix(const char *path, int backlog)
{
    struct sockaddr_un sa;
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);   /* a stale socket from an earlier run */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int listen_tcp(const char *address, int backlog)
{
    const char *colon = strrchr(address, ':');
    if (colon == NULL || colon[1] == '\0') {
        errno = EINVAL;
        return -1;
    }
    char host[256];
    size_t hlen = (size_t)(colon - address);
    if (hlen >= sizeof host) {
        errno = EINVAL;
        return -1;
    }
    memcpy(host, address, hlen);
    host[hlen] = '\0';
    /* "[::1]:9000" names an IPv6 host. */
    char *h = host;
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        host[hlen - 1] = '\0';
        h = host + 1;
    }

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (getaddrinfo(*h ? h : NULL, colon + 1, &hints, &res) != 0 || res == NULL) {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
            int e = errno;
            close(fd);
            fd = -1;
            errno = e;
        }
    }
    freeaddrinfo(res);
    return fd;
}

int server_listen(const char *address, int backlog)
{
    if (strncmp(address, "unix:", 5) == 0)
        return listen_unix(address + 5, backlog);
    if (address[0] == '/' || address[0] == '.')
        return listen_unix(address, backlog);
    return listen_tcp(address, backlog);
}
