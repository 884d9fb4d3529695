/*  cw_localtime.h - the wall clock where a person lives: local date, minute of day, midnight.
 *
 *  The engine's daily budget, quiet hours and "protein by 18:00" all speak in the person's
 *  own time, daylight saving included. glibc converts zones only through the process-wide TZ
 *  setting: cw_local_time takes an internal lock, points TZ at the zone, converts, and
 *  restores TZ before it returns (the same scheme as cw_meals_daily, which has its own lock:
 *  in coachwired only the coach actor's thread converts local times, so the two never race).
 */
#ifndef CW_LOCALTIME_H_INCLUDED
#define CW_LOCALTIME_H_INCLUDED

#include <stdint.h>

#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int32_t date;               /* local calendar day, yyyymmdd */
    uint32_t minute;            /* minute of the local day, 0 .. 1439 */
    uint64_t day_start_ms;      /* epoch ms of the local midnight that began this day */
} cw_local_t;

/*  The local time of at_ms in zone tz (an IANA name or "UTC"). CW_EINVAL on NULL or a
 *  malformed zone name; CW_ENOENT when the zone is not in the system zone database (glibc
 *  would silently use UTC); CW_ERANGE when the time cannot be converted. */
CW_EXPORT int cw_local_time (const char *tz, uint64_t at_ms, cw_local_t *out) CW_MUST_CHECK;

/*  Epoch ms of a local wall-clock time (minute of the day) in zone tz; in a DST gap or fold the
 *  C library's choice. CW_EINVAL for a malformed name or date, CW_ENOENT for an unknown zone. */
CW_EXPORT int cw_local_to_epoch (const char *tz, int year, int month, int day, int minute,
                                 uint64_t *out_ms) CW_MUST_CHECK;

/*  CW_OK for a known IANA zone name, CW_EINVAL for a malformed one (a path, a POSIX rule),
 *  CW_ENOENT for an unknown one (glibc would silently use UTC). */
CW_EXPORT int cw_zone_check (const char *tz) CW_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
