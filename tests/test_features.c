/*  test_features.c - feature extraction on bad input, on synthetic signals with known answers,
 *  and on real recordings (tests/data, see SOURCES.txt) against their ground truth.
 *
 *  Every accuracy test prints its figure next to its bound, so a regression shows how far.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coachwire/cw_dynamics.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_features.h"
#include "coachwire/cw_form.h"
#include "coachwire/cw_meals.h"
#include "coachwire/cw_steps.h"
#include "coachwire/cw_strides.h"
#include "features_csv.h"

#define S_G 9.80665
#define S_PI 3.14159265358979323846

// ---------------------------------------------------------------------------------------
//  Synthetic body-worn IMU: a person stands, moves at a given cadence, stands again.

typedef struct {
    double cadence_spm;     /* nominal */
    double rate_hz;
    double moving_s;        /* seconds of walking or running */
    double still_s;         /* seconds standing before and after */
    double duty;            /* running: share of a step in contact (0: walking model) */
    double asymmetry;       /* alternate steps last (1 + a) and (1 - a) of the period */
    double jitter;          /* uniform step-to-step period jitter, share */
    double noise;           /* m/s^2, roughly uniform */
    double yaw, pitch, roll;/* device orientation, radians */
} s_synth_opts_t;

typedef struct {
    int32_t *ax, *ay, *az;
    size_t n;
    size_t steps;           /* full steps generated */
    size_t moving_end;      /* first sample after the last step */
} s_synth_t;

static uint64_t s_rng = 88172645463325252u;

static double
s_uniform (void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (double) (s_rng >> 11) / 9007199254740992.0;    // [0, 1)
}

//  Vertical specific force (what an accelerometer reads along "up") at phase ph of a step.
static double
s_vertical_force (const s_synth_opts_t *o, double ph)
{
    if (o->duty <= 0.0)     // walking: two humps per step, as heel strike and push-off
        return S_G + 2.5 * sin (2.0 * S_PI * ph) + 0.9 * sin (4.0 * S_PI * ph + 1.0);
    if (ph >= o->duty)
        return 0.0;         // flight: free fall reads zero
    //  Half-sine stance whose mean over the step equals g (the body neither rises nor sinks).
    return S_PI * S_G / (2.0 * o->duty) * sin (S_PI * ph / o->duty);
}

static int32_t
s_mm (double v)
{
    return (int32_t) lrint (v * 1000.0);
}

static void
s_synth (const s_synth_opts_t *o, s_synth_t *out)
{
    size_t cap = (size_t) ((o->moving_s * 1.1 + 2.0 * o->still_s + 2.0) * o->rate_hz);
    out->ax = calloc (cap, sizeof (int32_t));
    out->ay = calloc (cap, sizeof (int32_t));
    out->az = calloc (cap, sizeof (int32_t));
    assert_non_null (out->ax);
    assert_non_null (out->ay);
    assert_non_null (out->az);
    double cy = cos (o->yaw), sy = sin (o->yaw), cp = cos (o->pitch), sp = sin (o->pitch);
    double cr = cos (o->roll), sr = sin (o->roll);
    double r [3][3] = {
        { cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr },
        { sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr },
        { -sp, cp * sr, cp * cr } };
    double period = 60.0 / o->cadence_spm;
    size_t n = 0, steps = 0;
    double t_move = 0.0;
    size_t still = (size_t) (o->still_s * o->rate_hz);
    for (int phase = 0; phase < 3; phase++) {
        size_t len = phase == 1? 0: still;
        if (phase == 1) {
            //  Steps, one at a time, each with its own period.
            while (t_move < o->moving_s) {
                double a = steps % 2? -o->asymmetry: o->asymmetry;
                double p = period * (1.0 + a + o->jitter * (2.0 * s_uniform () - 1.0));
                size_t from = (size_t) ceil (t_move * o->rate_hz);
                size_t to = (size_t) ceil ((t_move + p) * o->rate_hz);
                for (size_t k = from; k < to && n < cap; k++) {
                    double ph = ((double) k / o->rate_hz - t_move) / p;
                    double body [3] = {
                        1.5 * sin (2.0 * S_PI * ph + 0.5),                      // forward
                        0.5 * sin (S_PI * ((double) (steps % 2) + ph)),         // sideways
                        s_vertical_force (o, ph) };                             // up
                    double dev [3];
                    for (int i = 0; i < 3; i++)
                        dev [i] = r [i][0] * body [0] + r [i][1] * body [1]
                                + r [i][2] * body [2] + o->noise * (2.0 * s_uniform () - 1.0);
                    out->ax [n] = s_mm (dev [0]);
                    out->ay [n] = s_mm (dev [1]);
                    out->az [n] = s_mm (dev [2]);
                    n++;
                }
                t_move += p;
                steps++;
            }
            out->moving_end = n;
            continue;
        }
        for (size_t k = 0; k < len && n < cap; k++, n++) {
            double dev [3];
            for (int i = 0; i < 3; i++)
                dev [i] = r [i][2] * S_G + o->noise * (2.0 * s_uniform () - 1.0);
            out->ax [n] = s_mm (dev [0]);
            out->ay [n] = s_mm (dev [1]);
            out->az [n] = s_mm (dev [2]);
        }
    }
    out->n = n;
    out->steps = steps;
}

static void
s_synth_free (s_synth_t *s)
{
    free (s->ax);
    free (s->ay);
    free (s->az);
}

// ---------------------------------------------------------------------------------------
//  Negative tests first: bad arguments, empty and hostile signals.

