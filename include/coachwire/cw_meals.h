/*  cw_meals.h - daily nutrition totals per person, by the person's own calendar day.
 *
 *  "Today" is the day on the wall clock where the person lives: a snack at 23:30 in Los
 *  Angeles belongs to that day, not to the next UTC day. Entries carry epoch milliseconds;
 *  the person's IANA zone ("Europe/Paris") turns them into local dates, daylight saving
 *  included.
 *
 *  Thread safety: the C library converts time zones only through the process-wide TZ
 *  setting. cw_meals_daily takes an internal lock, points TZ at the zone, converts every
 *  entry of the call with localtime_r, and restores TZ before it returns. Calls to
 *  cw_meals_daily are therefore safe from any thread against each other, but another thread
 *  calling localtime, mktime, strftime or getenv ("TZ") during that call may see the
 *  person's zone. In coachwired only the coach actor's thread converts local times.
 */
#ifndef CW_MEALS_H_INCLUDED
#define CW_MEALS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Longest zone name accepted ("America/Argentina/ComodRivadavia" is 32). */
#define CW_TZ_NAME_MAX 64

/*  The nutrients of a MealEntry (proto/coachwire.proto), in its units. */
typedef struct {
    uint64_t time_ms;           /* epoch ms, when eaten */
    uint32_t energy_kcal;
    uint32_t protein_mg;
    uint32_t carbohydrate_mg;
    uint32_t fat_mg;
    uint32_t sugar_mg;
    uint32_t sodium_mg;
    uint32_t fibre_mg;
} cw_meal_entry_t;

typedef struct {
    int32_t date;               /* local calendar day as yyyymmdd, e.g. 20240331 */
    uint32_t entries;
    uint64_t energy_kcal;
    uint64_t protein_mg;
    uint64_t carbohydrate_mg;
    uint64_t fat_mg;
    uint64_t sugar_mg;
    uint64_t sodium_mg;
    uint64_t fibre_mg;
} cw_meal_day_t;

/*  Sums entries per local day of zone tz (an IANA name, or "UTC") into days [0..cap), sorted
 *  by date; *n_days gets the number of days. Entries may come in any order.
 *  CW_EINVAL on NULL pointers (entries may be NULL when n == 0) or a malformed zone name;
 *  CW_ENOENT when the zone is not in the system's zone database (glibc would silently use
 *  UTC); CW_ERANGE when an entry's time cannot be converted; CW_ENOSPC when there are more
 *  than cap days (days then holds the cap days met first, sorted, entries of the other days
 *  left out, and *n_days is cap). */
CW_EXPORT int cw_meals_daily (const cw_meal_entry_t *entries, size_t n, const char *tz,
                              cw_meal_day_t *days, size_t cap, size_t *n_days);

#ifdef __cplusplus
}
#endif

#endif
