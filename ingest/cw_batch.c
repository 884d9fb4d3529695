/*  cw_batch.c - decode with a capped allocator, then validate shape, ranges and time. */
#include "coachwire/cw_batch.h"
#include "coachwire/cw_error.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_fail (char *reason, size_t size, int rc, const char *fmt, ...)
{
    if (reason && size) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (reason, size, fmt, ap);
        va_end (ap);
    }
    return rc;
}

int
cw_batch_decode (cw_pb_alloc_t *alloc, const uint8_t *data, size_t len,
                 Coachwire__SensorBatch **out, char *reason, size_t reason_size)
{
    if (!alloc || !out || (!data && len))
        return CW_EINVAL;
    alloc->cap = alloc->used + len * CW_BATCH_ALLOC_FACTOR + CW_BATCH_ALLOC_SLACK;
    alloc->refused = alloc->oom = false;
    *out = coachwire__sensor_batch__unpack (&alloc->base, len, data);
    if (!*out)
        return alloc->refused ? s_fail (reason, reason_size, CW_ETOOBIG, "decoding needs more "
                                        "memory than a frame of %zu bytes may use", len)
             : alloc->oom ? s_fail (reason, reason_size, CW_ENOMEM, "out of memory")
             : s_fail (reason, reason_size, CW_EDECODE, "not a valid SensorBatch message");
    return CW_OK;
}

void
cw_batch_free (cw_pb_alloc_t *alloc, Coachwire__SensorBatch **batch_p)
{
    if (batch_p && *batch_p) {
        coachwire__sensor_batch__free_unpacked (*batch_p, &alloc->base);
        *batch_p = NULL;
    }
}

/*  Range of a per-sample array. */
typedef struct {
    const char *name;
    size_t n;
    const void *values;
    bool is_signed;
    int64_t min, max;
} s_array_t;

static int
s_check_arrays (const s_array_t *arrays, size_t count, size_t expected, char *reason,
                size_t size)
{
    for (size_t i = 0; i < count; i++) {
        const s_array_t *a = &arrays [i];
        if (a->n == 0)
            continue;       /* absent: stripped by consent or not measured */
        if (a->n > CW_BATCH_MAX_SAMPLES)
            return s_fail (reason, size, CW_ETOOBIG, "%s has %zu values, more than %u",
                           a->name, a->n, CW_BATCH_MAX_SAMPLES);
        if (a->n != expected)
            return s_fail (reason, size, CW_ESHAPE, "%s has %zu values for %zu samples",
                           a->name, a->n, expected);
        for (size_t k = 0; k < a->n; k++) {
            int64_t v = a->is_signed ? (int64_t) ((const int32_t *) a->values) [k]
                                     : (int64_t) ((const uint32_t *) a->values) [k];
            if (v < a->min || v > a->max)
                return s_fail (reason, size, CW_ERANGE, "%s[%zu] = %lld is outside %lld..%lld",
                               a->name, k, (long long) v, (long long) a->min,
                               (long long) a->max);
        }
    }
    return CW_OK;
}

static int
s_check_time (uint64_t start_ms, const uint32_t *deltas, size_t n, uint64_t now_ms,
              char *reason, size_t size)
{
    uint64_t span = 0;
    for (size_t i = 0; i < n; i++) {
        span += deltas [i];
        if (span > CW_BATCH_SPAN_MS)
            return s_fail (reason, size, CW_ETIME, "batch spans more than %llu hours",
                           (unsigned long long) (CW_BATCH_SPAN_MS / 3600000));
    }
    /* Old recordings (a FIT history) are welcome; a time before 2000 is a broken clock. */
    if (start_ms < CW_BATCH_EPOCH_MIN_MS)
        return s_fail (reason, size, CW_ETIME, "start time %llu is before the year 2000",
                       (unsigned long long) start_ms);
    if (start_ms + span > now_ms + CW_BATCH_FUTURE_MS)
        return s_fail (reason, size, CW_ETIME, "samples up to %llu ms in the future",
                       (unsigned long long) (start_ms + span - now_ms));
    return CW_OK;
}

#define S_U(field, lo, hi) { #field, b->n_##field, b->field, false, lo, hi }
#define S_S(field, lo, hi) { #field, b->n_##field, b->field, true, lo, hi }
#define S_COUNT(a) (sizeof (a) / sizeof (a) [0])

int
cw_batch_check (const uint8_t *data, size_t len, uint16_t stream, uint64_t now_ms,
                char *reason, size_t reason_size)
{
    cw_pb_alloc_t alloc;
    cw_pb_alloc_init (&alloc, 0);
    Coachwire__SensorBatch *batch = NULL;
    int rc = cw_batch_decode (&alloc, data, len, &batch, reason, reason_size);
    if (rc == CW_OK)
        rc = cw_batch_validate (batch, stream, now_ms, reason, reason_size);
    cw_batch_free (&alloc, &batch);
    return rc;
}