static void
test_steps_rejects_bad_arguments (void **state)
{
    (void) state;
    int32_t x [4] = { 0, 0, 0, 0 };
    uint64_t steps = 99;
    assert_null (cw_steps_new (0, CW_PLACEMENT_POCKET));
    assert_null (cw_steps_new (CW_IMU_RATE_MIN_MHZ - 1, CW_PLACEMENT_POCKET));
    assert_null (cw_steps_new (UINT32_MAX, CW_PLACEMENT_POCKET));
    assert_null (cw_steps_new (100000, (cw_placement_t) 99));
    assert_int_equal (cw_steps_count (x, x, x, 4, 0, CW_PLACEMENT_POCKET, &steps, NULL),
                      CW_EINVAL);
    assert_int_equal (cw_steps_count (x, x, x, 4, 4000000000u, CW_PLACEMENT_POCKET, &steps,
                                      NULL), CW_EINVAL);
    assert_int_equal (cw_steps_count (x, x, x, 0, 100000, CW_PLACEMENT_POCKET, &steps, NULL),
                      CW_EINVAL);
    assert_int_equal (cw_steps_count (NULL, x, x, 4, 100000, CW_PLACEMENT_POCKET, &steps,
                                      NULL), CW_EINVAL);
    cw_steps_t *s = cw_steps_new (100000, CW_PLACEMENT_POCKET);
    assert_non_null (s);
    assert_int_equal (cw_steps_feed (s, NULL, NULL, NULL, 0), CW_OK);   // empty batch
    assert_int_equal (cw_steps_feed (s, x, NULL, x, 4), CW_EINVAL);
    assert_int_equal (cw_steps_feed (NULL, x, x, x, 4), CW_EINVAL);
    assert_int_equal (cw_steps_cadence (s, NULL), CW_EINVAL);
    cw_metric_t m;
    assert_int_equal (cw_steps_cadence (s, &m), CW_OK);
    assert_true (m.value == 0.0 && m.confidence == 0.0 && m.note);
    cw_steps_destroy (&s);
    cw_steps_destroy (&s);      // twice is safe
    assert_null (s);
    cw_steps_destroy (NULL);
}

static void
test_steps_still_signals_have_no_steps (void **state)
{
    (void) state;
    size_t n = 6000;
    int32_t *zero = calloc (n, sizeof (int32_t)), *g = calloc (n, sizeof (int32_t));
    assert_non_null (zero);
    assert_non_null (g);
    for (size_t i = 0; i < n; i++)
        g [i] = 9807;
    uint64_t steps = 99;
    cw_metric_t cad;
    assert_int_equal (cw_steps_count (zero, zero, zero, n, 100000, CW_PLACEMENT_POCKET,
                                      &steps, &cad), CW_OK);
    assert_int_equal (steps, 0);
    assert_true (cad.value == 0.0);
    //  Gravity alone, on any axis.
    assert_int_equal (cw_steps_count (zero, g, zero, n, 100000, CW_PLACEMENT_WAIST, &steps,
                                      NULL), CW_OK);
    assert_int_equal (steps, 0);
    //  A phone lying on a table: gravity and sensor noise only.
    s_synth_opts_t o = { .cadence_spm = 100, .rate_hz = 100, .moving_s = 0, .still_s = 60,
                         .noise = 0.15, .pitch = 0.4 };
    s_synth_t s;
    s_synth (&o, &s);
    assert_int_equal (cw_steps_count (s.ax, s.ay, s.az, s.n, 100000, CW_PLACEMENT_POCKET,
                                      &steps, NULL), CW_OK);
    assert_int_equal (steps, 0);
    s_synth_free (&s);
    free (zero);
    free (g);
}

static void
test_steps_single_spikes_are_not_steps (void **state)
{
    (void) state;
    size_t n = 3000;    // 30 s at 100 Hz
    int32_t *x = calloc (n, sizeof (int32_t)), *y = calloc (n, sizeof (int32_t));
    int32_t *z = calloc (n, sizeof (int32_t));
    assert_non_null (x);
    assert_non_null (y);
    assert_non_null (z);
    for (size_t i = 0; i < n; i++)
        z [i] = 9807;
    z [500] = 60000;            // one knock
    uint64_t steps = 99;
    assert_int_equal (cw_steps_count (x, y, z, n, 100000, CW_PLACEMENT_POCKET, &steps, NULL),
                      CW_OK);
    assert_int_equal (steps, 0);
    //  Knocks every 2 s, slower than the slowest plausible cadence: not a walk either.
    for (size_t i = 200; i < n; i += 200)
        z [i] = 60000;
    assert_int_equal (cw_steps_count (x, y, z, n, 100000, CW_PLACEMENT_POCKET, &steps, NULL),
                      CW_OK);
    assert_int_equal (steps, 0);
    //  Three steps' worth of bumps is below a bout: the phone was picked up, not walked with.
    memset (z, 0, n * sizeof (int32_t));
    for (size_t i = 0; i < n; i++)
        z [i] = 9807 + ((i >= 1000 && i < 1150)? (int32_t) lrint (3000 * sin (2 * S_PI * (double) (i - 1000) / 50.0)): 0);
    assert_int_equal (cw_steps_count (x, y, z, n, 100000, CW_PLACEMENT_POCKET, &steps, NULL),
                      CW_OK);
    assert_int_equal (steps, 0);
    free (x);
    free (y);
    free (z);
}

