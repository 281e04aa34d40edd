/* Unit tests for app/telemetry: a request's way from its headers to rows in
 * a real spool file: the SERVER span and its attributes, the incoming
 * traceparent, CLIENT spans under the current span, the access record,
 * error reports for 5xx, unsampled requests, and a spool that cannot be
 * written (the request goes on, the drops are counted afterwards). */
#include "check_main.h"

#include <dirent.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/config.h"
#include "app/telemetry.h"
#include "util/tstamp.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define PID "00f067aa0ba902b7"
/* a traceparent in trace TID with parent span i + 1 */
#define TID_PARENT(i) ((i) == 0 ? "00-" TID "-00f067aa0ba90201-01" : "00-" TID "-00f067aa0ba90202-01")

static char dir[64];
static char spool_path[192];
static app_config cfg;
static rng_t rng;
static telemetry *tel;
/* CRUDDUR_SPOOL_GATHER_MS of the next start: most cases look at one idle
 * moment at a time, so by default an idle worker copies at once. */
static int gather_ms;

/* Telemetry on the spool at spool_setting; copy: CRUDDUR_SPOOL_COPY, or NULL. */
static void start_copying(const char *spool_setting, const char *copy)
{
    char state[128], spool_env[192], copy_env[64], gather_env[64], err[256];
    snprintf(state, sizeof state, "CRUDDUR_STATE_DIR=%s", dir);
    snprintf(spool_env, sizeof spool_env, "CRUDDUR_SPOOL=%s", spool_setting);
    snprintf(copy_env, sizeof copy_env, "CRUDDUR_SPOOL_COPY=%s", copy != NULL ? copy : "");
    snprintf(gather_env, sizeof gather_env, "CRUDDUR_SPOOL_GATHER_MS=%d", gather_ms);
    char *env[] = {state, spool_env, copy_env, gather_env, NULL};
    ck_assert_msg(config_load(&cfg, env, err, sizeof err) == 0, "%s", err);
    rng_seed_with(&rng, 42);
    ck_assert_msg(telemetry_new(&cfg, &rng, &tel, err, sizeof err) == 0, "%s", err);
    ck_assert_ptr_nonnull(tel);
}

static void start_with(const char *spool_setting)
{
    start_copying(spool_setting, NULL);
}

static void restart_copying(const char *copy)
{
    telemetry_free(tel);
    tel = NULL;
    config_free(&cfg);
    start_copying(spool_path, copy);
}

static void setup(void)
{
    strcpy(dir, "/tmp/cruddur-test-tel-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(spool_path, sizeof spool_path, "%s/spool.db", dir);
    unsetenv("OTEL_TRACES_SAMPLER");
    gather_ms = 0;
    start_with(spool_path);
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        if (unlink(p) != 0)
            remove_tree(p);
    }
    closedir(d);
    rmdir(path);
}

static void teardown(void)
{
    telemetry_free(tel);
    tel = NULL;
    config_free(&cfg);
    remove_tree(dir);
}

/* One request through begin/route/respond/finish, with the given status. */
static void run_request(const char *method, const char *uri, const char *traceparent,
                        int status, http_response *resp)
{
    char m[32], u[256], tp[128];
    snprintf(m, sizeof m, "REQUEST_METHOD=%s", method);
    snprintf(u, sizeof u, "REQUEST_URI=%s", uri);
    snprintf(tp, sizeof tp, "HTTP_TRACEPARENT=%s", traceparent ? traceparent : "");
    char *env[] = {m, u, tp, "REMOTE_ADDR=192.0.2.7", "SERVER_NAME=api.example",
                   "SERVER_PORT=443", "HTTPS=on", "HTTP_USER_AGENT=check/1",
                   "HTTP_AUTHORIZATION=Bearer sekrit", "SERVER_PROTOCOL=HTTP/1.1", NULL};
    http_request req;
    ck_assert_int_eq(http_request_init(&req, env), 0);
    http_response_init(resp);
    telemetry_begin(tel, &req);
    route_match rm;
    route_match_path(req.method, req.path, &rm);
    telemetry_route(tel, &req, &rm);

    /* a statement, as the database layer reports it */
    static const app_query q = {0, "SELECT", "activities", "SELECT 1 FROM activities WHERE uuid = ?"};
    int64_t t0 = tstamp_now_ns();
    app_db_exec e = {&q, t0, t0 + 1000, SQLITE_DONE};
    telemetry_db_observer(tel, &e);

    if (status >= 500)
        http_response_error(resp, status, "internal_error", "x");
    else
        http_response_text(resp, status, "ok");
    telemetry_respond(tel, &req, resp);
    telemetry_finish(tel, &req, resp);
    http_request_free(&req);
}

