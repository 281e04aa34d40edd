/* Unit tests for app/activities against a seeded temporary database: the
 * shapes and order of every list, expiry, notifications (replies and whole
 * "@handle" mentions), search, show, create, reply, validation that leaves
 * the database unchanged, a locked database, and statements per request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/activities.h"
#include "app/db.h"
#include "check_main.h"
#include "db_fixture.h"
#include "util/uuid.h"

#define HOUR 3600000000LL

#define CLOUD "68f126b0-1ceb-4a33-88be-d90fa7109eee"
#define HONOR "26e12864-1c26-5c3a-9658-97a10f8fea67"
#define PRUNE "66e12864-8c26-4c3a-9658-95a10f8fea67"

static void setup(void)
{
    db_fixture_setup("act", 42);
}

static void exec(const char *sql)
{
    ck_assert_int_eq(sqlite3_exec(app_db_handle(db), sql, NULL, NULL, NULL), SQLITE_OK);
}

/* The messages of a list, joined by '|'. */
static char *messages_of(json_t *list)
{
    static char out[2048];
    out[0] = '\0';
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a) {
        if (i > 0)
            strcat(out, "|");
        strcat(out, json_string_value(json_object_get(a, "message")));
    }
    json_decref(list);
    return out;
}

static json_t *body(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    ck_assert_msg(j != NULL, "%s", e.text);
    return j;
}

#define CLOUD_JSON                                                                          \
    "{\"uuid\":\"" CLOUD "\",\"display_name\":\"Andrew Brown\",\"handle\":\"andrewbrown\","  \
    "\"message\":\"Cloud is fun!\",\"likes_count\":5,\"replies_count\":1,\"reposts_count\":0," \
    "\"created_at\":\"2023-11-12T22:13:20.000000+00:00\","                                  \
    "\"expires_at\":\"2023-11-19T22:13:20.000000+00:00\","                                  \
    "\"replies\":[{\"uuid\":\"" HONOR "\",\"reply_to_activity_uuid\":\"" CLOUD "\","        \
    "\"display_name\":\"Worf\",\"handle\":\"worf\",\"message\":\"This post has no honor!\","  \
    "\"likes_count\":0,\"replies_count\":0,\"reposts_count\":0,"                            \
    "\"created_at\":\"2023-11-12T23:13:20.000000+00:00\"}]}"

START_TEST(test_home)
{
    json_t *out = NULL;
    ck_assert_int_eq(activities_home(&ctx, 20, &out), SVC_OK);
    ck_assert_int_eq(statements, 1);   /* activities and all their replies */
    ck_assert_uint_eq(json_array_size(out), 4);
    ASSERT_JSON(json_incref(json_array_get(out, 2)), CLOUD_JSON);
    ASSERT_JSON(json_incref(json_array_get(out, 0)),
                "{\"uuid\":\"248959df-3079-4947-b847-9e0892d1bab4\",\"display_name\":\"Garek\","
                "\"handle\":\"garek\",\"message\":\"My dear doctor, I am just simple tailor\","
                "\"likes_count\":0,\"replies_count\":0,\"reposts_count\":0,"
                "\"created_at\":\"2023-11-14T21:13:20.000000+00:00\","
                "\"expires_at\":\"2023-11-15T10:13:20.000000+00:00\",\"replies\":[]}");
    ck_assert_str_eq(messages_of(out), "My dear doctor, I am just simple tailor|"
                                       "@andrewbrown I am a white unicorn|Cloud is fun!|"
                                       "I am out of prune juice");
}
END_TEST