static void
test_extreme_values_stay_finite (void **state)
{
    (void) state;
    size_t n = 4096;
    int32_t *x = malloc (n * sizeof (int32_t)), *y = malloc (n * sizeof (int32_t));
    int32_t *z = malloc (n * sizeof (int32_t));
    assert_non_null (x);
    assert_non_null (y);
    assert_non_null (z);
    for (size_t i = 0; i < n; i++) {
        //  Full-scale square waves of every period from 2 to 64 samples, then random rails.
        size_t period = 2 + (i / 512) * 8;
        bool high = (i / (period / 2)) % 2;
        x [i] = high? INT32_MAX: INT32_MIN;
        y [i] = s_uniform () < 0.5? INT32_MIN: INT32_MAX;
        z [i] = high? INT32_MIN: INT32_MAX;
    }
    cw_steps_t *steps = cw_steps_new (100000, CW_PLACEMENT_POCKET);
    cw_form_t *form = cw_form_new (100000, CW_PLACEMENT_WAIST);
    cw_strides_t *strides = cw_strides_new (100000, CW_PLACEMENT_FOOT_LEFT);
    assert_non_null (steps);
    assert_non_null (form);
    assert_non_null (strides);
    for (int round = 0; round < 3; round++) {
        assert_int_equal (cw_steps_feed (steps, x, y, z, n), CW_OK);
        assert_int_equal (cw_form_feed (form, x, y, z, n), CW_OK);
        assert_int_equal (cw_strides_feed (strides, x, y, z, n), CW_OK);
    }
    cw_metric_t cad;
    assert_int_equal (cw_steps_cadence (steps, &cad), CW_OK);
    assert_true (isfinite (cad.value) && isfinite (cad.confidence));
    cw_form_report_t r;
    assert_int_equal (cw_form_report (form, &r), CW_OK);
    assert_true (isfinite (r.cadence.value) && isfinite (r.contact_time.value));
    assert_true (isfinite (r.vertical_oscillation.value) && isfinite (r.balance.value));
    cw_strides_summary_t ss;
    assert_int_equal (cw_strides_summary (strides, &ss), CW_OK);
    assert_true (isfinite (ss.stride_time.value) && isfinite (ss.contact_time.value));
    assert_true (isfinite (ss.cadence.value));
    cw_steps_destroy (&steps);
    cw_form_destroy (&form);
    cw_strides_destroy (&strides);
    free (x);
    free (y);
    free (z);
}

static void
test_strides_form_dynamics_reject_bad_arguments (void **state)
{
    (void) state;
    assert_null (cw_strides_new (0, CW_PLACEMENT_FOOT_LEFT));
    assert_null (cw_strides_new (UINT32_MAX, CW_PLACEMENT_FOOT_LEFT));
    cw_strides_t *l = cw_strides_new (204800, CW_PLACEMENT_FOOT_LEFT);
    cw_strides_t *r = cw_strides_new (204800, CW_PLACEMENT_FOOT_RIGHT);
    assert_non_null (l);
    assert_non_null (r);
    int32_t zero [512] = { 0 };
    assert_int_equal (cw_strides_feed (l, NULL, zero, zero, 1), CW_EINVAL);
    assert_int_equal (cw_strides_feed (l, zero, zero, zero, 512), CW_OK);
    assert_int_equal (cw_strides_total (l), 0);
    cw_metric_t m;
    assert_int_equal (cw_strides_balance (l, r, &m), CW_EEMPTY);
    assert_int_equal (cw_strides_balance (l, NULL, &m), CW_EINVAL);
    cw_strides_destroy (&l);
    cw_strides_destroy (&r);

    //  A foot's vertical motion is not the body's: form refuses foot placements.
    assert_null (cw_form_new (100000, CW_PLACEMENT_FOOT_LEFT));
    assert_null (cw_form_new (0, CW_PLACEMENT_POCKET));
    cw_form_report_t rep;
    assert_int_equal (cw_form_analyse (zero, zero, zero, 0, 100000, CW_PLACEMENT_POCKET, &rep),
                      CW_EINVAL);
    assert_int_equal (cw_form_analyse (zero, zero, zero, 512, 100000, CW_PLACEMENT_FOOT_RIGHT,
                                       &rep), CW_EINVAL);
    assert_int_equal (cw_form_analyse (zero, zero, zero, 512, 100000, CW_PLACEMENT_POCKET,
                                       &rep), CW_OK);
    assert_int_equal (rep.steps, 0);
    assert_true (rep.contact_time.confidence == 0.0 && rep.contact_time.note);

    assert_null (cw_dynamics_new (0));
    assert_null (cw_dynamics_new (CW_DYNAMICS_WINDOW_MAX_MS + 1));
    cw_dynamics_t *d = cw_dynamics_new (60000);
    assert_non_null (d);
    uint32_t deltas [3] = { 1000, 1000, 1000 }, cadence [2] = { 1700, 1720 };
    cw_dyn_batch_t b = { .start_time_ms = 1, .time_delta_ms = deltas, .n = 3 };
    b.values [CW_DYN_CADENCE] = cadence;
    b.counts [CW_DYN_CADENCE] = 2;
    assert_int_equal (cw_dynamics_feed (d, &b), CW_ESHAPE);
    assert_int_equal (cw_dynamics_feed (d, NULL), CW_EINVAL);
    cw_dyn_stat_t st;
    assert_int_equal (cw_dynamics_stat (d, CW_DYN_FIELDS, &st), CW_EINVAL);
    assert_int_equal (cw_dynamics_stat (d, CW_DYN_CADENCE, &st), CW_OK);
    assert_int_equal (st.samples, 0);
    assert_true (st.confidence == 0.0);
    cw_dynamics_destroy (&d);
    cw_dynamics_destroy (&d);
}

