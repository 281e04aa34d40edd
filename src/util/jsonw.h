/* jsonw: the compact JSON text of a jansson value, appended straight to a
 * buf_t. The same bytes as json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY),
 * without its intermediate string, its copy and its table of parents. */
#ifndef CRUDDUR_UTIL_JSONW_H
#define CRUDDUR_UTIL_JSONW_H

#include <jansson.h>

#include "util/buf.h"

/* Containers nested deeper than this are refused (this also stops a value
 * that contains itself, which json_dumps refuses too). */
#define JSONW_MAX_DEPTH 2048

/* Appends j (borrowed) to out: objects in insertion order, "," and ":" with
 * no spaces, strings with '"', '\\' and control characters escaped as
 * jansson escapes them and everything else, non-ASCII included, as it is.
 * Returns 0, or -1 (a string that is not UTF-8, a NULL value, nesting past
 * JSONW_MAX_DEPTH, no memory) with out as it was. */
int jsonw_append(buf_t *out, const json_t *j);

#endif
