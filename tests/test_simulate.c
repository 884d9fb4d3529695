/*  test_simulate.c - the running and diet simulators: refused options first, then
 *  determinism by seed, batch shapes and order, the gait in the IMU signal, cadence drift and
 *  daily diet totals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coachwire/cw_error.h"
#include "coachwire/cw_import.h"

/*  Keeps each batch packed (to compare runs byte for byte) and unpacked (to inspect it). */
typedef struct {
    size_t count;
    size_t cap;
    Coachwire__SensorBatch **b;
    uint64_t hash;          /* FNV-1a over every packed batch */
    int fail_at;
} coll_t;

static int
s_collect (void *ctx, const Coachwire__SensorBatch *batch)
{
    coll_t *c = ctx;
    if (c->fail_at && (int) c->count + 1 == c->fail_at)
        return CW_ENOSPC;
    size_t size = protobuf_c_message_get_packed_size (&batch->base);
    uint8_t *buf = malloc (size ? size : 1);
    assert_int_equal (protobuf_c_message_pack (&batch->base, buf), size);
    if (!c->hash)
        c->hash = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < size; i++)
        c->hash = (c->hash ^ buf [i]) * 0x100000001b3ull;
    Coachwire__SensorBatch *copy = coachwire__sensor_batch__unpack (NULL, size, buf);
    free (buf);
    assert_non_null (copy);
    if (c->count == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->b = realloc (c->b, c->cap * sizeof c->b [0]);
    }
    c->b [c->count++] = copy;
    return 0;
}

static void
s_coll_free (coll_t *c)
{
    for (size_t i = 0; i < c->count; i++)
        coachwire__sensor_batch__free_unpacked (c->b [i], NULL);
    free (c->b);
    memset (c, 0, sizeof *c);
}

static uint64_t
s_start (const Coachwire__SensorBatch *b)
{
    switch (b->body_case) {
        case COACHWIRE__SENSOR_BATCH__BODY_IMU: return b->imu->start_time_ms;
        case COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE: return b->heart_rate->start_time_ms;
        case COACHWIRE__SENSOR_BATCH__BODY_LOCATION: return b->location->start_time_ms;
        case COACHWIRE__SENSOR_BATCH__BODY_RUNNING: return b->running->start_time_ms;
        default: return 0;
    }
}

static cw_sim_run_options_t
s_run_options (void)
{
    cw_sim_run_options_t o;
    memset (&o, 0, sizeof o);
    o.start_time_ms = 1700000000000ull;
    o.duration_s = 60;
    o.seed = 42;
    return o;
}

static void
test_bad_options_refused (void **state)
{
    (void) state;
    coll_t c = { 0 };
    cw_import_summary_t sum;
    cw_sim_run_options_t o = s_run_options ();
    o.cadence_spm = NAN;
    assert_int_equal (cw_simulate_run (&o, s_collect, &c, &sum), CW_EINVAL);
    o = s_run_options ();
    o.balance_left_pct = 90;
    assert_int_equal (cw_simulate_run (&o, s_collect, &c, &sum), CW_EINVAL);
    o = s_run_options ();
    o.sample_rate_hz = 100000;
    assert_int_equal (cw_simulate_run (&o, s_collect, &c, &sum), CW_EINVAL);
    o = s_run_options ();
    o.duration_s = 100u * 86400u;
    assert_int_equal (cw_simulate_run (&o, s_collect, &c, &sum), CW_EINVAL);
    assert_int_equal (cw_simulate_run (&o, NULL, NULL, &sum), CW_EINVAL);
    cw_sim_diet_options_t d;
    memset (&d, 0, sizeof d);
    d.energy_kcal = -5;
    assert_int_equal (cw_simulate_diet (&d, s_collect, &c, &sum), CW_EINVAL);
    d.energy_kcal = INFINITY;
    assert_int_equal (cw_simulate_diet (&d, s_collect, &c, &sum), CW_EINVAL);
    assert_int_equal (c.count, 0);
}

static void
test_sink_error_stops (void **state)
{
    (void) state;
    coll_t c = { 0 };
    c.fail_at = 5;
    cw_import_summary_t sum;
    cw_sim_run_options_t o = s_run_options ();
    assert_int_equal (cw_simulate_run (&o, s_collect, &c, &sum), CW_ENOSPC);
    assert_int_equal (c.count, 4);
    assert_int_equal (sum.batches, 4);
    s_coll_free (&c);
}