/* 50 g and 4000 deg/s cover every consumer IMU; beyond is a fault, not a person. */
#define S_ACCEL_MAX 490000
#define S_GYRO_MAX 4000000
#define S_RATE_MIN_MHZ 1000u
#define S_RATE_MAX_MHZ 2000000u

/*  What an IMU batch's scalars must be, whichever path read them. */
static int
s_imu_scalars (size_t n, uint32_t rate_mhz, uint32_t placement, char *reason, size_t size)
{
    if (n == 0)
        return s_fail (reason, size, CW_EEMPTY, "IMU batch has no samples");
    if (rate_mhz < S_RATE_MIN_MHZ || rate_mhz > S_RATE_MAX_MHZ)
        return s_fail (reason, size, CW_ERANGE, "sample_rate_mhz %u is outside 1 Hz..2 kHz",
                       rate_mhz);
    if (placement > COACHWIRE__IMU_PLACEMENT__IMU_PLACEMENT_WRIST)
        return s_fail (reason, size, CW_ERANGE, "unknown placement %u", placement);
    return CW_OK;
}

static int
s_imu_time (size_t n, uint64_t start_time_ms, uint32_t rate_mhz, uint64_t now, char *reason,
            size_t size)
{
    uint64_t span_ms = (uint64_t) n * 1000000u / rate_mhz;
    uint32_t delta = (uint32_t) (span_ms < UINT32_MAX ? span_ms : UINT32_MAX);
    return s_check_time (start_time_ms, &delta, 1, now, reason, size);
}

static int
s_imu (const Coachwire__ImuBatch *b, uint64_t now, char *reason, size_t size)
{
    const s_array_t arrays [] = {
        S_S (accel_x_mm_s2, -S_ACCEL_MAX, S_ACCEL_MAX),
        S_S (accel_y_mm_s2, -S_ACCEL_MAX, S_ACCEL_MAX),
        S_S (accel_z_mm_s2, -S_ACCEL_MAX, S_ACCEL_MAX),
        S_S (gyro_x_mdeg_s, -S_GYRO_MAX, S_GYRO_MAX),
        S_S (gyro_y_mdeg_s, -S_GYRO_MAX, S_GYRO_MAX),
        S_S (gyro_z_mdeg_s, -S_GYRO_MAX, S_GYRO_MAX),
    };
    size_t n = b->n_accel_x_mm_s2 ? b->n_accel_x_mm_s2 : b->n_gyro_x_mdeg_s;
    int rc = s_imu_scalars (n, b->sample_rate_mhz, b->placement, reason, size);
    if (rc == CW_OK)
        rc = s_check_arrays (arrays, S_COUNT (arrays), n, reason, size);
    if (rc == CW_OK)
        rc = s_imu_time (n, b->start_time_ms, b->sample_rate_mhz, now, reason, size);
    return rc;
}

/* ---- the IMU fast path: the wire bytes checked where they lie ------------------------- */

/*  A varint of at most max_bytes bytes at *p (< end): its value, *p moved past it; false
 *  when it is longer or cut short (the full path then decides). Within max_bytes <= 8 every
 *  decoder reads the same value, so nothing protobuf-c would read differently gets here. */
static bool
s_varint (const uint8_t **p, const uint8_t *end, unsigned max_bytes, uint64_t *value)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < max_bytes && *p < end; i++) {
        uint8_t b = *(*p)++;
        v |= (uint64_t) (b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *value = v;
            return true;
        }
    }
    return false;
}

/*  A packed sint32 array of len bytes, each value within +-limit: its count, or -1. Values
 *  beyond 4 bytes (28 bits) are out of every IMU range anyway: left to the full path. */
static long
s_packed_sint32 (const uint8_t *p, size_t len, int64_t limit)
{
    const uint8_t *end = p + len;
    long n = 0;
    while (p < end) {
        uint64_t z = 0;
        if (!s_varint (&p, end, 4, &z))
            return -1;
        int64_t v = (int64_t) (z >> 1) ^ -(int64_t) (z & 1);
        if (v < -limit || v > limit || ++n > (long) CW_BATCH_MAX_SAMPLES)
            return -1;
    }
    return n;
}

