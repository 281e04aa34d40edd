/* Unit tests for spool/journal, spool/checkpointer and the spool functions
 * they stand on (spool_write_batches, marks): batches appended and copied
 * into the spool in one transaction with every field intact; a process that
 * dies (kill -9) with batches waiting loses none, and none is copied twice,
 * not even when it died between a copy's commit and the journal's new
 * generation; torn records, full journals, a busy spool, stale marks; the
 * checkpointer keeps the WAL starting over. Each test works in its own
 * temporary directory. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check_main.h"
#include "spool/checkpointer.h"
#include "spool/journal.h"
#include "spool/spool.h"

#include "spool_fixture.h"

/* Runs fn in a child that then kills itself (kill -9) without closing
 * anything, as a crashed worker does. */
static void die_after(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        fn();
        raise(SIGKILL);
        _exit(99);
    }
    int st = 0;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

static spool_journal_recovery recover_ok(spool *s)
{
    spool_journal_recovery st;
    ck_assert_int_eq(spool_journal_recover(s, path, 0, &st), SPOOL_OK);
    return st;
}

/* ---- writing several batches at once, marks ----------------------------- */

START_TEST(test_write_batches_is_one_transaction)
{
    spool *s = open_ok(0);
    req r[3];
    for (unsigned i = 0; i < 3; i++)
        mk_req(&r[i], i, i == 1);
    spool_batch b[3] = {r[0].b, r[1].b, r[2].b};
    spool_mark m = {"journal-test", "1 99"};
    ck_assert_int_eq(spool_write_batches(s, b, 3, &m, 0, 0), SPOOL_OK);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), 9);
    ck_assert_int_eq(q_int("SELECT count(*) FROM log"), 6);
    ck_assert_int_eq(q_int("SELECT count(*) FROM error"), 1);
    /* ids in the order of the batches */
    ck_assert_int_eq(q_int("SELECT count(*) FROM span a JOIN span b ON b.id = a.id + 1"
                           " WHERE a.start_ns > b.start_ns"), 0);
    char v[32];
    ck_assert_int_eq(spool_mark_get(s, "journal-test", v, sizeof v), SPOOL_OK);
    ck_assert_str_eq(v, "1 99");
    ck_assert_int_eq(q_int("SELECT count(*) FROM meta WHERE key = 'mark:journal-test'"), 1);

    /* one bad batch: nothing of the three, and the mark unchanged */
    strcpy(r[2].sp[1].span_id, "XYZ");      /* b[2] points at r[2]'s spans */
    spool_mark m2 = {"journal-test", "2 5"};
    ck_assert_int_eq(spool_write_batches(s, b, 3, &m2, 0, 0), SPOOL_INVALID);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), 9);
    ck_assert_int_eq(spool_mark_get(s, "journal-test", v, sizeof v), SPOOL_OK);
    ck_assert_str_eq(v, "1 99");
    ck_assert_int_eq(spool_write_batches(s, NULL, 0, NULL, 0, 0), SPOOL_OK);
    spool_close(s);
}
END_TEST

static int keys_seen;
static int count_key(void *ctx, const char *key)
{
    (void)ctx;
    ck_assert(strncmp(key, "journal-", 8) == 0);
    keys_seen++;
    return 0;
}

