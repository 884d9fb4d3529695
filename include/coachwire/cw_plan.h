/*  cw_plan.h - goals, plans and their progress: what a person is coached toward.
 *
 *  A GOAL TYPE is a row of a table (cw_goal_types): its name ("cadence"), the metric it
 *  measures, the unit, its kind (a range, a minimum, a maximum or a band) and the catalog
 *  fields its metric can be read from. A PLAN belongs to one person, has a version (1, 2, ...
 *  per person) and a state, and holds up to CW_PLAN_MAX_GOALS goals, each with an optional
 *  schedule ("cadence +5% every 2w": the target moves by that step each period after the
 *  plan's start).
 *
 *  States and transitions (validated by a table in cw_plan.c):
 *      draft    -> proposed | active | retired
 *      proposed -> active (a coach approves) | retired (a coach rejects: reason "rejected")
 *      active   -> retired
 *      retired  is final.
 *  At most one plan per person is active: activating one retires the active one (reason
 *  "superseded") in the same transaction.
 *
 *  PLAN FILE (cwctl plan set PERSON FILE): UTF-8 text, one statement per line; blank lines and
 *  lines whose first non-blank character is '#' are ignored. Words are separated by blanks.
 *
 *      # Ana's spring block
 *      start 2024-04-01                        optional: UTC date the schedule counts from
 *                                              (default: when the plan becomes active)
 *      goal cadence range 165 175 spm         goal NAME KIND VALUE... UNIT
 *      goal vertical_oscillation max 95 mm     (range/band take LOW HIGH, min/max take one
 *      goal balance band 48.5 51.5 %            value; KIND and UNIT must be the type's own)
 *      goal daily_protein min 100 g
 *      schedule cadence +5% every 2w          schedule NAME STEP every N(d|w) [times K]
 *      schedule daily_protein +10 every 7d times 3   STEP: +N% / -N% (compound) or +N / -N
 *                                                    (in the goal's unit); K caps the steps
 *
 *  The parser is strict: an unknown keyword or goal type, a wrong kind or unit, a missing or
 *  extra word, a number that is not finite or outside the type's plausible bounds, low > high,
 *  a goal given twice, a schedule before its goal or given twice, a line longer than
 *  CW_PLAN_LINE_MAX, a NUL byte, or a file without any goal: all refused with the line number
 *  (0 for the whole file) and a reason.
 *
 *  STORAGE: tables plans (user_id, version, state, reason, start_ms, created_ms, changed_ms),
 *  goals (user_id, version, goal, lo, hi, step, step_percent, period_days, times) and
 *  goal_progress (user_id, version, goal, window_start_ms, window_end_ms, observed, target_lo,
 *  target_hi, met), in the store's SQLite database (created on open if missing).
 */
#ifndef CW_PLAN_H_INCLUDED
#define CW_PLAN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"
#include "cw_store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_PLAN_MAX_GOALS 16
#define CW_PLAN_LINE_MAX 512
#define CW_PLAN_TEXT_MAX (64u * 1024u)          /* largest plan or rules file accepted */
#define CW_GOAL_MAX_FIELDS 3
#define CW_PARSE_REASON_MAX 160

/*  Where and why a parser refused its input (plan and rules files). */
typedef struct {
    uint32_t line;                          /* 1-based; 0 = the file as a whole */
    char reason [CW_PARSE_REASON_MAX];
} cw_parse_error_t;

typedef enum {
    CW_GOAL_KIND_RANGE = 1,                 /* lo <= value <= hi */
    CW_GOAL_KIND_MIN = 2,                   /* value >= lo */
    CW_GOAL_KIND_MAX = 3,                   /* value <= hi */
    CW_GOAL_KIND_BAND = 4                   /* lo <= value <= hi, around a midpoint (balance) */
} cw_goal_kind_t;

typedef enum {
    CW_GOAL_CADENCE = 0,
    CW_GOAL_VERTICAL_OSCILLATION,
    CW_GOAL_CONTACT_TIME,
    CW_GOAL_BALANCE,
    CW_GOAL_WEEKLY_DISTANCE,
    CW_GOAL_DAILY_ENERGY,
    CW_GOAL_DAILY_PROTEIN,
    CW_GOAL_DAILY_SUGAR,
    CW_GOAL_TYPE_COUNT
} cw_goal_type_t;

/*  One row of the goal type table. */
typedef struct {
    cw_goal_type_t type;
    const char *name;                       /* in plan and rules files: "cadence" */
    const char *metric;                     /* what is measured: "running cadence" */
    const char *unit;                       /* "spm", "mm", "ms", "%", "km", "kcal", "g" */
    cw_goal_kind_t kind;
    const char *fields [CW_GOAL_MAX_FIELDS];/* catalog fields the metric can be read from */
    double min_value, max_value;            /* plausible targets; a file outside is refused */
    int progress_sign;                      /* +1 progression raises targets, -1 lowers, 0 none */
    bool daily;                             /* a daily (or weekly) total, not a live feature */
    int decimals;                           /* digits shown after the point */
} cw_goal_type_info_t;

