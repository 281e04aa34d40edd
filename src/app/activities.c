/* activities: the activity services. Handlers call them with the request's
 * svc_ctx; they run a few cached statements through app_db and build the
 * JSON answer. A list is one statement whatever its length: the activities
 * joined with all their replies (never one query per activity), which also
 * reads them all from one snapshot. */
#include "app/activities.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/validate.h"
#include "util/buf.h"
#include "util/tstamp.h"
#include "util/uuid.h"

/* Statement slots 0..19 belong to this file.
 *
 * A list query is WITH_REPLIES(ctes, inner, order): inner selects the page
 * of activities (ACTIVITY_COLUMNS, plus whatever order needs) into "top";
 * the outer query adds each one's replies, oldest first, keeping the page's
 * order. Its columns are those read by read_list. */
#define ACTIVITY_COLUMNS                                                                   \
    "a.id, a.uuid, u.display_name, u.handle, a.message, a.likes_count, a.replies_count," \
    " a.reposts_count, a.created_at_us, a.expires_at_us"

#define WITH_REPLIES(ctes, inner, order)                                                 \
    "WITH " ctes " top AS (" inner ")"                                                   \
    " SELECT top.uuid, top.display_name, top.handle, top.message, top.likes_count,"      \
    " top.replies_count, top.reposts_count, top.created_at_us, top.expires_at_us,"       \
    " r.uuid, ru.display_name, ru.handle, r.message, r.likes_count, r.replies_count,"    \
    " r.reposts_count, r.created_at_us"                                                  \
    " FROM top LEFT JOIN activities AS r ON r.reply_to_activity_uuid = top.uuid"         \
    " LEFT JOIN users AS ru ON ru.uuid = r.user_uuid"                                    \
    " ORDER BY " order ", r.created_at_us, r.id"

#define NEWEST_FIRST "top.created_at_us DESC, top.id DESC"

static const app_query q_home = {
    0, "SELECT", "activities",
    WITH_REPLIES("",
                 "SELECT " ACTIVITY_COLUMNS
                 " FROM activities AS a JOIN users AS u ON u.uuid = a.user_uuid"
                 " WHERE a.reply_to_activity_uuid IS NULL AND a.expires_at_us > ?1"
                 " ORDER BY a.created_at_us DESC, a.id DESC LIMIT ?2",
                 NEWEST_FIRST)};

/* Candidates come from the indexes (replies to the user's activities, and
 * full-text hits on the handle); cruddur_mentions then keeps only real
 * "@handle" mentions. ?1 handle, ?2 handle as an FTS query, ?3 now, ?4 limit. */
static const app_query q_notifications = {
    1, "SELECT", "activities",
    WITH_REPLIES("me AS (SELECT uuid FROM users WHERE handle = ?1),"
                 " hits(id) AS ("
                 "  SELECT r.id FROM me"
                 "   JOIN activities AS p ON p.user_uuid = me.uuid AND p.expires_at_us > ?3"
                 "   JOIN activities AS r ON r.reply_to_activity_uuid = p.uuid"
                 "  UNION"
                 "  SELECT f.rowid FROM activities_fts AS f JOIN activities AS m ON m.id = f.rowid"
                 "   WHERE activities_fts MATCH ?2 AND cruddur_mentions(m.message, ?1)),",
                 "SELECT " ACTIVITY_COLUMNS
                 " FROM hits JOIN activities AS a ON a.id = hits.id"
                 " JOIN users AS u ON u.uuid = a.user_uuid"
                 " WHERE a.expires_at_us > ?3 AND a.user_uuid NOT IN (SELECT uuid FROM me)"
                 " ORDER BY a.created_at_us DESC, a.id DESC LIMIT ?4",
                 NEWEST_FIRST)};

