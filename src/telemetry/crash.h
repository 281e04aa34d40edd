/* crash: records fatal signals. Each worker opens its crash file in advance
 * (crash_install); per request it notes the request line and trace id
 * (crash_set_request). On SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT an
 * async-signal-safe handler, running on its own signal stack, appends one
 * record to that file, then restores the default action and re-raises the
 * signal, so the process dies exactly as it would have (same status, same
 * core dump). At the next worker start, crash_recover reads the files left
 * by dead workers and hands each record over (the caller turns it into a
 * `critical` error report in the spool); a file is removed only after every
 * record in it was accepted.
 *
 * File: <dir>/crash-<pid>.txt, mode 0640 (umask ignored), opened
 * O_WRONLY|O_APPEND|O_CREAT.
 * A file may hold several records (a pid can come back); each is text, one
 * field per line, LF-terminated, in this exact order:
 *
 *     CRUDDUR-CRASH 1
 *     signal: <number> <name>          e.g. "signal: 11 SIGSEGV"
 *     code: <si_code>                  decimal, may be negative
 *     addr: 0x<hex>                    si_addr (fault address), 16 digits
 *     pid: <pid>
 *     time_ns: <Unix time in nanoseconds>
 *     request: <request line>          "" when outside a request; bytes below
 *                                      0x20 and 0x7F are written as spaces;
 *                                      at most CRASH_REQUEST_SIZE - 1 bytes
 *     trace_id: <32 lowercase hex or empty>
 *     span_id: <16 lowercase hex or empty>
 *     backtrace:
 *     <one frame per line, as backtrace_symbols_fd writes it:
 *      "binary(function+0xoff) [0xaddr]", innermost first>
 *     end
 *
 * A record without its "end" line (the process died while writing) is still
 * reported, with complete = false; lines before the first magic line and
 * unknown lines are ignored. A non-empty file with no record in it is renamed
 * to <name>.corrupt and left for a person to look at.
 *
 * Signal handlers cannot be given an argument, so the installed recorder is
 * reachable through one process-wide pointer: the one piece of global mutable
 * state in the telemetry code, set by crash_install and cleared by
 * crash_uninstall. Only one recorder is installed at a time. */
#ifndef CRUDDUR_TELEMETRY_CRASH_H
#define CRUDDUR_TELEMETRY_CRASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CRASH_MAGIC "CRUDDUR-CRASH 1"
#define CRASH_REQUEST_SIZE 512
#define CRASH_MAX_FRAMES 64
#define CRASH_MAX_FILE (1 << 20)   /* bytes read from one file */

typedef struct crash_recorder crash_recorder;

/* Creates dir/crash-<getpid()>.txt (dir must exist), installs the signal
 * stack and the handlers, and warms backtrace() up (its first call may
 * allocate, which a signal handler must not). Returns a new recorder (undo
 * with crash_uninstall) or NULL with a message in err[err_size] (errno-based);
 * nothing is left installed on failure, and NULL too if one is installed. */
crash_recorder *crash_install(const char *dir, char *err, size_t err_size);

/* Notes what the worker is doing now: the request line ("GET /path?query",
 * already redacted by the caller; NULL for none) and the trace and span ids
 * in hex (NULL or "" for none). Cheap: fixed-size copies, no allocation. */
void crash_set_request(crash_recorder *c, const char *request_line,
                       const char *trace_id_hex, const char *span_id_hex);
/* Between requests: forget the request. */
void crash_clear_request(crash_recorder *c);

/* The crash file's path (valid while c is). */
const char *crash_path(const crash_recorder *c);

/* Restores the previous handlers and signal stack, closes the file and
 * removes it if nothing was written to it, and frees c. NULL is fine. */
void crash_uninstall(crash_recorder *c);

/* One record as crash_recover hands it over. Strings are NUL-terminated and
 * valid only during the callback. */
typedef struct crash_record {
    const char *path;           /* the file it came from */
    int signo;                  /* 0 if the signal line was missing */
    char signame[16];
    int code;
    uint64_t addr;
    long pid;
    int64_t time_ns;            /* 0 if missing */
    char request[CRASH_REQUEST_SIZE];
    char trace_id[33];
    char span_id[17];
    const char *frames[CRASH_MAX_FRAMES];
    size_t n_frames;
    bool complete;              /* the "end" line was present */
} crash_record;

/* Returns 0 when the record is safely stored; anything else keeps the file
 * for the next attempt. */
typedef int (*crash_record_fn)(void *arg, const crash_record *rec);

typedef struct crash_recover_stats {
    size_t records;     /* handed to the callback */
    size_t files_done;  /* removed after all their records were accepted */
    size_t files_kept;  /* a callback failed: left for next time */
    size_t corrupt;     /* no record inside: renamed to .corrupt */
} crash_recover_stats;

/* Processes every crash-<pid>.txt in dir whose pid is this process's or no
 * longer alive (files of live workers are left alone). Files are locked
 * (flock) while processed, so workers starting together do not report the
 * same crash twice. The file of this very process is truncated rather than
 * removed (it may be the one crash_install opened). stats may be NULL.
 * Returns 0, or -1 if dir cannot be read. */
int crash_recover(const char *dir, crash_record_fn fn, void *arg, crash_recover_stats *stats);

/* Parses text[0..len) (a crash file's contents; text must have room for
 * len + 1 bytes, as it is modified in place), calling
 * fn for each record until it refuses one. Sets *found to the number of
 * records found (the refused one included). Returns 0 if fn accepted every
 * record, 1 if it refused one. Exposed for tests. */
int crash_parse(char *text, size_t len, const char *path, crash_record_fn fn, void *arg,
                size_t *found);

#endif
