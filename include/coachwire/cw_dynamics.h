/*  cw_dynamics.h - window aggregates of running dynamics a device measured itself.
 *
 *  A watch with a chest strap or foot pod reports cadence, vertical oscillation, stance time
 *  and so on (RunningDynamicsBatch). Nothing is estimated here: we keep the readings of the
 *  last window_ms and report, per field, the mean, the median and how many readings they rest
 *  on, with confidence 1.0 "as measured by the device". A repeated protobuf field has no
 *  "missing" marker: a device sends 0 when the runner stands (cadence 0) or the pod sleeps.
 *  Those zeros are readings and count in mean and median, so a window's figures match the
 *  device's own record; moving_median and moving_samples leave them out for rules that only
 *  care about the running part.
 */
#ifndef CW_DYNAMICS_H_INCLUDED
#define CW_DYNAMICS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"
#include "cw_features.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  The fields of RunningDynamicsBatch, in its order and units. */
typedef enum {
    CW_DYN_CADENCE = 0,             /* steps/min x 10 */
    CW_DYN_VERTICAL_OSCILLATION,    /* mm x 10 */
    CW_DYN_STANCE_TIME,             /* ms x 10 */
    CW_DYN_STANCE_BALANCE,          /* left share, % x 100 */
    CW_DYN_STEP_LENGTH,             /* mm */
    CW_DYN_VERTICAL_RATIO,          /* % x 100 */
    CW_DYN_POWER,                   /* W */
    CW_DYN_FIELDS
} cw_dyn_field_t;

/*  Readings kept per window at most: one hour at 1 Hz, or ten minutes at 6 Hz. Older
 *  readings beyond the cap are dropped first, whatever the window says. */
#define CW_DYNAMICS_MAX_READINGS 3600
#define CW_DYNAMICS_WINDOW_MAX_MS (24u * 3600u * 1000u)

/*  One decoded batch. values [f] is NULL when the device did not send field f; otherwise it
 *  has counts [f] entries, which must equal n (the number of time deltas). */
typedef struct {
    uint64_t start_time_ms;
    const uint32_t *time_delta_ms;
    size_t n;
    const uint32_t *values [CW_DYN_FIELDS];
    size_t counts [CW_DYN_FIELDS];
} cw_dyn_batch_t;

typedef struct {
    double mean;                /* in the field's wire unit, over all readings */
    double median;
    uint32_t samples;           /* readings of this field in the window */
    uint32_t zeros;             /* of which 0 (standing, sensor asleep) */
    double moving_median;       /* median of the non-zero readings, 0 if none */
    double confidence;          /* 1.0 with readings, 0 without */
    const char *note;
} cw_dyn_stat_t;

typedef struct _cw_dynamics_t cw_dynamics_t;

/*  New aggregator over the last window_ms (1 .. CW_DYNAMICS_WINDOW_MAX_MS), else NULL. */
CW_EXPORT cw_dynamics_t *cw_dynamics_new (uint32_t window_ms);

CW_EXPORT void cw_dynamics_destroy (cw_dynamics_t **self_p);

/*  Adds a batch. CW_EINVAL on NULL; CW_ESHAPE when a present field's count differs from n
 *  (nothing is added). Readings older than the window relative to the newest are dropped. */
CW_EXPORT int cw_dynamics_feed (cw_dynamics_t *self, const cw_dyn_batch_t *batch);

/*  Statistics of one field over the window. CW_EINVAL on NULL or an unknown field. */
CW_EXPORT int cw_dynamics_stat (const cw_dynamics_t *self, cw_dyn_field_t field,
                                cw_dyn_stat_t *out);

/*  Cadence of the window as a cw_metric_t (steps/min, median of all readings), confidence
 *  1.0 as measured. */
CW_EXPORT int cw_dynamics_cadence (const cw_dynamics_t *self, cw_metric_t *out);

#ifdef __cplusplus
}
#endif

#endif
