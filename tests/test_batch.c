/*  test_batch.c - the IMU fast path (cw_batch_imu_accept_fast) against the full path
 *  (cw_batch_decode + cw_batch_validate): what the fast path refuses the full path must decide,
 *  and nothing the full path refuses may pass the fast path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coachwire.pb-c.h"
#include "coachwire/cw_batch.h"
#include "coachwire/cw_error.h"

#define NOW 1700000100000ull
#define STREAM_IMU ((uint16_t) COACHWIRE__SENSOR_BATCH__BODY_IMU)
#define N 100

typedef struct {
    int32_t axes [6][N];
    size_t n [6];               /* values per axis (N, or fewer to break the shape) */
    uint64_t start_time_ms;
    uint32_t rate_mhz;
    uint32_t placement;
} imu_t;

static imu_t
s_imu (void)
{
    imu_t m = { .start_time_ms = NOW - 5000, .rate_mhz = 100000, .placement = 1 };
    for (int a = 0; a < 6; a++) {
        m.n [a] = N;
        for (int i = 0; i < N; i++)
            m.axes [a][i] = (int32_t) ((a < 3 ? 9810 : 250000) * ((i * 7 + a) % 11 - 5) / 5);
    }
    return m;
}

/*  Packs m as a SensorBatch the way every client does (protobuf-c, packed arrays). */
static size_t
s_pack (const imu_t *m, uint8_t *out, size_t size)
{
    Coachwire__ImuBatch imu = COACHWIRE__IMU_BATCH__INIT;
    imu.start_time_ms = m->start_time_ms;
    imu.sample_rate_mhz = m->rate_mhz;
    imu.placement = m->placement;
    int32_t **arrays [6] = { &imu.accel_x_mm_s2, &imu.accel_y_mm_s2, &imu.accel_z_mm_s2,
                             &imu.gyro_x_mdeg_s, &imu.gyro_y_mdeg_s, &imu.gyro_z_mdeg_s };
    size_t *counts [6] = { &imu.n_accel_x_mm_s2, &imu.n_accel_y_mm_s2, &imu.n_accel_z_mm_s2,
                           &imu.n_gyro_x_mdeg_s, &imu.n_gyro_y_mdeg_s, &imu.n_gyro_z_mdeg_s };
    for (int a = 0; a < 6; a++) {
        *arrays [a] = (int32_t *) m->axes [a];
        *counts [a] = m->n [a];
    }
    Coachwire__SensorBatch b = COACHWIRE__SENSOR_BATCH__INIT;
    b.body_case = COACHWIRE__SENSOR_BATCH__BODY_IMU;
    b.imu = &imu;
    size_t len = coachwire__sensor_batch__get_packed_size (&b);
    assert_true (len <= size);
    return coachwire__sensor_batch__pack (&b, out);
}

/*  The full path's verdict. */
static int
s_full (const uint8_t *data, size_t len, uint16_t stream)
{
    char reason [CW_REASON_MAX];
    return cw_batch_check (data, len, stream, NOW, reason, sizeof reason);
}

/*  Asserts the two paths agree as they must; returns the fast path's answer. */
static bool
s_both (const uint8_t *data, size_t len, uint16_t stream, int expect_full)
{
    bool fast = cw_batch_imu_accept_fast (data, len, stream, NOW);
    int full = s_full (data, len, stream);
    assert_int_equal (full, expect_full);
    if (fast)
        assert_int_equal (full, CW_OK);
    return fast;
}

static void
test_refused_by_both (void **state)
{
    (void) state;
    uint8_t buf [4096];
    imu_t m = s_imu ();
    size_t len = s_pack (&m, buf, sizeof buf);
    assert_false (s_both (buf, len, 2, CW_ESTREAM));           /* sealed for heart rate */
    assert_false (s_both (buf, len - 1, STREAM_IMU, CW_EDECODE));   /* cut short */
    assert_false (cw_batch_imu_accept_fast (NULL, 0, STREAM_IMU, NOW));
    m = s_imu ();
    m.axes [1][37] = 490001;                                    /* beyond 50 g */
    assert_false (s_both (buf, s_pack (&m, buf, sizeof buf), STREAM_IMU, CW_ERANGE));
    m = s_imu ();
    m.axes [5][0] = -4000001;                                   /* beyond 4000 deg/s */
    assert_false (s_both (buf, s_pack (&m, buf, sizeof buf), STREAM_IMU, CW_ERANGE));
    m = s_imu ();
    m.n [4] = N - 1;                                            /* one axis short */
    assert_false (s_both (buf, s_pack (&m, buf, sizeof buf), STREAM_IMU, CW_ESHAPE));
    m = s_imu ();
    m.start_time_ms = NOW + 11 * 60 * 1000;                     /* the future */
    assert_false (s_both (buf, s_pack (&m, buf, sizeof buf), STREAM_IMU, CW_ETIME));
    m = s_imu ();
    m.start_time_ms = 900000000000ull;                          /* before 2000 */
    assert_false (s_both (buf, s_pack (&m, buf, sizeof buf), STREAM_IMU, CW_ETIME));
    m = s_imu ();
    m.rate_mhz = 999;
    assert_false (s_both (buf, s_pack (&m, buf, sizeof buf), STREAM_IMU, CW_ERANGE));
    m = s_imu ();
    m.placement = 7;
    assert_false (s_both (buf, s_pack (&m, buf, sizeof buf), STREAM_IMU, CW_ERANGE));
    m = s_imu ();
    for (int a = 0; a < 6; a++)
        m.n [a] = 0;                                            /* no samples */
    assert_false (s_both (buf, s_pack (&m, buf, sizeof buf), STREAM_IMU, CW_EEMPTY));
}

