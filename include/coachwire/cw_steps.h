/*  cw_steps.h - steps and cadence from a body-worn 3-axis accelerometer in any orientation.
 *
 *  Streaming: create one per IMU stream, feed each decoded ImuBatch's acceleration arrays in
 *  order, read the running total and the recent cadence whenever you like. The detector uses
 *  only the magnitude of acceleration, so the phone may sit any way up.
 *
 *  Method (all parameters come from the human cadence range 40..240 steps/min, none from a
 *  particular recording):
 *    magnitude -> gravity removed by a 1 s high-pass -> 2nd-order Butterworth low-pass at 4 Hz
 *    (the fastest plausible step rate) -> Schmitt trigger at +/- half the mean absolute level
 *    of the last ~2 s (never below a noise floor) -> refractory 60/240 s between steps ->
 *    a step counts only inside a walking bout: 4 candidates in a row, each within 60/40 s of
 *    the previous. A lone bump, a door slam or a dropped phone is not a step.
 */
#ifndef CW_STEPS_H_INCLUDED
#define CW_STEPS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"
#include "cw_features.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Candidates in a row that open a bout (then all of them count). */
#define CW_STEPS_BOUT_MIN 4
/*  Steps the recent cadence is computed over. */
#define CW_STEPS_CADENCE_WINDOW 8

typedef struct _cw_steps_t cw_steps_t;

/*  Called once per counted step with its time in samples since the first fed sample
 *  (fractional: the threshold crossing is interpolated between samples). When a bout opens,
 *  it is called for the earlier candidates too, in order, so calls may lag by a few steps. */
typedef void (cw_step_fn) (void *arg, double sample_time);

/*  New detector, or NULL when sample_rate_mhz is outside CW_IMU_RATE_MIN..MAX_MHZ, the
 *  placement is unknown to the protocol, or memory ran out. */
CW_EXPORT cw_steps_t *cw_steps_new (uint32_t sample_rate_mhz, cw_placement_t placement);

/*  Frees and sets *self_p to NULL; safe on NULL and twice. */
CW_EXPORT void cw_steps_destroy (cw_steps_t **self_p);

/*  Feeds n samples of acceleration in mm/s^2 (gravity included). n == 0 is a no-op. Any
 *  int32 value is accepted; extremes saturate the filters but never produce NaN.
 *  CW_EINVAL on NULL self or arrays with n > 0. */
CW_EXPORT int cw_steps_feed (cw_steps_t *self, const int32_t *ax, const int32_t *ay,
                             const int32_t *az, size_t n);

/*  Steps counted so far. */
CW_EXPORT uint64_t cw_steps_total (const cw_steps_t *self);

/*  Samples fed so far. */
CW_EXPORT uint64_t cw_steps_samples (const cw_steps_t *self);

/*  Cadence (steps/min) over the last CW_STEPS_CADENCE_WINDOW steps of the current bout. With
 *  fewer than 2 steps in the bout, value and confidence are 0. CW_EINVAL on NULL. */
CW_EXPORT int cw_steps_cadence (const cw_steps_t *self, cw_metric_t *out);

/*  Registers fn (NULL to remove) to hear each counted step. */
CW_EXPORT void cw_steps_set_handler (cw_steps_t *self, cw_step_fn *fn, void *arg);

/*  One shot over whole arrays, for tests and batch analysis: *steps gets the count and
 *  cadence (optional) the cadence of the last window. CW_EINVAL on a bad rate, NULL arrays or
 *  n == 0; CW_ENOMEM. */
CW_EXPORT int cw_steps_count (const int32_t *ax, const int32_t *ay, const int32_t *az, size_t n,
                              uint32_t sample_rate_mhz, cw_placement_t placement,
                              uint64_t *steps, cw_metric_t *cadence);

#ifdef __cplusplus
}
#endif

#endif