START_TEST(test_home_limit_and_expiry)
{
    json_t *out = NULL;
    ck_assert_int_eq(activities_home(&ctx, 2, &out), SVC_OK);
    ck_assert_str_eq(messages_of(out), "My dear doctor, I am just simple tailor|"
                                       "@andrewbrown I am a white unicorn");
    ck_assert_int_eq(activities_home(&ctx, 0, &out), SVC_OK);
    ck_assert_uint_eq(json_array_size(out), 1);
    json_decref(out);
    ck_assert_int_eq(activities_home(&ctx, 1000, &out), SVC_OK);
    ck_assert_uint_eq(json_array_size(out), 4);
    json_decref(out);

    /* Garek's expires 12 hours after the seed. */
    ctx.now_us = T + 12 * HOUR;
    ck_assert_int_eq(activities_home(&ctx, 20, &out), SVC_OK);
    ck_assert_str_eq(messages_of(out), "@andrewbrown I am a white unicorn|Cloud is fun!|"
                                       "I am out of prune juice");
    /* Everything gone. */
    ctx.now_us = T + 1000 * HOUR;
    statements = 0;
    ck_assert_int_eq(activities_home(&ctx, 20, &out), SVC_OK);
    ASSERT_JSON(out, "[]");
    ck_assert_int_eq(statements, 1);
}
END_TEST

/* More than a page of activities, each with replies: still 2 statements,
 * and each reply lands under its own parent, oldest first. */
START_TEST(test_home_many_with_replies)
{
    exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150)"
         " INSERT INTO activities (uuid, user_uuid, message, expires_at_us, created_at_us)"
         " SELECT printf('00000000-0000-4000-8000-%012d', i), u.uuid, 'post ' || i,"
         "  1700000000000000 + 3600000000, 1700000000000000 - 1000 + i FROM n, users u WHERE u.handle = 'worf'");
    exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150)"
         " INSERT INTO activities (uuid, user_uuid, message, reply_to_activity_uuid, expires_at_us, created_at_us)"
         " SELECT printf('00000000-0000-4000-9000-%012d', i * 2 + k), u.uuid, 'reply ' || k || ' to ' || i,"
         "  printf('00000000-0000-4000-8000-%012d', i), 1700000000000000 + 3600000000, 1700000000000000 + 10 - k"
         " FROM n, (SELECT 0 AS k UNION ALL SELECT 1), users u WHERE u.handle = 'garek'");
    json_t *out = NULL;
    statements = 0;
    ck_assert_int_eq(activities_home(&ctx, 100, &out), SVC_OK);
    ck_assert_int_eq(statements, 1);
    ck_assert_uint_eq(json_array_size(out), 100);
    json_t *first = json_array_get(out, 0);
    ck_assert_str_eq(json_string_value(json_object_get(first, "message")), "post 150");
    json_t *replies = json_object_get(first, "replies");
    ck_assert_uint_eq(json_array_size(replies), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(replies, 0), "message")),
                     "reply 1 to 150");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(replies, 1), "message")),
                     "reply 0 to 150");
    json_t *last = json_array_get(out, 99);
    ck_assert_str_eq(json_string_value(json_object_get(last, "message")), "post 51");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(last, "replies"), 0), "reply_to_activity_uuid")),
                     "00000000-0000-4000-8000-000000000051");
    json_decref(out);
}
END_TEST

