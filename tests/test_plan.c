/*  test_plan.c - goal types, the plan file parser (broken files first), state transitions,
 *  schedules, progress, and the progression a coach approves or rejects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coachwire/cw_error.h"
#include "coachwire/cw_plan.h"
#include "coachwire/cw_store.h"
#include "test_dir.h"

#define DAY_MS 86400000ull
#define T0 1714521600000ull            /* 2024-05-01 00:00:00Z */

static const uint8_t s_ana [CW_ID_BYTES] = { 1, 2, 3 };

typedef struct {
    char dir [64];
    char path [128];
    cw_store_t *store;
    cw_plans_t *plans;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    if (!f || sodium_init () < 0)
        return -1;
    if (test_dir_make (f->dir, sizeof f->dir, f->path, sizeof f->path, "plan") != 0)
        return -1;
    if (cw_store_open (&f->store, f->path, true) != CW_OK
        || cw_plans_open (&f->plans, f->store) != CW_OK)
        return -1;
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    cw_plans_destroy (&f->plans);
    cw_store_destroy (&f->store);
    test_dir_remove (f->dir);
    free (f);
    return 0;
}

static void
s_refused (const char *text, uint32_t line, const char *reason_part)
{
    cw_plan_t *plan = (cw_plan_t *) 1;
    cw_parse_error_t err;
    int rc = cw_plan_parse (text, strlen (text), &plan, &err);
    if (rc != CW_EINVAL || err.line != line || !strstr (err.reason, reason_part))
        print_error ("text:\n%s\nrc %d line %u reason '%s' (expected line %u, '%s')\n", text,
                     rc, err.line, err.reason, line, reason_part);
    assert_int_equal (rc, CW_EINVAL);
    assert_null (plan);
    assert_int_equal (err.line, line);
    assert_non_null (strstr (err.reason, reason_part));
}

static void
test_plan_file_broken (void **state)
{
    (void) state;
    s_refused ("goal cadence range 165 175 spm\nfrobnicate 3\n", 2, "unknown keyword");
    s_refused ("# hi\ngoal pace range 1 2 spm\n", 2, "unknown goal type 'pace'");
    s_refused ("goal cadence max 175 spm\n", 1, "range goal");
    s_refused ("goal cadence range 165 175 mm\n", 1, "in spm");
    s_refused ("goal cadence range 165 spm\n", 1, "takes 2 values");
    s_refused ("goal cadence range 175 165 spm\n", 1, "above the high");
    s_refused ("goal cadence range 165 nan spm\n", 1, "not a number");
    s_refused ("goal cadence range 165 1e999 spm\n", 1, "not a number");
    s_refused ("goal cadence range 5 175 spm\n", 1, "plausible");
    s_refused ("goal daily_protein min 100 g\ngoal daily_protein min 90 g\n", 2, "twice");
    s_refused ("schedule cadence +5% every 2w\ngoal cadence range 165 175 spm\n", 1,
               "before any");
    s_refused ("goal cadence range 165 175 spm\nschedule cadence 5% every 2w\n", 2, "+ or -");
    s_refused ("goal cadence range 165 175 spm\nschedule cadence +5% each 2w\n", 2, "every");
    s_refused ("goal cadence range 165 175 spm\nschedule cadence +5% every 2y\n", 2, "period");
    s_refused ("goal cadence range 165 175 spm\nschedule cadence +5% every 0d\n", 2, "period");
    s_refused ("goal cadence range 165 175 spm\nschedule cadence +5% every 2w\n"
               "schedule cadence +1% every 1w\n", 3, "twice");
    s_refused ("goal cadence range 165 175 spm\nschedule cadence +5% every 2w times 0\n", 2,
               "times");
    s_refused ("start 2024-02-30\ngoal cadence range 165 175 spm\n", 1, "start");
    s_refused ("start 2023-02-29\ngoal cadence range 165 175 spm\n", 1, "not a date");
    s_refused ("# nothing\n\n", 0, "no goal");
    s_refused ("goal cadence range 165 175 spm\ngoal daily_sugar max 50\x01 g\n", 2, "control");
    //  A NUL byte inside the text.
    cw_plan_t *plan = NULL;
    cw_parse_error_t err;
    assert_int_equal (cw_plan_parse ("goal cadence range 165 175 spm\n\0x", 33, &plan, &err),
                      CW_EINVAL);
    assert_int_equal (err.line, 2);
    //  An overlong line.
    char *big = malloc (2000);
    memset (big, 'a', 1999);
    big [1999] = '\0';
    assert_int_equal (cw_plan_parse (big, 1999, &plan, &err), CW_EINVAL);
    assert_int_equal (err.line, 1);
    assert_non_null (strstr (err.reason, "longer"));
    free (big);
    //  Too big as a whole.
    assert_int_equal (cw_plan_parse ("x", CW_PLAN_TEXT_MAX + 1, &plan, &err), CW_ETOOBIG);
}

