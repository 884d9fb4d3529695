/*  cw_localtime.c - a person's wall clock (see cw_localtime.h). */
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
cw_local_time (const char *tz, uint64_t at_ms, cw_local_t *out)
{
    if (!tz || !out)
        return CW_EINVAL;
    if (!s_valid_name (tz))
        return CW_EINVAL;
    if (!s_zone_exists (tz))
        return CW_ENOENT;
    int rc = CW_OK;
    char *saved = NULL;
    pthread_mutex_lock (&s_tz_lock);
    const char *old = getenv ("TZ");
    if (old && !(saved = strdup (old))) {
        rc = CW_ENOMEM;
        goto done;
    }
    if (setenv ("TZ", tz, 1) != 0) {
        rc = CW_ENOMEM;
        goto done;
    }
    tzset ();
    time_t t = (time_t) (at_ms / 1000u);
    struct tm tm;
    if (!localtime_r (&t, &tm))
        rc = CW_ERANGE;
    else {
        out->date = (int32_t) ((tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday);
        out->minute = (uint32_t) (tm.tm_hour * 60 + tm.tm_min);
        struct tm midnight = tm;
        midnight.tm_hour = midnight.tm_min = midnight.tm_sec = 0;
        midnight.tm_isdst = -1;
        time_t m = mktime (&midnight);
        if (m == (time_t) -1 || m > t)
            rc = CW_ERANGE;
        else
            out->day_start_ms = (uint64_t) m * 1000u;
    }
    if (saved)
        setenv ("TZ", saved, 1);
    else
        unsetenv ("TZ");
    tzset ();
done:
    pthread_mutex_unlock (&s_tz_lock);
    free (saved);
    return rc;
}
