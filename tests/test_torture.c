/*  test_torture.c - allocation-failure torture of the decoders and request handlers.
 *
 *  Every operation that takes input from outside runs once per allocation it makes: the 1st,
 *  then the 2nd, ... then the Nth allocation fails, until a run makes no allocation that could
 *  be failed and succeeds. Each failing run must end in a clean error (CW_ENOMEM, CW_EDECODE or
 *  CW_ETOOBIG), leave no half-built result behind, and (under the ASan build, where
 *  LeakSanitizer checks at exit) leak nothing.
 *
 *  Failures are injected two ways:
 *  - malloc, calloc and realloc are wrapped at link time (-Wl,--wrap=..., this binary only,
 *    see tests/CMakeLists.txt) with a global countdown: our own code is linked statically, so
 *    every allocation it makes goes through the wrapper;
 *  - protobuf-c's allocator is swapped for one that fails its Nth call (the batch decoder
 *    takes the gateway's capped allocator; we put ours in front of it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coachwire.pb-c.h"
#include "api.pb-c.h"
#include "coachwire/cw_batch.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_ledger.h"
#include "coachwire/cw_nudge.h"
#include "coachwire/cw_pb.h"
#include "coachwire/cw_plan.h"
#include "coachwire/cw_rules.h"
#include "coachwire/cw_server.h"
#include "cw_api_internal.h"

#define S_CORPUS CW_TEST_DATA "/../fuzz/corpus"
#define S_STEPS_MAX 100000      /* no decode here makes more allocations than this */
#define S_T0 1700000000000ull   /* batch times; validated against S_T0 + 100 s */

/* ---- the link-time malloc wrapper ------------------------------------------------------ */

void *__real_malloc (size_t size);
void *__real_calloc (size_t n, size_t size);
void *__real_realloc (void *p, size_t size);
void *__wrap_malloc (size_t size);
void *__wrap_calloc (size_t n, size_t size);
void *__wrap_realloc (void *p, size_t size);

static bool s_armed;            /* count and fail only while an operation runs */
static long s_fail_at;          /* the allocation (1-based) that fails */
static long s_calls;            /* allocations seen since armed */
static bool s_injected;         /* the failure happened in this run */

static bool
s_should_fail (void)
{
    if (!s_armed)
        return false;
    if (++s_calls == s_fail_at) {
        s_injected = true;
        errno = ENOMEM;
        return true;
    }
    return false;
}

void *
__wrap_malloc (size_t size)
{
    return s_should_fail () ? NULL : __real_malloc (size);
}

void *
__wrap_calloc (size_t n, size_t size)
{
    return s_should_fail () ? NULL : __real_calloc (n, size);
}

void *
__wrap_realloc (void *p, size_t size)
{
    return s_should_fail () ? NULL : __real_realloc (p, size);
}

static void
s_arm (long fail_at)
{
    s_fail_at = fail_at;
    s_calls = 0;
    s_injected = false;
    s_armed = true;
}

static void
s_disarm (void)
{
    s_armed = false;
}

/* ---- the driver ------------------------------------------------------------------------ */

/*  One operation on outside input: returns its rc, frees whatever it built, and asserts
 *  itself that nothing half-built is left behind on failure. */
typedef int (*s_op_fn) (void *ctx);

static bool
s_clean_error (int rc)
{
    return rc == CW_ENOMEM || rc == CW_EDECODE || rc == CW_ETOOBIG;
}

/*  Runs op with no failure (it must give `expect`), then with the 1st, 2nd, ... allocation
 *  failing until a run makes fewer allocations than the one failed and gives `expect` again.
 *  Returns the number of failing runs. */
static long
s_torture (const char *name, s_op_fn op, void *ctx, int expect)
{
    int rc = op (ctx);
    if (rc != expect)
        fail_msg ("%s: without failures rc %s, expected %s", name, cw_errname (rc),
                  cw_errname (expect));
    long n = 1;
    for (; n < S_STEPS_MAX; n++) {
        s_arm (n);
        rc = op (ctx);
        bool injected = s_injected;
        s_disarm ();
        if (!injected) {
            if (rc != expect)
                fail_msg ("%s: run %ld made no failing allocation but gave %s, not %s", name, n,
                          cw_errname (rc), cw_errname (expect));
            break;
        }
        if (!s_clean_error (rc))
            fail_msg ("%s: allocation %ld failed and the result was %s (%d), not a clean "
                      "CW_ENOMEM / CW_EDECODE / CW_ETOOBIG", name, n, cw_errname (rc), rc);
    }
    assert_true (n < S_STEPS_MAX);
    print_message ("torture %-34s %4ld allocations failed in turn: clean errors\n", name, n - 1);
    return n - 1;
}

