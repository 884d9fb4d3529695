/*  test_rules.c - the rules file parser (each kind of broken file first), the default rules,
 *  each trigger firing on a crafted stream and not on its near miss, rendering en and ja. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coachwire/cw_error.h"
#include "coachwire/cw_rules.h"

#define RULES_DEFAULT CW_TEST_DATA "/../../coach/rules.default"
#define T0 1714521600000ull            /* 2024-05-01 00:00:00Z */

static const char s_head [] = "rule r1\n  reads running.cadence\n  purpose coaching\n";
static const char s_trig [] = "  trigger outside_goal cadence below 60s\n";
static const char s_msgs [] = "  message en low {observed} {unit} < {target} over {window}\n"
                              "  message ja 低い {observed}{unit} < {target}（{window}）\n";

static void
s_refused (const char *text, uint32_t line, const char *reason_part)
{
    cw_rules_t *rules = (cw_rules_t *) 1;
    cw_parse_error_t err;
    int rc = cw_rules_parse (text, strlen (text), &rules, &err);
    if (rc != CW_EINVAL || err.line != line || !strstr (err.reason, reason_part))
        print_error ("text:\n%s\nrc %d line %u reason '%s' (expected line %u, '%s')\n", text,
                     rc, err.line, err.reason, line, reason_part);
    assert_int_equal (rc, CW_EINVAL);
    assert_null (rules);
    assert_int_equal (err.line, line);
    assert_non_null (strstr (err.reason, reason_part));
}

static void
s_refused3 (const char *head, const char *middle, const char *tail, uint32_t line,
            const char *reason_part)
{
    char text [2048];
    snprintf (text, sizeof text, "%s%s%s", head, middle, tail);
    s_refused (text, line, reason_part);
}

static void
test_rules_broken (void **state)
{
    (void) state;
    char tail [512];
    snprintf (tail, sizeof tail, "%s%send\n", s_trig, s_msgs);
    /* unknown field, checked against the catalog */
    s_refused3 ("rule r1\n  reads running.cadense\n", "  purpose coaching\n", tail, 2,
                "unknown field 'running.cadense'");
    /* unknown purpose */
    s_refused3 ("rule r1\n  reads running.cadence\n", "  purpose marketing\n", tail, 3,
                "unknown purpose");
    /* unknown trigger */
    s_refused3 (s_head, "  trigger when_sad cadence below 60s\n", s_msgs, 4, "unknown trigger");
    /* bad durations */
    s_refused3 (s_head, "  trigger outside_goal cadence below 60\n", s_msgs, 4, "bad duration");
    s_refused3 (s_head, "  trigger outside_goal cadence below 0s\n", s_msgs, 4, "bad duration");
    s_refused3 (s_head, "  trigger outside_goal cadence below 60y\n", s_msgs, 4, "bad duration");
    s_refused3 (s_head, "  trigger outside_goal cadence below -5s\n", s_msgs, 4, "bad duration");
    s_refused3 (s_head, "  trigger outside_goal cadence below 99999999999s\n", s_msgs, 4,
                "bad duration");
    /* bad time of day, wrong goal for the trigger, bad direction */
    s_refused ("rule p\n  reads meal.protein\n  purpose coaching\n"
               "  trigger daily_total_by daily_protein below 24:00\n", 4, "time of day");
    s_refused3 (s_head, "  trigger daily_total_by cadence below 18:00\n", s_msgs, 4,
                "live feature");
    s_refused3 (s_head, "  trigger outside_goal cadence sideways 60s\n", s_msgs, 4,
                "unknown direction");
    s_refused ("rule v\n  reads running.vertical_oscillation\n  purpose coaching\n"
               "  trigger outside_goal vertical_oscillation below 60s\n", 4, "max goal");
    s_refused3 (s_head, "  trigger outside_goal pace below 60s\n", s_msgs, 4, "unknown goal");
    /* missing templates */
    s_refused3 (s_head, s_trig, "  message en hi {observed}\nend\n", 6, "no message ja");
    s_refused3 (s_head, s_trig, "  message ja やあ\nend\n", 6, "no message en");
    s_refused3 (s_head, s_trig, "  message en\nend\n", 5, "missing template");
    /* broken templates */
    s_refused3 (s_head, s_trig, "  message en {pace} is off\n", 5, "unknown placeholder");
    s_refused3 (s_head, s_trig, "  message en {observed is off\n", 5, "unclosed");
    s_refused3 (s_head, s_trig, "  message fr bonjour\n", 5, "unknown message locale");
    /* missing reads, purpose, trigger */
    s_refused ("rule r1\n  purpose coaching\n  trigger outside_goal cadence below 60s\n"
               "  message en a\n  message ja b\nend\n", 6, "no reads");
    s_refused3 ("rule r1\n  reads running.cadence\n", s_trig, "  message en a\n  message ja b\n"
                "end\n", 6, "no purpose");
    s_refused3 (s_head, s_msgs, "end\n", 6, "no trigger");
    /* a rule that reads nothing its goal is measured from */
    s_refused ("rule r1\n  reads meal.energy\n  purpose coaching\n"
               "  trigger outside_goal cadence below 60s\n  message en a\n  message ja b\nend\n",
               7, "reads no field");
    /* structure: outside a rule, not closed, given twice, unknown keyword, bad id */
    s_refused ("  reads running.cadence\n", 1, "outside a rule");
    s_refused3 (s_head, s_trig, s_msgs, 6, "not closed");
    s_refused3 (s_head, s_trig, "rule r2\n", 5, "not closed by 'end' before");
    {
        char one [1024], two [2048];
        snprintf (one, sizeof one, "%s%s%send\n", s_head, s_trig, s_msgs);
        snprintf (two, sizeof two, "%s%s", one, one);
        s_refused (two, 8, "rule r1 given twice");
    }
    s_refused3 (s_head, "  colour blue\n", "", 4, "unknown keyword");
    s_refused ("rule Bad!\n", 1, "bad rule id");
    s_refused3 (s_head, "  priority 101\n", "", 4, "priority");
    s_refused3 (s_head, "  confidence 1.5\n", "", 4, "confidence");
    s_refused3 (s_head, "  cooldown soon\n", "", 4, "bad duration");
    s_refused3 ("rule r1\n  reads running.cadence running.cadence\n", "", "", 2, "twice");
    s_refused ("# only comments\n\n", 0, "no rule");
    s_refused3 (s_head, "  reads\x02 x\n", "", 4, "control");
}

