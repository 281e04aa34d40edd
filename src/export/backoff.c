/* backoff: retry delays for the exporters (full jitter) and the parsing of
 * the waits services ask for. See backoff.h. */
#include "export/backoff.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t backoff_delay_ms(int64_t failures, uint64_t random)
{
    if (failures < 1)
        failures = 1;
    int64_t ceiling = BACKOFF_BASE_MS;
    for (int64_t i = 1; i < failures && ceiling < BACKOFF_CAP_MS; i++)
        ceiling *= 2;
    if (ceiling > BACKOFF_CAP_MS)
        ceiling = BACKOFF_CAP_MS;
    int64_t d = (int64_t)(random % (uint64_t)(ceiling + 1));
    return d < BACKOFF_FLOOR_MS ? BACKOFF_FLOOR_MS : d;
}

int64_t backoff_parse_uint(const char *value)
{
    if (value == NULL)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (!isdigit((unsigned char)*value))
        return -1;
    int64_t v = 0;
    for (; isdigit((unsigned char)*value); value++) {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*value - '0');
    }
    while (*value == ' ' || *value == '\t' || *value == '\r' || *value == '\n')
        value++;
    return *value == '\0' ? v : -1;
}

static int64_t clamp_ms(int64_t seconds)
{
    if (seconds <= 0)
        return 0;
    if (seconds > BACKOFF_MAX_ASKED_MS / 1000)
        return BACKOFF_MAX_ASKED_MS;
    return seconds * 1000;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), without timegm's
 * dependence on the process's time zone handling. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int64_t backoff_parse_retry_after(const char *value, int64_t now_s)
{
    int64_t secs = backoff_parse_uint(value);
    if (secs >= 0)
        return clamp_ms(secs);
    if (value == NULL)
        return -1;
    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char wd[4], mon[4], zone[4];
    int day, year, hh, mm, ss, n = 0;
    while (*value == ' ')
        value++;
    if (sscanf(value, "%3[A-Za-z], %d %3s %d %d:%d:%d %3s%n", wd, &day, mon, &year, &hh, &mm,
               &ss, zone, &n) != 8)
        return -1;
    if (strcmp(zone, "GMT") != 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 ||
        year < 1970 || hh < 0 || mm < 0 || ss < 0)
        return -1;
    const char *p = strstr(months, mon);
    if (p == NULL || strlen(mon) != 3 || (p - months) % 3 != 0)
        return -1;
    int month = (int)((p - months) / 3) + 1;
    int64_t t = days_from_civil(year, month, day) * 86400 + hh * 3600 + mm * 60 + ss;
    return clamp_ms(t - now_s);
}
