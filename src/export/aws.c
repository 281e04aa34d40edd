/* aws: what the AWS targets share: the credential chain with its cache and
 * its metadata clients, the region and the endpoints, request signing, and
 * the JSON protocols' errors. See aws.h.
 *
 * Secrets live in fixed buffers that are wiped when replaced or freed.
 * Answers that carry them are read by a small in-place scanner rather than
 * a JSON library, and files and answers are wiped before they are freed,
 * so that no copy is left behind in freed memory. */
#ifdef HAVE_CONFIG_H
#include "autoconfig.h"
#endif
#include "export/aws.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export/export.h"
#include "util/tstamp.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.0.0"
#endif

#define NS_PER_S 1000000000LL
#define REFRESH_AHEAD_NS (300 * NS_PER_S)      /* fetch again this long before expiry */
#define RETRY_HOLDOFF_NS (30 * NS_PER_S)       /* after a failed refresh of valid ones */
#define UNDATED_LIFETIME_NS (15 * 60 * NS_PER_S) /* metadata credentials without Expiration */
#define META_CONNECT_MS 1000L
#define META_TOTAL_MS 2000L
#define META_MAX_BODY 65536
#define MAX_FILE (1024 * 1024)
#define MAX_PATH 4096
#define MAX_URL 2048
#define NOTE_SIZE 320

#define IMDS_DEFAULT "http://169.254.169.254"
#define IMDS_DEFAULT_V6 "http://[fd00:ec2::254]"
#define CONTAINER_DEFAULT "http://169.254.170.2"
#define IMDS_TOKEN_TTL "21600"
#define IMDS_ROLES "/latest/meta-data/iam/security-credentials/"

/* What a source function found, besides AWS_OK / AWS_UNAVAILABLE / AWS_NONE. */
#define SKIP 3              /* nothing here: go on to the next source */

enum { SRC_NONE, SRC_ENV, SRC_CREDFILE, SRC_CONFIG, SRC_CONTAINER, SRC_IMDS };
static const char *const source_name[] = { "", "environment", "shared-credentials-file",
                                           "config-file", "container", "imds" };

struct aws_chain {
    const volatile sig_atomic_t *stop;
    aws_credentials cur;
    int have;                   /* cur holds credentials */
    int kind;                   /* SRC_*: the source found first, used from then on */
    int changed;                /* the last fetch gave credentials other than the ones before */
    int64_t holdoff_ns;         /* no refresh of still-valid credentials before this */
    char container_base[256];
};

/* ---- small helpers ------------------------------------------------------- */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

static int env_true(const char *name)
{
    const char *v = env(name);
    return v != NULL && strcasecmp(v, "true") == 0;
}

__attribute__((format(printf, 3, 4)))
static void seterr(char *err, size_t size, const char *fmt, ...)
{
    if (err == NULL || size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, size, fmt, ap);
    va_end(ap);
}

