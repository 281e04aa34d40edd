/* walvfs: gathers the WAL frames of a spool commit into one write (see
 * walvfs.h). Every method but xOpen, and every file method but xWrite, passes
 * straight to SQLite's default VFS; a -wal file keeps a buffer of appended
 * bytes that is written out at the points listed in walvfs.h.
 *
 * SQLite writes a frame as two calls, its 24-byte header then the page, and
 * the header of a commit's last frame carries the database size in pages
 * (bytes 4..7, zero in other frames: the WAL file format). Once that frame's
 * page is in the buffer, the buffer is written and the result returned from
 * that very xWrite, so a failure fails the commit as it would have without
 * the buffer. A write at the offset SQLite has just read (it rewrites frame
 * headers after the commit frame when a transaction wrote a page twice) is
 * not gathered, and the database file's xShmBarrier, which SQLite calls just
 * before it publishes a commit, writes out anything still gathered. */
#include "spool/walvfs.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Past this, what is gathered is written out. The unix VFS writes less
 * than 128 KiB per call (it masks the length with 0x1ffff). */
#define BUF_MAX 65536
#define FRAME_HEADER 24

typedef struct wfile wfile;

struct walvfs {
    sqlite3_vfs vfs;            /* first: SQLite hands us this pointer */
    sqlite3_vfs *real;
    wfile *wal;                 /* the open -wal file, if any (one connection) */
    char name[48];
};

struct wfile {
    sqlite3_file base;          /* base.pMethods = &wal_methods or &plain_methods */
    sqlite3_file *real;         /* the default VFS's file, allocated after this struct */
    walvfs *owner;
    unsigned char *buf;         /* WAL only: appended bytes not yet written */
    size_t len, cap;
    sqlite3_int64 off;          /* file offset of buf[0] */
    int commit_header;          /* the last buffered write was a commit frame's header */
    int after_read;             /* the last call was a read ... */
    sqlite3_int64 read_off;     /* ... at this offset */
};

static sqlite3_file *real_of(sqlite3_file *f)
{
    return ((wfile *)f)->real;
}

/* Writes out the buffer; on failure it is dropped all the same (SQLite
 * rolls the transaction back and rewrites whatever it needs). */
static int flush(wfile *w)
{
    if (w->len == 0)
        return SQLITE_OK;
    int rc = w->real->pMethods->xWrite(w->real, w->buf, (int)w->len, w->off);
    w->len = 0;
    w->commit_header = 0;
    return rc;
}

/* ---- file methods ------------------------------------------------------- */

static int f_close(sqlite3_file *f)
{
    wfile *w = (wfile *)f;
    if (w->owner->wal == w)
        w->owner->wal = NULL;
    int rc = flush(w);
    int rc2 = w->real->pMethods->xClose(w->real);
    free(w->buf);
    w->buf = NULL;
    w->cap = 0;
    return rc != SQLITE_OK ? rc : rc2;
}

static int f_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    return real_of(f)->pMethods->xRead(real_of(f), p, n, off);
}

static int f_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    return real_of(f)->pMethods->xWrite(real_of(f), p, n, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
    return real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int f_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int f_lock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xLock(real_of(f), level);
}

