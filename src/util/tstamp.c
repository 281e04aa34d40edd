/* tstamp: clocks and the ISO 8601 text form of times (API bodies, telemetry).
 * Calendar arithmetic is done by hand (days from civil, proleptic Gregorian)
 * so that any year 0001..9999 works on either side of 1970 without gmtime. */
#include "util/tstamp.h"

#include <string.h>
#include <time.h>

#define US_PER_SEC 1000000LL
#define SEC_PER_DAY 86400LL

/* Unix times of 0001-01-01T00:00:00 and 10000-01-01T00:00:00, in seconds. */
#define MIN_UNIX_SEC (-62135596800LL)
#define END_UNIX_SEC 253402300800LL

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t tstamp_now_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

int64_t tstamp_now_us(void)
{
    return tstamp_now_ns() / 1000;
}

int64_t tstamp_mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

/* Howard Hinnant's days_from_civil / civil_from_days. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Writes v as exactly n decimal digits, zero-padded. */
static void put_digits(char *out, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

int tstamp_iso8601(int64_t unix_us, char out[TSTAMP_ISO_SIZE])
{
    int64_t sec = floor_div(unix_us, US_PER_SEC);
    int64_t us = unix_us % US_PER_SEC;
    if (us < 0)
        us += US_PER_SEC;
    if (sec < MIN_UNIX_SEC || sec >= END_UNIX_SEC) {
        out[0] = '\0';
        return -1;
    }
    int64_t days = floor_div(sec, SEC_PER_DAY);
    int64_t sod = sec - days * SEC_PER_DAY;
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    put_digits(out, (unsigned)y, 4);
    out[4] = '-';
    put_digits(out + 5, m, 2);
    out[7] = '-';
    put_digits(out + 8, d, 2);
    out[10] = 'T';
    put_digits(out + 11, (unsigned)(sod / 3600), 2);
    out[13] = ':';
    put_digits(out + 14, (unsigned)(sod / 60 % 60), 2);
    out[16] = ':';
    put_digits(out + 17, (unsigned)(sod % 60), 2);
    out[19] = '.';
    put_digits(out + 20, (unsigned)us, 6);
    memcpy(out + 26, "+00:00", 7);
    return 0;
}

/* Reads exactly n decimal digits. */
static int digits(const char *s, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 0;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int tstamp_parse_iso8601(const char *s, int64_t *unix_us)
{
    static const unsigned char mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se;
    if (s == NULL)
        return -1;
    if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || s[10] != 'T' || digits(s + 11, 2, &h) || s[13] != ':' ||
        digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &se))
        return -1;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
        return -1;
    if (d > mdays[mo - 1] + (mo == 2 && is_leap(y)))
        return -1;
    const char *p = s + 19;
    int us = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        while (n < 6 && p[n] >= '0' && p[n] <= '9') {
            us = us * 10 + (p[n] - '0');
            n++;
        }
        if (n == 0 || (p[n] >= '0' && p[n] <= '9'))
            return -1;
        for (int i = n; i < 6; i++)
            us *= 10;
        p += n;
    }
    if (p[0] == 'Z' && p[1] == '\0')
        ;
    else if (p[0] == '+' && p[1] == '0' && p[2] == '0' && p[3] == ':' && p[4] == '0' &&
             p[5] == '0' && p[6] == '\0')
        ;
    else
        return -1;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t sec = days * SEC_PER_DAY + h * 3600 + mi * 60 + se;
    *unix_us = sec * US_PER_SEC + us;
    return 0;
}
