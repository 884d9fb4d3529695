/*  cw_rules.h - coaching rules as data: a table in a file, never code branches.
 *
 *  A RULE names the catalog fields it reads and the purpose it reads them for (always
 *  `coaching`: the engine reads nothing else), a trigger against one goal of the person's
 *  active plan, a message template in English and in Japanese, a cooldown and a priority.
 *  The service loads coach/rules.default (see that file for the rules that ship).
 *
 *  RULES FILE: UTF-8 text, one statement per line, blank lines and '#' lines ignored. A rule
 *  is a block from `rule ID` to `end`:
 *
 *      rule cadence_low                             ID: [a-z0-9_.-], 1..40 chars, unique
 *        reads running.cadence                      1..8 catalog fields (checked against the
 *                                                   catalog; at least one must be a source of
 *                                                   the goal's metric, see cw_goal_types)
 *        purpose coaching                           required; the only purpose the engine uses
 *        trigger outside_goal cadence below 60s     see TRIGGERS
 *        cooldown 10m                               optional (default 30m): 1s .. 30d
 *        priority 70                                optional (default 50): 0 .. 100, higher
 *                                                   wins when two rules fire together
 *        confidence 0.5                             optional (default 0.5): observations less
 *                                                   trusted than this are not coached on
 *        message en Cadence {observed} {unit} over {window}: below {target} {unit}.
 *        message ja ケイデンスは{window}の間{observed}{unit}で、目標{target}{unit}を下回りました。
 *      end
 *
 *  TRIGGERS (a table in cw_rules.c):
 *      outside_goal GOAL below|above|outside DURATION
 *          a live feature (cadence, vertical_oscillation, contact_time, balance) is outside its
 *          goal on every observation for at least DURATION ("60s", "2m"). below needs a low
 *          target (range, band, min), above a high one (range, band, max).
 *      daily_total_by GOAL below|above HH:MM
 *          a daily total (daily_energy, daily_protein, daily_sugar, weekly_distance) is below
 *          its low target / above its high target at or after HH:MM, the person's local time.
 *      goal_met GOAL DURATION
 *          praise: a live feature within its goal on every observation for DURATION.
 *
 *  TEMPLATES: placeholders {observed} (the value, in the goal's unit and precision), {target}
 *  (the bound that was crossed, or "LOW–HIGH"), {unit} and {window} (how long, or "today by
 *  18:00" / "今日18:00まで"). Any other {name}, an unclosed '{', or a template longer than
 *  CW_RULE_MESSAGE_MAX bytes is refused. Both en and ja are required.
 *
 *  Refused with the line number and reason (cw_parse_error_t): an unknown keyword, field,
 *  purpose, trigger, goal or direction; a bad duration, time, number or id; a statement
 *  outside a rule or a rule not closed by `end`; a rule given twice; a missing reads,
 *  purpose, trigger or template; more than CW_RULES_MAX rules; overlong lines; NUL bytes.
 *
 *  EVALUATION is pure: the caller (the coach actor) keeps one cw_rule_track_t per (person,
 *  rule), feeds it observations in the goal's unit with the targets of the active plan at
 *  that time (cw_goal_target_at), and hands what fired to the arbiter (cw_arbiter.h).
 */
#ifndef CW_RULES_H_INCLUDED
#define CW_RULES_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"
#include "cw_localtime.h"
#include "cw_plan.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_RULES_MAX 128
#define CW_RULE_ID_MAX 40
#define CW_RULE_MAX_FIELDS 8
#define CW_RULE_MESSAGE_MAX 400
#define CW_RULE_DEFAULT_COOLDOWN_MS (30u * 60u * 1000u)
#define CW_RULE_DEFAULT_PRIORITY 50u
#define CW_RULE_DEFAULT_CONFIDENCE 0.5
/*  Observations further apart than this do not make one continuous run. */
#define CW_RULE_GAP_MS 10000u
/*  The longest rendered message, placeholders filled. */
#define CW_NUDGE_MESSAGE_MAX 640

typedef enum {
    CW_TRIGGER_OUTSIDE_GOAL = 0,
    CW_TRIGGER_DAILY_TOTAL_BY = 1,
    CW_TRIGGER_GOAL_MET = 2,
    CW_TRIGGER_COUNT
} cw_trigger_t;

typedef enum {
    CW_DIRECTION_NONE = 0,          /* goal_met */
    CW_DIRECTION_BELOW = 1,
    CW_DIRECTION_ABOVE = 2,
    CW_DIRECTION_OUTSIDE = 3
} cw_direction_t;

typedef enum {
    CW_LOCALE_EN = 0,
    CW_LOCALE_JA = 1,
    CW_LOCALE_COUNT
} cw_locale_t;

/*  "outside_goal", "daily_total_by", "goal_met"; NULL out of range. */
CW_EXPORT const char *cw_trigger_name (cw_trigger_t trigger);
/*  A person's locale ("ja", "ja_JP", "en-GB", "") to one we have templates for: Japanese for
 *  "ja..." , English otherwise. */
CW_EXPORT cw_locale_t cw_locale_pick (const char *locale);
/*  "en", "ja". */
CW_EXPORT const char *cw_locale_name (cw_locale_t locale);