static cw_rules_t *
s_defaults (void)
{
    cw_rules_t *rules = NULL;
    cw_parse_error_t err;
    int rc = cw_rules_load (RULES_DEFAULT, &rules, &err);
    if (rc != CW_OK)
        print_error ("%s: line %u: %s\n", RULES_DEFAULT, err.line, err.reason);
    assert_int_equal (rc, CW_OK);
    return rules;
}

static void
test_rules_default (void **state)
{
    (void) state;
    cw_rules_t *rules = s_defaults ();
    const char *ids [] = { "cadence_low", "cadence_high", "vertical_oscillation_high",
                           "contact_time_high", "balance_out", "energy_high", "energy_low",
                           "protein_low", "sugar_high", "cadence_praise" };
    assert_int_equal (cw_rules_count (rules), 10);
    for (size_t i = 0; i < 10; i++) {
        const cw_rule_t *r = cw_rules_find (rules, ids [i]);
        assert_non_null (r);
        assert_string_equal (r->purpose, "coaching");
        assert_true (r->n_fields >= 1);
    }
    const cw_rule_t *protein = cw_rules_find (rules, "protein_low");
    assert_int_equal (protein->trigger, CW_TRIGGER_DAILY_TOTAL_BY);
    assert_int_equal (protein->by_minute, 18 * 60);
    assert_true (cw_rule_reads (protein, "meal.protein"));
    assert_false (cw_rule_reads (protein, "meal.energy"));
    cw_rules_destroy (&rules);
    cw_parse_error_t err;
    assert_int_equal (cw_rules_load ("/nonexistent/rules", &rules, &err), CW_ENOENT);
    assert_null (rules);
}

//  Feeds n one-second observations of value from t; returns how many fired.
static int
s_feed (const cw_rule_t *rule, double lo, double hi, cw_rule_track_t *track, uint64_t t,
        int n, double value, cw_rule_fire_t *fire)
{
    int fired_count = 0;
    for (int i = 1; i <= n; i++) {
        cw_observation_t obs = { .time_ms = t + (uint64_t) i * 1000u, .span_ms = 1000,
                                 .value = value, .confidence = 1.0, .samples = 3 };
        bool fired = false;
        assert_int_equal (cw_rule_feed (rule, lo, hi, track, &obs, fire, &fired), CW_OK);
        fired_count += fired;
    }
    return fired_count;
}

