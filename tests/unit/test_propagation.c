/* Unit tests for telemetry/propagation: the W3C grammar tables (traceparent,
 * tracestate), X-Amzn-Trace-Id parsing and printing, and precedence. */
#include "check_main.h"

#include <stdio.h>
#include <string.h>

#include "telemetry/propagation.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PID "00f067aa0ba902b7"

static const struct {
    const char *value;
    int ok;              /* 1 valid */
    int sampled;
} traceparents[] = {
    {"00-" TID "-" PID "-01", 1, 1},
    {"00-" TID "-" PID "-00", 1, 0},
    {"00-" TID "-" PID "-09", 1, 1},              /* other bits set, sampled bit read */
    {"00-" TID "-" PID "-08", 1, 0},
    {" 00-" TID "-" PID "-01", 1, 1},             /* OWS around the value */
    {"\t00-" TID "-" PID "-01 \t", 1, 1},
    {"cc-" TID "-" PID "-01", 1, 1},              /* future version */
    {"cc-" TID "-" PID "-01-what-the-future-will-be-like", 1, 1},
    {"cc-" TID "-" PID "-03", 1, 1},
    {"cc-" TID "-" PID "-01.what-the-future", 0, 0},
    {"00-" TID "-" PID "-01-", 0, 0},             /* extra field after version 00 */
    {"00-" TID "-" PID "-01.", 0, 0},
    {"00-" TID "-" PID "-01-what-the-future-will-be-like", 0, 0},
    {"ff-" TID "-" PID "-01", 0, 0},              /* version ff */
    {"0-" TID "-" PID "-01", 0, 0},
    {"000-" TID "-" PID "-01", 0, 0},
    {".0-" TID "-" PID "-01", 0, 0},
    {"0A-" TID "-" PID "-01", 0, 0},              /* uppercase version */
    {"00-00000000000000000000000000000000-" PID "-01", 0, 0},   /* zero trace id */
    {"00-" TID "-0000000000000000-01", 0, 0},     /* zero parent id */
    {"00-4BF92F3577B34DA6A3CE929D0E0E4736-" PID "-01", 0, 0},   /* uppercase */
    {"00-" TID "-00F067AA0BA902B7-01", 0, 0},
    {"00-" TID "-" PID "-0A", 0, 0},
    {"00-123456789012345678901234567890123-" PID "-01", 0, 0},  /* 33 digits */
    {"00-1234567890123456789012345678901-" PID "-01", 0, 0},    /* 31 */
    {"00-" TID "-12345678901234567-01", 0, 0},
    {"00-" TID "-123456789012345-01", 0, 0},
    {"00-" TID "-" PID "-001", 0, 0},
    {"00-" TID "-" PID "-1", 0, 0},
    {"00-" TID "-" PID "-.0", 0, 0},
    {"00-.2345678901234567890123456789012-" PID "-01", 0, 0},
    {"00-" TID "-.234567890123456-01", 0, 0},
    {"00_" TID "-" PID "-01", 0, 0},
    {"00-" TID "_" PID "-01", 0, 0},
    {"00-" TID "-" PID "_01", 0, 0},
    {"", 0, 0},
    {"00-" TID "-" PID "-01,00-" TID "-" PID "-01", 0, 0},   /* two headers joined */
};

START_TEST(traceparent_table)
{
    for (size_t i = 0; i < sizeof traceparents / sizeof traceparents[0]; i++) {
        uint8_t t[16] = {0}, p[8] = {0}, f = 0xEE;
        int rc = prop_parse_traceparent(traceparents[i].value, t, p, &f);
        ck_assert_msg(rc == (traceparents[i].ok ? 0 : -1), "case %zu: \"%s\" gave %d", i,
                      traceparents[i].value, rc);
        if (rc == 0) {
            char th[33], ph[17];
            traceid_to_hex(t, 16, th);
            traceid_to_hex(p, 8, ph);
            ck_assert_str_eq(th, TID);
            ck_assert_str_eq(ph, PID);
            ck_assert_int_eq(f & 1, traceparents[i].sampled);
        } else {
            ck_assert_uint_eq(f, 0xEE);   /* untouched on failure */
        }
    }
    uint8_t t[16], p[8], f;
    ck_assert_int_eq(prop_parse_traceparent(NULL, t, p, &f), -1);
    /* Flags of version 00 are kept whole; of a future version only the sampled bit. */
    ck_assert_int_eq(prop_parse_traceparent("00-" TID "-" PID "-09", t, p, &f), 0);
    ck_assert_uint_eq(f, 0x09);
    ck_assert_int_eq(prop_parse_traceparent("cc-" TID "-" PID "-09", t, p, &f), 0);
    ck_assert_uint_eq(f, 0x01);
}
END_TEST

