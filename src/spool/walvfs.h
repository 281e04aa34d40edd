/* walvfs: an SQLite VFS over the default one that hands each commit's WAL
 * frames to the kernel in one write instead of two per page (a 24-byte frame
 * header, then the page). The spool opens its connection through it: a
 * request's telemetry is one commit of a few pages, and on a virtual machine
 * a system call costs more than copying a page.
 *
 * Only appends to a -wal file are gathered, and they reach the file, in
 * order, before the commit is published in the shared WAL index: the
 * buffer is written out when the commit frame is complete, before any other
 * operation on the file (read, sync, truncate, size, close), and at the
 * barrier SQLite passes before publishing. Other files go straight through.
 * The files stay ordinary SQLite files that any other program can open. */
#ifndef CRUDDUR_SPOOL_WALVFS_H
#define CRUDDUR_SPOOL_WALVFS_H

typedef struct walvfs walvfs;

/* Registers a new VFS (not the default) over SQLite's default VFS, under a
 * name of its own. Returns NULL when out of memory or registration fails.
 * One per connection: open the connection with walvfs_name(), close it
 * before walvfs_free(). */
walvfs *walvfs_new(void);
const char *walvfs_name(const walvfs *v);
/* Unregisters and frees it; NULL is fine. */
void walvfs_free(walvfs *v);

#endif