static void
test_run_deterministic_by_seed (void **state)
{
    (void) state;
    coll_t a = { 0 }, b = { 0 }, d = { 0 };
    cw_sim_run_options_t o = s_run_options ();
    assert_int_equal (cw_simulate_run (&o, s_collect, &a, NULL), CW_OK);
    assert_int_equal (cw_simulate_run (&o, s_collect, &b, NULL), CW_OK);
    o.seed = 43;
    assert_int_equal (cw_simulate_run (&o, s_collect, &d, NULL), CW_OK);
    assert_int_equal (a.count, b.count);
    assert_true (a.hash == b.hash);
    assert_int_equal (a.count, d.count);
    assert_true (a.hash != d.hash);
    s_coll_free (&a);
    s_coll_free (&b);
    s_coll_free (&d);
}

static void
test_run_shapes_and_order (void **state)
{
    (void) state;
    coll_t c = { 0 };
    cw_import_summary_t sum;
    cw_sim_run_options_t o = s_run_options ();
    assert_int_equal (cw_simulate_run (&o, s_collect, &c, &sum), CW_OK);
    /*  Each second: one IMU batch of 100 samples and one sample each of HR, location, dynamics. */
    assert_int_equal (c.count, 60 * 4);
    assert_int_equal (sum.batches, 60 * 4);
    assert_int_equal (sum.samples, 60 * (100 + 3));
    uint64_t last = 0;
    size_t counts [8] = { 0 };
    uint32_t last_distance = 0;
    for (size_t i = 0; i < c.count; i++) {
        const Coachwire__SensorBatch *b = c.b [i];
        uint64_t start = s_start (b);
        assert_true (start >= last);
        last = start;
        counts [b->body_case]++;
        switch (b->body_case) {
            case COACHWIRE__SENSOR_BATCH__BODY_IMU:
                assert_int_equal (b->imu->sample_rate_mhz, 100000);
                assert_int_equal (b->imu->placement,
                                  COACHWIRE__IMU_PLACEMENT__IMU_PLACEMENT_POCKET);
                assert_int_equal (b->imu->n_accel_x_mm_s2, 100);
                assert_int_equal (b->imu->n_accel_y_mm_s2, 100);
                assert_int_equal (b->imu->n_accel_z_mm_s2, 100);
                assert_int_equal (b->imu->n_gyro_x_mdeg_s, 0);
                assert_int_equal (start, o.start_time_ms + 1000u * (i / 4));
                break;
            case COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE:
                assert_int_equal (b->heart_rate->n_time_delta_ms, 1);
                assert_int_equal (b->heart_rate->n_bpm, 1);
                assert_true (b->heart_rate->bpm [0] >= 80 && b->heart_rate->bpm [0] <= 160);
                break;
            case COACHWIRE__SENSOR_BATCH__BODY_LOCATION:
                assert_int_equal (b->location->n_time_delta_ms, 1);
                assert_int_equal (b->location->n_speed_mm_s, 1);
                assert_int_equal (b->location->n_distance_cm, 1);
                assert_int_equal (b->location->n_latitude_e7, 0);
                assert_true (b->location->distance_cm [0] >= last_distance);
                last_distance = b->location->distance_cm [0];
                break;
            case COACHWIRE__SENSOR_BATCH__BODY_RUNNING: {
                const Coachwire__RunningDynamicsBatch *r = b->running;
                assert_int_equal (r->n_time_delta_ms, 1);
                assert_int_equal (r->n_cadence_spm_x10, 1);
                assert_int_equal (r->n_vertical_oscillation_mm_x10, 1);
                assert_int_equal (r->n_stance_time_ms_x10, 1);
                assert_int_equal (r->n_stance_balance_left_pct_x100, 1);
                assert_true (fabs (r->vertical_oscillation_mm_x10 [0] - 800.0) < 60);
                assert_true (fabs (r->stance_time_ms_x10 [0] - 2500.0) < 150);
                assert_true (fabs (r->stance_balance_left_pct_x100 [0] - 5000.0) < 200);
                break;
            }
            default:
                fail ();
        }
    }
    assert_int_equal (counts [COACHWIRE__SENSOR_BATCH__BODY_IMU], 60);
    /*  3 m/s for 59 s before the last sample. */
    assert_true (fabs (last_distance - 17700.0) < 17700.0 * 0.03);
    s_coll_free (&c);
}

/*  The IMU shows one impact per step (vertical axis y), its mean is g, and left/right
 *  contacts differ when the balance says so. */
