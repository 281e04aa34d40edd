/* buf: a growable byte buffer, always NUL-terminated, used to build response
 * bodies and serialized output. */
#ifndef CRUDDUR_UTIL_BUF_H
#define CRUDDUR_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char *data;   /* NULL until the first append; else NUL-terminated */
    size_t len;   /* bytes used, not counting the terminating NUL */
    size_t cap;   /* bytes allocated */
} buf_t;

#define BUF_INIT {NULL, 0, 0}

/* All appenders return 0, or -1 on allocation failure leaving the buffer as it
 * was. */
int buf_reserve(buf_t *b, size_t extra);
int buf_append(buf_t *b, const void *data, size_t len);
int buf_puts(buf_t *b, const char *s);
int buf_putc(buf_t *b, char c);
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf_t *b, const char *fmt, va_list ap);

/* Empties the buffer but keeps its memory for reuse. */
void buf_reset(buf_t *b);
/* Releases the memory; the buffer is empty and reusable afterwards. */
void buf_free(buf_t *b);
/* Hands the data to the caller (free() it) and leaves the buffer empty.
 * Never NULL unless allocation failed: an empty buffer yields "". */
char *buf_steal(buf_t *b);

#endif