static void
test_trigger_outside_goal (void **state)
{
    (void) state;
    cw_rules_t *rules = s_defaults ();
    const cw_rule_t *low = cw_rules_find (rules, "cadence_low");
    cw_rule_track_t track = { 0 };
    cw_rule_fire_t fire;
    /* near miss: 1 spm inside the range for ten minutes */
    assert_int_equal (s_feed (low, 165, 175, &track, T0, 600, 166, &fire), 0);
    /* near miss: below for 59 s (1 s short), then back inside */
    memset (&track, 0, sizeof track);
    assert_int_equal (s_feed (low, 165, 175, &track, T0, 59, 158, &fire), 0);
    assert_int_equal (s_feed (low, 165, 175, &track, T0 + 59000, 1, 170, &fire), 0);
    assert_int_equal (s_feed (low, 165, 175, &track, T0 + 60000, 59, 158, &fire), 0);
    /* near miss: low confidence (a pocket guess) does not count */
    memset (&track, 0, sizeof track);
    for (int i = 1; i <= 120; i++) {
        cw_observation_t obs = { .time_ms = T0 + (uint64_t) i * 1000u, .span_ms = 1000,
                                 .value = 150, .confidence = 0.3, .samples = 3 };
        bool fired = true;
        assert_int_equal (cw_rule_feed (low, 165, 175, &track, &obs, &fire, &fired), CW_OK);
        assert_false (fired);
    }
    /* near miss: a gap longer than CW_RULE_GAP_MS restarts the run */
    memset (&track, 0, sizeof track);
    assert_int_equal (s_feed (low, 165, 175, &track, T0, 40, 158, &fire), 0);
    assert_int_equal (s_feed (low, 165, 175, &track, T0 + 40000 + CW_RULE_GAP_MS + 1000, 30,
                              158, &fire), 0);
    /* fires: below for exactly 60 s */
    memset (&track, 0, sizeof track);
    assert_int_equal (s_feed (low, 165, 175, &track, T0, 60, 158, &fire), 1);
    assert_int_equal (fire.window_start_ms, T0);
    assert_int_equal (fire.window_end_ms, T0 + 60000);
    assert_int_equal (fire.samples, 180);
    assert_true (fire.observed > 157.99 && fire.observed < 158.01);
    /* and restarts: the next firing needs a whole new minute */
    assert_int_equal (s_feed (low, 165, 175, &track, T0 + 60000, 59, 158, &fire), 0);
    /* the high rule: 1 spm inside does not fire, 1 spm above for 60 s does */
    const cw_rule_t *high = cw_rules_find (rules, "cadence_high");
    memset (&track, 0, sizeof track);
    assert_int_equal (s_feed (high, 165, 175, &track, T0, 120, 174, &fire), 0);
    assert_int_equal (s_feed (high, 165, 175, &track, T0 + 120000, 60, 176, &fire), 1);
    /* balance: outside the band on either side */
    const cw_rule_t *balance = cw_rules_find (rules, "balance_out");
    memset (&track, 0, sizeof track);
    assert_int_equal (s_feed (balance, 48.5, 51.5, &track, T0, 300, 51.4, &fire), 0);
    assert_int_equal (s_feed (balance, 48.5, 51.5, &track, T0 + 300000, 120, 47.9, &fire), 1);
    /* time going backwards is refused and resets */
    cw_observation_t back = { .time_ms = T0, .span_ms = 1000, .value = 150, .confidence = 1 };
    bool fired = false;
    memset (&track, 0, sizeof track);
    assert_int_equal (s_feed (low, 165, 175, &track, T0 + 100000, 5, 150, &fire), 0);
    assert_int_equal (cw_rule_feed (low, 165, 175, &track, &back, &fire, &fired), CW_EINVAL);
    assert_int_equal (track.since_ms, 0);
    cw_rules_destroy (&rules);
}

static void
test_trigger_goal_met (void **state)
{
    (void) state;
    cw_rules_t *rules = s_defaults ();
    const cw_rule_t *praise = cw_rules_find (rules, "cadence_praise");
    cw_rule_track_t track = { 0 };
    cw_rule_fire_t fire;
    /* near miss: in range for 4 min 59 s, then 1 spm out */
    assert_int_equal (s_feed (praise, 165, 175, &track, T0, 299, 170, &fire), 0);
    assert_int_equal (s_feed (praise, 165, 175, &track, T0 + 299000, 1, 164, &fire), 0);
    /* fires: in range for 5 min (the bounds count as in range) */
    assert_int_equal (s_feed (praise, 165, 175, &track, T0 + 300000, 300, 165, &fire), 1);
    cw_rules_destroy (&rules);
}