static void
test_zones_pace_meals_reject_bad_arguments (void **state)
{
    (void) state;
    uint32_t v;
    assert_int_equal (cw_hr_max_from_age (0, &v), CW_EINVAL);
    assert_int_equal (cw_hr_max_from_age (200, &v), CW_EINVAL);
    assert_int_equal (cw_hr_zone (150, 0), CW_EINVAL);
    assert_int_equal (cw_hr_zone (150, 400), CW_EINVAL);
    cw_hr_zones_t z;
    assert_int_equal (cw_hr_zones_init (&z, 20), CW_EINVAL);
    assert_int_equal (cw_hr_zones_init (&z, 190), CW_OK);
    assert_int_equal (cw_hr_zones_feed (&z, 0, NULL, NULL, 3), CW_EINVAL);
    assert_int_equal (cw_pace_s_per_km (0, &v), CW_ERANGE);
    assert_int_equal (cw_pace_s_per_km (99, &v), CW_ERANGE);
    assert_int_equal (cw_pace_s_per_km (20000, &v), CW_ERANGE);
    assert_int_equal (cw_pace_s_per_km (3000, NULL), CW_EINVAL);

    cw_meal_entry_t e = { .time_ms = 1700000000000u, .energy_kcal = 100 };
    cw_meal_day_t days [2];
    size_t n_days = 9;
    assert_int_equal (cw_meals_daily (&e, 1, "../../etc/passwd", days, 2, &n_days), CW_EINVAL);
    assert_int_equal (cw_meals_daily (&e, 1, "/etc/localtime", days, 2, &n_days), CW_EINVAL);
    assert_int_equal (cw_meals_daily (&e, 1, "EST5EDT,M3.2.0,M11.1.0", days, 2, &n_days),
                      CW_EINVAL);
    assert_int_equal (cw_meals_daily (&e, 1, "", days, 2, &n_days), CW_EINVAL);
    assert_int_equal (cw_meals_daily (&e, 1, "Nowhere/Atlantis", days, 2, &n_days),
                      CW_ENOENT);
    assert_int_equal (n_days, 0);
    assert_int_equal (cw_meals_daily (&e, 1, NULL, days, 2, &n_days), CW_EINVAL);
    assert_int_equal (cw_meals_daily (NULL, 1, "UTC", days, 2, &n_days), CW_EINVAL);
    assert_int_equal (cw_meals_daily (NULL, 0, "UTC", days, 2, &n_days), CW_OK);
    assert_int_equal (n_days, 0);
    //  Three days into room for two.
    cw_meal_entry_t three [3] = { { .time_ms = 0 }, { .time_ms = 86400000u },
                                  { .time_ms = 2u * 86400000u } };
    assert_int_equal (cw_meals_daily (three, 3, "UTC", days, 2, &n_days), CW_ENOSPC);
    assert_int_equal (n_days, 2);
}

// ---------------------------------------------------------------------------------------
//  Steps: synthetic cadences, then the real pocket recording.

static void
s_check_synthetic_steps (double cadence, double duty, double yaw, double pitch, double roll,
                         cw_placement_t placement)
{
    s_synth_opts_t o = { .cadence_spm = cadence, .rate_hz = 100, .moving_s = 120,
                         .still_s = 5, .duty = duty, .jitter = 0.015, .noise = 0.4,
                         .yaw = yaw, .pitch = pitch, .roll = roll };
    s_synth_t s;
    s_synth (&o, &s);
    cw_steps_t *det = cw_steps_new (100000, placement);
    assert_non_null (det);
    //  Streamed in wire-sized batches of 50; cadence read at the end of the moving part.
    cw_metric_t cad = { 0 };
    for (size_t i = 0; i < s.n; i += 50) {
        size_t len = s.n - i < 50? s.n - i: 50;
        assert_int_equal (cw_steps_feed (det, s.ax + i, s.ay + i, s.az + i, len), CW_OK);
        if (i < s.moving_end && i + len >= s.moving_end)
            assert_int_equal (cw_steps_cadence (det, &cad), CW_OK);
    }
    double steps = (double) cw_steps_total (det);
    double err = fabs (steps - (double) s.steps) / (double) s.steps;
    double cad_err = fabs (cad.value - cadence) / cadence;
    printf ("  synthetic %3.0f spm (%s, tilt %.1f/%.1f/%.1f rad): steps %.0f vs %zu: %.1f%%; "
            "cadence %.1f: %.1f%% (bound 2%%), confidence %.2f\n", cadence,
            duty > 0? "run": "walk", yaw, pitch, roll, steps, s.steps, 100 * err, cad.value,
            100 * cad_err, cad.confidence);
    assert_true (err <= 0.02);
    assert_true (cad_err <= 0.02);
    assert_true (cad.confidence > 0.5 && cad.confidence <= 1.0);
    //  Standing still afterwards: the current cadence is no longer the running one.
    assert_int_equal (cw_steps_cadence (det, &cad), CW_OK);
    assert_true (cad.value == 0.0);
    cw_steps_destroy (&det);
    s_synth_free (&s);
}

static void
test_steps_synthetic_cadences (void **state)
{
    (void) state;
    s_check_synthetic_steps (90, 0.0, 0.0, 0.0, 0.0, CW_PLACEMENT_POCKET);       // z up
    s_check_synthetic_steps (90, 0.0, 0.3, 1.57, 0.0, CW_PLACEMENT_HAND);        // x up
    s_check_synthetic_steps (120, 0.0, 1.0, 0.5, 1.2, CW_PLACEMENT_POCKET);
    s_check_synthetic_steps (160, 0.62, 0.0, 0.0, -1.57, CW_PLACEMENT_POCKET);   // y up
    s_check_synthetic_steps (180, 0.58, 2.0, 0.7, 0.4, CW_PLACEMENT_WAIST);
    s_check_synthetic_steps (200, 0.55, 0.5, -0.9, 2.5, CW_PLACEMENT_POCKET);
}