static const char s_plan_text [] =
    "# Ana's spring block\r\n"
    "goal cadence range 160 170 spm\n"
    "goal vertical_oscillation max 95 mm\n"
    "goal contact_time max 260 ms\n"
    "goal balance band 48.5 51.5 %\n"
    "goal weekly_distance min 20 km\n"
    "goal daily_energy range 1800 2600 kcal\n"
    "goal daily_protein min 100 g\n"
    "goal daily_sugar max 50 g\n"
    "schedule cadence +5% every 2w times 2\n"
    "schedule daily_protein +10 every 7d\n";

static void
test_plan_file_good (void **state)
{
    (void) state;
    cw_plan_t *plan = NULL;
    cw_parse_error_t err;
    assert_int_equal (cw_plan_parse (s_plan_text, strlen (s_plan_text), &plan, &err), CW_OK);
    assert_int_equal (cw_plan_goal_count (plan), 8);
    assert_int_equal (cw_plan_state (plan), CW_PLAN_DRAFT);
    const cw_goal_t *cad = cw_plan_goal_of (plan, CW_GOAL_CADENCE);
    assert_non_null (cad);
    //  Two weeks in: +5 %; four weeks: +10.25 % (compound); capped at two steps after that.
    double lo = 0, hi = 0;
    cw_goal_target_at (cad, T0, T0 + 13 * DAY_MS, &lo, &hi);
    assert_true (fabs (lo - 160) < 1e-9 && fabs (hi - 170) < 1e-9);
    cw_goal_target_at (cad, T0, T0 + 14 * DAY_MS, &lo, &hi);
    assert_true (fabs (lo - 168) < 1e-9 && fabs (hi - 178.5) < 1e-9);
    cw_goal_target_at (cad, T0, T0 + 100 * DAY_MS, &lo, &hi);
    assert_true (fabs (lo - 160 * 1.05 * 1.05) < 1e-9);
    const cw_goal_t *protein = cw_plan_goal_of (plan, CW_GOAL_DAILY_PROTEIN);
    cw_goal_target_at (protein, T0, T0 + 21 * DAY_MS, &lo, NULL);
    assert_true (fabs (lo - 130) < 1e-9);
    //  No start, no movement.
    cw_goal_target_at (cad, 0, T0, &lo, NULL);
    assert_true (fabs (lo - 160) < 1e-9);
    //  Round trip through the text form.
    char *text = NULL;
    assert_int_equal (cw_plan_text (plan, &text), CW_OK);
    cw_plan_t *again = NULL;
    assert_int_equal (cw_plan_parse (text, strlen (text), &again, &err), CW_OK);
    assert_int_equal (cw_plan_goal_count (again), 8);
    assert_true (fabs (cw_plan_goal_of (again, CW_GOAL_BALANCE)->lo - 48.5) < 1e-9);
    assert_int_equal (cw_plan_goal_of (again, CW_GOAL_CADENCE)->times, 2);
    free (text);
    cw_plan_destroy (&again);
    cw_plan_destroy (&plan);
    cw_plan_destroy (&plan);
}