START_TEST(traceparent_format)
{
    uint8_t t[16], p[8], f;
    ck_assert_int_eq(prop_parse_traceparent("00-" TID "-" PID "-01", t, p, &f), 0);
    char out[PROP_TRACEPARENT_SIZE];
    prop_format_traceparent(t, p, true, out);
    ck_assert_str_eq(out, "00-" TID "-" PID "-01");
    prop_format_traceparent(t, p, false, out);
    ck_assert_str_eq(out, "00-" TID "-" PID "-00");
    ck_assert_uint_eq(strlen(out), PROP_TRACEPARENT_LEN);
}
END_TEST

static const struct {
    const char *value;
    int members;         /* -1 invalid */
    const char *out;
} tracestates[] = {
    {"", 0, ""},
    {"foo=1", 1, "foo=1"},
    {"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", 2, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"},
    {"foo=1 \t , \t bar=2, \t baz=3", 3, "foo=1,bar=2,baz=3"},
    {" foo=1", 1, "foo=1"},
    {"foo=1\t", 1, "foo=1"},
    {"foo=1,,bar=2", 2, "foo=1,bar=2"},          /* empty member */
    {" , ", 0, ""},
    {"foo=a b", 1, "foo=a b"},                    /* inner space kept */
    {"t61rcwkgmze@vendor=x", 1, "t61rcwkgmze@vendor=x"},
    {"0tenant@sys=1", 1, "0tenant@sys=1"},       /* tenant may start with a digit */
    {"a_-*/=1", 1, "a_-*/=1"},
    {"foo=!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~", 1, "foo=!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~"},
    {"foo =1", -1, ""},                           /* space in key */
    {"FOO=1", -1, ""},                            /* uppercase key */
    {"foo.bar=1", -1, ""},
    {"1foo=1", -1, ""},                           /* simple key must start with a letter */
    {"foo@=1,bar=2", -1, ""},
    {"@foo=1,bar=2", -1, ""},
    {"foo@@bar=1,bar=2", -1, ""},
    {"foo@bar@baz=1,bar=2", -1, ""},
    {"t@1sys=1", -1, ""},                         /* system id must start with a letter */
    {"foo=bar=baz", -1, ""},
    {"foo=,bar=3", -1, ""},                       /* empty value */
    {"foo", -1, ""},
    {"foo=1,foo=2", -1, ""},                      /* duplicate key */
    {"foo=1,foo=1", -1, ""},
    {"foo=\x01", -1, ""},
    {"foo=caf\xc3\xa9", -1, ""},                   /* non-ASCII value */
};

START_TEST(tracestate_table)
{
    char out[PROP_TRACESTATE_SIZE];
    for (size_t i = 0; i < sizeof tracestates / sizeof tracestates[0]; i++) {
        int rc = prop_parse_tracestate(tracestates[i].value, out, sizeof out);
        ck_assert_msg(rc == tracestates[i].members, "case %zu \"%s\": %d", i, tracestates[i].value,
                      rc);
        ck_assert_str_eq(out, tracestates[i].out);
    }
    ck_assert_int_eq(prop_parse_tracestate(NULL, out, sizeof out), 0);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(tracestate_limits)
{
    char in[4096], out[PROP_TRACESTATE_SIZE];
    size_t o = 0;
    /* 32 members are fine, 33 discard everything. */
    for (int i = 1; i <= 32; i++)
        o += (size_t)snprintf(in + o, sizeof in - o, "%sbar%02d=%02d", i > 1 ? "," : "", i, i);
    ck_assert_int_eq(prop_parse_tracestate(in, out, sizeof out), 32);
    ck_assert_str_eq(out, in);
    snprintf(in + o, sizeof in - o, ",bar33=33");
    ck_assert_int_eq(prop_parse_tracestate(in, out, sizeof out), -1);
    ck_assert_str_eq(out, "");

    /* Key lengths: simple 256 ok, 257 not; tenant 241, system 14. */
    char key[300];
    memset(key, 'z', 256);
    snprintf(in, sizeof in, "foo=1,%.*s=1", 256, key);
    ck_assert_int_eq(prop_parse_tracestate(in, out, sizeof out), 2);
    snprintf(in, sizeof in, "foo=1,%.*s=1", 257, (memset(key, 'z', 257), key));
    ck_assert_int_eq(prop_parse_tracestate(in, out, sizeof out), -1);
    memset(key, 't', 242);
    snprintf(in, sizeof in, "foo=1,%.*s@vvvvvvvvvvvvvv=1", 241, key);
    ck_assert_int_eq(prop_parse_tracestate(in, out, sizeof out), 2);
    snprintf(in, sizeof in, "foo=1,%.*s@v=1", 242, key);
    ck_assert_int_eq(prop_parse_tracestate(in, out, sizeof out), -1);
    ck_assert_int_eq(prop_parse_tracestate("foo=1,t@vvvvvvvvvvvvvvv=1", out, sizeof out), -1);

    /* Values: 256 characters ok, 257 not; a trailing space is OWS. */
    char val[300];
    memset(val, 'v', 257);
    snprintf(in, sizeof in, "k=%.*s", 256, val);
    ck_assert_int_eq(prop_parse_tracestate(in, out, sizeof out), 1);
    snprintf(in, sizeof in, "k=%.*s", 257, val);
    ck_assert_int_eq(prop_parse_tracestate(in, out, sizeof out), -1);
}
END_TEST

START_TEST(tracestate_truncation)
{
    /* Over PROP_TRACESTATE_MAX_LEN: members over 128 chars go first, then
     * members from the end, whole. */
    char in[8192], out[PROP_TRACESTATE_SIZE];
    char big[200];
    memset(big, 'x', 150);
    big[150] = '\0';
    size_t o = (size_t)snprintf(in, sizeof in, "first=1,huge=%s", big);
    for (int i = 0; i < 30; i++)
        o += (size_t)snprintf(in + o, sizeof in - o, ",k%02d=%.40s", i, big);
    int n = prop_parse_tracestate(in, out, sizeof out);
    ck_assert_int_gt(n, 0);
    ck_assert_uint_le(strlen(out), PROP_TRACESTATE_MAX_LEN);
    ck_assert(strncmp(out, "first=1,k00=", 12) == 0);   /* huge dropped, order kept */
    ck_assert_ptr_null(strstr(out, "huge="));
    /* Each k member is 44 chars + comma: as many as fit after "first=1". */
    ck_assert_int_eq(n, 1 + (int)((PROP_TRACESTATE_MAX_LEN - 7) / 45));

    /* A small output buffer works the same way. */
    char small[20];
    n = prop_parse_tracestate("aaa=1,bbb=2,ccc=3,ddd=4", small, sizeof small);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(small, "aaa=1,bbb=2,ccc=3");
}
END_TEST

START_TEST(xray_parse_table)
{
    prop_context c;
    char hex[33], ph[17];

    ck_assert_int_eq(prop_parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1", &c), 0);
    ck_assert_int_eq(c.source, PROP_XRAY);
    traceid_to_hex(c.trace_id, 16, hex);
    ck_assert_str_eq(hex, "5759e988bd862e3fe1be46a994272793");
    ck_assert(c.has_parent);
    traceid_to_hex(c.parent_id, 8, ph);
    ck_assert_str_eq(ph, "53995c3f42cd8ad8");
    ck_assert_int_eq(c.sampled, PROP_SAMPLED_YES);
    ck_assert(!c.sampled_requested);
    ck_assert_str_eq(c.xray_extra, "");

    /* Whitespace around ';' and '=', other keys kept in order, any key order. */
    ck_assert_int_eq(prop_parse_xray(" Self=1-67891234-12456789abcdef012345678 ; Root = 1-5759e988-bd862e3fe1be46a994272793 ;Lineage=a87bd80c:1|68fd508a:5 ; Sampled=0 ;", &c), 0);
    ck_assert(!c.has_parent);
    ck_assert_int_eq(c.sampled, PROP_SAMPLED_NO);
    ck_assert_str_eq(c.xray_extra, "Self=1-67891234-12456789abcdef012345678;Lineage=a87bd80c:1|68fd508a:5");

    ck_assert_int_eq(prop_parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?", &c), 0);
    ck_assert_int_eq(c.sampled, PROP_SAMPLED_UNKNOWN);
    ck_assert(c.sampled_requested);

    ck_assert_int_eq(prop_parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793", &c), 0);
    ck_assert_int_eq(c.sampled, PROP_SAMPLED_UNKNOWN);

    /* Uppercase hex is stored lowercase; a bad Parent means no parent. */
    ck_assert_int_eq(prop_parse_xray("Root=1-5759E988-BD862E3FE1BE46A994272793;Parent=53995C3F42CD8AD8", &c), 0);
    traceid_to_hex(c.parent_id, 8, ph);
    ck_assert_str_eq(ph, "53995c3f42cd8ad8");
    ck_assert_int_eq(prop_parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad", &c), 0);
    ck_assert(!c.has_parent);
    ck_assert_int_eq(prop_parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000", &c), 0);
    ck_assert(!c.has_parent);
    ck_assert_int_eq(prop_parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=2", &c), 0);
    ck_assert_int_eq(c.sampled, PROP_SAMPLED_UNKNOWN);

    static const char *const bad[] = {
        "", "Parent=53995c3f42cd8ad8;Sampled=1", "Root=", "Root=1-5759e988",
        "Root=1-5759e988-bd862e3fe1be46a99427279", "Root=2-5759e988-bd862e3fe1be46a994272793",
        "root=1-5759e988-bd862e3fe1be46a994272793",   /* keys are case-sensitive */
        "Root=1-00000000-000000000000000000000000", "garbage",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(prop_parse_xray(bad[i], &c) == -1, "%s", bad[i]);
        ck_assert_int_eq(c.source, PROP_NONE);
    }
    ck_assert_int_eq(prop_parse_xray(NULL, &c), -1);
}
END_TEST

START_TEST(xray_print)
{
    prop_context c;
    ck_assert_int_eq(prop_parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a:1", &c), 0);
    char out[PROP_XRAY_SIZE];
    int n = prop_format_xray(c.trace_id, c.parent_id, c.sampled, c.xray_extra, out, sizeof out);
    ck_assert_str_eq(out, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a:1");
    ck_assert_int_eq(n, (int)strlen(out));
    ck_assert_int_eq(prop_format_xray(c.trace_id, NULL, PROP_SAMPLED_NO, NULL, out, sizeof out), 50);
    ck_assert_str_eq(out, "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0");
    ck_assert_int_eq(prop_format_xray(c.trace_id, NULL, PROP_SAMPLED_UNKNOWN, "", out, sizeof out), 40);
    ck_assert_str_eq(out, "Root=1-5759e988-bd862e3fe1be46a994272793");
    ck_assert_int_eq(prop_format_xray(c.trace_id, NULL, PROP_SAMPLED_UNKNOWN, NULL, out, 40), -1);

    /* What a response says: Root only, plus the decision if asked with '?'. */
    ck_assert_int_gt(prop_xray_response(&c, c.trace_id, true, out, sizeof out), 0);
    ck_assert_str_eq(out, "Root=1-5759e988-bd862e3fe1be46a994272793");
    ck_assert_int_eq(prop_parse_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?", &c), 0);
    prop_xray_response(&c, c.trace_id, false, out, sizeof out);
    ck_assert_str_eq(out, "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0");
    prop_xray_response(NULL, c.trace_id, true, out, sizeof out);
    ck_assert_str_eq(out, "Root=1-5759e988-bd862e3fe1be46a994272793");
}
END_TEST

START_TEST(precedence)
{
    prop_context c;
    const char *tp = "00-" TID "-" PID "-01";
    const char *xr = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0";
    char hex[33];

    ck_assert_int_eq(prop_extract(tp, "congo=t61", xr, &c), PROP_W3C);
    traceid_to_hex(c.trace_id, 16, hex);
    ck_assert_str_eq(hex, TID);
    ck_assert_int_eq(c.sampled, PROP_SAMPLED_YES);
    ck_assert(c.has_parent);
    ck_assert_str_eq(c.tracestate, "congo=t61");

    /* Invalid traceparent: X-Ray is used, and tracestate is not read. */
    ck_assert_int_eq(prop_extract("ff-" TID "-" PID "-01", "congo=t61", xr, &c), PROP_XRAY);
    traceid_to_hex(c.trace_id, 16, hex);
    ck_assert_str_eq(hex, "5759e988bd862e3fe1be46a994272793");
    ck_assert_int_eq(c.sampled, PROP_SAMPLED_NO);
    ck_assert_str_eq(c.tracestate, "");

    /* A bad tracestate does not spoil the traceparent. */
    ck_assert_int_eq(prop_extract(tp, "foo=1,foo=2", NULL, &c), PROP_W3C);
    ck_assert_str_eq(c.tracestate, "");

    ck_assert_int_eq(prop_extract(NULL, "foo=1", NULL, &c), PROP_NONE);
    ck_assert_str_eq(c.tracestate, "");
    ck_assert(!c.has_parent);
    ck_assert_int_eq(prop_extract("junk", NULL, "junk", &c), PROP_NONE);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("propagation");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, traceparent_table);
    tcase_add_test(tc, traceparent_format);
    tcase_add_test(tc, tracestate_table);
    tcase_add_test(tc, tracestate_limits);
    tcase_add_test(tc, tracestate_truncation);
    tcase_add_test(tc, xray_parse_table);
    tcase_add_test(tc, xray_print);
    tcase_add_test(tc, precedence);
    suite_add_tcase(s, tc);
    return s;
}