static int32_t *
s_to_mm (const double *v, size_t n, double scale)
{
    int32_t *out = malloc (n * sizeof (int32_t));
    assert_non_null (out);
    for (size_t i = 0; i < n; i++)
        out [i] = (int32_t) lrint (v [i] * scale);
    return out;
}

static void
test_steps_real_front_pocket (void **state)
{
    (void) state;
    double **c;
    size_t n;
    assert_int_equal (csv_read (CW_TEST_DATA "/user1_frontpocket_1506422223341.csv", 0, 6, &c,
                                &n), 0);
    assert_int_equal (n, 19311);
    int32_t *x = s_to_mm (c [1], n, 1000.0), *y = s_to_mm (c [2], n, 1000.0);
    int32_t *z = s_to_mm (c [3], n, 1000.0);
    double truth = c [5][n - 1], authors = c [4][n - 1];
    assert_true (truth == 327.0);
    uint64_t steps = 0;
    cw_metric_t cad;
    assert_int_equal (cw_steps_count (x, y, z, n, 100000, CW_PLACEMENT_POCKET, &steps, &cad),
                      CW_OK);
    double err = fabs ((double) steps - truth) / truth;
    printf ("  front pocket: steps %llu vs truth %.0f: %.1f%% (bound 3%%; the dataset authors' "
            "counter: %.0f, %.1f%%)\n", (unsigned long long) steps, truth, 100 * err, authors,
            100 * fabs (authors - truth) / truth);
    assert_true (err <= 0.03);
    free (x);
    free (y);
    free (z);
    csv_free (c, 6);
}

// ---------------------------------------------------------------------------------------
//  Strides: the two foot pods against the labelled stride borders.

typedef struct {
    size_t count;
    double durations [64];
} s_labels_t;

static double
s_median (double *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && v [j - 1] > v [j]; j--) {
            double t = v [j];
            v [j] = v [j - 1];
            v [j - 1] = t;
        }
    return n == 0? 0.0: n % 2? v [n / 2]: (v [n / 2 - 1] + v [n / 2]) / 2.0;
}

static void
test_strides_real_foot_pods (void **state)
{
    (void) state;
    //  Labels: s_id, foot (text: NaN), start, end, gsd_id. The foot is told by the order in
    //  the file: left strides first, then right (checked by the counts below).
    double **lab;
    size_t n_lab;
    assert_int_equal (csv_read (CW_TEST_DATA "/stride_borders_sample.csv", 1, 5, &lab, &n_lab),
                      0);
    FILE *f = fopen (CW_TEST_DATA "/stride_borders_sample.csv", "r");
    assert_non_null (f);
    char line [256];
    s_labels_t labels [2] = { { 0 }, { 0 } };
    size_t row = 0;
    assert_non_null (fgets (line, sizeof line, f));    // header
    while (fgets (line, sizeof line, f) && row < n_lab) {
        int foot = strstr (line, ",right,")? 1: 0;
        s_labels_t *l = &labels [foot];
        if (l->count < 64)
            l->durations [l->count] = (lab [3][row] - lab [2][row]) / 204.8 * 1000.0;
        l->count++;
        row++;
    }
    fclose (f);
    assert_int_equal (labels [0].count, 28);
    assert_int_equal (labels [1].count, 30);

    double **c;
    size_t n;
    assert_int_equal (csv_read (CW_TEST_DATA "/imu_sample.csv", 2, 13, &c, &n), 0);
    assert_int_equal (n, 7928);
    cw_strides_t *pods [2];
    for (int foot = 0; foot < 2; foot++) {
        //  Columns: index, then acc_x L R, acc_y L R, acc_z L R, gyr_x L R, gyr_y L R, gyr_z L R.
        int32_t *gx = s_to_mm (c [7 + foot], n, 1000.0);
        int32_t *gy = s_to_mm (c [9 + foot], n, 1000.0);
        int32_t *gz = s_to_mm (c [11 + foot], n, 1000.0);
        pods [foot] = cw_strides_new (204800, foot? CW_PLACEMENT_FOOT_RIGHT
                                                  : CW_PLACEMENT_FOOT_LEFT);
        assert_non_null (pods [foot]);
        for (size_t i = 0; i < n; i += 128) {   // streamed in batches
            size_t len = n - i < 128? n - i: 128;
            assert_int_equal (cw_strides_feed (pods [foot], gx + i, gy + i, gz + i, len),
                              CW_OK);
        }
        cw_strides_summary_t s;
        assert_int_equal (cw_strides_summary (pods [foot], &s), CW_OK);
        double label_median = s_median (labels [foot].durations, labels [foot].count);
        double diff = (double) s.strides - (double) labels [foot].count;
        double t_err = fabs (s.stride_time.value - label_median) / label_median;
        double stance = s.contact_time.value / s.stride_time.value;
        printf ("  %s foot: strides %llu vs %zu labelled (bound +-1); stride time %.0f ms vs "
                "labelled %.0f ms: %.1f%% (bound 3%%); contact %.0f ms = %.0f%% of the stride "
                "(walking: 55-68%%), confidence %.2f; cadence %.1f spm\n",
                foot? "right": "left", (unsigned long long) s.strides, labels [foot].count,
                s.stride_time.value, label_median, 100 * t_err, s.contact_time.value,
                100 * stance, s.contact_time.confidence, s.cadence.value);
        assert_true (fabs (diff) <= 1.0);
        assert_true (t_err <= 0.03);
        assert_true (stance >= 0.55 && stance <= 0.68);
        assert_true (s.contact_time.confidence >= 0.7);
        free (gx);
        free (gy);
        free (gz);
    }
    cw_metric_t balance;
    assert_int_equal (cw_strides_balance (pods [0], pods [1], &balance), CW_OK);
    printf ("  balance: left %.1f%% of contact time, confidence %.2f (%s)\n", balance.value,
            balance.confidence, balance.note);
    assert_true (balance.value > 45.0 && balance.value < 55.0);
    assert_true (balance.confidence >= 0.7);
    //  The same pods declared the wrong way round are not trusted for sides.
    assert_int_equal (cw_strides_balance (pods [1], pods [0], &balance), CW_OK);
    assert_true (balance.confidence <= 0.2);
    cw_strides_destroy (&pods [0]);
    cw_strides_destroy (&pods [1]);
    csv_free (c, 13);
    csv_free (lab, 5);
}

