/* validate: the input rules of API.md as pure functions (no database), so
 * the services and the tests share one definition of each validation code,
 * of the ttl table and of what a handle and a mention are. */
#ifndef CRUDDUR_APP_VALIDATE_H
#define CRUDDUR_APP_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* Limits, in Unicode code points (API.md). */
#define VALIDATE_ACTIVITY_MAX_CHARS 280
#define VALIDATE_REPLY_MAX_CHARS 1024
#define VALIDATE_MESSAGE_MAX_CHARS 1024
/* Handles are 1..64 bytes of ASCII letters, digits and '_'. */
#define VALIDATE_HANDLE_MAX 64

/* The validation codes (misspellings included: they are the contract). */
#define VALIDATE_MESSAGE_BLANK "message_blank"
#define VALIDATE_MESSAGE_TOO_LONG "message_exceed_max_chars"
#define VALIDATE_TTL_BLANK "ttl_blank"
#define VALIDATE_RECEIVER_BLANK "user_reciever_handle_blank"
#define VALIDATE_USER_HANDLE_BLANK "blank_user_handle"
#define VALIDATE_SEARCH_TERM_BLANK "search_term_blank"

#define VALIDATE_MAX_CODES 4

/* The codes that apply, in the order of API.md's table. The strings are
 * the static constants above (nothing to free). */
typedef struct validate_codes {
    const char *code[VALIDATE_MAX_CODES];
    size_t n;
} validate_codes;

/* The codes as a new JSON array (the 422 body), NULL when out of memory. */
json_t *validate_codes_json(const validate_codes *v);

/* Adds message_blank (msg NULL, empty or only white space) or
 * message_exceed_max_chars (over max_chars code points). Text that is not
 * UTF-8 counts as blank (JSON parsing already refuses it). */
void validate_message(const char *msg, size_t len, long max_chars, validate_codes *out);

/* Seconds for a ttl name ("7-days"), or -1 when ttl is NULL or not one of
 * the seven names of API.md. */
int64_t validate_ttl_seconds(const char *ttl, size_t len);

/* POST /api/activities: message then ttl. *ttl_seconds is set when the ttl
 * is valid. NULL stands for a field that is missing or not a string. */
void validate_activity(const char *msg, size_t msg_len, const char *ttl, size_t ttl_len,
                       validate_codes *out, int64_t *ttl_seconds);

/* POST /api/activities/{uuid}/reply. */
void validate_reply(const char *msg, size_t msg_len, validate_codes *out);

/* POST /api/messages: receiver handle then message. */
void validate_new_message(const char *receiver, size_t receiver_len, const char *msg,
                          size_t msg_len, validate_codes *out);

/* True for text that is empty or only white space; NULL counts as blank. */
bool validate_blank(const char *s, size_t len);

/* True for a well-formed handle (1..VALIDATE_HANDLE_MAX handle characters). */
bool validate_handle(const char *h, size_t len);
bool validate_is_handle_char(unsigned char c);

/* True if msg mentions "@handle": case-insensitive, and a whole handle
 * (neither the '@' nor the end of the handle touches another handle
 * character, so "@andrewbrownx" and "me@andrewbrown" do not count). */
bool validate_mentions(const char *msg, size_t len, const char *handle, size_t handle_len);

#endif