static void
test_run_gait_in_imu (void **state)
{
    (void) state;
    coll_t c = { 0 };
    cw_sim_run_options_t o = s_run_options ();
    o.cadence_spm = 180;
    o.balance_left_pct = 50;
    assert_int_equal (cw_simulate_run (&o, s_collect, &c, NULL), CW_OK);
    double sum = 0;
    size_t n = 0, peaks = 0, since = 1000;
    for (size_t i = 0; i < c.count; i++) {
        if (c.b [i]->body_case != COACHWIRE__SENSOR_BATCH__BODY_IMU)
            continue;
        const Coachwire__ImuBatch *m = c.b [i]->imu;
        for (size_t k = 0; k < m->n_accel_y_mm_s2; k++) {
            int32_t y = m->accel_y_mm_s2 [k];
            sum += y;
            n++;
            since++;
            /*  An impact: above 2.5 g, at least 150 ms after the last one. */
            if (y > 24500 && since > 15) {
                peaks++;
                since = 0;
            }
        }
    }
    assert_true (fabs (sum / (double) n - 9806.65) < 150);
    assert_true (fabs ((double) peaks - 180.0) <= 5);     /* 60 s at 180 steps/min */
    s_coll_free (&c);
}

static void
test_run_cadence_drift (void **state)
{
    (void) state;
    coll_t c = { 0 };
    cw_sim_run_options_t o = s_run_options ();
    o.duration_s = 120;
    o.cadence_spm = 160;
    o.cadence_end_spm = 180;
    assert_int_equal (cw_simulate_run (&o, s_collect, &c, NULL), CW_OK);
    uint32_t first = 0, last = 0, prev = 0;
    for (size_t i = 0; i < c.count; i++) {
        if (c.b [i]->body_case != COACHWIRE__SENSOR_BATCH__BODY_RUNNING)
            continue;
        const Coachwire__RunningDynamicsBatch *r = c.b [i]->running;
        uint32_t cad = r->cadence_spm_x10 [0];
        if (!first)
            first = cad;
        assert_true (cad >= prev);      /* a linear drift never goes back */
        prev = last = cad;
    }
    assert_int_equal (first, 1600);
    assert_true (last >= 1795 && last <= 1800);
    s_coll_free (&c);
}

static void
test_diet_totals_near_targets (void **state)
{
    (void) state;
    coll_t c = { 0 }, again = { 0 };
    cw_import_summary_t sum;
    cw_sim_diet_options_t d;
    memset (&d, 0, sizeof d);
    d.start_time_ms = 1704067200000ull;     /* 2024-01-01 00:00 UTC */
    d.days = 14;
    d.energy_kcal = 2500;
    d.protein_g = 120;
    d.sugar_g = 40;
    d.seed = 7;
    assert_int_equal (cw_simulate_diet (&d, s_collect, &c, &sum), CW_OK);
    assert_int_equal (cw_simulate_diet (&d, s_collect, &again, NULL), CW_OK);
    assert_true (c.hash == again.hash);
    assert_int_equal (c.count, 14);
    assert_int_equal (sum.samples, 56);
    for (size_t i = 0; i < c.count; i++) {
        assert_int_equal (c.b [i]->body_case, COACHWIRE__SENSOR_BATCH__BODY_MEAL);
        const Coachwire__MealBatch *mb = c.b [i]->meal;
        assert_int_equal (mb->n_entries, 4);
        double kcal = 0, protein = 0, sugar = 0;
        int kinds = 0;
        for (size_t k = 0; k < mb->n_entries; k++) {
            const Coachwire__MealEntry *e = mb->entries [k];
            kcal += e->energy_kcal;
            protein += e->protein_mg / 1000.0;
            sugar += e->sugar_mg / 1000.0;
            kinds |= 1 << e->meal;
            assert_true (strlen (e->item) > 0 && strlen (e->amount) > 0);
            assert_true (e->carbohydrate_mg >= e->sugar_mg);
            assert_true (e->time_ms >= d.start_time_ms + i * 86400000u
                      && e->time_ms < d.start_time_ms + (i + 1) * 86400000u);
            if (k > 0)
                assert_true (e->time_ms > mb->entries [k - 1]->time_ms);
        }
        assert_int_equal (kinds, 0x1E);    /* breakfast, lunch, dinner and a snack */
        assert_true (fabs (kcal - 2500) <= 2500 * 0.05);
        assert_true (fabs (protein - 120) <= 120 * 0.05);
        assert_true (fabs (sugar - 40) <= 40 * 0.05);
    }
    s_coll_free (&c);
    s_coll_free (&again);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_bad_options_refused),
        cmocka_unit_test (test_sink_error_stops),
        cmocka_unit_test (test_run_deterministic_by_seed),
        cmocka_unit_test (test_run_shapes_and_order),
        cmocka_unit_test (test_run_gait_in_imu),
        cmocka_unit_test (test_run_cadence_drift),
        cmocka_unit_test (test_diet_totals_near_targets),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
