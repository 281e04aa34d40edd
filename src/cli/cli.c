/* cli: argument parsing and column output for cruddur-spool (see cli.h). */
#include "cli/cli.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "telemetry/traceid.h"
#include "util/tstamp.h"
#include "util/utf8.h"

/* ---- arguments ------------------------------------------------------------ */

int cli_parse_duration(const char *s, int64_t *ns)
{
    if (s == NULL)
        return -1;
    size_t len = strnlen(s, CLI_DURATION_MAX_LEN + 1);
    if (len < 2 || len > CLI_DURATION_MAX_LEN)
        return -1;
    int64_t v = 0;
    size_t i = 0;
    for (; i < len - 1; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
        if (v > CLI_DURATION_MAX_S)
            return -1;
    }
    int64_t unit;
    switch (s[i]) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    default: return -1;
    }
    if (v == 0 || v > CLI_DURATION_MAX_S / unit)
        return -1;
    *ns = v * unit * 1000000000LL;
    return 0;
}

int cli_trace_id(const char *s, char out[33])
{
    uint8_t id[TRACEID_SIZE];
    if (s == NULL)
        return -1;
    size_t len = strnlen(s, TRACEID_XRAY_LEN + 1);
    if (len == 2 * TRACEID_SIZE) {
        if (traceid_from_hex(s, TRACEID_SIZE, true, id) != 0 ||
            traceid_is_zero(id, TRACEID_SIZE))
            return -1;
    } else if (len == TRACEID_XRAY_LEN) {
        if (traceid_from_xray(s, len, id) != 0)
            return -1;
    } else {
        return -1;
    }
    traceid_to_hex(id, TRACEID_SIZE, out);
    return 0;
}

int cli_parse_count(const char *s, long lo, long hi, long *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    long v = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
        if (v > hi)
            return -1;
    }
    if (v < lo)
        return -1;
    *out = v;
    return 0;
}

/* ---- output ---------------------------------------------------------------- */

int cli_time_utc(int64_t unix_ns, char out[CLI_TIME_SIZE])
{
    char iso[TSTAMP_ISO_SIZE];
    /* to the nearest millisecond, as SQLite's strftime does */
    int64_t ms = unix_ns / 1000000, rest = unix_ns % 1000000;
    if (rest < 0) {
        ms--;
        rest += 1000000;
    }
    if (rest >= 500000)
        ms++;
    out[0] = '\0';
    if (tstamp_iso8601(ms * 1000, iso) != 0)
        return -1;
    /* "YYYY-MM-DDTHH:MM:SS.mmm" of "...SS.ffffff+00:00", then "Z" */
    memcpy(out, iso, 23);
    out[23] = 'Z';
    out[24] = '\0';
    return 0;
}

typedef struct cli_cell {
    size_t off, len;              /* in cli_table.text */
    size_t width;                 /* characters */
} cli_cell;

struct cli_table {
    size_t ncols;
    int align[CLI_TABLE_MAX_COLS];
    size_t width[CLI_TABLE_MAX_COLS];
    buf_t text;                   /* every cell's text, one after another */
    cli_cell *cells;              /* header row first, then the rows */
    size_t ncells, cap;
};

#define ESC_SIZE 8

/* The next piece of s[i..len) as printed: one character, or the escape of a
 * control character (C0, DEL, C1: a terminal would act on it) or of a byte
 * that is not UTF-8 (into esc). Returns the bytes of s it takes. */
static size_t next_piece(const char *s, size_t len, size_t i, char esc[ESC_SIZE],
                         const char **piece, size_t *plen)
{
    unsigned char c = (unsigned char)s[i];
    uint32_t cp = 0;
    size_t k = utf8_decode(s + i, len - i, &cp);
    if (k != 0 && cp >= 0x20 && cp != 0x7f && (cp < 0x80 || cp > 0x9f)) {
        *piece = s + i;
        *plen = k;
        return k;
    }
    if (k != 0 && cp >= 0x80) {
        snprintf(esc, ESC_SIZE, "\\u%04x", (unsigned)cp);
        *piece = esc;
        *plen = strlen(esc);
        return k;
    }
    if (c == '\n')
        memcpy(esc, "\\n", 3);
    else if (c == '\t')
        memcpy(esc, "\\t", 3);
    else if (c == '\r')
        memcpy(esc, "\\r", 3);
    else
        snprintf(esc, ESC_SIZE, "\\x%02x", c);
    *piece = esc;
    *plen = strlen(esc);
    return 1;
}

/* Characters a piece takes on screen: an escape is ASCII, a character one. */
static size_t piece_width(const char *piece, size_t plen, const char *esc)
{
    return piece == esc ? plen : 1;
}