bool
cw_batch_imu_accept_fast (const uint8_t *data, size_t len, uint16_t stream, uint64_t now_ms)
{
    if (!data || stream != COACHWIRE__SENSOR_BATCH__BODY_IMU)
        return false;
    /* SensorBatch: field 1 (imu), length-delimited, and nothing after it */
    const uint8_t *p = data, *end = data + len;
    uint64_t inner = 0;
    if (len < 2 || *p++ != ((COACHWIRE__SENSOR_BATCH__BODY_IMU << 3) | 2)
        || !s_varint (&p, end, 4, &inner) || inner != (uint64_t) (end - p))
        return false;
    uint64_t start_time = 0, rate = 0, placement = 0;
    long counts [6] = { 0 };
    unsigned seen = 0;
    while (p < end) {
        uint64_t key = 0, v = 0;
        if (!s_varint (&p, end, 1, &key))
            return false;
        unsigned field = (unsigned) (key >> 3), wire = (unsigned) (key & 7);
        if (field < 1 || field > 9 || (seen & (1u << field)))
            return false;       /* unknown or repeated: protobuf-c's rules decide */
        seen |= 1u << field;
        if (field <= 3) {
            if (wire != 0 || !s_varint (&p, end, field == 1 ? 8 : 4, &v))
                return false;
            *(field == 1 ? &start_time : field == 2 ? &rate : &placement) = v;
            continue;
        }
        if (wire != 2 || !s_varint (&p, end, 4, &v) || v > (uint64_t) (end - p))
            return false;
        long n = s_packed_sint32 (p, (size_t) v, field <= 6 ? S_ACCEL_MAX : S_GYRO_MAX);
        if (n < 0)
            return false;
        counts [field - 4] = n;
        p += v;
    }
    size_t n = (size_t) (counts [0] ? counts [0] : counts [3]);
    for (int i = 0; i < 6; i++)
        if (counts [i] && (size_t) counts [i] != n)
            return false;
    return s_imu_scalars (n, (uint32_t) rate, (uint32_t) placement, NULL, 0) == CW_OK
           && s_imu_time (n, start_time, (uint32_t) rate, now_ms, NULL, 0) == CW_OK;
}

static int
s_heart_rate (const Coachwire__HeartRateBatch *b, uint64_t now, char *reason, size_t size)
{
    const s_array_t arrays [] = { S_U (bpm, 20, 260) };
    const s_array_t rr [] = { S_U (rr_interval_ms, 150, 3000) };
    if (b->n_time_delta_ms == 0 && b->n_rr_interval_ms == 0)
        return s_fail (reason, size, CW_EEMPTY, "heart rate batch has no samples");
    int rc = s_check_arrays (arrays, 1, b->n_time_delta_ms, reason, size);
    if (rc == CW_OK)
        rc = s_check_arrays (rr, 1, b->n_rr_interval_ms, reason, size);
    if (rc == CW_OK)
        rc = s_check_time (b->start_time_ms, b->time_delta_ms, b->n_time_delta_ms, now, reason,
                           size);
    return rc;
}

static int
s_location (const Coachwire__LocationBatch *b, uint64_t now, char *reason, size_t size)
{
    const s_array_t arrays [] = {
        S_S (latitude_e7, -900000000, 900000000), S_S (longitude_e7, -1800000000, 1800000000),
        S_S (altitude_cm, -50000, 900000), S_U (speed_mm_s, 0, 100000),
        S_U (distance_cm, 0, 400000000),
    };
    if (b->n_time_delta_ms == 0)
        return s_fail (reason, size, CW_EEMPTY, "location batch has no samples");
    if ((b->n_latitude_e7 == 0) != (b->n_longitude_e7 == 0))
        return s_fail (reason, size, CW_ESHAPE, "latitude and longitude come together");
    int rc = s_check_arrays (arrays, S_COUNT (arrays), b->n_time_delta_ms, reason, size);
    if (rc == CW_OK)
        rc = s_check_time (b->start_time_ms, b->time_delta_ms, b->n_time_delta_ms, now, reason,
                           size);
    return rc;
}

static int
s_running (const Coachwire__RunningDynamicsBatch *b, uint64_t now, char *reason, size_t size)
{
    const s_array_t arrays [] = {
        S_U (cadence_spm_x10, 0, 4000), S_U (vertical_oscillation_mm_x10, 0, 5000),
        S_U (stance_time_ms_x10, 0, 30000), S_U (stance_balance_left_pct_x100, 0, 10000),
        S_U (step_length_mm, 0, 5000), S_U (vertical_ratio_pct_x100, 0, 10000),
        S_U (power_w, 0, 3000),
    };
    if (b->n_time_delta_ms == 0)
        return s_fail (reason, size, CW_EEMPTY, "running dynamics batch has no samples");
    int rc = s_check_arrays (arrays, S_COUNT (arrays), b->n_time_delta_ms, reason, size);
    if (rc == CW_OK)
        rc = s_check_time (b->start_time_ms, b->time_delta_ms, b->n_time_delta_ms, now, reason,
                           size);
    return rc;
}

