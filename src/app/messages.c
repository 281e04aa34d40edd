/* messages: direct messages between two people. A message_groups row is
 * one pair's conversation (the pair stored in uuid order, so one group per
 * pair); handlers call these services with the request's svc_ctx. */
#include "app/messages.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "app/validate.h"
#include "util/tstamp.h"
#include "util/uuid.h"

/* Statement slots 20..29 belong to this file. */

/* Both people of a conversation in one statement; the last column says
 * which row is the acting user (?1). */
static const app_query q_pair = {
    20, "SELECT", "users",
    "SELECT uuid, display_name, handle, handle = ?1 FROM users WHERE handle IN (?1, ?2)"};

/* The acting user is user_a or user_b of a group: one index lookup each. */
static const app_query q_groups = {
    21, "SELECT", "message_groups",
    "WITH me AS (SELECT uuid FROM users WHERE handle = ?1),"
    " mine(uuid, other_uuid, updated_at_us) AS ("
    "  SELECT g.uuid, g.user_b_uuid, g.updated_at_us"
    "   FROM me JOIN message_groups AS g ON g.user_a_uuid = me.uuid"
    "  UNION ALL"
    "  SELECT g.uuid, g.user_a_uuid, g.updated_at_us"
    "   FROM me JOIN message_groups AS g ON g.user_b_uuid = me.uuid)"
    " SELECT mine.uuid, o.display_name, o.handle, m.message, m.created_at_us"
    " FROM mine JOIN users AS o ON o.uuid = mine.other_uuid"
    " JOIN messages AS m ON m.id = (SELECT id FROM messages WHERE message_group_uuid = mine.uuid"
    "   ORDER BY created_at_us DESC, id DESC LIMIT 1)"
    " ORDER BY mine.updated_at_us DESC, m.created_at_us DESC, mine.uuid LIMIT ?2"};

/* The latest ?3 messages of the pair (?1, ?2), given oldest first. */
static const app_query q_conversation = {
    22, "SELECT", "messages",
    "SELECT uuid, display_name, handle, message, created_at_us FROM ("
    " SELECT m.id, m.uuid, s.display_name, s.handle, m.message, m.created_at_us"
    " FROM message_groups AS g JOIN messages AS m ON m.message_group_uuid = g.uuid"
    " JOIN users AS s ON s.uuid = m.user_uuid"
    " WHERE g.user_a_uuid = ?1 AND g.user_b_uuid = ?2"
    " ORDER BY m.created_at_us DESC, m.id DESC LIMIT ?3)"
    " ORDER BY created_at_us, id"};

/* Creates the pair's group, or marks it updated; either way gives its uuid. */
static const app_query q_group_upsert = {
    23, "INSERT", "message_groups",
    "INSERT INTO message_groups (uuid, user_a_uuid, user_b_uuid, updated_at_us)"
    " VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT (user_a_uuid, user_b_uuid)"
    " DO UPDATE SET updated_at_us = max(updated_at_us, excluded.updated_at_us)"
    " RETURNING uuid"};

static const app_query q_insert = {
    24, "INSERT", "messages",
    "INSERT INTO messages (uuid, message_group_uuid, user_uuid, message, created_at_us)"
    " VALUES (?1, ?2, ?3, ?4, ?5)"};

#define SET(o, key, value) json_object_set_new_nocheck((o), (key), (value))

/* {"uuid", "display_name", "handle", "message", "created_at"}: the shape of
 * both Message and MessageGroup. Takes the references it is given. */