/*  The table, in cw_goal_type_t order; *count set. Never NULL. */
CW_EXPORT const cw_goal_type_info_t *cw_goal_types (size_t *count);
/*  By name or by type; NULL when unknown. */
CW_EXPORT const cw_goal_type_info_t *cw_goal_type_find (const char *name);
CW_EXPORT const cw_goal_type_info_t *cw_goal_type_info (cw_goal_type_t type);
/*  "range", "min", "max", "band"; NULL out of range. */
CW_EXPORT const char *cw_goal_kind_name (cw_goal_kind_t kind);

/*  One goal of a plan, a plain value. lo is unused for max goals, hi for min goals. */
typedef struct {
    cw_goal_type_t type;
    double lo, hi;                          /* the targets at the plan's start */
    double step;                            /* schedule step; 0 = no schedule */
    bool step_percent;                      /* step is a percentage (compound) */
    uint32_t period_days;                   /* schedule period */
    uint32_t times;                         /* most steps taken; 0 = unlimited */
} cw_goal_t;

typedef enum {
    CW_PLAN_DRAFT = 1,
    CW_PLAN_PROPOSED = 2,
    CW_PLAN_ACTIVE = 3,
    CW_PLAN_RETIRED = 4
} cw_plan_state_t;

/*  "draft", "proposed", "active", "retired"; NULL out of range. */
CW_EXPORT const char *cw_plan_state_name (cw_plan_state_t state);
/*  Whether from -> to is an allowed transition. */
CW_EXPORT bool cw_plan_transition_valid (cw_plan_state_t from, cw_plan_state_t to);

typedef struct _cw_plan_t cw_plan_t;

/*  An empty draft plan (no owner, version 0, start 0). NULL when out of memory. */
CW_EXPORT cw_plan_t *cw_plan_new (void);
CW_EXPORT void cw_plan_destroy (cw_plan_t **self_p);

/*  Parses a plan file of len bytes (need not be NUL-terminated). On success *out is a new
 *  draft plan; on failure *out is NULL, err (may be NULL) says where and why, and the rc is
 *  CW_EINVAL (bad text), CW_ETOOBIG (over CW_PLAN_TEXT_MAX) or CW_ENOMEM. */
CW_EXPORT int cw_plan_parse (const char *text, size_t len, cw_plan_t **out,
                             cw_parse_error_t *err) CW_MUST_CHECK;
/*  The plan back in file form (goals and schedules, start if set), malloc'd: free it. */
CW_EXPORT int cw_plan_text (const cw_plan_t *self, char **text) CW_MUST_CHECK;

/*  Accessors. Pointers and values are the plan's own, valid while it lives. */
CW_EXPORT const uint8_t *cw_plan_user (const cw_plan_t *self);
CW_EXPORT uint32_t cw_plan_version (const cw_plan_t *self);
CW_EXPORT cw_plan_state_t cw_plan_state (const cw_plan_t *self);
/*  "superseded", "rejected", "ended" once retired; "" otherwise. */
CW_EXPORT const char *cw_plan_reason (const cw_plan_t *self);
CW_EXPORT uint64_t cw_plan_start (const cw_plan_t *self);
CW_EXPORT uint64_t cw_plan_created (const cw_plan_t *self);
CW_EXPORT size_t cw_plan_goal_count (const cw_plan_t *self);
/*  The goal at index i (< count), or NULL. */
CW_EXPORT const cw_goal_t *cw_plan_goal (const cw_plan_t *self, size_t i);
/*  The goal of this type, or NULL when the plan has none. */
CW_EXPORT const cw_goal_t *cw_plan_goal_of (const cw_plan_t *self, cw_goal_type_t type);
/*  Adds or replaces the goal of goal->type. CW_ENOSPC when full, CW_EINVAL when invalid. */
CW_EXPORT int cw_plan_goal_set (cw_plan_t *self, const cw_goal_t *goal) CW_MUST_CHECK;
/*  Sets the schedule's start (epoch ms; 0: when activated). */
CW_EXPORT void cw_plan_set_start (cw_plan_t *self, uint64_t start_ms);

/*  The target of a goal at at_ms: the start targets moved by the schedule's whole periods
 *  elapsed since start_ms (none before start, none when start_ms is 0), at most `times`
 *  steps. Percent steps compound; absolute steps add. *lo / *hi may be NULL. */
CW_EXPORT void cw_goal_target_at (const cw_goal_t *goal, uint64_t start_ms, uint64_t at_ms,
                                  double *lo, double *hi);
/*  Whether value meets the goal with targets lo/hi (by the goal type's kind). */
CW_EXPORT bool cw_goal_met (const cw_goal_t *goal, double lo, double hi, double value);

/*  ---- The plan store ---------------------------------------------------------------- */

typedef struct _cw_plans_t cw_plans_t;

/*  Opens the plan tables on store's database (creating them if needed). The store must
 *  outlive the object. One per store connection (per thread). */
