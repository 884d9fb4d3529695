/*  test_coach.c - the coaching engine inside the running service, on 127.0.0.1: a cadence
 *  that stays low produces a nudge that reaches the phone within a second of the window's end;
 *  its disclosure equals what the access log says the engine read; without consent the rule
 *  never runs; a nudge for an offline person arrives when the phone reconnects, once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"
#include "coachwire/cw_access_log.h"
#include "coachwire/cw_arbiter.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_gateway.h"
#include "coachwire/cw_keyring.h"
#include "coachwire/cw_coach.h"
#include "coachwire/cw_nudge.h"
#include "coachwire/cw_rules.h"

typedef struct {
    harness_t *h;
    uint8_t user [CW_ID_BYTES];
    cw_cred_t *cred;
    device_t *dev;
    uint64_t seq;
} fixture_t;

static int
s_no_consent (void *ctx, const uint8_t *user_id, const char *field, const char *purpose,
              uint64_t now_ms, uint8_t grant_id [CW_ID_BYTES], uint32_t *policy_version)
{
    (void) ctx, (void) user_id, (void) field, (void) purpose, (void) now_ms, (void) grant_id;
    (void) policy_version;
    return CW_ECONSENT;
}

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    f->h = harness_new (false);
    harness_add_person (f->h, "ana", f->user);   /* en, UTC */
    /* no quiet hours, so that the outcome does not depend on when the suite runs (the
     * arbiter's own tests cover quiet hours) */
    cw_arbiter_t *arb = NULL;
    assert_int_equal (cw_arbiter_open (&arb, harness_store (f->h), s_no_consent, NULL), CW_OK);
    assert_int_equal (cw_arbiter_settings_set (arb, f->user, 6, 0, 0), CW_OK);
    cw_arbiter_destroy (&arb);
    f->cred = harness_enroll_device (f->h, f->user);
    f->dev = device_connect (f->h, f->cred);
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    device_destroy (&f->dev);
    cw_cred_destroy (&f->cred);
    harness_destroy (&f->h);
    free (f);
    return 0;
}

static void s_run_at (fixture_t *f, device_t *dev, uint64_t start, uint32_t seconds,
                      uint32_t cadence_spm);

/*  Sends n seconds of running dynamics at cadence spm ending now, one frame per 10 s. */
static void
s_run (fixture_t *f, device_t *dev, uint32_t seconds, uint32_t cadence_spm)
{
    s_run_at (f, dev, cw_now_ms () - (uint64_t) seconds * 1000, seconds, cadence_spm);
}

/*  The same from start (epoch ms). */
static void
s_run_at (fixture_t *f, device_t *dev, uint64_t start, uint32_t seconds, uint32_t cadence_spm)
{
    for (uint32_t s = 0; s < seconds; s += 10) {
        Coachwire__RunningDynamicsBatch r = COACHWIRE__RUNNING_DYNAMICS_BATCH__INIT;
        uint32_t deltas [10], cad [10], vo [10], st [10];
        for (int i = 0; i < 10; i++) {
            deltas [i] = i ? 1000 : 0;
            cad [i] = cadence_spm * 10;
            vo [i] = 800;
            st [i] = 2500;
        }
        r.start_time_ms = start + (uint64_t) s * 1000;
        r.n_time_delta_ms = r.n_cadence_spm_x10 = r.n_vertical_oscillation_mm_x10
            = r.n_stance_time_ms_x10 = 10;
        r.time_delta_ms = deltas;
        r.cadence_spm_x10 = cad;
        r.vertical_oscillation_mm_x10 = vo;
        r.stance_time_ms_x10 = st;
        Coachwire__SensorBatch b = COACHWIRE__SENSOR_BATCH__INIT;
        b.body_case = COACHWIRE__SENSOR_BATCH__BODY_RUNNING;
        b.running = &r;
        device_send_batch (dev, &b, 4, ++f->seq);
    }
}

/*  Reads downlinks for up to timeout_ms: counts acks, returns the first nudge (or NULL). */
static Coachwire__Downlink *
s_wait_nudge (device_t *dev, int timeout_ms)
{
    uint64_t until = cw_now_ms () + (uint64_t) timeout_ms;
    while (cw_now_ms () < until) {
        Coachwire__Downlink *d = device_recv (dev, (int) (until - cw_now_ms ()) + 1);
        if (!d)
            return NULL;
        if (d->body_case == COACHWIRE__DOWNLINK__BODY_NUDGE)
            return d;
        assert_int_equal (d->body_case, COACHWIRE__DOWNLINK__BODY_ACK);
        coachwire__downlink__free_unpacked (d, NULL);
    }
    return NULL;
}