static long long q_int(const char *sql)
{
    sqlite3 *db;
    ck_assert_int_eq(sqlite3_open_v2(spool_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

START_TEST(server_span_continues_the_callers_trace)
{
    http_response resp;
    run_request("GET", "/api/activities/home?api_key=abc&x=1", "00-" TID "-" PID "-01", 200, &resp);
    ck_assert_ptr_nonnull(strstr(resp.headers.data, "X-Amzn-Trace-Id: Root=1-4bf92f35-77b34da6a3ce929d0e0e4736\r\n"));
    http_response_free(&resp);

    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE kind = 2 AND trace_id = '" TID "'"
                           " AND parent_span_id = '" PID "' AND name = 'GET /api/activities/home'"),
                     1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span s WHERE s.kind = 2"
                           " AND json_extract(s.attributes, '$.\"http.request.method\"') = 'GET'"
                           " AND json_extract(s.attributes, '$.\"http.route\"') = '/api/activities/home'"
                           " AND json_extract(s.attributes, '$.\"http.response.status_code\"') = 200"
                           " AND json_extract(s.attributes, '$.\"url.scheme\"') = 'https'"
                           " AND json_extract(s.attributes, '$.\"url.query\"') = 'api_key=[REDACTED]&x=1'"
                           " AND json_extract(s.attributes, '$.\"client.address\"') = '192.0.2.7'"
                           " AND json_extract(s.attributes, '$.\"server.port\"') = 443"
                           " AND json_extract(s.attributes, '$.\"network.protocol.version\"') = '1.1'"),
                     1);
    /* the statement is a CLIENT span under the SERVER span */
    ck_assert_int_eq(q_int("SELECT count(*) FROM span c JOIN span s ON c.parent_span_id = s.span_id"
                           " WHERE c.kind = 3 AND s.kind = 2 AND c.name = 'SELECT activities'"
                           " AND json_extract(c.attributes, '$.\"db.system.name\"') = 'sqlite'"),
                     1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM log WHERE trace_id = '" TID "'"
                           " AND severity_number = 9 AND body LIKE '192.0.2.7 GET https %'"
                           " AND body NOT LIKE '%abc%'"),
                     1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM error"), 0);
    ck_assert(telemetry_spool_ok(tel));
}
END_TEST

START_TEST(server_errors_are_reported_with_their_trace)
{
    http_response resp;
    run_request("GET", "/api/activities/home", NULL, 500, &resp);
    http_response_free(&resp);
    ck_assert_int_eq(q_int("SELECT count(*) FROM error e JOIN span s ON s.trace_id = e.trace_id"
                           " WHERE s.kind = 2 AND s.status_code = 2 AND e.level = 'error'"
                           " AND e.context = 'GET /api/activities/home'"
                           " AND e.request NOT LIKE '%sekrit%'"),
                     1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE kind = 2 AND events LIKE '%exception%'"), 1);
}
END_TEST

START_TEST(unsampled_requests_keep_logs_and_errors)
{
    telemetry_free(tel);
    config_free(&cfg);
    setenv("OTEL_TRACES_SAMPLER", "always_off", 1);
    start_with(spool_path);
    http_response resp;
    run_request("GET", "/api/activities/home", NULL, 503, &resp);
    http_response_free(&resp);
    unsetenv("OTEL_TRACES_SAMPLER");
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM log WHERE length(trace_id) = 32"), 1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM error WHERE length(trace_id) = 32"), 1);
}
END_TEST

START_TEST(an_unwritable_spool_drops_and_counts)
{
    telemetry_free(tel);
    config_free(&cfg);
    char missing[160];
    snprintf(missing, sizeof missing, "%s/not-yet/spool.db", dir);
    start_with(missing);
    http_response resp;
    run_request("GET", "/api/activities/home", NULL, 200, &resp);
    ck_assert_int_eq(resp.status, 200);
    http_response_free(&resp);
    ck_assert(!telemetry_spool_ok(tel));
    /* The directory appears; a new worker (no reopen wait) writes, and the
     * drops of the earlier one were its own: counted by a worker that can. */
    char sub[160];
    snprintf(sub, sizeof sub, "%s/not-yet", dir);
    ck_assert_int_eq(mkdir(sub, 0750), 0);
    telemetry_free(tel);
    config_free(&cfg);
    start_with(missing);
    run_request("GET", "/api/activities/home", NULL, 200, &resp);
    http_response_free(&resp);
    ck_assert(telemetry_spool_ok(tel));
    snprintf(spool_path, sizeof spool_path, "%s", missing);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE kind = 2"), 1);
}
END_TEST