START_TEST(test_notifications)
{
    json_t *out = NULL;
    ck_assert_int_eq(activities_notifications(&ctx, &out), SVC_OK);
    ck_assert_int_eq(statements, 1);
    ck_assert_uint_eq(json_array_size(out), 2);
    /* The reply is listed as an Activity of its own. */
    ASSERT_JSON(json_incref(json_array_get(out, 1)),
                "{\"uuid\":\"" HONOR "\",\"display_name\":\"Worf\",\"handle\":\"worf\","
                "\"message\":\"This post has no honor!\",\"likes_count\":0,\"replies_count\":0,"
                "\"reposts_count\":0,\"created_at\":\"2023-11-12T23:13:20.000000+00:00\","
                "\"expires_at\":\"2023-11-19T22:13:20.000000+00:00\",\"replies\":[]}");
    ck_assert_str_eq(messages_of(out), "@andrewbrown I am a white unicorn|This post has no honor!");

    /* Whole handles only, any case, never one's own posts. */
    exec("INSERT INTO activities (uuid, user_uuid, message, expires_at_us, created_at_us)"
         " SELECT v.id, u.uuid, v.msg, 1700000000000000 + 3600000000, 1700000000000000 - v.age"
         " FROM (SELECT 'a0000000-0000-4000-8000-000000000001' AS id, 'worf' AS h, '@andrewbrownx nope' AS msg, 10 AS age"
         "  UNION ALL SELECT 'a0000000-0000-4000-8000-000000000002', 'garek', 'hey @AndrewBrown, tea?', 20"
         "  UNION ALL SELECT 'a0000000-0000-4000-8000-000000000003', 'andrewbrown', '@andrewbrown talking to myself', 30"
         "  UNION ALL SELECT 'a0000000-0000-4000-8000-000000000004', 'worf', 'andrewbrown without the at', 40"
         "  UNION ALL SELECT 'a0000000-0000-4000-8000-000000000005', 'worf', 'mail me@andrewbrown', 50) AS v"
         " JOIN users u ON u.handle = v.h");
    ck_assert_int_eq(activities_notifications(&ctx, &out), SVC_OK);
    ck_assert_str_eq(messages_of(out), "hey @AndrewBrown, tea?|@andrewbrown I am a white unicorn|"
                                       "This post has no honor!");

    /* Expired ones drop out (the reply expires with its parent). */
    ctx.now_us = T + 121 * HOUR;
    ck_assert_int_eq(activities_notifications(&ctx, &out), SVC_OK);
    ASSERT_JSON(out, "[]");

    /* Another acting user sees their own. */
    ctx.now_us = T;
    ctx.user_handle = "worf";
    ck_assert_int_eq(activities_notifications(&ctx, &out), SVC_OK);
    ASSERT_JSON(out, "[]");
    ctx.user_handle = "nobody";
    ck_assert_int_eq(activities_notifications(&ctx, &out), SVC_OK);
    ASSERT_JSON(out, "[]");
}
END_TEST

START_TEST(test_user_activities)
{
    json_t *out = NULL;
    ck_assert_int_eq(activities_user(&ctx, "worf", &out), SVC_OK);
    ck_assert_int_eq(statements, 1);
    ck_assert_str_eq(messages_of(out), "I am out of prune juice");
    ck_assert_int_eq(activities_user(&ctx, "AndrewBrown", &out), SVC_OK);
    ck_assert_uint_eq(json_array_size(out), 1);
    ASSERT_JSON(json_incref(json_array_get(out, 0)), CLOUD_JSON);
    json_decref(out);

    /* A user with nothing to show, an unknown one, a blank one. */
    ck_assert_int_eq(activities_user(&ctx, "bayko", &out), SVC_OK);
    ASSERT_JSON(out, "[]");
    ck_assert_int_eq(activities_user(&ctx, "nobody", &out), SVC_NOT_FOUND);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(activities_user(&ctx, "", &out), SVC_INVALID);
    ASSERT_JSON(out, "[\"blank_user_handle\"]");
    ck_assert_int_eq(activities_user(&ctx, " \t", &out), SVC_INVALID);
    ASSERT_JSON(out, "[\"blank_user_handle\"]");
    ck_assert_int_eq(activities_user(&ctx, NULL, &out), SVC_INVALID);
    ASSERT_JSON(out, "[\"blank_user_handle\"]");

    /* Over 64 characters: not found without asking the database. */
    char h[66];
    memset(h, 'w', 65);
    h[65] = '\0';
    statements = 0;
    ck_assert_int_eq(activities_user(&ctx, h, &out), SVC_NOT_FOUND);
    ck_assert_int_eq(statements, 0);
}
END_TEST

START_TEST(test_fts_query)
{
    char *q = activities_fts_query("  #cloud \t fun\n");
    ck_assert_str_eq(q, "\"#cloud\" \"fun\"");
    free(q);
    q = activities_fts_query("say \"hi\"");
    ck_assert_str_eq(q, "\"say\" \"\"\"hi\"\"\"");
    free(q);
    q = activities_fts_query("");
    ck_assert_str_eq(q, "");
    free(q);
    q = activities_fts_query(NULL);
    ck_assert_str_eq(q, "");
    free(q);
    char many[200] = "";
    for (int i = 0; i < 40; i++)
        strcat(many, "a ");
    q = activities_fts_query(many);
    ck_assert_uint_eq(strlen(q), 32 * 4 - 1);
    free(q);
}
END_TEST

