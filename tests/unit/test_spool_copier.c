/* Unit tests for spool/copier: a journal given to the thread comes back
 * emptied with every batch in the spool; one journal at a time; a busy
 * spool gives the journal back with its batches; stopping finishes the copy
 * in hand; lost records noted are counted with the next copy, or handed
 * back at stop; the worker's pattern (two journals taking turns) loses and
 * repeats nothing. */
#include <stdint.h>
#include <time.h>

#include "check_main.h"
#include "spool/checkpointer.h"
#include "spool/copier.h"

#include "spool_fixture.h"

#define WAIT_NS 10000000000LL   /* what a test waits for a copy at most */

static spool_copier *copier_ok(int64_t budget_ns, spool_checkpointer *ckpt)
{
    char err[256] = "";
    spool_copier *c = NULL;
    int rc = spool_copier_start(path, budget_ns, ckpt, &c, err, sizeof err);
    ck_assert_msg(rc == SPOOL_OK, "copier: %d %s", rc, err);
    ck_assert_ptr_nonnull(c);
    return c;
}

START_TEST(test_copies_and_gives_back)
{
    spool *s = open_ok(0);
    spool_journal *j = journal_ok();
    spool_copier *c = copier_ok(0, NULL);
    ck_assert_ptr_null(spool_copier_collect(c, 0, NULL));     /* nothing given */
    ck_assert(!spool_copier_holds(c));

    append_n(j, 0, 10);
    ck_assert_int_eq(spool_copier_give(c, j), SPOOL_OK);
    ck_assert(spool_copier_holds(c));
    spool_journal *other = journal_ok();
    ck_assert_int_eq(spool_copier_give(c, other), SPOOL_BUSY);  /* one at a time */

    int status = -1;
    spool_journal *back = spool_copier_collect(c, WAIT_NS, &status);
    ck_assert_ptr_eq(back, j);
    ck_assert_int_eq(status, SPOOL_OK);
    ck_assert(!spool_copier_holds(c));
    ck_assert_uint_eq(spool_journal_batches(j), 0);
    ck_assert_int_eq(server_spans(), 10);
    ck_assert_int_eq(q_int("SELECT count(*) FROM log"), 20);
    ck_assert_int_eq(q_int("SELECT count(*) FROM error"), 2);

    /* the next one in turn, and a journal given empty comes back at once */
    append_n(other, 10, 5);
    ck_assert_int_eq(spool_copier_give(c, other), SPOOL_OK);
    ck_assert_ptr_eq(spool_copier_collect(c, WAIT_NS, &status), other);
    ck_assert_int_eq(status, SPOOL_OK);
    ck_assert_int_eq(spool_copier_give(c, j), SPOOL_OK);
    ck_assert_ptr_eq(spool_copier_collect(c, WAIT_NS, &status), j);
    ck_assert_int_eq(status, SPOOL_OK);
    ck_assert_int_eq(server_spans(), 15);

    ck_assert_ptr_null(spool_copier_stop(c, NULL, NULL));
    spool_journal_close(other, s);
    spool_journal_close(j, s);
    spool_close(s);
}
END_TEST

START_TEST(test_busy_spool_gives_the_batches_back)
{
    spool *s = open_ok(0);
    spool_journal *j = journal_ok();
    spool_copier *c = copier_ok(50000000, NULL);
    append_n(j, 0, 4);

    sqlite3 *db = lock_spool();
    ck_assert_int_eq(spool_copier_give(c, j), SPOOL_OK);
    int status = -1;
    ck_assert_ptr_eq(spool_copier_collect(c, WAIT_NS, &status), j);
    ck_assert_int_eq(status, SPOOL_BUSY);
    ck_assert_uint_eq(spool_journal_batches(j), 4);
    unlock_spool(db);

    ck_assert_int_eq(spool_copier_give(c, j), SPOOL_OK);
    ck_assert_ptr_eq(spool_copier_collect(c, WAIT_NS, &status), j);
    ck_assert_int_eq(status, SPOOL_OK);
    ck_assert_int_eq(server_spans(), 4);

    spool_copier_stop(c, NULL, NULL);
    spool_journal_close(j, s);
    spool_close(s);
}
END_TEST

/* Stopping lets the copy in hand finish and hands the journal back. */
START_TEST(test_stop_finishes_the_copy_in_hand)
{
    spool *s = open_ok(0);
    spool_journal *j = journal_ok();
    spool_copier *c = copier_ok(0, NULL);
    append_n(j, 0, 200);
    ck_assert_int_eq(spool_copier_give(c, j), SPOOL_OK);
    int status = -1;
    ck_assert_ptr_eq(spool_copier_stop(c, &status, NULL), j);
    ck_assert_int_eq(status, SPOOL_OK);
    ck_assert_uint_eq(spool_journal_batches(j), 0);
    ck_assert_int_eq(server_spans(), 200);
    spool_journal_close(j, s);
    spool_close(s);
}
END_TEST

/* A collect that does not wait sees nothing while the copy cannot go on,
 * and a timed one gives up after its time. */
