/*  cw_plan.c - goal types, plans, the plan file parser, the plan store and progress
 *  (see include/coachwire/cw_plan.h). */
#include "coachwire/cw_plan.h"
#include "coachwire/cw_error.h"
#include "cw_engine_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  The goal types. Fields: where each metric can come from (a device's own figure first).
static const cw_goal_type_info_t s_goal_types [] = {
    { CW_GOAL_CADENCE, "cadence", "running cadence", "spm", CW_GOAL_KIND_RANGE,
      { "running.cadence", "imu.accel" }, 100, 230, +1, false, 0 },
    { CW_GOAL_VERTICAL_OSCILLATION, "vertical_oscillation", "vertical oscillation", "mm",
      CW_GOAL_KIND_MAX, { "running.vertical_oscillation", "imu.accel" }, 30, 200, -1, false, 0 },
    { CW_GOAL_CONTACT_TIME, "contact_time", "ground contact time", "ms", CW_GOAL_KIND_MAX,
      { "running.stance_time", "imu.gyro", "imu.accel" }, 120, 450, -1, false, 0 },
    { CW_GOAL_BALANCE, "balance", "left/right balance (left share)", "%", CW_GOAL_KIND_BAND,
      { "running.stance_balance" }, 40, 60, 0, false, 1 },
    { CW_GOAL_WEEKLY_DISTANCE, "weekly_distance", "distance run per week", "km",
      CW_GOAL_KIND_MIN, { "location.distance" }, 1, 300, +1, true, 1 },
    { CW_GOAL_DAILY_ENERGY, "daily_energy", "food energy per day", "kcal", CW_GOAL_KIND_RANGE,
      { "meal.energy" }, 800, 6000, 0, true, 0 },
    { CW_GOAL_DAILY_PROTEIN, "daily_protein", "protein per day", "g", CW_GOAL_KIND_MIN,
      { "meal.protein" }, 10, 400, 0, true, 0 },
    { CW_GOAL_DAILY_SUGAR, "daily_sugar", "sugars per day", "g", CW_GOAL_KIND_MAX,
      { "meal.sugar" }, 5, 300, 0, true, 0 },
};

static const char *s_kind_names [] = { NULL, "range", "min", "max", "band" };
static const char *s_state_names [] = { NULL, "draft", "proposed", "active", "retired" };

//  Allowed transitions: [from][to].
static const bool s_transitions [5][5] = {
    [CW_PLAN_DRAFT] = { [CW_PLAN_PROPOSED] = true, [CW_PLAN_ACTIVE] = true,
                        [CW_PLAN_RETIRED] = true },
    [CW_PLAN_PROPOSED] = { [CW_PLAN_ACTIVE] = true, [CW_PLAN_RETIRED] = true },
    [CW_PLAN_ACTIVE] = { [CW_PLAN_RETIRED] = true },
};

struct _cw_plan_t {
    uint8_t user_id [CW_ID_BYTES];      /* owner; zero until stored */
    uint32_t version;                   /* 0 until stored */
    cw_plan_state_t state;
    char reason [16];                   /* why retired */
    uint64_t start_ms;                  /* schedule origin; 0 = when activated */
    uint64_t created_ms;
    size_t n_goals;
    cw_goal_t goals [CW_PLAN_MAX_GOALS];
};

struct _cw_plans_t {
    cw_store_t *store;                  /* not owned */
    sqlite3 *db;                        /* the store's connection */
};

const cw_goal_type_info_t *
cw_goal_types (size_t *count)
{
    if (count)
        *count = CW_GOAL_TYPE_COUNT;
    return s_goal_types;
}

const cw_goal_type_info_t *
cw_goal_type_find (const char *name)
{
    for (size_t i = 0; name && i < CW_GOAL_TYPE_COUNT; i++)
        if (strcmp (s_goal_types [i].name, name) == 0)
            return &s_goal_types [i];
    return NULL;
}

const cw_goal_type_info_t *
cw_goal_type_info (cw_goal_type_t type)
{
    return (int) type >= 0 && type < CW_GOAL_TYPE_COUNT ? &s_goal_types [type] : NULL;
}

const char *
cw_goal_kind_name (cw_goal_kind_t kind)
{
    return kind >= CW_GOAL_KIND_RANGE && kind <= CW_GOAL_KIND_BAND ? s_kind_names [kind] : NULL;
}

const char *
cw_plan_state_name (cw_plan_state_t state)
{
    return state >= CW_PLAN_DRAFT && state <= CW_PLAN_RETIRED ? s_state_names [state] : NULL;
}

bool
cw_plan_transition_valid (cw_plan_state_t from, cw_plan_state_t to)
{
    if (from < CW_PLAN_DRAFT || from > CW_PLAN_RETIRED || to < CW_PLAN_DRAFT
        || to > CW_PLAN_RETIRED)
        return false;
    return s_transitions [from][to];
}

cw_plan_t *
cw_plan_new (void)
{
    cw_plan_t *self = calloc (1, sizeof *self);
    if (self)
        self->state = CW_PLAN_DRAFT;
    return self;
}