typedef struct {
    char fields [256];
    char grants [256];
    size_t decisions;
} s_log_t;

static int
s_log_fn (void *ctx, const cw_access_record_t *r)
{
    s_log_t *log = ctx;
    if (r->what != CW_ACCESS_DECISION || strstr (r->detail, "nudge sent") == NULL)
        return CW_OK;
    log->decisions++;
    snprintf (log->fields, sizeof log->fields, "%s", r->fields);
    snprintf (log->grants, sizeof log->grants, "%s", r->grant_ids);
    assert_string_equal (r->purpose, "coaching");
    assert_string_equal (r->actor_name, "engine");
    return CW_OK;
}

static void
test_without_consent_the_rule_never_runs (void **state)
{
    fixture_t *f = *state;
    /* everything kept (retention), nothing granted for coaching */
    harness_grant (f->h, f->user, "*", "retention");
    s_run (f, f->dev, 120, 150);
    Coachwire__Downlink *d = s_wait_nudge (f->dev, 1500);
    assert_null (d);
    s_log_t log = { "", "", 0 };
    cw_access_log_t *al = NULL;
    assert_int_equal (cw_access_log_open (&al, harness_store (f->h)), CW_OK);
    assert_int_equal (cw_access_log_list (al, f->user, 0, 0, s_log_fn, &log), CW_OK);
    assert_int_equal (log.decisions, 0);
    cw_access_log_destroy (&al);
}

static void
test_low_cadence_nudged_in_the_moment_with_its_disclosure (void **state)
{
    fixture_t *f = *state;
    harness_grant (f->h, f->user, "running.*", "coaching");
    uint64_t sent = cw_now_ms ();
    s_run (f, f->dev, 120, 150);    /* below the default 165..180 for two minutes */
    Coachwire__Downlink *d = s_wait_nudge (f->dev, 3000);
    if (!d)
        fail_msg ("no nudge reached the phone");
    uint64_t latency = cw_now_ms () - sent;
    printf ("frame-to-nudge: %llu ms\n", (unsigned long long) latency);
    assert_true (latency < 1000);
    cw_nudge_t n;
    assert_int_equal (cw_nudge_unpack (d->nudge->body.data, d->nudge->body.len, &n), CW_OK);
    coachwire__downlink__free_unpacked (d, NULL);
    assert_string_equal (n.rule, "cadence_low");
    assert_non_null (strstr (n.message, "150"));
    assert_true (n.why.observed > 149.9 && n.why.observed < 150.1);
    assert_true (n.why.target_lo >= 165 - 0.1);
    /* the disclosure is exactly what the access log says the engine read for this decision */
    s_log_t log = { "", "", 0 };
    cw_access_log_t *al = NULL;
    assert_int_equal (cw_access_log_open (&al, harness_store (f->h)), CW_OK);
    assert_int_equal (cw_access_log_list (al, f->user, 0, 0, s_log_fn, &log), CW_OK);
    cw_access_log_destroy (&al);
    assert_int_equal (log.decisions, 1);
    char fields [256] = "", grants [256] = "";
    for (size_t i = 0; i < n.n_uses; i++) {
        char hex [2 * CW_ID_BYTES + 1];
        cw_hex_encode (hex, n.uses [i].grant_id, CW_ID_BYTES);
        size_t fl = strlen (fields), gl = strlen (grants);
        snprintf (fields + fl, sizeof fields - fl, "%s%s", i ? "," : "", n.uses [i].field);
        snprintf (grants + gl, sizeof grants - gl, "%s%s", i ? "," : "", hex);
        assert_string_equal (n.uses [i].purpose, "coaching");
        assert_true (n.uses [i].samples > 0);
    }
    assert_string_equal (fields, log.fields);
    assert_string_equal (grants, log.grants);
    assert_string_equal (fields, "running.cadence");
}

