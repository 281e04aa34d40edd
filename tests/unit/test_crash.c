/* Unit tests for telemetry/crash: a forked child that really crashes leaves a
 * record that crash_recover reads back; the child dies of its signal; the
 * record format; partial, corrupt, empty and live files. */
#include "check_main.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "telemetry/crash.h"

#define TRACE_HEX "5759e988bd862e3fe1be46a994272793"
#define SPAN_HEX "53995c3f42cd8ad8"

static char dir[64];

static void setup(void)
{
    strcpy(dir, "/tmp/test_crash_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *de;
        char p[512];
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static int count_files(const char *suffix)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name), sl = strlen(suffix);
        if (de->d_name[0] != '.' && l >= sl && strcmp(de->d_name + l - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static void write_file(const char *name, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* A pid that certainly belonged to a process that has exited. */
static pid_t dead_pid(void)
{
    pid_t p = fork();
    ck_assert_int_ge(p, 0);
    if (p == 0)
        _exit(0);
    waitpid(p, NULL, 0);
    return p;
}

/* What the callback saw. */
typedef struct seen {
    int calls;
    int refuse;             /* refuse the first n calls */
    crash_record last;
    char frame0[512];
    char frames_joined[8192];
} seen;

static int collect(void *arg, const crash_record *rec)
{
    seen *s = arg;
    s->calls++;
    if (s->refuse > 0) {
        s->refuse--;
        return -1;
    }
    s->last = *rec;
    s->frame0[0] = s->frames_joined[0] = '\0';
    if (rec->n_frames > 0)
        snprintf(s->frame0, sizeof s->frame0, "%s", rec->frames[0]);
    for (size_t i = 0; i < rec->n_frames; i++) {
        strncat(s->frames_joined, rec->frames[i], sizeof s->frames_joined - strlen(s->frames_joined) - 2);
        strcat(s->frames_joined, "\n");
    }
    s->last.n_frames = rec->n_frames;
    return 0;
}

/* The fault must really happen: neither sanitizer may catch it first. Not
 * static, so that -rdynamic names it in the backtrace. */
__attribute__((noinline, no_sanitize("undefined", "address")))
void crash_by_null_write(void)
{
    volatile int *volatile p = NULL;
    *p = 42;
}

static pid_t crashing_child(int how)
{
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* The death must be real, but leave no core file behind. */
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        char err[256];
        crash_recorder *c = crash_install(dir, err, sizeof err);
        if (c == NULL) {
            fprintf(stderr, "crash_install: %s\n", err);
            _exit(3);
        }
        crash_set_request(c, "GET /api/crash?token=[REDACTED]\nX", TRACE_HEX, SPAN_HEX);
        if (how == SIGSEGV)
            crash_by_null_write();
        else
            abort();
        _exit(4);   /* not reached */
    }
    return pid;
}

static void check_child_record(int sig)
{
    pid_t pid = crashing_child(sig);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status), "child exited with %d", WEXITSTATUS(status));
    ck_assert_int_eq(WTERMSIG(status), sig);
    ck_assert_int_eq(count_files(".txt"), 1);

    seen s = {0};
    crash_recover_stats st;
    ck_assert_int_eq(crash_recover(dir, collect, &s, &st), 0);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_int_eq(s.last.signo, sig);
    ck_assert_str_eq(s.last.signame, sig == SIGSEGV ? "SIGSEGV" : "SIGABRT");
    ck_assert_int_eq(s.last.pid, pid);
    if (sig == SIGSEGV)
        ck_assert_uint_eq(s.last.addr, 0);
    ck_assert_str_eq(s.last.request, "GET /api/crash?token=[REDACTED] X");   /* newline flattened */
    ck_assert_str_eq(s.last.trace_id, TRACE_HEX);
    ck_assert_str_eq(s.last.span_id, SPAN_HEX);
    ck_assert(s.last.complete);
    ck_assert_int_gt(s.last.time_ns, 1600000000LL * 1000000000LL);
    ck_assert_uint_gt(s.last.n_frames, 1);
    /* The handler's frames come first, then the faulting function (named
     * thanks to -rdynamic) or libc's abort. */
    if (sig == SIGSEGV)
        ck_assert_msg(strstr(s.frames_joined, "crash_by_null_write") != NULL, "%s", s.frames_joined);
    else
        ck_assert_msg(strstr(s.frames_joined, "(abort+") != NULL, "%s", s.frames_joined);
    ck_assert_uint_eq(st.records, 1);
    ck_assert_uint_eq(st.files_done, 1);
    ck_assert_int_eq(count_files(".txt"), 0);   /* removed once accepted */
}

START_TEST(segv_child_leaves_a_record)
{
    check_child_record(SIGSEGV);
}
END_TEST

START_TEST(abort_child_leaves_a_record)
{
    check_child_record(SIGABRT);
}
END_TEST

START_TEST(refused_record_keeps_the_file)
{
    pid_t pid = crashing_child(SIGSEGV);
    int status;
    waitpid(pid, &status, 0);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);

    seen s = {.refuse = 1};
    crash_recover_stats st;
    crash_recover(dir, collect, &s, &st);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_uint_eq(st.files_kept, 1);
    ck_assert_uint_eq(st.records, 0);
    ck_assert_int_eq(count_files(".txt"), 1);

    crash_recover(dir, collect, &s, &st);   /* next start: accepted */
    ck_assert_int_eq(s.calls, 2);
    ck_assert_int_eq(s.last.signo, SIGSEGV);
    ck_assert_uint_eq(st.files_done, 1);
    ck_assert_int_eq(count_files(".txt"), 0);
}
END_TEST

