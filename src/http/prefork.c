/* prefork: the optional supervisor in front of the FastCGI workers
 * (cruddur-api --workers N). spawn-fcgi and systemd start processes but do
 * not replace one that crashed; this does. */
#include "http/prefork.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PREFORK_MAX 256
#define STOP_GRACE_SECONDS 30

static volatile sig_atomic_t prefork_stop;

static void on_signal(int sig)
{
    if (sig != SIGCHLD)
        prefork_stop = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pid_t start_worker(prefork_worker_fn fn, void *arg, const sigset_t *orig)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    sigprocmask(SIG_SETMASK, orig, NULL);
    fflush(stderr);
    _exit(fn(arg));
}

int prefork_run(unsigned n, prefork_worker_fn fn, void *arg)
{
    if (n == 0 || n > PREFORK_MAX)
        return 1;
    pid_t pids[PREFORK_MAX];
    double started[PREFORK_MAX];
    unsigned quick_deaths = 0;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);

    /* Signals wait blocked and are taken only inside sigsuspend, so a stop
     * request is never missed between the check and the wait. */
    sigset_t block, orig, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &orig);
    waitmask = orig;
    sigdelset(&waitmask, SIGTERM);
    sigdelset(&waitmask, SIGINT);
    sigdelset(&waitmask, SIGHUP);
    sigdelset(&waitmask, SIGCHLD);

    unsigned alive = 0;
    for (unsigned i = 0; i < n; i++) {
        pids[i] = start_worker(fn, arg, &orig);
        started[i] = now_s();
        if (pids[i] > 0)
            alive++;
    }
    if (alive == 0) {
        sigprocmask(SIG_SETMASK, &orig, NULL);
        return 1;
    }

    while (!prefork_stop) {
        int wstatus;
        pid_t dead = waitpid(-1, &wstatus, WNOHANG);
        if (dead <= 0) {
            sigsuspend(&waitmask);
            continue;
        }
        for (unsigned i = 0; i < n; i++) {
            if (pids[i] != dead)
                continue;
            if (WIFSIGNALED(wstatus))
                fprintf(stderr, "cruddur-api: worker %ld died of signal %d; restarting\n",
                        (long)dead, WTERMSIG(wstatus));
            else
                fprintf(stderr, "cruddur-api: worker %ld exited with status %d; restarting\n",
                        (long)dead, WEXITSTATUS(wstatus));
            /* Workers that die young mean a broken set-up: slow down. */
            if (now_s() - started[i] < 1.0) {
                quick_deaths = quick_deaths < 6 ? quick_deaths + 1 : 6;
                struct timespec d = {0, (long)(50000000L << quick_deaths)};
                if (d.tv_nsec >= 1000000000L) {
                    d.tv_sec = d.tv_nsec / 1000000000L;
                    d.tv_nsec %= 1000000000L;
                }
                nanosleep(&d, NULL);
            } else {
                quick_deaths = 0;
            }
            if (prefork_stop) {
                pids[i] = -1;
                break;
            }
            pids[i] = start_worker(fn, arg, &orig);
            started[i] = now_s();
            break;
        }
    }

    for (unsigned i = 0; i < n; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGTERM);
    double deadline = now_s() + STOP_GRACE_SECONDS;
    for (;;) {
        pid_t dead = waitpid(-1, NULL, WNOHANG);
        if (dead < 0 && errno == ECHILD)
            break;
        if (dead > 0)
            continue;
        if (now_s() > deadline) {
            for (unsigned i = 0; i < n; i++)
                if (pids[i] > 0)
                    kill(pids[i], SIGKILL);
            while (waitpid(-1, NULL, 0) > 0)
                ;
            break;
        }
        struct timespec d = {0, 20000000L};
        nanosleep(&d, NULL);
    }
    sigprocmask(SIG_SETMASK, &orig, NULL);
    return 0;
}