static char *
s_read (const char *path, size_t *len)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc (CW_API_MAX_MSG_BYTES + 1);
    size_t n = buf ? fread (buf, 1, CW_API_MAX_MSG_BYTES, f) : 0;
    fclose (f);
    if (buf)
        buf [n] = '\0';
    *len = n;
    return buf;
}

/* ---- sensor batches: every stream ------------------------------------------------------ */

typedef struct {
    uint8_t *data;
    size_t len;
    uint16_t stream;
    bool protobuf_allocator;    /* fail through protobuf-c's allocator, not malloc */
    long pb_fail_at, pb_calls;
    void *(*pb_real_alloc) (void *data, size_t size);
} s_batch_t;

static s_batch_t *s_current_batch;

/*  The allocator put in front of the gateway's capped one: fails its Nth call. */
static void *
s_pb_alloc (void *data, size_t size)
{
    s_batch_t *b = s_current_batch;
    if (++b->pb_calls == b->pb_fail_at) {
        s_injected = true;
        return NULL;
    }
    return b->pb_real_alloc (data, size);
}

static int
s_batch_op (void *ctx)
{
    s_batch_t *b = ctx;
    cw_pb_alloc_t alloc;
    cw_pb_alloc_init (&alloc, 0);
    if (b->protobuf_allocator) {
        s_current_batch = b;
        b->pb_real_alloc = alloc.base.alloc;
        alloc.base.alloc = s_pb_alloc;
        b->pb_calls = 0;
        b->pb_fail_at = s_armed ? s_fail_at : 0;
        s_armed = false;        /* the countdown is protobuf-c's alone in this mode */
    }
    Coachwire__SensorBatch *batch = NULL;
    char reason [CW_REASON_MAX];
    reason [0] = '\0';
    int rc = cw_batch_decode (&alloc, b->data, b->len, &batch, reason, sizeof reason);
    if (rc == CW_OK)
        rc = cw_batch_validate (batch, b->stream, S_T0 + 100000u, reason, sizeof reason);
    else {
        assert_null (batch);
        assert_true (reason [0] != '\0');
    }
    cw_batch_free (&alloc, &batch);
    assert_int_equal (alloc.used, 0);   /* every decoded byte went back */
    return rc;
}

/*  n per-sample values starting at v0, stepping by dv. */
static void
s_fill_u32 (uint32_t *a, size_t n, uint32_t v0, uint32_t dv)
{
    for (size_t i = 0; i < n; i++)
        a [i] = v0 + (uint32_t) i * dv;
}

static void
s_fill_s32 (int32_t *a, size_t n, int32_t v0, int32_t dv)
{
    for (size_t i = 0; i < n; i++)
        a [i] = v0 + (int32_t) i * dv;
}

#define S_N 20