static json_t *message_json(json_t *uuid, json_t *display_name, json_t *handle,
                            json_t *message, int64_t created_us)
{
    json_t *o = json_object();
    if (o == NULL) {
        json_decref(uuid);
        json_decref(display_name);
        json_decref(handle);
        json_decref(message);
        return NULL;
    }
    /* Each value is taken, also when setting it fails. */
    int failed = SET(o, "uuid", uuid) != 0;
    failed |= SET(o, "display_name", display_name) != 0;
    failed |= SET(o, "handle", handle) != 0;
    failed |= SET(o, "message", message) != 0;
    failed |= SET(o, "created_at", svc_json_time(created_us)) != 0;
    if (failed) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Steps a bound statement whose columns are uuid, display_name, handle,
 * message, created_at_us into an array. Ends the statement. */
static svc_status read_list(svc_ctx *c, sqlite3_stmt *st, json_t **out)
{
    json_t *a = json_array();
    int rc = SQLITE_NOMEM;
    bool oom = a == NULL;
    if (!oom) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            json_t *o = message_json(svc_json_column(st, 0), svc_json_column(st, 1), svc_json_column(st, 2),
                                     svc_json_column(st, 3), sqlite3_column_int64(st, 4));
            if (o == NULL || json_array_append_new(a, o) != 0) {
                oom = true;
                break;
            }
        }
    }
    svc_status s = svc_from_db(app_db_end(c->db, st, oom ? SQLITE_OK : rc));
    if (s == SVC_OK && oom)
        s = SVC_ERROR;
    if (s != SVC_OK) {
        json_decref(a);
        return s;
    }
    *out = a;
    return SVC_OK;
}

svc_status messages_groups(svc_ctx *c, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = app_db_begin(c->db, &q_groups);
    if (st == NULL)
        return svc_from_db(app_db_end(c->db, NULL, SQLITE_ERROR));
    sqlite3_bind_text(st, 1, c->user_handle, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, MESSAGES_GROUPS_MAX);
    return read_list(c, st, out);
}

typedef struct person {
    bool found;
    char uuid[UUID_STR_SIZE];
    json_t *display_name;   /* new references, or NULL */
    json_t *handle;
} person;

static void person_clear(person *p)
{
    json_decref(p->display_name);
    json_decref(p->handle);
    memset(p, 0, sizeof *p);
}

/* Looks up the acting user (me) and other (which may be the same handle). */
static svc_status find_pair(svc_ctx *c, const char *other_handle, person *me, person *other)
{
    memset(me, 0, sizeof *me);
    memset(other, 0, sizeof *other);
    bool same = strcasecmp(other_handle, c->user_handle) == 0;
    sqlite3_stmt *st = app_db_begin(c->db, &q_pair);
    int rc = SQLITE_ERROR;
    bool oom = false;
    if (st != NULL) {
        sqlite3_bind_text(st, 1, c->user_handle, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, other_handle, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *id = (const char *)sqlite3_column_text(st, 0);
            if (id == NULL || strlen(id) >= UUID_STR_SIZE)
                continue;
            person *p = sqlite3_column_int(st, 3) ? me : other;
            p->found = true;
            strcpy(p->uuid, id);
            p->display_name = svc_json_column(st, 1);
            p->handle = svc_json_column(st, 2);
            oom |= p->display_name == NULL || p->handle == NULL;
        }
    }
    svc_status s = svc_from_db(app_db_end(c->db, st, rc));
    if (s == SVC_OK && oom)
        s = SVC_ERROR;
    if (s == SVC_OK && same && me->found) {
        other->found = true;
        strcpy(other->uuid, me->uuid);
    }
    if (s != SVC_OK) {
        person_clear(me);
        person_clear(other);
    }
    return s;
}

svc_status messages_with(svc_ctx *c, const char *handle, json_t **out)
{
    *out = NULL;
    if (handle == NULL || handle[0] == '\0' || strlen(handle) > VALIDATE_HANDLE_MAX)
        return SVC_NOT_FOUND;
    person me, other;
    svc_status s = find_pair(c, handle, &me, &other);
    if (s != SVC_OK)
        return s;
    if (!other.found) {
        s = SVC_NOT_FOUND;
    } else if (!me.found || strcmp(me.uuid, other.uuid) == 0) {
        /* Nobody has a conversation with themselves. */
        *out = json_array();
        s = *out != NULL ? SVC_OK : SVC_ERROR;
    } else {
        bool me_first = strcmp(me.uuid, other.uuid) < 0;
        sqlite3_stmt *st = app_db_begin(c->db, &q_conversation);
        if (st == NULL) {
            s = svc_from_db(app_db_end(c->db, NULL, SQLITE_ERROR));
        } else {
            sqlite3_bind_text(st, 1, me_first ? me.uuid : other.uuid, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, me_first ? other.uuid : me.uuid, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 3, MESSAGES_CONVERSATION_MAX);
            s = read_list(c, st, out);
        }
    }
    person_clear(&me);
    person_clear(&other);
    return s;
}

