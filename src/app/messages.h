/* messages: the direct-message services behind /api/message_groups and
 * /api/messages. Same conventions as activities.h: a svc_status, and in
 * *out a new JSON reference (the answer, or the validation codes on
 * SVC_INVALID, else NULL) that the caller must json_decref. */
#ifndef CRUDDUR_APP_MESSAGES_H
#define CRUDDUR_APP_MESSAGES_H

#include <jansson.h>
#include "app/service.h"

/* Most groups, and most messages of one conversation, an answer holds. */
#define MESSAGES_GROUPS_MAX 100
#define MESSAGES_CONVERSATION_MAX 200

/* The acting user's conversations, latest first: MessageGroup[] naming the
 * other person, with the last message and its time. */
svc_status messages_groups(svc_ctx *c, json_t **out);

/* The conversation with handle, oldest first (its latest
 * MESSAGES_CONVERSATION_MAX messages): Message[]; SVC_NOT_FOUND for an
 * unknown handle. */
svc_status messages_with(svc_ctx *c, const char *handle, json_t **out);

/* POST /api/messages {"user_receiver_handle", "message"}: the new Message,
 * its group created on the first message, all in one transaction.
 * SVC_NOT_FOUND for an unknown receiver. */
svc_status messages_create(svc_ctx *c, const json_t *body, json_t **out);

#endif