START_TEST(exact_format_parses)
{
    char text[] =
        "junk before\n"
        CRASH_MAGIC "\n"
        "signal: 7 SIGBUS\n"
        "code: -6\n"
        "addr: 0x00007f00deadbeef\n"
        "pid: 4242\n"
        "time_ns: 1700000000123456789\n"
        "request: POST /api/activities\n"
        "trace_id: " TRACE_HEX "\n"
        "span_id: " SPAN_HEX "\n"
        "backtrace:\n"
        "./cruddur-api(handler+0x1a) [0x55d0c0de1000]\n"
        "/lib/x86_64-linux-gnu/libc.so.6(+0x3c050) [0x7f0000003c050]\n"
        "end\n"
        CRASH_MAGIC "\n"
        "signal: 11 SIGSEGV\n"
        "request: \n"
        "trace_id: NOTHEX\n"
        "backtrace:\n"
        "./cruddur-api(main+0x10) [0x1]\n";   /* no "end": cut short */
    seen s = {0};
    size_t found;
    ck_assert_int_eq(crash_parse(text, strlen(text), "x", collect, &s, &found), 0);
    ck_assert_uint_eq(found, 2);
    ck_assert_int_eq(s.calls, 2);
    /* The last one seen is the truncated record. */
    ck_assert_int_eq(s.last.signo, 11);
    ck_assert(!s.last.complete);
    ck_assert_str_eq(s.last.request, "");
    ck_assert_str_eq(s.last.trace_id, "");     /* invalid hex is dropped */
    ck_assert_uint_eq(s.last.n_frames, 1);
    ck_assert_str_eq(s.frame0, "./cruddur-api(main+0x10) [0x1]");

    char text1[] =
        CRASH_MAGIC "\nsignal: 7 SIGBUS\ncode: -6\naddr: 0x00007f00deadbeef\npid: 4242\n"
        "time_ns: 1700000000123456789\nrequest: POST /api/activities\ntrace_id: " TRACE_HEX "\n"
        "span_id: " SPAN_HEX "\nbacktrace:\n./a(f+0x1) [0x2]\n/lib/libc.so.6(+0x3) [0x4]\nend\n";
    seen t = {0};
    ck_assert_int_eq(crash_parse(text1, strlen(text1), "y", collect, &t, &found), 0);
    ck_assert_uint_eq(found, 1);
    ck_assert_int_eq(t.last.signo, 7);
    ck_assert_str_eq(t.last.signame, "SIGBUS");
    ck_assert_int_eq(t.last.code, -6);
    ck_assert_uint_eq(t.last.addr, 0x00007f00deadbeefULL);
    ck_assert_int_eq(t.last.pid, 4242);
    ck_assert(t.last.time_ns == 1700000000123456789LL);
    ck_assert_str_eq(t.last.request, "POST /api/activities");
    ck_assert_str_eq(t.last.trace_id, TRACE_HEX);
    ck_assert_str_eq(t.last.span_id, SPAN_HEX);
    ck_assert_uint_eq(t.last.n_frames, 2);
    ck_assert_str_eq(t.frames_joined, "./a(f+0x1) [0x2]\n/lib/libc.so.6(+0x3) [0x4]\n");
    ck_assert(t.last.complete);
    ck_assert_str_eq(t.last.path, "y");

    /* Refusal stops the walk. */
    char text2[] = CRASH_MAGIC "\nend\n" CRASH_MAGIC "\nend\n";
    seen u = {.refuse = 1};
    ck_assert_int_eq(crash_parse(text2, strlen(text2), "z", collect, &u, &found), 1);
    ck_assert_uint_eq(found, 1);
    ck_assert_int_eq(u.calls, 1);
}
END_TEST