START_TEST(test_marks)
{
    spool *s = open_ok(0);
    char v[8];
    ck_assert_int_eq(spool_mark_get(s, "journal-a", v, sizeof v), SPOOL_NOTFOUND);
    spool_mark a = {"journal-a", "1 32"}, b = {"journal-b", "7 7"}, other = {"other", "x"};
    ck_assert_int_eq(spool_mark_set(s, &a), SPOOL_OK);
    ck_assert_int_eq(spool_mark_set(s, &b), SPOOL_OK);
    ck_assert_int_eq(spool_mark_set(s, &other), SPOOL_OK);
    keys_seen = 0;
    ck_assert_int_eq(spool_mark_each(s, "journal-", count_key, NULL), SPOOL_OK);
    ck_assert_int_eq(keys_seen, 2);
    /* marks never touch the spool's own keys */
    ck_assert_int_eq(q_int("SELECT count(*) FROM meta WHERE key = 'views_hash'"), 1);
    spool_mark gone = {"journal-a", NULL};
    ck_assert_int_eq(spool_mark_set(s, &gone), SPOOL_OK);
    ck_assert_int_eq(spool_mark_get(s, "journal-a", v, sizeof v), SPOOL_NOTFOUND);
    /* truncated to the buffer */
    ck_assert_int_eq(spool_mark_get(s, "journal-b", v, 3), SPOOL_OK);
    ck_assert_str_eq(v, "7 ");
    spool_mark empty = {"", "x"};
    ck_assert_int_eq(spool_mark_set(s, &empty), SPOOL_ERROR);
    spool_close(s);
}
END_TEST

/* ---- the journal -------------------------------------------------------- */

START_TEST(test_append_and_flush_keep_every_field)
{
    spool *s = open_ok(0);
    spool_journal *j = journal_ok();
    ck_assert_int_eq(count_files("spool.db-journal-"), 1);
    append_n(j, 0, 10);
    ck_assert_int_eq(spool_journal_batches(j), 10);
    ck_assert_int_eq(spool_journal_records(j), 10 * 5 + 2);
    ck_assert_int_gt(spool_journal_bytes(j), 0);
    ck_assert_int_gt(spool_journal_oldest_ns(j), 0);
    ck_assert_int_eq(server_spans(), 0);                 /* not in the spool yet */

    ck_assert_int_eq(spool_journal_flush(j, s, 0), SPOOL_OK);
    ck_assert_int_eq(spool_journal_batches(j), 0);
    ck_assert_int_eq(spool_journal_bytes(j), 0);
    ck_assert_int_eq(spool_journal_oldest_ns(j), 0);
    ck_assert_int_eq(server_spans(), 10);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span"), 30);
    ck_assert_int_eq(q_int("SELECT count(*) FROM log"), 20);
    ck_assert_int_eq(q_int("SELECT count(*) FROM error"), 2);
    /* every field as written (trace 5, batch 4, has an error) */
    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE kind = 2"
                           " AND trace_id = '0000000065f0a1b20000000000000005'"
                           " AND span_id = '0000000500000001' AND parent_span_id IS NULL"
                           " AND name = 'GET /api/x' AND start_ns = 5000000000"
                           " AND end_ns = 5000005000 AND status_code = 2"
                           " AND status_message = 'boom'"
                           " AND json_extract(attributes, '$.n') = 4"
                           " AND json_extract(attributes, '$.ratio') = 0.5"
                           " AND json_extract(events, '$[0].name') = 'exception'"
                           " AND links = '[]' AND trace_state = 'vendor=1' AND flags = 1"
                           " AND scope_name = 'cruddur' AND scope_version = '0.1.0'"), 1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE kind = 3"
                           " AND parent_span_id = '0000000500000001' AND attributes = '{}'"
                           " AND events = '[]' AND trace_state IS NULL"), 1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM log WHERE trace_id = "
                           "'0000000065f0a1b20000000000000005' AND body = 'access'"
                           " AND time_ns = 5000000010 AND observed_ns = 5000000011"
                           " AND severity_number = 9 AND severity_text = 'INFO'"
                           " AND json_extract(attributes, '$.\"http.response.status_code\"') = 200"
                           " AND span_id = '0000000500000001'"), 1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM error WHERE uuid = "
                           "'00000004-1111-4222-8333-444455556666' AND class = 'RuntimeError'"
                           " AND message = 'boom' AND context = 'GET /api/x' AND level = 'error'"
                           " AND span_id = '0000000500000001'"), 1);
    ck_assert_int_eq(q_int("SELECT count(DISTINCT resource_id) FROM span"), 1);

    /* the mark names the journal; appending goes on in the next generation */
    char key[160];
    snprintf(key, sizeof key, "SELECT count(*) FROM meta WHERE key = 'mark:%s'",
             spool_journal_name(j));
    ck_assert_int_eq(q_int(key), 1);
    append_n(j, 10, 3);
    ck_assert_int_eq(spool_journal_flush(j, s, 0), SPOOL_OK);
    ck_assert_int_eq(server_spans(), 13);
    ck_assert_int_eq(spool_journal_flush(j, s, 0), SPOOL_OK);     /* nothing waits: a no-op */
    ck_assert_int_eq(server_spans(), 13);

    /* closed with nothing waiting: file and mark gone */
    spool_journal_close(j, s);
    ck_assert_int_eq(count_files("spool.db-journal-"), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM meta WHERE key LIKE 'mark:%'"), 0);
    spool_close(s);
}
END_TEST