static void
test_plan_transitions (void **state)
{
    fixture_t *f = *state;
    //  The table itself.
    assert_false (cw_plan_transition_valid (CW_PLAN_RETIRED, CW_PLAN_ACTIVE));
    assert_false (cw_plan_transition_valid (CW_PLAN_ACTIVE, CW_PLAN_PROPOSED));
    assert_false (cw_plan_transition_valid (CW_PLAN_ACTIVE, CW_PLAN_DRAFT));
    assert_false (cw_plan_transition_valid (CW_PLAN_PROPOSED, CW_PLAN_DRAFT));
    assert_true (cw_plan_transition_valid (CW_PLAN_DRAFT, CW_PLAN_ACTIVE));
    cw_plan_t *plan = NULL;
    assert_int_equal (cw_plan_parse (s_plan_text, strlen (s_plan_text), &plan, NULL), CW_OK);
    uint32_t v1 = 0, v2 = 0;
    assert_int_equal (cw_plans_put (f->plans, s_ana, plan, CW_PLAN_DRAFT, T0, &v1), CW_OK);
    assert_int_equal (v1, 1);
    //  Invalid: a retired state is not where a put goes; unknown version; retired is final.
    assert_int_equal (cw_plans_put (f->plans, s_ana, plan, CW_PLAN_RETIRED, T0, NULL), CW_EINVAL);
    assert_int_equal (cw_plans_transition (f->plans, s_ana, 9, CW_PLAN_ACTIVE, NULL, T0),
                      CW_ENOENT);
    assert_int_equal (cw_plans_approve (f->plans, s_ana, v1, T0), CW_ESTATE);   /* a draft */
    assert_int_equal (cw_plans_transition (f->plans, s_ana, v1, CW_PLAN_ACTIVE, NULL, T0 + 5),
                      CW_OK);
    assert_int_equal (cw_plans_transition (f->plans, s_ana, v1, CW_PLAN_DRAFT, NULL, T0),
                      CW_ESTATE);
    //  A second active plan retires the first.
    assert_int_equal (cw_plans_put (f->plans, s_ana, plan, CW_PLAN_ACTIVE, T0 + 10, &v2), CW_OK);
    cw_plan_t *got = NULL;
    assert_int_equal (cw_plans_get (f->plans, s_ana, v1, &got), CW_OK);
    assert_int_equal (cw_plan_state (got), CW_PLAN_RETIRED);
    assert_string_equal (cw_plan_reason (got), "superseded");
    assert_int_equal (cw_plan_start (got), T0 + 5);
    cw_plan_destroy (&got);
    assert_int_equal (cw_plans_transition (f->plans, s_ana, v1, CW_PLAN_ACTIVE, NULL, T0),
                      CW_ESTATE);
    assert_int_equal (cw_plans_active (f->plans, s_ana, &got), CW_OK);
    assert_int_equal (cw_plan_version (got), v2);
    assert_int_equal (cw_plan_goal_count (got), 8);
    cw_plan_destroy (&got);
    static const uint8_t nobody [CW_ID_BYTES] = { 9 };
    assert_int_equal (cw_plans_active (f->plans, nobody, &got), CW_ENOENT);
    assert_null (got);
    cw_plan_destroy (&plan);
}

typedef struct {
    size_t n;
    size_t met;
    double last_target;
} series_t;

static void
s_series (void *ctx, const cw_progress_t *p)
{
    series_t *s = ctx;
    s->n++;
    s->met += p->met;
    s->last_target = p->target_lo;
}