/*  Valid UTF-8 without control characters: item names are shown to people and coaches. */
static bool
s_text_ok (const char *s, size_t max)
{
    size_t n = strlen (s);
    if (n > max)
        return false;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char) s [i];
        size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
                   : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (len == 0 || i + len > n || (c < 0x20) || c == 0x7f)
            return false;
        for (size_t k = 1; k < len; k++)
            if (((unsigned char) s [i + k] & 0xc0) != 0x80)
                return false;
        i += len;
    }
    return true;
}

static int
s_meal (const Coachwire__MealBatch *b, uint64_t now, char *reason, size_t size)
{
    if (b->n_entries == 0)
        return s_fail (reason, size, CW_EEMPTY, "meal batch has no entries");
    for (size_t i = 0; i < b->n_entries; i++) {
        const Coachwire__MealEntry *e = b->entries [i];
        uint32_t zero = 0;
        int rc = s_check_time (e->time_ms, &zero, 1, now, reason, size);
        if (rc != CW_OK)
            return rc;
        if (e->meal > COACHWIRE__MEAL_KIND__MEAL_KIND_SNACK)
            return s_fail (reason, size, CW_ERANGE, "entries[%zu].meal %u unknown", i, e->meal);
        if (!s_text_ok (e->item, 256) || !s_text_ok (e->amount, 64))
            return s_fail (reason, size, CW_ERANGE, "entries[%zu] item or amount is not short "
                           "UTF-8 text", i);
        /* One logged item: 10,000 kcal and 2 kg of a nutrient are beyond any portion. */
        if (e->energy_kcal > 10000 || e->protein_mg > 2000000 || e->carbohydrate_mg > 2000000
            || e->fat_mg > 2000000 || e->sugar_mg > 2000000 || e->sodium_mg > 100000
            || e->fibre_mg > 2000000)
            return s_fail (reason, size, CW_ERANGE, "entries[%zu] has an impossible amount", i);
    }
    return CW_OK;
}

static int
s_weight (const Coachwire__BodyWeightBatch *b, uint64_t now, char *reason, size_t size)
{
    const s_array_t arrays [] = { S_U (weight_g, 2000, 500000) };
    if (b->n_time_delta_ms == 0)
        return s_fail (reason, size, CW_EEMPTY, "weight batch has no samples");
    int rc = s_check_arrays (arrays, 1, b->n_time_delta_ms, reason, size);
    if (rc == CW_OK)
        rc = s_check_time (b->start_time_ms, b->time_delta_ms, b->n_time_delta_ms, now, reason,
                           size);
    return rc;
}

int
cw_batch_validate (const Coachwire__SensorBatch *batch, uint16_t stream, uint64_t now_ms,
                   char *reason, size_t reason_size)
{
    if (!batch)
        return CW_EINVAL;
    if ((uint16_t) batch->body_case != stream)
        return s_fail (reason, reason_size, CW_ESTREAM, "batch of kind %d sealed for stream %u",
                       (int) batch->body_case, stream);
    switch (batch->body_case) {
        case COACHWIRE__SENSOR_BATCH__BODY_IMU:
            return s_imu (batch->imu, now_ms, reason, reason_size);
        case COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE:
            return s_heart_rate (batch->heart_rate, now_ms, reason, reason_size);
        case COACHWIRE__SENSOR_BATCH__BODY_LOCATION:
            return s_location (batch->location, now_ms, reason, reason_size);
        case COACHWIRE__SENSOR_BATCH__BODY_RUNNING:
            return s_running (batch->running, now_ms, reason, reason_size);
        case COACHWIRE__SENSOR_BATCH__BODY_MEAL:
            return s_meal (batch->meal, now_ms, reason, reason_size);
        case COACHWIRE__SENSOR_BATCH__BODY_WEIGHT:
            return s_weight (batch->weight, now_ms, reason, reason_size);
        default:
            return s_fail (reason, reason_size, CW_EEMPTY, "batch carries no data");
    }
}

size_t
cw_batch_samples (const Coachwire__SensorBatch *b)
{
    switch (b->body_case) {
        case COACHWIRE__SENSOR_BATCH__BODY_IMU:
            return b->imu->n_accel_x_mm_s2 ? b->imu->n_accel_x_mm_s2 : b->imu->n_gyro_x_mdeg_s;
        case COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE: return b->heart_rate->n_time_delta_ms;
        case COACHWIRE__SENSOR_BATCH__BODY_LOCATION: return b->location->n_time_delta_ms;
        case COACHWIRE__SENSOR_BATCH__BODY_RUNNING: return b->running->n_time_delta_ms;
        case COACHWIRE__SENSOR_BATCH__BODY_MEAL: return b->meal->n_entries;
        case COACHWIRE__SENSOR_BATCH__BODY_WEIGHT: return b->weight->n_time_delta_ms;
        default: return 0;
    }
}
