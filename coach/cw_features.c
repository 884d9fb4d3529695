/*  cw_features.c - the confidence table, heart-rate zones and pace (see cw_features.h). */
#include "coachwire/cw_features.h"
#include "coachwire/cw_error.h"

#include "cw_features_int.h"

#include <stdbool.h>
#include <stdlib.h>

//  How well each placement can measure each metric, and why. One row per placement in the
//  order of cw_placement_t; columns in the order of cw_metric_kind_t. The figures rank what
//  the literature on wearable gait analysis reports, not a calibration: a foot pod sees the
//  foot touch down and lift off; a pocket sees the thigh, a step later and blurred.
typedef struct {
    double confidence;
    const char *note;
} s_rating_t;

static const s_rating_t s_ratings [CW_PLACEMENT_MAX + 1][CW_METRIC_COUNT] = {
    [CW_PLACEMENT_UNKNOWN] = {
        { 0.7, "steps from an accelerometer of unknown placement" },
        { 0.1, "contact time cannot be told from an unknown placement" },
        { 0.2, "vertical motion of an unknown body part, not of the centre of mass" },
        { 0.1, "left and right cannot be told apart from one sensor of unknown placement" },
        { 0.5, "stride time from steps at an unknown placement" } },
    [CW_PLACEMENT_POCKET] = {
        { 0.9, "steps from a phone in a pocket" },
        { 0.3, "estimated from a phone in a pocket: the thigh blurs touch-down and lift-off; "
               "a foot pod measures contact time far better" },
        { 0.5, "from a phone in a pocket: thigh motion adds to the body's vertical motion" },
        { 0.2, "one pocket cannot tell left from right: share of time of alternate steps" },
        { 0.8, "stride time from a phone in a pocket (two steps)" } },
    [CW_PLACEMENT_HAND] = {
        { 0.7, "steps from a phone in the hand: arm movement can add or hide steps" },
        { 0.1, "contact time cannot be measured from a phone in the hand" },
        { 0.1, "a hand moves independently of the body: not vertical oscillation" },
        { 0.1, "left and right cannot be told apart from a phone in the hand" },
        { 0.6, "stride time from a phone in the hand (two steps)" } },
    [CW_PLACEMENT_WAIST] = {
        { 0.95, "steps from a sensor at the waist" },
        { 0.4, "estimated from the waist: touch-down and lift-off are seen indirectly; "
               "a foot pod measures contact time better" },
        { 0.8, "from the waist, near the centre of mass" },
        { 0.3, "from the waist: share of time of alternate steps; which side is left is not known" },
        { 0.85, "stride time from a sensor at the waist (two steps)" } },
    [CW_PLACEMENT_FOOT_LEFT] = {
        { 0.9, "from a foot pod: each stride of this foot is two steps" },
        { 0.8, "from a foot pod: stance phase between heel strike and toe-off" },
        { 0.0, "a foot pod does not measure the body's vertical motion" },
        { 0.8, "from two foot pods: share of ground contact time" },
        { 0.9, "from a foot pod: time between swing phases of this foot" } },
    [CW_PLACEMENT_FOOT_RIGHT] = {
        { 0.9, "from a foot pod: each stride of this foot is two steps" },
        { 0.8, "from a foot pod: stance phase between heel strike and toe-off" },
        { 0.0, "a foot pod does not measure the body's vertical motion" },
        { 0.8, "from two foot pods: share of ground contact time" },
        { 0.9, "from a foot pod: time between swing phases of this foot" } },
    [CW_PLACEMENT_WRIST] = {
        { 0.6, "steps from a wrist: arm swing is counted, carrying something is not" },
        { 0.1, "contact time cannot be measured from the wrist" },
        { 0.1, "the wrist moves independently of the body: not vertical oscillation" },
        { 0.1, "left and right cannot be told apart from the wrist" },
        { 0.5, "stride time from the wrist (two steps)" } },
};

double
cw_metric_confidence (cw_metric_kind_t kind, cw_placement_t placement, const char **note)
{
    bool known = (int) kind >= 0 && kind < CW_METRIC_COUNT
              && (int) placement >= 0 && placement <= CW_PLACEMENT_MAX;
    if (note)
        *note = known? s_ratings [placement][kind].note: "unknown metric or placement";
    return known? s_ratings [placement][kind].confidence: 0.0;
}

int
cw_hr_max_from_age (uint32_t age_years, uint32_t *max_bpm)
{
    if (!max_bpm || age_years < 5 || age_years > 110)
        return CW_EINVAL;
    //  208 - 0.7 x age, rounded, in integers: (2080 - 7 x age + 5) / 10.
    *max_bpm = (2080u - 7u * age_years + 5u) / 10u;
    return CW_OK;
}

int
cw_hr_zone (uint32_t bpm, uint32_t max_bpm)
{
    if (max_bpm < 100 || max_bpm > 250)
        return CW_EINVAL;
    //  Percent of max in integers: zone boundaries at 50, 60, 70, 80, 90 %.
    uint64_t pct10 = (uint64_t) bpm * 10u / max_bpm;    // tenths of the maximum, floored
    if (pct10 < 5)
        return 0;
    if (pct10 >= 9)
        return 5;
    return (int) (pct10 - 4);
}

int
cw_hr_zones_init (cw_hr_zones_t *self, uint32_t max_bpm)
{
    if (!self || max_bpm < 100 || max_bpm > 250)
        return CW_EINVAL;
    *self = (cw_hr_zones_t) { .max_bpm = max_bpm };
    return CW_OK;
}

int
cw_hr_zones_feed (cw_hr_zones_t *self, uint64_t start_time_ms, const uint32_t *time_delta_ms,
                  const uint32_t *bpm, size_t n)
{
    if (!self || (n > 0 && (!time_delta_ms || !bpm)))
        return CW_EINVAL;
    if (self->max_bpm < 100 || self->max_bpm > 250)
        return CW_EINVAL;
    if (n > 0 && self->last_bpm && start_time_ms + time_delta_ms [0] < self->last_time_ms)
        return CW_ETIME;
    uint64_t t = start_time_ms;
    for (size_t i = 0; i < n; i++) {
        t += time_delta_ms [i];
        if (self->last_bpm) {
            uint64_t span = t - self->last_time_ms;
            if (t < self->last_time_ms)
                span = 0;   // time went backwards inside a batch: attribute nothing
            if (span > CW_HR_GAP_MAX_MS)
                self->unattributed_ms += span;
            else {
                int zone = cw_hr_zone (self->last_bpm, self->max_bpm);
                self->ms [zone < 0? 0: zone] += span;
            }
        }
        self->last_bpm = bpm [i];
        self->last_time_ms = t;
    }
    return CW_OK;
}

int
cw_pace_s_per_km (uint32_t speed_mm_s, uint32_t *s_per_km)
{
    if (!s_per_km)
        return CW_EINVAL;
    if (speed_mm_s < 100 || speed_mm_s > 15000)
        return CW_ERANGE;
    //  1 km = 1e6 mm: seconds per km = 1e6 / speed, rounded to nearest.
    *s_per_km = (uint32_t) ((1000000u + speed_mm_s / 2u) / speed_mm_s);
    return CW_OK;
}

static int
s_compare_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

double
cw_features_median (double *v, size_t n)
{
    if (!v || n == 0)
        return 0.0;
    //  Windows are small (tens to a few thousand values): a sort is simple and fast enough.
    qsort (v, n, sizeof *v, s_compare_double);
    return n % 2? v [n / 2]: (v [n / 2 - 1] + v [n / 2]) / 2.0;
}