START_TEST(test_invalid_batch_is_refused)
{
    spool_journal *j = journal_ok();
    req r;
    mk_req(&r, 1, 0);
    strcpy(r.sp[0].trace_id, "not-hex");
    ck_assert_int_eq(spool_journal_append(j, &r.b), SPOOL_INVALID);
    mk_req(&r, 2, 0);
    r.lg[0].attributes_json = "{\"a\":";
    ck_assert_int_eq(spool_journal_append(j, &r.b), SPOOL_INVALID);
    ck_assert_int_eq(spool_journal_batches(j), 0);
    spool_journal_close(j, NULL);
}
END_TEST

static void append_then_die(void)
{
    spool_journal *j = journal_ok();
    append_n(j, 0, 7);
}

START_TEST(test_kill_9_loses_nothing)
{
    spool *s = open_ok(0);
    die_after(append_then_die);
    ck_assert_int_eq(count_files("spool.db-journal-"), 1);
    ck_assert_int_eq(server_spans(), 0);
    spool_journal_recovery st = recover_ok(s);
    ck_assert_int_eq(st.journals, 1);
    ck_assert_int_eq(st.batches, 7);
    ck_assert_int_eq(st.records, 7 * 5 + 1);
    ck_assert_int_eq(st.kept, 0);
    ck_assert_int_eq(server_spans(), 7);
    ck_assert_int_eq(q_int("SELECT count(*) FROM error"), 1);
    ck_assert_int_eq(count_files("spool.db-journal-"), 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM meta WHERE key LIKE 'mark:%'"), 0);
    /* once */
    st = recover_ok(s);
    ck_assert_int_eq(st.journals, 0);
    ck_assert_int_eq(server_spans(), 7);
    spool_close(s);
}
END_TEST

static void flush_some_then_die(void)
{
    spool *s = open_ok(0);
    spool_journal *j = journal_ok();
    append_n(j, 0, 4);
    ck_assert_int_eq(spool_journal_flush(j, s, 0), SPOOL_OK);
    append_n(j, 4, 3);
    ck_assert_int_eq(spool_journal_flush(j, s, 0), SPOOL_OK);
    append_n(j, 7, 2);
}

START_TEST(test_kill_9_after_flushes_copies_the_rest_once)
{
    spool *s = open_ok(0);
    die_after(flush_some_then_die);
    ck_assert_int_eq(server_spans(), 7);
    spool_journal_recovery st = recover_ok(s);
    ck_assert_int_eq(st.journals, 1);
    ck_assert_int_eq(st.batches, 2);
    ck_assert_int_eq(server_spans(), 9);
    ck_assert_int_eq(q_int("SELECT count(DISTINCT trace_id) FROM span WHERE kind = 2"), 9);
    spool_close(s);
}
END_TEST

/* The journal's file name, found in dir. */
static void journal_path(char *out, size_t size)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    out[0] = '\0';
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "spool.db-journal-", 17) == 0)
            ck_assert_int_lt(snprintf(out, size, "%s/%.200s", dir, e->d_name), (int)size);
    closedir(d);
    ck_assert(out[0] != '\0');
}