/*  One parsed rule, read-only (owned by its cw_rules_t). */
typedef struct {
    char id [CW_RULE_ID_MAX + 1];
    uint32_t line;                              /* where `rule ID` stood in the file */
    const char *fields [CW_RULE_MAX_FIELDS];    /* catalog names (static strings) */
    size_t n_fields;
    const char *purpose;                        /* "coaching" */
    cw_trigger_t trigger;
    cw_goal_type_t goal;
    cw_direction_t direction;
    uint64_t duration_ms;                       /* outside_goal, goal_met */
    uint32_t by_minute;                         /* daily_total_by: local minute of day */
    uint64_t cooldown_ms;
    uint32_t priority;
    double min_confidence;
    char message [CW_LOCALE_COUNT][CW_RULE_MESSAGE_MAX + 1];
} cw_rule_t;

typedef struct _cw_rules_t cw_rules_t;

/*  Parses a rules file of len bytes (need not be NUL-terminated). On failure *out is NULL and
 *  err (may be NULL) has the line and reason: CW_EINVAL (bad text), CW_ETOOBIG (over
 *  CW_PLAN_TEXT_MAX bytes), CW_ENOMEM. */
CW_EXPORT int cw_rules_parse (const char *text, size_t len, cw_rules_t **out,
                              cw_parse_error_t *err) CW_MUST_CHECK;
/*  Reads and parses the file at path; CW_ENOENT / CW_EIO when it cannot be read (err says so). */
CW_EXPORT int cw_rules_load (const char *path, cw_rules_t **out, cw_parse_error_t *err)
    CW_MUST_CHECK;
CW_EXPORT void cw_rules_destroy (cw_rules_t **self_p);

CW_EXPORT size_t cw_rules_count (const cw_rules_t *self);
/*  Rule i (file order), or NULL. */
CW_EXPORT const cw_rule_t *cw_rules_get (const cw_rules_t *self, size_t i);
/*  The rule with this id, or NULL. */
CW_EXPORT const cw_rule_t *cw_rules_find (const cw_rules_t *self, const char *id);
/*  Whether the rule reads field (exact catalog name). */
CW_EXPORT bool cw_rule_reads (const cw_rule_t *rule, const char *field);

/*  One observation of a live feature, in the goal's unit (spm, mm, ms, %). */
typedef struct {
    uint64_t time_ms;               /* end of the window it covers */
    uint64_t span_ms;               /* its length; 0 for an instant reading */
    double value;
    double confidence;              /* cw_metric_t.confidence; 1 for device-measured */
    uint32_t samples;               /* readings or steps it rests on */
} cw_observation_t;

/*  What a rule saw when it fired: the why of a nudge and the window of its disclosure. */
typedef struct {
    double observed;                /* mean over the window (sample-weighted), or the total */
    double target_lo, target_hi;    /* the goal's targets then */
    uint64_t window_start_ms;       /* also the de-duplication key of the window */
    uint64_t window_end_ms;
    uint32_t samples;
    uint32_t by_minute;             /* daily_total_by: the rule's time of day */
} cw_rule_fire_t;

/*  Per (person, rule) state of a duration trigger; zero it to start. Plain data. */
typedef struct {
    uint64_t since_ms;              /* start of the current run; 0 = no run */
    uint64_t last_ms;               /* end of the last observation in the run */
    double sum;                     /* value x weight */
    double weight;
    uint32_t samples;
} cw_rule_track_t;

/*  Feeds one observation to a duration rule (outside_goal, goal_met) with the goal's targets
 *  lo/hi at that time. *fired says whether the rule fired with this observation; then fire
 *  is filled and the track restarts (the next firing needs a whole new duration). An
 *  observation that does not match, is less trusted than rule->min_confidence, or starts more
 *  than CW_RULE_GAP_MS after the previous one ended breaks the run. CW_EINVAL on NULL, a
 *  non-duration rule, a non-finite value or time going backwards (the track is reset). */
CW_EXPORT int cw_rule_feed (const cw_rule_t *rule, double lo, double hi, cw_rule_track_t *track,
                            const cw_observation_t *obs, cw_rule_fire_t *fire, bool *fired)
    CW_MUST_CHECK;

/*  Checks a daily_total_by rule: total (in the goal's unit, from `samples` entries) of the
 *  local day `local` (cw_local_time of now_ms) against lo/hi. Fires at or after the rule's
 *  time when below lo (below) or above hi (above). The window is local midnight .. now_ms.
 *  CW_EINVAL on NULL, a non-daily rule or a non-finite total. */
CW_EXPORT int cw_rule_check_daily (const cw_rule_t *rule, double lo, double hi, double total,
                                   uint32_t samples, const cw_local_t *local, uint64_t now_ms,
                                   cw_rule_fire_t *fire, bool *fired) CW_MUST_CHECK;

/*  Renders the rule's template in locale with fire's numbers into buf (size bytes, NUL
 *  terminated). CW_ENOSPC when it does not fit (buf then holds a truncated message). */
CW_EXPORT int cw_rule_render (const cw_rule_t *rule, cw_locale_t locale,
                              const cw_rule_fire_t *fire, char *buf, size_t size) CW_MUST_CHECK;
/*  The target as shown: the crossed bound, or "LOW–HIGH". */
CW_EXPORT void cw_rule_target_text (const cw_rule_t *rule, const cw_rule_fire_t *fire,
                                    char *buf, size_t size);
/*  The window as shown in locale: "60 s" / "60秒", or "today by 18:00" / "今日18:00まで". */
CW_EXPORT void cw_rule_window_text (const cw_rule_t *rule, const cw_rule_fire_t *fire,
                                    cw_locale_t locale, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif
