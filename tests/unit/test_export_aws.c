/* Unit tests for aws: the shared files (ini sections, comments, profiles),
 * the order of the credential sources, the region and the endpoints, the
 * JSON protocols' error types, clock skew, container credentials and
 * IMDSv2 against a scripted loopback server (token, role, credentials;
 * refresh before expiry; refresh after an auth error), signing, and that no
 * secret ends up in a message. Each test forks, so the environment is set
 * freely; every test starts with no AWS_* variable, an empty HOME and
 * instance metadata disabled (no request may leave loopback). */
#include <curl/curl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "check_main.h"
#include "export/aws.h"
#include "export/export.h"
#include "export_testsrv.h"
#include "util/tstamp.h"

extern char **environ;

static tsrv srv;
/* Bodies for the script must outlive the answer. */
static char kept[32][4096];
static int n_kept;
static char home[64];
static char err[1024];
static volatile sig_atomic_t stop_flag;

static void clear_aws_env(void)
{
    for (;;) {
        char name[256] = "";
        for (char **e = environ; *e != NULL; e++)
            if (strncmp(*e, "AWS_", 4) == 0) {
                size_t n = strcspn(*e, "=");
                if (n < sizeof name) {
                    memcpy(name, *e, n);
                    name[n] = '\0';
                }
                break;
            }
        if (name[0] == '\0')
            return;
        unsetenv(name);
    }
}