void
cw_plan_destroy (cw_plan_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

const uint8_t *cw_plan_user (const cw_plan_t *self) { return self->user_id; }
uint32_t cw_plan_version (const cw_plan_t *self) { return self->version; }
cw_plan_state_t cw_plan_state (const cw_plan_t *self) { return self->state; }
const char *cw_plan_reason (const cw_plan_t *self) { return self->reason; }
uint64_t cw_plan_start (const cw_plan_t *self) { return self->start_ms; }
uint64_t cw_plan_created (const cw_plan_t *self) { return self->created_ms; }
size_t cw_plan_goal_count (const cw_plan_t *self) { return self->n_goals; }
void cw_plan_set_start (cw_plan_t *self, uint64_t start_ms) { self->start_ms = start_ms; }

const cw_goal_t *
cw_plan_goal (const cw_plan_t *self, size_t i)
{
    return i < self->n_goals ? &self->goals [i] : NULL;
}

const cw_goal_t *
cw_plan_goal_of (const cw_plan_t *self, cw_goal_type_t type)
{
    for (size_t i = 0; i < self->n_goals; i++)
        if (self->goals [i].type == type)
            return &self->goals [i];
    return NULL;
}

//  NULL when goal is valid, else the reason.
static const char *
s_goal_invalid (const cw_goal_t *goal)
{
    const cw_goal_type_info_t *info = cw_goal_type_info (goal->type);
    if (!info)
        return "unknown goal type";
    bool has_lo = info->kind != CW_GOAL_KIND_MAX, has_hi = info->kind != CW_GOAL_KIND_MIN;
    if ((has_lo && (!isfinite (goal->lo) || goal->lo < info->min_value
                    || goal->lo > info->max_value))
        || (has_hi && (!isfinite (goal->hi) || goal->hi < info->min_value
                       || goal->hi > info->max_value)))
        return "target outside the plausible range of this goal type";
    if (has_lo && has_hi && goal->lo > goal->hi)
        return "low target is above the high target";
    if (!isfinite (goal->step) || (goal->step != 0 && goal->period_days == 0))
        return "schedule needs a period";
    if (goal->step != 0 && (fabs (goal->step) < 0.001
                            || (!goal->step_percent && fabs (goal->step) > info->max_value)))
        return "schedule step is too small or larger than the goal's plausible range";
    if (goal->step_percent && (goal->step <= -50 || goal->step > 100))
        return "schedule percent step must be above -50 and at most 100";
    return NULL;
}

int
cw_plan_goal_set (cw_plan_t *self, const cw_goal_t *goal)
{
    if (!self || !goal || s_goal_invalid (goal))
        return CW_EINVAL;
    for (size_t i = 0; i < self->n_goals; i++)
        if (self->goals [i].type == goal->type) {
            self->goals [i] = *goal;
            return CW_OK;
        }
    if (self->n_goals == CW_PLAN_MAX_GOALS)
        return CW_ENOSPC;
    self->goals [self->n_goals++] = *goal;
    return CW_OK;
}

//  ---- Targets --------------------------------------------------------------------------

static double
s_moved (const cw_goal_t *goal, double value, uint64_t steps)
{
    if (goal->step_percent)
        return value * pow (1.0 + goal->step / 100.0, (double) steps);
    return value + goal->step * (double) steps;
}

void
cw_goal_target_at (const cw_goal_t *goal, uint64_t start_ms, uint64_t at_ms, double *lo,
                   double *hi)
{
    uint64_t steps = 0;
    if (goal->step != 0 && goal->period_days > 0 && start_ms > 0 && at_ms > start_ms) {
        steps = (at_ms - start_ms) / ((uint64_t) goal->period_days * 86400000u);
        if (goal->times && steps > goal->times)
            steps = goal->times;
    }
    if (lo)
        *lo = s_moved (goal, goal->lo, steps);
    if (hi)
        *hi = s_moved (goal, goal->hi, steps);
}

bool
cw_goal_met (const cw_goal_t *goal, double lo, double hi, double value)
{
    const cw_goal_type_info_t *info = cw_goal_type_info (goal->type);
    if (!info || !isfinite (value))
        return false;
    switch (info->kind) {
        case CW_GOAL_KIND_MIN: return value >= lo;
        case CW_GOAL_KIND_MAX: return value <= hi;
        case CW_GOAL_KIND_RANGE:
        case CW_GOAL_KIND_BAND: return value >= lo && value <= hi;
    }
    return false;
}

//  ---- The plan file --------------------------------------------------------------------

typedef struct {
    cw_plan_t *plan;
    bool scheduled [CW_GOAL_TYPE_COUNT];
    bool started;
} s_parse_t;

typedef int (s_keyword_fn) (s_parse_t *p, char **w, int n, uint32_t line,
                            cw_parse_error_t *err);

//  Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
static int64_t
s_days_from_civil (int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int
s_kw_start (s_parse_t *p, char **w, int n, uint32_t line, cw_parse_error_t *err)
{
    (void) n;
    const char *s = w [1];
    uint64_t y = 0, m = 0, d = 0;
    char part [8];
    bool ok = strlen (s) == 10 && s [4] == '-' && s [7] == '-';
    if (ok) {
        memcpy (part, s, 4), part [4] = '\0';
        ok = cw_parse_uint (part, 9999, &y);
        memcpy (part, s + 5, 2), part [2] = '\0';
        ok = ok && cw_parse_uint (part, 12, &m);
        memcpy (part, s + 8, 2), part [2] = '\0';
        ok = ok && cw_parse_uint (part, 31, &d);
    }
    static const int mdays [] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (!ok || y < 2000 || m < 1 || d < 1 || d > (uint64_t) mdays [m - 1]) {
        cw_parse_fail (err, line, "start: expected a date YYYY-MM-DD from 2000 on, got '%s'", s);
        return CW_EINVAL;
    }
    if (p->started) {
        cw_parse_fail (err, line, "start given twice");
        return CW_EINVAL;
    }
    int64_t days = s_days_from_civil ((int64_t) y, (int64_t) m, (int64_t) d);
    if (m == 2 && d == 29 && s_days_from_civil ((int64_t) y, 3, 1) - days != 1) {
        cw_parse_fail (err, line, "start: %s is not a date", s);
        return CW_EINVAL;
    }
    p->plan->start_ms = (uint64_t) days * 86400000u;
    p->started = true;
    return CW_OK;
}

static int
s_kw_goal (s_parse_t *p, char **w, int n, uint32_t line, cw_parse_error_t *err)
{
    const cw_goal_type_info_t *info = cw_goal_type_find (w [1]);
    if (!info) {
        cw_parse_fail (err, line, "unknown goal type '%s'", w [1]);
        return CW_EINVAL;
    }
    const char *kind = cw_goal_kind_name (info->kind);
    if (strcmp (w [2], kind) != 0) {
        cw_parse_fail (err, line, "goal %s is a %s goal, not '%s'", info->name, kind, w [2]);
        return CW_EINVAL;
    }
    int values = info->kind == CW_GOAL_KIND_RANGE || info->kind == CW_GOAL_KIND_BAND ? 2 : 1;
    if (n != 3 + values + 1) {
        cw_parse_fail (err, line, "goal %s %s takes %d value%s and the unit %s", info->name,
                       kind, values, values == 2 ? "s" : "", info->unit);
        return CW_EINVAL;
    }
    if (strcmp (w [3 + values], info->unit) != 0) {
        cw_parse_fail (err, line, "goal %s is in %s, not '%s'", info->name, info->unit,
                       w [3 + values]);
        return CW_EINVAL;
    }
    double v [2] = { 0, 0 };
    for (int i = 0; i < values; i++)
        if (!cw_parse_number (w [3 + i], &v [i])) {
            cw_parse_fail (err, line, "'%s' is not a number", w [3 + i]);
            return CW_EINVAL;
        }
    if (cw_plan_goal_of (p->plan, info->type)) {
        cw_parse_fail (err, line, "goal %s given twice", info->name);
        return CW_EINVAL;
    }
    cw_goal_t goal = { .type = info->type };
    if (info->kind == CW_GOAL_KIND_MIN)
        goal.lo = v [0];
    else if (info->kind == CW_GOAL_KIND_MAX)
        goal.hi = v [0];
    else
        goal.lo = v [0], goal.hi = v [1];
    const char *why = s_goal_invalid (&goal);
    if (why) {
        cw_parse_fail (err, line, "goal %s: %s (%g .. %g %s)", info->name, why, info->min_value,
                       info->max_value, info->unit);
        return CW_EINVAL;
    }
    if (p->plan->n_goals == CW_PLAN_MAX_GOALS) {
        cw_parse_fail (err, line, "more than %d goals", CW_PLAN_MAX_GOALS);
        return CW_EINVAL;
    }
    p->plan->goals [p->plan->n_goals++] = goal;
    return CW_OK;
}

//  schedule NAME STEP every N(d|w) [times K]
static int
s_kw_schedule (s_parse_t *p, char **w, int n, uint32_t line, cw_parse_error_t *err)
{
    const cw_goal_type_info_t *info = cw_goal_type_find (w [1]);
    if (!info) {
        cw_parse_fail (err, line, "unknown goal type '%s'", w [1]);
        return CW_EINVAL;
    }
    cw_goal_t *goal = NULL;
    for (size_t i = 0; i < p->plan->n_goals; i++)
        if (p->plan->goals [i].type == info->type)
            goal = &p->plan->goals [i];
    if (!goal) {
        cw_parse_fail (err, line, "schedule for %s before any 'goal %s' line", info->name,
                       info->name);
        return CW_EINVAL;
    }
    if (p->scheduled [info->type]) {
        cw_parse_fail (err, line, "schedule for %s given twice", info->name);
        return CW_EINVAL;
    }
    if (n != 5 && n != 7) {
        cw_parse_fail (err, line, "expected: schedule %s +N%% every N(d|w) [times K]",
                       info->name);
        return CW_EINVAL;
    }
    char step [32];
    size_t len = strlen (w [2]);
    bool percent = len > 0 && w [2][len - 1] == '%';
    if (len >= sizeof step || (w [2][0] != '+' && w [2][0] != '-')) {
        cw_parse_fail (err, line, "step '%s' must start with + or -", w [2]);
        return CW_EINVAL;
    }
    memcpy (step, w [2], len - (percent ? 1 : 0));
    step [len - (percent ? 1 : 0)] = '\0';
    double value = 0;
    if (!cw_parse_number (step, &value) || value == 0) {
        cw_parse_fail (err, line, "step '%s' is not a non-zero number", w [2]);
        return CW_EINVAL;
    }
    if (strcmp (w [3], "every") != 0) {
        cw_parse_fail (err, line, "expected 'every' after the step, got '%s'", w [3]);
        return CW_EINVAL;
    }
    size_t plen = strlen (w [4]);
    uint64_t count = 0;
    char digits [16];
    char unit = plen ? w [4][plen - 1] : '\0';
    bool ok = plen >= 2 && plen < sizeof digits && (unit == 'd' || unit == 'w');
    if (ok) {
        memcpy (digits, w [4], plen - 1);
        digits [plen - 1] = '\0';
        ok = cw_parse_uint (digits, 366, &count) && count > 0;
    }
    uint64_t days = unit == 'w' ? count * 7u : count;
    if (!ok || days > 366) {
        cw_parse_fail (err, line, "period '%s': expected days or weeks, e.g. 14d or 2w, "
                       "at most a year", w [4]);
        return CW_EINVAL;
    }
    uint64_t times = 0;
    if (n == 7) {
        if (strcmp (w [5], "times") != 0 || !cw_parse_uint (w [6], 1000, &times) || !times) {
            cw_parse_fail (err, line, "expected 'times K' (1 .. 1000) after the period");
            return CW_EINVAL;
        }
    }
    cw_goal_t moved = *goal;
    moved.step = value;
    moved.step_percent = percent;
    moved.period_days = (uint32_t) days;
    moved.times = (uint32_t) times;
    const char *why = s_goal_invalid (&moved);
    if (why) {
        cw_parse_fail (err, line, "schedule for %s: %s", info->name, why);
        return CW_EINVAL;
    }
    *goal = moved;
    p->scheduled [info->type] = true;
    return CW_OK;
}

//  The plan file's keywords: name, handler, fewest and most words (keyword included).
static const struct {
    const char *name;
    s_keyword_fn *fn;
    int min_words, max_words;
} s_keywords [] = {
    { "start", s_kw_start, 2, 2 },
    { "goal", s_kw_goal, 4, 6 },
    { "schedule", s_kw_schedule, 5, 7 },
};

int
cw_plan_parse (const char *text, size_t len, cw_plan_t **out, cw_parse_error_t *err)
{
    if (!out || (!text && len))
        return CW_EINVAL;
    *out = NULL;
    if (err)
        memset (err, 0, sizeof *err);
    int rc = cw_parse_check_size (len, err);
    if (rc != CW_OK)
        return rc;
    s_parse_t p = { .plan = cw_plan_new () };
    if (!p.plan)
        return CW_ENOMEM;
    cw_lines_t lines;
    cw_lines_init (&lines, text, len);
    int got;
    while ((got = cw_lines_next (&lines)) == 1) {
        char original [CW_PLAN_LINE_MAX + 1];
        memcpy (original, lines.line, sizeof original);
        char *w [CW_ENGINE_MAX_WORDS];
        int n = cw_words_split (lines.line, original, w, NULL, 8);
        if (n == 0)
            continue;
        if (n < 0) {
            cw_parse_fail (err, lines.lineno, "too many words");
            rc = CW_EINVAL;
            goto done;
        }
        size_t k = 0, nk = sizeof s_keywords / sizeof s_keywords [0];
        while (k < nk && strcmp (s_keywords [k].name, w [0]) != 0)
            k++;
        if (k == nk) {
            cw_parse_fail (err, lines.lineno, "unknown keyword '%s' (expected start, goal or "
                           "schedule)", w [0]);
            rc = CW_EINVAL;
            goto done;
        }
        if (n < s_keywords [k].min_words || n > s_keywords [k].max_words) {
            cw_parse_fail (err, lines.lineno, "%s: wrong number of words (%d)", w [0], n);
            rc = CW_EINVAL;
            goto done;
        }
        if ((rc = s_keywords [k].fn (&p, w, n, lines.lineno, err)) != CW_OK)
            goto done;
    }
    if (got == CW_ETOOBIG) {
        cw_parse_fail (err, lines.lineno, "line longer than %d bytes", CW_PLAN_LINE_MAX);
        rc = CW_EINVAL;
    }
    else if (got < 0) {
        cw_parse_fail (err, lines.lineno, "control character or NUL byte in the line");
        rc = CW_EINVAL;
    }
    else if (p.plan->n_goals == 0) {
        cw_parse_fail (err, 0, "the plan has no goal");
        rc = CW_EINVAL;
    }
done:
    if (rc != CW_OK)
        cw_plan_destroy (&p.plan);
    *out = p.plan;
    return rc;
}

//  Appends to a growing buffer; false when out of memory.
typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
} s_text_t;

static void
s_text_add (s_text_t *t, const char *fmt, ...) __attribute__((format (printf, 2, 3)));

static void
s_text_add (s_text_t *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    va_list ap;
    va_start (ap, fmt);
    char line [CW_PLAN_LINE_MAX + 1];
    int n = vsnprintf (line, sizeof line, fmt, ap);
    va_end (ap);
    if (n < 0 || (size_t) n >= sizeof line) {
        t->failed = true;
        return;
    }
    if (t->len + (size_t) n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 512;
        while (cap < t->len + (size_t) n + 1)
            cap *= 2;
        char *grown = realloc (t->buf, cap);
        if (!grown) {
            t->failed = true;
            return;
        }
        t->buf = grown;
        t->cap = cap;
    }
    memcpy (t->buf + t->len, line, (size_t) n + 1);
    t->len += (size_t) n;
}

int
cw_plan_text (const cw_plan_t *self, char **text)
{
    if (!self || !text)
        return CW_EINVAL;
    *text = NULL;
    s_text_t t = { 0 };
    if (self->start_ms) {
        time_t s = (time_t) (self->start_ms / 1000u);
        struct tm tm;
        if (gmtime_r (&s, &tm))
            s_text_add (&t, "start %04d-%02d-%02d\n", tm.tm_year + 1900, tm.tm_mon + 1,
                        tm.tm_mday);
    }
    for (size_t i = 0; i < self->n_goals; i++) {
        const cw_goal_t *g = &self->goals [i];
        const cw_goal_type_info_t *info = cw_goal_type_info (g->type);
        if (info->kind == CW_GOAL_KIND_MIN)
            s_text_add (&t, "goal %s min %.15g %s\n", info->name, g->lo, info->unit);
        else if (info->kind == CW_GOAL_KIND_MAX)
            s_text_add (&t, "goal %s max %.15g %s\n", info->name, g->hi, info->unit);
        else
            s_text_add (&t, "goal %s %s %.15g %.15g %s\n", info->name,
                        cw_goal_kind_name (info->kind), g->lo, g->hi, info->unit);
    }
    for (size_t i = 0; i < self->n_goals; i++) {
        const cw_goal_t *g = &self->goals [i];
        if (g->step == 0)
            continue;
        const cw_goal_type_info_t *info = cw_goal_type_info (g->type);
        s_text_add (&t, "schedule %s %+.17g%s every %ud", info->name, g->step,
                    g->step_percent ? "%" : "", g->period_days);
        if (g->times)
            s_text_add (&t, " times %u", g->times);
        s_text_add (&t, "\n");
    }
    if (t.failed || !t.buf) {
        free (t.buf);
        return t.failed ? CW_ENOMEM : CW_EINVAL;
    }
    *text = t.buf;
    return CW_OK;
}

//  ---- The store ------------------------------------------------------------------------

static const char s_schema [] =
    "CREATE TABLE IF NOT EXISTS plans ("
    "  user_id BLOB NOT NULL, version INTEGER NOT NULL, state INTEGER NOT NULL,"
    "  reason TEXT NOT NULL DEFAULT '', start_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
    "  changed_ms INTEGER NOT NULL, PRIMARY KEY (user_id, version));"
    "CREATE UNIQUE INDEX IF NOT EXISTS plans_one_active ON plans (user_id) WHERE state = 3;"
    "CREATE TABLE IF NOT EXISTS goals ("
    "  user_id BLOB NOT NULL, version INTEGER NOT NULL, goal TEXT NOT NULL, lo REAL NOT NULL,"
    "  hi REAL NOT NULL, step REAL NOT NULL, step_percent INTEGER NOT NULL,"
    "  period_days INTEGER NOT NULL, times INTEGER NOT NULL,"
    "  PRIMARY KEY (user_id, version, goal));"
    "CREATE TABLE IF NOT EXISTS goal_progress ("
    "  user_id BLOB NOT NULL, version INTEGER NOT NULL, goal TEXT NOT NULL,"
    "  window_start_ms INTEGER NOT NULL, window_end_ms INTEGER NOT NULL, observed REAL NOT NULL,"
    "  target_lo REAL NOT NULL, target_hi REAL NOT NULL, met INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS goal_progress_by_goal"
    "  ON goal_progress (user_id, goal, window_end_ms);";

int
cw_plans_open (cw_plans_t **out, cw_store_t *store)
{
    if (!out || !store)
        return CW_EINVAL;
    *out = NULL;
    cw_plans_t *self = calloc (1, sizeof *self);
    if (!self)
        return CW_ENOMEM;
    self->store = store;
    self->db = cw_store_sqlite (store);
    int rc = cw_sql_exec (self->db, s_schema);
    if (rc != CW_OK)
        cw_plans_destroy (&self);
    *out = self;
    return rc;
}

void
cw_plans_destroy (cw_plans_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

static int
s_set_state (cw_plans_t *self, const uint8_t *user_id, uint32_t version, cw_plan_state_t to,
             const char *reason, uint64_t now_ms)
{
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_prepare (self->db,
        "UPDATE plans SET state = ?3, reason = ?4, changed_ms = ?5,"
        " start_ms = CASE WHEN ?3 = 3 AND start_ms = 0 THEN ?5 ELSE start_ms END"
        " WHERE user_id = ?1 AND version = ?2", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, version);
    sqlite3_bind_int (st, 3, (int) to);
    sqlite3_bind_text (st, 4, reason ? reason : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 5, (sqlite3_int64) now_ms);
    return cw_sql_step_done (st);
}

//  Retires the person's active plan, if any, as superseded.
static int
s_retire_active (cw_plans_t *self, const uint8_t *user_id, uint64_t now_ms)
{
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_prepare (self->db,
        "UPDATE plans SET state = 4, reason = 'superseded', changed_ms = ?2"
        " WHERE user_id = ?1 AND state = 3", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, (sqlite3_int64) now_ms);
    return cw_sql_step_done (st);
}

static int
s_state_of (cw_plans_t *self, const uint8_t *user_id, uint32_t version, cw_plan_state_t *state)
{
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_prepare (self->db,
        "SELECT state FROM plans WHERE user_id = ?1 AND version = ?2", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, version);
    int r = sqlite3_step (st);
    if (r == SQLITE_ROW)
        *state = (cw_plan_state_t) sqlite3_column_int (st, 0);
    else
        rc = r == SQLITE_DONE ? CW_ENOENT : cw_sql_rc (r);
    sqlite3_finalize (st);
    return rc;
}

int
cw_plans_put (cw_plans_t *self, const uint8_t *user_id, cw_plan_t *plan, cw_plan_state_t state,
              uint64_t now_ms, uint32_t *version)
{
    if (!self || !user_id || !plan || plan->n_goals == 0
        || (state != CW_PLAN_DRAFT && state != CW_PLAN_PROPOSED && state != CW_PLAN_ACTIVE))
        return CW_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_savepoint (self->db, "plans_put");
    if (rc != CW_OK)
        return rc;
    uint32_t next = 1;
    if ((rc = cw_sql_prepare (self->db,
             "SELECT COALESCE (MAX (version), 0) + 1 FROM plans WHERE user_id = ?1", &st))
        != CW_OK)
        goto done;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    if (sqlite3_step (st) == SQLITE_ROW)
        next = (uint32_t) sqlite3_column_int64 (st, 0);
    sqlite3_finalize (st);
    st = NULL;
    if (state == CW_PLAN_ACTIVE && (rc = s_retire_active (self, user_id, now_ms)) != CW_OK)
        goto done;
    uint64_t start = plan->start_ms;
    if (state == CW_PLAN_ACTIVE && start == 0)
        start = now_ms;
    if ((rc = cw_sql_prepare (self->db,
             "INSERT INTO plans (user_id, version, state, start_ms, created_ms, changed_ms)"
             " VALUES (?1, ?2, ?3, ?4, ?5, ?5)", &st)) != CW_OK)
        goto done;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, next);
    sqlite3_bind_int (st, 3, (int) state);
    sqlite3_bind_int64 (st, 4, (sqlite3_int64) start);
    sqlite3_bind_int64 (st, 5, (sqlite3_int64) now_ms);
    rc = cw_sql_step_done (st);
    st = NULL;
    for (size_t i = 0; rc == CW_OK && i < plan->n_goals; i++) {
        const cw_goal_t *g = &plan->goals [i];
        if ((rc = cw_sql_prepare (self->db,
                 "INSERT INTO goals VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", &st)) != CW_OK)
            break;
        sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_int64 (st, 2, next);
        sqlite3_bind_text (st, 3, cw_goal_type_info (g->type)->name, -1, SQLITE_STATIC);
        sqlite3_bind_double (st, 4, g->lo);
        sqlite3_bind_double (st, 5, g->hi);
        sqlite3_bind_double (st, 6, g->step);
        sqlite3_bind_int (st, 7, g->step_percent);
        sqlite3_bind_int64 (st, 8, g->period_days);
        sqlite3_bind_int64 (st, 9, g->times);
        rc = cw_sql_step_done (st);
        st = NULL;
    }
done:
    sqlite3_finalize (st);
    if (rc == CW_OK)
        rc = cw_sql_release (self->db, "plans_put");
    if (rc != CW_OK)
        cw_sql_rollback_to (self->db, "plans_put");
    else {
        memcpy (plan->user_id, user_id, CW_ID_BYTES);
        plan->version = next;
        plan->state = state;
        plan->start_ms = start;
        plan->created_ms = now_ms;
        plan->reason [0] = '\0';
        if (version)
            *version = next;
    }
    return rc;
}

int
cw_plans_transition (cw_plans_t *self, const uint8_t *user_id, uint32_t version,
                     cw_plan_state_t to, const char *reason, uint64_t now_ms)
{
    if (!self || !user_id)
        return CW_EINVAL;
    int rc = cw_sql_savepoint (self->db, "plans_state");
    if (rc != CW_OK)
        return rc;
    cw_plan_state_t from = 0;
    if ((rc = s_state_of (self, user_id, version, &from)) != CW_OK)
        goto done;
    if (!cw_plan_transition_valid (from, to)) {
        rc = CW_ESTATE;
        goto done;
    }
    if (to == CW_PLAN_ACTIVE && (rc = s_retire_active (self, user_id, now_ms)) != CW_OK)
        goto done;
    rc = s_set_state (self, user_id, version, to,
                      to == CW_PLAN_RETIRED ? (reason ? reason : "ended") : "", now_ms);
done:
    if (rc == CW_OK)
        rc = cw_sql_release (self->db, "plans_state");
    if (rc != CW_OK)
        cw_sql_rollback_to (self->db, "plans_state");
    return rc;
}

static int
s_review (cw_plans_t *self, const uint8_t *user_id, uint32_t version, cw_plan_state_t to,
          const char *reason, uint64_t now_ms)
{
    cw_plan_state_t from = 0;
    int rc = self && user_id ? s_state_of (self, user_id, version, &from) : CW_EINVAL;
    if (rc != CW_OK)
        return rc;
    if (from != CW_PLAN_PROPOSED)
        return CW_ESTATE;
    return cw_plans_transition (self, user_id, version, to, reason, now_ms);
}

int
cw_plans_approve (cw_plans_t *self, const uint8_t *user_id, uint32_t version, uint64_t now_ms)
{
    return s_review (self, user_id, version, CW_PLAN_ACTIVE, NULL, now_ms);
}

int
cw_plans_reject (cw_plans_t *self, const uint8_t *user_id, uint32_t version, uint64_t now_ms)
{
    return s_review (self, user_id, version, CW_PLAN_RETIRED, "rejected", now_ms);
}

//  Loads the plan chosen by `where` (a condition on plans with ?1 = user_id, ?2 = arg).
static int
s_load (cw_plans_t *self, const uint8_t *user_id, const char *where, int64_t arg,
        cw_plan_t **out)
{
    if (!self || !user_id || !out)
        return CW_EINVAL;
    *out = NULL;
    char sql [320];
    snprintf (sql, sizeof sql, "SELECT version, state, reason, start_ms, created_ms FROM plans"
              " WHERE user_id = ?1 AND %s ORDER BY version DESC LIMIT 1", where);
    sqlite3_stmt *st = NULL;
    cw_plan_t *plan = NULL;
    int rc = cw_sql_prepare (self->db, sql, &st);
    if (rc != CW_OK)
        goto done;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, arg);
    int r = sqlite3_step (st);
    if (r != SQLITE_ROW) {
        rc = r == SQLITE_DONE ? CW_ENOENT : cw_sql_rc (r);
        goto done;
    }
    if (!(plan = cw_plan_new ())) {
        rc = CW_ENOMEM;
        goto done;
    }
    memcpy (plan->user_id, user_id, CW_ID_BYTES);
    plan->version = (uint32_t) sqlite3_column_int64 (st, 0);
    plan->state = (cw_plan_state_t) sqlite3_column_int (st, 1);
    const unsigned char *reason = sqlite3_column_text (st, 2);
    snprintf (plan->reason, sizeof plan->reason, "%s", reason ? (const char *) reason : "");
    plan->start_ms = (uint64_t) sqlite3_column_int64 (st, 3);
    plan->created_ms = (uint64_t) sqlite3_column_int64 (st, 4);
    sqlite3_finalize (st);
    if ((rc = cw_sql_prepare (self->db,
             "SELECT goal, lo, hi, step, step_percent, period_days, times FROM goals"
             " WHERE user_id = ?1 AND version = ?2 ORDER BY rowid", &st)) != CW_OK)
        goto done;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, plan->version);
    while ((r = sqlite3_step (st)) == SQLITE_ROW && plan->n_goals < CW_PLAN_MAX_GOALS) {
        const cw_goal_type_info_t *info =
            cw_goal_type_find ((const char *) sqlite3_column_text (st, 0));
        if (!info)
            continue;           // a goal type from a newer version of the service
        cw_goal_t *g = &plan->goals [plan->n_goals++];
        g->type = info->type;
        g->lo = sqlite3_column_double (st, 1);
        g->hi = sqlite3_column_double (st, 2);
        g->step = sqlite3_column_double (st, 3);
        g->step_percent = sqlite3_column_int (st, 4) != 0;
        g->period_days = (uint32_t) sqlite3_column_int64 (st, 5);
        g->times = (uint32_t) sqlite3_column_int64 (st, 6);
    }
    if (r != SQLITE_ROW && r != SQLITE_DONE)
        rc = cw_sql_rc (r);