START_TEST(test_search)
{
    json_t *out = NULL;
    ck_assert_int_eq(activities_search(&ctx, "cloud", &out), SVC_OK);
    ck_assert_int_eq(statements, 1);
    ck_assert_uint_eq(json_array_size(out), 1);
    ASSERT_JSON(json_incref(json_array_get(out, 0)), CLOUD_JSON);
    json_decref(out);
    ck_assert_int_eq(activities_search(&ctx, "#Cloud", &out), SVC_OK);
    ck_assert_str_eq(messages_of(out), "Cloud is fun!");
    ck_assert_int_eq(activities_search(&ctx, "@andrewbrown", &out), SVC_OK);
    ck_assert_str_eq(messages_of(out), "@andrewbrown I am a white unicorn");
    ck_assert_int_eq(activities_search(&ctx, "honor", &out), SVC_OK);
    ck_assert_str_eq(messages_of(out), "This post has no honor!");
    ck_assert_int_eq(activities_search(&ctx, "prune  juice", &out), SVC_OK);
    ck_assert_str_eq(messages_of(out), "I am out of prune juice");
    ck_assert_int_eq(activities_search(&ctx, "prune tea", &out), SVC_OK);
    ASSERT_JSON(out, "[]");

    /* FTS5 syntax in a term is only text. */
    static const char *odd[] = {"\"", "a\"b", "NEAR(cloud", "cloud OR juice", "*", "-cloud",
                                "cloud:", "^cloud", "(", "AND", "###", "\xc3\xa9t\xc3\xa9"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        ck_assert_msg(activities_search(&ctx, odd[i], &out) == SVC_OK, "term %s", odd[i]);
        json_decref(out);
    }
    ck_assert_int_eq(activities_search(&ctx, "cloud OR juice", &out), SVC_OK);
    ASSERT_JSON(out, "[]");   /* means: all three words */

    ck_assert_int_eq(activities_search(&ctx, "", &out), SVC_INVALID);
    ASSERT_JSON(out, "[\"search_term_blank\"]");
    ck_assert_int_eq(activities_search(&ctx, "  ", &out), SVC_INVALID);
    ASSERT_JSON(out, "[\"search_term_blank\"]");
    ck_assert_int_eq(activities_search(&ctx, NULL, &out), SVC_INVALID);
    ASSERT_JSON(out, "[\"search_term_blank\"]");
}
END_TEST

START_TEST(test_search_ranks_and_expires)
{
    exec("INSERT INTO activities (uuid, user_uuid, message, expires_at_us, created_at_us)"
         " SELECT v.id, u.uuid, v.msg, 1700000000000000 + v.ttl, 1700000000000000 - 10"
         " FROM (SELECT 'b0000000-0000-4000-8000-000000000001' AS id, 'Caf\xc3\xa9 cloud cloud cloud' AS msg, 3600000000 AS ttl"
         "  UNION ALL SELECT 'b0000000-0000-4000-8000-000000000002', 'old cloud', -1) AS v"
         " JOIN users u ON u.handle = 'garek'");
    json_t *out = NULL;
    ck_assert_int_eq(activities_search(&ctx, "cloud", &out), SVC_OK);
    ck_assert_str_eq(messages_of(out), "Caf\xc3\xa9 cloud cloud cloud|Cloud is fun!");
    /* Diacritics are folded. */
    ck_assert_int_eq(activities_search(&ctx, "CAFE", &out), SVC_OK);
    ck_assert_str_eq(messages_of(out), "Caf\xc3\xa9 cloud cloud cloud");
}
END_TEST

