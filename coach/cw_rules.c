/*  cw_rules.c - the rules file parser, trigger evaluation and message rendering
 *  (see include/coachwire/cw_rules.h). */
#include "coachwire/cw_rules.h"
#include "coachwire/cw_catalog.h"
#include "coachwire/cw_error.h"
#include "cw_engine_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _cw_rules_t {
    size_t n;                           /* rules parsed */
    cw_rule_t rules [CW_RULES_MAX];
};

static const char *s_locale_names [CW_LOCALE_COUNT] = { "en", "ja" };
static const char *s_placeholders [] = { "observed", "target", "unit", "window" };

//  ---- The trigger table ----------------------------------------------------------------

typedef int (s_trigger_parse_fn) (cw_rule_t *rule, const cw_goal_type_info_t *goal, char **w,
                                  int n, uint32_t line, cw_parse_error_t *err);

static s_trigger_parse_fn s_parse_outside, s_parse_daily, s_parse_met;

static const struct {
    cw_trigger_t trigger;
    const char *name;
    s_trigger_parse_fn *parse;          /* arguments after GOAL */
    int args;                           /* words after the goal name */
    bool daily;                         /* on a daily total (else on a live feature) */
    const char *usage;
} s_triggers [CW_TRIGGER_COUNT] = {
    { CW_TRIGGER_OUTSIDE_GOAL, "outside_goal", s_parse_outside, 2, false,
      "trigger outside_goal GOAL below|above|outside DURATION" },
    { CW_TRIGGER_DAILY_TOTAL_BY, "daily_total_by", s_parse_daily, 2, true,
      "trigger daily_total_by GOAL below|above HH:MM" },
    { CW_TRIGGER_GOAL_MET, "goal_met", s_parse_met, 1, false,
      "trigger goal_met GOAL DURATION" },
};

static const struct {
    const char *name;
    cw_direction_t direction;
} s_directions [] = {
    { "below", CW_DIRECTION_BELOW }, { "above", CW_DIRECTION_ABOVE },
    { "outside", CW_DIRECTION_OUTSIDE },
};

const char *
cw_trigger_name (cw_trigger_t trigger)
{
    return (int) trigger >= 0 && trigger < CW_TRIGGER_COUNT ? s_triggers [trigger].name : NULL;
}

cw_locale_t
cw_locale_pick (const char *locale)
{
    return locale && strncmp (locale, "ja", 2) == 0 ? CW_LOCALE_JA : CW_LOCALE_EN;
}

const char *
cw_locale_name (cw_locale_t locale)
{
    return (int) locale >= 0 && locale < CW_LOCALE_COUNT ? s_locale_names [locale] : "en";
}

static int
s_direction (cw_rule_t *rule, const cw_goal_type_info_t *goal, const char *word, bool outside_ok,
             uint32_t line, cw_parse_error_t *err)
{
    size_t i = 0, n = sizeof s_directions / sizeof s_directions [0];
    while (i < n && strcmp (s_directions [i].name, word) != 0)
        i++;
    if (i == n || (!outside_ok && s_directions [i].direction == CW_DIRECTION_OUTSIDE)) {
        cw_parse_fail (err, line, "unknown direction '%s' (expected below%s or above)", word,
                       outside_ok ? ", outside" : "");
        return CW_EINVAL;
    }
    cw_direction_t d = s_directions [i].direction;
    bool has_lo = goal->kind != CW_GOAL_KIND_MAX, has_hi = goal->kind != CW_GOAL_KIND_MIN;
    if ((d == CW_DIRECTION_BELOW && !has_lo) || (d == CW_DIRECTION_ABOVE && !has_hi)
        || (d == CW_DIRECTION_OUTSIDE && !(has_lo && has_hi))) {
        cw_parse_fail (err, line, "goal %s is a %s goal: it has no bound to be %s", goal->name,
                       cw_goal_kind_name (goal->kind), word);
        return CW_EINVAL;
    }
    rule->direction = d;
    return CW_OK;
}

static int
s_duration (const char *word, uint64_t *ms, uint32_t line, cw_parse_error_t *err)
{
    if (!cw_parse_duration (word, ms)) {
        cw_parse_fail (err, line, "bad duration '%s' (a whole number with s, m, h or d: 60s, "
                       "10m; 1s .. 30d)", word);
        return CW_EINVAL;
    }
    return CW_OK;
}