/* Visible ASCII only: what keys, secrets and tokens are made of. */
static int visible(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

/* Copies text from a service or a file into a message: bounded, with
 * anything outside printable ASCII replaced. */
static void clean_copy(char *out, size_t size, const char *in, size_t n)
{
    if (size == 0)
        return;
    size_t k = 0;
    for (size_t i = 0; i < n && in[i] != '\0' && k + 1 < size; i++) {
        unsigned char ch = (unsigned char)in[i];
        out[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    out[k] = '\0';
}

static void trim_right(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
}

/* Credentials are wiped through a volatile pointer: no compiler may drop it. */
static void creds_wipe(aws_credentials *c)
{
    volatile unsigned char *v = (volatile unsigned char *)c;
    for (size_t i = 0; i < sizeof *c; i++)
        v[i] = 0;
}

static void wipe_free(char *p, size_t n)
{
    if (p != NULL) {
        explicit_bzero(p, n);
        free(p);
    }
}

/* ---- a scanner for the flat JSON objects credential answers are --------- */

typedef struct jcur {
    const char *p, *end;
} jcur;

static void jws(jcur *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static void jput(char *out, size_t size, size_t *n, int *over, unsigned ch)
{
    if (out == NULL)
        return;
    if (*n + 1 < size)
        out[(*n)++] = (char)ch;
    else
        *over = 1;
}

static int jhex4(const char *p, const char *end, unsigned *v)
{
    if (end - p < 4)
        return -1;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        unsigned d = ch >= '0' && ch <= '9' ? (unsigned)(ch - '0')
                   : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                   : ch >= 'A' && ch <= 'F' ? (unsigned)(ch - 'A' + 10) : 16u;
        if (d > 15)
            return -1;
        *v = *v * 16 + d;
    }
    return 0;
}

/* The string at j->p, decoded into out (NULL: skipped). 0, -1 malformed,
 * -2 longer than out. */
static int jstring(jcur *j, char *out, size_t size)
{
    if (j->p >= j->end || *j->p != '"')
        return -1;
    j->p++;
    size_t n = 0;
    int over = 0;
    while (j->p < j->end) {
        unsigned char ch = (unsigned char)*j->p++;
        if (ch == '"') {
            if (out != NULL)
                out[n] = '\0';
            return over ? -2 : 0;
        }
        if (ch < 0x20)
            return -1;
        if (ch != '\\') {
            jput(out, size, &n, &over, ch);
            continue;
        }
        if (j->p >= j->end)
            return -1;
        char e = *j->p++;
        const char *simple = "\"\\/bfnrt", *meant = "\"\\/\b\f\n\r\t";
        const char *k = e != '\0' ? strchr(simple, e) : NULL;
        if (k != NULL) {
            jput(out, size, &n, &over, (unsigned char)meant[k - simple]);
            continue;
        }
        if (e != 'u')
            return -1;
        unsigned cp, lo;
        if (jhex4(j->p, j->end, &cp) != 0)
            return -1;
        j->p += 4;
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' ||
                jhex4(j->p + 2, j->end, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
                return -1;
            j->p += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            return -1;
        }
        if (cp < 0x80) {
            jput(out, size, &n, &over, cp);
        } else if (cp < 0x800) {
            jput(out, size, &n, &over, 0xc0 | (cp >> 6));
            jput(out, size, &n, &over, 0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            jput(out, size, &n, &over, 0xe0 | (cp >> 12));
            jput(out, size, &n, &over, 0x80 | ((cp >> 6) & 0x3f));
            jput(out, size, &n, &over, 0x80 | (cp & 0x3f));
        } else {
            jput(out, size, &n, &over, 0xf0 | (cp >> 18));
            jput(out, size, &n, &over, 0x80 | ((cp >> 12) & 0x3f));
            jput(out, size, &n, &over, 0x80 | ((cp >> 6) & 0x3f));
            jput(out, size, &n, &over, 0x80 | (cp & 0x3f));
        }
    }
    return -1;
}

/* Skips one value of any kind. 0 or -1. */
static int jskip(jcur *j, int depth)
{
    jws(j);
    if (j->p >= j->end || depth > 32)
        return -1;
    char ch = *j->p;
    if (ch == '"')
        return jstring(j, NULL, 0) == 0 ? 0 : -1;
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        j->p++;
        jws(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return 0;
        }
        for (;;) {
            if (ch == '{') {
                jws(j);
                if (jstring(j, NULL, 0) != 0)
                    return -1;
                jws(j);
                if (j->p >= j->end || *j->p != ':')
                    return -1;
                j->p++;
            }
            if (jskip(j, depth + 1) != 0)
                return -1;
            jws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == close) {
                j->p++;
                return 0;
            }
            return -1;
        }
    }
    const char *start = j->p;
    while (j->p < j->end && strchr("+-.0123456789eEtrufalsn", *j->p) != NULL)
        j->p++;
    return j->p > start ? 0 : -1;
}

/* The string value of key at the top level of the object text s[0..len),
 * decoded into out. 1 found, 0 absent (or not a string), -1 malformed,
 * -2 longer than out. */
static int jflat_get(const char *s, size_t len, const char *key, char *out, size_t size)
{
    jcur j = { s, s + len };
    int found = 0;
    out[0] = '\0';
    jws(&j);
    if (j.p >= j.end || *j.p != '{')
        return -1;
    j.p++;
    jws(&j);
    if (j.p < j.end && *j.p == '}')
        return 0;
    for (;;) {
        char k[64];
        jws(&j);
        int kr = jstring(&j, k, sizeof k);
        if (kr == -1)
            return -1;
        jws(&j);
        if (j.p >= j.end || *j.p != ':')
            return -1;
        j.p++;
        jws(&j);
        if (kr == 0 && strcmp(k, key) == 0 && j.p < j.end && *j.p == '"') {
            int vr = jstring(&j, out, size);
            if (vr != 0)
                return vr;
            found = 1;
        } else if (jskip(&j, 0) != 0) {
            return -1;
        }
        jws(&j);
        if (j.p < j.end && *j.p == ',') {
            j.p++;
            continue;
        }
        if (j.p < j.end && *j.p == '}')
            return found;
        return -1;
    }
}

/* ---- credentials ------------------------------------------------------------- */

/* Fills o after checking each part; what names where they came from. AWS_OK
 * or AWS_NONE with a message. */
static int fill(aws_credentials *o, int kind, const char *id, const char *secret, const char *token,
                const char *what, char *err, size_t err_size)
{
    if (token == NULL)
        token = "";
    if (*id == '\0' || strlen(id) >= sizeof o->access_key_id || !visible(id) ||
        strchr(id, ':') != NULL) {
        seterr(err, err_size, "%s: the access key id is empty, too long or holds a blank, ':' or "
               "a control character", what);
        return AWS_NONE;
    }
    if (*secret == '\0' || strlen(secret) >= sizeof o->secret_access_key || !visible(secret)) {
        seterr(err, err_size, "%s: the secret access key is empty, too long or holds a blank or "
               "a control character", what);
        return AWS_NONE;
    }
    if (strlen(token) >= sizeof o->session_token || !visible(token)) {
        seterr(err, err_size, "%s: the session token is longer than %zu characters or holds a "
               "blank or a control character", what, sizeof o->session_token - 1);
        return AWS_NONE;
    }
    creds_wipe(o);
    memcpy(o->access_key_id, id, strlen(id) + 1);
    memcpy(o->secret_access_key, secret, strlen(secret) + 1);
    memcpy(o->session_token, token, strlen(token) + 1);
    o->source = source_name[kind];
    return AWS_OK;
}

/* ---- source 1: the environment --------------------------------------------- */

static int from_env(aws_credentials *o, char *note, size_t note_size, char *err, size_t err_size)
{
    const char *id = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
    if (id == NULL && secret == NULL) {
        seterr(note, note_size, "the environment (AWS_ACCESS_KEY_ID is not set)");
        return SKIP;
    }
    if (id == NULL || secret == NULL) {
        seterr(err, err_size, "%s is set but %s is not", id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
               id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        return AWS_NONE;
    }
    return fill(o, SRC_ENV, id, secret, env("AWS_SESSION_TOKEN"), "the environment", err, err_size);
}

/* ---- source 2: the shared files ---------------------------------------------- */

/* A file named by env_name, or ~/rel. 0, or -1 (no home directory, too long). */
static int aws_file_path(char *out, size_t size, const char *env_name, const char *rel)
{
    const char *v = env(env_name);
    const char *home = env("HOME");
    if (home == NULL) {
        struct passwd *pw = getpwuid(getuid());
        home = pw != NULL && pw->pw_dir != NULL && *pw->pw_dir ? pw->pw_dir : NULL;
    }
    int n;
    if (v != NULL && v[0] == '~' && (v[1] == '/' || v[1] == '\0')) {
        if (home == NULL)
            return -1;
        n = snprintf(out, size, "%s%s", home, v + 1);
    } else if (v != NULL) {
        n = snprintf(out, size, "%s", v);
    } else {
        if (home == NULL)
            return -1;
        n = snprintf(out, size, "%s/%s", home, rel);
    }
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Reads a whole file of at most MAX_FILE bytes, NUL-terminated; the caller
 * wipes and frees *out (*cap bytes). 0, 1 when there is no such file, -1
 * with a message. */
static int read_small_file(const char *path, char **out, size_t *cap, char *err, size_t err_size)
{
    *out = NULL;
    *cap = 0;
    /* O_NONBLOCK: a FIFO in the place of the file must not hang us */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 1;
        seterr(err, err_size, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > MAX_FILE) {
        seterr(err, err_size, "%s is not a regular file of at most 1 MiB", path);
        close(fd);
        return -1;
    }
    size_t size = (size_t)st.st_size + 1;
    char *b = malloc(size);
    if (b == NULL) {
        close(fd);
        seterr(err, err_size, "out of memory");
        return -1;
    }
    size_t len = 0;
    while (len + 1 < size) {
        ssize_t r = read(fd, b + len, size - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            seterr(err, err_size, "cannot read %s: %s", path, strerror(errno));
            close(fd);
            wipe_free(b, size);
            return -1;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    b[len] = '\0';
    *out = b;
    *cap = size;
    return 0;
}

typedef struct profile {
    char key_id[128];
    char secret[128];
    char token[4096];
    char region[64];
    int found;                  /* the file has the profile's section */
} profile;

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Whether the section named s[0..n) is the profile's: "[NAME]" in the
 * credentials file; "[profile NAME]" or, for default, "[default]" in the
 * config file. */
static int section_is(const char *s, size_t n, const char *name, int config)
{
    while (n > 0 && is_blank(*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    if (config) {
        if (n == 7 && memcmp(s, "default", 7) == 0)
            return strcmp(name, "default") == 0;
        if (n < 8 || memcmp(s, "profile", 7) != 0 || !is_blank(s[7]))
            return 0;
        s += 8;
        n -= 8;
        while (n > 0 && is_blank(*s)) {
            s++;
            n--;
        }
    }
    return n == strlen(name) && memcmp(s, name, n) == 0;
}

/* Reads the profile's keys from an ini file into p. 0 (p->found says whether
 * the profile is there), 1 when there is no such file, -1 with a message
 * (naming the file and line, never a value). */
static int read_profile(const char *path, const char *name, int config, profile *p, char *err,
                        size_t err_size)
{
    explicit_bzero(p, sizeof *p);
    char *buf;
    size_t cap;
    int rc = read_small_file(path, &buf, &cap, err, err_size);
    if (rc != 0)
        return rc;
    int in = 0, any_section = 0, lineno = 0;
    long key_indent = -1;
    rc = 0;
    for (char *line = buf; line != NULL && rc == 0;) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        char *next = nl != NULL ? nl + 1 : NULL;
        lineno++;
        trim_right(line);
        long indent = (long)strspn(line, " \t");
        char *t = line + indent;
        if (*t == '\0' || *t == '#' || *t == ';') {
            line = next;
            continue;
        }
        /* deeper than the last key: a continuation or a nested setting */
        if (indent > 0 && key_indent >= 0 && indent > key_indent) {
            line = next;
            continue;
        }
        if (*t == '[') {
            char *close = strrchr(t, ']');
            if (close == NULL) {
                seterr(err, err_size, "%s line %d: a section without ']'", path, lineno);
                rc = -1;
                break;
            }
            in = section_is(t + 1, (size_t)(close - t - 1), name, config);
            p->found |= in;
            any_section = 1;
            key_indent = -1;
            line = next;
            continue;
        }
        char *sep = t + strcspn(t, "=:");
        if (*sep == '\0' || sep == t || !any_section) {
            seterr(err, err_size, "%s line %d: %s", path, lineno,
                   any_section ? "not a section, a comment or key = value" : "a key before any section");
            rc = -1;
            break;
        }
        key_indent = indent;
        if (in) {
            char *kend = sep;
            while (kend > t && is_blank(kend[-1]))
                kend--;
            *kend = '\0';
            char *v = sep + 1;
            while (is_blank(*v))
                v++;
            /* an inline comment needs a blank before it: keys, secrets and
             * tokens hold neither */
            for (char *q = v; *q; q++)
                if ((*q == '#' || *q == ';') && q > v && is_blank(q[-1])) {
                    *q = '\0';
                    break;
                }
            trim_right(v);
            char *dst = NULL;
            size_t dsize = 0;
            if (strcasecmp(t, "aws_access_key_id") == 0)
                dst = p->key_id, dsize = sizeof p->key_id;
            else if (strcasecmp(t, "aws_secret_access_key") == 0)
                dst = p->secret, dsize = sizeof p->secret;
            else if (strcasecmp(t, "aws_session_token") == 0)
                dst = p->token, dsize = sizeof p->token;
            else if (strcasecmp(t, "region") == 0)
                dst = p->region, dsize = sizeof p->region;
            if (dst != NULL) {
                size_t vl = strlen(v);
                if (vl >= dsize) {
                    seterr(err, err_size, "%s line %d: %s is longer than %zu characters", path, lineno,
                           t, dsize - 1);
                    rc = -1;
                    break;
                }
                memcpy(dst, v, vl + 1);
            }
        }
        line = next;
    }
    wipe_free(buf, cap);
    if (rc != 0)
        explicit_bzero(p, sizeof *p);
    return rc;
}

static const char *profile_name(void)
{
    return env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
}

/* Credentials of one file's profile: AWS_OK, SKIP (none there), AWS_NONE
 * with a message (half a key pair, or a bad file). */
static int profile_creds(const char *path, int config, const char *name, aws_credentials *o,
                         int *file_found, int *profile_found, char *err, size_t err_size)
{
    profile *p = malloc(sizeof *p);
    if (p == NULL) {
        seterr(err, err_size, "out of memory");
        return AWS_NONE;
    }
    int rc = read_profile(path, name, config, p, err, err_size);
    if (rc < 0) {
        free(p);
        return AWS_NONE;
    }
    *file_found |= rc == 0;
    *profile_found |= p->found;
    if (rc == 1 || (p->key_id[0] == '\0' && p->secret[0] == '\0')) {
        rc = SKIP;
    } else if (p->key_id[0] == '\0' || p->secret[0] == '\0') {
        seterr(err, err_size, "profile %s in %s has %s but no %s", name, path,
               p->key_id[0] ? "aws_access_key_id" : "aws_secret_access_key",
               p->key_id[0] ? "aws_secret_access_key" : "aws_access_key_id");
        rc = AWS_NONE;
    } else {
        char what[MAX_PATH + 160];
        snprintf(what, sizeof what, "profile %s in %s", name, path);
        rc = fill(o, config ? SRC_CONFIG : SRC_CREDFILE, p->key_id, p->secret, p->token, what, err,
                  err_size);
    }
    explicit_bzero(p, sizeof *p);
    free(p);
    return rc;
}

static int from_files(aws_credentials *o, int *kind, char *note, size_t note_size, char *err,
                      size_t err_size)
{
    char cred_path[MAX_PATH], conf_path[MAX_PATH];
    const char *name = profile_name();
    if (aws_file_path(cred_path, sizeof cred_path, "AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials") != 0 ||
        aws_file_path(conf_path, sizeof conf_path, "AWS_CONFIG_FILE", ".aws/config") != 0) {
        seterr(note, note_size, "the shared files (no home directory)");
        return SKIP;
    }
    int file_found = 0, profile_found = 0;
    int rc = profile_creds(cred_path, 0, name, o, &file_found, &profile_found, err, err_size);
    if (rc == AWS_OK)
        *kind = SRC_CREDFILE;
    if (rc != SKIP)
        return rc;
    rc = profile_creds(conf_path, 1, name, o, &file_found, &profile_found, err, err_size);
    if (rc == AWS_OK)
        *kind = SRC_CONFIG;
    if (rc != SKIP)
        return rc;
    /* An AWS_PROFILE no file has is a mistake, as it is for the AWS CLI. */
    if (env("AWS_PROFILE") != NULL && !profile_found) {
        seterr(err, err_size, "AWS_PROFILE names profile %s, which neither %s nor %s has", name,
               cred_path, conf_path);
        return AWS_NONE;
    }
    seterr(note, note_size, "%s and %s (profile %s: %s)", cred_path, conf_path, name,
           !file_found ? "no such files" : profile_found ? "no keys" : "no such profile");
    return SKIP;
}

/* ---- metadata requests -------------------------------------------------------- */

typedef struct meta_answer {
    long status;                /* 0: no answer */
    int aborted;                /* stopped by *stop */
    char why[CURL_ERROR_SIZE];  /* with status 0 */
    char *body;                 /* NUL-terminated; wiped when freed */
    size_t len, cap;
    int over;                   /* the body passed META_MAX_BODY */
} meta_answer;

static void meta_answer_free(meta_answer *a)
{
    wipe_free(a->body, a->cap);
    a->body = NULL;
    a->len = a->cap = 0;
}

static size_t on_meta_body(char *p, size_t size, size_t n, void *arg)
{
    meta_answer *a = arg;
    size_t len = size * n;
    if (a->len + len > META_MAX_BODY) {
        a->over = 1;
        return 0;
    }
    if (a->len + len + 1 > a->cap) {
        /* grown by hand so that the old copy is wiped, not left to realloc */
        size_t cap = a->cap ? a->cap : 1024;
        while (cap < a->len + len + 1)
            cap *= 2;
        char *b = malloc(cap);
        if (b == NULL)
            return 0;
        if (a->len > 0)
            memcpy(b, a->body, a->len);
        wipe_free(a->body, a->cap);
        a->body = b;
        a->cap = cap;
    }
    memcpy(a->body + a->len, p, len);
    a->len += len;
    a->body[a->len] = '\0';
    return len;
}

static size_t on_no_upload(char *p, size_t size, size_t n, void *arg)
{
    return 0;
}

static int on_meta_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    const aws_chain *c = arg;
    return c->stop != NULL && *c->stop ? 1 : 0;
}

static void slist_wipe_free(struct curl_slist *l)
{
    for (struct curl_slist *i = l; i != NULL; i = i->next)
        explicit_bzero(i->data, strlen(i->data));
    curl_slist_free_all(l);
}

/* One GET, or PUT with an empty body, to a metadata service. hdrs
 * (NULL-terminated) may hold secrets. 0 when an answer came (a->status),
 * 1 when none did (a->why), -1 when out of memory. */
static int meta_request(aws_chain *c, int put, const char *url, const char *const *hdrs,
                        int via_proxy, meta_answer *a)
{
    memset(a, 0, sizeof *a);
    if (c->stop != NULL && *c->stop) {
        a->aborted = 1;
        snprintf(a->why, sizeof a->why, "stopped");
        return 1;
    }
    CURL *h = curl_easy_init();
    if (h == NULL)
        return -1;
    struct curl_slist *hl = NULL, *t;
    for (size_t i = 0; hdrs != NULL && hdrs[i] != NULL; i++) {
        if ((t = curl_slist_append(hl, hdrs[i])) == NULL) {
            slist_wipe_free(hl);
            curl_easy_cleanup(h);
            return -1;
        }
        hl = t;
    }
    char errbuf[CURL_ERROR_SIZE];
    errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, META_CONNECT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, META_TOTAL_MS);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "cruddur-export/" PACKAGE_VERSION);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_meta_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_meta_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    /* link-local and loopback services are never behind a proxy */
    if (!via_proxy)
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    if (put) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)0);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_no_upload);
    }
    CURLcode rc = curl_easy_perform(h);
    int out = 0;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &a->status);
    }
    if (rc != CURLE_OK || a->status <= 0) {
        a->status = 0;
        a->aborted = rc == CURLE_ABORTED_BY_CALLBACK;
        if (a->over)
            snprintf(a->why, sizeof a->why, "an answer longer than %d bytes", META_MAX_BODY);
        else if (a->aborted)
            snprintf(a->why, sizeof a->why, "stopped");
        else
            snprintf(a->why, sizeof a->why, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
        out = 1;
    }
    slist_wipe_free(hl);
    curl_easy_cleanup(h);
    if (out == 1)
        meta_answer_free(a);
    return out;
}

