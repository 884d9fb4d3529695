/*  cw_coach.h - the coach actor: consented readings in, explained nudges out.
 *
 *  A thread with its own store connection. When the gateway has committed (and at least every
 *  CW_COACH_TICK_MS) it reads the frames committed since its cursor (kept in meta "coach.cursor"), opens each with the
 *  person's data key, strips it to the fields granted for `coaching` (the engine reads no
 *  other), and feeds the live features (device running dynamics) and daily totals (meals, in
 *  the person's time zone) to the rules. Every rule passes the arbiter (consent, budget,
 *  quiet hours, cooldown, de-duplication); each decision is written to the person's access
 *  log with exactly the fields, grants and window it used, and a sent nudge is stored and
 *  handed to the gateway for the person's connected devices.
 *
 *  Control (PULL at CW_COACH_CONTROL_ENDPOINT), one frame:
 *      "consent" (7) || person id (16)   reload grants; pending nudges that used a withdrawn
 *                                        field are withdrawn, rule tracks reading it reset
 *      "plan" (4) || person id (16)      reload the person's active plan
 *      "tick" (4)                        the gateway committed frames: read them now
 */
#ifndef CW_COACH_H_INCLUDED
#define CW_COACH_H_INCLUDED

#include "cw_export.h"
#include "cw_server.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_COACH_TICK_MS 100
/*  Readings older than this when they arrive are analysed (progress) but never nudged about:
 *  a nudge is for the moment, not for last year's run. */
#define CW_COACH_NUDGE_HORIZON_MS (10ull * 60 * 1000)

typedef struct _cw_coach_t cw_coach_t;

CW_EXPORT int cw_coach_start (cw_coach_t **out, const cw_server_config_t *config) CW_MUST_CHECK;
CW_EXPORT void cw_coach_destroy (cw_coach_t **self_p);

/*  The built-in rules and default plan (coach/rules.default, coach/plan.default). */
CW_EXPORT const char *cw_coach_default_rules (size_t *len);
CW_EXPORT const char *cw_coach_default_plan (size_t *len);

#ifdef __cplusplus
}
#endif

#endif
