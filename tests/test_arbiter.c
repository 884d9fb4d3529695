/*  test_arbiter.c - the arbiter (consent through a fake callback, budget, quiet hours in
 *  Asia/Tokyo, cooldown, de-duplication), nudges with their disclosure in en and ja, the
 *  nudge store (delivery, acks, expiry, withdrawal of a field), feedback and effectiveness. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coachwire/cw_arbiter.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_nudge.h"
#include "coachwire/cw_rules.h"
#include "coachwire/cw_store.h"
#include "test_dir.h"

#define T0 1714521600000ull            /* 2024-05-01 00:00:00Z = 09:00 in Tokyo */
#define HOUR 3600000ull
#define NOON_TOKYO (T0 + 3 * HOUR)

static const uint8_t s_ana [CW_ID_BYTES] = { 0xa };
static const uint8_t s_bob [CW_ID_BYTES] = { 0xb };

static const char s_extra_rules [] =
    "rule form_pair\n"
    "  reads running.cadence running.stance_time\n"
    "  purpose coaching\n"
    "  trigger outside_goal cadence below 30s\n"
    "  cooldown 1s\n"
    "  message en cadence {observed} {unit} below {target} ({window})\n"
    "  message ja ケイデンス{observed}{unit}は{target}未満（{window}）\n"
    "end\n";

typedef struct {
    const char *denied;                 /* a field the fake ledger does not grant */
    int calls;
} fake_consent_t;

//  Grants every field but one; the grant id is derived from the field name so that tests
//  can tell which grant a disclosure cites.
static int
s_fake_consent (void *ctx, const uint8_t *user_id, const char *field, const char *purpose,
                uint64_t now_ms, uint8_t grant_id [CW_ID_BYTES], uint32_t *policy_version)
{
    fake_consent_t *fake = ctx;
    (void) user_id, (void) now_ms;
    fake->calls++;
    if (strcmp (purpose, "coaching") != 0 || (fake->denied && strcmp (field, fake->denied) == 0))
        return CW_ECONSENT;
    memset (grant_id, 0, CW_ID_BYTES);
    for (size_t i = 0; field [i]; i++)
        grant_id [i % CW_ID_BYTES] ^= (uint8_t) field [i];
    *policy_version = 3;
    return CW_OK;
}

typedef struct {
    char dir [64];
    char path [128];
    cw_store_t *store;
    cw_arbiter_t *arbiter;
    cw_nudges_t *nudges;
    cw_rules_t *rules;
    cw_rules_t *extra;
    fake_consent_t consent;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    if (!f || sodium_init () < 0)
        return -1;
    if (test_dir_make (f->dir, sizeof f->dir, f->path, sizeof f->path, "arbiter") != 0)
        return -1;
    cw_parse_error_t err;
    if (cw_store_open (&f->store, f->path, true) != CW_OK
        || cw_arbiter_open (&f->arbiter, f->store, s_fake_consent, &f->consent) != CW_OK
        || cw_nudges_open (&f->nudges, f->store) != CW_OK
        || cw_rules_load (CW_TEST_DATA "/../../coach/rules.default", &f->rules, &err) != CW_OK
        || cw_rules_parse (s_extra_rules, strlen (s_extra_rules), &f->extra, &err) != CW_OK)
        return -1;
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    cw_rules_destroy (&f->extra);
    cw_rules_destroy (&f->rules);
    cw_nudges_destroy (&f->nudges);
    cw_arbiter_destroy (&f->arbiter);
    cw_arbiter_destroy (&f->arbiter);
    cw_store_destroy (&f->store);
    test_dir_remove (f->dir);
    free (f);
    return 0;
}

static cw_candidate_t
s_candidate (const cw_rule_t *rule, const uint8_t *user, const char *tz, uint64_t now,
             uint64_t window_start)
{
    return (cw_candidate_t) {
        .rule = rule, .user_id = user, .time_zone = tz, .now_ms = now,
        .fire = { .observed = 158, .target_lo = 165, .target_hi = 175,
                  .window_start_ms = window_start, .window_end_ms = window_start + 60000,
                  .samples = 150 } };
}