static int
s_parse_outside (cw_rule_t *rule, const cw_goal_type_info_t *goal, char **w, int n,
                 uint32_t line, cw_parse_error_t *err)
{
    (void) n;
    int rc = s_direction (rule, goal, w [0], true, line, err);
    return rc != CW_OK ? rc : s_duration (w [1], &rule->duration_ms, line, err);
}

static int
s_parse_daily (cw_rule_t *rule, const cw_goal_type_info_t *goal, char **w, int n,
               uint32_t line, cw_parse_error_t *err)
{
    (void) n;
    int rc = s_direction (rule, goal, w [0], false, line, err);
    if (rc != CW_OK)
        return rc;
    if (!cw_parse_clock (w [1], &rule->by_minute)) {
        cw_parse_fail (err, line, "bad time of day '%s' (expected HH:MM, 00:00 .. 23:59)", w [1]);
        return CW_EINVAL;
    }
    return CW_OK;
}

static int
s_parse_met (cw_rule_t *rule, const cw_goal_type_info_t *goal, char **w, int n, uint32_t line,
             cw_parse_error_t *err)
{
    (void) goal, (void) n;
    rule->direction = CW_DIRECTION_NONE;
    return s_duration (w [0], &rule->duration_ms, line, err);
}

//  ---- Statement handlers (inside a rule block) --------------------------------------------

typedef struct {
    cw_rules_t *rules;
    cw_rule_t *rule;                    /* the open block, or NULL */
    bool has_reads, has_purpose, has_trigger, has_message [CW_LOCALE_COUNT];
    bool has_cooldown, has_priority, has_confidence;
} s_parse_t;

typedef int (s_statement_fn) (s_parse_t *p, char **w, const char **rest, int n, uint32_t line,
                              cw_parse_error_t *err);

static int
s_st_reads (s_parse_t *p, char **w, const char **rest, int n, uint32_t line,
            cw_parse_error_t *err)
{
    (void) rest;
    if (p->has_reads) {
        cw_parse_fail (err, line, "reads given twice in rule %s", p->rule->id);
        return CW_EINVAL;
    }
    if (n - 1 > CW_RULE_MAX_FIELDS) {
        cw_parse_fail (err, line, "a rule reads at most %d fields", CW_RULE_MAX_FIELDS);
        return CW_EINVAL;
    }
    for (int i = 1; i < n; i++) {
        const cw_catalog_entry_t *entry = cw_catalog_find (w [i]);
        if (!entry) {
            cw_parse_fail (err, line, "unknown field '%s' (not in the field catalog)", w [i]);
            return CW_EINVAL;
        }
        for (size_t j = 0; j < p->rule->n_fields; j++)
            if (p->rule->fields [j] == entry->name) {
                cw_parse_fail (err, line, "field %s listed twice", entry->name);
                return CW_EINVAL;
            }
        p->rule->fields [p->rule->n_fields++] = entry->name;
    }
    p->has_reads = true;
    return CW_OK;
}

static int
s_st_purpose (s_parse_t *p, char **w, const char **rest, int n, uint32_t line,
              cw_parse_error_t *err)
{
    (void) rest, (void) n;
    if (strcmp (w [1], "coaching") != 0) {
        cw_parse_fail (err, line, "unknown purpose '%s' for a rule (the engine reads only for "
                       "coaching)", w [1]);
        return CW_EINVAL;
    }
    if (p->has_purpose) {
        cw_parse_fail (err, line, "purpose given twice in rule %s", p->rule->id);
        return CW_EINVAL;
    }
    p->rule->purpose = "coaching";
    p->has_purpose = true;
    return CW_OK;
}

