/*  cw_localtime.c - wall clocks in IANA zones (see cw_localtime.h). The C library converts only
 *  through the process-wide TZ, so this file is the one place that swaps it, under one lock:
 *  every other part of Coachwire (engine, meal totals, food-diary import) comes here. */
#include "coachwire/cw_localtime.h"
#include "coachwire/cw_error.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_TZ_NAME_MAX 64

//  TZ is process-wide state: one conversion at a time.
static pthread_mutex_t s_tz_lock = PTHREAD_MUTEX_INITIALIZER;

//  IANA names only: letters, digits and "_+-/"; never a path that climbs out of the zone
//  directory, never a POSIX rule string.
static bool
s_valid_name (const char *tz)
{
    size_t len = strnlen (tz, S_TZ_NAME_MAX);
    if (len == 0 || len >= S_TZ_NAME_MAX || tz [0] == '/' || tz [len - 1] == '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = tz [i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
               || c == '_' || c == '+' || c == '-' || c == '/';
        if (!ok || (c == '/' && tz [i + 1] == '/'))
            return false;
    }
    return true;
}

static bool
s_zone_exists (const char *tz)
{
    if (strcmp (tz, "UTC") == 0)
        return true;
    const char *dir = getenv ("TZDIR");
    char path [512];
    int len = snprintf (path, sizeof path, "%s/%s", dir && *dir? dir: "/usr/share/zoneinfo", tz);
    return len > 0 && (size_t) len < sizeof path && access (path, R_OK) == 0;
}

int
cw_zone_check (const char *tz)
{
    if (!tz || !s_valid_name (tz))
        return CW_EINVAL;
    return s_zone_exists (tz) ? CW_OK : CW_ENOENT;
}

/*  Runs fn with TZ set to tz, under the one lock, and puts the caller's TZ back. */
static int
s_with_zone (const char *tz, int (*fn) (void *ctx), void *ctx)
{
    int rc = cw_zone_check (tz);
    if (rc != CW_OK)
        return rc;
    char *saved = NULL;
    pthread_mutex_lock (&s_tz_lock);
    const char *old = getenv ("TZ");
    if (old && !(saved = strdup (old)))
        rc = CW_ENOMEM;
    else if (setenv ("TZ", tz, 1) != 0)
        rc = CW_ENOMEM;
    else {
        tzset ();
        rc = fn (ctx);
        if (saved)
            setenv ("TZ", saved, 1);
        else
            unsetenv ("TZ");
        tzset ();
    }
    pthread_mutex_unlock (&s_tz_lock);
    free (saved);
    return rc;
}

typedef struct {
    uint64_t at_ms;
    cw_local_t *out;
} s_local_ctx_t;

static int
s_local (void *ctx)
{
    s_local_ctx_t *c = ctx;
    time_t t = (time_t) (c->at_ms / 1000u);
    struct tm tm;
    if (!localtime_r (&t, &tm))
        return CW_ERANGE;
    c->out->date = (int32_t) ((tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday);
    c->out->minute = (uint32_t) (tm.tm_hour * 60 + tm.tm_min);
    struct tm midnight = tm;
    midnight.tm_hour = midnight.tm_min = midnight.tm_sec = 0;
    midnight.tm_isdst = -1;
    time_t m = mktime (&midnight);
    if (m == (time_t) -1 || m > t)
        return CW_ERANGE;
    c->out->day_start_ms = (uint64_t) m * 1000u;
    return CW_OK;
}

int
cw_local_time (const char *tz, uint64_t at_ms, cw_local_t *out)
{
    if (!tz || !out)
        return CW_EINVAL;
    s_local_ctx_t c = { at_ms, out };
    return s_with_zone (tz, s_local, &c);
}

typedef struct {
    int year, month, day, minute;
    uint64_t *out;
} s_epoch_ctx_t;

static int
s_epoch (void *ctx)
{
    s_epoch_ctx_t *c = ctx;
    struct tm tm;
    memset (&tm, 0, sizeof tm);
    tm.tm_year = c->year - 1900;
    tm.tm_mon = c->month - 1;
    tm.tm_mday = c->day;
    tm.tm_hour = c->minute / 60;
    tm.tm_min = c->minute % 60;
    tm.tm_isdst = -1;
    time_t t = mktime (&tm);
    if (t == (time_t) -1 || t < 0)
        return CW_ERANGE;
    *c->out = (uint64_t) t * 1000u;
    return CW_OK;
}

int
cw_local_to_epoch (const char *tz, int year, int month, int day, int minute, uint64_t *out_ms)
{
    if (!tz || !out_ms || month < 1 || month > 12 || day < 1 || day > 31 || minute < 0
        || minute >= 1440 || year < 1970 || year > 9999)
        return CW_EINVAL;
    s_epoch_ctx_t c = { year, month, day, minute, out_ms };
    return s_with_zone (tz, s_epoch, &c);
}