START_TEST(leftover_files_of_all_kinds)
{
    char name[64];
    /* A dead worker's partial record: reported, then removed. */
    snprintf(name, sizeof name, "crash-%ld.txt", (long)dead_pid());
    write_file(name, CRASH_MAGIC "\nsignal: 6 SIGABRT\npid: 1\nrequest: GET /x\nbacktrace:\n./a(f+0x1)");
    /* A dead worker's garbage: renamed .corrupt. */
    char corrupt[64];
    snprintf(corrupt, sizeof corrupt, "crash-%ld.txt", (long)dead_pid());
    write_file(corrupt, "\x01\x02 not a crash record\n");
    /* A dead worker's empty file (it exited cleanly without uninstall). */
    snprintf(name, sizeof name, "crash-%ld.txt", (long)dead_pid());
    write_file(name, "");
    /* A live process's file: left alone. */
    snprintf(name, sizeof name, "crash-%ld.txt", (long)getppid());
    write_file(name, CRASH_MAGIC "\nsignal: 11 SIGSEGV\nend\n");
    /* Names that are not ours. */
    write_file("crash-abc.txt", CRASH_MAGIC "\nend\n");
    write_file("crash-12.txt.bak", CRASH_MAGIC "\nend\n");

    seen s = {0};
    crash_recover_stats st;
    ck_assert_int_eq(crash_recover(dir, collect, &s, &st), 0);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_int_eq(s.last.signo, SIGABRT);
    ck_assert(!s.last.complete);
    ck_assert_str_eq(s.last.request, "GET /x");
    ck_assert_uint_eq(s.last.n_frames, 1);
    ck_assert_uint_eq(st.records, 1);
    ck_assert_uint_eq(st.corrupt, 1);
    ck_assert_uint_eq(st.files_done, 1);
    ck_assert_int_eq(count_files(".corrupt"), 1);
    /* Left: the live one and the two foreign names. */
    ck_assert_int_eq(count_files(".txt"), 2);
    ck_assert_int_eq(count_files(".bak"), 1);

    ck_assert_int_eq(crash_recover("/nonexistent/dir", collect, &s, NULL), -1);
}
END_TEST

START_TEST(own_file_is_truncated_not_removed)
{
    char err[256];
    crash_recorder *c = crash_install(dir, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    ck_assert_ptr_null(crash_install(dir, err, sizeof err));   /* one at a time */
    ck_assert_ptr_nonnull(strstr(err, "already"));

    /* A record left by an earlier process that had our pid. */
    int fd = open(crash_path(c), O_WRONLY | O_APPEND);
    ck_assert_int_ge(fd, 0);
    const char *rec = CRASH_MAGIC "\nsignal: 8 SIGFPE\nend\n";
    ck_assert_int_eq(write(fd, rec, strlen(rec)), (ssize_t)strlen(rec));
    close(fd);

    seen s = {0};
    crash_recover(dir, collect, &s, NULL);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_int_eq(s.last.signo, SIGFPE);
    struct stat sb;
    ck_assert_int_eq(stat(crash_path(c), &sb), 0);   /* still there, for our own crashes */
    ck_assert_int_eq(sb.st_size, 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0640);   /* whatever the umask */

    crash_set_request(c, NULL, NULL, NULL);
    crash_clear_request(c);
    crash_uninstall(c);   /* empty: removed */
    ck_assert_int_eq(count_files(".txt"), 0);
    crash_uninstall(NULL);

    /* And a new recorder can be installed again. */
    c = crash_install(dir, err, sizeof err);
    ck_assert_ptr_nonnull(c);
    crash_uninstall(c);
    ck_assert_ptr_null(crash_install("/nonexistent/dir", err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "cannot open"));
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("crash");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, segv_child_leaves_a_record);
    tcase_add_test(tc, abort_child_leaves_a_record);
    tcase_add_test(tc, refused_record_keeps_the_file);
    tcase_add_test(tc, exact_format_parses);
    tcase_add_test(tc, leftover_files_of_all_kinds);
    tcase_add_test(tc, own_file_is_truncated_not_removed);
    suite_add_tcase(s, tc);
    return s;
}
