/* aws: what the AWS targets (xray.c, cwlogs.c) share: the region, the
 * service endpoints, and credentials found the way every AWS tool finds
 * them, in this order:
 *
 *   1. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN];
 *   2. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
 *      ~/.aws/credentials, sections "[NAME]"), then the config file
 *      (AWS_CONFIG_FILE, default ~/.aws/config, sections "[profile NAME]"
 *      and "[default]"), for the profile AWS_PROFILE (default "default");
 *   3. container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
 *      (on http://169.254.170.2) or else AWS_CONTAINER_CREDENTIALS_FULL_URI
 *      (https, or http on a loopback, ECS or EKS address), with the
 *      contents of AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read at every
 *      fetch: EKS rotates it) or else AWS_CONTAINER_AUTHORIZATION_TOKEN as
 *      Authorization;
 *   4. EC2 instance metadata with IMDSv2 only: PUT /latest/api/token, then
 *      /latest/meta-data/iam/security-credentials/[ROLE] with the token;
 *      AWS_EC2_METADATA_SERVICE_ENDPOINT replaces http://169.254.169.254,
 *      AWS_EC2_METADATA_DISABLED=true skips it.
 *
 * Files: "key = value" lines (or "key: value"), '#' and ';' comments,
 * indented lines under a key ignored (nested settings); a missing file is
 * skipped, an unreadable or malformed one is an error, as is a profile
 * with a key id but no secret, or an AWS_PROFILE that neither file has.
 *
 * The first source that has credentials is used from then on. Temporary
 * credentials (sources 3 and 4, and any with a session token and an
 * expiry) are fetched again five minutes before they expire, and once
 * more when the service refused them (a forced get, which also reads the
 * environment or file of sources 1 and 2 again). A refresh that fails
 * while the cached credentials are still valid keeps them, and is tried
 * again 30 seconds later at the earliest.
 *
 * Metadata requests (sources 3 and 4) wait 1 s to connect and 2 s in all,
 * bypass any proxy (except https container URIs), and end early on *stop.
 * Status: AWS_UNAVAILABLE when a configured container endpoint does not
 * answer or answers 5xx, 408 or 429; when instance metadata answers 5xx or
 * 429, or fails after it gave a token; when a metadata source that gave
 * credentials before fails now; and when *stop ended a request. Instance
 * metadata that does not answer the token request on the first look (not
 * on EC2), refuses it (4xx), or has no role is one more source without
 * credentials: AWS_NONE when no other source has any, with a message
 * naming every source tried. A container endpoint that refuses (other
 * 4xx: a wrong authorization token) or a malformed answer is AWS_NONE.
 *
 * Secrets never leave this module except into the signing (httpc) and
 * the X-Amz-Security-Token header; they are wiped from memory when
 * replaced or freed, and messages name the source, never a key or token. */
#ifndef CRUDDUR_EXPORT_AWS_H
#define CRUDDUR_EXPORT_AWS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include "export/expcfg.h"
#include "export/httpc.h"

#define AWS_DEFAULT_REGION "us-east-1"

/* Status of the credential functions. */
#define AWS_OK 0
#define AWS_UNAVAILABLE 1   /* a source is unreachable for now: try later */
#define AWS_NONE 2          /* no source has credentials, or they are malformed */

typedef struct aws_credentials {
    char access_key_id[128];
    char secret_access_key[128];
    char session_token[4096];       /* "" for long-term keys */
    int64_t expires_ns;             /* 0: does not expire */
    const char *source;             /* "environment", "shared-credentials-file",
                                       "config-file", "container", "imds" */
} aws_credentials;

/* The credential chain, with its cache. Opaque. */
typedef struct aws_chain aws_chain;

/* A chain that reads the environment and the files when it looks for
 * credentials. stop (may be NULL) aborts metadata requests. 0, or -1 on
 * allocation failure. */
int aws_chain_new(aws_chain **out, const volatile sig_atomic_t *stop);
void aws_chain_free(aws_chain *c);

/* For tests: the base URL AWS_CONTAINER_CREDENTIALS_RELATIVE_URI is
 * appended to, instead of http://169.254.170.2. 0, or -1 (too long). */
int aws_chain_set_container_base(aws_chain *c, const char *base);

/* The current credentials (*out points into the chain, valid until the
 * next call): cached ones unless they expire within five minutes or
 * `force` is set. An AWS_* status; err says why (never a secret). */
int aws_chain_get(aws_chain *c, int force, const aws_credentials **out, char *err,
                  size_t err_size);

/* The region: AWS_REGION, AWS_DEFAULT_REGION, then "region" of the
 * profile in the config file, else AWS_DEFAULT_REGION. */
void aws_region(char *out, size_t size);

/* The endpoint of a service: AWS_ENDPOINT_URL_<ENV_NAME> (ENV_NAME "XRAY",
 * "CLOUDWATCH_LOGS"), then AWS_ENDPOINT_URL (neither when
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), else
 * https://<host_prefix>.<region>.amazonaws.com (host_prefix "xray",
 * "logs"; amazonaws.com.cn for cn- regions). No trailing slash. 0 or -1
 * (too long). */
int aws_endpoint(char *out, size_t size, const char *env_name, const char *host_prefix,
                 const char *region);

/* Signing for one service, shared by a target's requests. */
typedef struct aws_signer {
    aws_chain *chain;               /* owned */
    char region[64];
    char service[32];               /* the SigV4 service name: "xray", "logs" */
    char provider[128];             /* "aws:amz:REGION:SERVICE" */
    char key_id[128];               /* the access key id last put on the client */
} aws_signer;

/* region NULL: aws_region(). 0, or -1 with a message (a region or service
 * that is not a lowercase name like "us-east-1", no memory). */
int aws_signer_init(aws_signer *s, const char *region, const char *service,
                    const volatile sig_atomic_t *stop, char *err, size_t err_size);
void aws_signer_free(aws_signer *s);

/* Puts current credentials on h (httpc_set_aws_sigv4) and sets or removes
 * X-Amz-Security-Token in headers. after_auth_error forces a refresh and
 * answers EXPORT_EXIT_OK only when the credentials changed (key id, secret
 * or session token), CONFIG when the source gave the same ones. Returns an
 * EXPORT_EXIT_* code (export.h): OK, TEMPFAIL (source unreachable), CONFIG
 * (no credentials). Fits export_target.authorize. */
int aws_signer_authorize(aws_signer *s, httpc *h, expcfg_headers *headers, int after_auth_error,
                         char *err, size_t err_size);

/* The JSON protocol's error type of an answer: the X-Amzn-ErrorType
 * header or the body's "__type", without any "prefix#" and ":suffix"
 * ("ResourceNotFoundException"). "" when there is none. */
void aws_error_type(const httpc_response *r, char *out, size_t size);

/* The body's "message" or "Message" (control characters made blanks, cut
 * at a character boundary), "" when there is none. */
void aws_error_message(const httpc_response *r, char *out, size_t size);

/* How far the local clock is off the service's Date header (local minus
 * service, in seconds), for "Signature expired" and clock-skew answers;
 * 0 when the answer has no Date. */
int64_t aws_clock_skew_s(const httpc_response *r);

#endif