/*  Packs one real batch of the given stream (1 imu .. 6 weight) into a malloc'd buffer. */
static uint8_t *
s_pack_batch (uint16_t stream, size_t *len)
{
    uint32_t deltas [S_N], u1 [S_N], u2 [S_N], u3 [S_N], u4 [S_N], u5 [S_N], u6 [S_N], u7 [S_N];
    int32_t s1 [S_N], s2 [S_N], s3 [S_N], s4 [S_N], s5 [S_N], s6 [S_N];
    s_fill_u32 (deltas, S_N, 1000, 0);
    Coachwire__SensorBatch batch = COACHWIRE__SENSOR_BATCH__INIT;
    Coachwire__ImuBatch imu = COACHWIRE__IMU_BATCH__INIT;
    Coachwire__HeartRateBatch hr = COACHWIRE__HEART_RATE_BATCH__INIT;
    Coachwire__LocationBatch loc = COACHWIRE__LOCATION_BATCH__INIT;
    Coachwire__RunningDynamicsBatch run = COACHWIRE__RUNNING_DYNAMICS_BATCH__INIT;
    Coachwire__MealBatch meal = COACHWIRE__MEAL_BATCH__INIT;
    Coachwire__MealEntry entries [3] = { COACHWIRE__MEAL_ENTRY__INIT, COACHWIRE__MEAL_ENTRY__INIT,
                                         COACHWIRE__MEAL_ENTRY__INIT };
    Coachwire__MealEntry *entry_ptrs [3] = { &entries [0], &entries [1], &entries [2] };
    Coachwire__BodyWeightBatch weight = COACHWIRE__BODY_WEIGHT_BATCH__INIT;
    switch (stream) {
        case 1:
            imu.start_time_ms = S_T0;
            imu.sample_rate_mhz = 100000;
            imu.placement = COACHWIRE__IMU_PLACEMENT__IMU_PLACEMENT_POCKET;
            s_fill_s32 (s1, S_N, 100, 7);
            s_fill_s32 (s2, S_N, 9806, -3);
            s_fill_s32 (s3, S_N, -200, 11);
            s_fill_s32 (s4, S_N, 15000, 100);
            s_fill_s32 (s5, S_N, -8000, 50);
            s_fill_s32 (s6, S_N, 400, -20);
            imu.accel_x_mm_s2 = s1, imu.n_accel_x_mm_s2 = S_N;
            imu.accel_y_mm_s2 = s2, imu.n_accel_y_mm_s2 = S_N;
            imu.accel_z_mm_s2 = s3, imu.n_accel_z_mm_s2 = S_N;
            imu.gyro_x_mdeg_s = s4, imu.n_gyro_x_mdeg_s = S_N;
            imu.gyro_y_mdeg_s = s5, imu.n_gyro_y_mdeg_s = S_N;
            imu.gyro_z_mdeg_s = s6, imu.n_gyro_z_mdeg_s = S_N;
            batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_IMU;
            batch.imu = &imu;
            break;
        case 2:
            hr.start_time_ms = S_T0;
            s_fill_u32 (u1, S_N, 120, 1);
            s_fill_u32 (u2, S_N, 480, 2);
            hr.time_delta_ms = deltas, hr.n_time_delta_ms = S_N;
            hr.bpm = u1, hr.n_bpm = S_N;
            hr.rr_interval_ms = u2, hr.n_rr_interval_ms = S_N;
            batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE;
            batch.heart_rate = &hr;
            break;
        case 3:
            loc.start_time_ms = S_T0;
            s_fill_s32 (s1, S_N, 356812000, 100);
            s_fill_s32 (s2, S_N, 1397671000, 100);
            s_fill_s32 (s3, S_N, 4000, 10);
            s_fill_u32 (u1, S_N, 3000, 5);
            s_fill_u32 (u2, S_N, 0, 300);
            loc.time_delta_ms = deltas, loc.n_time_delta_ms = S_N;
            loc.latitude_e7 = s1, loc.n_latitude_e7 = S_N;
            loc.longitude_e7 = s2, loc.n_longitude_e7 = S_N;
            loc.altitude_cm = s3, loc.n_altitude_cm = S_N;
            loc.speed_mm_s = u1, loc.n_speed_mm_s = S_N;
            loc.distance_cm = u2, loc.n_distance_cm = S_N;
            batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_LOCATION;
            batch.location = &loc;
            break;
        case 4:
            run.start_time_ms = S_T0;
            s_fill_u32 (u1, S_N, 1700, 1);
            s_fill_u32 (u2, S_N, 850, 1);
            s_fill_u32 (u3, S_N, 2500, 1);
            s_fill_u32 (u4, S_N, 5000, 1);
            s_fill_u32 (u5, S_N, 1200, 1);
            s_fill_u32 (u6, S_N, 700, 1);
            s_fill_u32 (u7, S_N, 250, 1);
            run.time_delta_ms = deltas, run.n_time_delta_ms = S_N;
            run.cadence_spm_x10 = u1, run.n_cadence_spm_x10 = S_N;
            run.vertical_oscillation_mm_x10 = u2, run.n_vertical_oscillation_mm_x10 = S_N;
            run.stance_time_ms_x10 = u3, run.n_stance_time_ms_x10 = S_N;
            run.stance_balance_left_pct_x100 = u4, run.n_stance_balance_left_pct_x100 = S_N;
            run.step_length_mm = u5, run.n_step_length_mm = S_N;
            run.vertical_ratio_pct_x100 = u6, run.n_vertical_ratio_pct_x100 = S_N;
            run.power_w = u7, run.n_power_w = S_N;
            batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_RUNNING;
            batch.running = &run;
            break;
        case 5:
            for (int i = 0; i < 3; i++) {
                entries [i].time_ms = S_T0 + (uint64_t) i * 60000u;
                entries [i].meal = (uint32_t) (i + 1);
                entries [i].item = (char *) (i == 0 ? "Porridge with oats" : i == 1
                                             ? "Baked Cod" : "Green salad");
                entries [i].amount = (char *) "1 serving(s)";
                entries [i].energy_kcal = 350u + (uint32_t) i;
                entries [i].protein_mg = 12000;
                entries [i].carbohydrate_mg = 40000;
                entries [i].fat_mg = 9000;
                entries [i].sugar_mg = 6000;
                entries [i].sodium_mg = 300;
                entries [i].fibre_mg = 4000;
            }
            meal.entries = entry_ptrs, meal.n_entries = 3;
            batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_MEAL;
            batch.meal = &meal;
            break;
        default:
            weight.start_time_ms = S_T0;
            s_fill_u32 (u1, 3, 70000, 100);
            weight.time_delta_ms = deltas, weight.n_time_delta_ms = 3;
            weight.weight_g = u1, weight.n_weight_g = 3;
            batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_WEIGHT;
            batch.weight = &weight;
            break;
    }
    *len = coachwire__sensor_batch__get_packed_size (&batch);
    uint8_t *buf = malloc (*len);
    assert_non_null (buf);
    coachwire__sensor_batch__pack (&batch, buf);
    return buf;
}

