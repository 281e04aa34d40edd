/* cli: the pieces of cruddur-spool that need no spool: reading its
 * arguments (durations, trace ids, counts), and printing answers as aligned
 * text columns. Everything here is pure (where the spool is:
 * config_spool_path, app/config.h).
 *
 * Functions returning int return 0 on success and -1 on failure, leaving
 * their outputs untouched on failure. */
#ifndef CRUDDUR_CLI_CLI_H
#define CRUDDUR_CLI_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* ---- arguments ------------------------------------------------------------ */

#define CLI_ARG_MAX 4096          /* longest argument taken (a path) */
#define CLI_DURATION_MAX_LEN 16   /* longest duration text */
#define CLI_DURATION_MAX_S (100LL * 366 * 86400)   /* about a century */

/* *ns = the duration "<digits><unit>", unit s, m, h or d ("15m", "1h", "2d",
 * "30s"): greater than 0, at most CLI_DURATION_MAX_S seconds. */
int cli_parse_duration(const char *s, int64_t *ns);

/* A trace id as the spool stores it (32 lowercase hex digits, into out[33])
 * from 32 hex digits of either case or the X-Ray form "1-<8 hex>-<24 hex>".
 * All zeros is not an id. */
int cli_trace_id(const char *s, char out[33]);

/* *out = the decimal s, within [lo, hi]; nothing but digits. */
int cli_parse_count(const char *s, long lo, long hi, long *out);

/* ---- output ---------------------------------------------------------------- */

#define CLI_TIME_SIZE 25          /* "2024-03-06T09:55:55.982Z" and the NUL */

/* UTC ISO 8601 to the nearest millisecond, as the spool's views print times
 * (strftime '%Y-%m-%dT%H:%M:%fZ'), for a Unix time in nanoseconds. -1 (out
 * set to "") outside years 0001..9999. */
int cli_time_utc(int64_t unix_ns, char out[CLI_TIME_SIZE]);

/* A table printed like `sqlite3 -column`: a header line, a line of dashes,
 * then one line per row, columns two spaces apart, each as wide as its
 * widest cell, blanks at the end of a line left out. Cells are copied when
 * added and made safe for a terminal: control characters become \n, \t, \r,
 * \xHH (other C0, DEL) or \uHHHH (C1), bytes that are not UTF-8 become \xHH,
 * and a cell longer than CLI_CELL_MAX characters is cut to that length, its
 * last three "...". Widths count characters (code points). */
#define CLI_CELL_MAX 160
#define CLI_TABLE_MAX_COLS 16

typedef struct cli_table cli_table;

enum { CLI_LEFT = 0, CLI_RIGHT = 1 };

typedef struct cli_column {
    const char *name;             /* the header; copied */
    int align;                    /* CLI_LEFT or CLI_RIGHT */
} cli_column;

/* A table of n (1 .. CLI_TABLE_MAX_COLS) columns; free it with cli_table_free. */
int cli_table_new(const cli_column *cols, size_t n, cli_table **out);
/* Appends a row of as many cells as the table has columns; a NULL cell is
 * empty. Nothing is appended on failure (out of memory). */
int cli_table_add(cli_table *t, const char *const *cells);
size_t cli_table_rows(const cli_table *t);
/* Appends the whole table, header included, to out. */
int cli_table_render(const cli_table *t, buf_t *out);
/* NULL is fine. */
void cli_table_free(cli_table *t);

#endif
