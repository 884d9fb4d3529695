/*  cw_nudge.h - a nudge, its explanation and its disclosure; the nudge store; feedback and
 *  effectiveness.
 *
 *  A nudge is what the arbiter sent: the message in the person's locale (en or ja), WHY
 *  (rule, trigger, goal, metric, observed value against the target, the window) and the
 *  DISCLOSURE: every field the engine read for it, its purpose, the grant id and policy
 *  version it was read under, the time window and the number of samples. It travels as a
 *  protobuf coachwire.Nudge (proto/api.proto) in NudgeDelivery.body and in api replies.
 *
 *  Lifecycle (table nudges: id, user_id, rule, state, created_ms, expires_ms, changed_ms,
 *  body = the packed Nudge; table nudge_fields: which fields each nudge used):
 *      pending   -> delivered (handed to a connected device) -> acked (the device confirmed)
 *      pending   -> acked (an ack may overtake the delivery mark)
 *      pending | delivered -> expired (past expires_ms, cw_nudges_expire)
 *      pending   -> withdrawn (the person withdrew a field it used: cw_nudges_withdraw_field)
 *
 *  Feedback (table nudge_feedback): the device reports opened, dismissed or helpful, at most
 *  once per kind per nudge. Proximal outcome (table nudge_outcomes): the rule's metric in the
 *  CW_OUTCOME_WINDOW_MS after the nudge against the same span before it, measured by the
 *  coach actor from its feature windows. cw_nudges_effectiveness_each summarises per rule.
 */
#ifndef CW_NUDGE_H_INCLUDED
#define CW_NUDGE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cw_arbiter.h"
#include "cw_export.h"
#include "cw_json.h"
#include "cw_rules.h"
#include "cw_store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_NUDGE_DEFAULT_TTL_MS (6u * 3600u * 1000u)    /* kept for an offline person */
#define CW_NUDGE_BODY_MAX 8192u                         /* largest packed Nudge accepted */
#define CW_OUTCOME_WINDOW_MS (5u * 60u * 1000u)         /* after vs before, per rule */

typedef enum {
    CW_NUDGE_PENDING = 1,
    CW_NUDGE_DELIVERED = 2,
    CW_NUDGE_ACKED = 3,
    CW_NUDGE_EXPIRED = 4,
    CW_NUDGE_WITHDRAWN = 5
} cw_nudge_state_t;

/*  "pending", "delivered", "acked", "expired", "withdrawn"; NULL out of range. */
CW_EXPORT const char *cw_nudge_state_name (cw_nudge_state_t state);

/*  A nudge: a plain value (about 3 KB), copied freely. */
typedef struct {
    uint8_t id [CW_ID_BYTES];
    uint8_t user_id [CW_ID_BYTES];
    char rule [CW_RULE_ID_MAX + 1];
    cw_nudge_state_t state;                 /* in the store; pending when built */
    uint64_t created_ms, expires_ms;
    char locale [CW_LOCALE_MAX + 1];        /* "en" or "ja" */
    uint32_t priority;
    char message [CW_NUDGE_MESSAGE_MAX];
    struct {
        char trigger [24];                  /* "outside_goal" */
        char goal [32];                     /* "cadence" */
        char metric [48];                   /* "running cadence" */
        char unit [16];                     /* "spm" */
        double observed, target_lo, target_hi;
        char target [64];                   /* as shown: "165" or "165–175" */
        uint64_t window_start_ms, window_end_ms;
        char window [64];                   /* as shown, in the nudge's locale */
    } why;
    size_t n_uses;                          /* the disclosure */
    cw_field_use_t uses [CW_RULE_MAX_FIELDS];
} cw_nudge_t;

/*  Builds the nudge of a sent decision: a new random id, message rendered in locale (the
 *  person's: cw_locale_pick), why from the candidate, the disclosure from the decision's
 *  uses, expiring ttl_ms after the candidate's now (0: CW_NUDGE_DEFAULT_TTL_MS). CW_ESTATE
 *  when the decision was not sent; CW_EINVAL on NULL. */
CW_EXPORT int cw_nudge_build (cw_nudge_t *out, const cw_candidate_t *candidate,
                              const cw_decision_t *decision, const char *locale,
                              uint64_t ttl_ms) CW_MUST_CHECK;

/*  Packs as a coachwire.Nudge into a malloc'd buffer (free it). */
CW_EXPORT int cw_nudge_pack (const cw_nudge_t *self, uint8_t **buf, size_t *len) CW_MUST_CHECK;
/*  Unpacks a coachwire.Nudge (at most CW_NUDGE_BODY_MAX bytes, decoded under a cap).
 *  CW_EDECODE for bytes that are not one, CW_ETOOBIG, CW_ERANGE for ids of the wrong size or
 *  more uses than CW_RULE_MAX_FIELDS. Strings too long for the struct are truncated. */
CW_EXPORT int cw_nudge_unpack (const uint8_t *buf, size_t len, cw_nudge_t *out) CW_MUST_CHECK;

/*  The nudge with its why and disclosure in full, as text for people (cw-edge nudges, cwctl
 *  nudges), malloc'd (free it). Times are shown in UTC. */
CW_EXPORT int cw_nudge_text (const cw_nudge_t *self, char **text) CW_MUST_CHECK;
/*  The same for a view in which the fields `hidden` (n_hidden catalog names) were left out
 *  (a coach's view of what the person did not share for coach_review): the message and the
 *  observed value are shown as CW_NUDGE_HIDDEN_TEXT, and each hidden field is listed as such
 *  in the disclosure. n_hidden 0 is cw_nudge_text. */