/* The answer's own "message" / "Message" / "code", for messages. */
static void service_says(const meta_answer *a, char *out, size_t size)
{
    char m[256], code[96];
    out[0] = '\0';
    if (a->body == NULL || a->len == 0)
        return;
    if (jflat_get(a->body, a->len, "message", m, sizeof m) != 1 &&
        jflat_get(a->body, a->len, "Message", m, sizeof m) != 1) {
        /* a plain-text answer: its first line */
        clean_copy(m, sizeof m, a->body, strcspn(a->body, "\r\n"));
        if (a->body[0] == '{' || a->body[0] == '<')
            m[0] = '\0';
    }
    if (jflat_get(a->body, a->len, "code", code, sizeof code) != 1 &&
        jflat_get(a->body, a->len, "Code", code, sizeof code) != 1)
        code[0] = '\0';
    char mc[200], cc[64];
    clean_copy(mc, sizeof mc, m, sizeof m);
    clean_copy(cc, sizeof cc, code, sizeof code);
    if (cc[0] && mc[0])
        snprintf(out, size, ": %s: %s", cc, mc);
    else if (cc[0] || mc[0])
        snprintf(out, size, ": %s", cc[0] ? cc : mc);
}

/* Credentials from a metadata answer (AccessKeyId, SecretAccessKey, Token,
 * Expiration). AWS_OK, or AWS_NONE with a message. */