static int journal_files(void)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, "spool.db-journal-", 17) == 0;
    closedir(d);
    return n;
}

/* The worker copying its journal itself (CRUDDUR_SPOOL_COPY=inline): in
 * step with its idle moments. */
START_TEST(a_worker_journals_and_copies_when_idle)
{
    restart_copying("inline");
    http_response resp;
    /* before the loop reports an idle moment: straight into the spool */
    run_request("GET", "/api/activities/home", NULL, 200, &resp);
    http_response_free(&resp);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE kind = 2"), 1);
    ck_assert_int_eq(journal_files(), 0);

    telemetry_idle(tel);          /* idle: from now on, journaled */
    for (int i = 0; i < 3; i++) {
        run_request("GET", "/api/activities/home", NULL, 200, &resp);
        http_response_free(&resp);
    }
    ck_assert_int_eq(journal_files(), 1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE kind = 2"), 1);
    telemetry_idle(tel);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE kind = 2"), 4);
    ck_assert_int_eq(q_int("SELECT count(*) FROM log WHERE body LIKE '%GET%'"), 4);
    ck_assert(telemetry_spool_ok(tel));

    /* what waits at exit goes in, and the journal goes away */
    run_request("GET", "/api/activities/home", NULL, 200, &resp);
    http_response_free(&resp);
    telemetry_free(tel);
    tel = NULL;
    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE kind = 2"), 5);
    ck_assert_int_eq(journal_files(), 0);
}
END_TEST

START_TEST(a_killed_workers_journal_is_copied_by_another)
{
    restart_copying("inline");
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        http_response resp;
        telemetry_idle(tel);
        for (int i = 0; i < 2; i++) {
            run_request("GET", "/api/activities/home", TID_PARENT(i), 200, &resp);
            http_response_free(&resp);
        }
        raise(SIGKILL);             /* answered, not yet in the spool */
        _exit(99);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFSIGNALED(st));
    ck_assert_int_eq(journal_files(), 1);
    /* this worker: one request, then an idle moment */
    http_response resp;
    telemetry_idle(tel);
    run_request("GET", "/api/activities/home", NULL, 200, &resp);
    http_response_free(&resp);
    telemetry_idle(tel);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE kind = 2"), 3);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE kind = 2 AND trace_id = '" TID "'"), 2);
    ck_assert_int_eq(journal_files(), 1);       /* its own */
}
END_TEST

/* Polls q until it answers want or 10 s have passed; returns the answer. */
static int64_t await_int(const char *q, int64_t want)
{
    int64_t got = q_int(q);
    for (int i = 0; i < 1000 && got != want; i++) {
        usleep(10000);
        got = q_int(q);
    }
    return got;
}

/* The default: the journal is handed to the copier thread, and the worker
 * goes on with its second journal. */
START_TEST(a_worker_hands_its_journal_to_the_copier)
{
    http_response resp;
    run_request("GET", "/api/activities/home", NULL, 200, &resp);    /* direct */
    http_response_free(&resp);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE kind = 2"), 1);

    telemetry_idle(tel);          /* idle: copier started */
    for (int i = 0; i < 3; i++) {
        run_request("GET", "/api/activities/home", NULL, 200, &resp);
        http_response_free(&resp);
    }
    ck_assert_int_eq(journal_files(), 1);
    telemetry_idle(tel);          /* handed over; a second journal */
    ck_assert_int_eq(journal_files(), 2);
    ck_assert_int_eq(await_int("SELECT count(*) FROM span WHERE kind = 2", 4), 4);

    /* turn after turn, nothing lost or repeated */
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 20; i++) {
            run_request("GET", "/api/activities/home", NULL, 200, &resp);
            http_response_free(&resp);
        }
        telemetry_idle(tel);
        ck_assert_int_eq(await_int("SELECT count(*) FROM span WHERE kind = 2", 24 + 20 * round),
                         24 + 20 * round);
    }
    ck_assert_int_eq(q_int("SELECT count(DISTINCT span_id) FROM span WHERE kind = 2"), 104);
    ck_assert(telemetry_spool_ok(tel));

    /* what waits at exit goes in, and both journals go away */
    run_request("GET", "/api/activities/home", NULL, 200, &resp);
    http_response_free(&resp);
    telemetry_free(tel);
    tel = NULL;
    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE kind = 2"), 105);
    ck_assert_int_eq(journal_files(), 0);
}
END_TEST

/* Records that wait behind a copier busy with the other journal are not
 * left until the next request: the idle hook asks to be called again. */
