/*  test_import.c - importers chosen by content: unknown and malformed input first, then each
 *  real recording through its importer, checking batch shapes and known values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coachwire/cw_error.h"
#include "coachwire/cw_import.h"

/*  --- helpers --------------------------------------------------------------------------- */

static uint8_t *
s_load (const char *name, size_t *len)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s", CW_TEST_DATA, name);
    FILE *f = fopen (path, "rb");
    assert_non_null (f);
    fseek (f, 0, SEEK_END);
    long size = ftell (f);
    fseek (f, 0, SEEK_SET);
    uint8_t *buf = malloc ((size_t) size + 1);
    assert_int_equal (fread (buf, 1, (size_t) size, f), (size_t) size);
    fclose (f);
    buf [size] = 0;
    *len = (size_t) size;
    return buf;
}

/*  Collects every batch by packing and unpacking it: what a sink sees must serialize. */
typedef struct {
    size_t count;
    size_t cap;
    Coachwire__SensorBatch **b;
    int fail_at;            /* return CW_ENOSPC on this call (1-based), 0 = never */
} coll_t;

static size_t
s_time_len (const Coachwire__SensorBatch *b)
{
    switch (b->body_case) {
        case COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE: return b->heart_rate->n_time_delta_ms;
        case COACHWIRE__SENSOR_BATCH__BODY_LOCATION: return b->location->n_time_delta_ms;
        case COACHWIRE__SENSOR_BATCH__BODY_RUNNING: return b->running->n_time_delta_ms;
        case COACHWIRE__SENSOR_BATCH__BODY_IMU: return b->imu->n_accel_x_mm_s2;
        case COACHWIRE__SENSOR_BATCH__BODY_MEAL: return b->meal->n_entries;
        default: return 0;
    }
}

/*  Every present per-sample array has the batch's sample count. */
static void
s_check_shape (const Coachwire__SensorBatch *b)
{
    size_t n = s_time_len (b);
    assert_true (n > 0);
#define SAME(x) assert_true ((x) == 0 || (x) == n)
    switch (b->body_case) {
        case COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE:
            assert_int_equal (b->heart_rate->n_bpm, n);
            break;
        case COACHWIRE__SENSOR_BATCH__BODY_LOCATION: {
            const Coachwire__LocationBatch *l = b->location;
            SAME (l->n_latitude_e7);
            SAME (l->n_longitude_e7);
            SAME (l->n_altitude_cm);
            SAME (l->n_speed_mm_s);
            SAME (l->n_distance_cm);
            assert_int_equal (l->n_latitude_e7, l->n_longitude_e7);
            break;
        }
        case COACHWIRE__SENSOR_BATCH__BODY_RUNNING: {
            const Coachwire__RunningDynamicsBatch *r = b->running;
            SAME (r->n_cadence_spm_x10);
            SAME (r->n_vertical_oscillation_mm_x10);
            SAME (r->n_stance_time_ms_x10);
            SAME (r->n_stance_balance_left_pct_x100);
            SAME (r->n_step_length_mm);
            SAME (r->n_vertical_ratio_pct_x100);
            SAME (r->n_power_w);
            break;
        }
        case COACHWIRE__SENSOR_BATCH__BODY_IMU: {
            const Coachwire__ImuBatch *m = b->imu;
            assert_int_equal (m->n_accel_y_mm_s2, n);
            assert_int_equal (m->n_accel_z_mm_s2, n);
            SAME (m->n_gyro_x_mdeg_s);
            assert_int_equal (m->n_gyro_x_mdeg_s, m->n_gyro_y_mdeg_s);
            assert_int_equal (m->n_gyro_x_mdeg_s, m->n_gyro_z_mdeg_s);
            assert_true (m->sample_rate_mhz > 0);
            break;
        }
        default:
            break;
    }
#undef SAME
}

