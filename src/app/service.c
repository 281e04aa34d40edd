/* service: the small pieces every service shares: mapping database
 * statuses, and turning columns and times into JSON values. */
#include "app/service.h"

#include <string.h>

#include "util/tstamp.h"

svc_status svc_from_db(int db_status)
{
    return db_status == APP_DB_OK     ? SVC_OK
           : db_status == APP_DB_BUSY ? SVC_UNAVAILABLE
                                      : SVC_ERROR;
}

json_t *svc_json_column(sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    if (s == NULL)
        return json_null();
    return json_stringn_nocheck(s, (size_t)sqlite3_column_bytes(st, col));
}

json_t *svc_json_time(int64_t unix_us)
{
    char iso[TSTAMP_ISO_SIZE];
    if (tstamp_iso8601(unix_us, iso) != 0)
        return json_null();
    return json_stringn_nocheck(iso, strlen(iso));
}
