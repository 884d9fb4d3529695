/*  cw_arbiter.h - the one place every candidate nudge passes: consent, budget, quiet hours,
 *  cooldown, de-duplication, in that order.
 *
 *  1. consent      every field the rule reads must be granted to the person for the rule's
 *                  purpose (coaching), asked through a callback (cw_consent_check in the
 *                  service). A rule missing one is held "consent (field X not granted)" and
 *                  must not run at all: call cw_arbiter_gate BEFORE evaluating a rule, and
 *                  cw_arbiter_decide on what fired (it asks again: consent may have changed).
 *  2. budget       at most budget (default 6) nudges sent per person per local day.
 *  3. quiet hours  nothing sent between quiet_start and quiet_end local time (default 22:00 -
 *                  07:00, in the person's time zone).
 *  4. cooldown     a rule is not sent to a person again within its cooldown.
 *  5. duplicate    a rule is sent at most once per window (same window start).
 *  Every decision, sent or held, is a row of table decisions (id, user_id, rule, created_ms,
 *  window_start_ms, window_end_ms, sent, code, reason). Consent holds are recorded only when
 *  they change (the last decision for that person and rule was not the same hold), so a
 *  gate asked every few seconds does not flood the table.
 *
 *  Wiring (coach actor): one cw_arbiter_t per store connection; the consent callback wraps
 *  cw_consent_check; the decision's uses (field, purpose, grant id, policy version) are what
 *  the engine read, so they are also what it writes to the person's access log and what
 *  the nudge's disclosure lists (cw_nudge_build).
 */
#ifndef CW_ARBITER_H_INCLUDED
#define CW_ARBITER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"
#include "cw_rules.h"
#include "cw_store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_ARBITER_DEFAULT_BUDGET 6u
#define CW_ARBITER_DEFAULT_QUIET_START (22u * 60u)     /* minutes of the local day */
#define CW_ARBITER_DEFAULT_QUIET_END (7u * 60u)
#define CW_DECISION_REASON_MAX 160
#define CW_PURPOSE_NAME_MAX 16

/*  Asks whether user_id granted field for purpose ("coaching") at now_ms. Returns CW_OK and
 *  fills grant_id and *policy_version, or CW_ECONSENT when not granted, or another CW_E* code
 *  when it could not tell (then the arbiter holds the nudge as not granted and returns it). */
typedef int (*cw_consent_check_fn) (void *ctx, const uint8_t *user_id, const char *field,
                                    const char *purpose, uint64_t now_ms,
                                    uint8_t grant_id [CW_ID_BYTES], uint32_t *policy_version);

typedef enum {
    CW_DECISION_SENT = 0,
    CW_DECISION_HELD_CONSENT = 1,
    CW_DECISION_HELD_BUDGET = 2,
    CW_DECISION_HELD_QUIET = 3,
    CW_DECISION_HELD_COOLDOWN = 4,
    CW_DECISION_HELD_DUPLICATE = 5
} cw_decision_code_t;

/*  "sent", "consent", "budget", "quiet_hours", "cooldown", "duplicate"; NULL out of range. */
CW_EXPORT const char *cw_decision_code_name (cw_decision_code_t code);

/*  One field the engine read under a grant: a line of the disclosure. */
typedef struct {
    char field [48];                        /* catalog name */
    char purpose [CW_PURPOSE_NAME_MAX];
    uint8_t grant_id [CW_ID_BYTES];
    uint32_t policy_version;
    uint64_t window_start_ms, window_end_ms;
    uint32_t samples;
} cw_field_use_t;

typedef struct {
    uint8_t id [CW_ID_BYTES];               /* the decision's row id (random) */
    bool sent;
    cw_decision_code_t code;
    char reason [CW_DECISION_REASON_MAX];   /* "consent (field meal.sugar not granted)" */
    size_t n_uses;                          /* fields granted (all of the rule's when sent) */
    cw_field_use_t uses [CW_RULE_MAX_FIELDS];
} cw_decision_t;

/*  A rule that fired for a person. */
typedef struct {
    const cw_rule_t *rule;
    const uint8_t *user_id;
    const char *time_zone;                  /* the person's IANA zone */
    cw_rule_fire_t fire;
    uint64_t now_ms;
} cw_candidate_t;

typedef struct _cw_arbiter_t cw_arbiter_t;

/*  Opens the arbiter on store's database (tables decisions and arbiter_settings are created
 *  if needed). consent is required. The store must outlive the arbiter. */
CW_EXPORT int cw_arbiter_open (cw_arbiter_t **out, cw_store_t *store,
                               cw_consent_check_fn consent, void *consent_ctx) CW_MUST_CHECK;
CW_EXPORT void cw_arbiter_destroy (cw_arbiter_t **self_p);

/*  Per-person settings: a daily budget (0 .. 100) and quiet hours (minutes of the local day;
 *  start == end: no quiet hours). Persons without settings get the defaults. */
CW_EXPORT int cw_arbiter_settings_set (cw_arbiter_t *self, const uint8_t *user_id,
                                       uint32_t budget, uint32_t quiet_start,
                                       uint32_t quiet_end) CW_MUST_CHECK;
CW_EXPORT int cw_arbiter_settings_get (cw_arbiter_t *self, const uint8_t *user_id,
                                       uint32_t *budget, uint32_t *quiet_start,
                                       uint32_t *quiet_end) CW_MUST_CHECK;

/*  May the rule run for this person now? Consent only. out->sent true: run it (out->uses
 *  has the grants, windows zero). False: held for consent, recorded (once per change).
 *  Returns CW_OK either way, or an error of the store. */
CW_EXPORT int cw_arbiter_gate (cw_arbiter_t *self, const cw_rule_t *rule, const uint8_t *user_id,
                               uint64_t now_ms, cw_decision_t *out) CW_MUST_CHECK;

/*  Decides on a candidate: the full chain; records the decision; out says sent or held and
 *  why, and (when sent) every field used with its grant, the fire's window and samples.
 *  Returns CW_OK whatever was decided; CW_EINVAL on bad arguments; CW_ENOENT / CW_EINVAL for
 *  an unknown or malformed time zone; store errors. */
CW_EXPORT int cw_arbiter_decide (cw_arbiter_t *self, const cw_candidate_t *candidate,
                                 cw_decision_t *out) CW_MUST_CHECK;

/*  One recorded decision, for cwctl and tests. Strings valid during the call. */
typedef struct {
    const uint8_t *id;
    const char *rule;
    uint64_t created_ms, window_start_ms, window_end_ms;
    bool sent;
    cw_decision_code_t code;
    const char *reason;
} cw_decision_row_t;
typedef void (*cw_decision_fn) (void *ctx, const cw_decision_row_t *row);

/*  Calls fn for the person's decisions created at or after since_ms, oldest first. */
CW_EXPORT int cw_arbiter_decisions_each (cw_arbiter_t *self, const uint8_t *user_id,
                                         uint64_t since_ms, cw_decision_fn fn, void *ctx)
    CW_MUST_CHECK;

/*  Erasure: deletes every decision and the settings of user_id; *deleted (may be NULL) gets
 *  the number of decisions. Joins the caller's transaction (savepoint). */
CW_EXPORT int cw_arbiter_erase_user (cw_arbiter_t *self, const uint8_t *user_id,
                                     uint64_t *deleted) CW_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