done:
    sqlite3_finalize (st);
    if (rc != CW_OK)
        cw_plan_destroy (&plan);
    *out = plan;
    return rc;
}

int
cw_plans_get (cw_plans_t *self, const uint8_t *user_id, uint32_t version, cw_plan_t **out)
{
    return s_load (self, user_id, version ? "version = ?2" : "?2 = 0", version, out);
}

int
cw_plans_active (cw_plans_t *self, const uint8_t *user_id, cw_plan_t **out)
{
    return s_load (self, user_id, "state = ?2", CW_PLAN_ACTIVE, out);
}

int
cw_plans_latest (cw_plans_t *self, const uint8_t *user_id, cw_plan_state_t state,
                 cw_plan_t **out)
{
    return s_load (self, user_id, "state = ?2", (int64_t) state, out);
}

int
cw_plans_progress_add (cw_plans_t *self, const uint8_t *user_id, uint32_t version,
                       cw_goal_type_t goal, uint64_t window_start_ms, uint64_t window_end_ms,
                       double observed, cw_progress_t *out)
{
    if (!self || !user_id || !cw_goal_type_info (goal) || !isfinite (observed)
        || window_end_ms < window_start_ms)
        return CW_EINVAL;
    cw_plan_t *plan = NULL;
    sqlite3_stmt *st = NULL;
    int rc = cw_plans_get (self, user_id, version, &plan);
    if (rc != CW_OK)
        goto done;
    const cw_goal_t *g = cw_plan_goal_of (plan, goal);
    if (!g) {
        rc = CW_ENOENT;
        goto done;
    }
    cw_progress_t row = { .version = plan->version, .goal = goal,
                          .window_start_ms = window_start_ms, .window_end_ms = window_end_ms,
                          .observed = observed };
    cw_goal_target_at (g, plan->start_ms, window_end_ms, &row.target_lo, &row.target_hi);
    row.met = cw_goal_met (g, row.target_lo, row.target_hi, observed);
    if ((rc = cw_sql_prepare (self->db,
             "INSERT INTO goal_progress VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", &st))
        != CW_OK)
        goto done;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, row.version);
    sqlite3_bind_text (st, 3, cw_goal_type_info (goal)->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 4, (sqlite3_int64) window_start_ms);
    sqlite3_bind_int64 (st, 5, (sqlite3_int64) window_end_ms);
    sqlite3_bind_double (st, 6, observed);
    sqlite3_bind_double (st, 7, row.target_lo);
    sqlite3_bind_double (st, 8, row.target_hi);
    sqlite3_bind_int (st, 9, row.met);
    rc = cw_sql_step_done (st);
    st = NULL;
    if (rc == CW_OK && out)
        *out = row;
