/* time.c — clocks and the two timestamp formats custody prints. */
#include <stdio.h>
#include <time.h>

#include "util.h"

uint64_t util_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t util_monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void util_rfc3339_ns(uint64_t ns, char out[40])
{
    time_t s = (time_t)(ns / 1000000000ull);
    struct tm tm;
    gmtime_r(&s, &tm);
    char date[64];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%.19s.%09uZ", date, (unsigned)(ns % 1000000000ull));
}

void util_http_date(uint64_t unix_seconds, char out[32])
{
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t s = (time_t)unix_seconds;
    struct tm tm;
    gmtime_r(&s, &tm);
    char hms[16];
    strftime(hms, sizeof hms, "%H:%M:%S", &tm);
    snprintf(out, 32, "%s, %02d %s %04d %.8s GMT", days[tm.tm_wday % 7], tm.tm_mday % 100,
             months[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000, hms);
}
