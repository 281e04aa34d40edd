/* copier: a thread that copies a worker's journals into the spool.
 *
 * A FastCGI worker appends each request's batch to a journal (journal.h)
 * and, when enough has gathered or it has nothing else to do, gives that
 * journal to this thread and goes on appending to another. The thread copies
 * it into the spool (spool_journal_flush, on a spool handle of its own) and
 * gives it back: emptied, or still holding its batches when the copy failed.
 * One journal at a time is with the thread. A copy never holds up the
 * thread that serves requests, however long it waits for the spool's lock
 * or for its checkpoint's fsync.
 *
 * Records the owner gave up (spool_copier_note_dropped) are counted in the
 * spool with the thread's next copy that commits, as spool_note_dropped does
 * for a handle's own writes.
 *
 * Start, give, collect, note and stop from one thread. Functions returning
 * int return a SPOOL_* status. */
#ifndef CRUDDUR_SPOOL_COPIER_H
#define CRUDDUR_SPOOL_COPIER_H

#include <stdint.h>

#include "spool/checkpointer.h"
#include "spool/journal.h"

typedef struct spool_copier spool_copier;

/* Opens a handle of its own on the spool at spool_path (which must exist),
 * without checkpoints of its own: after each copy it reports the WAL's size
 * to ckpt (may be NULL: it then checkpoints as a plain handle does). Each
 * copy gets budget_ns. The checkpointer must outlive the copier. */
int spool_copier_start(const char *spool_path, int64_t budget_ns, spool_checkpointer *ckpt,
                       spool_copier **out, char *err, size_t err_size);

/* Gives j to the thread, which copies it at once. SPOOL_OK: the thread has
 * it; do not touch it until spool_copier_collect gives it back. SPOOL_BUSY:
 * the thread still has the journal given before (collect it first). */
int spool_copier_give(spool_copier *c, spool_journal *j);

/* The journal given, once its copy is over, with the copy's status in
 * *status (SPOOL_OK: every batch is in the spool and the journal is empty;
 * otherwise its batches still wait in it). NULL while the copy goes on,
 * after waiting up to wait_ns (0: not at all), or when nothing was given. */
spool_journal *spool_copier_collect(spool_copier *c, int64_t wait_ns, int *status);

/* Nonzero while the thread has a journal (copying or done, not collected). */
int spool_copier_holds(const spool_copier *c);

/* n records were lost: counted in the spool (counter dropped_records) with
 * the next copy that commits. */
void spool_copier_note_dropped(spool_copier *c, int64_t n);

/* Lets the copy in progress finish, stops the thread and closes its handle.
 * Returns the journal it still held (or NULL), with its status in *status as
 * spool_copier_collect does, and in *dropped (may be NULL) the lost records
 * noted and not yet counted in the spool, for the caller to count. NULL is
 * fine. */
spool_journal *spool_copier_stop(spool_copier *c, int *status, int64_t *dropped);

#endif
