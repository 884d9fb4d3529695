/*  cw_meals.c - daily nutrition totals in the person's time zone (see cw_meals.h). */
#include "coachwire/cw_meals.h"
#include "coachwire/cw_error.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

//  TZ is process-wide state: one conversion at a time.
static pthread_mutex_t s_tz_lock = PTHREAD_MUTEX_INITIALIZER;

//  IANA names are letters, digits and "_+-/" ("America/Port-au-Prince", "Etc/GMT+5"). Anything
//  else (a dot, a leading slash, a POSIX rule like "EST5EDT,M3.2.0") is refused: the name
//  becomes a path under the zone directory and must not climb out of it.
static bool
s_valid_name (const char *tz)
{
    size_t len = strnlen (tz, CW_TZ_NAME_MAX);
    if (len == 0 || len >= CW_TZ_NAME_MAX || tz [0] == '/' || tz [len - 1] == '/')
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

//  glibc falls back to UTC, silently, for a zone it cannot find: look before we leap.
static bool
s_zone_exists (const char *tz)
{
    if (strcmp (tz, "UTC") == 0)
        return true;    // built into the C library, even without a zone database
    const char *dir = getenv ("TZDIR");
    char path [512];
    int len = snprintf (path, sizeof path, "%s/%s", dir && *dir? dir: "/usr/share/zoneinfo", tz);
    return len > 0 && (size_t) len < sizeof path && access (path, R_OK) == 0;
}

static int
s_compare_day (const void *a, const void *b)
{
    int32_t x = ((const cw_meal_day_t *) a)->date, y = ((const cw_meal_day_t *) b)->date;
    return (x > y) - (x < y);
}

static void
s_add (cw_meal_day_t *day, const cw_meal_entry_t *e)
{
    day->entries++;
    day->energy_kcal += e->energy_kcal;
    day->protein_mg += e->protein_mg;
    day->carbohydrate_mg += e->carbohydrate_mg;
    day->fat_mg += e->fat_mg;
    day->sugar_mg += e->sugar_mg;
    day->sodium_mg += e->sodium_mg;
    day->fibre_mg += e->fibre_mg;
}

int
cw_meals_daily (const cw_meal_entry_t *entries, size_t n, const char *tz, cw_meal_day_t *days,
                size_t cap, size_t *n_days)
{
    if ((!entries && n > 0) || !tz || !days || !n_days)
        return CW_EINVAL;
    *n_days = 0;
    if (!s_valid_name (tz))
        return CW_EINVAL;
    if (!s_zone_exists (tz))
        return CW_ENOENT;

    int rc = CW_OK;
    size_t used = 0;
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
    for (size_t i = 0; i < n; i++) {
        time_t t = (time_t) (entries [i].time_ms / 1000u);
        struct tm tm;
        if (!localtime_r (&t, &tm)) {
            rc = CW_ERANGE;
            break;
        }
        int32_t date = (int32_t) ((tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100
                                  + tm.tm_mday);
        size_t d = 0;
        while (d < used && days [d].date != date)
            d++;
        if (d == used) {
            if (used == cap) {
                rc = CW_ENOSPC;
                continue;
            }
            days [used++] = (cw_meal_day_t) { .date = date };
        }
        s_add (&days [d], &entries [i]);
    }
    //  Restore the caller's zone whatever happened above.
    if (saved)
        setenv ("TZ", saved, 1);
    else
        unsetenv ("TZ");
    tzset ();
done:
    pthread_mutex_unlock (&s_tz_lock);
    free (saved);
    qsort (days, used, sizeof *days, s_compare_day);
    *n_days = used;
    return rc;
}