START_TEST(an_idle_worker_leaves_nothing_behind_a_busy_copier)
{
    http_response resp;
    run_request("GET", "/api/activities/home", NULL, 200, &resp);    /* direct */
    http_response_free(&resp);
    ck_assert_int_eq(telemetry_idle(tel), -1);  /* copier started, nothing waits */

    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(spool_path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    run_request("GET", "/api/activities/home", NULL, 200, &resp);
    http_response_free(&resp);
    ck_assert_int_ge(telemetry_idle(tel), 0);   /* handed over, the copier waits */
    run_request("GET", "/api/activities/home", NULL, 200, &resp);
    http_response_free(&resp);
    ck_assert_int_ge(telemetry_idle(tel), 0);   /* this one waits for its turn */
    ck_assert_int_eq(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    /* the FastCGI loop's part: call again when asked, no request comes */
    int again = 0, calls = 0;
    while ((again = telemetry_idle(tel)) >= 0 && calls++ < 1000)
        usleep((useconds_t)again * 1000);
    ck_assert_int_eq(again, -1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE kind = 2"), 3);
    ck_assert(telemetry_spool_ok(tel));
}
END_TEST

/* With a gather time, an idle worker leaves what it journaled where it is
 * until the oldest record has waited that long, asks to be called again
 * then, and copies it all in one go: one copy instead of one per request. */
static void records_gather_first(const char *copy)
{
    gather_ms = 1000;
    restart_copying(copy);
    http_response resp;
    run_request("GET", "/api/activities/home", NULL, 200, &resp);    /* direct */
    http_response_free(&resp);
    long long before = q_int("SELECT count(*) FROM span WHERE kind = 2");
    ck_assert_int_eq(telemetry_idle(tel), -1);  /* from now on, journaled */
    int64_t first = tstamp_mono_ns();
    for (int i = 0; i < 3; i++) {
        run_request("GET", "/api/activities/home", NULL, 200, &resp);
        http_response_free(&resp);
        int again = telemetry_idle(tel);
        ck_assert_int_gt(again, 0);
        ck_assert_int_le(again, gather_ms);
    }
    usleep(20000);
    int64_t looked = tstamp_mono_ns();
    long long copied = q_int("SELECT count(*) FROM span WHERE kind = 2") - before;
    if (looked - first < (int64_t)gather_ms * 1000000 / 2)      /* not a stalled machine */
        ck_assert_int_eq(copied, 0);

    /* the FastCGI loop's part: call again when asked, no request comes */
    int again = 0, calls = 0;
    while ((again = telemetry_idle(tel)) >= 0 && calls++ < 1000)
        usleep((useconds_t)again * 1000);
    ck_assert_int_eq(again, -1);
    ck_assert_int_ge(tstamp_mono_ns() - first, (int64_t)gather_ms * 1000000);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE kind = 2") - before, 3);
    ck_assert_int_le(calls, 20);
    ck_assert(telemetry_spool_ok(tel));
}

START_TEST(an_idle_worker_lets_records_gather_first)
{
    records_gather_first(NULL);
    records_gather_first("inline");
}
END_TEST

START_TEST(off_means_nothing)
{
    telemetry_free(tel);
    config_free(&cfg);
    char err[256];
    char *env[] = {"CRUDDUR_TELEMETRY=off", NULL};
    ck_assert_int_eq(config_load(&cfg, env, err, sizeof err), 0);
    ck_assert_int_eq(telemetry_new(&cfg, &rng, &tel, err, sizeof err), 0);
    ck_assert_ptr_null(tel);
    ck_assert_ptr_null(telemetry_trace(tel));
    ck_assert(telemetry_spool_ok(tel));
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("telemetry");
    TCase *tc = tcase_create("requests");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, server_span_continues_the_callers_trace);
    tcase_add_test(tc, server_errors_are_reported_with_their_trace);
    tcase_add_test(tc, unsampled_requests_keep_logs_and_errors);
    tcase_add_test(tc, an_unwritable_spool_drops_and_counts);
    tcase_add_test(tc, a_worker_journals_and_copies_when_idle);
    tcase_add_test(tc, a_killed_workers_journal_is_copied_by_another);
    tcase_add_test(tc, a_worker_hands_its_journal_to_the_copier);
    tcase_add_test(tc, an_idle_worker_leaves_nothing_behind_a_busy_copier);
    tcase_add_test(tc, an_idle_worker_lets_records_gather_first);
    tcase_add_test(tc, off_means_nothing);
    suite_add_tcase(s, tc);
    return s;
}
