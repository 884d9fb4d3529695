/*  cw_meals.c - daily nutrition totals in the person's time zone (see cw_meals.h). */
#include "coachwire/cw_meals.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_localtime.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    int rc = cw_zone_check (tz);
    if (rc != CW_OK)
        return rc;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        cw_local_t local;
        if ((rc = cw_local_time (tz, entries [i].time_ms, &local)) != CW_OK)
            break;
        size_t d = 0;
        while (d < used && days [d].date != local.date)
            d++;
        if (d == used) {
            if (used == cap) {
                rc = CW_ENOSPC;
                continue;
            }
            days [used++] = (cw_meal_day_t) { .date = local.date };
        }
        s_add (&days [d], &entries [i]);
    }
    qsort (days, used, sizeof *days, s_compare_day);
    *n_days = used;
    return rc;
}