START_TEST(test_show)
{
    json_t *out = NULL;
    ck_assert_int_eq(activities_show(&ctx, CLOUD, &out), SVC_OK);
    ck_assert_int_eq(statements, 1);
    ASSERT_JSON(out, CLOUD_JSON);
    ck_assert_int_eq(activities_show(&ctx, "68F126B0-1CEB-4A33-88BE-D90FA7109EEE", &out), SVC_OK);
    ASSERT_JSON(out, CLOUD_JSON);
    statements = 0;
    ck_assert_int_eq(activities_show(&ctx, "not-a-uuid", &out), SVC_NOT_FOUND);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(activities_show(&ctx, CLOUD "0", &out), SVC_NOT_FOUND);
    ck_assert_int_eq(activities_show(&ctx, "", &out), SVC_NOT_FOUND);
    ck_assert_int_eq(statements, 0);
    ck_assert_int_eq(activities_show(&ctx, "00000000-0000-4000-8000-000000000000", &out), SVC_NOT_FOUND);
    ck_assert_int_eq(statements, 1);
    ctx.now_us = T + 120 * HOUR;
    ck_assert_int_eq(activities_show(&ctx, CLOUD, &out), SVC_NOT_FOUND);
}
END_TEST

START_TEST(test_create)
{
    json_t *b = body("{\"message\": \"Qapla\xe2\x80\x99!\", \"ttl\": \"3-hours\"}");
    json_t *out = NULL;
    ctx.now_us = T + 123456;
    ck_assert_int_eq(activities_create(&ctx, b, &out), SVC_OK);
    json_decref(b);
    ck_assert_int_eq(statements, 2);
    const char *id = json_string_value(json_object_get(out, "uuid"));
    ck_assert(uuid_is_valid(id));
    ck_assert_int_eq(id[14], '4');
    char expected[1024];
    snprintf(expected, sizeof expected,
             "{\"uuid\":\"%s\",\"display_name\":\"Andrew Brown\",\"handle\":\"andrewbrown\","
             "\"message\":\"Qapla\xe2\x80\x99!\",\"likes_count\":0,\"replies_count\":0,"
             "\"reposts_count\":0,\"created_at\":\"2023-11-14T22:13:20.123456+00:00\","
             "\"expires_at\":\"2023-11-15T01:13:20.123456+00:00\",\"replies\":[]}",
             id);
    char shown[UUID_STR_SIZE];
    strcpy(shown, id);
    ASSERT_JSON(out, expected);

    /* It is there, and first on home. */
    ck_assert_int_eq(activities_show(&ctx, shown, &out), SVC_OK);
    ASSERT_JSON(out, expected);
    ck_assert_int_eq(activities_home(&ctx, 1, &out), SVC_OK);
    ck_assert_str_eq(messages_of(out), "Qapla\xe2\x80\x99!");
    ck_assert_int_eq(activities_search(&ctx, "qapla", &out), SVC_OK);
    ck_assert_str_eq(messages_of(out), "Qapla\xe2\x80\x99!");
}
END_TEST

static const struct {
    const char *body;
    const char *codes;
} bad_creates[] = {
    {"[]", "[\"message_blank\",\"ttl_blank\"]"},
    {"\"text\"", "[\"message_blank\",\"ttl_blank\"]"},
    {"null", "[\"message_blank\",\"ttl_blank\"]"},
    {"{}", "[\"message_blank\",\"ttl_blank\"]"},
    {"{\"message\": 5, \"ttl\": 7}", "[\"message_blank\",\"ttl_blank\"]"},
    {"{\"message\": [\"hi\"], \"ttl\": \"7-days\"}", "[\"message_blank\"]"},
    {"{\"message\": \" \\n \", \"ttl\": \"7-days\"}", "[\"message_blank\"]"},
    {"{\"message\": \"hi\", \"ttl\": \"8-days\"}", "[\"ttl_blank\"]"},
    {"{\"message\": \"hi\", \"ttl\": null}", "[\"ttl_blank\"]"},
    {"{\"message\": \"hi\"}", "[\"ttl_blank\"]"},
};

START_TEST(test_create_invalid)
{
    long long before = scalar("SELECT count(*) FROM activities");
    json_t *b = body(bad_creates[_i].body);
    json_t *out = NULL;
    ck_assert_int_eq(activities_create(&ctx, b, &out), SVC_INVALID);
    json_decref(b);
    ASSERT_JSON(out, bad_creates[_i].codes);
    ck_assert_int_eq(statements, 0);
    ck_assert_int_eq(scalar("SELECT count(*) FROM activities"), before);
}
END_TEST

