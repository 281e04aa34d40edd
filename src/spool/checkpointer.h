/* checkpointer: a thread that copies the spool's WAL into the database file
 * for its process, so that the checkpoint's fsyncs (10 to 30 ms each here)
 * never hold up the thread that serves requests.
 *
 * The process's writing handle is switched to no checkpoints
 * (spool_set_no_checkpoint) and reports the WAL's size after each commit
 * (spool_checkpointer_poke with spool_wal_pages); the thread, with a spool
 * handle of its own, runs PASSIVE checkpoints each time the WAL has grown by
 * 1000 pages (a few passes, until every frame is copied and the WAL can start
 * over), and a RESTART one only when the WAL is past 8000 pages all the same
 * (spool.h, spool_checkpoint).
 *
 * Start and stop it from one thread; poke from any thread (the worker and
 * its copier both do). */
#ifndef CRUDDUR_SPOOL_CHECKPOINTER_H
#define CRUDDUR_SPOOL_CHECKPOINTER_H

#include <stddef.h>

typedef struct spool_checkpointer spool_checkpointer;

/* Opens its own handle on the spool at path and starts the thread. Returns a
 * SPOOL_* status (with err) and *out. */
int spool_checkpointer_start(const char *path, spool_checkpointer **out, char *err,
                             size_t err_size);

/* The WAL holds wal_pages pages now: wakes the thread when a checkpoint is
 * due. Cheap when none is: no system call. NULL is fine. */
void spool_checkpointer_poke(spool_checkpointer *c, int wal_pages);

/* Lets a checkpoint in progress finish, stops the thread, closes its handle.
 * NULL is fine. */
void spool_checkpointer_stop(spool_checkpointer *c);

#endif