static int
s_decide (fixture_t *f, const cw_candidate_t *c, cw_decision_t *d)
{
    int rc = cw_arbiter_decide (f->arbiter, c, d);
    assert_int_equal (rc, CW_OK);
    return d->sent ? CW_DECISION_SENT : (int) d->code;
}

static void
s_count_row (void *ctx, const cw_decision_row_t *row)
{
    (void) row;
    (*(size_t *) ctx)++;
}

static void
test_consent_held (void **state)
{
    fixture_t *f = *state;
    const cw_rule_t *pair = cw_rules_find (f->extra, "form_pair");
    f->consent.denied = "running.stance_time";
    cw_decision_t d;
    //  The gate: the rule does not run; the hold names the field.
    assert_int_equal (cw_arbiter_gate (f->arbiter, pair, s_ana, NOON_TOKYO, &d), CW_OK);
    assert_false (d.sent);
    assert_int_equal (d.code, CW_DECISION_HELD_CONSENT);
    assert_string_equal (d.reason, "consent (field running.stance_time not granted for "
                                   "coaching)");
    //  Asked again and again: recorded once.
    for (uint64_t i = 0; i < 5; i++) {
        int rc = cw_arbiter_gate (f->arbiter, pair, s_ana, NOON_TOKYO + i, &d);
        assert_int_equal (rc, CW_OK);
    }
    size_t rows = 0;
    assert_int_equal (cw_arbiter_decisions_each (f->arbiter, s_ana, 0, s_count_row, &rows),
                      CW_OK);
    assert_int_equal (rows, 1);
    //  decide holds too (consent is asked again at decision time).
    cw_candidate_t c = s_candidate (pair, s_ana, "Asia/Tokyo", NOON_TOKYO, NOON_TOKYO - 60000);
    assert_int_equal (s_decide (f, &c, &d), CW_DECISION_HELD_CONSENT);
    //  Granted: the gate lets it run, with both grants.
    f->consent.denied = NULL;
    assert_int_equal (cw_arbiter_gate (f->arbiter, pair, s_ana, NOON_TOKYO, &d), CW_OK);
    assert_true (d.sent);
    assert_int_equal (d.n_uses, 2);
    assert_int_equal (s_decide (f, &c, &d), CW_DECISION_SENT);
    //  A rule reading a denied field is held; one reading another field is not.
    f->consent.denied = "meal.protein";
    const cw_rule_t *protein = cw_rules_find (f->rules, "protein_low");
    cw_candidate_t pc = s_candidate (protein, s_ana, "Asia/Tokyo", NOON_TOKYO, T0);
    assert_int_equal (s_decide (f, &pc, &d), CW_DECISION_HELD_CONSENT);
    assert_non_null (strstr (d.reason, "meal.protein"));
    cw_candidate_t sc = s_candidate (cw_rules_find (f->rules, "sugar_high"), s_ana,
                                     "Asia/Tokyo", NOON_TOKYO, T0);
    assert_int_equal (s_decide (f, &sc, &d), CW_DECISION_SENT);
}

static void
test_budget (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (cw_arbiter_settings_set (f->arbiter, s_ana, 2, 22 * 60, 7 * 60), CW_OK);
    assert_int_equal (cw_arbiter_settings_set (f->arbiter, s_ana, 101, 0, 0), CW_EINVAL);
    const char *ids [] = { "cadence_low", "vertical_oscillation_high", "contact_time_high" };
    cw_decision_t d;
    for (uint64_t i = 0; i < 3; i++) {
        cw_candidate_t c = s_candidate (cw_rules_find (f->rules, ids [i]), s_ana, "Asia/Tokyo",
                                        NOON_TOKYO + i * 1000u, NOON_TOKYO);
        int code = s_decide (f, &c, &d);
        assert_int_equal (code, i < 2 ? CW_DECISION_SENT : CW_DECISION_HELD_BUDGET);
    }
    assert_non_null (strstr (d.reason, "budget (2 of 2"));
    //  Bob has his own (default) budget.
    cw_candidate_t c = s_candidate (cw_rules_find (f->rules, "contact_time_high"), s_bob,
                                    "Asia/Tokyo", NOON_TOKYO, NOON_TOKYO);
    assert_int_equal (s_decide (f, &c, &d), CW_DECISION_SENT);
    //  The next local day (Tokyo midnight is 15:00Z) has a fresh budget.
    c = s_candidate (cw_rules_find (f->rules, "contact_time_high"), s_ana, "Asia/Tokyo",
                     T0 + 24 * HOUR, T0 + 24 * HOUR);
    assert_int_equal (s_decide (f, &c, &d), CW_DECISION_SENT);
}

