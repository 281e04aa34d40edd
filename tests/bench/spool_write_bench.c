/* spool_write_bench: how long one request's telemetry takes to reach the
 * spool while other workers write too. Forks WRITERS processes that each
 * write N batches (4 spans and 2 log records with the attributes the API
 * records) and prints the median, p90, p99 and worst time of one spool_write,
 * and the CPU time (user + system, all threads) each batch cost a writer.
 * With -c the writers never checkpoint (SPOOL_NO_CHECKPOINT) and this process
 * does it every 10 ms instead, as a deployment with a checkpointer would.
 * With -j K each writer works as a busy FastCGI worker does: it appends each
 * batch to its journal (spool/journal.h) and copies the journal into the
 * spool every K batches, with a checkpointer thread (spool/checkpointer.h);
 * the time of a batch is its append, plus the copy when one is due.
 * With -t US each writer spends US microseconds between two batches (the
 * request itself); without it they write back to back, the worst case.
 *
 *   spool_write_bench [-c | -j K] [-t US] [-n N] [-w WRITERS] [PATH]
 *                     (default: 5000 batches, 2 writers, a temporary file)
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spool/checkpointer.h"
#include "spool/journal.h"
#include "spool/spool.h"

#define MAX_WRITERS 16

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t next_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* Writes n batches; durations[i] = ns of the i-th spool_write (or journal
 * append and copy, journal_k > 0), negated when it failed; durations[n] = the
 * CPU time it took. Returns the failures. */