static void
test_batch_every_stream (void **state)
{
    (void) state;
    static const char *names [7] = { "", "imu", "heart_rate", "location", "running", "meal",
                                     "weight" };
    long total = 0;
    for (uint16_t stream = 1; stream <= 6; stream++) {
        s_batch_t b = { .stream = stream };
        b.data = s_pack_batch (stream, &b.len);
        char name [64];
        snprintf (name, sizeof name, "batch %s (malloc)", names [stream]);
        total += s_torture (name, s_batch_op, &b, CW_OK);
        b.protobuf_allocator = true;
        snprintf (name, sizeof name, "batch %s (protobuf-c allocator)", names [stream]);
        long steps = s_torture (name, s_batch_op, &b, CW_OK);
        assert_true (steps > 0);        /* decode allocates: the test must reach it */
        total += steps;
        free (b.data);
    }
    assert_true (total > 0);
}

/*  The importers' own output, as the fuzz corpus keeps it: byte 0 is 0x80 | stream. */
static void
test_batch_corpus (void **state)
{
    (void) state;
    static const char *files [] = { "imu", "hr", "running", "meal" };
    for (size_t i = 0; i < sizeof files / sizeof files [0]; i++) {
        char path [512];
        snprintf (path, sizeof path, "%s/frame/%s", S_CORPUS, files [i]);
        size_t len = 0;
        char *raw = s_read (path, &len);
        assert_non_null (raw);
        assert_true (len > 1 && ((uint8_t) raw [0] & 0x80));
        s_batch_t b = { .data = (uint8_t *) raw + 1, .len = len - 1,
                        .stream = (uint16_t) ((uint8_t) raw [0] & 0x7f) };
        cw_pb_alloc_t alloc;
        cw_pb_alloc_init (&alloc, 0);
        Coachwire__SensorBatch *batch = NULL;
        char reason [CW_REASON_MAX];
        int expect = cw_batch_decode (&alloc, b.data, b.len, &batch, reason, sizeof reason);
        if (expect == CW_OK)
            expect = cw_batch_validate (batch, b.stream, S_T0 + 100000u, reason, sizeof reason);
        cw_batch_free (&alloc, &batch);
        char name [64];
        snprintf (name, sizeof name, "corpus frame/%s", files [i]);
        s_torture (name, s_batch_op, &b, expect);
        free (raw);
    }
}

/* ---- api requests ---------------------------------------------------------------------- */

typedef struct {
    const uint8_t *data;
    size_t len;
    bool direct;            /* cw_pb_unpack with the descriptor, not the actor's decode */
} s_request_t;

