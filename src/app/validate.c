/* validate: API.md's input rules as pure functions. The services call these
 * on the parsed JSON body before touching the database, and turn the codes
 * into a 422 answer. */
#include "app/validate.h"

#include <string.h>
#include <strings.h>

#include "util/utf8.h"

static void add(validate_codes *out, const char *code)
{
    if (out->n < VALIDATE_MAX_CODES)
        out->code[out->n++] = code;
}

json_t *validate_codes_json(const validate_codes *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < v->n; i++) {
        if (json_array_append_new(a, json_string(v->code[i])) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

bool validate_blank(const char *s, size_t len)
{
    return s == NULL || utf8_is_blank(s, len);
}

void validate_message(const char *msg, size_t len, long max_chars, validate_codes *out)
{
    if (validate_blank(msg, len)) {
        add(out, VALIDATE_MESSAGE_BLANK);
        return;
    }
    long n = utf8_count(msg, len);
    if (n < 0)
        add(out, VALIDATE_MESSAGE_BLANK);
    else if (n > max_chars)
        add(out, VALIDATE_MESSAGE_TOO_LONG);
}

static const struct {
    const char *name;
    int64_t seconds;
} ttl_table[] = {
    {"30-days", 30 * 86400},
    {"7-days", 7 * 86400},
    {"3-days", 3 * 86400},
    {"1-day", 86400},
    {"12-hours", 12 * 3600},
    {"3-hours", 3 * 3600},
    {"1-hour", 3600},
};

int64_t validate_ttl_seconds(const char *ttl, size_t len)
{
    if (ttl == NULL)
        return -1;
    for (size_t i = 0; i < sizeof ttl_table / sizeof ttl_table[0]; i++) {
        if (strlen(ttl_table[i].name) == len && memcmp(ttl_table[i].name, ttl, len) == 0)
            return ttl_table[i].seconds;
    }
    return -1;
}

void validate_activity(const char *msg, size_t msg_len, const char *ttl, size_t ttl_len,
                       validate_codes *out, int64_t *ttl_seconds)
{
    validate_message(msg, msg_len, VALIDATE_ACTIVITY_MAX_CHARS, out);
    int64_t s = validate_ttl_seconds(ttl, ttl_len);
    if (s < 0)
        add(out, VALIDATE_TTL_BLANK);
    else
        *ttl_seconds = s;
}

void validate_reply(const char *msg, size_t msg_len, validate_codes *out)
{
    validate_message(msg, msg_len, VALIDATE_REPLY_MAX_CHARS, out);
}

void validate_new_message(const char *receiver, size_t receiver_len, const char *msg,
                          size_t msg_len, validate_codes *out)
{
    if (validate_blank(receiver, receiver_len))
        add(out, VALIDATE_RECEIVER_BLANK);
    validate_message(msg, msg_len, VALIDATE_MESSAGE_MAX_CHARS, out);
}

bool validate_is_handle_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

bool validate_handle(const char *h, size_t len)
{
    if (h == NULL || len == 0 || len > VALIDATE_HANDLE_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!validate_is_handle_char((unsigned char)h[i]))
            return false;
    }
    return true;
}

bool validate_mentions(const char *msg, size_t len, const char *handle, size_t handle_len)
{
    if (msg == NULL || handle == NULL || handle_len == 0 || len < handle_len + 1)
        return false;
    for (size_t i = 0; i + handle_len < len; i++) {
        if (msg[i] != '@')
            continue;
        if (i > 0 && validate_is_handle_char((unsigned char)msg[i - 1]))
            continue;
        size_t end = i + 1 + handle_len;
        if (strncasecmp(msg + i + 1, handle, handle_len) != 0)
            continue;
        if (end < len && validate_is_handle_char((unsigned char)msg[end]))
            continue;
        return true;
    }
    return false;
}