/* Appends s, made safe (see cli.h), to b; *width = its characters. */
static int put_safe(buf_t *b, const char *s, size_t *width)
{
    size_t len = strlen(s), total = 0, w = 0;
    char esc[ESC_SIZE];
    const char *piece;
    size_t plen;
    for (size_t i = 0; i < len && total <= CLI_CELL_MAX;) {
        i += next_piece(s, len, i, esc, &piece, &plen);
        total += piece_width(piece, plen, esc);
    }
    size_t room = total <= CLI_CELL_MAX ? CLI_CELL_MAX : CLI_CELL_MAX - 3;
    for (size_t i = 0; i < len;) {
        size_t k = next_piece(s, len, i, esc, &piece, &plen);
        size_t pw = piece_width(piece, plen, esc);
        if (w + pw > room)
            break;
        if (buf_append(b, piece, plen) != 0)
            return -1;
        w += pw;
        i += k;
    }
    if (total > CLI_CELL_MAX) {
        if (buf_puts(b, "...") != 0)
            return -1;
        w += 3;
    }
    *width = w;
    return 0;
}

static int add_cells(cli_table *t, const char *const *cells)
{
    if (t->ncells + t->ncols > t->cap) {
        size_t cap = t->cap != 0 ? 2 * t->cap : 16 * t->ncols;
        cli_cell *c = realloc(t->cells, cap * sizeof *c);
        if (c == NULL)
            return -1;
        t->cells = c;
        t->cap = cap;
    }
    size_t mark = t->text.len;
    cli_cell row[CLI_TABLE_MAX_COLS];
    for (size_t i = 0; i < t->ncols; i++) {
        row[i].off = t->text.len;
        if (put_safe(&t->text, cells[i] != NULL ? cells[i] : "", &row[i].width) != 0) {
            t->text.len = mark;             /* leave nothing half-added */
            if (t->text.data != NULL)
                t->text.data[mark] = '\0';
            return -1;
        }
        row[i].len = t->text.len - row[i].off;
    }
    for (size_t i = 0; i < t->ncols; i++) {
        if (row[i].width > t->width[i])
            t->width[i] = row[i].width;
        t->cells[t->ncells++] = row[i];
    }
    return 0;
}

int cli_table_new(const cli_column *cols, size_t n, cli_table **out)
{
    if (cols == NULL || n == 0 || n > CLI_TABLE_MAX_COLS || out == NULL)
        return -1;
    cli_table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return -1;
    t->ncols = n;
    const char *names[CLI_TABLE_MAX_COLS];
    for (size_t i = 0; i < n; i++) {
        t->align[i] = cols[i].align == CLI_RIGHT ? CLI_RIGHT : CLI_LEFT;
        names[i] = cols[i].name;
    }
    if (add_cells(t, names) != 0) {
        cli_table_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int cli_table_add(cli_table *t, const char *const *cells)
{
    if (t == NULL || cells == NULL)
        return -1;
    return add_cells(t, cells);
}

size_t cli_table_rows(const cli_table *t)
{
    return t != NULL ? t->ncells / t->ncols - 1 : 0;
}

static int pad(buf_t *b, size_t n, char c)
{
    if (buf_reserve(b, n) != 0)
        return -1;
    memset(b->data + b->len, c, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

/* One line: cells[0..ncols), or dashes when cells is NULL. */
static int render_line(const cli_table *t, const cli_cell *cells, buf_t *b)
{
    /* trailing blanks are dropped: the last non-empty cell ends the line */
    size_t last = t->ncols;
    if (cells != NULL) {
        while (last > 0 && cells[last - 1].len == 0)
            last--;
    }
    for (size_t i = 0; i < last; i++) {
        size_t w = t->width[i];
        if (i > 0 && pad(b, 2, ' ') != 0)
            return -1;
        if (cells == NULL) {
            if (pad(b, w, '-') != 0)
                return -1;
            continue;
        }
        const cli_cell *c = &cells[i];
        size_t fill = w - c->width;
        int right = t->align[i] == CLI_RIGHT;
        if (right && pad(b, fill, ' ') != 0)
            return -1;
        if (c->len > 0 && buf_append(b, t->text.data + c->off, c->len) != 0)
            return -1;
        if (!right && i + 1 < last && pad(b, fill, ' ') != 0)
            return -1;
    }
    return buf_putc(b, '\n');
}

int cli_table_render(const cli_table *t, buf_t *out)
{
    if (t == NULL || out == NULL)
        return -1;
    size_t mark = out->len;
    int rc = render_line(t, t->cells, out);
    if (rc == 0)
        rc = render_line(t, NULL, out);
    for (size_t r = t->ncols; rc == 0 && r < t->ncells; r += t->ncols)
        rc = render_line(t, t->cells + r, out);
    if (rc != 0 && out->data != NULL) {
        out->len = mark;
        out->data[mark] = '\0';
    }
    return rc;
}

void cli_table_free(cli_table *t)
{
    if (t == NULL)
        return;
    buf_free(&t->text);
    free(t->cells);
    free(t);
}