static int
s_st_trigger (s_parse_t *p, char **w, const char **rest, int n, uint32_t line,
              cw_parse_error_t *err)
{
    (void) rest;
    if (p->has_trigger) {
        cw_parse_fail (err, line, "trigger given twice in rule %s", p->rule->id);
        return CW_EINVAL;
    }
    size_t t = 0;
    while (t < CW_TRIGGER_COUNT && strcmp (s_triggers [t].name, w [1]) != 0)
        t++;
    if (t == CW_TRIGGER_COUNT) {
        cw_parse_fail (err, line, "unknown trigger '%s' (expected outside_goal, daily_total_by "
                       "or goal_met)", w [1]);
        return CW_EINVAL;
    }
    if (n != 3 + s_triggers [t].args) {
        cw_parse_fail (err, line, "expected: %s", s_triggers [t].usage);
        return CW_EINVAL;
    }
    const cw_goal_type_info_t *goal = cw_goal_type_find (w [2]);
    if (!goal) {
        cw_parse_fail (err, line, "unknown goal '%s'", w [2]);
        return CW_EINVAL;
    }
    if (goal->daily != s_triggers [t].daily) {
        cw_parse_fail (err, line, "trigger %s works on %s, and %s is %s", s_triggers [t].name,
                       s_triggers [t].daily ? "daily totals" : "live features", goal->name,
                       goal->daily ? "a daily total" : "a live feature");
        return CW_EINVAL;
    }
    p->rule->trigger = s_triggers [t].trigger;
    p->rule->goal = goal->type;
    int rc = s_triggers [t].parse (p->rule, goal, w + 3, n - 3, line, err);
    if (rc == CW_OK)
        p->has_trigger = true;
    return rc;
}

static int
s_st_cooldown (s_parse_t *p, char **w, const char **rest, int n, uint32_t line,
               cw_parse_error_t *err)
{
    (void) rest, (void) n;
    if (p->has_cooldown) {
        cw_parse_fail (err, line, "cooldown given twice in rule %s", p->rule->id);
        return CW_EINVAL;
    }
    p->has_cooldown = true;
    return s_duration (w [1], &p->rule->cooldown_ms, line, err);
}

static int
s_st_priority (s_parse_t *p, char **w, const char **rest, int n, uint32_t line,
               cw_parse_error_t *err)
{
    (void) rest, (void) n;
    uint64_t v = 0;
    if (p->has_priority || !cw_parse_uint (w [1], 100, &v)) {
        cw_parse_fail (err, line, p->has_priority ? "priority given twice"
                                                  : "priority must be a whole number 0 .. 100");
        return CW_EINVAL;
    }
    p->rule->priority = (uint32_t) v;
    p->has_priority = true;
    return CW_OK;
}

static int
s_st_confidence (s_parse_t *p, char **w, const char **rest, int n, uint32_t line,
                 cw_parse_error_t *err)
{
    (void) rest, (void) n;
    double v = 0;
    if (p->has_confidence || !cw_parse_number (w [1], &v) || v < 0 || v > 1) {
        cw_parse_fail (err, line, p->has_confidence ? "confidence given twice"
                                                    : "confidence must be a number 0 .. 1");
        return CW_EINVAL;
    }
    p->rule->min_confidence = v;
    p->has_confidence = true;
    return CW_OK;
}

//  NULL when the template is well formed, else the reason (in why, for the placeholder).
static const char *
s_template_invalid (const char *text, char *why, size_t size)
{
    for (const char *c = text; *c; c++) {
        if (*c == '}') {
            snprintf (why, size, "'}' without '{' in the message");
            return why;
        }
        if (*c != '{')
            continue;
        const char *end = strchr (c, '}');
        if (!end) {
            snprintf (why, size, "unclosed '{' in the message");
            return why;
        }
        size_t len = (size_t) (end - c - 1), i = 0, np = sizeof s_placeholders / sizeof (char *);
        while (i < np && !(strlen (s_placeholders [i]) == len
                           && strncmp (s_placeholders [i], c + 1, len) == 0))
            i++;
        if (i == np) {
            snprintf (why, size, "unknown placeholder {%.*s} (expected {observed}, {target}, "
                      "{unit} or {window})", (int) (len > 24 ? 24 : len), c + 1);
            return why;
        }
        c = end;
    }
    return NULL;
}