START_TEST(test_collect_waits_no_longer_than_asked)
{
    spool *s = open_ok(0);
    spool_journal *j = journal_ok();
    spool_copier *c = copier_ok(2000000000LL, NULL);
    append_n(j, 0, 3);
    sqlite3 *db = lock_spool();
    ck_assert_int_eq(spool_copier_give(c, j), SPOOL_OK);
    ck_assert_ptr_null(spool_copier_collect(c, 0, NULL));
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    ck_assert_ptr_null(spool_copier_collect(c, 100000000, NULL));
    clock_gettime(CLOCK_MONOTONIC, &b);
    int64_t waited = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    ck_assert_int_ge(waited, 90000000);
    ck_assert(spool_copier_holds(c));
    unlock_spool(db);
    int status = -1;
    ck_assert_ptr_eq(spool_copier_collect(c, WAIT_NS, &status), j);
    ck_assert_int_eq(status, SPOOL_OK);
    ck_assert_int_eq(server_spans(), 3);
    spool_copier_stop(c, NULL, NULL);
    spool_journal_close(j, s);
    spool_close(s);
}
END_TEST

static int64_t dropped_counter(void)
{
    return q_int("SELECT coalesce((SELECT value FROM counter WHERE name = 'dropped_records'), 0)");
}

START_TEST(test_dropped_records_are_counted)
{
    spool *s = open_ok(0);
    spool_journal *j = journal_ok();
    spool_copier *c = copier_ok(0, NULL);
    spool_copier_note_dropped(c, 5);
    spool_copier_note_dropped(c, 0);
    spool_copier_note_dropped(c, -3);               /* nonsense: ignored */
    ck_assert_int_eq(dropped_counter(), 0);         /* not before a copy */
    append_n(j, 0, 2);
    ck_assert_int_eq(spool_copier_give(c, j), SPOOL_OK);
    int status = -1;
    ck_assert_ptr_eq(spool_copier_collect(c, WAIT_NS, &status), j);
    ck_assert_int_eq(status, SPOOL_OK);
    ck_assert_int_eq(dropped_counter(), 5);         /* with the copy */

    /* a failed copy keeps the count; stop hands back what is left */
    spool_copier_note_dropped(c, 7);
    sqlite3 *db = lock_spool();
    append_n(j, 2, 1);
    ck_assert_int_eq(spool_copier_give(c, j), SPOOL_OK);
    ck_assert_ptr_eq(spool_copier_collect(c, WAIT_NS, &status), j);
    ck_assert_int_eq(status, SPOOL_BUSY);
    unlock_spool(db);
    spool_copier_note_dropped(c, 1);
    int64_t left = 0;
    ck_assert_ptr_null(spool_copier_stop(c, NULL, &left));
    ck_assert_int_eq(left, 8);
    ck_assert_int_eq(dropped_counter(), 5);
    spool_journal_discard(j);
    spool_journal_close(j, s);
    spool_close(s);
}
END_TEST

/* Two journals taking turns while batches keep coming, with the
 * checkpointer told after each copy: every batch lands once, and the WAL
 * is checkpointed as it grows. */
START_TEST(test_two_journals_in_turn_lose_nothing)
{
    spool *s = open_ok(0);
    char err[256] = "";
    spool_checkpointer *k = NULL;
    ck_assert_int_eq(spool_checkpointer_start(path, &k, err, sizeof err), SPOOL_OK);
    spool_copier *c = copier_ok(0, k);
    spool_journal *active = journal_ok(), *spare = journal_ok();
    unsigned n = 0;
    for (int round = 0; round < 60; round++) {
        append_n(active, n, 50);
        n += 50;
        int status = SPOOL_OK;
        spool_journal *back = spool_copier_collect(c, 0, &status);
        if (back != NULL) {
            ck_assert_int_eq(status, SPOOL_OK);
            spare = back;
        }
        if (!spool_copier_holds(c) && spare != NULL) {
            ck_assert_uint_eq(spool_journal_batches(spare), 0);
            ck_assert_int_eq(spool_copier_give(c, active), SPOOL_OK);
            active = spare;
            spare = NULL;
        }
    }
    int status = -1;
    spool_journal *back = spool_copier_stop(c, &status, NULL);
    if (back != NULL) {
        ck_assert_int_eq(status, SPOOL_OK);
        spare = back;
    }
    /* the checkpointer's last pass may hold writers back for a while (a
     * RESTART, slow under sanitizers): done with it first */
    spool_checkpointer_stop(k);
    ck_assert_int_eq(spool_journal_flush(active, s, 5000000000LL), SPOOL_OK);
    ck_assert_int_eq(server_spans(), (int64_t)n);
    ck_assert_int_eq(q_int("SELECT count(DISTINCT trace_id) FROM span"), (int64_t)n);
    spool_journal_close(active, s);
    spool_journal_close(spare, s);
    ck_assert_int_eq(count_files("spool.db-journal-"), 0);
    spool_close(s);
}
END_TEST

Suite *make_suite(void)
{
    Suite *su = suite_create("spool_copier");
    TCase *tc = tcase_create("copier");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_copies_and_gives_back);
    tcase_add_test(tc, test_busy_spool_gives_the_batches_back);
    tcase_add_test(tc, test_stop_finishes_the_copy_in_hand);
    tcase_add_test(tc, test_collect_waits_no_longer_than_asked);
    tcase_add_test(tc, test_dropped_records_are_counted);
    tcase_add_test(tc, test_two_journals_in_turn_lose_nothing);
    suite_add_tcase(su, tc);
    return su;
}