static const app_query q_user_activities = {
    2, "SELECT", "activities",
    WITH_REPLIES("",
                 "SELECT " ACTIVITY_COLUMNS
                 " FROM users AS u JOIN activities AS a ON a.user_uuid = u.uuid"
                 " WHERE u.handle = ?1 AND a.reply_to_activity_uuid IS NULL"
                 " AND a.expires_at_us > ?2"
                 " ORDER BY a.created_at_us DESC, a.id DESC LIMIT ?3",
                 NEWEST_FIRST)};

static const app_query q_user = {
    3, "SELECT", "users", "SELECT uuid, display_name, handle FROM users WHERE handle = ?1"};

/* Best match first (bm25 is lower for a better match). */
static const app_query q_search = {
    4, "SELECT", "activities",
    WITH_REPLIES("",
                 "SELECT " ACTIVITY_COLUMNS ", bm25(activities_fts) AS rank"
                 " FROM activities_fts AS f JOIN activities AS a ON a.id = f.rowid"
                 " JOIN users AS u ON u.uuid = a.user_uuid"
                 " WHERE activities_fts MATCH ?1 AND a.expires_at_us > ?2"
                 " ORDER BY rank, a.created_at_us DESC, a.id DESC LIMIT ?3",
                 "top.rank, " NEWEST_FIRST)};

static const app_query q_show = {
    5, "SELECT", "activities",
    WITH_REPLIES("",
                 "SELECT " ACTIVITY_COLUMNS
                 " FROM activities AS a JOIN users AS u ON u.uuid = a.user_uuid"
                 " WHERE a.uuid = ?1 AND a.expires_at_us > ?2",
                 "top.id")};

static const app_query q_insert = {
    6, "INSERT", "activities",
    "INSERT INTO activities (uuid, user_uuid, message, reply_to_activity_uuid,"
    " expires_at_us, created_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"};

/* Counts the reply and tells whether the parent exists (unexpired), and
 * when the reply must expire, in one statement. */
static const app_query q_count_reply = {
    7, "UPDATE", "activities",
    "UPDATE activities SET replies_count = replies_count + 1"
    " WHERE uuid = ?1 AND expires_at_us > ?2 RETURNING expires_at_us"};

/* Keys are constant ASCII: no need to check them either. */
#define SET(o, key, value) json_object_set_new_nocheck((o), (key), (value))

/* An Activity from columns 0..8 of a list row, with an empty replies array
 * (also returned, borrowed, in *replies). */
static json_t *activity_from_row(sqlite3_stmt *st, json_t **replies)
{
    json_t *o = json_object();
    json_t *r = json_array();
    if (o == NULL || r == NULL || SET(o, "uuid", svc_json_column(st, 0)) != 0 ||
        SET(o, "display_name", svc_json_column(st, 1)) != 0 ||
        SET(o, "handle", svc_json_column(st, 2)) != 0 ||
        SET(o, "message", svc_json_column(st, 3)) != 0 ||
        SET(o, "likes_count", json_integer(sqlite3_column_int64(st, 4))) != 0 ||
        SET(o, "replies_count", json_integer(sqlite3_column_int64(st, 5))) != 0 ||
        SET(o, "reposts_count", json_integer(sqlite3_column_int64(st, 6))) != 0 ||
        SET(o, "created_at", svc_json_time(sqlite3_column_int64(st, 7))) != 0 ||
        SET(o, "expires_at", svc_json_time(sqlite3_column_int64(st, 8))) != 0 ||
        json_object_set_nocheck(o, "replies", r) != 0) {
        json_decref(o);
        json_decref(r);
        return NULL;
    }
    json_decref(r);   /* o holds it now */
    *replies = r;
    return o;
}

/* A Reply: like an Activity plus reply_to_activity_uuid, without
 * expires_at and replies. Takes the references it is given. */
