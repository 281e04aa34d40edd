/* prefork: a small supervisor that runs N worker processes on one listening
 * socket and restarts any that die (a crash must not leave the web server
 * with fewer workers). SIGTERM, SIGINT or SIGHUP stop the workers and then
 * the supervisor. */
#ifndef CRUDDUR_HTTP_PREFORK_H
#define CRUDDUR_HTTP_PREFORK_H

/* Runs in each child; its return value is the child's exit status. */
typedef int (*prefork_worker_fn)(void *arg);

/* Forks n workers (1..256) and supervises them. A worker that exits or dies
 * is replaced, with a growing delay when workers die right after starting.
 * Returns 0 after a requested stop, 1 if no worker could be started. */
int prefork_run(unsigned n, prefork_worker_fn fn, void *arg);

#endif