static int
s_request_op (void *ctx)
{
    s_request_t *r = ctx;
    if (r->direct) {
        ProtobufCMessage *msg = NULL;
        int rc = cw_pb_unpack (&coachwire__api_request__descriptor, r->data, r->len,
                               CW_API_MAX_MSG_BYTES, CW_API_DECODE_BUDGET, &msg);
        if (rc != CW_OK)
            assert_null (msg);
        cw_pb_free (&msg);
        return rc;
    }
    Coachwire__ApiRequest *req = NULL;
    int rc = cw_api_request_decode (r->data, r->len, &req);
    if (rc == CW_OK) {
        char reason [CW_API_REASON_MAX];
        reason [0] = '\0';
        /* the check's own verdict is the same with or without failures: it does not allocate */
        int check = cw_api_request_check (req, reason, sizeof reason);
        assert_true (check == CW_OK || reason [0] != '\0');
    }
    else
        assert_null (req);
    cw_api_request_free (&req);
    return rc;
}

static void
test_api_requests (void **state)
{
    (void) state;
    DIR *dir = opendir (S_CORPUS "/api_request");
    assert_non_null (dir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir (dir)) != NULL) {
        if (e->d_name [0] == '.')
            continue;
        char path [512];
        snprintf (path, sizeof path, "%s/api_request/%s", S_CORPUS, e->d_name);
        size_t len = 0;
        char *raw = s_read (path, &len);
        assert_non_null (raw);
        for (int direct = 0; direct < 2; direct++) {
            s_request_t r = { (const uint8_t *) raw, len, direct == 1 };
            char name [96];
            snprintf (name, sizeof name, "api %s %.40s", direct ? "unpack" : "decode+check",
                      e->d_name);
            s_torture (name, s_request_op, &r, CW_OK);
        }
        free (raw);
        files++;
    }
    closedir (dir);
    assert_true (files >= 10);
}

/* ---- nudges ---------------------------------------------------------------------------- */

static int
s_nudge_op (void *ctx)
{
    s_request_t *r = ctx;
    cw_nudge_t out;
    return cw_nudge_unpack (r->data, r->len, &out);
}

