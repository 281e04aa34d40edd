/* Unit tests for app/messages against a seeded temporary database: groups
 * latest first, a conversation oldest first, sending (a new group on the
 * first message), validation and unknown receivers that change nothing, and
 * a locked database. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/db.h"
#include "app/messages.h"
#include "check_main.h"
#include "db_fixture.h"
#include "util/uuid.h"

static void setup(void)
{
    db_fixture_setup("msg", 7);
}

static json_t *body(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    ck_assert_msg(j != NULL, "%s", e.text);
    return j;
}

/* "handle:message" of each item, joined by '|'. */
static char *summary(json_t *list)
{
    static char out[2048];
    out[0] = '\0';
    size_t i;
    json_t *m;
    json_array_foreach(list, i, m) {
        if (i > 0)
            strcat(out, "|");
        strcat(out, json_string_value(json_object_get(m, "handle")));
        strcat(out, ":");
        strcat(out, json_string_value(json_object_get(m, "message")));
    }
    json_decref(list);
    return out;
}

START_TEST(test_groups)
{
    json_t *out = NULL;
    ck_assert_int_eq(messages_groups(&ctx, &out), SVC_OK);
    ck_assert_int_eq(statements, 1);
    ASSERT_JSON(out,
                "[{\"uuid\":\"417c360e-c4e6-4fce-873b-d2d71469b4ac\",\"display_name\":\"Andrew Bayko\","
                "\"handle\":\"bayko\",\"message\":\"Editing the last one now.\","
                "\"created_at\":\"2023-11-14T18:13:20.000000+00:00\"},"
                "{\"uuid\":\"24b95582-9e7b-4e0a-9ad1-639773ab7552\",\"display_name\":\"Worf\","
                "\"handle\":\"worf\",\"message\":\"Cloud is still fun!\","
                "\"created_at\":\"2023-11-13T22:13:20.000000+00:00\"}]");
    /* Seen from the other side. */
    ctx.user_handle = "worf";
    ck_assert_int_eq(messages_groups(&ctx, &out), SVC_OK);
    ck_assert_str_eq(summary(out), "andrewbrown:Cloud is still fun!");
    ctx.user_handle = "garek";
    ck_assert_int_eq(messages_groups(&ctx, &out), SVC_OK);
    ASSERT_JSON(out, "[]");
    ctx.user_handle = "nobody";
    ck_assert_int_eq(messages_groups(&ctx, &out), SVC_OK);
    ASSERT_JSON(out, "[]");
}
END_TEST

START_TEST(test_conversation)
{
    json_t *out = NULL;
    ck_assert_int_eq(messages_with(&ctx, "worf", &out), SVC_OK);
    ck_assert_int_eq(statements, 2);
    ck_assert_uint_eq(json_array_size(out), 3);
    ASSERT_JSON(json_incref(json_array_get(out, 1)),
                "{\"uuid\":\"8f3c2b1a-0e9d-4c8b-a7f6-e5d4c3b2a106\",\"display_name\":\"Worf\","
                "\"handle\":\"worf\",\"message\":\"I did. It has no honor.\","
                "\"created_at\":\"2023-11-12T23:13:20.000000+00:00\"}");
    ck_assert_str_eq(summary(out), "andrewbrown:Worf, did you see my post about the cloud?|"
                                   "worf:I did. It has no honor.|andrewbrown:Cloud is still fun!");
    ck_assert_int_eq(messages_with(&ctx, "WORF", &out), SVC_OK);
    ck_assert_uint_eq(json_array_size(out), 3);
    json_decref(out);
    ctx.user_handle = "bayko";
    ck_assert_int_eq(messages_with(&ctx, "andrewbrown", &out), SVC_OK);
    ck_assert_str_eq(summary(out), "andrewbrown:Are the bootcamp videos ready?|"
                                   "bayko:Editing the last one now.");
    ctx.user_handle = "andrewbrown";

    /* Someone never written to; oneself; unknown; blank; too long. */
    ck_assert_int_eq(messages_with(&ctx, "garek", &out), SVC_OK);
    ASSERT_JSON(out, "[]");
    ck_assert_int_eq(messages_with(&ctx, "andrewbrown", &out), SVC_OK);
    ASSERT_JSON(out, "[]");
    ck_assert_int_eq(messages_with(&ctx, "nobody", &out), SVC_NOT_FOUND);
    ck_assert_ptr_null(out);
    statements = 0;
    ck_assert_int_eq(messages_with(&ctx, "", &out), SVC_NOT_FOUND);
    ck_assert_int_eq(messages_with(&ctx, NULL, &out), SVC_NOT_FOUND);
    char h[66];
    memset(h, 'w', 65);
    h[65] = '\0';
    ck_assert_int_eq(messages_with(&ctx, h, &out), SVC_NOT_FOUND);
    ck_assert_int_eq(statements, 0);
}
END_TEST