#define CW_NUDGE_HIDDEN_TEXT "hidden: not shared with your coach"
CW_EXPORT int cw_nudge_text_redacted (const cw_nudge_t *self, const char *const *hidden,
                                      size_t n_hidden, char **text) CW_MUST_CHECK;
/*  Writes the nudge as one JSON object (key: member name inside an object, NULL elsewhere). */
CW_EXPORT void cw_nudge_json (const cw_nudge_t *self, cw_json_t *json, const char *key);

/*  ---- The nudge store ---------------------------------------------------------------- */

typedef struct _cw_nudges_t cw_nudges_t;
typedef void (*cw_nudge_fn) (void *ctx, const cw_nudge_t *nudge);

/*  Opens the nudge tables on store's database (created if needed). */
CW_EXPORT int cw_nudges_open (cw_nudges_t **out, cw_store_t *store) CW_MUST_CHECK;
CW_EXPORT void cw_nudges_destroy (cw_nudges_t **self_p);

/*  Stores a built nudge as pending. CW_EEXIST when its id is stored already. */
CW_EXPORT int cw_nudges_put (cw_nudges_t *self, const cw_nudge_t *nudge) CW_MUST_CHECK;
/*  Loads one by id, with its current state. CW_ENOENT when unknown. */
CW_EXPORT int cw_nudges_get (cw_nudges_t *self, const uint8_t *id, cw_nudge_t *out)
    CW_MUST_CHECK;
/*  Calls fn for the person's nudges in state (0: every state), oldest first, at most limit
 *  (0: all). For delivery on reconnect: state pending, after cw_nudges_expire. */
CW_EXPORT int cw_nudges_each (cw_nudges_t *self, const uint8_t *user_id, cw_nudge_state_t state,
                              size_t limit, cw_nudge_fn fn, void *ctx) CW_MUST_CHECK;
/*  pending -> delivered; CW_ESTATE from any other state (delivered once), CW_ENOENT. */
CW_EXPORT int cw_nudges_delivered (cw_nudges_t *self, const uint8_t *id, uint64_t now_ms)
    CW_MUST_CHECK;
/*  pending | delivered -> acked; acked again is CW_OK (acks repeat); CW_ESTATE otherwise.
 *  user_id must own the nudge (CW_EDENIED): a device acks only its person's nudges. */
CW_EXPORT int cw_nudges_acked (cw_nudges_t *self, const uint8_t *user_id, const uint8_t *id,
                               uint64_t now_ms) CW_MUST_CHECK;
/*  pending | delivered with expires_ms <= now_ms -> expired; *count (may be NULL) how many. */
CW_EXPORT int cw_nudges_expire (cw_nudges_t *self, uint64_t now_ms, size_t *count)
    CW_MUST_CHECK;
/*  The person withdrew field (a catalog name, "group.*" or "*"): their pending nudges that
 *  used a matching field become withdrawn; *count (may be NULL) how many. */
CW_EXPORT int cw_nudges_withdraw_field (cw_nudges_t *self, const uint8_t *user_id,
                                        const char *field, uint64_t now_ms, size_t *count)
    CW_MUST_CHECK;

/*  ---- Feedback and effectiveness -------------------------------------------------------- */

typedef enum {
    CW_FEEDBACK_OPENED = 1,
    CW_FEEDBACK_DISMISSED = 2,
    CW_FEEDBACK_HELPFUL = 3
} cw_feedback_t;

/*  "opened", "dismissed", "helpful"; NULL out of range. parse: CW_EINVAL when unknown. */
CW_EXPORT const char *cw_feedback_name (cw_feedback_t kind);
CW_EXPORT int cw_feedback_parse (const char *name, cw_feedback_t *out) CW_MUST_CHECK;

/*  Records the device's feedback on a nudge of user_id (CW_EDENIED for someone else's,
 *  CW_ENOENT unknown). The same kind twice is recorded once (CW_OK). */
CW_EXPORT int cw_nudges_feedback (cw_nudges_t *self, const uint8_t *user_id, const uint8_t *id,
                                  cw_feedback_t kind, uint64_t now_ms) CW_MUST_CHECK;

/*  The proximal outcome of a nudge: the rule's metric (in the goal's unit) over the
 *  CW_OUTCOME_WINDOW_MS before it and after it. Replaces an earlier one. CW_ENOENT unknown
 *  nudge, CW_EINVAL for non-finite values. */
CW_EXPORT int cw_nudges_outcome (cw_nudges_t *self, const uint8_t *id, double before,
                                 double after, uint64_t now_ms) CW_MUST_CHECK;

/*  Per rule: what was sent and what came of it. */
typedef struct {
    const char *rule;
    uint64_t sent;                          /* nudges created (any state) */
    uint64_t delivered;                     /* reached a device (delivered or acked) */
    uint64_t opened, dismissed, helpful;
    uint64_t outcomes;                      /* nudges with a measured outcome */
    double mean_change;                     /* mean of (after - before), 0 without outcomes */
} cw_effectiveness_t;
typedef void (*cw_effectiveness_fn) (void *ctx, const cw_effectiveness_t *row);

/*  Calls fn once per rule with nudges created at or after since_ms (all persons, or only
 *  user_id when not NULL), by rule id. */
CW_EXPORT int cw_nudges_effectiveness_each (cw_nudges_t *self, const uint8_t *user_id,
                                            uint64_t since_ms, cw_effectiveness_fn fn,
                                            void *ctx) CW_MUST_CHECK;

/*  Erasure: deletes every nudge of user_id with its fields, feedback and outcome; *deleted
 *  (may be NULL) gets the number of nudges. Joins the caller's transaction (savepoint). */
CW_EXPORT int cw_nudges_erase_user (cw_nudges_t *self, const uint8_t *user_id,
                                    uint64_t *deleted) CW_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