static void
test_quiet_hours (void **state)
{
    fixture_t *f = *state;
    const cw_rule_t *low = cw_rules_find (f->rules, "cadence_low");
    cw_decision_t d;
    //  14:00Z is 23:00 in Tokyo: quiet there, not in London (15:00 BST).
    uint64_t t = T0 + 14 * HOUR;
    cw_candidate_t c = s_candidate (low, s_ana, "Asia/Tokyo", t, t - 60000);
    assert_int_equal (s_decide (f, &c, &d), CW_DECISION_HELD_QUIET);
    assert_non_null (strstr (d.reason, "quiet hours (23:00 in Asia/Tokyo"));
    c = s_candidate (low, s_bob, "Europe/London", t, t - 60000);
    assert_int_equal (s_decide (f, &c, &d), CW_DECISION_SENT);
    //  06:59 Tokyo (21:59Z) quiet, 07:00 not.
    c = s_candidate (low, s_ana, "Asia/Tokyo", T0 - 2 * HOUR - 60000, T0 - 3 * HOUR);
    assert_int_equal (s_decide (f, &c, &d), CW_DECISION_HELD_QUIET);
    c = s_candidate (low, s_ana, "Asia/Tokyo", T0 - 2 * HOUR, T0 - 3 * HOUR);
    assert_int_equal (s_decide (f, &c, &d), CW_DECISION_SENT);
    //  A zone that does not exist is an error, not UTC.
    c = s_candidate (low, s_ana, "Mars/Olympus", t, t);
    assert_int_equal (cw_arbiter_decide (f->arbiter, &c, &d), CW_ENOENT);
    c = s_candidate (low, s_ana, "../etc/passwd", t, t);
    assert_int_equal (cw_arbiter_decide (f->arbiter, &c, &d), CW_EINVAL);
}

static void
test_cooldown_and_duplicate (void **state)
{
    fixture_t *f = *state;
    const cw_rule_t *low = cw_rules_find (f->rules, "cadence_low");      /* cooldown 10m */
    cw_decision_t d;
    cw_candidate_t c = s_candidate (low, s_ana, "Asia/Tokyo", NOON_TOKYO, NOON_TOKYO - 60000);
    assert_int_equal (s_decide (f, &c, &d), CW_DECISION_SENT);
    c = s_candidate (low, s_ana, "Asia/Tokyo", NOON_TOKYO + 5 * 60000, NOON_TOKYO + 4 * 60000);
    assert_int_equal (s_decide (f, &c, &d), CW_DECISION_HELD_COOLDOWN);
    assert_non_null (strstr (d.reason, "cooldown (rule cadence_low sent 300 s ago; 5 min left)"));
    c = s_candidate (low, s_ana, "Asia/Tokyo", NOON_TOKYO + 10 * 60000, NOON_TOKYO + 9 * 60000);
    assert_int_equal (s_decide (f, &c, &d), CW_DECISION_SENT);
    //  De-duplication: the same window again, after a 1 s cooldown.
    const cw_rule_t *pair = cw_rules_find (f->extra, "form_pair");
    c = s_candidate (pair, s_ana, "Asia/Tokyo", NOON_TOKYO, NOON_TOKYO - 30000);
    assert_int_equal (s_decide (f, &c, &d), CW_DECISION_SENT);
    c.now_ms += 5000;
    assert_int_equal (s_decide (f, &c, &d), CW_DECISION_HELD_DUPLICATE);
    assert_non_null (strstr (d.reason, "duplicate"));
    c.fire.window_start_ms += 30000;
    c.fire.window_end_ms += 30000;
    assert_int_equal (s_decide (f, &c, &d), CW_DECISION_SENT);
    //  Every decision was recorded, held ones too.
    size_t rows = 0;
    assert_int_equal (cw_arbiter_decisions_each (f->arbiter, s_ana, 0, s_count_row, &rows),
                      CW_OK);
    assert_int_equal (rows, 6);
}