static void
test_withdrawal_stops_the_nudges (void **state)
{
    fixture_t *f = *state;
    harness_grant (f->h, f->user, "running.*", "coaching");
    s_run (f, f->dev, 120, 150);
    Coachwire__Downlink *d = s_wait_nudge (f->dev, 3000);
    assert_non_null (d);
    coachwire__downlink__free_unpacked (d, NULL);
    harness_consent (f->h, f->user, "running.cadence", "coaching", false);
    /* high cadence would fire cadence_high, if the rule could still read cadence */
    s_run (f, f->dev, 120, 195);
    assert_null (s_wait_nudge (f->dev, 1500));
}

/*  The engine made a nudge while none of the person's devices was connected (it is too quick
 *  to arrange that by timing: it answers within milliseconds of a commit). */
static void
s_nudge_while_offline (fixture_t *f)
{
    size_t len = 0;
    const char *text = cw_coach_default_rules (&len);
    cw_rules_t *rules = NULL;
    cw_parse_error_t err;
    assert_int_equal (cw_rules_parse (text, len, &rules, &err), CW_OK);
    const cw_rule_t *rule = cw_rules_find (rules, "cadence_low");
    assert_non_null (rule);
    uint64_t now = cw_now_ms ();
    cw_candidate_t cand = { .rule = rule, .user_id = f->user, .time_zone = "UTC", .now_ms = now };
    cand.fire.observed = 150;
    cand.fire.target_lo = 165;
    cand.fire.target_hi = 180;
    cand.fire.window_start_ms = now - 60000;
    cand.fire.window_end_ms = now;
    cand.fire.samples = 60;
    cw_decision_t d;
    memset (&d, 0, sizeof d);
    d.sent = true;
    d.n_uses = 1;
    snprintf (d.uses [0].field, sizeof d.uses [0].field, "running.cadence");
    snprintf (d.uses [0].purpose, sizeof d.uses [0].purpose, "coaching");
    d.uses [0].window_start_ms = now - 60000;
    d.uses [0].window_end_ms = now;
    d.uses [0].samples = 60;
    cw_nudge_t nudge;
    assert_int_equal (cw_nudge_build (&nudge, &cand, &d, "en", 0), CW_OK);
    cw_nudges_t *nudges = NULL;
    assert_int_equal (cw_nudges_open (&nudges, harness_store (f->h)), CW_OK);
    assert_int_equal (cw_nudges_put (nudges, &nudge), CW_OK);
    cw_nudges_destroy (&nudges);
    cw_rules_destroy (&rules);
}

static void
test_offline_person_gets_the_nudge_on_reconnect_once (void **state)
{
    fixture_t *f = *state;
    device_destroy (&f->dev);
    zmq_poll (NULL, 0, 100);
    s_nudge_while_offline (f);
    /* the phone comes back: on its first frame the waiting nudge is delivered */
    f->dev = device_connect (f->h, f->cred);
    Coachwire__SensorBatch *hr = batch_heart_rate (cw_now_ms () - 10000, 5, 120);
    device_send_batch (f->dev, hr, 2, 1);
    batch_free (hr);
    Coachwire__Downlink *d = s_wait_nudge (f->dev, 3000);
    if (!d)
        fail_msg ("the waiting nudge did not arrive on reconnect");
    coachwire__downlink__free_unpacked (d, NULL);
    /* once: another reconnect brings nothing */
    device_destroy (&f->dev);
    f->dev = device_connect (f->h, f->cred);
    hr = batch_heart_rate (cw_now_ms () - 10000, 5, 120);
    device_send_batch (f->dev, hr, 2, 2);
    batch_free (hr);
    assert_null (s_wait_nudge (f->dev, 1000));
}

typedef struct {
    const uint8_t *key;
    size_t frames, with_cadence, with_other;
} s_kept_t;

static int
s_kept_fn (void *ctx, const cw_stored_frame_t *fr)
{
    s_kept_t *k = ctx;
    uint8_t plain [4096];
    size_t n = 0;
    assert_int_equal (cw_stored_open (plain, &n, k->key, fr->device_id, fr->user_id, fr->stream,
                                      fr->sequence, fr->sealed, fr->sealed_len), CW_OK);
    Coachwire__SensorBatch *b = coachwire__sensor_batch__unpack (NULL, n, plain);
    assert_non_null (b);
    k->frames++;
    k->with_cadence += b->running->n_cadence_spm_x10 > 0;
    k->with_other += b->running->n_vertical_oscillation_mm_x10 + b->running->n_stance_time_ms_x10
                     > 0;
    coachwire__sensor_batch__free_unpacked (b, NULL);
    return CW_OK;
}