static void setup(void)
{
    clear_aws_env();
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    snprintf(home, sizeof home, "/tmp/aws-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(home));
    setenv("HOME", home, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    tsrv_start(&srv);
    stop_flag = 0;
    err[0] = '\0';
    n_kept = 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    return remove(path);
}

static void teardown(void)
{
    tsrv_stop(&srv);
    curl_global_cleanup();
    nftw(home, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* ---- helpers ------------------------------------------------------------- */


__attribute__((format(printf, 1, 2)))
static const char *keep(const char *fmt, ...)
{
    ck_assert_int_lt(n_kept, 32);
    char *b = kept[n_kept++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof kept[0], fmt, ap);
    va_end(ap);
    return b;
}

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", home, name);
    char dir[256];
    snprintf(dir, sizeof dir, "%s/.aws", home);
    mkdir(dir, 0700);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static const char *path_of(const char *name)
{
    return keep("%s/%s", home, name);
}

/* An ISO 8601 time this many seconds from now. */
static const char *iso_in(int64_t seconds)
{
    char t[TSTAMP_ISO_SIZE];
    ck_assert_int_eq(tstamp_iso8601(tstamp_now_us() + seconds * 1000000, t), 0);
    return keep("%s", t);
}

static const char *creds_json(const char *id, const char *secret, const char *token, const char *exp)
{
    return keep("{\"Code\" : \"Success\", \"LastUpdated\": \"2024-01-01T00:00:00Z\", \"Type\": \"AWS-HMAC\","
                " \"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"%s\", \"Token\": \"%s\","
                " \"Expiration\": \"%s\", \"Nested\": {\"a\": [1, 2.5e3, true, null, \"x\\\"y\"]}}",
                id, secret, token, exp);
}

static void use_imds(void)
{
    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", keep("http://127.0.0.1:%d/", srv.port), 1);
}

/* One IMDSv2 credential fetch: token, role, credentials. */
static void script_imds(const char *token, const char *id, const char *secret, const char *session,
                        const char *exp)
{
    tsrv_script(&srv, (tsrv_reply){ 200, "", token, 0 });
    tsrv_script(&srv, (tsrv_reply){ 200, "", "cruddur-role\n", 0 });
    tsrv_script(&srv, (tsrv_reply){ 200, "", creds_json(id, secret, session, exp), 0 });
}

/* A loopback port nothing listens on. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    return ntohs(a.sin_port);
}

/* A fresh chain's first answer. */
static int get_once(const aws_credentials **out)
{
    aws_chain *c;
    ck_assert_int_eq(aws_chain_new(&c, &stop_flag), 0);
    static aws_credentials copy;
    const aws_credentials *cr = NULL;
    int rc = aws_chain_get(c, 0, &cr, err, sizeof err);
    if (rc == AWS_OK) {
        copy = *cr;
        *out = &copy;
    } else {
        ck_assert_ptr_null(cr);
        *out = NULL;
    }
    aws_chain_free(c);
    return rc;
}

static const char *head(int i)
{
    ck_assert_int_gt(tsrv_requests(&srv), i);
    return srv.req_head[i];
}

static int has(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

/* ---- the shared files ---------------------------------------------------------- */

START_TEST(profiles_from_the_shared_files)
{
    write_file(".aws/credentials",
               "# a comment\n"
               "; another\n"
               "[default]\n"
               "aws_access_key_id = AKIDDEFAULT\n"
               "aws_secret_access_key = secretdefault\n"
               "\n"
               "[work]\r\n"
               "AWS_Access_Key_Id=AKIDWORK   # inline comment\r\n"
               "aws_secret_access_key: secret/work+1\r\n"
               "aws_session_token = tokwork\r\n"
               "region = nowhere\r\n"
               "    aws_session_token = continued\r\n"
               "s3 =\r\n"
               "    aws_access_key_id = AKIDNESTED\r\n"
               "[profile other]\n"
               "aws_access_key_id = AKIDWRONG\n"
               "aws_secret_access_key = wrong\n");
    write_file(".aws/config",
               "[profile work]\n"
               "region = eu-west-2\n"
               "[default]\n"
               "region = us-west-1 ; the default\n");
    const aws_credentials *cr;
    ck_assert_int_eq(get_once(&cr), AWS_OK);
    ck_assert_str_eq(cr->access_key_id, "AKIDDEFAULT");
    ck_assert_str_eq(cr->secret_access_key, "secretdefault");
    ck_assert_str_eq(cr->session_token, "");
    ck_assert_int_eq(cr->expires_ns, 0);
    ck_assert_str_eq(cr->source, "shared-credentials-file");
    char region[64];
    aws_region(region, sizeof region);
    ck_assert_str_eq(region, "us-west-1");

    setenv("AWS_PROFILE", "work", 1);
    ck_assert_int_eq(get_once(&cr), AWS_OK);
    ck_assert_str_eq(cr->access_key_id, "AKIDWORK");
    ck_assert_str_eq(cr->secret_access_key, "secret/work+1");
    ck_assert_str_eq(cr->session_token, "tokwork");
    aws_region(region, sizeof region);
    ck_assert_str_eq(region, "eu-west-2");

    /* "[profile NAME]" is the config file's form, not the credentials file's */
    setenv("AWS_PROFILE", "other", 1);
    ck_assert_int_eq(get_once(&cr), AWS_NONE);
    ck_assert(has(err, "profile other"));
    ck_assert(!has(err, "AKIDWRONG"));
}
END_TEST

START_TEST(keys_in_the_config_file)
{
    setenv("AWS_SHARED_CREDENTIALS_FILE", path_of("nothing-here"), 1);
    setenv("AWS_CONFIG_FILE", path_of("cfg"), 1);
    write_file("cfg",
               "[dev]\n"
               "aws_access_key_id = AKIDBARE\n"
               "aws_secret_access_key = bare\n"
               "[profile   dev ]\n"
               "aws_access_key_id = AKIDDEV\n"
               "aws_secret_access_key = secretdev\n"
               "region = ap-south-1\n"
               "[profile default]\n"
               "aws_access_key_id = AKIDCFGDEFAULT\n"
               "aws_secret_access_key = secretcfg\n");
    setenv("AWS_PROFILE", "dev", 1);
    const aws_credentials *cr;
    ck_assert_int_eq(get_once(&cr), AWS_OK);
    ck_assert_str_eq(cr->access_key_id, "AKIDDEV");
    ck_assert_str_eq(cr->source, "config-file");
    char region[64];
    aws_region(region, sizeof region);
    ck_assert_str_eq(region, "ap-south-1");
    unsetenv("AWS_PROFILE");
    ck_assert_int_eq(get_once(&cr), AWS_OK);
    ck_assert_str_eq(cr->access_key_id, "AKIDCFGDEFAULT");

    /* the credentials file wins over the config file for the same profile */
    setenv("AWS_SHARED_CREDENTIALS_FILE", "~/creds", 1);
    write_file("creds", "[default]\naws_access_key_id=AKIDCREDS\naws_secret_access_key=s\n");
    ck_assert_int_eq(get_once(&cr), AWS_OK);
    ck_assert_str_eq(cr->access_key_id, "AKIDCREDS");
    ck_assert_str_eq(cr->source, "shared-credentials-file");
}
END_TEST

START_TEST(bad_files_and_half_key_pairs)
{
    const aws_credentials *cr;
    write_file(".aws/credentials", "[default]\naws_access_key_id = AKIDHALF\n");
    ck_assert_int_eq(get_once(&cr), AWS_NONE);
    ck_assert(has(err, "aws_secret_access_key"));
    ck_assert(!has(err, "AKIDHALF"));

    write_file(".aws/credentials", "[default]\naws_secret_access_key = hushhush\njunk line\n");
    ck_assert_int_eq(get_once(&cr), AWS_NONE);
    ck_assert(has(err, "line 3"));
    ck_assert(!has(err, "hushhush"));

    write_file(".aws/credentials", "aws_access_key_id = AKIDNOSECTION\n");
    ck_assert_int_eq(get_once(&cr), AWS_NONE);
    ck_assert(has(err, "before any section"));

    write_file(".aws/credentials", "[default]\naws_access_key_id = AKID\naws_secret_access_key = s\n");
    setenv("AWS_ACCESS_KEY_ID", "AKIDENVHALF", 1);
    ck_assert_int_eq(get_once(&cr), AWS_NONE);
    ck_assert(has(err, "AWS_SECRET_ACCESS_KEY"));
    ck_assert(!has(err, "AKIDENVHALF"));

    unsetenv("AWS_ACCESS_KEY_ID");
    /* something that is not a file: an error, and no hang */
    setenv("AWS_SHARED_CREDENTIALS_FILE", path_of("fifo"), 1);
    ck_assert_int_eq(mkfifo(path_of("fifo"), 0600), 0);
    ck_assert_int_eq(get_once(&cr), AWS_NONE);
    ck_assert(has(err, "not a regular file"));
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");

    setenv("AWS_PROFILE", "nope", 1);
    ck_assert_int_eq(get_once(&cr), AWS_NONE);
    ck_assert(has(err, "profile nope"));
}
END_TEST

START_TEST(environment_beats_the_files)
{
    write_file(".aws/credentials", "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = f\n");
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
    setenv("AWS_SESSION_TOKEN", "tokenenv", 1);
    const aws_credentials *cr;
    ck_assert_int_eq(get_once(&cr), AWS_OK);
    ck_assert_str_eq(cr->access_key_id, "AKIDENV");
    ck_assert_str_eq(cr->secret_access_key, "secretenv");
    ck_assert_str_eq(cr->session_token, "tokenenv");
    ck_assert_str_eq(cr->source, "environment");
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    ck_assert_int_eq(get_once(&cr), AWS_OK);
    ck_assert_str_eq(cr->access_key_id, "AKIDFILE");
}
END_TEST

/* env beats file beats container beats instance metadata */
START_TEST(sources_in_order)
{
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
    write_file(".aws/credentials", "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = f\n");
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", keep("http://127.0.0.1:%d/container", srv.port), 1);
    use_imds();
    const aws_credentials *cr;
    ck_assert_int_eq(get_once(&cr), AWS_OK);
    ck_assert_str_eq(cr->source, "environment");
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    ck_assert_int_eq(get_once(&cr), AWS_OK);
    ck_assert_str_eq(cr->source, "shared-credentials-file");
    ck_assert_int_eq(tsrv_requests(&srv), 0);

    write_file(".aws/credentials", "# emptied\n");
    tsrv_script(&srv, (tsrv_reply){ 200, "", creds_json("ASIACONT", "c", "tc", iso_in(3600)), 0 });
    ck_assert_int_eq(get_once(&cr), AWS_OK);
    ck_assert_str_eq(cr->source, "container");
    ck_assert_str_eq(cr->access_key_id, "ASIACONT");
    ck_assert_int_eq(tsrv_requests(&srv), 1);
    ck_assert(has(head(0), "GET /container HTTP/1.1\r\n"));

    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    script_imds("TOK", "ASIAIMDS", "i", "ti", iso_in(3600));
    ck_assert_int_eq(get_once(&cr), AWS_OK);
    ck_assert_str_eq(cr->source, "imds");
    ck_assert_int_eq(tsrv_requests(&srv), 4);
}
END_TEST

/* ---- region and endpoints ------------------------------------------------------- */

START_TEST(region_order)
{
    char r[64];
    aws_region(r, sizeof r);
    ck_assert_str_eq(r, "us-east-1");
    write_file(".aws/config", "[default]\nregion = eu-central-1\n[profile x]\nregion=sa-east-1\n");
    aws_region(r, sizeof r);
    ck_assert_str_eq(r, "eu-central-1");
    setenv("AWS_PROFILE", "x", 1);
    aws_region(r, sizeof r);
    ck_assert_str_eq(r, "sa-east-1");
    setenv("AWS_DEFAULT_REGION", "us-west-2", 1);
    aws_region(r, sizeof r);
    ck_assert_str_eq(r, "us-west-2");
    setenv("AWS_REGION", "ap-northeast-1", 1);
    aws_region(r, sizeof r);
    ck_assert_str_eq(r, "ap-northeast-1");
    setenv("AWS_REGION", "", 1);
    aws_region(r, sizeof r);
    ck_assert_str_eq(r, "us-west-2");
}
END_TEST

START_TEST(endpoints)
{
    char e[128];
    ck_assert_int_eq(aws_endpoint(e, sizeof e, "XRAY", "xray", "eu-west-1"), 0);
    ck_assert_str_eq(e, "https://xray.eu-west-1.amazonaws.com");
    ck_assert_int_eq(aws_endpoint(e, sizeof e, "CLOUDWATCH_LOGS", "logs", "cn-north-1"), 0);
    ck_assert_str_eq(e, "https://logs.cn-north-1.amazonaws.com.cn");
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566/", 1);
    ck_assert_int_eq(aws_endpoint(e, sizeof e, "XRAY", "xray", "eu-west-1"), 0);
    ck_assert_str_eq(e, "http://127.0.0.1:4566");
    setenv("AWS_ENDPOINT_URL_XRAY", "http://127.0.0.1:2000//", 1);
    ck_assert_int_eq(aws_endpoint(e, sizeof e, "XRAY", "xray", "eu-west-1"), 0);
    ck_assert_str_eq(e, "http://127.0.0.1:2000");
    ck_assert_int_eq(aws_endpoint(e, sizeof e, "CLOUDWATCH_LOGS", "logs", "eu-west-1"), 0);
    ck_assert_str_eq(e, "http://127.0.0.1:4566");
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
    ck_assert_int_eq(aws_endpoint(e, sizeof e, "XRAY", "xray", "eu-west-1"), 0);
    ck_assert_str_eq(e, "https://xray.eu-west-1.amazonaws.com");
    ck_assert_int_eq(aws_endpoint(e, 20, "XRAY", "xray", "eu-west-1"), -1);
}
END_TEST

/* ---- answers ---------------------------------------------------------------------- */

static void set_body(httpc_response *r, const char *body)
{
    httpc_response_free(r);
    httpc_response_init(r);
    ck_assert_int_eq(buf_append(&r->body, body, strlen(body)), 0);
}

START_TEST(error_types_and_messages)
{
    httpc_response r;
    httpc_response_init(&r);
    char t[128], m[128];
    aws_error_type(&r, t, sizeof t);
    aws_error_message(&r, m, sizeof m);
    ck_assert_str_eq(t, "");
    ck_assert_str_eq(m, "");

    snprintf(r.amzn_error_type, sizeof r.amzn_error_type,
             "ThrottledException:http://internal.amazon.com/coral/com.amazon.coral.availability/");
    aws_error_type(&r, t, sizeof t);
    ck_assert_str_eq(t, "ThrottledException");
    snprintf(r.amzn_error_type, sizeof r.amzn_error_type, "aws.protocoltests.restjson#InvalidRequestException");
    aws_error_type(&r, t, sizeof t);
    ck_assert_str_eq(t, "InvalidRequestException");

    set_body(&r, "{\"__type\":\"com.amazonaws.logs#ResourceNotFoundException\","
                 "\"message\":\"The specified log group does not exist.\"}");
    aws_error_type(&r, t, sizeof t);
    aws_error_message(&r, m, sizeof m);
    ck_assert_str_eq(t, "ResourceNotFoundException");
    ck_assert_str_eq(m, "The specified log group does not exist.");
    /* the header wins over the body */
    snprintf(r.amzn_error_type, sizeof r.amzn_error_type, "InvalidParameterException");
    aws_error_type(&r, t, sizeof t);
    ck_assert_str_eq(t, "InvalidParameterException");

    set_body(&r, "{\"__type\":\"SerializationException\",\"Message\":\"line\\none\"}");
    aws_error_type(&r, t, sizeof t);
    aws_error_message(&r, m, sizeof m);
    ck_assert_str_eq(t, "SerializationException");
    ck_assert_str_eq(m, "line one");

    set_body(&r, "{\"message\":\"abcd\u00e9f\"}");
    aws_error_message(&r, m, 6);
    ck_assert_str_eq(m, "abcd");
    aws_error_message(&r, m, 7);
    ck_assert_str_eq(m, "abcd\xc3\xa9");

    set_body(&r, "<html>502 Bad Gateway</html>");
    aws_error_type(&r, t, sizeof t);
    aws_error_message(&r, m, sizeof m);
    ck_assert_str_eq(t, "");
    ck_assert_str_eq(m, "");
    httpc_response_free(&r);
}
END_TEST

START_TEST(clock_skew)
{
    httpc_response r;
    httpc_response_init(&r);
    ck_assert_int_eq(aws_clock_skew_s(&r), 0);
    r.date_ns = (tstamp_now_ns() / 1000000000 - 300) * 1000000000;
    ck_assert_int_ge(aws_clock_skew_s(&r), 300);
    ck_assert_int_le(aws_clock_skew_s(&r), 301);
    r.date_ns = (tstamp_now_ns() / 1000000000 + 120) * 1000000000;
    ck_assert_int_le(aws_clock_skew_s(&r), -119);
    ck_assert_int_ge(aws_clock_skew_s(&r), -120);
}
END_TEST

/* ---- instance metadata ---------------------------------------------------------------- */

START_TEST(imds_token_then_role_then_credentials)
{
    use_imds();
    script_imds("TOKEN-1", "ASIAIMDS1", "imds/secret+1", "imdstoken1", "2099-01-02T03:04:05Z");
    aws_chain *c;
    ck_assert_int_eq(aws_chain_new(&c, &stop_flag), 0);
    const aws_credentials *cr;
    ck_assert_int_eq(aws_chain_get(c, 0, &cr, err, sizeof err), AWS_OK);
    ck_assert_str_eq(cr->source, "imds");
    ck_assert_str_eq(cr->access_key_id, "ASIAIMDS1");
    ck_assert_str_eq(cr->secret_access_key, "imds/secret+1");
    ck_assert_str_eq(cr->session_token, "imdstoken1");
    ck_assert_int_eq(cr->expires_ns, 4071006245LL * 1000000000LL);
    ck_assert_int_eq(tsrv_requests(&srv), 3);
    ck_assert(has(head(0), "PUT /latest/api/token HTTP/1.1\r\n"));
    ck_assert(has(head(0), "X-aws-ec2-metadata-token-ttl-seconds: 21600\r\n"));
    ck_assert(!has(head(0), "X-aws-ec2-metadata-token:"));
    ck_assert(has(head(1), "GET /latest/meta-data/iam/security-credentials/ HTTP/1.1\r\n"));
    ck_assert(has(head(1), "X-aws-ec2-metadata-token: TOKEN-1\r\n"));
    ck_assert(has(head(2), "GET /latest/meta-data/iam/security-credentials/cruddur-role HTTP/1.1\r\n"));
    ck_assert(has(head(2), "X-aws-ec2-metadata-token: TOKEN-1\r\n"));
    /* cached: no request until they near their expiry */
    ck_assert_int_eq(aws_chain_get(c, 0, &cr, err, sizeof err), AWS_OK);
    ck_assert_str_eq(cr->access_key_id, "ASIAIMDS1");
    ck_assert_int_eq(tsrv_requests(&srv), 3);
    aws_chain_free(c);
}
END_TEST

START_TEST(imds_refreshes_before_expiry)
{
    use_imds();
    script_imds("T1", "ASIAFIRST", "s1", "t1", iso_in(240));
    script_imds("T2", "ASIASECOND", "s2", "t2", iso_in(3600));
    aws_chain *c;
    ck_assert_int_eq(aws_chain_new(&c, &stop_flag), 0);
    const aws_credentials *cr;
    ck_assert_int_eq(aws_chain_get(c, 0, &cr, err, sizeof err), AWS_OK);
    ck_assert_str_eq(cr->access_key_id, "ASIAFIRST");
    /* four minutes left: inside the five-minute margin, so fetched again */
    ck_assert_int_eq(aws_chain_get(c, 0, &cr, err, sizeof err), AWS_OK);
    ck_assert_str_eq(cr->access_key_id, "ASIASECOND");
    ck_assert_str_eq(cr->session_token, "t2");
    ck_assert_int_eq(tsrv_requests(&srv), 6);
    ck_assert(has(head(4), "X-aws-ec2-metadata-token: T2\r\n"));
    ck_assert_int_eq(aws_chain_get(c, 0, &cr, err, sizeof err), AWS_OK);
    ck_assert_int_eq(tsrv_requests(&srv), 6);
    aws_chain_free(c);
}
END_TEST

START_TEST(imds_failed_refresh_keeps_valid_credentials)
{
    use_imds();
    script_imds("T1", "ASIAFIRST", "s1", "t1", iso_in(240));
    tsrv_script(&srv, (tsrv_reply){ 503, "", "", 0 });
    tsrv_script(&srv, (tsrv_reply){ 503, "", "", 0 });
    aws_chain *c;
    ck_assert_int_eq(aws_chain_new(&c, &stop_flag), 0);
    const aws_credentials *cr;
    ck_assert_int_eq(aws_chain_get(c, 0, &cr, err, sizeof err), AWS_OK);
    /* the refresh fails; the credentials are good for four more minutes */
    ck_assert_int_eq(aws_chain_get(c, 0, &cr, err, sizeof err), AWS_OK);
    ck_assert_str_eq(cr->access_key_id, "ASIAFIRST");
    ck_assert_int_eq(tsrv_requests(&srv), 4);
    /* and it is not tried again on every request */
    ck_assert_int_eq(aws_chain_get(c, 0, &cr, err, sizeof err), AWS_OK);
    ck_assert_int_eq(tsrv_requests(&srv), 4);
    /* a forced refresh (the service refused them) reports the failure */
    ck_assert_int_eq(aws_chain_get(c, 1, &cr, err, sizeof err), AWS_UNAVAILABLE);
    ck_assert_ptr_null(cr);
    ck_assert(has(err, "503"));
    ck_assert_int_eq(tsrv_requests(&srv), 5);
    aws_chain_free(c);
}
END_TEST

START_TEST(imds_that_answered_before_and_fails_now_is_unavailable)
{
    use_imds();
    script_imds("T1", "ASIAOLD", "s1", "t1", "2001-01-01T00:00:00Z");
    tsrv_script(&srv, (tsrv_reply){ 0, NULL, NULL, 0 });
    aws_chain *c;
    ck_assert_int_eq(aws_chain_new(&c, &stop_flag), 0);
    const aws_credentials *cr;
    ck_assert_int_eq(aws_chain_get(c, 0, &cr, err, sizeof err), AWS_OK);
    ck_assert_int_eq(aws_chain_get(c, 0, &cr, err, sizeof err), AWS_UNAVAILABLE);
    ck_assert(has(err, "instance metadata"));
    ck_assert(has(err, "no answer"));
    /* a service that now answers refuses nothing: it is still a passing failure */
    tsrv_script(&srv, (tsrv_reply){ 200, "", "T2", 0 });
    tsrv_script(&srv, (tsrv_reply){ 404, "", "", 0 });
    ck_assert_int_eq(aws_chain_get(c, 0, &cr, err, sizeof err), AWS_UNAVAILABLE);
    ck_assert(has(err, "404"));
    tsrv_script(&srv, (tsrv_reply){ 200, "", "T3", 0 });
    tsrv_script(&srv, (tsrv_reply){ 200, "", "cruddur-role", 0 });
    tsrv_script(&srv, (tsrv_reply){ 200, "", "{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"Message\":\"no\"}", 0 });
    ck_assert_int_eq(aws_chain_get(c, 0, &cr, err, sizeof err), AWS_UNAVAILABLE);
    ck_assert(has(err, "AssumeRoleUnauthorizedAccess"));
    aws_chain_free(c);
}
END_TEST

START_TEST(no_instance_metadata_means_no_credentials)
{
    const aws_credentials *cr;
    /* disabled: nothing is asked */
    ck_assert_int_eq(get_once(&cr), AWS_NONE);
    ck_assert(has(err, "no AWS credentials found"));
    ck_assert(has(err, "disabled"));
    ck_assert(has(err, "container credentials (not configured)"));
    ck_assert(has(err, "profile default"));

    /* nothing listens: not on EC2 */
    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", keep("http://127.0.0.1:%d", closed_port()), 1);
    ck_assert_int_eq(get_once(&cr), AWS_NONE);
    ck_assert(has(err, "no AWS credentials found"));
    ck_assert(has(err, "EC2 instance metadata at http://127.0.0.1:"));
    ck_assert(has(err, "no answer"));

    /* an instance without a role */
    use_imds();
    tsrv_script(&srv, (tsrv_reply){ 200, "", "T1", 0 });
    tsrv_script(&srv, (tsrv_reply){ 404, "", "", 0 });
    ck_assert_int_eq(get_once(&cr), AWS_NONE);
    ck_assert(has(err, "no IAM role"));
    ck_assert(!has(err, "T1"));

    /* a token request refused (IMDS turned off on the instance) */
    tsrv_script(&srv, (tsrv_reply){ 403, "", "", 0 });
    ck_assert_int_eq(get_once(&cr), AWS_NONE);
    ck_assert(has(err, "answered 403 to the token request"));

    /* but a service that answers and then fails is there: try later */
    tsrv_script(&srv, (tsrv_reply){ 200, "", "T1", 0 });
    tsrv_script(&srv, (tsrv_reply){ 500, "", "", 0 });
    ck_assert_int_eq(get_once(&cr), AWS_UNAVAILABLE);
    tsrv_script(&srv, (tsrv_reply){ 503, "", "", 0 });
    ck_assert_int_eq(get_once(&cr), AWS_UNAVAILABLE);
}
END_TEST

START_TEST(stop_ends_metadata_requests)
{
    use_imds();
    tsrv_script(&srv, (tsrv_reply){ 200, "", "late", 1500 });
    stop_flag = 1;
    const aws_credentials *cr;
    ck_assert_int_eq(get_once(&cr), AWS_UNAVAILABLE);
    ck_assert(has(err, "stopped"));
    ck_assert_int_eq(tsrv_requests(&srv), 0);
}
END_TEST

/* ---- container credentials ------------------------------------------------------------ */

START_TEST(container_with_token_from_env)
{
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", keep("http://127.0.0.1:%d/v2/creds/abc?x=1", srv.port), 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Basic c2VjcmV0LWF1dGg=", 1);
    tsrv_script(&srv, (tsrv_reply){ 200, "", "{\"AccessKeyId\":\"ASIACONT\",\"SecretAccessKey\":\"c\\/s\","
                                              "\"Token\":\"ct\",\"Expiration\":\"2099-01-01T00:00:00Z\","
                                              "\"RoleArn\":\"arn:aws:iam::1:role/r\"}", 0 });
    const aws_credentials *cr;
    ck_assert_int_eq(get_once(&cr), AWS_OK);
    ck_assert_str_eq(cr->source, "container");
    ck_assert_str_eq(cr->access_key_id, "ASIACONT");
    ck_assert_str_eq(cr->secret_access_key, "c/s");
    ck_assert_str_eq(cr->session_token, "ct");
    ck_assert(has(head(0), "GET /v2/creds/abc?x=1 HTTP/1.1\r\n"));
    ck_assert(has(head(0), "Authorization: Basic c2VjcmV0LWF1dGg=\r\n"));

    /* long-term keys from a local credential server: no Token */
    tsrv_script(&srv, (tsrv_reply){ 200, "", "{\"AccessKeyId\":\"AKIALOCAL\",\"SecretAccessKey\":\"l\"}", 0 });
    ck_assert_int_eq(get_once(&cr), AWS_OK);
    ck_assert_str_eq(cr->session_token, "");
    ck_assert_int_gt(cr->expires_ns, tstamp_now_ns());
}
END_TEST

START_TEST(container_token_file_beats_env)
{
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", keep("http://localhost:%d/creds", srv.port), 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "env-token", 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path_of("token"), 1);
    write_file("token", "file-token-1\n");
    tsrv_script(&srv, (tsrv_reply){ 200, "", creds_json("ASIA1", "s", "t", iso_in(3600)), 0 });
    tsrv_script(&srv, (tsrv_reply){ 200, "", creds_json("ASIA2", "s", "t", iso_in(3600)), 0 });
    aws_chain *c;
    ck_assert_int_eq(aws_chain_new(&c, &stop_flag), 0);
    const aws_credentials *cr;
    ck_assert_int_eq(aws_chain_get(c, 0, &cr, err, sizeof err), AWS_OK);
    ck_assert(has(head(0), "Authorization: file-token-1\r\n"));
    ck_assert(!has(head(0), "env-token"));
    /* the file is read at every fetch (EKS rotates it) */
    write_file("token", "file-token-2");
    ck_assert_int_eq(aws_chain_get(c, 1, &cr, err, sizeof err), AWS_OK);
    ck_assert_str_eq(cr->access_key_id, "ASIA2");
    ck_assert(has(head(1), "Authorization: file-token-2\r\n"));
    aws_chain_free(c);
}
END_TEST

START_TEST(container_failures)
{
    const aws_credentials *cr;
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", keep("http://127.0.0.1:%d/creds", srv.port), 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "sekrit-auth", 1);
    tsrv_script(&srv, (tsrv_reply){ 401, "", "{\"code\":\"AccessDenied\",\"message\":\"bad token\"}", 0 });
    ck_assert_int_eq(get_once(&cr), AWS_NONE);
    ck_assert(has(err, "answered 401: AccessDenied: bad token"));
    ck_assert(!has(err, "sekrit"));
    ck_assert(!has(err, "/creds"));
    tsrv_script(&srv, (tsrv_reply){ 503, "", "", 0 });
    ck_assert_int_eq(get_once(&cr), AWS_UNAVAILABLE);
    tsrv_script(&srv, (tsrv_reply){ 200, "", "{\"AccessKeyId\":\"ASIA\"", 0 });
    ck_assert_int_eq(get_once(&cr), AWS_NONE);
    ck_assert(has(err, "not a JSON object"));
    tsrv_script(&srv, (tsrv_reply){ 200, "", "{\"AccessKeyId\":\"ASIA\",\"SecretAccessKey\":\"s\",\"Expiration\":\"soon\"}", 0 });
    ck_assert_int_eq(get_once(&cr), AWS_NONE);
    ck_assert(has(err, "Expiration"));

    /* configured but unreachable: try later (instance metadata is not asked) */
    use_imds();
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", keep("http://127.0.0.1:%d/creds", closed_port()), 1);
    int before = tsrv_requests(&srv);
    ck_assert_int_eq(get_once(&cr), AWS_UNAVAILABLE);
    ck_assert(has(err, "did not answer"));
    ck_assert_int_eq(tsrv_requests(&srv), before);

    /* plain http only to loopback and the ECS / EKS agents; no request is made */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds", 1);
    ck_assert_int_eq(get_once(&cr), AWS_NONE);
    ck_assert(has(err, "https://"));
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1@example.com/creds", 1);
    ck_assert_int_eq(get_once(&cr), AWS_NONE);

    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", keep("http://127.0.0.1:%d/creds", srv.port), 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "two\r\nX-Injected: 1", 1);
    ck_assert_int_eq(get_once(&cr), AWS_NONE);
    ck_assert(has(err, "line break"));
    ck_assert(!has(err, "Injected"));
    ck_assert_int_eq(tsrv_requests(&srv), before);
}
END_TEST

START_TEST(relative_uri_beats_full_uri)
{
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/rel-id", 1);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", keep("http://127.0.0.1:%d/full", srv.port), 1);
    tsrv_script(&srv, (tsrv_reply){ 200, "", creds_json("ASIAREL", "s", "t", iso_in(3600)), 0 });
    aws_chain *c;
    ck_assert_int_eq(aws_chain_new(&c, &stop_flag), 0);
    ck_assert_int_eq(aws_chain_set_container_base(c, keep("http://127.0.0.1:%d/", srv.port)), 0);
    const aws_credentials *cr;
    ck_assert_int_eq(aws_chain_get(c, 0, &cr, err, sizeof err), AWS_OK);
    ck_assert_str_eq(cr->access_key_id, "ASIAREL");
    ck_assert(has(head(0), "GET /v2/credentials/rel-id HTTP/1.1\r\n"));
    ck_assert(!has(head(0), "Authorization:"));
    aws_chain_free(c);
}
END_TEST

/* ---- signing ------------------------------------------------------------------------- */

START_TEST(signer_signs_and_sets_the_token)
{
    setenv("AWS_ACCESS_KEY_ID", "AKIDSIGN", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", 1);
    setenv("AWS_SESSION_TOKEN", "session-tok", 1);
    aws_signer s;
    ck_assert_int_eq(aws_signer_init(&s, "eu-west-1", "xray", &stop_flag, err, sizeof err), 0);
    ck_assert_str_eq(s.provider, "aws:amz:eu-west-1:xray");
    httpc *h;
    ck_assert_int_eq(httpc_new(&h, 2000, 2000, &stop_flag), 0);
    expcfg_headers hd = EXPCFG_HEADERS_INIT;
    ck_assert_int_eq(expcfg_headers_set(&hd, "Content-Type", "application/json"), 0);
    ck_assert_int_eq(aws_signer_authorize(&s, h, &hd, 0, err, sizeof err), EXPORT_EXIT_OK);
    ck_assert_str_eq(s.key_id, "AKIDSIGN");
    ck_assert_str_eq(expcfg_headers_get(&hd, "X-Amz-Security-Token"), "session-tok");

    httpc_response r;
    httpc_response_init(&r);
    char url[100];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/TraceSegments", srv.port);
    ck_assert_int_eq(httpc_post(h, url, (const char *const *)hd.v, "{}", 2, 0, &r), 0);
    ck_assert(has(head(0), "Authorization: AWS4-HMAC-SHA256 Credential=AKIDSIGN/"));
    ck_assert(has(head(0), "/eu-west-1/xray/aws4_request"));
    ck_assert(has(head(0), "X-Amz-Security-Token: session-tok\r\n"));
    ck_assert(!has(head(0), "wJalrXUtnFEMI"));
    httpc_response_free(&r);

    /* long-term keys: the header goes */
    unsetenv("AWS_SESSION_TOKEN");
    aws_signer s2;
    ck_assert_int_eq(aws_signer_init(&s2, NULL, "logs", &stop_flag, err, sizeof err), 0);
    ck_assert_str_eq(s2.region, "us-east-1");
    ck_assert_int_eq(aws_signer_authorize(&s2, h, &hd, 0, err, sizeof err), EXPORT_EXIT_OK);
    ck_assert_ptr_null(expcfg_headers_get(&hd, "X-Amz-Security-Token"));
    ck_assert_str_eq(expcfg_headers_get(&hd, "Content-Type"), "application/json");
    ck_assert_ptr_null(hd.v[hd.n]);

    /* refused static keys: there are no others */
    ck_assert_int_eq(aws_signer_authorize(&s2, h, &hd, 1, err, sizeof err), EXPORT_EXIT_CONFIG);
    ck_assert(has(err, "environment"));
    ck_assert(!has(err, "AKIDSIGN"));
    ck_assert(!has(err, "wJalrXUtnFEMI"));

    aws_signer_free(&s);
    aws_signer_free(&s2);
    expcfg_headers_free(&hd);
    httpc_free(h);
}
END_TEST

START_TEST(auth_error_counts_only_new_credentials)
{
    use_imds();
    script_imds("T1", "ASIAONE", "s1", "tok-one", iso_in(3600));
    script_imds("T2", "ASIAONE", "s1", "tok-one", iso_in(3600));
    script_imds("T3", "ASIATWO", "s2", "tok-two", iso_in(3600));
    aws_signer s;
    ck_assert_int_eq(aws_signer_init(&s, "us-west-2", "logs", &stop_flag, err, sizeof err), 0);
    httpc *h;
    ck_assert_int_eq(httpc_new(&h, 2000, 2000, &stop_flag), 0);
    expcfg_headers hd = EXPCFG_HEADERS_INIT;
    ck_assert_int_eq(aws_signer_authorize(&s, h, &hd, 0, err, sizeof err), EXPORT_EXIT_OK);
    ck_assert_str_eq(s.key_id, "ASIAONE");
    /* refused, and the instance gives the same ones: a person must look */
    ck_assert_int_eq(aws_signer_authorize(&s, h, &hd, 1, err, sizeof err), EXPORT_EXIT_CONFIG);
    ck_assert(has(err, "imds"));
    ck_assert(!has(err, "ASIAONE"));
    ck_assert(!has(err, "tok-one"));
    ck_assert_int_eq(tsrv_requests(&srv), 6);
    /* refused, and new ones came: send again */
    ck_assert_int_eq(aws_signer_authorize(&s, h, &hd, 1, err, sizeof err), EXPORT_EXIT_OK);
    ck_assert_str_eq(s.key_id, "ASIATWO");
    ck_assert_str_eq(expcfg_headers_get(&hd, "X-Amz-Security-Token"), "tok-two");
    ck_assert_int_eq(tsrv_requests(&srv), 9);
    /* unreachable during the refresh: try later */
    tsrv_script(&srv, (tsrv_reply){ 0, NULL, NULL, 0 });
    ck_assert_int_eq(aws_signer_authorize(&s, h, &hd, 1, err, sizeof err), EXPORT_EXIT_TEMPFAIL);
    aws_signer_free(&s);

    /* nothing anywhere: configuration */
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    ck_assert_int_eq(aws_signer_init(&s, "us-west-2", "logs", &stop_flag, err, sizeof err), 0);
    ck_assert_int_eq(aws_signer_authorize(&s, h, &hd, 0, err, sizeof err), EXPORT_EXIT_CONFIG);
    ck_assert(has(err, "no AWS credentials found"));
    aws_signer_free(&s);
    expcfg_headers_free(&hd);
    httpc_free(h);
}
END_TEST

START_TEST(signer_checks_names)
{
    aws_signer s;
    ck_assert_int_eq(aws_signer_init(&s, "US East", "xray", NULL, err, sizeof err), -1);
    ck_assert(has(err, "region"));
    ck_assert_int_eq(aws_signer_init(&s, "us-east-1", "", NULL, err, sizeof err), -1);
    ck_assert_int_eq(aws_signer_init(&s, "us-east-1\r\nX: y", "xray", NULL, err, sizeof err), -1);
    ck_assert(!has(err, "\r"));
    setenv("AWS_REGION", "eu-north-1", 1);
    ck_assert_int_eq(aws_signer_init(&s, NULL, "xray", NULL, err, sizeof err), 0);
    ck_assert_str_eq(s.provider, "aws:amz:eu-north-1:xray");
    aws_signer_free(&s);
}
END_TEST

Suite *make_suite(void)
{
    Suite *s = suite_create("export_aws");
    TCase *tc = tcase_create("aws");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, profiles_from_the_shared_files);
    tcase_add_test(tc, keys_in_the_config_file);
    tcase_add_test(tc, bad_files_and_half_key_pairs);
    tcase_add_test(tc, environment_beats_the_files);
    tcase_add_test(tc, sources_in_order);
    tcase_add_test(tc, region_order);
    tcase_add_test(tc, endpoints);
    tcase_add_test(tc, error_types_and_messages);
    tcase_add_test(tc, clock_skew);
    tcase_add_test(tc, imds_token_then_role_then_credentials);
    tcase_add_test(tc, imds_refreshes_before_expiry);
    tcase_add_test(tc, imds_failed_refresh_keeps_valid_credentials);
    tcase_add_test(tc, imds_that_answered_before_and_fails_now_is_unavailable);
    tcase_add_test(tc, no_instance_metadata_means_no_credentials);
    tcase_add_test(tc, stop_ends_metadata_requests);
    tcase_add_test(tc, container_with_token_from_env);
    tcase_add_test(tc, container_token_file_beats_env);
    tcase_add_test(tc, container_failures);
    tcase_add_test(tc, relative_uri_beats_full_uri);
    tcase_add_test(tc, signer_signs_and_sets_the_token);
    tcase_add_test(tc, auth_error_counts_only_new_credentials);
    tcase_add_test(tc, signer_checks_names);
    suite_add_tcase(s, tc);
    return s;
}