// ---------------------------------------------------------------------------------------
//  Running form: synthetic runs of known cadence, contact and oscillation.

//  Peak-to-peak vertical motion of the synthetic run, by integrating its model finely: the
//  periodic solution (zero-mean velocity) of a'' = f - g over one step.
static double
s_true_oscillation (const s_synth_opts_t *o)
{
    const size_t n = 100000;
    double period = 60.0 / o->cadence_spm, dt = period / (double) n, v = 0.0, v_sum = 0.0;
    double *vel = malloc (n * sizeof (double));
    assert_non_null (vel);
    for (size_t i = 0; i < n; i++) {
        v += (s_vertical_force (o, ((double) i + 0.5) / (double) n) - S_G) * dt;
        vel [i] = v;
        v_sum += v;
    }
    double p = 0.0, lo = 0.0, hi = 0.0;
    for (size_t i = 0; i < n; i++) {
        p += (vel [i] - v_sum / (double) n) * dt;
        lo = p < lo? p: lo;
        hi = p > hi? p: hi;
    }
    free (vel);
    return hi - lo;
}

static void
s_check_form (double cadence, double duty, double asymmetry, cw_placement_t placement)
{
    s_synth_opts_t o = { .cadence_spm = cadence, .rate_hz = 100, .moving_s = 60, .still_s = 3,
                         .duty = duty, .asymmetry = asymmetry, .jitter = 0.01, .noise = 0.3,
                         .yaw = 0.7, .pitch = 1.1, .roll = -0.4 };
    s_synth_t s;
    s_synth (&o, &s);
    cw_form_report_t r;
    //  Analyse the moving part only, so the report is of the run (streamed in the engine).
    assert_int_equal (cw_form_analyse (s.ax, s.ay, s.az, s.moving_end, 100000, placement, &r),
                      CW_OK);
    double osc = 1000.0 * s_true_oscillation (&o), contact = 1000.0 * duty * 60.0 / cadence;
    double cad_err = fabs (r.cadence.value - cadence) / cadence;
    double osc_err = fabs (r.vertical_oscillation.value - osc) / osc;
    double contact_err = fabs (r.contact_time.value - contact) / contact;
    printf ("  form %3.0f spm %s: cadence %.1f (%.1f%%, bound 2%%) conf %.2f; oscillation "
            "%.1f mm vs %.1f (%.1f%%, bound 10%%) conf %.2f; contact %.0f ms vs %.0f "
            "(%.1f%%, bound 20%%) conf %.2f; balance %.1f%% (asymmetry %.0f%%) conf %.2f\n",
            cadence, placement == CW_PLACEMENT_POCKET? "pocket": "waist", r.cadence.value,
            100 * cad_err, r.cadence.confidence, r.vertical_oscillation.value, osc,
            100 * osc_err, r.vertical_oscillation.confidence, r.contact_time.value, contact,
            100 * contact_err, r.contact_time.confidence, r.balance.value, 100 * asymmetry,
            r.balance.confidence);
    assert_true (cad_err <= 0.02);
    assert_true (osc_err <= 0.10);
    assert_true (contact_err <= 0.20);
    //  A pocket's contact time is a rough estimate and says so.
    if (placement == CW_PLACEMENT_POCKET)
        assert_true (r.contact_time.confidence > 0.0 && r.contact_time.confidence <= 0.4);
    assert_true (r.contact_time.note && strstr (r.contact_time.note, "foot pod"));
    //  Balance: the share of alternate steps, side unknown, so compare the distance from 50.
    double expected = 50.0 * (1.0 + asymmetry);
    assert_true (fabs (fabs (r.balance.value - 50.0) - (expected - 50.0)) <= 0.5);
    assert_true (r.balance.confidence <= 0.3);
    s_synth_free (&s);
}

static void
test_form_synthetic_runs (void **state)
{
    (void) state;
    s_check_form (160, 0.62, 0.0, CW_PLACEMENT_POCKET);
    s_check_form (172, 0.60, 0.03, CW_PLACEMENT_WAIST);
    s_check_form (185, 0.55, 0.02, CW_PLACEMENT_POCKET);
}