/*  Waits for the engine to have processed everything, then reads what is kept. */
static s_kept_t
s_kept (fixture_t *f)
{
    zmq_poll (NULL, 0, 800);
    cw_keyring_t *kr = NULL;
    assert_int_equal (cw_keyring_load (&kr, harness_dir (f->h)), CW_OK);
    uint8_t wrapped [CW_WRAPPED_KEY_BYTES];
    assert_int_equal (cw_store_person_key_get (harness_store (f->h), f->user, wrapped), CW_OK);
    uint8_t *key = sodium_malloc (32);
    assert_int_equal (cw_keyring_person_key_unwrap (kr, f->user, wrapped, key), CW_OK);
    s_kept_t k = { key, 0, 0, 0 };
    assert_int_equal (cw_store_frame_each (harness_store (f->h), f->user, 0, 0, s_kept_fn, &k),
                      CW_OK);
    sodium_free (key);
    cw_keyring_destroy (&kr);
    return k;
}

static void
test_raw_readings_kept_past_processing_only_under_retention (void **state)
{
    fixture_t *f = *state;
    harness_grant (f->h, f->user, "running.*", "coaching");
    s_run (f, f->dev, 60, 170);
    s_kept_t k = s_kept (f);
    assert_int_equal (k.frames, 0);     /* read by the engine, then gone */
    harness_grant (f->h, f->user, "running.cadence", "retention");
    s_run (f, f->dev, 60, 170);
    k = s_kept (f);
    assert_int_equal (k.frames, 6);     /* the second run's six frames ... */
    assert_int_equal (k.with_cadence, 6);
    assert_int_equal (k.with_other, 0); /* ... with cadence alone */
}

typedef struct {
    uint64_t outcomes;
    double change;
} s_effect_t;

static void
s_effect_fn (void *ctx, const cw_effectiveness_t *row)
{
    s_effect_t *e = ctx;
    if (strcmp (row->rule, "cadence_low") == 0) {
        e->outcomes = row->outcomes;
        e->change = row->mean_change;
    }
}

static void
test_proximal_outcome_measured_after_a_nudge (void **state)
{
    fixture_t *f = *state;
    harness_grant (f->h, f->user, "running.*", "coaching");
    /* two minutes low, then six minutes at a good cadence: the five minutes after the nudge
     * against the minute that triggered it */
    uint64_t start = cw_now_ms () - 480000;
    s_run_at (f, f->dev, start, 120, 150);
    s_run_at (f, f->dev, start + 120000, 360, 174);
    zmq_poll (NULL, 0, 1000);
    cw_nudges_t *nudges = NULL;
    assert_int_equal (cw_nudges_open (&nudges, harness_store (f->h)), CW_OK);
    s_effect_t e = { 0, 0 };
    for (int i = 0; i < 20 && e.outcomes == 0; i++) {
        assert_int_equal (cw_nudges_effectiveness_each (nudges, f->user, 0, s_effect_fn, &e),
                          CW_OK);
        if (e.outcomes == 0)
            zmq_poll (NULL, 0, 100);
    }
    cw_nudges_destroy (&nudges);
    assert_int_equal (e.outcomes, 1);
    printf ("cadence_low: outcome change %+.1f spm\n", e.change);
    /* the rule fires 60 s into the low stretch: the five minutes after it hold 60 s more at
     * 150 and 240 s at 174, mean 169.2, against 150 before: +19.2 */
    assert_true (e.change > 18.5 && e.change < 20.0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_without_consent_the_rule_never_runs, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_low_cadence_nudged_in_the_moment_with_its_disclosure,
                                         setup, teardown),
        cmocka_unit_test_setup_teardown (test_withdrawal_stops_the_nudges, setup, teardown),
        cmocka_unit_test_setup_teardown (test_offline_person_gets_the_nudge_on_reconnect_once,
                                         setup, teardown),
        cmocka_unit_test_setup_teardown (
            test_raw_readings_kept_past_processing_only_under_retention, setup, teardown),
        cmocka_unit_test_setup_teardown (test_proximal_outcome_measured_after_a_nudge, setup,
                                         teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