/*  The ImuBatch of m packed alone, then extra bytes appended to it, wrapped as a SensorBatch. */
static size_t
s_wrap (const imu_t *m, const uint8_t *extra, size_t extra_len, uint8_t *out)
{
    uint8_t whole [4096];
    size_t len = s_pack (m, whole, sizeof whole);
    /* whole = 0x0a, varint inner length, inner: take the inner bytes back out */
    size_t head = 1;
    while (whole [head] & 0x80)
        head++;
    head++;
    size_t inner = len - head + extra_len;
    out [0] = 0x0a;
    size_t o = 1;
    for (size_t v = inner; ; v >>= 7) {
        out [o++] = (uint8_t) ((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        if (v <= 0x7f)
            break;
    }
    memcpy (out + o, whole + head, len - head);
    if (extra_len)
        memcpy (out + o + len - head, extra, extra_len);
    return o + inner;
}

static void
test_unusual_encodings_left_to_the_full_path (void **state)
{
    (void) state;
    uint8_t buf [4200];
    imu_t m = s_imu ();
    /* an unknown field (15, varint) */
    static const uint8_t unknown [] = { (15 << 3) | 0, 1 };
    assert_false (s_both (buf, s_wrap (&m, unknown, sizeof unknown, buf), STREAM_IMU, CW_OK));
    /* placement sent twice: protobuf-c keeps the last */
    static const uint8_t twice [] = { (3 << 3) | 0, 2 };
    assert_false (s_both (buf, s_wrap (&m, twice, sizeof twice, buf), STREAM_IMU, CW_OK));
    /* a value in a longer varint than it needs: placement 1 in six bytes */
    imu_t p = s_imu ();
    p.placement = 0;        /* proto3 leaves a zero out: the long one is its only copy */
    static const uint8_t longer [] = { (3 << 3) | 0, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00 };
    assert_false (s_both (buf, s_wrap (&p, longer, sizeof longer, buf), STREAM_IMU, CW_OK));
    /* one axis not packed: a value per field, as proto2 clients send repeated fields */
    imu_t u = s_imu ();
    u.n [2] = 0;
    uint8_t unpacked [6 * N];
    size_t n = 0;
    for (int i = 0; i < N; i++) {
        int32_t x = m.axes [2][i];
        uint32_t z = ((uint32_t) x << 1) ^ (x < 0 ? UINT32_MAX : 0u);     /* zigzag */
        unpacked [n++] = (6 << 3) | 0;
        for (; z > 0x7f; z >>= 7)
            unpacked [n++] = (uint8_t) ((z & 0x7f) | 0x80);
        unpacked [n++] = (uint8_t) z;
        assert_true (n + 6 < sizeof unpacked);
    }
    assert_false (s_both (buf, s_wrap (&u, unpacked, n, buf), STREAM_IMU, CW_OK));
    /* and the plain one, wrapped the same way, is taken: the wrapping is not the cause */
    assert_true (s_both (buf, s_wrap (&m, NULL, 0, buf), STREAM_IMU, CW_OK));
    /* gyro only (accelerometer not granted or not fitted): the shape comes from gyro_x */
    imu_t g = s_imu ();
    for (int a = 0; a < 3; a++)
        g.n [a] = 0;
    assert_true (s_both (buf, s_wrap (&g, NULL, 0, buf), STREAM_IMU, CW_OK));
}

static void
test_plain_batches_accepted_by_both (void **state)
{
    (void) state;
    uint8_t buf [4096];
    imu_t m = s_imu ();
    assert_true (s_both (buf, s_pack (&m, buf, sizeof buf), STREAM_IMU, CW_OK));
    m.axes [0][0] = 490000;                                     /* at the limits */
    m.axes [3][N - 1] = -4000000;
    m.placement = COACHWIRE__IMU_PLACEMENT__IMU_PLACEMENT_WRIST;
    m.rate_mhz = 2000000;
    assert_true (s_both (buf, s_pack (&m, buf, sizeof buf), STREAM_IMU, CW_OK));
}

/*  Every single-byte change and every cut of a valid batch: the fast path never accepts what
 *  the full path refuses (the same property fuzz_batch_fast checks on arbitrary input). */
static void
test_mutations_never_accepted_alone (void **state)
{
    (void) state;
    uint8_t buf [4096], mut [4096];
    imu_t m = s_imu ();
    size_t len = s_pack (&m, buf, sizeof buf);
    static const uint8_t values [] = { 0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x22 };
    size_t fast = 0, checked = 0;
    for (size_t i = 0; i < len; i++)
        for (size_t v = 0; v < sizeof values; v++) {
            memcpy (mut, buf, len);
            mut [i] = values [v];
            bool ok = cw_batch_imu_accept_fast (mut, len, STREAM_IMU, NOW);
            if (ok)
                assert_int_equal (s_full (mut, len, STREAM_IMU), CW_OK);
            fast += ok;
            checked++;
        }
    for (size_t cut = 0; cut < len; cut++)
        assert_false (cw_batch_imu_accept_fast (buf, cut, STREAM_IMU, NOW));
    assert_true (fast > 0 && fast < checked);   /* both kinds of answer were exercised */
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_refused_by_both),
        cmocka_unit_test (test_unusual_encodings_left_to_the_full_path),
        cmocka_unit_test (test_plain_batches_accepted_by_both),
        cmocka_unit_test (test_mutations_never_accepted_alone),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