CW_EXPORT int cw_plans_open (cw_plans_t **out, cw_store_t *store) CW_MUST_CHECK;
CW_EXPORT void cw_plans_destroy (cw_plans_t **self_p);

/*  Stores plan as the person's next version (max + 1) in state (draft, proposed or active;
 *  active retires the current active plan and sets the start to now_ms if it had none), in
 *  one transaction (joins the caller's with a savepoint). The plan object gets its user,
 *  version, state and created time. *version may be NULL. */
CW_EXPORT int cw_plans_put (cw_plans_t *self, const uint8_t *user_id, cw_plan_t *plan,
                            cw_plan_state_t state, uint64_t now_ms, uint32_t *version)
    CW_MUST_CHECK;

/*  Moves (user, version) to state `to`. CW_ENOENT when no such plan; CW_ESTATE when the
 *  transition is not allowed (the plan is unchanged). reason is recorded for retired
 *  ("rejected", "ended"; NULL: "ended"). Activating retires the old active one. */
CW_EXPORT int cw_plans_transition (cw_plans_t *self, const uint8_t *user_id, uint32_t version,
                                   cw_plan_state_t to, const char *reason, uint64_t now_ms)
    CW_MUST_CHECK;
/*  The coach's review of a proposed plan: approve (-> active, old active retired) or reject
 *  (-> retired, reason "rejected"). CW_ESTATE unless the plan is proposed. */
CW_EXPORT int cw_plans_approve (cw_plans_t *self, const uint8_t *user_id, uint32_t version,
                                uint64_t now_ms) CW_MUST_CHECK;
CW_EXPORT int cw_plans_reject (cw_plans_t *self, const uint8_t *user_id, uint32_t version,
                               uint64_t now_ms) CW_MUST_CHECK;

/*  Loads one version (0: the newest), or the active one, or the newest in a state. *out is
 *  new (destroy it). CW_ENOENT when there is none. */
CW_EXPORT int cw_plans_get (cw_plans_t *self, const uint8_t *user_id, uint32_t version,
                            cw_plan_t **out) CW_MUST_CHECK;
CW_EXPORT int cw_plans_active (cw_plans_t *self, const uint8_t *user_id, cw_plan_t **out)
    CW_MUST_CHECK;
CW_EXPORT int cw_plans_latest (cw_plans_t *self, const uint8_t *user_id, cw_plan_state_t state,
                               cw_plan_t **out) CW_MUST_CHECK;

/*  Progress: one observed window of one goal against its target. */
typedef struct {
    uint32_t version;                       /* plan version the target came from */
    cw_goal_type_t goal;
    uint64_t window_start_ms, window_end_ms;
    double observed;
    double target_lo, target_hi;
    bool met;
} cw_progress_t;
typedef void (*cw_goal_progress_fn) (void *ctx, const cw_progress_t *progress);

/*  Appends one progress row. met is computed here from the goal's kind when the plan version
 *  has the goal (CW_ENOENT otherwise); target_lo/hi are the schedule's targets at window end.
 *  out (may be NULL) gets the row as stored. */
CW_EXPORT int cw_plans_progress_add (cw_plans_t *self, const uint8_t *user_id, uint32_t version,
                                     cw_goal_type_t goal, uint64_t window_start_ms,
                                     uint64_t window_end_ms, double observed,
                                     cw_progress_t *out) CW_MUST_CHECK;
/*  Calls fn for the person's progress rows of goal with window_end >= since_ms, oldest first
 *  (a chart's series), at most limit rows (0: all). */
CW_EXPORT int cw_plans_progress_each (cw_plans_t *self, const uint8_t *user_id,
                                      cw_goal_type_t goal, uint64_t since_ms, size_t limit,
                                      cw_goal_progress_fn fn, void *ctx) CW_MUST_CHECK;

/*  Progression from the evidence. When the active plan has goal, its type progresses
 *  (progress_sign != 0), no plan is already proposed, and the goal was met in at least
 *  CW_PROGRESSION_MET_PERCENT % of its last n progress rows (n >= 1; fewer rows than n is
 *  not enough evidence), a copy of the active plan is stored as a new version in state
 *  proposed with that goal's targets moved by CW_PROGRESSION_STEP_PERCENT in the type's
 *  direction (the schedule restarting from the new targets). *proposed says whether it was,
 *  *version (may be NULL) its number. CW_ENOENT when there is no active plan or no such goal. */
#define CW_PROGRESSION_MET_PERCENT 80u
#define CW_PROGRESSION_STEP_PERCENT 2.5
CW_EXPORT int cw_plans_propose_progression (cw_plans_t *self, const uint8_t *user_id,
                                            cw_goal_type_t goal, size_t n, uint64_t now_ms,
                                            bool *proposed, uint32_t *version) CW_MUST_CHECK;

/*  Erasure: deletes every plan version, goal and progress row of user_id; *deleted (may be
 *  NULL) gets the number of plan versions. Joins the caller's transaction (savepoint). */
CW_EXPORT int cw_plans_erase_user (cw_plans_t *self, const uint8_t *user_id,
                                   uint64_t *deleted) CW_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