static void
test_nudge_disclosure (void **state)
{
    fixture_t *f = *state;
    const cw_rule_t *pair = cw_rules_find (f->extra, "form_pair");
    cw_candidate_t c = s_candidate (pair, s_ana, "Asia/Tokyo", NOON_TOKYO, NOON_TOKYO - 30000);
    c.fire.window_end_ms = NOON_TOKYO;
    cw_decision_t d;
    assert_int_equal (s_decide (f, &c, &d), CW_DECISION_SENT);
    cw_nudge_t en, ja;
    assert_int_equal (cw_nudge_build (&en, &c, &d, "en_GB", 0), CW_OK);
    assert_int_equal (cw_nudge_build (&ja, &c, &d, "ja", 0), CW_OK);
    assert_string_equal (en.message, "cadence 158 spm below 165 (30 s)");
    assert_string_equal (ja.message, "ケイデンス158spmは165未満（30秒）");
    assert_string_equal (en.locale, "en");
    assert_string_equal (ja.locale, "ja");
    assert_int_equal (en.expires_ms, NOON_TOKYO + CW_NUDGE_DEFAULT_TTL_MS);
    //  The disclosure: exactly the fields the rule read, with the grants the callback gave.
    assert_int_equal (en.n_uses, pair->n_fields);
    for (size_t i = 0; i < en.n_uses; i++) {
        const cw_field_use_t *u = &en.uses [i];
        assert_string_equal (u->field, pair->fields [i]);
        assert_string_equal (u->purpose, "coaching");
        uint8_t grant [CW_ID_BYTES];
        uint32_t policy = 0;
        assert_int_equal (s_fake_consent (&f->consent, s_ana, u->field, "coaching", 0, grant,
                                          &policy), CW_OK);
        assert_memory_equal (u->grant_id, grant, CW_ID_BYTES);
        assert_int_equal (u->policy_version, 3);
        assert_int_equal (u->window_start_ms, NOON_TOKYO - 30000);
        assert_int_equal (u->window_end_ms, NOON_TOKYO);
        assert_int_equal (u->samples, 150);
    }
    assert_string_equal (en.why.goal, "cadence");
    assert_string_equal (en.why.target, "165");
    //  A held decision makes no nudge.
    cw_decision_t held = d;
    held.sent = false;
    assert_int_equal (cw_nudge_build (&en, &c, &held, "en", 0), CW_ESTATE);
    //  Round trip through the wire form.
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (cw_nudge_pack (&ja, &buf, &len), CW_OK);
    cw_nudge_t back;
    assert_int_equal (cw_nudge_unpack (buf, len, &back), CW_OK);
    assert_memory_equal (back.id, ja.id, CW_ID_BYTES);
    assert_string_equal (back.message, ja.message);
    assert_int_equal (back.n_uses, 2);
    assert_memory_equal (back.uses [1].grant_id, ja.uses [1].grant_id, CW_ID_BYTES);
    assert_int_equal (cw_nudge_unpack (buf, len / 2, &back) != CW_OK, 1);
    free (buf);
    //  Text and JSON show the disclosure in full.
    char *text = NULL;
    assert_int_equal (cw_nudge_text (&ja, &text), CW_OK);
    assert_non_null (strstr (text, "running.cadence  purpose coaching  grant "));
    assert_non_null (strstr (text, "running.stance_time  purpose coaching"));
    assert_non_null (strstr (text, "policy v3"));
    assert_non_null (strstr (text, "samples 150"));
    assert_non_null (strstr (text, "ケイデンス158spm"));
    free (text);
    cw_json_t *json = NULL;
    assert_int_equal (cw_json_new (&json, 0), CW_OK);
    cw_nudge_json (&en, json, NULL);
    const char *doc = cw_json_text (json, NULL);
    assert_non_null (doc);
    assert_non_null (strstr (doc, "\"disclosure\":[{\"field\":\"running.cadence\",\"purpose\":"
                                  "\"coaching\",\"grant_id\":\""));
    assert_non_null (strstr (doc, "\"policy_version\":3"));
    cw_json_destroy (&json);
}