static void
test_plan_progression (void **state)
{
    fixture_t *f = *state;
    const char *text = "goal cadence range 160 170 spm\ngoal daily_sugar max 50 g\n";
    cw_plan_t *plan = NULL;
    assert_int_equal (cw_plan_parse (text, strlen (text), &plan, NULL), CW_OK);
    uint32_t v = 0;
    assert_int_equal (cw_plans_put (f->plans, s_ana, plan, CW_PLAN_ACTIVE, T0, &v), CW_OK);
    //  Not enough evidence: 3 of 5 windows met (60 %), then too few rows.
    bool proposed = true;
    double runs [] = { 165, 150, 166, 151, 167 };
    for (size_t i = 0; i < 5; i++)
        assert_int_equal (cw_plans_progress_add (f->plans, s_ana, v, CW_GOAL_CADENCE,
                                                 T0 + i * DAY_MS, T0 + i * DAY_MS + 1800000,
                                                 runs [i], NULL), CW_OK);
    assert_int_equal (cw_plans_propose_progression (f->plans, s_ana, CW_GOAL_CADENCE, 5,
                                                    T0 + 5 * DAY_MS, &proposed, NULL), CW_OK);
    assert_false (proposed);
    assert_int_equal (cw_plans_propose_progression (f->plans, s_ana, CW_GOAL_CADENCE, 50,
                                                    T0 + 5 * DAY_MS, &proposed, NULL), CW_OK);
    assert_false (proposed);
    //  A goal type that does not progress, and one the plan lacks.
    assert_int_equal (cw_plans_propose_progression (f->plans, s_ana, CW_GOAL_DAILY_SUGAR, 1,
                                                    T0, &proposed, NULL), CW_OK);
    assert_false (proposed);
    assert_int_equal (cw_plans_propose_progression (f->plans, s_ana, CW_GOAL_BALANCE, 1, T0,
                                                    &proposed, NULL), CW_ENOENT);
    assert_int_equal (cw_plans_progress_add (f->plans, s_ana, v, CW_GOAL_BALANCE, T0, T0, 50,
                                             NULL), CW_ENOENT);
    //  4 more met windows: the last 5 are 4 met of 5 = 80 %.
    for (size_t i = 5; i < 9; i++)
        assert_int_equal (cw_plans_progress_add (f->plans, s_ana, v, CW_GOAL_CADENCE,
                                                 T0 + i * DAY_MS, T0 + i * DAY_MS + 1800000,
                                                 168, NULL), CW_OK);
    series_t s = { 0 };
    assert_int_equal (cw_plans_progress_each (f->plans, s_ana, CW_GOAL_CADENCE, 0, 0, s_series,
                                              &s), CW_OK);
    assert_int_equal (s.n, 9);
    assert_int_equal (s.met, 7);
    uint32_t pv = 0;
    assert_int_equal (cw_plans_propose_progression (f->plans, s_ana, CW_GOAL_CADENCE, 5,
                                                    T0 + 10 * DAY_MS, &proposed, &pv), CW_OK);
    assert_true (proposed);
    cw_plan_t *p = NULL;
    assert_int_equal (cw_plans_get (f->plans, s_ana, pv, &p), CW_OK);
    assert_int_equal (cw_plan_state (p), CW_PLAN_PROPOSED);
    assert_true (fabs (cw_plan_goal_of (p, CW_GOAL_CADENCE)->lo - 164) < 1e-9);
    assert_true (fabs (cw_plan_goal_of (p, CW_GOAL_CADENCE)->hi - 174.25) < 1e-9);
    assert_true (fabs (cw_plan_goal_of (p, CW_GOAL_DAILY_SUGAR)->hi - 50) < 1e-9);
    cw_plan_destroy (&p);
    //  One proposal at a time.
    assert_int_equal (cw_plans_propose_progression (f->plans, s_ana, CW_GOAL_CADENCE, 5,
                                                    T0 + 10 * DAY_MS, &proposed, NULL), CW_OK);
    assert_false (proposed);
    //  The coach rejects: retired as rejected; the old plan stays active.
    assert_int_equal (cw_plans_reject (f->plans, s_ana, pv, T0 + 11 * DAY_MS), CW_OK);
    assert_int_equal (cw_plans_get (f->plans, s_ana, pv, &p), CW_OK);
    assert_int_equal (cw_plan_state (p), CW_PLAN_RETIRED);
    assert_string_equal (cw_plan_reason (p), "rejected");
    cw_plan_destroy (&p);
    assert_int_equal (cw_plans_reject (f->plans, s_ana, pv, T0), CW_ESTATE);
    assert_int_equal (cw_plans_approve (f->plans, s_ana, pv, T0), CW_ESTATE);
    assert_int_equal (cw_plans_active (f->plans, s_ana, &p), CW_OK);
    assert_int_equal (cw_plan_version (p), v);
    cw_plan_destroy (&p);
    //  Proposed again, approved: active, the old one retired (superseded).
    assert_int_equal (cw_plans_propose_progression (f->plans, s_ana, CW_GOAL_CADENCE, 5,
                                                    T0 + 12 * DAY_MS, &proposed, &pv), CW_OK);
    assert_true (proposed);
    assert_int_equal (cw_plans_approve (f->plans, s_ana, pv, T0 + 13 * DAY_MS), CW_OK);
    assert_int_equal (cw_plans_active (f->plans, s_ana, &p), CW_OK);
    assert_int_equal (cw_plan_version (p), pv);
    assert_int_equal (cw_plan_start (p), T0 + 13 * DAY_MS);
    cw_plan_destroy (&p);
    assert_int_equal (cw_plans_get (f->plans, s_ana, v, &p), CW_OK);
    assert_int_equal (cw_plan_state (p), CW_PLAN_RETIRED);
    assert_string_equal (cw_plan_reason (p), "superseded");
    cw_plan_destroy (&p);
    cw_plan_destroy (&plan);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_plan_file_broken),
        cmocka_unit_test (test_plan_file_good),
        cmocka_unit_test_setup_teardown (test_plan_transitions, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_plan_progression, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