static int run_writer(const char *path, unsigned flags, int n, int64_t think_ns,
                      int journal_k, int64_t *durations)
{
    spool *s = NULL;
    spool_journal *j = NULL;
    spool_checkpointer *ck = NULL;
    char err[256];
    if (spool_open(path, flags, 0, &s, err, sizeof err) != SPOOL_OK) {
        fprintf(stderr, "open: %s\n", err);
        return n;
    }
    if (journal_k > 0) {
        if (spool_journal_open(path, 0, &j, err, sizeof err) != SPOOL_OK ||
            spool_checkpointer_start(path, &ck, err, sizeof err) != SPOOL_OK) {
            fprintf(stderr, "journal: %s\n", err);
            return n;
        }
        spool_set_no_checkpoint(s, 1);
    }
    int64_t cpu0 = cpu_ns();
    uint64_t rnd = 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
    char resource[256];
    snprintf(resource, sizeof resource,
             "{\"service.name\":\"cruddur-api\",\"service.version\":\"0.1.0\","
             "\"host.name\":\"bench\",\"process.pid\":%d,\"telemetry.sdk.language\":\"c\","
             "\"telemetry.sdk.name\":\"cruddur\",\"telemetry.sdk.version\":\"0.1.0\"}",
             (int)getpid());
    int failures = 0;
    for (int i = 0; i < n; i++) {
        if (think_ns > 0) {
            struct timespec ts = { 0, (long)think_ns };
            nanosleep(&ts, NULL);
        }
        int64_t t = wall_ns();
        uint64_t tid_hi = ((uint64_t)(t / 1000000000) << 32) | (next_rand(&rnd) >> 32);
        uint64_t tid_lo = next_rand(&rnd);
        spool_span sp[4];
        memset(sp, 0, sizeof sp);
        char server_attrs[640], internal_attrs[256], db_attrs[2][320];
        snprintf(server_attrs, sizeof server_attrs,
                 "{\"http.request.method\":\"GET\",\"url.path\":\"/api/activities/home\","
                 "\"url.scheme\":\"http\",\"http.route\":\"/api/activities/home\","
                 "\"http.response.status_code\":200,\"server.address\":\"localhost\","
                 "\"server.port\":4567,\"client.address\":\"10.0.%d.%d\","
                 "\"user_agent.original\":\"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\","
                 "\"network.protocol.version\":\"1.1\",\"http.response.body.size\":%d}",
                 i % 7, i % 250, 1500 + i % 100);
        snprintf(internal_attrs, sizeof internal_attrs,
                 "{\"app.now\":\"2024-03-06T09:55:55.982931+00:00\",\"app.result_length\":%d,"
                 "\"app.user_ids\":[\"andrewbrown\",\"worf\",\"garek\"],\"app.ratio\":0.5}",
                 3 + i % 5);
        for (int k = 0; k < 2; k++)
            snprintf(db_attrs[k], sizeof db_attrs[k],
                     "{\"db.system.name\":\"sqlite\",\"db.operation.name\":\"SELECT\","
                     "\"db.collection.name\":\"activities\",\"db.namespace\":\"cruddur\","
                     "\"db.query.text\":\"SELECT a.uuid, a.message, u.handle FROM activities a"
                     " JOIN users u ON u.uuid = a.user_uuid WHERE a.expires_at > ? ORDER BY"
                     " a.created_at DESC LIMIT ?\",\"db.response.returned_rows\":%d}", k + 3);
        const char *names[4] = { "GET /api/activities/home", "home-activities-span",
                                 "SELECT activities", "SELECT users" };
        const int kinds[4] = { SPOOL_KIND_SERVER, SPOOL_KIND_INTERNAL, SPOOL_KIND_CLIENT,
                               SPOOL_KIND_CLIENT };
        const char *attrs[4] = { server_attrs, internal_attrs, db_attrs[0], db_attrs[1] };
        uint64_t ids[4];
        for (int k = 0; k < 4; k++) {
            ids[k] = next_rand(&rnd) | 1;
            snprintf(sp[k].trace_id, sizeof sp[k].trace_id, "%016" PRIx64 "%016" PRIx64,
                     tid_hi, tid_lo);
            snprintf(sp[k].span_id, sizeof sp[k].span_id, "%016" PRIx64, ids[k]);
            if (k > 0)
                snprintf(sp[k].parent_span_id, sizeof sp[k].parent_span_id, "%016" PRIx64,
                         ids[k == 1 ? 0 : 1]);
            sp[k].name = names[k];
            sp[k].kind = kinds[k];
            sp[k].start_ns = t - 3000000 + k * 100000;
            sp[k].end_ns = t - 200000 - k * 100000;
            sp[k].attributes_json = attrs[k];
            sp[k].flags = 1;
        }
        sp[1].events_json = "[{\"name\":\"cache.miss\",\"time_ns\":1709718955982931000,"
                            "\"attributes\":{\"cache.key\":\"home\"}}]";
        spool_log lg[2];
        memset(lg, 0, sizeof lg);
        char access_attrs[400];
        snprintf(access_attrs, sizeof access_attrs,
                 "{\"client.address\":\"10.0.%d.%d\",\"http.request.method\":\"GET\","
                 "\"url.scheme\":\"http\",\"url.path\":\"/api/activities/home\","
                 "\"http.response.status_code\":200,\"duration_ms\":2.8}",
                 i % 7, i % 250);
        for (int k = 0; k < 2; k++) {
            lg[k].time_ns = t - 1000 * k;
            lg[k].severity_number = 9;
            lg[k].severity_text = "INFO";
            memcpy(lg[k].trace_id, sp[0].trace_id, sizeof lg[k].trace_id);
            memcpy(lg[k].span_id, sp[k].span_id, sizeof lg[k].span_id);
            lg[k].flags = 1;
        }
        lg[0].body = "10.0.0.1 GET http /api/activities/home 200 2.8ms";
        lg[0].attributes_json = access_attrs;
        lg[1].body = "home activities: 5 results";
        lg[1].attributes_json = "{\"app.result_length\":5}";
        spool_batch b = {
            .resource_json = resource, .scope_name = "cruddur", .scope_version = "0.1.0",
            .spans = sp, .n_spans = 4, .logs = lg, .n_logs = 2,
        };
        int64_t t0 = mono_ns();
        int rc;
        if (j == NULL) {
            rc = spool_write(s, &b, 0);
        } else {
            rc = spool_journal_append(j, &b);
            if (rc == SPOOL_OK && (int)spool_journal_batches(j) >= journal_k) {
                rc = spool_journal_flush(j, s, 0);
                if (rc == SPOOL_OK)
                    spool_checkpointer_poke(ck, spool_wal_pages(s));
                else
                    spool_journal_discard(j);
            }
        }
        durations[i] = mono_ns() - t0;
        if (rc != SPOOL_OK) {
            durations[i] = -durations[i];
            failures++;
            spool_note_dropped(s, 6);
        }
    }
    if (j != NULL && spool_journal_flush(j, s, 0) != SPOOL_OK)
        failures++;
    spool_checkpointer_stop(ck);
    durations[n] = cpu_ns() - cpu0;
    spool_journal_close(j, s);
    spool_set_no_checkpoint(s, 0);
    spool_close(s);
    return failures;
}