static int s_nudges_seen;
static void
s_count_nudge (void *ctx, const cw_nudge_t *n)
{
    (void) n;
    (*(int *) ctx)++;
    s_nudges_seen++;
}

static cw_nudge_t
s_stored (fixture_t *f, const char *rule_id, const uint8_t *user, uint64_t now)
{
    const cw_rule_t *rule = cw_rules_find (f->rules, rule_id);
    cw_candidate_t c = s_candidate (rule, user, "UTC", now, now - 60000);
    cw_decision_t d = { .sent = true, .n_uses = rule->n_fields };
    for (size_t i = 0; i < rule->n_fields; i++) {
        snprintf (d.uses [i].field, sizeof d.uses [i].field, "%s", rule->fields [i]);
        snprintf (d.uses [i].purpose, sizeof d.uses [i].purpose, "coaching");
    }
    cw_nudge_t n;
    assert_int_equal (cw_nudge_build (&n, &c, &d, "en", HOUR), CW_OK);
    assert_int_equal (cw_nudges_put (f->nudges, &n), CW_OK);
    return n;
}

static void
test_nudge_store (void **state)
{
    fixture_t *f = *state;
    cw_nudge_t a = s_stored (f, "cadence_low", s_ana, T0);
    cw_nudge_t b = s_stored (f, "protein_low", s_ana, T0 + 1);
    cw_nudge_t c = s_stored (f, "cadence_high", s_ana, T0 + 2);
    cw_nudge_t e = s_stored (f, "cadence_low", s_bob, T0 + 3);
    assert_int_equal (cw_nudges_put (f->nudges, &a), CW_EEXIST);
    //  Delivered once; acks by the owner only, repeatable.
    assert_int_equal (cw_nudges_delivered (f->nudges, c.id, T0 + 10), CW_OK);
    assert_int_equal (cw_nudges_delivered (f->nudges, c.id, T0 + 11), CW_ESTATE);
    assert_int_equal (cw_nudges_acked (f->nudges, s_bob, c.id, T0 + 12), CW_EDENIED);
    assert_int_equal (cw_nudges_acked (f->nudges, s_ana, c.id, T0 + 12), CW_OK);
    assert_int_equal (cw_nudges_acked (f->nudges, s_ana, c.id, T0 + 13), CW_OK);
    uint8_t unknown [CW_ID_BYTES] = { 0 };
    assert_int_equal (cw_nudges_delivered (f->nudges, unknown, T0), CW_ENOENT);
    //  Withdrawing running.cadence drops Ana's pending cadence nudge only: not her protein
    //  nudge, not her acked one, not Bob's.
    size_t dropped = 99;
    assert_int_equal (cw_nudges_withdraw_field (f->nudges, s_ana, "running.cadence", T0 + 20,
                                                &dropped), CW_OK);
    assert_int_equal (dropped, 1);
    cw_nudge_t got;
    assert_int_equal (cw_nudges_get (f->nudges, a.id, &got), CW_OK);
    assert_int_equal (got.state, CW_NUDGE_WITHDRAWN);
    assert_int_equal (cw_nudges_get (f->nudges, b.id, &got), CW_OK);
    assert_int_equal (got.state, CW_NUDGE_PENDING);
    assert_int_equal (cw_nudges_get (f->nudges, c.id, &got), CW_OK);
    assert_int_equal (got.state, CW_NUDGE_ACKED);
    assert_int_equal (cw_nudges_get (f->nudges, e.id, &got), CW_OK);
    assert_int_equal (got.state, CW_NUDGE_PENDING);
    assert_int_equal (cw_nudges_withdraw_field (f->nudges, s_ana, "running.*", T0 + 21,
                                                &dropped), CW_OK);
    assert_int_equal (dropped, 0);
    //  Listing by state.
    int pending = 0, all = 0;
    assert_int_equal (cw_nudges_each (f->nudges, s_ana, CW_NUDGE_PENDING, 0, s_count_nudge,
                                      &pending), CW_OK);
    assert_int_equal (cw_nudges_each (f->nudges, s_ana, 0, 0, s_count_nudge, &all), CW_OK);
    assert_int_equal (pending, 1);
    assert_int_equal (all, 3);
    //  Expiry (TTL one hour): the pending ones go, the acked stays acked.
    size_t expired = 0;
    assert_int_equal (cw_nudges_expire (f->nudges, T0 + HOUR - 1000, &expired), CW_OK);
    assert_int_equal (expired, 0);
    assert_int_equal (cw_nudges_expire (f->nudges, T0 + HOUR + 10, &expired), CW_OK);
    assert_int_equal (expired, 2);
    assert_int_equal (cw_nudges_get (f->nudges, b.id, &got), CW_OK);
    assert_int_equal (got.state, CW_NUDGE_EXPIRED);
    assert_int_equal (cw_nudges_delivered (f->nudges, b.id, T0), CW_ESTATE);
}