done:
    sqlite3_finalize (st);
    cw_plan_destroy (&plan);
    return rc;
}

int
cw_plans_progress_each (cw_plans_t *self, const uint8_t *user_id, cw_goal_type_t goal,
                        uint64_t since_ms, size_t limit, cw_goal_progress_fn fn, void *ctx)
{
    if (!self || !user_id || !fn || !cw_goal_type_info (goal))
        return CW_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_prepare (self->db,
        "SELECT version, window_start_ms, window_end_ms, observed, target_lo, target_hi, met"
        " FROM goal_progress WHERE user_id = ?1 AND goal = ?2 AND window_end_ms >= ?3"
        " ORDER BY window_end_ms, rowid LIMIT ?4", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_text (st, 2, cw_goal_type_info (goal)->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 3, (sqlite3_int64) since_ms);
    sqlite3_bind_int64 (st, 4, limit ? (sqlite3_int64) limit : -1);
    int r;
    while ((r = sqlite3_step (st)) == SQLITE_ROW) {
        cw_progress_t row = {
            .version = (uint32_t) sqlite3_column_int64 (st, 0), .goal = goal,
            .window_start_ms = (uint64_t) sqlite3_column_int64 (st, 1),
            .window_end_ms = (uint64_t) sqlite3_column_int64 (st, 2),
            .observed = sqlite3_column_double (st, 3),
            .target_lo = sqlite3_column_double (st, 4),
            .target_hi = sqlite3_column_double (st, 5),
            .met = sqlite3_column_int (st, 6) != 0 };
        fn (ctx, &row);
    }
    rc = r == SQLITE_DONE ? CW_OK : cw_sql_rc (r);
    sqlite3_finalize (st);
    return rc;
}

int
cw_plans_propose_progression (cw_plans_t *self, const uint8_t *user_id, cw_goal_type_t goal,
                              size_t n, uint64_t now_ms, bool *proposed, uint32_t *version)
{
    const cw_goal_type_info_t *info = cw_goal_type_info (goal);
    if (!self || !user_id || !info || n == 0 || !proposed)
        return CW_EINVAL;
    *proposed = false;
    cw_plan_t *active = NULL, *pending = NULL;
    sqlite3_stmt *st = NULL;
    int rc = cw_plans_active (self, user_id, &active);
    if (rc != CW_OK)
        goto done;
    const cw_goal_t *g = cw_plan_goal_of (active, goal);
    if (!g) {
        rc = CW_ENOENT;
        goto done;
    }
    if (info->progress_sign == 0)
        goto done;
    rc = cw_plans_latest (self, user_id, CW_PLAN_PROPOSED, &pending);
    if (rc == CW_OK)
        goto done;              // one proposal at a time: the coach reviews it first
    if (rc != CW_ENOENT)
        goto done;
    rc = CW_OK;
    //  The evidence: the last n windows of this goal under the active plan.
    if ((rc = cw_sql_prepare (self->db,
             "SELECT COUNT (*), COALESCE (SUM (met), 0) FROM (SELECT met FROM goal_progress"
             " WHERE user_id = ?1 AND goal = ?2 AND version = ?3"
             " ORDER BY window_end_ms DESC, rowid DESC LIMIT ?4)", &st)) != CW_OK)
        goto done;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_text (st, 2, info->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 3, active->version);
    sqlite3_bind_int64 (st, 4, (sqlite3_int64) n);
    int64_t rows = 0, met = 0;
    if (sqlite3_step (st) == SQLITE_ROW) {
        rows = sqlite3_column_int64 (st, 0);
        met = sqlite3_column_int64 (st, 1);
    }
    sqlite3_finalize (st);
    st = NULL;
    if ((size_t) rows < n || (uint64_t) met * 100u < (uint64_t) rows * CW_PROGRESSION_MET_PERCENT)
        goto done;
    //  The new version: today's targets moved one progression step, the schedule from now.
    cw_goal_t next = *g;
    cw_goal_target_at (g, active->start_ms, now_ms, &next.lo, &next.hi);
    double factor = 1.0 + info->progress_sign * CW_PROGRESSION_STEP_PERCENT / 100.0;
    next.lo *= factor;
    next.hi *= factor;
    if (next.lo > info->max_value || next.hi > info->max_value || next.lo < 0)
        goto done;              // at the edge of the plausible: nothing to propose
    cw_plan_t copy = *active;
    copy.start_ms = 0;          // the schedule restarts when the coach approves it
    for (size_t i = 0; i < copy.n_goals; i++) {
        cw_goal_t *c = &copy.goals [i];
        if (c->type == goal) {
            *c = next;
            continue;
        }
        //  Other goals carry on from where their schedules have taken them.
        uint64_t steps = 0;
        if (c->step != 0 && active->start_ms && now_ms > active->start_ms)
            steps = (now_ms - active->start_ms) / ((uint64_t) c->period_days * 86400000u);
        cw_goal_target_at (c, active->start_ms, now_ms, &c->lo, &c->hi);
        if (c->times && steps >= c->times)
            c->step = 0, c->period_days = 0, c->times = 0;  // its schedule has run its course
        else if (c->times)
            c->times -= (uint32_t) steps;
    }
    if ((rc = cw_plans_put (self, user_id, &copy, CW_PLAN_PROPOSED, now_ms, version)) == CW_OK)
        *proposed = true;
done:
    sqlite3_finalize (st);
    cw_plan_destroy (&active);
    cw_plan_destroy (&pending);
    return rc;
}

int
cw_plans_erase_user (cw_plans_t *self, const uint8_t *user_id, uint64_t *deleted)
{
    if (!self || !user_id)
        return CW_EINVAL;
    if (deleted)
        *deleted = 0;
    static const char *const s_sql [] = {
        "DELETE FROM goal_progress WHERE user_id = ?1",
        "DELETE FROM goals WHERE user_id = ?1",
        "DELETE FROM plans WHERE user_id = ?1",
    };
    return cw_sql_erase_user (self->db, "plans_erase", s_sql, sizeof s_sql / sizeof s_sql [0],
                              user_id, deleted);
}