static unsigned char *slurp(const char *p, size_t *n)
{
    int fd = open(p, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    struct stat sb;
    ck_assert_int_eq(fstat(fd, &sb), 0);
    unsigned char *buf = malloc((size_t)sb.st_size);
    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(pread(fd, buf, (size_t)sb.st_size, 0), sb.st_size);
    close(fd);
    *n = (size_t)sb.st_size;
    return buf;
}

static void spit(const char *p, const unsigned char *buf, size_t n)
{
    int fd = open(p, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, buf, n, 0), (ssize_t)n);
    close(fd);
}

/* Committed, then died before the journal moved to its next generation:
 * the file as it was before the flush, the mark as after it. */
static void flush_then_die_before_next_generation(void)
{
    spool *s = open_ok(0);
    spool_journal *j = journal_ok();
    append_n(j, 0, 5);
    char jp[256];
    journal_path(jp, sizeof jp);
    size_t n = 0;
    unsigned char *before = slurp(jp, &n);
    ck_assert_int_eq(spool_journal_flush(j, s, 0), SPOOL_OK);
    spit(jp, before, n);
    free(before);
}

START_TEST(test_death_between_commit_and_next_generation)
{
    spool *s = open_ok(0);
    die_after(flush_then_die_before_next_generation);
    ck_assert_int_eq(server_spans(), 5);
    spool_journal_recovery st = recover_ok(s);
    ck_assert_int_eq(st.journals, 1);
    ck_assert_int_eq(st.batches, 0);
    ck_assert_int_eq(server_spans(), 5);
    ck_assert_int_eq(count_files("spool.db-journal-"), 0);
    spool_close(s);
}
END_TEST

/* The last record half written (its head not yet, or its payload cut). */
static void die_with_a_torn_record(void)
{
    spool_journal *j = journal_ok();
    append_n(j, 0, 4);
    size_t whole = spool_journal_bytes(j);
    append_n(j, 4, 1);
    size_t last = spool_journal_bytes(j) - whole;
    char jp[256];
    journal_path(jp, sizeof jp);
    size_t n = 0;
    unsigned char *buf = slurp(jp, &n);
    /* scribble over the middle of the last record's payload */
    size_t at = 32 + whole + last / 2;
    memset(buf + at, 'x', 16);
    spit(jp, buf, n);
    free(buf);
}

START_TEST(test_torn_record_ends_the_journal)
{
    spool *s = open_ok(0);
    die_after(die_with_a_torn_record);
    spool_journal_recovery st = recover_ok(s);
    ck_assert_int_eq(st.journals, 1);
    ck_assert_int_eq(st.batches, 4);
    ck_assert_int_eq(server_spans(), 4);
    spool_close(s);
}
END_TEST

START_TEST(test_living_journals_are_left_alone)
{
    spool *s = open_ok(0);
    spool_journal *j = journal_ok();
    append_n(j, 0, 3);
    spool_journal_recovery st = recover_ok(s);
    ck_assert_int_eq(st.journals, 0);
    ck_assert_int_eq(server_spans(), 0);
    ck_assert_int_eq(spool_journal_flush(j, s, 0), SPOOL_OK);
    ck_assert_int_eq(server_spans(), 3);
    /* closed with batches waiting: the file stays, for the next recovery */
    append_n(j, 3, 2);
    spool_journal_close(j, s);
    ck_assert_int_eq(count_files("spool.db-journal-"), 1);
    st = recover_ok(s);
    ck_assert_int_eq(st.journals, 1);
    ck_assert_int_eq(server_spans(), 5);
    spool_close(s);
}
END_TEST