/* 280 code points of a 4-byte character pass, 281 do not. */
START_TEST(test_create_length)
{
    json_t *out = NULL;
    char *msg = malloc(281 * 4 + 1);
    for (int i = 0; i < 281; i++)
        memcpy(msg + i * 4, "\xf0\x9f\xa6\x84", 4);
    msg[281 * 4] = '\0';
    json_t *b = json_pack("{s:s, s:s}", "message", msg, "ttl", "1-day");
    ck_assert_int_eq(activities_create(&ctx, b, &out), SVC_INVALID);
    ASSERT_JSON(out, "[\"message_exceed_max_chars\"]");
    json_decref(b);
    msg[280 * 4] = '\0';
    b = json_pack("{s:s, s:s}", "message", msg, "ttl", "1-day");
    ck_assert_int_eq(activities_create(&ctx, b, &out), SVC_OK);
    json_decref(b);
    ck_assert_str_eq(json_string_value(json_object_get(out, "message")), msg);
    json_decref(out);
    free(msg);
}
END_TEST

START_TEST(test_create_without_acting_user)
{
    long long before = scalar("SELECT count(*) FROM activities");
    ctx.user_handle = "nobody";
    json_t *b = body("{\"message\": \"hi\", \"ttl\": \"1-day\"}");
    json_t *out = NULL;
    ck_assert_int_eq(activities_create(&ctx, b, &out), SVC_ERROR);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(activities_reply(&ctx, CLOUD, b, &out), SVC_ERROR);
    ck_assert_ptr_null(out);
    json_decref(b);
    ck_assert_int_eq(scalar("SELECT count(*) FROM activities"), before);
    ck_assert_int_eq(scalar("SELECT replies_count FROM activities WHERE uuid = '" CLOUD "'"), 1);
}
END_TEST

START_TEST(test_reply)
{
    json_t *b = body("{\"message\": \"Honor is fun too\"}");
    json_t *out = NULL;
    ctx.now_us = T + 1;
    ck_assert_int_eq(activities_reply(&ctx, CLOUD, b, &out), SVC_OK);
    json_decref(b);
    const char *id = json_string_value(json_object_get(out, "uuid"));
    ck_assert(uuid_is_valid(id));
    char expected[1024];
    snprintf(expected, sizeof expected,
             "{\"uuid\":\"%s\",\"reply_to_activity_uuid\":\"" CLOUD "\","
             "\"display_name\":\"Andrew Brown\",\"handle\":\"andrewbrown\","
             "\"message\":\"Honor is fun too\",\"likes_count\":0,\"replies_count\":0,"
             "\"reposts_count\":0,\"created_at\":\"2023-11-14T22:13:20.000001+00:00\"}",
             id);
    ASSERT_JSON(out, expected);

    /* Counted on the parent, listed after the older reply, same expiry. */
    ck_assert_int_eq(activities_show(&ctx, CLOUD, &out), SVC_OK);
    ck_assert_int_eq(json_integer_value(json_object_get(out, "replies_count")), 2);
    json_t *replies = json_object_get(out, "replies");
    ck_assert_uint_eq(json_array_size(replies), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(replies, 1), "message")),
                     "Honor is fun too");
    json_decref(out);
    ck_assert_int_eq(scalar("SELECT count(*) FROM activities a JOIN activities p"
                            " ON p.uuid = a.reply_to_activity_uuid AND p.expires_at_us = a.expires_at_us"),
                     2);
    /* A reply is not a home activity. */
    ck_assert_int_eq(activities_home(&ctx, 100, &out), SVC_OK);
    ck_assert_uint_eq(json_array_size(out), 4);
    json_decref(out);
}
END_TEST