static int
s_st_message (s_parse_t *p, char **w, const char **rest, int n, uint32_t line,
              cw_parse_error_t *err)
{
    size_t l = 0;
    while (l < CW_LOCALE_COUNT && strcmp (s_locale_names [l], w [1]) != 0)
        l++;
    if (l == CW_LOCALE_COUNT) {
        cw_parse_fail (err, line, "unknown message locale '%s' (expected en or ja)", w [1]);
        return CW_EINVAL;
    }
    if (n < 3) {
        cw_parse_fail (err, line, "missing template after 'message %s'", w [1]);
        return CW_EINVAL;
    }
    if (p->has_message [l]) {
        cw_parse_fail (err, line, "message %s given twice in rule %s", w [1], p->rule->id);
        return CW_EINVAL;
    }
    const char *text = rest [2];
    size_t len = strlen (text);
    while (len > 0 && (text [len - 1] == ' ' || text [len - 1] == '\t'))
        len--;
    if (len > CW_RULE_MESSAGE_MAX) {
        cw_parse_fail (err, line, "template longer than %d bytes", CW_RULE_MESSAGE_MAX);
        return CW_EINVAL;
    }
    memcpy (p->rule->message [l], text, len);
    p->rule->message [l][len] = '\0';
    char why [CW_PARSE_REASON_MAX];
    if (s_template_invalid (p->rule->message [l], why, sizeof why)) {
        cw_parse_fail (err, line, "%s", why);
        return CW_EINVAL;
    }
    p->has_message [l] = true;
    return CW_OK;
}

//  The statements of a rule block: name, handler, fewest and most words.
static const struct {
    const char *name;
    s_statement_fn *fn;
    int min_words, max_words;
} s_statements [] = {
    { "reads", s_st_reads, 2, CW_RULE_MAX_FIELDS + 1 },
    { "purpose", s_st_purpose, 2, 2 },
    { "trigger", s_st_trigger, 4, 6 },
    { "cooldown", s_st_cooldown, 2, 2 },
    { "priority", s_st_priority, 2, 2 },
    { "confidence", s_st_confidence, 2, 2 },
    { "message", s_st_message, 2, CW_ENGINE_MAX_WORDS },
};

static bool
s_valid_id (const char *id)
{
    size_t len = strlen (id);
    if (len == 0 || len > CW_RULE_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id [i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'
              || c == '-'))
            return false;
    }
    return true;
}

static int
s_rule_begin (s_parse_t *p, char **w, int n, uint32_t line, cw_parse_error_t *err)
{
    if (n != 2) {
        cw_parse_fail (err, line, "expected: rule ID");
        return CW_EINVAL;
    }
    if (!s_valid_id (w [1])) {
        cw_parse_fail (err, line, "bad rule id '%.40s' (a-z, 0-9, _ . -, at most %d)", w [1],
                       CW_RULE_ID_MAX);
        return CW_EINVAL;
    }
    if (cw_rules_find (p->rules, w [1])) {
        cw_parse_fail (err, line, "rule %s given twice", w [1]);
        return CW_EINVAL;
    }
    if (p->rules->n == CW_RULES_MAX) {
        cw_parse_fail (err, line, "more than %d rules", CW_RULES_MAX);
        return CW_EINVAL;
    }
    cw_rules_t *rules = p->rules;
    memset (p, 0, sizeof *p);
    p->rules = rules;
    p->rule = &rules->rules [rules->n];
    memset (p->rule, 0, sizeof *p->rule);
    snprintf (p->rule->id, sizeof p->rule->id, "%s", w [1]);
    p->rule->line = line;
    p->rule->cooldown_ms = CW_RULE_DEFAULT_COOLDOWN_MS;
    p->rule->priority = CW_RULE_DEFAULT_PRIORITY;
    p->rule->min_confidence = CW_RULE_DEFAULT_CONFIDENCE;
    return CW_OK;
}

static int
s_rule_end (s_parse_t *p, uint32_t line, cw_parse_error_t *err)
{
    const char *missing = !p->has_reads ? "reads"
                        : !p->has_purpose ? "purpose"
                        : !p->has_trigger ? "trigger"
                        : !p->has_message [CW_LOCALE_EN] ? "message en"
                        : !p->has_message [CW_LOCALE_JA] ? "message ja" : NULL;
    if (missing) {
        cw_parse_fail (err, line, "rule %s has no %s", p->rule->id, missing);
        return CW_EINVAL;
    }
    //  The rule must read a field its goal's metric can come from.
    const cw_goal_type_info_t *goal = cw_goal_type_info (p->rule->goal);
    bool source = false;
    for (size_t i = 0; i < p->rule->n_fields; i++)
        for (size_t j = 0; j < CW_GOAL_MAX_FIELDS && goal->fields [j]; j++)
            if (strcmp (p->rule->fields [i], goal->fields [j]) == 0)
                source = true;
    if (!source) {
        cw_parse_fail (err, line, "rule %s reads no field its goal %s is measured from (%s%s%s)",
                       p->rule->id, goal->name, goal->fields [0],
                       goal->fields [1] ? ", " : "", goal->fields [1] ? goal->fields [1] : "");
        return CW_EINVAL;
    }
    p->rules->n++;
    p->rule = NULL;
    return CW_OK;
}