static int64_t pct(const int64_t *v, size_t n, int p)
{
    size_t rank = (size_t)(p * n + 99) / 100;  /* nearest rank */
    return v[rank > 0 ? rank - 1 : 0];
}

int main(int argc, char **argv)
{
    int n = 5000, writers = 2, opt, checkpointer = 0, journal_k = 0;
    int64_t think_ns = 0;
    while ((opt = getopt(argc, argv, "cj:n:t:w:")) != -1) {
        if (opt == 'c')
            checkpointer = 1;
        else if (opt == 'j')
            journal_k = atoi(optarg);
        else if (opt == 't')
            think_ns = atoll(optarg) * 1000;
        else if (opt == 'n')
            n = atoi(optarg);
        else if (opt == 'w')
            writers = atoi(optarg);
        else {
            fprintf(stderr, "usage: %s [-c | -j K] [-t US] [-n N] [-w WRITERS] [PATH]\n",
                    argv[0]);
            return 64;
        }
    }
    if (n < 1 || writers < 1 || writers > MAX_WRITERS || think_ns < 0 || think_ns >= 1000000000 ||
        journal_k < 0 || (journal_k > 0 && checkpointer)) {
        fprintf(stderr, "N must be >= 1, WRITERS 1..%d, US 0..999999, K >= 1, not with -c\n",
                MAX_WRITERS);
        return 64;
    }
    char dir[] = "/tmp/spool_bench.XXXXXX", path[256];
    int own = optind >= argc;
    if (own) {
        if (mkdtemp(dir) == NULL) {
            perror("mkdtemp");
            return 1;
        }
        snprintf(path, sizeof path, "%s/spool.db", dir);
    } else {
        snprintf(path, sizeof path, "%s", argv[optind]);
    }

    /* create and migrate once, outside the measurement */
    spool *s = NULL;
    char err[256];
    if (spool_open(path, SPOOL_CREATE, 0, &s, err, sizeof err) != SPOOL_OK) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    spool_close(s);
    s = NULL;

    int go[2], back[MAX_WRITERS][2];
    pid_t pids[MAX_WRITERS];
    if (pipe(go) != 0)
        return 1;
    fflush(NULL);
    for (int w = 0; w < writers; w++) {
        if (pipe(back[w]) != 0)
            return 1;
        pids[w] = fork();
        if (pids[w] < 0)
            return 1;
        if (pids[w] == 0) {
            char c;
            close(go[1]);
            if (read(go[0], &c, 1) != 0)     /* wait for the start: EOF */
                _exit(1);
            int64_t *d = calloc((size_t)n + 1, sizeof *d);
            if (d == NULL)
                _exit(1);
            int failures = run_writer(path, checkpointer ? SPOOL_NO_CHECKPOINT : 0, n, think_ns,
                                      journal_k, d);
            const char *p = (const char *)d;
            size_t left = ((size_t)n + 1) * sizeof *d;
            while (left > 0) {
                ssize_t k = write(back[w][1], p, left);
                if (k < 0 && errno == EINTR)
                    continue;
                if (k <= 0)
                    _exit(1);
                p += k;
                left -= (size_t)k;
            }
            free(d);
            _exit(failures > 0 ? 2 : 0);
        }
        close(back[w][1]);
    }
    /* the checkpointer opens after the fork: a handle must not cross it */
    if (checkpointer && spool_open(path, 0, 0, &s, err, sizeof err) != SPOOL_OK) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    int64_t t_start = mono_ns();
    close(go[0]);
    close(go[1]);                               /* go */

    size_t total = (size_t)n * (size_t)writers, per = (size_t)n + 1;
    int64_t *all = calloc(per * (size_t)writers, sizeof *all);
    if (all == NULL)
        return 1;
    /* collect the durations; with -c, checkpoint every 10 ms meanwhile */
    size_t got[MAX_WRITERS] = { 0 };
    int open_pipes = writers;
    while (open_pipes > 0) {
        struct pollfd pfd[MAX_WRITERS];
        for (int w = 0; w < writers; w++)
            pfd[w] = (struct pollfd){ .fd = back[w][0], .events = POLLIN };
        if (poll(pfd, (nfds_t)writers, 10) < 0 && errno != EINTR)
            return 1;
        for (int w = 0; w < writers; w++) {
            if (back[w][0] < 0 || !(pfd[w].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            size_t want = per * sizeof *all;
            ssize_t k = read(back[w][0], (char *)(all + (size_t)w * per) + got[w],
                             want - got[w]);
            if (k > 0)
                got[w] += (size_t)k;
            if (k == 0 || (k < 0 && errno != EINTR && errno != EAGAIN) || got[w] == want) {
                close(back[w][0]);
                back[w][0] = -1;
                open_pipes--;
            }
        }
        if (s != NULL)
            spool_checkpoint(s, NULL);
    }
    spool_close(s);
    int failed = 0;
    for (int w = 0; w < writers; w++) {
        int st = 0;
        waitpid(pids[w], &st, 0);
        if (!WIFEXITED(st) || (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 2))
            failed++;                   /* 2: some writes failed, counted below */
    }
    double seconds = (double)(mono_ns() - t_start) / 1e9;
    /* the CPU time of each writer trails its durations: take them out */
    int64_t cpu = 0;
    for (int w = 0; w < writers; w++) {
        cpu += all[(size_t)w * per + (size_t)n];
        memmove(all + (size_t)w * (size_t)n, all + (size_t)w * per, (size_t)n * sizeof *all);
    }
    size_t failed_writes = 0;
    for (size_t i = 0; i < total; i++) {
        if (all[i] < 0) {
            all[i] = -all[i];
            failed_writes++;
        }
    }
    qsort(all, total, sizeof *all, cmp_i64);
    if (journal_k > 0)
        printf("journal: %d writers x %d batches (4 spans + 2 logs each), copied every %d, %s\n",
               writers, n, journal_k, path);
    else
        printf("spool_write: %d writers x %d batches (4 spans + 2 logs each), %s%s\n",
               writers, n, checkpointer ? "checkpoints by another process, " : "", path);
    if (think_ns > 0)
        printf("  %" PRId64 " us between batches\n", think_ns / 1000);
    printf("  median %.1f us  p90 %.1f us  p99 %.1f us  max %.1f us\n",
           (double)pct(all, total, 50) / 1e3, (double)pct(all, total, 90) / 1e3,
           (double)pct(all, total, 99) / 1e3, (double)all[total - 1] / 1e3);
    printf("  %.0f batches/s overall; %zu of %zu writes failed (budget %lld ms)\n",
           (double)total / seconds, failed_writes, total, SPOOL_DEFAULT_BUDGET_NS / 1000000);
    printf("  cpu %.1f us per batch (user + system, every thread of the writers)\n",
           (double)cpu / (double)total / 1e3);
    if (failed)
        printf("  %d writer(s) did not finish\n", failed);
    free(all);
    if (own) {
        char f[300];
        static const char *const suffixes[] = { "", "-wal", "-shm" };
        for (int i = 0; i < 3; i++) {
            snprintf(f, sizeof f, "%s%s", path, suffixes[i]);
            unlink(f);
        }
        rmdir(dir);
    }
    return failed ? 1 : 0;
}