typedef struct {
    int rows;
    cw_effectiveness_t low;
} effect_t;

static void
s_effect (void *ctx, const cw_effectiveness_t *row)
{
    effect_t *e = ctx;
    e->rows++;
    if (strcmp (row->rule, "cadence_low") == 0) {
        e->low = *row;
        e->low.rule = NULL;
    }
}

static void
test_feedback_effectiveness (void **state)
{
    fixture_t *f = *state;
    cw_nudge_t a = s_stored (f, "cadence_low", s_ana, T0);
    cw_nudge_t b = s_stored (f, "cadence_low", s_ana, T0 + HOUR);
    (void) s_stored (f, "protein_low", s_ana, T0);
    assert_int_equal (cw_nudges_delivered (f->nudges, a.id, T0 + 1), CW_OK);
    assert_int_equal (cw_nudges_feedback (f->nudges, s_ana, a.id, CW_FEEDBACK_OPENED, T0 + 2),
                      CW_OK);
    assert_int_equal (cw_nudges_feedback (f->nudges, s_ana, a.id, CW_FEEDBACK_OPENED, T0 + 3),
                      CW_OK);
    assert_int_equal (cw_nudges_feedback (f->nudges, s_ana, a.id, CW_FEEDBACK_HELPFUL, T0 + 3),
                      CW_OK);
    assert_int_equal (cw_nudges_feedback (f->nudges, s_ana, b.id, CW_FEEDBACK_DISMISSED, T0),
                      CW_OK);
    assert_int_equal (cw_nudges_feedback (f->nudges, s_bob, b.id, CW_FEEDBACK_HELPFUL, T0),
                      CW_EDENIED);
    cw_feedback_t kind;
    assert_int_equal (cw_feedback_parse ("helpful", &kind), CW_OK);
    assert_int_equal (kind, CW_FEEDBACK_HELPFUL);
    assert_int_equal (cw_feedback_parse ("liked", &kind), CW_EINVAL);
    assert_int_equal (cw_nudges_outcome (f->nudges, a.id, 158, 166, T0 + 600000), CW_OK);
    assert_int_equal (cw_nudges_outcome (f->nudges, b.id, 160, 162, T0 + 600000), CW_OK);
    uint8_t unknown [CW_ID_BYTES] = { 0 };
    assert_int_equal (cw_nudges_outcome (f->nudges, unknown, 1, 2, T0), CW_ENOENT);
    effect_t e = { 0 };
    assert_int_equal (cw_nudges_effectiveness_each (f->nudges, NULL, 0, s_effect, &e), CW_OK);
    assert_int_equal (e.rows, 2);
    assert_int_equal (e.low.sent, 2);
    assert_int_equal (e.low.delivered, 1);
    assert_int_equal (e.low.opened, 1);
    assert_int_equal (e.low.dismissed, 1);
    assert_int_equal (e.low.helpful, 1);
    assert_int_equal (e.low.outcomes, 2);
    assert_true (e.low.mean_change > 4.99 && e.low.mean_change < 5.01);
    memset (&e, 0, sizeof e);
    assert_int_equal (cw_nudges_effectiveness_each (f->nudges, s_bob, 0, s_effect, &e), CW_OK);
    assert_int_equal (e.rows, 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_consent_held, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_budget, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_quiet_hours, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_cooldown_and_duplicate, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_nudge_disclosure, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_nudge_store, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_feedback_effectiveness, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