static int parse_creds(const meta_answer *a, int kind, const char *what, aws_credentials *o,
                       char *err, size_t err_size)
{
    typedef struct parts {
        char id[128], secret[128], token[4096], expiration[64];
    } parts;
    parts *p = malloc(sizeof *p);
    if (p == NULL) {
        seterr(err, err_size, "out of memory");
        return AWS_NONE;
    }
    int rc = AWS_NONE;
    const char *body = a->body ? a->body : "";
    int r1 = jflat_get(body, a->len, "AccessKeyId", p->id, sizeof p->id);
    int r2 = jflat_get(body, a->len, "SecretAccessKey", p->secret, sizeof p->secret);
    int r3 = jflat_get(body, a->len, "Token", p->token, sizeof p->token);
    int r4 = jflat_get(body, a->len, "Expiration", p->expiration, sizeof p->expiration);
    int64_t exp_us = 0;
    if (r1 == -1 || r2 == -1 || r3 == -1 || r4 == -1)
        seterr(err, err_size, "%s: the answer is not a JSON object", what);
    else if (r1 == -2 || r2 == -2 || r3 == -2 || r4 == -2)
        seterr(err, err_size, "%s: a credential in the answer is too long", what);
    else if (r1 != 1 || r2 != 1)
        seterr(err, err_size, "%s: the answer has no AccessKeyId or SecretAccessKey", what);
    else if (r4 == 1 && tstamp_parse_iso8601(p->expiration, &exp_us) != 0)
        seterr(err, err_size, "%s: Expiration is not an ISO 8601 time", what);
    else
        rc = fill(o, kind, p->id, p->secret, p->token, what, err, err_size);
    if (rc == AWS_OK)
        o->expires_ns = r4 == 1 ? exp_us * 1000 : tstamp_now_ns() + UNDATED_LIFETIME_NS;
    explicit_bzero(p, sizeof *p);
    free(p);
    return rc;
}