static void discard_then_die(void)
{
    spool_journal *j = journal_ok();
    append_n(j, 0, 6);
    ck_assert_int_eq(spool_journal_discard(j), 6 * 5 + 1);
    ck_assert_int_eq(spool_journal_batches(j), 0);
    append_n(j, 6, 1);
}

START_TEST(test_discarded_batches_never_come_back)
{
    spool *s = open_ok(0);
    die_after(discard_then_die);
    spool_journal_recovery st = recover_ok(s);
    ck_assert_int_eq(st.batches, 1);
    ck_assert_int_eq(server_spans(), 1);
    ck_assert_int_eq(q_int("SELECT count(*) FROM span WHERE trace_id ="
                           " '0000000065f0a1b20000000000000007'"), 3);
    spool_close(s);
}
END_TEST

START_TEST(test_busy_spool_keeps_the_batches)
{
    spool *s = open_ok(0);
    spool_journal *j = journal_ok();
    append_n(j, 0, 3);
    sqlite3 *db = lock_spool();
    ck_assert_int_eq(spool_journal_flush(j, s, 20000000), SPOOL_BUSY);
    ck_assert_int_eq(spool_journal_batches(j), 3);
    unlock_spool(db);
    ck_assert_int_eq(spool_journal_flush(j, s, 0), SPOOL_OK);
    ck_assert_int_eq(server_spans(), 3);
    spool_journal_close(j, s);
    spool_close(s);
}
END_TEST

START_TEST(test_full_journal_asks_for_a_flush)
{
    spool *s = open_ok(0);
    spool_journal *j = journal_ok();
    /* a record of about 64 KiB: a few dozen fill the file */
    size_t big = 64 * 1024;
    char *attrs = malloc(big + 32);
    ck_assert_ptr_nonnull(attrs);
    strcpy(attrs, "{\"blob\":\"");
    memset(attrs + 9, 'a', big);
    strcpy(attrs + 9 + big, "\"}");
    req r;
    unsigned n = 0;
    int rc;
    for (;;) {
        mk_req(&r, n, 0);
        r.sp[0].attributes_json = attrs;
        if ((rc = spool_journal_append(j, &r.b)) != SPOOL_OK)
            break;
        n++;
        ck_assert_int_lt(n, 1000);
    }
    ck_assert_int_eq(rc, SPOOL_FULL);
    ck_assert_int_gt(n, 10);
    ck_assert_int_eq(spool_journal_batches(j), n);
    ck_assert_int_eq(spool_journal_flush(j, s, 0), SPOOL_OK);
    ck_assert_int_eq(spool_journal_append(j, &r.b), SPOOL_OK);
    ck_assert_int_eq(spool_journal_flush(j, s, 0), SPOOL_OK);
    ck_assert_int_eq(server_spans(), n + 1);
    free(attrs);
    spool_journal_close(j, s);
    spool_close(s);
}
END_TEST

START_TEST(test_stale_marks_and_unfinished_files)
{
    spool *s = open_ok(0);
    spool_mark m = {"spool.db-journal-1-00000000deadbeef", "3 100"};
    ck_assert_int_eq(spool_mark_set(s, &m), SPOOL_OK);
    /* a journal whose process died while creating it: too young to remove */
    char p[256];
    snprintf(p, sizeof p, "%s/spool.db-journal-2-0000000000000001.new", dir);
    int fd = open(p, O_CREAT | O_WRONLY, 0640);
    ck_assert_int_ge(fd, 0);
    close(fd);
    spool_journal_recovery st = recover_ok(s);
    ck_assert_int_eq(st.journals, 0);
    ck_assert_int_eq(q_int("SELECT count(*) FROM meta WHERE key LIKE 'mark:%'"), 0);
    ck_assert_int_eq(count_files("spool.db-journal-"), 1);
    /* old enough */
    struct timespec old[2] = {{time(NULL) - 3600, 0}, {time(NULL) - 3600, 0}};
    ck_assert_int_eq(utimensat(AT_FDCWD, p, old, 0), 0);
    recover_ok(s);
    ck_assert_int_eq(count_files("spool.db-journal-"), 0);
    spool_close(s);
}
END_TEST