static const char *field(const json_t *body, const char *name, size_t *len)
{
    const json_t *v = json_is_object(body) ? json_object_get(body, name) : NULL;
    if (!json_is_string(v)) {
        *len = 0;
        return NULL;
    }
    *len = json_string_length(v);
    return json_string_value(v);
}

/* Creates the group if needed and gives its uuid. */
static svc_status upsert_group(svc_ctx *c, const person *me, const person *other,
                               char group[UUID_STR_SIZE])
{
    bool me_first = strcmp(me->uuid, other->uuid) < 0;
    char fresh[UUID_STR_SIZE];
    uuid_v4(c->rng, fresh);
    sqlite3_stmt *st = app_db_begin(c->db, &q_group_upsert);
    int rc = SQLITE_ERROR;
    bool found = false;
    if (st != NULL) {
        sqlite3_bind_text(st, 1, fresh, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, me_first ? me->uuid : other->uuid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, me_first ? other->uuid : me->uuid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, c->now_us);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *id = (const char *)sqlite3_column_text(st, 0);
            if (id != NULL && strlen(id) < UUID_STR_SIZE) {
                strcpy(group, id);
                found = true;
            }
        }
    }
    svc_status s = svc_from_db(app_db_end(c->db, st, rc));
    if (s == SVC_OK && !found)
        s = SVC_ERROR;
    return s;
}

static svc_status insert_message(svc_ctx *c, const char *id, const char *group,
                                 const char *user_uuid, const char *msg, size_t msg_len)
{
    sqlite3_stmt *st = app_db_begin(c->db, &q_insert);
    int rc = SQLITE_ERROR;
    if (st != NULL) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, group, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, user_uuid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, msg, (int)msg_len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, c->now_us);
        rc = sqlite3_step(st);
    }
    return svc_from_db(app_db_end(c->db, st, rc));
}

svc_status messages_create(svc_ctx *c, const json_t *body, json_t **out)
{
    *out = NULL;
    size_t to_len, msg_len;
    const char *to = field(body, "user_receiver_handle", &to_len);
    const char *msg = field(body, "message", &msg_len);
    /* A conversation is between two people: a message to oneself has no
     * receiver, and the contract's code for that field is the blank one. */
    if (to != NULL && strlen(to) == to_len && strcasecmp(to, c->user_handle) == 0)
        to = NULL;
    validate_codes v = {{NULL}, 0};
    validate_new_message(to, to_len, msg, msg_len, &v);
    if (v.n > 0) {
        *out = validate_codes_json(&v);
        return *out != NULL ? SVC_INVALID : SVC_ERROR;
    }
    /* No such handle can exist (and a handle with a NUL byte cannot be bound). */
    if (to_len > VALIDATE_HANDLE_MAX || strlen(to) != to_len)
        return SVC_NOT_FOUND;
    if (msg_len > (size_t)1 << 30)
        return SVC_ERROR;

    svc_status s = svc_from_db(app_db_tx_begin(c->db));
    if (s != SVC_OK)
        return s;
    person me, other;
    char group[UUID_STR_SIZE], id[UUID_STR_SIZE];
    s = find_pair(c, to, &me, &other);
    if (s == SVC_OK && !other.found)
        s = SVC_NOT_FOUND;
    if (s == SVC_OK && !me.found) {
        fprintf(stderr, "cruddur-api: the acting user '%s' (CRUDDUR_USER_HANDLE) is not in the database\n",
                c->user_handle);
        s = SVC_ERROR;
    }
    if (s == SVC_OK)
        s = upsert_group(c, &me, &other, group);
    if (s == SVC_OK) {
        uuid_v4(c->rng, id);
        s = insert_message(c, id, group, me.uuid, msg, msg_len);
    }
    if (s == SVC_OK)
        s = svc_from_db(app_db_tx_commit(c->db));
    else
        app_db_tx_rollback(c->db);
    if (s == SVC_OK) {
        *out = message_json(json_string(id), json_incref(me.display_name), json_incref(me.handle),
                            json_stringn(msg, msg_len), c->now_us);
        if (*out == NULL)
            s = SVC_ERROR;
    }
    person_clear(&me);
    person_clear(&other);
    return s;
}
