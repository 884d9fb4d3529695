/*  cw_features.h - what the engine computes from raw readings: the shared vocabulary.
 *
 *  Every derived figure travels as a cw_metric_t: the value, how much to trust it (a confidence
 *  in [0, 1] that depends first on where the sensor sits) and a note a person can read. A phone
 *  in a pocket counts steps well but cannot see a foot touch the ground; the note says so, and
 *  a rule that gates on confidence will not coach on a guess.
 *
 *  The classes (one header each, all pure computation, no sockets, no database):
 *    cw_steps    steps and cadence from any body-worn accelerometer (cw_steps.h)
 *    cw_strides  strides, stride time and ground contact from a foot-mounted gyro (cw_strides.h)
 *    cw_form     running form from a pocket or waist IMU (cw_form.h)
 *    cw_dynamics window aggregates of running dynamics a watch measured itself (cw_dynamics.h)
 *    cw_meals    daily nutrition totals in the person's own time zone (cw_meals.h)
 *  and here: heart-rate zones and pace.
 *
 *  Inputs are the wire units of proto/coachwire.proto (ImuBatch: mm/s^2, mdeg/s, mHz), so a
 *  decoded batch is fed as it is. Objects are not thread-safe: one per stream, one thread at a
 *  time (the coach actor owns them).
 */
#ifndef CW_FEATURES_H_INCLUDED
#define CW_FEATURES_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Where an IMU sits: the values of ImuPlacement in coachwire.proto. */
typedef enum {
    CW_PLACEMENT_UNKNOWN = 0,
    CW_PLACEMENT_POCKET = 1,
    CW_PLACEMENT_HAND = 2,
    CW_PLACEMENT_WAIST = 3,
    CW_PLACEMENT_FOOT_LEFT = 4,
    CW_PLACEMENT_FOOT_RIGHT = 5,
    CW_PLACEMENT_WRIST = 6
} cw_placement_t;

#define CW_PLACEMENT_MAX CW_PLACEMENT_WRIST

/*  IMU sample rates we analyse, in mHz. Below 10 Hz a 240 steps/min cadence (4 Hz) is not
 *  resolved; above 2 kHz nobody streams body motion and filter coefficients lose precision. */
#define CW_IMU_RATE_MIN_MHZ 10000u
#define CW_IMU_RATE_MAX_MHZ 2000000u

/*  The plausible human cadence range, steps (both feet) per minute. */
#define CW_CADENCE_MIN_SPM 40.0
#define CW_CADENCE_MAX_SPM 240.0

typedef enum {
    CW_METRIC_CADENCE = 0,              /* steps per minute */
    CW_METRIC_CONTACT_TIME = 1,         /* ground contact time per step, ms */
    CW_METRIC_VERTICAL_OSCILLATION = 2, /* peak-to-peak vertical motion per step, mm */
    CW_METRIC_BALANCE = 3,              /* left share, percent (50 = symmetric) */
    CW_METRIC_STRIDE_TIME = 4,          /* one foot's stride time, ms */
    CW_METRIC_COUNT = 5
} cw_metric_kind_t;

typedef struct {
    double value;               /* in the unit of its kind; 0 when nothing was measured */
    double confidence;          /* 0 = do not use ... 1 = measured by a device built for it */
    uint32_t samples;           /* steps, strides or readings the value rests on */
    const char *note;           /* static sentence on how it was obtained; never NULL */
} cw_metric_t;

/*  How far a metric of this kind can be trusted from a sensor at this placement, before
 *  accounting for how much data there is. *note (optional) gets a static sentence. Returns
 *  0 for an unknown kind or placement. */
CW_EXPORT double cw_metric_confidence (cw_metric_kind_t kind, cw_placement_t placement,
                                       const char **note);

/*  Heart-rate zones: five zones by percent of maximum heart rate, the convention of most
 *  watches: Z1 50-60 %, Z2 60-70 %, Z3 70-80 %, Z4 80-90 %, Z5 90 % and above. Zone 0 is below
 *  50 %: not exercise. */
#define CW_HR_ZONES 5
/*  A gap between two readings longer than this is not attributed to any zone: the strap was
 *  off or the device asleep, and we do not know what the heart did. */
#define CW_HR_GAP_MAX_MS 10000u

/*  Maximum heart rate from age by Tanaka et al. (2001), 208 - 0.7 x age, which fits adults
 *  better than 220 - age. Age 5..110, else CW_EINVAL. */
CW_EXPORT int cw_hr_max_from_age (uint32_t age_years, uint32_t *max_bpm);

/*  Zone 0..5 of bpm for this maximum, or CW_EINVAL when max_bpm is outside 100..250. */
CW_EXPORT int cw_hr_zone (uint32_t bpm, uint32_t max_bpm);

/*  Time in zone, accumulated batch after batch (a plain struct: the caller owns it). */
typedef struct {
    uint32_t max_bpm;
    uint64_t ms [CW_HR_ZONES + 1];  /* time in zone 0..5 */
    uint64_t unattributed_ms;       /* gaps longer than CW_HR_GAP_MAX_MS */
    uint64_t last_time_ms;          /* time of the previous reading */
    uint32_t last_bpm;              /* 0: no reading yet */
} cw_hr_zones_t;

CW_EXPORT int cw_hr_zones_init (cw_hr_zones_t *self, uint32_t max_bpm);

/*  Feeds one HeartRateBatch. The time from each reading to the next counts in the zone of the
 *  earlier reading. Readings of 0 bpm (no contact) end the current span. CW_EINVAL on NULL
 *  arrays with n > 0; CW_ETIME when time goes backwards across batches (the batch is ignored). */
CW_EXPORT int cw_hr_zones_feed (cw_hr_zones_t *self, uint64_t start_time_ms,
                                const uint32_t *time_delta_ms, const uint32_t *bpm, size_t n);

/*  Pace in whole seconds per km (rounded) from speed in mm/s. CW_ERANGE below 100 mm/s
 *  (0.36 km/h: standing, not moving slowly) or above 15000 mm/s (faster than any runner). */
CW_EXPORT int cw_pace_s_per_km (uint32_t speed_mm_s, uint32_t *s_per_km);

#ifdef __cplusplus
}
#endif

#endif