int
cw_rules_parse (const char *text, size_t len, cw_rules_t **out, cw_parse_error_t *err)
{
    if (!out || (!text && len))
        return CW_EINVAL;
    *out = NULL;
    if (err)
        memset (err, 0, sizeof *err);
    int rc = cw_parse_check_size (len, err);
    if (rc != CW_OK)
        return rc;
    s_parse_t p = { .rules = calloc (1, sizeof (cw_rules_t)) };
    if (!p.rules)
        return CW_ENOMEM;
    cw_lines_t *lines = malloc (sizeof *lines);
    if (!lines) {
        rc = CW_ENOMEM;
        goto done;
    }
    cw_lines_init (lines, text, len);
    int got;
    while ((got = cw_lines_next (lines)) == 1) {
        char original [CW_PLAN_LINE_MAX + 1];
        memcpy (original, lines->line, sizeof original);
        char *w [CW_ENGINE_MAX_WORDS];
        const char *rest [CW_ENGINE_MAX_WORDS];
        int n = cw_words_split (lines->line, original, w, rest, CW_ENGINE_MAX_WORDS);
        uint32_t line = lines->lineno;
        if (n == 0)
            continue;
        if (n < 0 && !(strncmp (original + strspn (original, " \t"), "message", 7) == 0)) {
            cw_parse_fail (err, line, "too many words");
            rc = CW_EINVAL;
            goto done;
        }
        if (n < 0) {
            //  A message: only its first three words matter; the rest is the template.
            memcpy (lines->line, original, sizeof original);
            n = cw_words_split (lines->line, original, w, rest, 3);
            if (n < 0)
                n = 3;
        }
        if (strcmp (w [0], "rule") == 0) {
            if (p.rule) {
                cw_parse_fail (err, line, "rule %s is not closed by 'end' before this rule",
                               p.rule->id);
                rc = CW_EINVAL;
                goto done;
            }
            if ((rc = s_rule_begin (&p, w, n, line, err)) != CW_OK)
                goto done;
            continue;
        }
        if (!p.rule) {
            cw_parse_fail (err, line, "'%.32s' outside a rule (start one with 'rule ID')", w [0]);
            rc = CW_EINVAL;
            goto done;
        }
        if (strcmp (w [0], "end") == 0) {
            if (n != 1) {
                cw_parse_fail (err, line, "'end' takes no words");
                rc = CW_EINVAL;
                goto done;
            }
            if ((rc = s_rule_end (&p, line, err)) != CW_OK)
                goto done;
            continue;
        }
        size_t k = 0, nk = sizeof s_statements / sizeof s_statements [0];
        while (k < nk && strcmp (s_statements [k].name, w [0]) != 0)
            k++;
        if (k == nk) {
            cw_parse_fail (err, line, "unknown keyword '%.32s' (expected reads, purpose, trigger,"
                           " cooldown, priority, confidence, message or end)", w [0]);
            rc = CW_EINVAL;
            goto done;
        }
        if (n < s_statements [k].min_words || n > s_statements [k].max_words) {
            cw_parse_fail (err, line, "%s: wrong number of words (%d)", w [0], n);
            rc = CW_EINVAL;
            goto done;
        }
        if ((rc = s_statements [k].fn (&p, w, rest, n, line, err)) != CW_OK)
            goto done;
    }
    if (got == CW_ETOOBIG) {
        cw_parse_fail (err, lines->lineno, "line longer than %d bytes", CW_PLAN_LINE_MAX);
        rc = CW_EINVAL;
    }
    else if (got < 0) {
        cw_parse_fail (err, lines->lineno, "control character or NUL byte in the line");
        rc = CW_EINVAL;
    }
    else if (p.rule) {
        cw_parse_fail (err, lines->lineno, "rule %s is not closed by 'end'", p.rule->id);
        rc = CW_EINVAL;
    }
    else if (p.rules->n == 0) {
        cw_parse_fail (err, 0, "the file has no rule");
        rc = CW_EINVAL;
    }
done:
    free (lines);
    if (rc != CW_OK)
        cw_rules_destroy (&p.rules);
    *out = p.rules;
    return rc;
}