static int f_unlock(sqlite3_file *f, int level)
{
    return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

static int f_check_reserved(sqlite3_file *f, int *out)
{
    return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int f_file_control(sqlite3_file *f, int op, void *arg)
{
    return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int f_sector_size(sqlite3_file *f)
{
    return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int f_device_characteristics(sqlite3_file *f)
{
    return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static int f_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **p)
{
    return real_of(f)->pMethods->xShmMap(real_of(f), page, size, extend, p);
}

static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

/* SQLite publishes a commit in the WAL index right after this barrier. The
 * commit frame has been written out already (w_write); this only makes sure
 * nothing gathered is left behind, whatever SQLite did last. */
static void f_shm_barrier(sqlite3_file *f)
{
    wfile *wal = ((wfile *)f)->owner->wal;
    if (wal != NULL)
        flush(wal);
    real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int f_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}

static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **p)
{
    return real_of(f)->pMethods->xFetch(real_of(f), off, n, p);
}

static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

/* ---- the -wal file: the same, with appends gathered -------------------- */

static int w_read(sqlite3_file *f, void *p, int n, sqlite3_int64 off)
{
    wfile *w = (wfile *)f;
    int rc = flush(w);
    w->after_read = 1;
    w->read_off = off;
    return rc != SQLITE_OK ? rc : f_read(f, p, n, off);
}

static int w_write(sqlite3_file *f, const void *p, int n, sqlite3_int64 off)
{
    wfile *w = (wfile *)f;
    int rewrite = w->after_read && off == w->read_off;
    w->after_read = 0;
    int append = w->len > 0 && off == w->off + (sqlite3_int64)w->len;
    if (!append) {
        /* not the next bytes of the run being gathered: that run goes out
         * first, so that writes reach the file in SQLite's order */
        int rc = flush(w);
        if (rc != SQLITE_OK)
            return rc;
    }
    size_t need = w->len + (size_t)n;
    /* A write where SQLite has just read rewrites a frame header in place
     * (fixing checksums after its commit frame): it goes straight out. */
    if (n <= 0 || need > BUF_MAX || rewrite) {
        int rc = flush(w);
        return rc != SQLITE_OK ? rc : f_write(f, p, n, off);
    }
    if (need > w->cap) {
        size_t cap = w->cap ? w->cap : 16384;
        while (cap < need)
            cap *= 2;
        unsigned char *grown = realloc(w->buf, cap);
        if (grown == NULL) {
            int rc = flush(w);
            return rc != SQLITE_OK ? rc : f_write(f, p, n, off);
        }
        w->buf = grown;
        w->cap = cap;
    }
    if (w->len == 0)
        w->off = off;
    memcpy(w->buf + w->len, p, (size_t)n);
    w->len = need;
    if (n == FRAME_HEADER) {
        const unsigned char *h = p;
        w->commit_header = (h[4] | h[5] | h[6] | h[7]) != 0;
        return SQLITE_OK;
    }
    /* the page of a commit frame: the transaction's last frame is complete */
    if (w->commit_header)
        return flush(w);
    return SQLITE_OK;
}

static int w_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    int rc = flush((wfile *)f);
    return rc != SQLITE_OK ? rc : f_truncate(f, size);
}

static int w_sync(sqlite3_file *f, int flags)
{
    int rc = flush((wfile *)f);
    return rc != SQLITE_OK ? rc : f_sync(f, flags);
}

static int w_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    int rc = flush((wfile *)f);
    return rc != SQLITE_OK ? rc : f_file_size(f, size);
}

static int w_file_control(sqlite3_file *f, int op, void *arg)
{
    int rc = flush((wfile *)f);
    return rc != SQLITE_OK ? rc : f_file_control(f, op, arg);
}

static int w_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **p)
{
    int rc = flush((wfile *)f);
    return rc != SQLITE_OK ? rc : f_fetch(f, off, n, p);
}

/* Both tables are filled up to the real file's version (SQLite asks a file
 * its iVersion before calling the later methods). */
static const sqlite3_io_methods plain_methods = {
    3, f_close, f_read, f_write, f_truncate, f_sync, f_file_size, f_lock, f_unlock,
    f_check_reserved, f_file_control, f_sector_size, f_device_characteristics,
    f_shm_map, f_shm_lock, f_shm_barrier, f_shm_unmap, f_fetch, f_unfetch,
};

static const sqlite3_io_methods wal_methods = {
    3, f_close, w_read, w_write, w_truncate, w_sync, w_file_size, f_lock, f_unlock,
    f_check_reserved, w_file_control, f_sector_size, f_device_characteristics,
    f_shm_map, f_shm_lock, f_shm_barrier, f_shm_unmap, w_fetch, f_unfetch,
};

/* ---- the VFS ------------------------------------------------------------ */

static sqlite3_vfs *real_vfs(sqlite3_vfs *v)
{
    return ((walvfs *)v)->real;
}

