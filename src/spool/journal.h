/* journal: a worker's file of request batches on their way into the spool.
 *
 * Writing one request's telemetry straight into the spool is a whole SQLite
 * transaction in a file every worker shares: locks, a page cache that the
 * other workers' commits have emptied, several WAL pages for two kilobytes
 * of records; about 100 us of a loaded worker's CPU (docs/performance.md).
 * Appended to the worker's own journal it is one write() of the encoded
 * batch; the worker copies what has gathered into the spool in ONE
 * transaction when it has nothing else to do, or when the oldest batch has
 * waited long enough (spool_journal_flush).
 *
 * Durability: once spool_journal_append returns, the batch is in the file,
 * that is in the kernel: the process may crash or be killed (kill -9) and
 * the batch is not lost. spool_journal_recover, run by the next worker to
 * start or by a sibling, copies the journals of dead processes into the
 * spool. Like a spool commit (synchronous=NORMAL), a batch survives the death
 * of its process, not a power cut. Exactly once: every copy into the spool
 * records in the same transaction, as a spool mark named after the file, how
 * far the file has been copied; after a copy the file is cut back to its
 * header and its generation goes up by one, so a batch is copied once even
 * when the process dies between the commit and the cut.
 *
 * The file: "<spool path>-journal-<pid>-<16 hex>", created with the spool's
 * mode, locked (flock) by its process for as long as it has it open, so a
 * journal nobody holds belongs to a dead process. A header (magic, byte
 * order, generation), then records (length, checksum, the batch in this
 * machine's byte order); a torn last record is ignored. Only its own host
 * reads it.
 *
 * A journal is used by one thread at a time of the process that opened it
 * (handing it over under a lock, as spool/copier.h does, is fine) and must
 * not cross fork(). Functions returning int return a SPOOL_* status. */
#ifndef CRUDDUR_SPOOL_JOURNAL_H
#define CRUDDUR_SPOOL_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "spool/spool.h"

typedef struct spool_journal spool_journal;

/* Creates and locks this process's journal next to the spool file at
 * spool_path (mode 0: SPOOL_DEFAULT_MODE). SPOOL_CANTOPEN, SPOOL_READONLY or
 * SPOOL_FULL (with err) when the directory does not take it. */
int spool_journal_open(const char *spool_path, unsigned mode, spool_journal **out, char *err,
                       size_t err_size);

/* Appends one batch (strings are copied). On SPOOL_OK it survives the death
 * of the process. SPOOL_INVALID: the batch breaks the spool's rules (ids,
 * JSON) and was not taken; SPOOL_FULL / SPOOL_ERROR: the file did not take
 * it (nothing of it is left there): write it some other way or drop it. */
int spool_journal_append(spool_journal *j, const spool_batch *b);

/* What is waiting: batches, records (spans + logs + errors), bytes, and the
 * CLOCK_MONOTONIC time of the oldest append (0 when nothing waits). */
size_t spool_journal_batches(const spool_journal *j);
size_t spool_journal_records(const spool_journal *j);
size_t spool_journal_bytes(const spool_journal *j);
int64_t spool_journal_oldest_ns(const spool_journal *j);

/* Copies every waiting batch into the spool as one transaction
 * (spool_write_batches, within budget_ns) with the journal's mark, then cuts
 * the file back. On failure nothing was copied and the batches still wait:
 * try again, or give them up with spool_journal_discard. */
int spool_journal_flush(spool_journal *j, spool *s, int64_t budget_ns);

/* Gives up every waiting batch (the file is cut back too, so that recovery
 * never copies them late). Returns the records given up. */
size_t spool_journal_discard(spool_journal *j);

/* The file's name (no directory): its mark's key in the spool. */
const char *spool_journal_name(const spool_journal *j);

/* Closes the journal. With nothing waiting the file is removed, and with s
 * its mark too; batches still waiting stay in the file, for recovery. NULL is
 * fine. */
void spool_journal_close(spool_journal *j, spool *s);

typedef struct spool_journal_recovery {
    size_t journals;                /* files of dead processes copied and removed */
    size_t batches, records;        /* what they held that was not yet in the spool */
    size_t kept;                    /* files left for a later try (spool busy ...) */
} spool_journal_recovery;

/* Copies the journals of dead processes next to spool_path into s, each as
 * one transaction within budget_ns, and removes them; journals whose process
 * still holds them are left alone, as are those that could not be copied
 * (counted in st->kept). Also deletes the marks of journals that no longer
 * exist. st may be NULL. */
int spool_journal_recover(spool *s, const char *spool_path, int64_t budget_ns,
                          spool_journal_recovery *st);

#endif