int
cw_rules_load (const char *path, cw_rules_t **out, cw_parse_error_t *err)
{
    if (!path || !out)
        return CW_EINVAL;
    *out = NULL;
    if (err)
        memset (err, 0, sizeof *err);
    FILE *file = fopen (path, "rb");
    if (!file) {
        int e = errno;
        cw_parse_fail (err, 0, "cannot open %s: %s", path, strerror (e));
        return e == ENOENT ? CW_ENOENT : CW_EIO;
    }
    char *text = malloc (CW_PLAN_TEXT_MAX + 1);
    int rc = CW_OK;
    if (!text) {
        rc = CW_ENOMEM;
        goto done;
    }
    size_t len = fread (text, 1, CW_PLAN_TEXT_MAX + 1, file);
    if (ferror (file)) {
        cw_parse_fail (err, 0, "cannot read %s", path);
        rc = CW_EIO;
        goto done;
    }
    rc = cw_rules_parse (text, len, out, err);
done:
    free (text);
    fclose (file);
    return rc;
}

void
cw_rules_destroy (cw_rules_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

size_t
cw_rules_count (const cw_rules_t *self)
{
    return self ? self->n : 0;
}

const cw_rule_t *
cw_rules_get (const cw_rules_t *self, size_t i)
{
    return self && i < self->n ? &self->rules [i] : NULL;
}

const cw_rule_t *
cw_rules_find (const cw_rules_t *self, const char *id)
{
    for (size_t i = 0; self && id && i < self->n; i++)
        if (strcmp (self->rules [i].id, id) == 0)
            return &self->rules [i];
    return NULL;
}

bool
cw_rule_reads (const cw_rule_t *rule, const char *field)
{
    for (size_t i = 0; rule && field && i < rule->n_fields; i++)
        if (strcmp (rule->fields [i], field) == 0)
            return true;
    return false;
}

//  ---- Evaluation -----------------------------------------------------------------------

//  Whether value is what the rule looks for.
static bool
s_matches (const cw_rule_t *rule, double lo, double hi, double value)
{
    const cw_goal_type_info_t *goal = cw_goal_type_info (rule->goal);
    switch (rule->direction) {
        case CW_DIRECTION_BELOW: return value < lo;
        case CW_DIRECTION_ABOVE: return value > hi;
        case CW_DIRECTION_OUTSIDE: return value < lo || value > hi;
        case CW_DIRECTION_NONE: break;
    }
    //  goal_met: within the goal by its kind.
    switch (goal->kind) {
        case CW_GOAL_KIND_MIN: return value >= lo;
        case CW_GOAL_KIND_MAX: return value <= hi;
        case CW_GOAL_KIND_RANGE:
        case CW_GOAL_KIND_BAND: return value >= lo && value <= hi;
    }
    return false;
}

int
cw_rule_feed (const cw_rule_t *rule, double lo, double hi, cw_rule_track_t *track,
              const cw_observation_t *obs, cw_rule_fire_t *fire, bool *fired)
{
    if (!rule || !track || !obs || !fire || !fired)
        return CW_EINVAL;
    *fired = false;
    if (rule->trigger == CW_TRIGGER_DAILY_TOTAL_BY || !isfinite (obs->value)
        || obs->span_ms > obs->time_ms || (track->since_ms && obs->time_ms < track->last_ms)) {
        memset (track, 0, sizeof *track);
        return CW_EINVAL;
    }
    uint64_t start = obs->time_ms - obs->span_ms;
    bool matches = obs->confidence >= rule->min_confidence
                && s_matches (rule, lo, hi, obs->value);
    if (!matches) {
        memset (track, 0, sizeof *track);
        return CW_OK;
    }
    if (track->since_ms && start > track->last_ms + CW_RULE_GAP_MS)
        memset (track, 0, sizeof *track);
    if (!track->since_ms)
        track->since_ms = start ? start : 1;
    double weight = obs->samples ? (double) obs->samples : 1.0;
    track->sum += obs->value * weight;
    track->weight += weight;
    track->samples += obs->samples;
    track->last_ms = obs->time_ms;
    if (track->last_ms - track->since_ms < rule->duration_ms)
        return CW_OK;
    *fire = (cw_rule_fire_t) {
        .observed = track->sum / track->weight, .target_lo = lo, .target_hi = hi,
        .window_start_ms = track->since_ms, .window_end_ms = track->last_ms,
        .samples = track->samples };
    *fired = true;
    memset (track, 0, sizeof *track);
    return CW_OK;
}

int
cw_rule_check_daily (const cw_rule_t *rule, double lo, double hi, double total, uint32_t samples,
                     const cw_local_t *local, uint64_t now_ms, cw_rule_fire_t *fire, bool *fired)
{
    if (!rule || !local || !fire || !fired || rule->trigger != CW_TRIGGER_DAILY_TOTAL_BY
        || !isfinite (total))
        return CW_EINVAL;
    *fired = false;
    if (local->minute < rule->by_minute || !s_matches (rule, lo, hi, total))
        return CW_OK;
    *fire = (cw_rule_fire_t) {
        .observed = total, .target_lo = lo, .target_hi = hi,
        .window_start_ms = local->day_start_ms, .window_end_ms = now_ms, .samples = samples,
        .by_minute = rule->by_minute };
    *fired = true;
    return CW_OK;
}

//  ---- Rendering ------------------------------------------------------------------------

void
cw_rule_target_text (const cw_rule_t *rule, const cw_rule_fire_t *fire, char *buf, size_t size)
{
    const cw_goal_type_info_t *goal = cw_goal_type_info (rule->goal);
    int d = goal->decimals;
    bool both = rule->direction == CW_DIRECTION_OUTSIDE
             || (rule->direction == CW_DIRECTION_NONE
                 && (goal->kind == CW_GOAL_KIND_RANGE || goal->kind == CW_GOAL_KIND_BAND));
    if (both)
        snprintf (buf, size, "%.*f–%.*f", d, fire->target_lo, d, fire->target_hi);
    else if (rule->direction == CW_DIRECTION_BELOW
             || (rule->direction == CW_DIRECTION_NONE && goal->kind == CW_GOAL_KIND_MIN))
        snprintf (buf, size, "%.*f", d, fire->target_lo);
    else
        snprintf (buf, size, "%.*f", d, fire->target_hi);
}

void
cw_rule_window_text (const cw_rule_t *rule, const cw_rule_fire_t *fire, cw_locale_t locale,
                     char *buf, size_t size)
{
    bool ja = locale == CW_LOCALE_JA;
    if (rule->trigger == CW_TRIGGER_DAILY_TOTAL_BY)
        snprintf (buf, size, ja ? "今日%02u:%02uまで" : "today by %02u:%02u",
                  fire->by_minute / 60u, fire->by_minute % 60u);
    else
        cw_format_duration (fire->window_end_ms - fire->window_start_ms, ja, buf, size);
}

int
cw_rule_render (const cw_rule_t *rule, cw_locale_t locale, const cw_rule_fire_t *fire,
                char *buf, size_t size)
{
    if (!rule || !fire || !buf || size == 0 || (int) locale < 0 || locale >= CW_LOCALE_COUNT)
        return CW_EINVAL;
    const cw_goal_type_info_t *goal = cw_goal_type_info (rule->goal);
    char values [4][64];
    snprintf (values [0], sizeof values [0], "%.*f", goal->decimals, fire->observed);
    cw_rule_target_text (rule, fire, values [1], sizeof values [1]);
    snprintf (values [2], sizeof values [2], "%s", goal->unit);
    cw_rule_window_text (rule, fire, locale, values [3], sizeof values [3]);
    size_t used = 0;
    int rc = CW_OK;
    for (const char *c = rule->message [locale]; *c; c++) {
        const char *piece = c;
        size_t len = 1;
        if (*c == '{') {
            const char *end = strchr (c, '}');
            for (size_t i = 0; end && i < 4; i++)
                if (strlen (s_placeholders [i]) == (size_t) (end - c - 1)
                    && strncmp (s_placeholders [i], c + 1, (size_t) (end - c - 1)) == 0) {
                    piece = values [i];
                    len = strlen (piece);
                    c = end;
                    break;
                }
        }
        if (used + len >= size) {
            rc = CW_ENOSPC;
            break;
        }
        memcpy (buf + used, piece, len);
        used += len;
    }
    buf [used] = '\0';
    return rc;
}
