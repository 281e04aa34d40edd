/* resource: the OpenTelemetry resource of this process, as the JSON object
 * the spool's resource table stores and every batch of records points to.
 * Built once per worker process (after fork: process.pid differs).
 *
 * Attributes, in this order: service.name (OTEL_SERVICE_NAME, else a
 * service.name in OTEL_RESOURCE_ATTRIBUTES, else "cruddur-api"),
 * service.version (the package version), host.name, process.pid,
 * telemetry.sdk.name "cruddur", telemetry.sdk.language "c",
 * telemetry.sdk.version, then OTEL_RESOURCE_ATTRIBUTES. That variable is
 * "key=value,key=value" with keys and values percent-decoded and blanks
 * around them trimmed; its entries override the detected ones (but not
 * OTEL_SERVICE_NAME). If any entry is malformed (no '=', empty key, bad
 * %-escape) the whole variable is ignored and a warning is returned, as the
 * OpenTelemetry specification asks. */
#ifndef CRUDDUR_TELEMETRY_RESOURCE_H
#define CRUDDUR_TELEMETRY_RESOURCE_H

#include <stddef.h>

#define RESOURCE_DEFAULT_SERVICE "cruddur-api"
#define RESOURCE_WARN_SIZE 160

/* Builds the resource JSON from env (a NULL-terminated "NAME=value" array,
 * or NULL for the process environment). Returns 0 and a malloc'd string in
 * *json (caller frees), or -1 on allocation failure. warn[warn_size] gets a
 * message, or "" when there is nothing to say. */
int resource_build(char **env, char **json, char *warn, size_t warn_size);

#endif