/* The scheme and host of a URL, for messages (paths can hold ids). */
static void url_origin(const char *url, char *out, size_t size)
{
    const char *p = strstr(url, "://");
    size_t n = p != NULL ? (size_t)(p + 3 - url) + strcspn(p + 3, "/?#") : strcspn(url, "/?#");
    clean_copy(out, size, url, n);
}

/* ---- source 3: container credentials ----------------------------------------- */

/* Plain http is allowed to loopback and the ECS / EKS agents only, as in
 * the SDKs (names are not resolved: "localhost" is taken as loopback). */
static int http_host_allowed(const char *url)
{
    const char *h = url + 7; /* after "http://" */
    size_t n = strcspn(h, "/?#");
    if (memchr(h, '@', n) != NULL)
        return 0;
    char host[64];
    if (h[0] == '[') {
        const char *close = memchr(h, ']', n);
        if (close == NULL || (size_t)(close - h) >= sizeof host)
            return 0;
        memcpy(host, h + 1, (size_t)(close - h - 1));
        host[close - h - 1] = '\0';
        struct in6_addr a6, want;
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return 0;
        if (memcmp(&a6, &in6addr_loopback, sizeof a6) == 0)
            return 1;
        return inet_pton(AF_INET6, "fd00:ec2::23", &want) == 1 && memcmp(&a6, &want, sizeof a6) == 0;
    }
    size_t hl = strcspn(h, ":/?#");
    if (hl == 0 || hl >= sizeof host)
        return 0;
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (strcasecmp(host, "localhost") == 0 || strcmp(host, "169.254.170.2") == 0 ||
        strcmp(host, "169.254.170.23") == 0)
        return 1;
    struct in_addr a4;
    return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

/* The Authorization value: the token file (read each time) or the token
 * variable. 0 (out "" for none), or -1 with a message. */
static int container_auth(char *out, size_t size, char *err, size_t err_size)
{
    out[0] = '\0';
    const char *file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *tok = env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    const char *name = file ? "the file AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE names"
                            : "AWS_CONTAINER_AUTHORIZATION_TOKEN";
    if (file != NULL) {
        char *buf;
        size_t cap;
        int rc = read_small_file(file, &buf, &cap, err, err_size);
        if (rc == 1)
            seterr(err, err_size, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: no file %s", file);
        if (rc != 0)
            return -1;
        trim_right(buf);
        size_t n = strlen(buf);
        if (n < size)
            memcpy(out, buf, n + 1);
        wipe_free(buf, cap);
        if (n >= size) {
            explicit_bzero(out, size);
            seterr(err, err_size, "%s: the token is longer than %zu bytes", name, size - 1);
            return -1;
        }
    } else if (tok != NULL) {
        if (strlen(tok) >= size) {
            seterr(err, err_size, "%s: the token is longer than %zu bytes", name, size - 1);
            return -1;
        }
        memcpy(out, tok, strlen(tok) + 1);
    }
    for (const char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f) {
            explicit_bzero(out, size);
            seterr(err, err_size, "%s: the token holds a line break or a control character", name);
            return -1;
        }
    if (file != NULL && out[0] == '\0') {
        seterr(err, err_size, "%s: the file is empty", name);
        return -1;
    }
    return 0;
}

static int from_container(aws_chain *c, int established, aws_credentials *o, char *note,
                          size_t note_size, char *err, size_t err_size)
{
    const char *rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (rel == NULL && full == NULL) {
        seterr(note, note_size, "container credentials (not configured)");
        if (established) {
            seterr(err, err_size, "the container credentials variables are no longer set");
            return AWS_NONE;
        }
        return SKIP;
    }
    char url[MAX_URL];
    int n, https = 0;
    if (rel != NULL) {
        n = snprintf(url, sizeof url, "%s%s%s", c->container_base, rel[0] == '/' ? "" : "/", rel);
    } else {
        n = snprintf(url, sizeof url, "%s", full);
        https = strncasecmp(full, "https://", 8) == 0;
        if (!https && (strncasecmp(full, "http://", 7) != 0 || !http_host_allowed(full))) {
            seterr(err, err_size, "AWS_CONTAINER_CREDENTIALS_FULL_URI must be an https:// URL, or "
                   "http:// on a loopback, ECS (169.254.170.2) or EKS (169.254.170.23) address");
            return AWS_NONE;
        }
    }
    if (n < 0 || (size_t)n >= sizeof url) {
        seterr(err, err_size, "the container credentials URI is longer than %d bytes", MAX_URL - 1);
        return AWS_NONE;
    }
    char origin[160];
    url_origin(url, origin, sizeof origin);
    enum { AUTH_MAX = 8192 };
    char *auth = malloc(AUTH_MAX), *hdr = malloc(AUTH_MAX + 16);
    if (auth == NULL || hdr == NULL) {
        free(auth);
        free(hdr);
        seterr(err, err_size, "out of memory");
        return AWS_UNAVAILABLE;
    }
    int rc;
    if (container_auth(auth, AUTH_MAX, err, err_size) != 0) {
        rc = AWS_NONE;
        goto done;
    }
    snprintf(hdr, AUTH_MAX + 16, "Authorization: %s", auth);
    const char *hdrs[] = { "Accept: application/json", auth[0] ? hdr : NULL, NULL };
    meta_answer a;
    int r = meta_request(c, 0, url, hdrs, https, &a);
    if (r < 0) {
        seterr(err, err_size, "out of memory");
        rc = AWS_UNAVAILABLE;
    } else if (r == 1) {
        seterr(err, err_size, "the container credentials endpoint %s did not answer: %s", origin, a.why);
        rc = AWS_UNAVAILABLE;
    } else if (a.status == 200) {
        char what[200];
        snprintf(what, sizeof what, "the container credentials endpoint %s", origin);
        rc = parse_creds(&a, SRC_CONTAINER, what, o, err, err_size);
        if (rc != AWS_OK && established)
            rc = AWS_UNAVAILABLE;
    } else {
        char says[300];
        service_says(&a, says, sizeof says);
        seterr(err, err_size, "the container credentials endpoint %s answered %ld%s%s", origin, a.status,
               says, a.status == 401 || a.status == 403 ? " (check the authorization token)" : "");
        int transient = a.status >= 500 || a.status == 408 || a.status == 429;
        rc = transient || established ? AWS_UNAVAILABLE : AWS_NONE;
    }
    meta_answer_free(&a);
done:
    explicit_bzero(auth, AUTH_MAX);
    explicit_bzero(hdr, AUTH_MAX + 16);
    free(auth);
    free(hdr);
    return rc;
}

/* ---- source 4: EC2 instance metadata (IMDSv2) -------------------------------------- */

static int imds_base(char *out, size_t size, char *err, size_t err_size)
{
    const char *v = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    const char *mode = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
    if (v == NULL)
        v = mode != NULL && strcasecmp(mode, "ipv6") == 0 ? IMDS_DEFAULT_V6 : IMDS_DEFAULT;
    if (strncasecmp(v, "http://", 7) != 0 && strncasecmp(v, "https://", 8) != 0) {
        seterr(err, err_size, "AWS_EC2_METADATA_SERVICE_ENDPOINT must be an http:// or https:// URL");
        return -1;
    }
    int n = snprintf(out, size, "%s", v);
    if (n < 0 || (size_t)n >= size) {
        seterr(err, err_size, "AWS_EC2_METADATA_SERVICE_ENDPOINT is too long");
        return -1;
    }
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
    return 0;
}

/* established: the service answered this chain before, so any failure now
 * is a passing one (AWS_UNAVAILABLE). On the first look, a service that
 * does not answer or refuses the token request means "not on EC2" (SKIP). */
static int from_imds(aws_chain *c, int established, aws_credentials *o, char *note,
                     size_t note_size, char *err, size_t err_size)
{
    if (env_true("AWS_EC2_METADATA_DISABLED")) {
        seterr(note, note_size, "EC2 instance metadata (disabled by AWS_EC2_METADATA_DISABLED)");
        if (established) {
            seterr(err, err_size, "EC2 instance metadata is now disabled by AWS_EC2_METADATA_DISABLED");
            return AWS_NONE;
        }
        return SKIP;
    }
    char base[512], url[MAX_URL], origin[160];
    if (imds_base(base, sizeof base, err, err_size) != 0)
        return AWS_NONE;
    url_origin(base, origin, sizeof origin);
    char token[1024], hdr[1100], role[160];
    meta_answer a;
    int rc = AWS_UNAVAILABLE;

    /* 1. the session token */
    snprintf(url, sizeof url, "%s/latest/api/token", base);
    const char *put_hdrs[] = { "X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL, NULL };
    int r = meta_request(c, 1, url, put_hdrs, 0, &a);
    if (r < 0) {
        seterr(err, err_size, "out of memory");
        return AWS_UNAVAILABLE;
    }
    if (r == 1 || a.status != 200) {
        char says[300] = "";
        if (r == 0)
            service_says(&a, says, sizeof says);
        int transient = r == 1 ? a.aborted || established : a.status >= 500 || a.status == 429 || established;
        if (r == 1)
            seterr(note, note_size, "EC2 instance metadata at %s (no answer: %s)", origin, a.why);
        else
            seterr(note, note_size, "EC2 instance metadata at %s (answered %ld to the token request%s)",
                   origin, a.status, says);
        meta_answer_free(&a);
        if (!transient)
            return SKIP;
        seterr(err, err_size, "%s", note);
        return AWS_UNAVAILABLE;
    }
    size_t tl = a.len;
    while (tl > 0 && (a.body[tl - 1] == '\n' || a.body[tl - 1] == '\r' || a.body[tl - 1] == ' '))
        tl--;
    if (tl == 0 || tl >= sizeof token) {
        meta_answer_free(&a);
        seterr(err, err_size, "EC2 instance metadata at %s: the session token is empty or too long", origin);
        return established ? AWS_UNAVAILABLE : AWS_NONE;
    }
    memcpy(token, a.body, tl);
    token[tl] = '\0';
    meta_answer_free(&a);
    if (!visible(token)) {
        seterr(err, err_size, "EC2 instance metadata at %s: the session token holds a control character",
               origin);
        rc = established ? AWS_UNAVAILABLE : AWS_NONE;
        goto done;
    }
    snprintf(hdr, sizeof hdr, "X-aws-ec2-metadata-token: %s", token);
    const char *get_hdrs[] = { hdr, NULL };

    /* 2. the role of the instance profile */
    snprintf(url, sizeof url, "%s" IMDS_ROLES, base);
    r = meta_request(c, 0, url, get_hdrs, 0, &a);
    if (r != 0 || a.status != 200) {
        if (r < 0) {
            seterr(err, err_size, "out of memory");
        } else if (r == 1) {
            seterr(err, err_size, "EC2 instance metadata at %s did not answer the role request: %s",
                   origin, a.why);
        } else if (a.status == 404 && !established) {
            seterr(note, note_size, "EC2 instance metadata at %s (no IAM role attached to the instance)",
                   origin);
            rc = SKIP;
        } else {
            seterr(err, err_size, "EC2 instance metadata at %s answered %ld to the role request", origin,
                   a.status);
        }
        meta_answer_free(&a);
        goto done;
    }
    clean_copy(role, sizeof role, a.body ? a.body : "", a.body ? strcspn(a.body, "\r\n") : 0);
    trim_right(role);
    meta_answer_free(&a);
    if (role[0] == '\0' || strpbrk(role, "/?#% ") != NULL || strlen(role) > 128) {
        seterr(note, note_size, "EC2 instance metadata at %s (no usable IAM role name)", origin);
        if (!established) {
            rc = SKIP;
        } else {
            seterr(err, err_size, "%s", note);
            rc = AWS_UNAVAILABLE;
        }
        goto done;
    }

    /* 3. the role's credentials */
    snprintf(url, sizeof url, "%s" IMDS_ROLES "%s", base, role);
    r = meta_request(c, 0, url, get_hdrs, 0, &a);
    if (r < 0) {
        seterr(err, err_size, "out of memory");
    } else if (r == 1) {
        seterr(err, err_size, "EC2 instance metadata at %s did not answer the credentials request: %s",
               origin, a.why);
    } else if (a.status != 200) {
        seterr(err, err_size, "EC2 instance metadata at %s answered %ld to the credentials request for "
               "role %s", origin, a.status, role);
    } else {
        char code[64], cc[64];
        int cr = jflat_get(a.body ? a.body : "", a.len, "Code", code, sizeof code);
        char what[400];
        snprintf(what, sizeof what, "EC2 instance metadata at %s, role %s", origin, role);
        if (cr == 1 && strcmp(code, "Success") != 0) {
            clean_copy(cc, sizeof cc, code, sizeof code);
            seterr(err, err_size, "%s: the credentials answer has Code %s", what, cc);
        } else {
            rc = parse_creds(&a, SRC_IMDS, what, o, err, err_size);
            if (rc != AWS_OK && established)
                rc = AWS_UNAVAILABLE;
        }
    }
    meta_answer_free(&a);
done:
    explicit_bzero(token, sizeof token);
    explicit_bzero(hdr, sizeof hdr);
    return rc;
}

/* ---- the chain -------------------------------------------------------------------- */

int aws_chain_new(aws_chain **out, const volatile sig_atomic_t *stop)
{
    aws_chain *c = calloc(1, sizeof *c);
    *out = c;
    if (c == NULL)
        return -1;
    c->stop = stop;
    snprintf(c->container_base, sizeof c->container_base, "%s", CONTAINER_DEFAULT);
    return 0;
}

void aws_chain_free(aws_chain *c)
{
    if (c == NULL)
        return;
    explicit_bzero(c, sizeof *c);
    free(c);
}

int aws_chain_set_container_base(aws_chain *c, const char *base)
{
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    if (n >= sizeof c->container_base)
        return -1;
    memcpy(c->container_base, base, n);
    c->container_base[n] = '\0';
    return 0;
}

/* The first look: every source in order. */
static int resolve(aws_chain *c, aws_credentials *o, int *kind, char *err, size_t err_size)
{
    char notes[4][NOTE_SIZE] = { "", "", "", "" };
    int rc = from_env(o, notes[0], NOTE_SIZE, err, err_size);
    if (rc != SKIP) {
        *kind = SRC_ENV;
        return rc;
    }
    rc = from_files(o, kind, notes[1], NOTE_SIZE, err, err_size);
    if (rc != SKIP)
        return rc;
    rc = from_container(c, 0, o, notes[2], NOTE_SIZE, err, err_size);
    if (rc != SKIP) {
        *kind = SRC_CONTAINER;
        return rc;
    }
    rc = from_imds(c, 0, o, notes[3], NOTE_SIZE, err, err_size);
    if (rc != SKIP) {
        *kind = SRC_IMDS;
        return rc;
    }
    seterr(err, err_size, "no AWS credentials found: tried %s; %s; %s; %s", notes[0], notes[1], notes[2],
           notes[3]);
    return AWS_NONE;
}

/* Later looks: the source found first, again. */
static int refresh(aws_chain *c, aws_credentials *o, char *err, size_t err_size)
{
    char note[NOTE_SIZE];
    int kind = c->kind, rc;
    switch (c->kind) {
    case SRC_ENV:
        rc = from_env(o, note, sizeof note, err, err_size);
        break;
    case SRC_CREDFILE:
    case SRC_CONFIG:
        rc = from_files(o, &kind, note, sizeof note, err, err_size);
        break;
    case SRC_CONTAINER:
        rc = from_container(c, 1, o, note, sizeof note, err, err_size);
        break;
    default:
        rc = from_imds(c, 1, o, note, sizeof note, err, err_size);
        break;
    }
    if (rc == SKIP) {
        seterr(err, err_size, "the credentials found before are gone: %s", note);
        rc = AWS_NONE;
    }
    if (rc == AWS_OK)
        c->kind = kind;
    return rc;
}

int aws_chain_get(aws_chain *c, int force, const aws_credentials **out, char *err,
                  size_t err_size)
{
    *out = NULL;
    if (err != NULL && err_size > 0)
        err[0] = '\0';
    int64_t now = tstamp_now_ns();
    int valid = c->have && (c->cur.expires_ns == 0 || c->cur.expires_ns > now);
    if (c->have && !force) {
        if (c->cur.expires_ns == 0 || c->cur.expires_ns - now > REFRESH_AHEAD_NS ||
            (valid && now < c->holdoff_ns)) {
            *out = &c->cur;
            return AWS_OK;
        }
    }
    aws_credentials *fresh = malloc(sizeof *fresh);
    if (fresh == NULL) {
        seterr(err, err_size, "out of memory");
        return AWS_UNAVAILABLE;
    }
    creds_wipe(fresh);
    int kind = c->kind;
    int rc = c->have ? refresh(c, fresh, err, err_size) : resolve(c, fresh, &kind, err, err_size);
    if (rc != AWS_OK) {
        creds_wipe(fresh);
        free(fresh);
        if (c->have && !force && valid) {
            /* still good for a while: keep them, and do not ask on every request */
            c->holdoff_ns = now + RETRY_HOLDOFF_NS;
            if (err != NULL && err_size > 0)
                err[0] = '\0';
            *out = &c->cur;
            return AWS_OK;
        }
        return rc;
    }
    c->changed = !c->have || strcmp(fresh->access_key_id, c->cur.access_key_id) != 0 ||
                 strcmp(fresh->secret_access_key, c->cur.secret_access_key) != 0 ||
                 strcmp(fresh->session_token, c->cur.session_token) != 0;
    creds_wipe(&c->cur);
    c->cur = *fresh;
    creds_wipe(fresh);
    free(fresh);
    if (!c->have)
        c->kind = kind;
    c->have = 1;
    c->holdoff_ns = 0;
    *out = &c->cur;
    return AWS_OK;
}

/* ---- region and endpoints ------------------------------------------------------------ */

void aws_region(char *out, size_t size)
{
    if (size == 0)
        return;
    const char *r = env("AWS_REGION") ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
    if (r != NULL) {
        snprintf(out, size, "%s", r);
        return;
    }
    char path[MAX_PATH], err[64];
    profile *p = malloc(sizeof *p);
    if (p != NULL && aws_file_path(path, sizeof path, "AWS_CONFIG_FILE", ".aws/config") == 0 &&
        read_profile(path, profile_name(), 1, p, err, sizeof err) == 0 && p->region[0] != '\0') {
        snprintf(out, size, "%s", p->region);
    } else {
        snprintf(out, size, "%s", AWS_DEFAULT_REGION);
    }
    if (p != NULL) {
        explicit_bzero(p, sizeof *p);
        free(p);
    }
}

int aws_endpoint(char *out, size_t size, const char *env_name, const char *host_prefix,
                 const char *region)
{
    if (size == 0)
        return -1;
    const char *v = NULL;
    if (!env_true("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) {
        char name[128];
        int k = env_name != NULL ? snprintf(name, sizeof name, "AWS_ENDPOINT_URL_%s", env_name) : -1;
        if (k > 0 && (size_t)k < sizeof name)
            v = env(name);
        if (v == NULL)
            v = env("AWS_ENDPOINT_URL");
    }
    int n;
    if (v != NULL)
        n = snprintf(out, size, "%s", v);
    else
        n = snprintf(out, size, "https://%s.%s.%s", host_prefix, region,
                     strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn" : "amazonaws.com");
    if (n < 0 || (size_t)n >= size) {
        out[0] = '\0';
        return -1;
    }
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
    return 0;
}

/* ---- signing ---------------------------------------------------------------------------- */

/* A lowercase name like "us-east-1" or "xray", 1 to max characters. */
static int valid_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || s[0] == '-')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return 0;
    return 1;
}

int aws_signer_init(aws_signer *s, const char *region, const char *service,
                    const volatile sig_atomic_t *stop, char *err, size_t err_size)
{
    memset(s, 0, sizeof *s);
    char r[128], shown[48];
    if (region == NULL) {
        aws_region(r, sizeof r);
        region = r;
    }
    if (!valid_name(region, sizeof s->region - 1)) {
        clean_copy(shown, sizeof shown, region, strlen(region));
        seterr(err, err_size, "\"%s\" is not an AWS region name (like us-east-1)", shown);
        return -1;
    }
    if (service == NULL || !valid_name(service, sizeof s->service - 1)) {
        seterr(err, err_size, "not an AWS service name (like xray or logs)");
        return -1;
    }
    memcpy(s->region, region, strlen(region) + 1);
    memcpy(s->service, service, strlen(service) + 1);
    snprintf(s->provider, sizeof s->provider, "aws:amz:%s:%s", s->region, s->service);
    if (aws_chain_new(&s->chain, stop) != 0) {
        seterr(err, err_size, "out of memory");
        return -1;
    }
    return 0;
}

void aws_signer_free(aws_signer *s)
{
    if (s == NULL)
        return;
    aws_chain_free(s->chain);
    memset(s, 0, sizeof *s);
}

int aws_signer_authorize(aws_signer *s, httpc *h, expcfg_headers *headers, int after_auth_error,
                         char *err, size_t err_size)
{
    const aws_credentials *cr;
    int rc = aws_chain_get(s->chain, after_auth_error, &cr, err, err_size);
    if (rc == AWS_UNAVAILABLE)
        return EXPORT_EXIT_TEMPFAIL;
    if (rc != AWS_OK)
        return EXPORT_EXIT_CONFIG;
    if (after_auth_error && !s->chain->changed) {
        seterr(err, err_size, "AWS refused the credentials from the %s source, and it has no others "
               "(wrong keys, missing permissions for %s, or a clock that is off)", cr->source, s->service);
        return EXPORT_EXIT_CONFIG;
    }
    char userpwd[sizeof cr->access_key_id + sizeof cr->secret_access_key + 2];
    snprintf(userpwd, sizeof userpwd, "%s:%s", cr->access_key_id, cr->secret_access_key);
    int bad = httpc_set_aws_sigv4(h, s->provider, userpwd) != 0;
    explicit_bzero(userpwd, sizeof userpwd);
    if (!bad) {
        if (cr->session_token[0] != '\0')
            bad = headers == NULL || expcfg_headers_set(headers, "X-Amz-Security-Token", cr->session_token) != 0;
        else if (headers != NULL)
            expcfg_headers_remove(headers, "X-Amz-Security-Token");
    }
    if (bad) {
        seterr(err, err_size, "out of memory");
        return EXPORT_EXIT_SOFTWARE;
    }
    snprintf(s->key_id, sizeof s->key_id, "%s", cr->access_key_id);
    return EXPORT_EXIT_OK;
}

/* ---- answers ------------------------------------------------------------------------------- */

/* "prefix#Name:suffix" -> "Name", as the JSON protocols' error types read. */
static void strip_error_type(const char *in, char *out, size_t size)
{
    size_t n = strcspn(in, ":");
    const char *hash = memchr(in, '#', n);
    if (hash != NULL) {
        n -= (size_t)(hash + 1 - in);
        in = hash + 1;
    }
    while (n > 0 && (*in == ' ' || *in == '\t')) {
        in++;
        n--;
    }
    while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t'))
        n--;
    clean_copy(out, size, in, n);
}

static json_t *body_json(const httpc_response *r)
{
    if (r == NULL || r->body.data == NULL || r->body.len == 0)
        return NULL;
    json_t *j = json_loadb(r->body.data, r->body.len, 0, NULL);
    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

void aws_error_type(const httpc_response *r, char *out, size_t size)
{
    if (size == 0)
        return;
    out[0] = '\0';
    if (r == NULL)
        return;
    if (r->amzn_error_type[0] != '\0') {
        strip_error_type(r->amzn_error_type, out, size);
        return;
    }
    json_t *j = body_json(r);
    const char *t = json_string_value(json_object_get(j, "__type"));
    if (t != NULL)
        strip_error_type(t, out, size);
    json_decref(j);
}

void aws_error_message(const httpc_response *r, char *out, size_t size)
{
    if (size == 0)
        return;
    out[0] = '\0';
    json_t *j = body_json(r);
    const char *m = json_string_value(json_object_get(j, "message"));
    if (m == NULL)
        m = json_string_value(json_object_get(j, "Message"));
    if (m != NULL) {
        /* keep UTF-8 as it is; only control characters become blanks, and
         * a character cut in two at the end goes */
        size_t n = strlen(m);
        if (n >= size) {
            n = size - 1;
            while (n > 0 && ((unsigned char)m[n] & 0xc0) == 0x80)
                n--;
        }
        memcpy(out, m, n);
        out[n] = '\0';
        for (char *p = out; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = ' ';
    }
    json_decref(j);
}

int64_t aws_clock_skew_s(const httpc_response *r)
{
    if (r == NULL || r->date_ns <= 0)
        return 0;
    return (tstamp_now_ns() - r->date_ns) / NS_PER_S;
}