START_TEST(test_send_to_existing_group)
{
    json_t *b = body("{\"user_receiver_handle\": \"worf\", \"message\": \"Qapla'!\"}");
    json_t *out = NULL;
    ctx.now_us = T + 5;
    ck_assert_int_eq(messages_create(&ctx, b, &out), SVC_OK);
    json_decref(b);
    const char *id = json_string_value(json_object_get(out, "uuid"));
    ck_assert(uuid_is_valid(id));
    char expected[512];
    snprintf(expected, sizeof expected,
             "{\"uuid\":\"%s\",\"display_name\":\"Andrew Brown\",\"handle\":\"andrewbrown\","
             "\"message\":\"Qapla'!\",\"created_at\":\"2023-11-14T22:13:20.000005+00:00\"}",
             id);
    ASSERT_JSON(out, expected);
    ck_assert_int_eq(scalar("SELECT count(*) FROM message_groups"), 2);
    ck_assert_int_eq(scalar("SELECT count(*) FROM messages"), 6);

    ck_assert_int_eq(messages_with(&ctx, "worf", &out), SVC_OK);
    ck_assert_uint_eq(json_array_size(out), 4);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(out, 3), "message")), "Qapla'!");
    json_decref(out);
    /* Worf's conversation is now the latest. */
    ck_assert_int_eq(messages_groups(&ctx, &out), SVC_OK);
    ck_assert_str_eq(summary(out), "worf:Qapla'!|bayko:Editing the last one now.");
}
END_TEST

START_TEST(test_send_creates_group)
{
    json_t *b = body("{\"user_receiver_handle\": \"Garek\", \"message\": \"Nice suit.\"}");
    json_t *out = NULL;
    ck_assert_int_eq(messages_create(&ctx, b, &out), SVC_OK);
    json_decref(out);
    json_decref(b);
    ck_assert_int_eq(scalar("SELECT count(*) FROM message_groups"), 3);
    /* The second message goes into the same group. */
    b = body("{\"user_receiver_handle\": \"garek\", \"message\": \"Really.\"}");
    ctx.now_us = T + 1;
    ck_assert_int_eq(messages_create(&ctx, b, &out), SVC_OK);
    json_decref(out);
    json_decref(b);
    ck_assert_int_eq(scalar("SELECT count(*) FROM message_groups"), 3);
    ck_assert_int_eq(scalar("SELECT count(*) FROM pragma_foreign_key_check"), 0);

    ck_assert_int_eq(messages_groups(&ctx, &out), SVC_OK);
    ck_assert_str_eq(summary(out), "garek:Really.|bayko:Editing the last one now.|"
                                   "worf:Cloud is still fun!");
    ctx.user_handle = "garek";
    ck_assert_int_eq(messages_with(&ctx, "andrewbrown", &out), SVC_OK);
    ck_assert_str_eq(summary(out), "andrewbrown:Nice suit.|andrewbrown:Really.");
    /* And the answer goes the other way. */
    b = body("{\"user_receiver_handle\": \"andrewbrown\", \"message\": \"Thank you.\"}");
    ck_assert_int_eq(messages_create(&ctx, b, &out), SVC_OK);
    json_decref(out);
    json_decref(b);
    ck_assert_int_eq(scalar("SELECT count(*) FROM message_groups"), 3);
    ck_assert_int_eq(messages_with(&ctx, "andrewbrown", &out), SVC_OK);
    ck_assert_str_eq(summary(out), "andrewbrown:Nice suit.|andrewbrown:Really.|garek:Thank you.");
}
END_TEST

