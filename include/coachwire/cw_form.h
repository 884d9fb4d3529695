/*  cw_form.h - running form from one body-worn IMU (phone in a pocket, clip at the waist).
 *
 *  Feed the acceleration arrays of each ImuBatch; steps are found by cw_steps, and each step
 *  (one threshold crossing to the next) is analysed on its own:
 *    vertical     the mean acceleration over a step is gravity (the body ends a step moving
 *                 as it began), so its direction is "up" whatever the phone's orientation;
 *    oscillation  vertical acceleration integrated twice over the step, the mean velocity
 *                 and the linear drift removed (the motion is periodic), peak to peak;
 *    contact      the time within the step during which the ground pushes: specific force
 *                 along the vertical above a quarter of gravity (in flight it reads ~0);
 *    balance      the time share of alternate steps. One sensor cannot say which step is the
 *                 left one, so 50 % means symmetric and the side of an asymmetry is unknown.
 *  Each figure comes with the confidence of cw_metric_confidence for the placement, scaled
 *  down while fewer than 8 steps support it. A pocket phone's contact time is a rough
 *  estimate (confidence 0.3): for contact time and balance, prefer foot pods (cw_strides.h).
 */
#ifndef CW_FORM_H_INCLUDED
#define CW_FORM_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"
#include "cw_features.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Steps the report's medians are taken over. */
#define CW_FORM_WINDOW 16

typedef struct {
    cw_metric_t cadence;                /* steps/min, last CW_STEPS_CADENCE_WINDOW steps */
    cw_metric_t contact_time;           /* ms, median per step */
    cw_metric_t vertical_oscillation;   /* mm, median peak-to-peak per step */
    cw_metric_t balance;                /* %, time share of alternate steps (50 = even) */
    uint64_t steps;                     /* steps counted so far */
} cw_form_report_t;

typedef struct _cw_form_t cw_form_t;

/*  New analyser, or NULL when the rate is outside CW_IMU_RATE_MIN..MAX_MHZ, memory ran out,
 *  or the placement is a foot (a foot's vertical motion is not the body's: use cw_strides). */
CW_EXPORT cw_form_t *cw_form_new (uint32_t sample_rate_mhz, cw_placement_t placement);

/*  Frees and sets *self_p to NULL; safe on NULL and twice. */
CW_EXPORT void cw_form_destroy (cw_form_t **self_p);

/*  Feeds n samples of acceleration, mm/s^2, gravity included. CW_EINVAL on NULL self or
 *  arrays with n > 0. */
CW_EXPORT int cw_form_feed (cw_form_t *self, const int32_t *ax, const int32_t *ay,
                            const int32_t *az, size_t n);

/*  The current figures. A metric with no data has value 0, confidence 0 and a note saying
 *  why. CW_EINVAL on NULL. */
CW_EXPORT int cw_form_report (const cw_form_t *self, cw_form_report_t *out);

/*  One shot over whole arrays. CW_EINVAL on a bad rate or placement, NULL arrays or n == 0. */
CW_EXPORT int cw_form_analyse (const int32_t *ax, const int32_t *ay, const int32_t *az,
                               size_t n, uint32_t sample_rate_mhz, cw_placement_t placement,
                               cw_form_report_t *out);

#ifdef __cplusplus
}
#endif

#endif