static json_t *reply_json(json_t *uuid, json_t *parent, json_t *display_name, json_t *handle,
                          json_t *message, json_int_t likes, json_int_t replies,
                          json_int_t reposts, int64_t created_us)
{
    json_t *o = json_object();
    if (o == NULL) {
        json_decref(uuid);
        json_decref(parent);
        json_decref(display_name);
        json_decref(handle);
        json_decref(message);
        return NULL;
    }
    /* json_object_set_new takes each value, also when it fails. */
    int failed = SET(o, "uuid", uuid) != 0;
    failed |= SET(o, "reply_to_activity_uuid", parent) != 0;
    failed |= SET(o, "display_name", display_name) != 0;
    failed |= SET(o, "handle", handle) != 0;
    failed |= SET(o, "message", message) != 0;
    failed |= SET(o, "likes_count", json_integer(likes)) != 0;
    failed |= SET(o, "replies_count", json_integer(replies)) != 0;
    failed |= SET(o, "reposts_count", json_integer(reposts)) != 0;
    failed |= SET(o, "created_at", svc_json_time(created_us)) != 0;
    if (failed) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Steps a bound WITH_REPLIES statement into an array of activities: the
 * rows of one activity are adjacent, its replies in columns 9..16 (NULL
 * when it has none). Ends the statement in every case. */
static svc_status read_list(svc_ctx *c, sqlite3_stmt *st, json_t **out)
{
    json_t *list = json_array();
    json_t *cur = NULL, *replies = NULL, *cur_uuid = NULL;
    int rc = SQLITE_NOMEM;
    bool oom = list == NULL;
    while (!oom && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (id == NULL)
            continue;
        if (cur == NULL || strcmp(id, json_string_value(cur_uuid)) != 0) {
            cur = activity_from_row(st, &replies);
            if (cur == NULL || json_array_append_new(list, cur) != 0) {
                oom = true;
                break;
            }
            cur_uuid = json_object_get(cur, "uuid");
        }
        if (sqlite3_column_type(st, 9) == SQLITE_NULL)
            continue;
        json_t *r = reply_json(svc_json_column(st, 9), json_incref(cur_uuid), svc_json_column(st, 10),
                               svc_json_column(st, 11), svc_json_column(st, 12),
                               sqlite3_column_int64(st, 13), sqlite3_column_int64(st, 14),
                               sqlite3_column_int64(st, 15), sqlite3_column_int64(st, 16));
        if (r == NULL || json_array_append_new(replies, r) != 0)
            oom = true;
    }
    svc_status s = svc_from_db(app_db_end(c->db, st, oom ? SQLITE_OK : rc));
    if (s == SVC_OK && oom)
        s = SVC_ERROR;
    if (s != SVC_OK) {
        json_decref(list);
        return s;
    }
    *out = list;
    return SVC_OK;
}

static svc_status invalid(const char *code, json_t **out)
{
    validate_codes v = {{code}, 1};
    *out = validate_codes_json(&v);
    return *out != NULL ? SVC_INVALID : SVC_ERROR;
}

svc_status activities_home(svc_ctx *c, int limit, json_t **out)
{
    *out = NULL;
    if (limit < 1)
        limit = 1;
    if (limit > ACTIVITIES_LIST_MAX)
        limit = ACTIVITIES_LIST_MAX;
    sqlite3_stmt *st = app_db_begin(c->db, &q_home);
    if (st == NULL)
        return svc_from_db(app_db_end(c->db, NULL, SQLITE_ERROR));
    sqlite3_bind_int64(st, 1, c->now_us);
    sqlite3_bind_int(st, 2, limit);
    return read_list(c, st, out);
}

svc_status activities_notifications(svc_ctx *c, json_t **out)
{
    *out = NULL;
    char *phrase = activities_fts_query(c->user_handle);
    if (phrase == NULL)
        return SVC_ERROR;
    sqlite3_stmt *st = app_db_begin(c->db, &q_notifications);
    if (st == NULL) {
        free(phrase);
        return svc_from_db(app_db_end(c->db, NULL, SQLITE_ERROR));
    }
    sqlite3_bind_text(st, 1, c->user_handle, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, phrase, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, c->now_us);
    sqlite3_bind_int(st, 4, ACTIVITIES_LIST_MAX);
    svc_status s = read_list(c, st, out);
    free(phrase);
    return s;
}

/* Whether handle names a user: SVC_OK, SVC_NOT_FOUND or a failure. */
static svc_status user_exists(svc_ctx *c, const char *handle)
{
    sqlite3_stmt *st = app_db_begin(c->db, &q_user);
    int rc = SQLITE_ERROR;
    if (st != NULL) {
        sqlite3_bind_text(st, 1, handle, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    int found = rc == SQLITE_ROW;
    svc_status s = svc_from_db(app_db_end(c->db, st, rc));
    if (s != SVC_OK)
        return s;
    return found ? SVC_OK : SVC_NOT_FOUND;
}

svc_status activities_user(svc_ctx *c, const char *handle, json_t **out)
{
    *out = NULL;
    size_t len = handle != NULL ? strlen(handle) : 0;
    if (validate_blank(handle, len))
        return invalid(VALIDATE_USER_HANDLE_BLANK, out);
    if (len > VALIDATE_HANDLE_MAX)
        return SVC_NOT_FOUND;
    sqlite3_stmt *st = app_db_begin(c->db, &q_user_activities);
    if (st == NULL)
        return svc_from_db(app_db_end(c->db, NULL, SQLITE_ERROR));
    sqlite3_bind_text(st, 1, handle, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, c->now_us);
    sqlite3_bind_int(st, 3, ACTIVITIES_LIST_MAX);
    json_t *list = NULL;
    svc_status s = read_list(c, st, &list);
    if (s != SVC_OK)
        return s;
    /* No activities: an unknown handle, or a user with nothing (unexpired) to show. */
    if (json_array_size(list) == 0 && (s = user_exists(c, handle)) != SVC_OK) {
        json_decref(list);
        return s;
    }
    *out = list;
    return SVC_OK;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

char *activities_fts_query(const char *term)
{
    buf_t b = BUF_INIT;
    int words = 0;
    const char *p = term != NULL ? term : "";
    if (buf_puts(&b, "") != 0)
        return NULL;
    while (*p != '\0' && words < ACTIVITIES_SEARCH_MAX_WORDS) {
        while (is_space(*p))
            p++;
        if (*p == '\0')
            break;
        const char *start = p;
        while (*p != '\0' && !is_space(*p))
            p++;
        int fail = buf_puts(&b, words > 0 ? " \"" : "\"");
        for (const char *q = start; q < p && !fail; q++)
            fail = *q == '"' ? buf_puts(&b, "\"\"") : buf_putc(&b, *q);
        if (fail || buf_putc(&b, '"') != 0) {
            buf_free(&b);
            return NULL;
        }
        words++;
    }
    return buf_steal(&b);
}

svc_status activities_search(svc_ctx *c, const char *term, json_t **out)
{
    *out = NULL;
    if (validate_blank(term, term != NULL ? strlen(term) : 0))
        return invalid(VALIDATE_SEARCH_TERM_BLANK, out);
    char *query = activities_fts_query(term);
    if (query == NULL)
        return SVC_ERROR;
    sqlite3_stmt *st = app_db_begin(c->db, &q_search);
    if (st == NULL) {
        free(query);
        return svc_from_db(app_db_end(c->db, NULL, SQLITE_ERROR));
    }
    sqlite3_bind_text(st, 1, query, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, c->now_us);
    sqlite3_bind_int(st, 3, ACTIVITIES_SEARCH_MAX);
    svc_status s = read_list(c, st, out);
    free(query);
    return s;
}

/* Ids are stored in lowercase; any case is accepted in a path. */
static bool normal_uuid(const char *in, char out[UUID_STR_SIZE])
{
    if (in == NULL || strlen(in) != UUID_STR_SIZE - 1 || !uuid_is_valid(in))
        return false;
    for (size_t i = 0; i < UUID_STR_SIZE; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    return true;
}

svc_status activities_show(svc_ctx *c, const char *uuid, json_t **out)
{
    *out = NULL;
    char id[UUID_STR_SIZE];
    if (!normal_uuid(uuid, id))
        return SVC_NOT_FOUND;
    sqlite3_stmt *st = app_db_begin(c->db, &q_show);
    if (st == NULL)
        return svc_from_db(app_db_end(c->db, NULL, SQLITE_ERROR));
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, c->now_us);
    json_t *list = NULL;
    svc_status s = read_list(c, st, &list);
    if (s != SVC_OK)
        return s;
    if (json_array_size(list) == 0) {
        json_decref(list);
        return SVC_NOT_FOUND;
    }
    *out = json_incref(json_array_get(list, 0));
    json_decref(list);
    return SVC_OK;
}

/* The acting user's uuid, display name and handle (all new references). */
typedef struct user_row {
    char uuid[UUID_STR_SIZE];
    json_t *display_name;
    json_t *handle;
} user_row;

static void user_row_clear(user_row *u)
{
    json_decref(u->display_name);
    json_decref(u->handle);
    u->display_name = u->handle = NULL;
}

static svc_status acting_user(svc_ctx *c, user_row *u)
{
    memset(u, 0, sizeof *u);
    sqlite3_stmt *st = app_db_begin(c->db, &q_user);
    int rc = SQLITE_ERROR;
    bool found = false, oom = false;
    if (st != NULL) {
        sqlite3_bind_text(st, 1, c->user_handle, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *id = (const char *)sqlite3_column_text(st, 0);
            found = id != NULL && strlen(id) < UUID_STR_SIZE;
            if (found) {
                strcpy(u->uuid, id);
                u->display_name = svc_json_column(st, 1);
                u->handle = svc_json_column(st, 2);
                oom = u->display_name == NULL || u->handle == NULL;
            }
        }
    }
    svc_status s = svc_from_db(app_db_end(c->db, st, rc));
    if (s == SVC_OK && oom)
        s = SVC_ERROR;
    if (s == SVC_OK && !found) {
        fprintf(stderr, "cruddur-api: the acting user '%s' (CRUDDUR_USER_HANDLE) is not in the database\n",
                c->user_handle);
        s = SVC_ERROR;
    }
    if (s != SVC_OK)
        user_row_clear(u);
    return s;
}

static svc_status insert_activity(svc_ctx *c, const char *uuid, const char *user_uuid,
                                  const char *message, size_t message_len, const char *parent,
                                  int64_t expires_us)
{
    sqlite3_stmt *st = app_db_begin(c->db, &q_insert);
    int rc = SQLITE_ERROR;
    if (st != NULL) {
        sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, user_uuid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, message, (int)message_len, SQLITE_STATIC);
        if (parent != NULL)
            sqlite3_bind_text(st, 4, parent, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, expires_us);
        sqlite3_bind_int64(st, 6, c->now_us);
        rc = sqlite3_step(st);
    }
    return svc_from_db(app_db_end(c->db, st, rc));
}

/* A string field of an object body, or NULL when the body is not an object
 * or the field is missing or not a string. */
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

svc_status activities_create(svc_ctx *c, const json_t *body, json_t **out)
{
    *out = NULL;
    size_t msg_len, ttl_len;
    const char *msg = field(body, "message", &msg_len);
    const char *ttl = field(body, "ttl", &ttl_len);
    validate_codes v = {{NULL}, 0};
    int64_t ttl_s = 0;
    validate_activity(msg, msg_len, ttl, ttl_len, &v, &ttl_s);
    if (v.n > 0) {
        *out = validate_codes_json(&v);
        return *out != NULL ? SVC_INVALID : SVC_ERROR;
    }
    /* SQLite binds lengths as int; the body limit keeps far below it. */
    if (msg_len > (size_t)1 << 30)
        return SVC_ERROR;

    user_row u;
    svc_status s = acting_user(c, &u);
    if (s != SVC_OK)
        return s;
    char id[UUID_STR_SIZE];
    uuid_v4(c->rng, id);
    int64_t expires = c->now_us + ttl_s * 1000000;
    s = insert_activity(c, id, u.uuid, msg, msg_len, NULL, expires);
    if (s == SVC_OK) {
        json_t *o = json_object();
        int failed = o == NULL;
        failed = failed || json_object_set_new(o, "uuid", json_string(id)) != 0;
        failed = failed || json_object_set(o, "display_name", u.display_name) != 0;
        failed = failed || json_object_set(o, "handle", u.handle) != 0;
        failed = failed || json_object_set_new(o, "message", json_stringn(msg, msg_len)) != 0;
        failed = failed || json_object_set_new(o, "likes_count", json_integer(0)) != 0;
        failed = failed || json_object_set_new(o, "replies_count", json_integer(0)) != 0;
        failed = failed || json_object_set_new(o, "reposts_count", json_integer(0)) != 0;
        failed = failed || json_object_set_new(o, "created_at", svc_json_time(c->now_us)) != 0;
        failed = failed || json_object_set_new(o, "expires_at", svc_json_time(expires)) != 0;
        failed = failed || json_object_set_new(o, "replies", json_array()) != 0;
        if (failed) {
            json_decref(o);
            s = SVC_ERROR;
        } else {
            *out = o;
        }
    }
    user_row_clear(&u);
    return s;
}

/* Counts the reply on its parent: SVC_OK with the parent's expiry,
 * SVC_NOT_FOUND, or a failure. */
static svc_status count_reply(svc_ctx *c, const char *parent, int64_t *expires_us)
{
    sqlite3_stmt *st = app_db_begin(c->db, &q_count_reply);
    int rc = SQLITE_ERROR;
    bool found = false;
    if (st != NULL) {
        sqlite3_bind_text(st, 1, parent, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, c->now_us);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            *expires_us = sqlite3_column_int64(st, 0);
            found = true;
        }
    }
    svc_status s = svc_from_db(app_db_end(c->db, st, rc));
    if (s == SVC_OK && !found)
        s = SVC_NOT_FOUND;
    return s;
}

svc_status activities_reply(svc_ctx *c, const char *parent_uuid, const json_t *body,
                            json_t **out)
{
    *out = NULL;
    size_t msg_len;
    const char *msg = field(body, "message", &msg_len);
    validate_codes v = {{NULL}, 0};
    validate_reply(msg, msg_len, &v);
    if (v.n > 0) {
        *out = validate_codes_json(&v);
        return *out != NULL ? SVC_INVALID : SVC_ERROR;
    }
    if (msg_len > (size_t)1 << 30)
        return SVC_ERROR;
    char parent[UUID_STR_SIZE];
    if (!normal_uuid(parent_uuid, parent))
        return SVC_NOT_FOUND;

    svc_status s = svc_from_db(app_db_tx_begin(c->db));
    if (s != SVC_OK)
        return s;
    int64_t expires = 0;
    user_row u = {{0}, NULL, NULL};
    char id[UUID_STR_SIZE];
    s = count_reply(c, parent, &expires);
    if (s == SVC_OK)
        s = acting_user(c, &u);
    if (s == SVC_OK) {
        uuid_v4(c->rng, id);
        s = insert_activity(c, id, u.uuid, msg, msg_len, parent, expires);
    }
    if (s == SVC_OK)
        s = svc_from_db(app_db_tx_commit(c->db));
    else
        app_db_tx_rollback(c->db);
    if (s == SVC_OK) {
        json_incref(u.display_name);
        json_incref(u.handle);
        *out = reply_json(json_string(id), json_string(parent), u.display_name, u.handle,
                          json_stringn(msg, msg_len), 0, 0, 0, c->now_us);
        if (*out == NULL)
            s = SVC_ERROR;
    }
    user_row_clear(&u);
    return s;
}