static const struct {
    const char *body;
    svc_status status;
    const char *codes;
} bad_sends[] = {
    {"[]", SVC_INVALID, "[\"user_reciever_handle_blank\",\"message_blank\"]"},
    {"42", SVC_INVALID, "[\"user_reciever_handle_blank\",\"message_blank\"]"},
    {"{}", SVC_INVALID, "[\"user_reciever_handle_blank\",\"message_blank\"]"},
    {"{\"user_receiver_handle\": 1, \"message\": \"hi\"}", SVC_INVALID,
     "[\"user_reciever_handle_blank\"]"},
    {"{\"user_receiver_handle\": \" \", \"message\": \"hi\"}", SVC_INVALID,
     "[\"user_reciever_handle_blank\"]"},
    {"{\"user_receiver_handle\": \"andrewbrown\", \"message\": \"hi\"}", SVC_INVALID,
     "[\"user_reciever_handle_blank\"]"},
    {"{\"user_receiver_handle\": \"AndrewBrown\", \"message\": \"\"}", SVC_INVALID,
     "[\"user_reciever_handle_blank\",\"message_blank\"]"},
    {"{\"user_receiver_handle\": \"worf\", \"message\": null}", SVC_INVALID, "[\"message_blank\"]"},
    {"{\"user_receiver_handle\": \"nobody\", \"message\": \"hi\"}", SVC_NOT_FOUND, NULL},
    {"{\"user_receiver_handle\": \"wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww\","
     " \"message\": \"hi\"}",
     SVC_NOT_FOUND, NULL},
};

START_TEST(test_send_invalid)
{
    long long groups = scalar("SELECT count(*) FROM message_groups");
    long long messages = scalar("SELECT count(*) FROM messages");
    json_t *b = body(bad_sends[_i].body);
    json_t *out = NULL;
    ck_assert_int_eq(messages_create(&ctx, b, &out), bad_sends[_i].status);
    json_decref(b);
    if (bad_sends[_i].codes != NULL)
        ASSERT_JSON(out, bad_sends[_i].codes);
    else
        ck_assert_ptr_null(out);
    ck_assert_int_eq(scalar("SELECT count(*) FROM message_groups"), groups);
    ck_assert_int_eq(scalar("SELECT count(*) FROM messages"), messages);
}
END_TEST

START_TEST(test_send_length)
{
    char *msg = malloc(1025 * 3 + 1);
    for (int i = 0; i < 1025; i++)
        memcpy(msg + i * 3, "\xe2\x82\xac", 3);
    msg[1025 * 3] = '\0';
    json_t *out = NULL;
    json_t *b = json_pack("{s:s, s:s}", "user_receiver_handle", "worf", "message", msg);
    ck_assert_int_eq(messages_create(&ctx, b, &out), SVC_INVALID);
    ASSERT_JSON(out, "[\"message_exceed_max_chars\"]");
    json_decref(b);
    msg[1024 * 3] = '\0';
    b = json_pack("{s:s, s:s}", "user_receiver_handle", "worf", "message", msg);
    ck_assert_int_eq(messages_create(&ctx, b, &out), SVC_OK);
    json_decref(out);
    json_decref(b);
    free(msg);
}
END_TEST

START_TEST(test_send_without_acting_user)
{
    ctx.user_handle = "nobody";
    json_t *b = body("{\"user_receiver_handle\": \"worf\", \"message\": \"hi\"}");
    json_t *out = NULL;
    ck_assert_int_eq(messages_create(&ctx, b, &out), SVC_ERROR);
    ck_assert_ptr_null(out);
    json_decref(b);
    ck_assert_int_eq(scalar("SELECT count(*) FROM messages"), 5);
}
END_TEST

START_TEST(test_busy)
{
    sqlite3 *other;
    ck_assert_int_eq(sqlite3_open(path, &other), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    json_t *b = body("{\"user_receiver_handle\": \"worf\", \"message\": \"hi\"}");
    json_t *out = NULL;
    ck_assert_int_eq(messages_create(&ctx, b, &out), SVC_UNAVAILABLE);
    ck_assert_ptr_null(out);
    ck_assert_int_eq(messages_groups(&ctx, &out), SVC_OK);
    json_decref(out);
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    ck_assert_int_eq(messages_create(&ctx, b, &out), SVC_OK);
    json_decref(out);
    json_decref(b);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("messages");
    TCase *tc = tcase_create("services");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_groups);
    tcase_add_test(tc, test_conversation);
    tcase_add_test(tc, test_send_to_existing_group);
    tcase_add_test(tc, test_send_creates_group);
    tcase_add_loop_test(tc, test_send_invalid, 0, (int)(sizeof bad_sends / sizeof bad_sends[0]));
    tcase_add_test(tc, test_send_length);
    tcase_add_test(tc, test_send_without_acting_user);
    tcase_add_test(tc, test_busy);
    suite_add_tcase(s, tc);
    return s;
}