START_TEST(test_unwritable_directory)
{
    spool *s = open_ok(0);
    spool_close(s);
    char err[256];
    spool_journal *j = NULL;
    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope/spool.db", dir);
    ck_assert_int_eq(spool_journal_open(missing, 0, &j, err, sizeof err), SPOOL_CANTOPEN);
    ck_assert_ptr_null(j);
    ck_assert(strstr(err, "nope") != NULL);
}
END_TEST

/* ---- the checkpointer --------------------------------------------------- */

static int64_t wal_size(void)
{
    char p[160];
    struct stat sb;
    snprintf(p, sizeof p, "%s-wal", path);
    return stat(p, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

START_TEST(test_checkpointer_lets_the_wal_start_over)
{
    spool *s = open_ok(0);
    spool_set_no_checkpoint(s, 1);
    char err[256];
    spool_checkpointer *c = NULL;
    ck_assert_int_eq(spool_checkpointer_start(path, &c, err, sizeof err), SPOOL_OK);
    /* wide rows: about a page each */
    char *attrs = malloc(5000);
    ck_assert_ptr_nonnull(attrs);
    strcpy(attrs, "{\"w\":\"");
    memset(attrs + 6, 'w', 4000);
    strcpy(attrs + 4006, "\"}");
    int highest = 0, restarted = 0;
    for (unsigned i = 0; i < 3000 && !restarted; i++) {
        req r;
        mk_req(&r, i, 0);
        r.sp[0].attributes_json = attrs;
        /* a RESTART holds writers back for a while, more under sanitizers */
        ck_assert_int_eq(spool_write(s, &r.b, 5000000000LL), SPOOL_OK);
        int pages = spool_wal_pages(s);
        ck_assert_int_gt(pages, 0);
        restarted = pages < highest;
        if (pages > highest)
            highest = pages;
        spool_checkpointer_poke(c, pages);
        if (i % 100 == 99) {
            struct timespec ts = {0, 20000000};
            nanosleep(&ts, NULL);   /* let the thread run on a busy machine */
        }
    }
    ck_assert_msg(restarted, "the WAL never started over (%d pages)", highest);
    ck_assert_int_lt(wal_size(), 33554432 + 1);
    spool_checkpointer_stop(c);
    spool_checkpointer_poke(NULL, 5);
    spool_checkpointer_stop(NULL);
    /* the writer checkpoints again when told, and closes the WAL away */
    spool_set_no_checkpoint(s, 0);
    spool_close(s);
    ck_assert_int_eq(wal_size(), 0);
    free(attrs);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("spool_journal");
    TCase *tc = tcase_create("journal");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_write_batches_is_one_transaction);
    tcase_add_test(tc, test_marks);
    tcase_add_test(tc, test_append_and_flush_keep_every_field);
    tcase_add_test(tc, test_invalid_batch_is_refused);
    tcase_add_test(tc, test_kill_9_loses_nothing);
    tcase_add_test(tc, test_kill_9_after_flushes_copies_the_rest_once);
    tcase_add_test(tc, test_death_between_commit_and_next_generation);
    tcase_add_test(tc, test_torn_record_ends_the_journal);
    tcase_add_test(tc, test_living_journals_are_left_alone);
    tcase_add_test(tc, test_discarded_batches_never_come_back);
    tcase_add_test(tc, test_busy_spool_keeps_the_batches);
    tcase_add_test(tc, test_full_journal_asks_for_a_flush);
    tcase_add_test(tc, test_stale_marks_and_unfinished_files);
    tcase_add_test(tc, test_unwritable_directory);
    tcase_add_test(tc, test_checkpointer_lets_the_wal_start_over);
    suite_add_tcase(s, tc);
    return s;
}