static void
test_confidence_follows_placement (void **state)
{
    (void) state;
    const char *note = NULL;
    double pocket = cw_metric_confidence (CW_METRIC_CONTACT_TIME, CW_PLACEMENT_POCKET, &note);
    assert_true (pocket <= 0.4);
    assert_non_null (strstr (note, "pocket"));
    double waist = cw_metric_confidence (CW_METRIC_CONTACT_TIME, CW_PLACEMENT_WAIST, NULL);
    double foot = cw_metric_confidence (CW_METRIC_CONTACT_TIME, CW_PLACEMENT_FOOT_LEFT, NULL);
    assert_true (pocket < waist && waist < foot);
    assert_true (cw_metric_confidence (CW_METRIC_VERTICAL_OSCILLATION, CW_PLACEMENT_FOOT_RIGHT,
                                       NULL) == 0.0);
    assert_true (cw_metric_confidence (CW_METRIC_COUNT, CW_PLACEMENT_POCKET, &note) == 0.0);
    assert_non_null (note);
    assert_true (cw_metric_confidence (CW_METRIC_CADENCE, (cw_placement_t) 42, NULL) == 0.0);
    for (int p = 0; p <= CW_PLACEMENT_MAX; p++)
        for (int k = 0; k < CW_METRIC_COUNT; k++) {
            double c = cw_metric_confidence ((cw_metric_kind_t) k, (cw_placement_t) p, &note);
            assert_true (c >= 0.0 && c <= 1.0);
            assert_non_null (note);
        }
}

// ---------------------------------------------------------------------------------------
//  Device-measured dynamics: the golden records of a Fenix 5 run.

static void
test_dynamics_golden_cadence_median (void **state)
{
    (void) state;
    double **c;
    size_t n;
    assert_int_equal (csv_read (CW_TEST_DATA "/garmin-fenix-5-run-records.csv", 1, 9, &c, &n),
                      0);
    assert_int_equal (n, 21);
    //  The file gives strides/min; the wire carries steps/min x 10.
    uint32_t deltas [64], cadence [64];
    double column [64];
    for (size_t i = 0; i < n; i++) {
        deltas [i] = i? 1000: 0;
        cadence [i] = (uint32_t) lrint (c [2][i] * 2.0 * 10.0);
        column [i] = c [2][i];
    }
    cw_dynamics_t *d = cw_dynamics_new (600000);
    assert_non_null (d);
    //  Fed as two batches, as a watch would upload them.
    cw_dyn_batch_t b = { .start_time_ms = 1497191649000u, .time_delta_ms = deltas, .n = 10 };
    b.values [CW_DYN_CADENCE] = cadence;
    b.counts [CW_DYN_CADENCE] = 10;
    assert_int_equal (cw_dynamics_feed (d, &b), CW_OK);
    b.start_time_ms += 9000;
    b.time_delta_ms = deltas + 10;
    b.values [CW_DYN_CADENCE] = cadence + 10;
    b.n = b.counts [CW_DYN_CADENCE] = n - 10;
    deltas [10] = 1000;
    assert_int_equal (cw_dynamics_feed (d, &b), CW_OK);
    cw_metric_t m;
    assert_int_equal (cw_dynamics_cadence (d, &m), CW_OK);
    double golden = 2.0 * s_median (column, n);
    printf ("  Fenix 5 records: median cadence %.1f spm from %u readings vs golden column "
            "median x 2 = %.1f spm, confidence %.1f (%s)\n", m.value, m.samples, golden,
            m.confidence, m.note);
    assert_true (m.value == golden);
    assert_true (m.confidence == 1.0);
    assert_int_equal (m.samples, 21);
    //  The three zero readings (standing at the start) count: 0 is what the watch measured.
    //  The moving-only figures leave them out.
    cw_dyn_stat_t st;
    assert_int_equal (cw_dynamics_stat (d, CW_DYN_CADENCE, &st), CW_OK);
    assert_int_equal (st.zeros, 3);
    assert_true (st.moving_median == 1790.0);   // 89.5 strides/min x 2 x 10
    assert_true (st.mean > 1400.0 && st.mean < 1600.0);
    //  A short window keeps only the newest readings.
    cw_dynamics_destroy (&d);
    d = cw_dynamics_new (2000);
    b.start_time_ms = 0;
    b.time_delta_ms = deltas;
    b.values [CW_DYN_CADENCE] = cadence;
    b.n = b.counts [CW_DYN_CADENCE] = n;
    deltas [0] = 0;
    assert_int_equal (cw_dynamics_feed (d, &b), CW_OK);
    assert_int_equal (cw_dynamics_stat (d, CW_DYN_CADENCE, &st), CW_OK);
    assert_int_equal (st.samples, 3);     // the last three seconds
    cw_dynamics_destroy (&d);
    csv_free (c, 9);
}

// ---------------------------------------------------------------------------------------
//  Heart-rate zones, pace, meal days.