static void
test_nudge_unpack (void **state)
{
    (void) state;
    cw_nudge_t n;
    memset (&n, 0, sizeof n);
    randombytes_buf (n.id, sizeof n.id);
    randombytes_buf (n.user_id, sizeof n.user_id);
    snprintf (n.rule, sizeof n.rule, "cadence-low");
    n.state = CW_NUDGE_PENDING;
    n.created_ms = S_T0;
    n.expires_ms = S_T0 + CW_NUDGE_DEFAULT_TTL_MS;
    snprintf (n.locale, sizeof n.locale, "en");
    n.priority = 2;
    snprintf (n.message, sizeof n.message, "Your cadence was 158 spm: try quicker, lighter steps.");
    snprintf (n.why.trigger, sizeof n.why.trigger, "outside_goal");
    snprintf (n.why.goal, sizeof n.why.goal, "cadence");
    snprintf (n.why.metric, sizeof n.why.metric, "running cadence");
    snprintf (n.why.unit, sizeof n.why.unit, "spm");
    n.why.observed = 158;
    n.why.target_lo = 165;
    n.why.target_hi = 175;
    snprintf (n.why.target, sizeof n.why.target, "165-175");
    n.why.window_start_ms = S_T0 - 300000u;
    n.why.window_end_ms = S_T0;
    snprintf (n.why.window, sizeof n.why.window, "the last 5 minutes");
    n.n_uses = 2;
    for (size_t i = 0; i < n.n_uses; i++) {
        snprintf (n.uses [i].field, sizeof n.uses [i].field, i ? "heart_rate.bpm"
                                                                : "running.cadence");
        snprintf (n.uses [i].purpose, sizeof n.uses [i].purpose, "coaching");
        randombytes_buf (n.uses [i].grant_id, sizeof n.uses [i].grant_id);
        n.uses [i].policy_version = 1;
        n.uses [i].window_start_ms = S_T0 - 300000u;
        n.uses [i].window_end_ms = S_T0;
        n.uses [i].samples = 300;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_int_equal (cw_nudge_pack (&n, &buf, &len), CW_OK);
    s_request_t r = { buf, len, false };
    assert_true (s_torture ("nudge unpack", s_nudge_op, &r, CW_OK) > 0);
    cw_nudge_t back;
    assert_int_equal (cw_nudge_unpack (buf, len, &back), CW_OK);
    assert_string_equal (back.why.target, n.why.target);
    assert_int_equal (back.n_uses, 2);
    free (buf);
}

/* ---- text: credentials, rules, plans, the ledger --------------------------------------- */

typedef struct {
    const char *text;
    size_t len;
} s_text_t;

static int
s_cred_op (void *ctx)
{
    s_text_t *t = ctx;
    cw_cred_t *cred = NULL;
    char err [128];
    err [0] = '\0';
    int rc = cw_cred_parse (t->text, t->len, &cred, err, sizeof err);
    if (rc != CW_OK) {
        assert_null (cred);
        /* CW_ENOMEM leaves errbuf unwritten (reported: callers print cw_strerror then) */
        assert_true (rc == CW_ENOMEM || err [0] != '\0');
    }
    cw_cred_destroy (&cred);
    return rc;
}

static int
s_rules_op (void *ctx)
{
    s_text_t *t = ctx;
    cw_rules_t *rules = NULL;
    cw_parse_error_t err;
    memset (&err, 0, sizeof err);
    int rc = cw_rules_parse (t->text, t->len, &rules, &err);
    if (rc != CW_OK)
        assert_null (rules);
    cw_rules_destroy (&rules);
    return rc;
}

static int
s_plan_op (void *ctx)
{
    s_text_t *t = ctx;
    cw_plan_t *plan = NULL;
    cw_parse_error_t err;
    memset (&err, 0, sizeof err);
    int rc = cw_plan_parse (t->text, t->len, &plan, &err);
    if (rc != CW_OK)
        assert_null (plan);
    cw_plan_destroy (&plan);
    return rc;
}

static int
s_ledger_op (void *ctx)
{
    s_text_t *t = ctx;
    size_t entries = 0, bad = 0;
    char reason [CW_LEDGER_REASON_MAX];
    reason [0] = '\0';
    int rc = cw_ledger_verify_jsonl (t->text, t->len, NULL, &entries, &bad, reason,
                                     sizeof reason);
    if (rc != CW_OK && rc != CW_ENOMEM && reason [0] == '\0')
        fail_msg ("ledger verify: %s without a reason", cw_errname (rc));
    return rc;
}

typedef struct {
    const char *dir;
    const char *file;
    s_op_fn op;
    int expect;
} s_text_case_t;

static void
test_text_parsers (void **state)
{
    (void) state;
    static const s_text_case_t cases [] = {
        { "cred", "device", s_cred_op, CW_OK },
        { "cred", "user_public_only", s_cred_op, CW_ECRED },    /* no secret key: refused */
        { "rules", "default", s_rules_op, CW_OK },
        { "rules", "daily", s_rules_op, CW_OK },
        { "rules", "praise", s_rules_op, CW_OK },
        { "plan", "full", s_plan_op, CW_OK },
        { "plan", "small", s_plan_op, CW_OK },
        { "ledger_verify", "valid_three", s_ledger_op, CW_OK },
        { "ledger_verify", "valid_one", s_ledger_op, CW_OK },
        { "ledger_verify", "swapped", s_ledger_op, CW_EAUTH },
    };
    long total = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char path [512];
        snprintf (path, sizeof path, "%s/%s/%s", S_CORPUS, cases [i].dir, cases [i].file);
        size_t len = 0;
        char *text = s_read (path, &len);
        assert_non_null (text);
        s_text_t t = { text, len };
        /* the expected verdict without failures is the input's own (a tampered ledger) */
        int expect = cases [i].op (&t);
        assert_int_equal (expect, cases [i].expect);
        char name [96];
        snprintf (name, sizeof name, "%s %s", cases [i].dir, cases [i].file);
        total += s_torture (name, cases [i].op, &t, expect);
        free (text);
    }
    assert_true (total > 0);
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_batch_every_stream),
        cmocka_unit_test (test_batch_corpus),
        cmocka_unit_test (test_api_requests),
        cmocka_unit_test (test_nudge_unpack),
        cmocka_unit_test (test_text_parsers),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