static int v_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
    wfile *w = (wfile *)f;
    memset(w, 0, sizeof *w);
    w->real = (sqlite3_file *)(w + 1);
    int rc = real_vfs(v)->xOpen(real_vfs(v), name, w->real, flags, out_flags);
    if (w->real->pMethods == NULL) {
        w->base.pMethods = NULL;        /* nothing to close */
        return rc;
    }
    if (w->real->pMethods->iVersion < 3) {
        /* our tables would call it past its own (never seen with unix VFSs) */
        w->real->pMethods->xClose(w->real);
        w->base.pMethods = NULL;
        return SQLITE_CANTOPEN;
    }
    w->owner = (walvfs *)v;
    if (flags & SQLITE_OPEN_WAL) {
        w->base.pMethods = &wal_methods;
        w->owner->wal = w;
    } else {
        w->base.pMethods = &plain_methods;
    }
    return rc;
}

static int v_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
    return real_vfs(v)->xDelete(real_vfs(v), name, sync_dir);
}

static int v_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    return real_vfs(v)->xAccess(real_vfs(v), name, flags, out);
}

static int v_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    return real_vfs(v)->xFullPathname(real_vfs(v), name, n, out);
}

static void *v_dlopen(sqlite3_vfs *v, const char *name)
{
    return real_vfs(v)->xDlOpen(real_vfs(v), name);
}

static void v_dlerror(sqlite3_vfs *v, int n, char *msg)
{
    real_vfs(v)->xDlError(real_vfs(v), n, msg);
}

static void (*v_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    return real_vfs(v)->xDlSym(real_vfs(v), h, sym);
}

static void v_dlclose(sqlite3_vfs *v, void *h)
{
    real_vfs(v)->xDlClose(real_vfs(v), h);
}

static int v_randomness(sqlite3_vfs *v, int n, char *out)
{
    return real_vfs(v)->xRandomness(real_vfs(v), n, out);
}

static int v_sleep(sqlite3_vfs *v, int us)
{
    return real_vfs(v)->xSleep(real_vfs(v), us);
}

static int v_current_time(sqlite3_vfs *v, double *t)
{
    return real_vfs(v)->xCurrentTime(real_vfs(v), t);
}

static int v_get_last_error(sqlite3_vfs *v, int n, char *msg)
{
    return real_vfs(v)->xGetLastError(real_vfs(v), n, msg);
}

static int v_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *t)
{
    return real_vfs(v)->xCurrentTimeInt64(real_vfs(v), t);
}

static int v_set_system_call(sqlite3_vfs *v, const char *name, sqlite3_syscall_ptr p)
{
    return real_vfs(v)->xSetSystemCall(real_vfs(v), name, p);
}

static sqlite3_syscall_ptr v_get_system_call(sqlite3_vfs *v, const char *name)
{
    return real_vfs(v)->xGetSystemCall(real_vfs(v), name);
}

static const char *v_next_system_call(sqlite3_vfs *v, const char *name)
{
    return real_vfs(v)->xNextSystemCall(real_vfs(v), name);
}

walvfs *walvfs_new(void)
{
    sqlite3_vfs *real = sqlite3_vfs_find(NULL);
    if (real == NULL || real->iVersion < 3)
        return NULL;
    walvfs *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    snprintf(w->name, sizeof w->name, "cruddur-walvfs-%p", (void *)w);
    w->real = real;
    sqlite3_vfs *v = &w->vfs;
    v->iVersion = 3;
    v->szOsFile = (int)sizeof(wfile) + real->szOsFile;
    v->mxPathname = real->mxPathname;
    v->zName = w->name;
    v->xOpen = v_open;
    v->xDelete = v_delete;
    v->xAccess = v_access;
    v->xFullPathname = v_full_pathname;
    v->xDlOpen = v_dlopen;
    v->xDlError = v_dlerror;
    v->xDlSym = v_dlsym;
    v->xDlClose = v_dlclose;
    v->xRandomness = v_randomness;
    v->xSleep = v_sleep;
    v->xCurrentTime = v_current_time;
    v->xGetLastError = v_get_last_error;
    v->xCurrentTimeInt64 = v_current_time_int64;
    v->xSetSystemCall = v_set_system_call;
    v->xGetSystemCall = v_get_system_call;
    v->xNextSystemCall = v_next_system_call;
    if (sqlite3_vfs_register(v, 0) != SQLITE_OK) {
        free(w);
        return NULL;
    }
    return w;
}

const char *walvfs_name(const walvfs *v)
{
    return v->name;
}

void walvfs_free(walvfs *v)
{
    if (v == NULL)
        return;
    sqlite3_vfs_unregister(&v->vfs);
    free(v);
}