static void
test_trigger_daily_total_by (void **state)
{
    (void) state;
    cw_rules_t *rules = s_defaults ();
    const cw_rule_t *protein = cw_rules_find (rules, "protein_low");
    cw_local_t local = { .date = 20240501, .day_start_ms = T0 };
    cw_rule_fire_t fire;
    bool fired = true;
    /* near miss: 17:59 with 60 g of 100 */
    local.minute = 17 * 60 + 59;
    assert_int_equal (cw_rule_check_daily (protein, 100, 0, 60, 3, &local, T0 + 1, &fire,
                                           &fired), CW_OK);
    assert_false (fired);
    /* near miss: 18:00 with exactly 100 g */
    local.minute = 18 * 60;
    assert_int_equal (cw_rule_check_daily (protein, 100, 0, 100, 3, &local, T0 + 1, &fire,
                                           &fired), CW_OK);
    assert_false (fired);
    /* fires: 18:00 with 99.5 g (just under) */
    assert_int_equal (cw_rule_check_daily (protein, 100, 0, 99.5, 3, &local,
                                           T0 + 18 * 3600000ull, &fire, &fired), CW_OK);
    assert_true (fired);
    assert_int_equal (fire.window_start_ms, T0);
    assert_int_equal (fire.samples, 3);
    /* energy high by 20:00: 2601 over a 2600 maximum fires, 2600 does not */
    const cw_rule_t *energy = cw_rules_find (rules, "energy_high");
    local.minute = 20 * 60;
    assert_int_equal (cw_rule_check_daily (energy, 1800, 2600, 2600, 4, &local, T0, &fire,
                                           &fired), CW_OK);
    assert_false (fired);
    assert_int_equal (cw_rule_check_daily (energy, 1800, 2600, 2601, 4, &local, T0, &fire,
                                           &fired), CW_OK);
    assert_true (fired);
    /* a daily rule is not fed observations, a live rule is not checked daily */
    cw_rule_track_t track = { 0 };
    cw_observation_t obs = { .time_ms = T0, .value = 1, .confidence = 1 };
    assert_int_equal (cw_rule_feed (protein, 100, 0, &track, &obs, &fire, &fired), CW_EINVAL);
    assert_int_equal (cw_rule_check_daily (cw_rules_find (rules, "cadence_low"), 1, 2, 0, 0,
                                           &local, T0, &fire, &fired), CW_EINVAL);
    cw_rules_destroy (&rules);
}

static void
test_render (void **state)
{
    (void) state;
    cw_rules_t *rules = s_defaults ();
    const cw_rule_t *low = cw_rules_find (rules, "cadence_low");
    cw_rule_fire_t fire = { .observed = 158.4, .target_lo = 165, .target_hi = 175,
                            .window_start_ms = T0, .window_end_ms = T0 + 60000, .samples = 150 };
    char buf [CW_NUDGE_MESSAGE_MAX];
    assert_int_equal (cw_rule_render (low, CW_LOCALE_EN, &fire, buf, sizeof buf), CW_OK);
    assert_string_equal (buf, "Your cadence was 158 spm over the last 60 s, below your target "
                              "of 165 spm. Try shorter, quicker steps.");
    assert_int_equal (cw_rule_render (low, cw_locale_pick ("ja_JP"), &fire, buf, sizeof buf),
                      CW_OK);
    assert_non_null (strstr (buf, "直近60秒のケイデンスは158spmで、目標の165spmを下回っています"));
    const cw_rule_t *protein = cw_rules_find (rules, "protein_low");
    cw_rule_fire_t day = { .observed = 62, .target_lo = 100, .by_minute = 18 * 60 };
    assert_int_equal (cw_rule_render (protein, CW_LOCALE_EN, &day, buf, sizeof buf), CW_OK);
    assert_string_equal (buf, "You have had 62 g of protein today by 18:00, short of your 100 g "
                              "goal. Add some to dinner.");
    assert_int_equal (cw_rule_render (protein, CW_LOCALE_JA, &day, buf, sizeof buf), CW_OK);
    assert_non_null (strstr (buf, "今日18:00までのたんぱく質は62gで"));
    const cw_rule_t *balance = cw_rules_find (rules, "balance_out");
    cw_rule_fire_t bal = { .observed = 47.86, .target_lo = 48.5, .target_hi = 51.5,
                           .window_start_ms = T0, .window_end_ms = T0 + 120000 };
    assert_int_equal (cw_rule_render (balance, CW_LOCALE_EN, &bal, buf, sizeof buf), CW_OK);
    assert_non_null (strstr (buf, "47.9 % of ground contact over the last 2 min, outside your "
                                  "band of 48.5–51.5 %"));
    /* too small a buffer: CW_ENOSPC, still terminated */
    char tiny [8];
    assert_int_equal (cw_rule_render (low, CW_LOCALE_EN, &fire, tiny, sizeof tiny), CW_ENOSPC);
    assert_true (strlen (tiny) < sizeof tiny);
    cw_rules_destroy (&rules);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_rules_broken),
        cmocka_unit_test (test_rules_default),
        cmocka_unit_test (test_trigger_outside_goal),
        cmocka_unit_test (test_trigger_goal_met),
        cmocka_unit_test (test_trigger_daily_total_by),
        cmocka_unit_test (test_render),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