static void
test_hr_zones_and_pace (void **state)
{
    (void) state;
    uint32_t max;
    assert_int_equal (cw_hr_max_from_age (40, &max), CW_OK);
    assert_int_equal (max, 180);                    // 208 - 28
    assert_int_equal (cw_hr_zone (89, 180), 0);     // 49 %
    assert_int_equal (cw_hr_zone (90, 180), 1);     // 50 %
    assert_int_equal (cw_hr_zone (125, 180), 2);
    assert_int_equal (cw_hr_zone (144, 180), 4);    // 80 %
    assert_int_equal (cw_hr_zone (162, 180), 5);    // 90 %
    assert_int_equal (cw_hr_zone (250, 180), 5);
    cw_hr_zones_t z;
    assert_int_equal (cw_hr_zones_init (&z, 180), CW_OK);
    //  5 s in zone 1, 10 s in zone 3, 5 s in zone 2 over two batches, then the strap is off
    //  for a minute (longer than CW_HR_GAP_MAX_MS: attributed to no zone).
    uint32_t dt [3] = { 0, 5000, 5000 };
    uint32_t bpm [5] = { 100, 130, 135, 120, 120 };
    assert_int_equal (cw_hr_zones_feed (&z, 1000, dt, bpm, 3), CW_OK);
    uint32_t dt2 [2] = { 5000, 5000 };
    assert_int_equal (cw_hr_zones_feed (&z, 11000, dt2, bpm + 3, 2), CW_OK);
    assert_true (z.ms [1] == 5000 && z.ms [3] == 10000 && z.ms [2] == 5000);
    assert_true (z.ms [0] == 0 && z.ms [4] == 0 && z.ms [5] == 0);
    assert_true (z.unattributed_ms == 0);
    uint32_t dt3 [1] = { 0 };
    assert_int_equal (cw_hr_zones_feed (&z, 100, dt3, bpm, 1), CW_ETIME);
    uint32_t dt4 [1] = { 60000 };
    assert_int_equal (cw_hr_zones_feed (&z, 21000, dt4, bpm, 1), CW_OK);
    assert_true (z.unattributed_ms == 60000);

    uint32_t pace;
    assert_int_equal (cw_pace_s_per_km (3333, &pace), CW_OK);
    assert_int_equal (pace, 300);                   // 5:00 /km
    assert_int_equal (cw_pace_s_per_km (2778, &pace), CW_OK);
    assert_int_equal (pace, 360);                   // 10 km/h
}

static uint64_t
s_utc_ms (int year, int month, int day, int hour, int minute)
{
    struct tm tm = { .tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day,
                     .tm_hour = hour, .tm_min = minute };
    return (uint64_t) timegm (&tm) * 1000u;
}

static void
test_meals_daily_in_local_time (void **state)
{
    (void) state;
    cw_meal_entry_t e [5] = {
        //  Sat 2024-03-09 23:30 in Los Angeles (PST, UTC-8): still Saturday there.
        { .time_ms = s_utc_ms (2024, 3, 10, 7, 30), .energy_kcal = 300, .protein_mg = 10000,
          .sugar_mg = 5000 },
        //  Sun 00:30 PST: Sunday.
        { .time_ms = s_utc_ms (2024, 3, 10, 8, 30), .energy_kcal = 200, .sugar_mg = 1000 },
        //  Mon 2024-03-11 00:30 PDT (UTC-7 since Sunday 02:00): Monday. With the winter
        //  offset it would read Sunday 23:30.
        { .time_ms = s_utc_ms (2024, 3, 11, 7, 30), .energy_kcal = 50 },
        //  Given out of order: Sat 12:00 PST.
        { .time_ms = s_utc_ms (2024, 3, 9, 20, 0), .energy_kcal = 700, .fibre_mg = 3000 },
        { .time_ms = s_utc_ms (2024, 3, 10, 20, 0), .energy_kcal = 1 },
    };
    cw_meal_day_t days [8];
    size_t n_days = 0;
    assert_int_equal (cw_meals_daily (e, 5, "America/Los_Angeles", days, 8, &n_days), CW_OK);
    assert_int_equal (n_days, 3);
    assert_int_equal (days [0].date, 20240309);
    assert_int_equal (days [0].energy_kcal, 1000);
    assert_int_equal (days [0].entries, 2);
    assert_int_equal (days [0].protein_mg, 10000);
    assert_int_equal (days [0].sugar_mg, 5000);
    assert_int_equal (days [0].fibre_mg, 3000);
    assert_int_equal (days [1].date, 20240310);
    assert_int_equal (days [1].energy_kcal, 201);
    assert_int_equal (days [2].date, 20240311);
    assert_int_equal (days [2].energy_kcal, 50);
    //  Same meals for someone in Kolkata (UTC+5:30): 20:00 UTC is 01:30 the next day.
    assert_int_equal (cw_meals_daily (e, 5, "Asia/Kolkata", days, 8, &n_days), CW_OK);
    assert_int_equal (n_days, 2);
    assert_int_equal (days [0].date, 20240310);
    assert_int_equal (days [0].energy_kcal, 700 + 300 + 200);
    assert_int_equal (days [1].date, 20240311);
    assert_int_equal (days [1].energy_kcal, 1 + 50);
    //  The caller's own TZ is left as it was.
    assert_int_equal (setenv ("TZ", "Europe/Paris", 1), 0);
    assert_int_equal (cw_meals_daily (e, 5, "UTC", days, 8, &n_days), CW_OK);
    const char *tz = getenv ("TZ");
    assert_non_null (tz);
    assert_string_equal (tz, "Europe/Paris");
    unsetenv ("TZ");
    assert_int_equal (cw_meals_daily (e, 5, "UTC", days, 8, &n_days), CW_OK);
    assert_null (getenv ("TZ"));
}

int
main (void)
{
    setvbuf (stdout, NULL, _IONBF, 0);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_steps_rejects_bad_arguments),
        cmocka_unit_test (test_steps_still_signals_have_no_steps),
        cmocka_unit_test (test_steps_single_spikes_are_not_steps),
        cmocka_unit_test (test_extreme_values_stay_finite),
        cmocka_unit_test (test_strides_form_dynamics_reject_bad_arguments),
        cmocka_unit_test (test_zones_pace_meals_reject_bad_arguments),
        cmocka_unit_test (test_steps_synthetic_cadences),
        cmocka_unit_test (test_steps_real_front_pocket),
        cmocka_unit_test (test_strides_real_foot_pods),
        cmocka_unit_test (test_form_synthetic_runs),
        cmocka_unit_test (test_confidence_follows_placement),
        cmocka_unit_test (test_dynamics_golden_cadence_median),
        cmocka_unit_test (test_hr_zones_and_pace),
        cmocka_unit_test (test_meals_daily_in_local_time),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