static int
s_collect (void *ctx, const Coachwire__SensorBatch *batch)
{
    coll_t *c = ctx;
    if (c->fail_at && (int) c->count + 1 == c->fail_at)
        return CW_ENOSPC;
    size_t size = protobuf_c_message_get_packed_size (&batch->base);
    uint8_t *buf = malloc (size ? size : 1);
    assert_int_equal (protobuf_c_message_pack (&batch->base, buf), size);
    Coachwire__SensorBatch *copy = coachwire__sensor_batch__unpack (NULL, size, buf);
    free (buf);
    assert_non_null (copy);
    s_check_shape (copy);
    if (c->count == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
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

static int
s_import_text (const char *text, const char *name, const cw_import_options_t *opt, coll_t *c,
               cw_import_summary_t *sum)
{
    return cw_import_buffer ((const uint8_t *) text, strlen (text), name, opt, s_collect, c,
                             sum);
}

/*  --- negative tests -------------------------------------------------------------------- */

static void
test_detect_table (void **state)
{
    (void) state;
    static const struct {
        const char *head;
        cw_format_t format;
    } cases [] = {
        { "1245907240064,-1.03,5.91,7.58,0,0,0\n", CW_FORMAT_PHONE_ACCEL_CSV },
        { "1,2,3,4", CW_FORMAT_PHONE_ACCEL_CSV },
        { "sensor,left_sensor,right_sensor\naxis,acc_x,acc_x\n", CW_FORMAT_FOOT_IMU_CSV },
        { "Date,Entry,Item,Amount,Calories\n", CW_FORMAT_FOOD_DIARY_CSV },
        { "\xEF\xBB\xBF" "Date,Entry,Item,Amount,Calories\n", CW_FORMAT_FOOD_DIARY_CSV },
        { "1,2,3\n", CW_FORMAT_UNKNOWN },
        { "1,2,x,4\n", CW_FORMAT_UNKNOWN },
        { "time,ax,ay,az\n1,2,3,4\n", CW_FORMAT_UNKNOWN },
        { "hello world", CW_FORMAT_UNKNOWN },
        { "", CW_FORMAT_UNKNOWN },
        { "1,nan,3,4\n", CW_FORMAT_UNKNOWN },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++)
        assert_int_equal (cw_import_detect ((const uint8_t *) cases [i].head,
                                            strlen (cases [i].head)), cases [i].format);
    uint8_t fit [14] = { 14, 0x20, 0, 0, 0, 0, 0, 0, '.', 'F', 'I', 'T', 0, 0 };
    assert_int_equal (cw_import_detect (fit, sizeof fit), CW_FORMAT_FIT);
    assert_int_equal (cw_import_detect (fit, 11), CW_FORMAT_UNKNOWN);
    assert_int_equal (cw_import_detect (NULL, 0), CW_FORMAT_UNKNOWN);
    assert_string_equal (cw_format_name (CW_FORMAT_FIT), "fit");
    assert_string_equal (cw_format_name (CW_FORMAT_UNKNOWN), "unknown");
    assert_string_equal (cw_format_name ((cw_format_t) 99), "unknown");
}

static void
test_unknown_format_never_calls_sink (void **state)
{
    (void) state;
    coll_t c = { 0 };
    cw_import_summary_t sum;
    assert_int_equal (s_import_text ("hello\nworld\n", NULL, NULL, &c, &sum), CW_EDECODE);
    assert_int_equal (c.count, 0);
    assert_int_equal (sum.format, CW_FORMAT_UNKNOWN);
    assert_true (strlen (sum.first_error) > 0);
    /*  A real CSV of a format we do not import. */
    size_t len;
    uint8_t *data = s_load ("stride_borders_sample.csv", &len);
    assert_int_equal (cw_import_buffer (data, len, NULL, NULL, s_collect, &c, &sum), CW_EDECODE);
    assert_int_equal (c.count, 0);
    free (data);
    /*  Known format, nothing usable. */
    assert_int_equal (s_import_text ("1,2,3,4\n", NULL, NULL, &c, &sum), CW_EDECODE);
    assert_int_equal (c.count, 0);
    assert_int_equal (s_import_text ("sensor,x\naxis,y\n0,1\n", NULL, NULL, &c, &sum),
                      CW_EDECODE);
    assert_int_equal (c.count, 0);
    /*  Files. */
    assert_int_equal (cw_import_file ("/nonexistent/coachwire.fit", NULL, s_collect, &c, &sum),
                      CW_ENOENT);
    assert_int_equal (cw_import_file (CW_TEST_DATA, NULL, s_collect, &c, &sum), CW_EIO);
    assert_int_equal (c.count, 0);
}

static void
test_bad_options (void **state)
{
    (void) state;
    coll_t c = { 0 };
    cw_import_summary_t sum;
    cw_import_options_t opt = { 0 };
    opt.sample_rate_hz = NAN;
    assert_int_equal (s_import_text ("1,2,3,4\n2,2,3,4\n", NULL, &opt, &c, &sum), CW_EINVAL);
    opt.sample_rate_hz = 1e9;
    assert_int_equal (s_import_text ("1,2,3,4\n2,2,3,4\n", NULL, &opt, &c, &sum), CW_EINVAL);
    opt.sample_rate_hz = 0;
    opt.time_zone = "../../etc/passwd";
    assert_int_equal (s_import_text ("1,2,3,4\n2,2,3,4\n", NULL, &opt, &c, &sum), CW_EINVAL);
    assert_int_equal (cw_import_buffer (NULL, 5, NULL, NULL, s_collect, &c, &sum), CW_EINVAL);
    assert_int_equal (cw_import_buffer ((const uint8_t *) "x", 1, NULL, NULL, NULL, NULL, &sum),
                      CW_EINVAL);
    assert_int_equal (c.count, 0);
}

static void
test_malformed_rows_counted (void **state)
{
    (void) state;
    coll_t c = { 0 };
    cw_import_summary_t sum;
    cw_import_options_t opt = { 0 };
    opt.start_time_ms = 1700000000000ull;
    /*  Phone accel: NaN, inf, short row, huge value, time going back, negative time. */
    const char *phone =
        "1000000000,1.0,2.0,3.0\n"
        "1010000000,1.0,2.0,3.0\n"
        "1020000000,nan,2.0,3.0\n"
        "1030000000,1.0,inf,3.0\n"
        "1040000000,1.0\n"
        "1050000000,1e300,2.0,3.0\n"
        "1005000000,1.0,2.0,3.0\n"
        "-1,1.0,2.0,3.0\n"
        "\n"
        "1060000000,1.5,2.5,-3.5,9,9\n";
    assert_int_equal (s_import_text (phone, NULL, &opt, &c, &sum), CW_OK);
    assert_int_equal (sum.format, CW_FORMAT_PHONE_ACCEL_CSV);
    assert_int_equal (sum.skipped, 6);
    assert_int_equal (sum.samples, 3);
    assert_non_null (strstr (sum.first_error, "line 3"));
    /*  The 50 ms gap breaks the even spacing: a new batch. */
    assert_int_equal (c.count, 2);
    assert_int_equal (c.b [1]->imu->start_time_ms, opt.start_time_ms + 60);
    assert_int_equal (c.b [1]->imu->accel_z_mm_s2 [0], -3500);
    s_coll_free (&c);

    /*  Food diary: bad date, bad calories, bad thousands separator, too few columns,
     *  absurd calories; the good rows go through. */
    const char *food =
        "Date,Entry,Item,Amount,Calories,Carbs,Fat,Protein,Cholest,Sodium,Sugars,Fiber\n"
        "\"January 1, 2019\",Lunch,Soup,1 c,100,10g,1g,2g,0mg,\"1,200mg\",3g,1g\n"
        "\"Januar 32, 2019\",Lunch,Soup,1 c,100,10g,1g,2g,0mg,5mg,3g,1g\n"
        "\"January 2, 2019\",Lunch,Soup,1 c,abc,10g,1g,2g,0mg,5mg,3g,1g\n"
        "\"January 2, 2019\",Lunch,Soup,1 c,100,10g,1g,2g,0mg,\"1,23mg\",3g,1g\n"
        "\"January 2, 2019\",Lunch\n"
        "\"January 2, 2019\",Lunch,Soup,1 c,99999999,10g,1g,2g,0mg,5mg,3g,1g\n"
        "\"February 29, 2019\",Lunch,Soup,1 c,100,10g,1g,2g,0mg,5mg,3g,1g\n"
        "\"January 2, 2019\",Snacks,\"Nuts, \"\"raw\"\"\",1 c,200,--g,10g,5g,0mg,--mg,1.5g,2g\n";
    assert_int_equal (s_import_text (food, NULL, NULL, &c, &sum), CW_OK);
    assert_int_equal (sum.skipped, 6);
    assert_int_equal (sum.samples, 2);
    assert_non_null (strstr (sum.first_error, "line 3"));
    assert_int_equal (c.count, 2);
    assert_int_equal (c.b [0]->meal->entries [0]->sodium_mg, 1200);
    const Coachwire__MealEntry *nuts = c.b [1]->meal->entries [0];
    assert_string_equal (nuts->item, "Nuts, \"raw\"");
    assert_int_equal (nuts->carbohydrate_mg, 0);
    assert_int_equal (nuts->sugar_mg, 1500);
    assert_int_equal (nuts->meal, COACHWIRE__MEAL_KIND__MEAL_KIND_SNACK);
    s_coll_free (&c);

    /*  Foot IMU: a non-numeric value and a repeated index are skipped. */
    const char *foot =
        "sensor,left_sensor,left_sensor,left_sensor\n"
        "axis,acc_x,acc_y,acc_z\n"
        "0,1,2,3\n"
        "1,1,x,3\n"
        "1,1,2,3\n"
        "1,1,2,3\n"
        "2,1,2,3\n";
    assert_int_equal (s_import_text (foot, NULL, &opt, &c, &sum), CW_OK);
    assert_int_equal (sum.skipped, 2);
    assert_int_equal (sum.samples, 3);
    assert_int_equal (c.count, 1);
    assert_int_equal (c.b [0]->imu->n_gyro_x_mdeg_s, 0);
    assert_int_equal (c.b [0]->imu->placement, COACHWIRE__IMU_PLACEMENT__IMU_PLACEMENT_FOOT_LEFT);
    s_coll_free (&c);
}

static void
test_sink_error_stops (void **state)
{
    (void) state;
    size_t len;
    uint8_t *data = s_load ("user1_frontpocket_1506422223341.csv", &len);
    coll_t c = { 0 };
    c.fail_at = 3;
    cw_import_summary_t sum;
    assert_int_equal (cw_import_buffer (data, len, NULL, NULL, s_collect, &c, &sum), CW_ENOSPC);
    assert_int_equal (c.count, 2);
    assert_int_equal (sum.batches, 2);
    s_coll_free (&c);
    free (data);
}

static void
test_item_truncated_at_utf8_boundary (void **state)
{
    (void) state;
    char text [2048];
    char item [700];
    size_t n = 0;
    item [n++] = 'A';       /* odd start, so that byte 256 falls inside an e-acute */
    while (n + 2 < 600) {
        item [n++] = (char) 0xC3;
        item [n++] = (char) 0xA9;
    }
    item [n++] = (char) 0xFF;  /* invalid UTF-8 */
    item [n] = 0;
    snprintf (text, sizeof text,
              "Date,Entry,Item,Amount,Calories\n"
              "2019-03-01,Dinner,%s,%s,500\n"
              "2019-03-01,Dinner,bad\xC3(utf8,1,10\n", item,
              "a very long amount text that goes on and on beyond sixty-four bytes for sure");
    coll_t c = { 0 };
    cw_import_summary_t sum;
    assert_int_equal (s_import_text (text, NULL, NULL, &c, &sum), CW_OK);
    assert_int_equal (c.count, 1);
    const Coachwire__MealEntry *e = c.b [0]->meal->entries [0];
    assert_int_equal (strlen (e->item), 255);      /* 'A' + 127 two-byte characters */
    assert_int_equal (strlen (e->amount), 64);
    assert_string_equal (c.b [0]->meal->entries [1]->item, "bad?(utf8");
    s_coll_free (&c);
}

/*  --- real recordings ------------------------------------------------------------------- */

static void
test_fit_fenix5 (void **state)
{
    (void) state;
    size_t len;
    uint8_t *data = s_load ("garmin-fenix-5-run.fit", &len);
    coll_t c = { 0 };
    cw_import_summary_t sum;
    assert_int_equal (cw_import_buffer (data, len, "run.fit", NULL, s_collect, &c, &sum), CW_OK);
    assert_int_equal (sum.format, CW_FORMAT_FIT);
    assert_int_equal (sum.skipped, 0);
    size_t hr = 0, rr = 0, loc = 0, run = 0, step = 0, bal = 0;
    uint64_t first_hr_ms = 0;
    for (size_t i = 0; i < c.count; i++) {
        const Coachwire__SensorBatch *b = c.b [i];
        assert_int_equal (cw_batch_stream (b), (uint16_t) b->body_case);
        if (b->body_case == COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE) {
            if (!first_hr_ms)
                first_hr_ms = b->heart_rate->start_time_ms;
            hr += b->heart_rate->n_bpm;
            rr += b->heart_rate->n_rr_interval_ms;
            assert_int_equal (b->heart_rate->time_delta_ms [0], 0);
        }
        else
        if (b->body_case == COACHWIRE__SENSOR_BATCH__BODY_LOCATION) {
            loc += b->location->n_time_delta_ms;
            for (size_t k = 0; k < b->location->n_latitude_e7; k++) {
                /*  456099128 semicircles = 38.2298... degrees. */
                assert_true (b->location->latitude_e7 [k] > 382200000
                          && b->location->latitude_e7 [k] < 382400000);
                assert_true (b->location->longitude_e7 [k] < -1226000000);
            }
        }
        else
        if (b->body_case == COACHWIRE__SENSOR_BATCH__BODY_RUNNING) {
            const Coachwire__RunningDynamicsBatch *r = b->running;
            run += r->n_time_delta_ms;
            step += r->n_step_length_mm;
            bal += r->n_stance_balance_left_pct_x100;
            for (size_t k = 0; k < r->n_cadence_spm_x10; k++)
                assert_true (r->cadence_spm_x10 [k] == 0
                          || (r->cadence_spm_x10 [k] > 1000 && r->cadence_spm_x10 [k] < 2000));
            for (size_t k = 0; k < r->n_stance_balance_left_pct_x100; k++)
                assert_true (r->stance_balance_left_pct_x100 [k] > 4000
                          && r->stance_balance_left_pct_x100 [k] < 6000);
        }
    }
    assert_int_equal (hr, 21);
    assert_int_equal (loc, 21);
    assert_true (run >= 15);
    assert_true (step > 0 && bal > 0);
    assert_true (rr >= 71);
    /*  Sun Jun 11 07:34:09 PDT 2017 */
    assert_int_equal (first_hr_ms, 1497191649000ull);
    s_coll_free (&c);
    free (data);
}

static int
s_cmp_u32 (const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return x < y ? -1 : x > y;
}

static void
test_fit_fenix2 (void **state)
{
    (void) state;
    size_t len;
    uint8_t *data = s_load ("activity-small-fenix2-run.fit", &len);
    coll_t c = { 0 };
    cw_import_summary_t sum;
    assert_int_equal (cw_import_buffer (data, len, NULL, NULL, s_collect, &c, &sum), CW_OK);
    uint32_t *cad = calloc (4000, sizeof (uint32_t));
    size_t n_cad = 0, hr = 0;
    uint64_t last_start [8] = { 0 };
    for (size_t i = 0; i < c.count; i++) {
        const Coachwire__SensorBatch *b = c.b [i];
        uint64_t start = 0;
        if (b->body_case == COACHWIRE__SENSOR_BATCH__BODY_RUNNING) {
            const Coachwire__RunningDynamicsBatch *r = b->running;
            start = r->start_time_ms;
            assert_int_equal (r->n_step_length_mm, 0);
            assert_int_equal (r->n_stance_balance_left_pct_x100, 0);
            for (size_t k = 0; k < r->n_cadence_spm_x10 && n_cad < 4000; k++)
                cad [n_cad++] = r->cadence_spm_x10 [k];
            uint64_t span = 0;
            for (size_t k = 1; k < r->n_time_delta_ms; k++)
                span += r->time_delta_ms [k];
            assert_true (span < 60000);
        }
        else
        if (b->body_case == COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE) {
            start = b->heart_rate->start_time_ms;
            hr += b->heart_rate->n_bpm;
        }
        else
        if (b->body_case == COACHWIRE__SENSOR_BATCH__BODY_LOCATION)
            start = b->location->start_time_ms;
        /*  Each stream's batches are in time order. */
        assert_true (start >= last_start [b->body_case]);
        last_start [b->body_case] = start;
    }
    assert_true (hr > 2700 && hr <= 2809);
    assert_true (n_cad > 2500);
    qsort (cad, n_cad, sizeof cad [0], s_cmp_u32);
    uint32_t median = cad [n_cad / 2];
    assert_true (median >= 1655 && median <= 1675);    /* 83 strides/min -> ~166 steps/min */
    free (cad);
    s_coll_free (&c);
    free (data);
}

static void
test_phone_accel (void **state)
{
    (void) state;
    coll_t c = { 0 };
    cw_import_summary_t sum;
    char path [512];
    snprintf (path, sizeof path, "%s/user1_frontpocket_1506422223341.csv", CW_TEST_DATA);
    assert_int_equal (cw_import_file (path, NULL, s_collect, &c, &sum), CW_OK);
    assert_int_equal (sum.format, CW_FORMAT_PHONE_ACCEL_CSV);
    assert_int_equal (sum.samples, 19311);
    assert_int_equal (sum.skipped, 0);
    assert_int_equal (sum.batches, c.count);
    size_t total = 0;
    uint64_t last = 0;
    for (size_t i = 0; i < c.count; i++) {
        assert_int_equal (c.b [i]->body_case, COACHWIRE__SENSOR_BATCH__BODY_IMU);
        const Coachwire__ImuBatch *m = c.b [i]->imu;
        assert_int_equal (m->placement, COACHWIRE__IMU_PLACEMENT__IMU_PLACEMENT_POCKET);
        assert_int_equal (m->n_gyro_x_mdeg_s, 0);
        assert_true (m->sample_rate_mhz > 95000 && m->sample_rate_mhz < 105000);
        assert_true (m->n_accel_x_mm_s2 <= 120);     /* timestamps jitter around 10 ms */
        assert_true (m->start_time_ms >= last);
        last = m->start_time_ms;
        total += m->n_accel_x_mm_s2;
    }
    assert_int_equal (total, 19311);
    assert_true (c.count >= 190 && c.count <= 200);
    /*  Anchored at the file name's epoch ms; values in mm/s^2. */
    const Coachwire__ImuBatch *first = c.b [0]->imu;
    assert_int_equal (first->start_time_ms, 1506422223341ull);
    assert_int_equal (first->accel_x_mm_s2 [0], -1032);     /* -1.0319009 */
    assert_int_equal (first->accel_y_mm_s2 [0], 5912);      /*  5.9124813 */
    assert_int_equal (first->accel_z_mm_s2 [0], 7585);      /*  7.5848308 */
    assert_int_equal (first->accel_x_mm_s2 [1], 1902);      /*  1.9021933 */
    s_coll_free (&c);

    /*  An explicit start time wins over the name. */
    cw_import_options_t opt = { 0 };
    opt.start_time_ms = 1600000000000ull;
    assert_int_equal (cw_import_file (path, &opt, s_collect, &c, &sum), CW_OK);
    assert_int_equal (c.b [0]->imu->start_time_ms, 1600000000000ull);
    s_coll_free (&c);
}

static void
test_foot_imu (void **state)
{
    (void) state;
    size_t len;
    uint8_t *data = s_load ("imu_sample.csv", &len);
    coll_t c = { 0 };
    cw_import_summary_t sum;
    cw_import_options_t opt = { 0 };
    opt.start_time_ms = 1600000000000ull;
    assert_int_equal (cw_import_buffer (data, len, NULL, &opt, s_collect, &c, &sum), CW_OK);
    assert_int_equal (sum.format, CW_FORMAT_FOOT_IMU_CSV);
    assert_int_equal (sum.skipped, 0);
    size_t left = 0, right = 0;
    const Coachwire__ImuBatch *first_left = NULL, *first_right = NULL;
    for (size_t i = 0; i < c.count; i++) {
        assert_int_equal (c.b [i]->body_case, COACHWIRE__SENSOR_BATCH__BODY_IMU);
        const Coachwire__ImuBatch *m = c.b [i]->imu;
        assert_int_equal (m->sample_rate_mhz, 204800);
        assert_int_equal (m->n_gyro_z_mdeg_s, m->n_accel_x_mm_s2);
        assert_true (m->n_accel_x_mm_s2 <= 205);
        if (m->placement == COACHWIRE__IMU_PLACEMENT__IMU_PLACEMENT_FOOT_LEFT) {
            left += m->n_accel_x_mm_s2;
            if (!first_left)
                first_left = m;
        }
        else {
            assert_int_equal (m->placement, COACHWIRE__IMU_PLACEMENT__IMU_PLACEMENT_FOOT_RIGHT);
            right += m->n_accel_x_mm_s2;
            if (!first_right)
                first_right = m;
        }
    }
    assert_int_equal (left, 7928);
    assert_int_equal (right, 7928);
    assert_int_equal (sum.samples, 2 * 7928);
    assert_int_equal (first_left->start_time_ms, 1600000000000ull);
    assert_int_equal (first_left->accel_x_mm_s2 [0], 881);     /* 0.8808107 */
    assert_int_equal (first_right->accel_x_mm_s2 [0], 312);    /* 0.3115526 */
    assert_int_equal (first_left->accel_y_mm_s2 [0], 2762);
    assert_int_equal (first_right->accel_z_mm_s2 [0], 9513);
    assert_int_equal (first_left->gyro_x_mdeg_s [0], -112);    /* -0.1124017 deg/s */
    assert_int_equal (first_right->gyro_z_mdeg_s [0], -25);
    assert_int_equal (first_left->gyro_z_mdeg_s [1], -720);    /* -0.7196013 */
    /*  The second batch starts 204 samples (996 ms) in. */
    assert_int_equal (c.b [2]->imu->start_time_ms, 1600000000000ull + 996);
    s_coll_free (&c);

    /*  Columns are found by name: a shuffled header gives the same values. */
    const char *shuffled =
        "sensor,right_sensor,left_sensor,right_sensor,left_sensor,left_sensor,right_sensor\n"
        "axis,acc_z,acc_y,acc_x,acc_x,acc_z,acc_y\n"
        "0,9.5,2.7,0.3,0.9,9.4,-2.4\n";
    assert_int_equal (s_import_text (shuffled, NULL, &opt, &c, &sum), CW_OK);
    assert_int_equal (c.count, 2);
    assert_int_equal (c.b [0]->imu->accel_x_mm_s2 [0], 900);
    assert_int_equal (c.b [0]->imu->accel_y_mm_s2 [0], 2700);
    assert_int_equal (c.b [0]->imu->accel_z_mm_s2 [0], 9400);
    assert_int_equal (c.b [1]->imu->accel_x_mm_s2 [0], 300);
    assert_int_equal (c.b [1]->imu->accel_y_mm_s2 [0], -2400);
    assert_int_equal (c.b [1]->imu->accel_z_mm_s2 [0], 9500);
    assert_int_equal (c.b [1]->imu->n_gyro_x_mdeg_s, 0);
    s_coll_free (&c);
    free (data);
}

static void
test_food_diary (void **state)
{
    (void) state;
    size_t len;
    uint8_t *data = s_load ("food_demo_diary.csv", &len);
    coll_t c = { 0 };
    cw_import_summary_t sum;
    const char *tz_before = getenv ("TZ");
    char *saved = tz_before ? strdup (tz_before) : NULL;

    assert_int_equal (cw_import_buffer (data, len, NULL, NULL, s_collect, &c, &sum), CW_OK);
    assert_int_equal (sum.format, CW_FORMAT_FOOD_DIARY_CSV);
    assert_int_equal (sum.samples, 464);
    assert_int_equal (sum.skipped, 0);
    assert_int_equal (c.count, 14);
    size_t entries = 0;
    for (size_t i = 0; i < c.count; i++) {
        const Coachwire__MealBatch *mb = c.b [i]->meal;
        entries += mb->n_entries;
        for (size_t k = 1; k < mb->n_entries; k++)
            assert_true (mb->entries [k]->time_ms >= mb->entries [k - 1]->time_ms);
        for (size_t k = 0; k < mb->n_entries; k++)
            assert_true (mb->entries [k]->meal >= 1 && mb->entries [k]->meal <= 4);
        if (i > 0)
            assert_int_equal (mb->entries [0]->time_ms / 86400000u,
                              c.b [i - 1]->meal->entries [0]->time_ms / 86400000u + 1);
    }
    assert_int_equal (entries, 464);
    /*  Day 1, breakfast, second row of the file. */
    const Coachwire__MealEntry *soup = NULL;
    for (size_t k = 0; k < c.b [0]->meal->n_entries && !soup; k++)
        if (strcmp (c.b [0]->meal->entries [k]->item, "Sweet Potato Soup") == 0)
            soup = c.b [0]->meal->entries [k];
    assert_non_null (soup);
    assert_int_equal (soup->meal, COACHWIRE__MEAL_KIND__MEAL_KIND_BREAKFAST);
    assert_string_equal (soup->amount, "2 serving(s)");
    assert_int_equal (soup->energy_kcal, 638);
    assert_int_equal (soup->carbohydrate_mg, 103000);
    assert_int_equal (soup->fat_mg, 15000);
    assert_int_equal (soup->protein_mg, 32000);
    assert_int_equal (soup->sodium_mg, 3436);
    assert_int_equal (soup->sugar_mg, 40000);
    assert_int_equal (soup->fibre_mg, 17000);
    assert_int_equal (soup->time_ms, 1546329600000ull);    /* 2019-01-01 08:00 UTC */
    s_coll_free (&c);

    /*  In New York, breakfast at 08:00 EST is 13:00 UTC; TZ is put back afterwards. */
    cw_import_options_t opt = { 0 };
    opt.time_zone = "America/New_York";
    assert_int_equal (cw_import_buffer (data, len, NULL, &opt, s_collect, &c, &sum), CW_OK);
    assert_int_equal (c.b [0]->meal->entries [0]->time_ms, 1546347600000ull);
    const char *tz_after = getenv ("TZ");
    if (saved)
        assert_string_equal (tz_after, saved);
    else
        assert_null (tz_after);
    free (saved);
    s_coll_free (&c);
    free (data);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_detect_table),
        cmocka_unit_test (test_unknown_format_never_calls_sink),
        cmocka_unit_test (test_bad_options),
        cmocka_unit_test (test_malformed_rows_counted),
        cmocka_unit_test (test_sink_error_stops),
        cmocka_unit_test (test_item_truncated_at_utf8_boundary),
        cmocka_unit_test (test_fit_fenix5),
        cmocka_unit_test (test_fit_fenix2),
        cmocka_unit_test (test_phone_accel),
        cmocka_unit_test (test_foot_imu),
        cmocka_unit_test (test_food_diary),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