START_TEST(test_reply_not_found_or_invalid)
{
    long long before = scalar("SELECT count(*) FROM activities");
    long long total = scalar("SELECT sum(replies_count) FROM activities");
    json_t *ok = body("{\"message\": \"hello\"}");
    json_t *out = NULL;
    ck_assert_int_eq(activities_reply(&ctx, "00000000-0000-4000-8000-000000000000", ok, &out),
                     SVC_NOT_FOUND);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(activities_reply(&ctx, "nope", ok, &out), SVC_NOT_FOUND);
    ck_assert_int_eq(activities_reply(&ctx, NULL, ok, &out), SVC_NOT_FOUND);
    /* An expired parent takes no replies. */
    ctx.now_us = T + 216 * HOUR;
    ck_assert_int_eq(activities_reply(&ctx, PRUNE, ok, &out), SVC_NOT_FOUND);
    ctx.now_us = T;
    json_decref(ok);

    json_t *b = body("[1]");
    ck_assert_int_eq(activities_reply(&ctx, CLOUD, b, &out), SVC_INVALID);
    ASSERT_JSON(out, "[\"message_blank\"]");
    json_decref(b);
    /* Validation comes before the parent lookup. */
    b = body("{\"message\": \"\"}");
    ck_assert_int_eq(activities_reply(&ctx, "00000000-0000-4000-8000-000000000000", b, &out), SVC_INVALID);
    ASSERT_JSON(out, "[\"message_blank\"]");
    json_decref(b);

    char *msg = malloc(1025 * 2 + 1);
    for (int i = 0; i < 1025; i++)
        memcpy(msg + i * 2, "\xc3\xa9", 2);
    msg[1025 * 2] = '\0';
    b = json_pack("{s:s}", "message", msg);
    ck_assert_int_eq(activities_reply(&ctx, CLOUD, b, &out), SVC_INVALID);
    ASSERT_JSON(out, "[\"message_exceed_max_chars\"]");
    json_decref(b);
    ck_assert_int_eq(scalar("SELECT count(*) FROM activities"), before);
    ck_assert_int_eq(scalar("SELECT sum(replies_count) FROM activities"), total);

    msg[1024 * 2] = '\0';
    b = json_pack("{s:s}", "message", msg);
    ck_assert_int_eq(activities_reply(&ctx, CLOUD, b, &out), SVC_OK);
    json_decref(out);
    json_decref(b);
    free(msg);
    ck_assert_int_eq(scalar("SELECT count(*) FROM activities"), before + 1);
}
END_TEST

START_TEST(test_busy)
{
    sqlite3 *other;
    ck_assert_int_eq(sqlite3_open(path, &other), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    json_t *b = body("{\"message\": \"hi\", \"ttl\": \"1-day\"}");
    json_t *out = NULL;
    ck_assert_int_eq(activities_create(&ctx, b, &out), SVC_UNAVAILABLE);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(activities_reply(&ctx, CLOUD, b, &out), SVC_UNAVAILABLE);
    ck_assert_ptr_null(out);
    /* Reads go on under WAL. */
    ck_assert_int_eq(activities_home(&ctx, 20, &out), SVC_OK);
    json_decref(out);
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    ck_assert_int_eq(activities_reply(&ctx, CLOUD, b, &out), SVC_OK);
    json_decref(out);
    json_decref(b);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("activities");
    TCase *tc = tcase_create("services");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_home);
    tcase_add_test(tc, test_home_limit_and_expiry);
    tcase_add_test(tc, test_home_many_with_replies);
    tcase_add_test(tc, test_notifications);
    tcase_add_test(tc, test_user_activities);
    tcase_add_test(tc, test_fts_query);
    tcase_add_test(tc, test_search);
    tcase_add_test(tc, test_search_ranks_and_expires);
    tcase_add_test(tc, test_show);
    tcase_add_test(tc, test_create);
    tcase_add_loop_test(tc, test_create_invalid, 0, (int)(sizeof bad_creates / sizeof bad_creates[0]));
    tcase_add_test(tc, test_create_length);
    tcase_add_test(tc, test_create_without_acting_user);
    tcase_add_test(tc, test_reply);
    tcase_add_test(tc, test_reply_not_found_or_invalid);
    tcase_add_test(tc, test_busy);
    suite_add_tcase(s, tc);
    return s;
}
