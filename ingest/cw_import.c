/*  cw_import.c - importers that turn recordings into SensorBatch messages.
 *
 *  A table of importers (format, name, detect, import) is searched by content; the first
 *  whose detector accepts the head of the data imports it. Each importer hands batches, in
 *  time order, to the caller's sink and counts what it had to skip. Nothing here opens a
 *  socket; the only file this code opens is the one it is asked to import.
 *
 *  Memory: batch builders are fixed-size (CW_IMPORT_MAX_BATCH_SAMPLES samples), allocated
 *  once per import; no size read from the input sizes an allocation.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "coachwire/cw_error.h"
#include "coachwire/cw_fit.h"
#include "coachwire/cw_import.h"
#include "coachwire/cw_localtime.h"

#define S_MAX_SAMPLES CW_IMPORT_MAX_BATCH_SAMPLES
#define S_ROW_FIELDS 32             /* a CSV row keeps at most this many fields */
#define S_ROW_BYTES 4096            /* and at most this many bytes of unquoted text */
#define S_RATE_DELTAS 8192          /* time deltas kept to estimate a sample rate */
#define S_MAX_ACCEL_M_S2 1000.0     /* ~100 g: beyond any body-worn accelerometer */
#define S_MAX_GYRO_DEG_S 10000.0
#define S_MIN_RATE_HZ 1.0
#define S_MAX_RATE_HZ 10000.0
#define S_ITEM_BYTES 256
#define S_AMOUNT_BYTES 64

/*  What every importer is handed. */
typedef struct {
    cw_import_options_t options;    /* a copy, defaults not yet applied */
    const char *name;               /* file name, or NULL */
    cw_batch_sink_fn sink;
    void *sink_ctx;
    cw_import_summary_t *summary;
    uint64_t total;                 /* input bytes, for progress */
} s_ctx_t;

typedef int (s_import_fn) (s_ctx_t *ctx, const uint8_t *data, size_t len);
typedef bool (s_detect_fn) (const uint8_t *head, size_t len);

typedef struct {
    cw_format_t format;
    const char *name;
    s_detect_fn *detect;
    s_import_fn *import;
} s_importer_t;

/*  --------------------------------------------------------------------------------------
 *  Shared helpers
 */

static uint64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

/*  Records a skipped row; the first reason is kept for the user. */
static void
s_skip (s_ctx_t *ctx, const char *unit, uint64_t where, const char *reason)
{
    ctx->summary->skipped++;
    if (ctx->summary->first_error [0] == 0)
        snprintf (ctx->summary->first_error, sizeof ctx->summary->first_error, "%s %llu: %s",
                  unit, (unsigned long long) where, reason);
}

static void
s_fail_reason (s_ctx_t *ctx, const char *reason)
{
    snprintf (ctx->summary->first_error, sizeof ctx->summary->first_error, "%s", reason);
}

static int
s_emit (s_ctx_t *ctx, const Coachwire__SensorBatch *batch, size_t samples)
{
    int rc = ctx->sink (ctx->sink_ctx, batch);
    if (rc != 0)
        return rc;
    ctx->summary->batches++;
    ctx->summary->samples += samples;
    return CW_OK;
}

static void
s_progress (s_ctx_t *ctx, uint64_t done)
{
    if (ctx->options.progress)
        ctx->options.progress (ctx->options.progress_ctx, done, ctx->total);
}

/*  A 13-digit run of digits in the file's base name, read as epoch milliseconds; 0 if none.
 *  Longer digit runs are not a timestamp of this form and are passed over. */
static uint64_t
s_name_epoch_ms (const char *name)
{
    if (!name)
        return 0;
    const char *base = strrchr (name, '/');
    base = base ? base + 1 : name;
    const char *p = base;
    while (*p) {
        if (*p >= '0' && *p <= '9') {
            const char *start = p;
            while (*p >= '0' && *p <= '9')
                p++;
            if (p - start == 13) {
                uint64_t v = 0;
                for (const char *q = start; q < p; q++)
                    v = v * 10u + (uint64_t) (*q - '0');
                return v;
            }
        }
        else
            p++;
    }
    return 0;
}

/*  Absolute time of a recording whose rows carry relative time only. */
static uint64_t
s_anchor_ms (const s_ctx_t *ctx)
{
    if (ctx->options.start_time_ms)
        return ctx->options.start_time_ms;
    uint64_t from_name = s_name_epoch_ms (ctx->name);
    return from_name ? from_name : s_now_ms ();
}

/*  --------------------------------------------------------------------------------------
 *  Lines and CSV rows
 */

typedef struct {
    const char *p;
    size_t len;
    uint64_t number;                /* 1-based line number */
} s_line_t;

/*  Skips a UTF-8 byte order mark, which spreadsheet exports like to write. */
static size_t
s_bom (const uint8_t *data, size_t len)
{
    return len >= 3 && data [0] == 0xEF && data [1] == 0xBB && data [2] == 0xBF ? 3 : 0;
}

static bool
s_next_line (const uint8_t *data, size_t len, size_t *pos, s_line_t *line)
{
    if (*pos >= len)
        return false;
    const uint8_t *nl = memchr (data + *pos, '\n', len - *pos);
    size_t end = nl ? (size_t) (nl - data) : len;
    line->p = (const char *) data + *pos;
    line->len = end - *pos;
    if (line->len > 0 && line->p [line->len - 1] == '\r')
        line->len--;
    *pos = nl ? end + 1 : len;
    line->number++;
    return true;
}

static bool
s_blank (const s_line_t *line)
{
    for (size_t i = 0; i < line->len; i++)
        if (line->p [i] != ' ' && line->p [i] != '\t')
            return false;
    return true;
}

typedef struct {
    size_t count;                   /* fields in field [] */
    bool overflow;                  /* the row had more fields or text than we keep */
    const char *field [S_ROW_FIELDS];
    char text [S_ROW_BYTES];        /* unquoted, NUL-terminated field texts */
} s_row_t;

/*  Splits one CSV line (RFC 4180 quoting, "" for a quote inside quotes) into row. Text beyond
 *  the row's capacity is cut and flagged; a cut field may then fail its own parse. */
static void
s_split (const char *p, size_t len, s_row_t *row)
{
    size_t out = 0, i = 0;
    row->count = 0;
    row->overflow = false;
    for (;;) {
        if (row->count == S_ROW_FIELDS) {
            row->overflow = true;
            return;
        }
        row->field [row->count++] = row->text + out;
        bool quoted = i < len && p [i] == '"';
        if (quoted)
            i++;
        while (i < len) {
            char c = p [i];
            if (quoted && c == '"') {
                if (i + 1 < len && p [i + 1] == '"')
                    i++;            /* an escaped quote: keep one */
                else {
                    quoted = false;
                    i++;
                    continue;
                }
            }
            else
            if (!quoted && c == ',')
                break;
            if (out + 1 < S_ROW_BYTES)
                row->text [out++] = c;
            else
                row->overflow = true;
            i++;
        }
        row->text [out] = 0;
        if (out + 1 < S_ROW_BYTES)
            out++;
        else
            row->overflow = true;   /* later fields share the final NUL: empty */
        if (i >= len)
            return;
        i++;                        /* the comma */
    }
}

/*  A finite decimal number filling the whole field (spaces around allowed). */
static bool
s_parse_double (const char *s, double *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == 0)
        return false;
    char *end = NULL;
    errno = 0;
    double v = strtod (s, &end);
    if (end == s || errno == ERANGE)
        return false;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != 0 || !isfinite (v))
        return false;
    *out = v;
    return true;
}

/*  A non-negative decimal integer filling the whole field. */
static bool
s_parse_u64 (const char *s, uint64_t *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s < '0' || *s > '9')
        return false;       /* strtoull would accept a sign */
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull (s, &end, 10);
    if (errno == ERANGE)
        return false;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != 0)
        return false;
    *out = (uint64_t) v;
    return true;
}

static int
s_cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

static const char *
s_first_line (const uint8_t *head, size_t len, size_t *line_len)
{
    size_t skip = s_bom (head, len);
    const uint8_t *nl = memchr (head + skip, '\n', len - skip);
    size_t n = nl ? (size_t) (nl - head) - skip : len - skip;
    if (n > 0 && head [skip + n - 1] == '\r')
        n--;
    *line_len = n;
    return (const char *) head + skip;
}

static bool
s_starts_with (const char *p, size_t len, const char *prefix)
{
    size_t n = strlen (prefix);
    return len >= n && memcmp (p, prefix, n) == 0;
}

/*  --------------------------------------------------------------------------------------
 *  IMU batches (phone accelerometer and foot IMU)
 */

typedef struct {
    uint64_t start_ms;              /* time of sample 0 */
    uint32_t rate_mhz;
    uint32_t placement;             /* Coachwire__ImuPlacement */
    bool gyro;                      /* gyro arrays are filled */
    size_t count;
    int32_t v [6][S_MAX_SAMPLES];   /* accel x y z (mm/s^2), gyro x y z (mdeg/s) */
} s_imu_t;

static int
s_imu_flush (s_ctx_t *ctx, s_imu_t *b)
{
    if (b->count == 0)
        return CW_OK;
    Coachwire__ImuBatch imu = COACHWIRE__IMU_BATCH__INIT;
    imu.start_time_ms = b->start_ms;
    imu.sample_rate_mhz = b->rate_mhz;
    imu.placement = b->placement;
    imu.n_accel_x_mm_s2 = imu.n_accel_y_mm_s2 = imu.n_accel_z_mm_s2 = b->count;
    imu.accel_x_mm_s2 = b->v [0];
    imu.accel_y_mm_s2 = b->v [1];
    imu.accel_z_mm_s2 = b->v [2];
    if (b->gyro) {
        imu.n_gyro_x_mdeg_s = imu.n_gyro_y_mdeg_s = imu.n_gyro_z_mdeg_s = b->count;
        imu.gyro_x_mdeg_s = b->v [3];
        imu.gyro_y_mdeg_s = b->v [4];
        imu.gyro_z_mdeg_s = b->v [5];
    }
    Coachwire__SensorBatch batch = COACHWIRE__SENSOR_BATCH__INIT;
    batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_IMU;
    batch.imu = &imu;
    size_t n = b->count;
    b->count = 0;
    return s_emit (ctx, &batch, n);
}

/*  m/s^2 or deg/s to thousandths; callers have range-checked v so it fits an int32. */
static int32_t
s_milli (double v)
{
    return (int32_t) lround (v * 1000.0);
}

/*  --------------------------------------------------------------------------------------
 *  FIT activity files
 */

typedef enum { S_HR = 0, S_LOC = 1, S_RUN = 2, S_SERIES = 3 } s_series_kind_t;

#define S_COLUMNS 7
/*  Columns of each kind. HR: bpm. LOC: lat, lon, alt, speed, distance. RUN: cadence, vo,
 *  stance, balance, step length, vertical ratio, power. A batch holds one set of present
 *  columns (mask): a record with a different set starts a new batch, so that every array in
 *  a batch has one value per sample and no value is ever invented. */
typedef struct {
    s_series_kind_t kind;
    uint64_t start_ms;
    uint64_t last_ms;
    size_t count;
    uint32_t mask;
    uint32_t delta [S_MAX_SAMPLES];
    uint32_t col [S_COLUMNS][S_MAX_SAMPLES];
    size_t rr_count;
    uint32_t rr [S_MAX_SAMPLES];
} s_series_t;

typedef struct {
    s_ctx_t *ctx;
    uint32_t batch_ms;
    uint64_t record_no;             /* for skip messages */
    uint64_t last_ms;               /* time of the last accepted record */
    bool have_last;
    s_series_t series [S_SERIES];
} s_fit_import_t;

static size_t
s_n (const s_series_t *s, unsigned column)
{
    return (s->mask >> column) & 1u ? s->count : 0;
}

static int
s_series_flush (s_ctx_t *ctx, s_series_t *s)
{
    if (s->count == 0) {
        /*  RR intervals without any heart-rate sample have no batch to ride in. */
        s->rr_count = 0;
        return CW_OK;
    }
    Coachwire__SensorBatch batch = COACHWIRE__SENSOR_BATCH__INIT;
    Coachwire__HeartRateBatch hr = COACHWIRE__HEART_RATE_BATCH__INIT;
    Coachwire__LocationBatch loc = COACHWIRE__LOCATION_BATCH__INIT;
    Coachwire__RunningDynamicsBatch run = COACHWIRE__RUNNING_DYNAMICS_BATCH__INIT;
    switch (s->kind) {
        case S_HR:
            hr.start_time_ms = s->start_ms;
            hr.n_time_delta_ms = s->count;
            hr.time_delta_ms = s->delta;
            hr.n_bpm = s_n (s, 0);
            hr.bpm = s->col [0];
            hr.n_rr_interval_ms = s->rr_count;
            hr.rr_interval_ms = s->rr;
            batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE;
            batch.heart_rate = &hr;
            break;
        case S_LOC:
            loc.start_time_ms = s->start_ms;
            loc.n_time_delta_ms = s->count;
            loc.time_delta_ms = s->delta;
            /*  Signed columns are stored as their two's complement bit patterns. */
            loc.n_latitude_e7 = s_n (s, 0);
            loc.latitude_e7 = (int32_t *) s->col [0];
            loc.n_longitude_e7 = s_n (s, 1);
            loc.longitude_e7 = (int32_t *) s->col [1];
            loc.n_altitude_cm = s_n (s, 2);
            loc.altitude_cm = (int32_t *) s->col [2];
            loc.n_speed_mm_s = s_n (s, 3);
            loc.speed_mm_s = s->col [3];
            loc.n_distance_cm = s_n (s, 4);
            loc.distance_cm = s->col [4];
            batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_LOCATION;
            batch.location = &loc;
            break;
        case S_RUN:
        default:
            run.start_time_ms = s->start_ms;
            run.n_time_delta_ms = s->count;
            run.time_delta_ms = s->delta;
            run.n_cadence_spm_x10 = s_n (s, 0);
            run.cadence_spm_x10 = s->col [0];
            run.n_vertical_oscillation_mm_x10 = s_n (s, 1);
            run.vertical_oscillation_mm_x10 = s->col [1];
            run.n_stance_time_ms_x10 = s_n (s, 2);
            run.stance_time_ms_x10 = s->col [2];
            run.n_stance_balance_left_pct_x100 = s_n (s, 3);
            run.stance_balance_left_pct_x100 = s->col [3];
            run.n_step_length_mm = s_n (s, 4);
            run.step_length_mm = s->col [4];
            run.n_vertical_ratio_pct_x100 = s_n (s, 5);
            run.vertical_ratio_pct_x100 = s->col [5];
            run.n_power_w = s_n (s, 6);
            run.power_w = s->col [6];
            batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_RUNNING;
            batch.running = &run;
            break;
    }
    size_t n = s->count;
    s->count = 0;
    s->rr_count = 0;
    return s_emit (ctx, &batch, n);
}

/*  Appends one sample at t_ms (never earlier than the last one: the caller sees to that). */
static int
s_series_push (s_ctx_t *ctx, s_series_t *s, uint32_t batch_ms, uint64_t t_ms, uint32_t mask,
               const uint32_t *values)
{
    if (s->count > 0
    && (mask != s->mask || t_ms - s->start_ms >= batch_ms || s->count == S_MAX_SAMPLES
        || t_ms - s->last_ms > UINT32_MAX)) {
        int rc = s_series_flush (ctx, s);
        if (rc != CW_OK)
            return rc;
    }
    if (s->count == 0) {
        s->start_ms = t_ms;
        s->last_ms = t_ms;
        s->mask = mask;
    }
    s->delta [s->count] = (uint32_t) (t_ms - s->last_ms);
    s->last_ms = t_ms;
    for (unsigned k = 0; k < S_COLUMNS; k++)
        s->col [k][s->count] = (mask >> k) & 1u ? values [k] : 0;
    s->count++;
    return CW_OK;
}

static int
s_fit_on_record (void *arg, const cw_fit_record_t *r)
{
    s_fit_import_t *st = arg;
    s_ctx_t *ctx = st->ctx;
    st->record_no++;
    uint64_t t_ms = ((uint64_t) r->timestamp + CW_FIT_EPOCH_UNIX_S) * 1000u;
    if (st->have_last && t_ms < st->last_ms) {
        s_skip (ctx, "record", st->record_no, "timestamp earlier than the previous record");
        return CW_OK;
    }
    st->last_ms = t_ms;
    st->have_last = true;
    if (st->record_no % 1024 == 0)
        s_progress (ctx, st->record_no);

    uint32_t v [S_COLUMNS];
    uint32_t mask;
    int rc;

    if ((r->present & CW_FIT_HAS_HEART_RATE) && r->heart_rate >= 20 && r->heart_rate <= 250) {
        v [0] = r->heart_rate;
        rc = s_series_push (ctx, &st->series [S_HR], st->batch_ms, t_ms, 1u, v);
        if (rc != CW_OK)
            return rc;
    }

    mask = 0;
    memset (v, 0, sizeof v);
    if (r->present & CW_FIT_HAS_POSITION) {
        int32_t lat = cw_fit_semicircles_to_e7 (r->position_lat);
        int32_t lon = cw_fit_semicircles_to_e7 (r->position_long);
        if (lat >= -900000000 && lat <= 900000000 && lon >= -1800000000 && lon <= 1800000000) {
            v [0] = (uint32_t) lat;
            v [1] = (uint32_t) lon;
            mask |= 3u;
        }
    }
    if (r->present & CW_FIT_HAS_ALTITUDE) {
        /*  altitude = raw / 5 - 500 m, so cm = raw * 20 - 50000; keep -500 m .. 9000 m. */
        int64_t cm = (int64_t) r->altitude * 20 - 50000;
        if (cm <= 900000) {
            v [2] = (uint32_t) (int32_t) cm;
            mask |= 1u << 2;
        }
    }
    if ((r->present & CW_FIT_HAS_SPEED) && r->speed <= 100000u) {
        v [3] = r->speed;
        mask |= 1u << 3;
    }
    if (r->present & CW_FIT_HAS_DISTANCE) {
        v [4] = r->distance;
        mask |= 1u << 4;
    }
    if (mask) {
        rc = s_series_push (ctx, &st->series [S_LOC], st->batch_ms, t_ms, mask, v);
        if (rc != CW_OK)
            return rc;
    }

    mask = 0;
    memset (v, 0, sizeof v);
    if (r->present & CW_FIT_HAS_CADENCE) {
        /*  Running cadence is strides/min (one foot); ours is steps/min x 10:
         *  (cadence + fractional / 128) * 2 * 10, rounded. */
        uint32_t frac = (r->present & CW_FIT_HAS_FRACTIONAL_CADENCE) ? r->fractional_cadence : 0;
        uint32_t x128 = (uint32_t) r->cadence * 128u + frac;
        uint32_t spm_x10 = (x128 * 20u + 64u) / 128u;
        if (spm_x10 <= 4000u) {
            v [0] = spm_x10;
            mask |= 1u;
        }
    }
    if ((r->present & CW_FIT_HAS_VERTICAL_OSCILLATION) && r->vertical_oscillation <= 5000u) {
        v [1] = r->vertical_oscillation;            /* both in 0.1 mm */
        mask |= 1u << 1;
    }
    if ((r->present & CW_FIT_HAS_STANCE_TIME) && r->stance_time <= 20000u) {
        v [2] = r->stance_time;                     /* both in 0.1 ms */
        mask |= 1u << 2;
    }
    if ((r->present & CW_FIT_HAS_STANCE_TIME_BALANCE) && r->stance_time_balance <= 10000u) {
        v [3] = r->stance_time_balance;             /* both in 0.01 % */
        mask |= 1u << 3;
    }
    if ((r->present & CW_FIT_HAS_STEP_LENGTH) && r->step_length <= 50000u) {
        v [4] = ((uint32_t) r->step_length + 5u) / 10u;   /* 0.1 mm to mm */
        mask |= 1u << 4;
    }
    if ((r->present & CW_FIT_HAS_VERTICAL_RATIO) && r->vertical_ratio <= 10000u) {
        v [5] = r->vertical_ratio;
        mask |= 1u << 5;
    }
    if ((r->present & CW_FIT_HAS_POWER) && r->power <= 3000u) {
        v [6] = r->power;
        mask |= 1u << 6;
    }
    if (mask) {
        rc = s_series_push (ctx, &st->series [S_RUN], st->batch_ms, t_ms, mask, v);
        if (rc != CW_OK)
            return rc;
    }
    return CW_OK;
}

static int
s_fit_on_hrv (void *arg, uint32_t last_timestamp, const uint16_t *rr_ms, size_t count)
{
    s_fit_import_t *st = arg;
    s_series_t *hr = &st->series [S_HR];
    (void) last_timestamp;  /* RR intervals ride with the heart-rate batch open at the time */
    for (size_t i = 0; i < count; i++) {
        /*  200..3000 ms is 20..300 bpm; anything else is a sensor glitch. */
        if (rr_ms [i] < 200 || rr_ms [i] > 3000)
            continue;
        if (hr->rr_count == S_MAX_SAMPLES) {
            int rc = s_series_flush (st->ctx, hr);
            if (rc != CW_OK)
                return rc;
        }
        hr->rr [hr->rr_count++] = rr_ms [i];
    }
    return CW_OK;
}

static bool
s_detect_fit (const uint8_t *head, size_t len)
{
    return cw_fit_is_fit (head, len) != 0;
}

static int
s_import_fit (s_ctx_t *ctx, const uint8_t *data, size_t len)
{
    int rc = CW_OK;
    s_fit_import_t *st = NULL;
    cw_fit_t *fit = cw_fit_new ();
    if (!fit) {
        rc = CW_ENOMEM;
        goto done;
    }
    /*  Validate the whole file first so that a corrupt one sends nothing at all. */
    rc = cw_fit_decode (fit, data, len, NULL);
    if (rc != CW_OK) {
        s_fail_reason (ctx, cw_fit_error (fit));
        rc = CW_EDECODE;
        goto done;
    }
    st = calloc (1, sizeof *st);
    if (!st) {
        rc = CW_ENOMEM;
        goto done;
    }
    st->ctx = ctx;
    st->batch_ms = ctx->options.batch_ms ? ctx->options.batch_ms : 60000u;
    for (int k = 0; k < S_SERIES; k++)
        st->series [k].kind = (s_series_kind_t) k;
    ctx->total = cw_fit_stats (fit)->records;

    cw_fit_handlers_t handlers = { s_fit_on_record, s_fit_on_hrv, st };
    rc = cw_fit_decode (fit, data, len, &handlers);
    if (rc != CW_OK)
        goto done;
    for (int k = 0; k < S_SERIES && rc == CW_OK; k++)
        rc = s_series_flush (ctx, &st->series [k]);
    uint64_t no_time = cw_fit_stats (fit)->skipped;
    if (no_time > 0) {
        ctx->summary->skipped += no_time;
        if (ctx->summary->first_error [0] == 0)
            s_fail_reason (ctx, "record messages without a timestamp");
    }
    s_progress (ctx, ctx->total);
done:
    free (st);
    cw_fit_destroy (&fit);
    return rc;
}

/*  --------------------------------------------------------------------------------------
 *  Phone accelerometer CSV: time_ns, ax, ay, az [, ignored...] with no header
 */

static bool
s_detect_phone (const uint8_t *head, size_t len)
{
    size_t n;
    const char *line = s_first_line (head, len, &n);
    if (n == 0 || n >= S_ROW_BYTES)
        return false;
    s_row_t *row = malloc (sizeof *row);
    if (!row)
        return false;
    s_split (line, n, row);
    bool ok = row->count >= 4 && !row->overflow;
    for (size_t i = 0; ok && i < row->count; i++) {
        double v;
        ok = s_parse_double (row->field [i], &v);
    }
    free (row);
    return ok;
}

/*  Parses one data row. Returns NULL when it is good, else why it is not. */
static const char *
s_phone_row (const s_row_t *row, uint64_t *t_ns, double a [3])
{
    if (row->count < 4)
        return "fewer than 4 columns";
    if (!s_parse_u64 (row->field [0], t_ns))
        return "time is not a non-negative integer (ns)";
    for (int k = 0; k < 3; k++) {
        if (!s_parse_double (row->field [1 + k], &a [k]))
            return "acceleration is not a finite number";
        if (fabs (a [k]) > S_MAX_ACCEL_M_S2)
            return "acceleration out of range";
    }
    return NULL;
}

typedef struct {
    s_row_t row;
    uint64_t deltas [S_RATE_DELTAS];
    s_imu_t imu;
} s_phone_import_t;

static int
s_import_phone (s_ctx_t *ctx, const uint8_t *data, size_t len)
{
    int rc = CW_OK;
    s_phone_import_t *st = calloc (1, sizeof *st);
    if (!st)
        return CW_ENOMEM;
    size_t start = s_bom (data, len);

    /*  Pass 1: the sample rate, from the median time step of the first rows. Rows here are
     *  only looked at; they are skipped and counted in pass 2. */
    size_t pos = start, n_deltas = 0;
    s_line_t line = { NULL, 0, 0 };
    uint64_t t_prev = 0, t_ns = 0;
    bool have_prev = false;
    double a [3];
    while (n_deltas < S_RATE_DELTAS && s_next_line (data, len, &pos, &line)) {
        s_split (line.p, line.len, &st->row);
        if (s_phone_row (&st->row, &t_ns, a) != NULL)
            continue;
        if (have_prev && t_ns <= t_prev)
            continue;       /* pass 2 skips it too */
        if (have_prev)
            st->deltas [n_deltas++] = t_ns - t_prev;
        t_prev = t_ns;
        have_prev = true;
    }
    if (n_deltas == 0) {
        s_fail_reason (ctx, "too few valid rows to estimate the sample rate");
        rc = CW_EDECODE;
        goto done;
    }
    qsort (st->deltas, n_deltas, sizeof st->deltas [0], s_cmp_u64);
    uint64_t median_ns = st->deltas [(n_deltas - 1) / 2];
    double rate_hz = 1e9 / (double) median_ns;
    if (rate_hz < S_MIN_RATE_HZ || rate_hz > S_MAX_RATE_HZ) {
        s_fail_reason (ctx, "sample rate outside 1 Hz .. 10 kHz");
        rc = CW_EDECODE;
        goto done;
    }

    /*  Pass 2: batches of batch_ms; a gap of more than 2.5 steps starts a new batch because an
     *  ImuBatch assumes evenly spaced samples. */
    uint64_t batch_ns = (uint64_t) (ctx->options.batch_ms ? ctx->options.batch_ms : 1000u)
                      * 1000000u;
    uint64_t gap_ns = median_ns * 5u / 2u;
    uint64_t anchor = s_anchor_ms (ctx);
    uint64_t t_first = 0, t_batch = 0;
    bool started = false;
    st->imu.rate_mhz = (uint32_t) lround (rate_hz * 1000.0);
    st->imu.placement = COACHWIRE__IMU_PLACEMENT__IMU_PLACEMENT_POCKET;
    pos = start;
    line.number = 0;
    while (s_next_line (data, len, &pos, &line)) {
        if (s_blank (&line))
            continue;
        s_split (line.p, line.len, &st->row);
        const char *why = s_phone_row (&st->row, &t_ns, a);
        if (!why && started && t_ns <= t_prev)
            why = "time does not increase";
        if (why) {
            s_skip (ctx, "line", line.number, why);
            continue;
        }
        if (!started) {
            t_first = t_ns;
            started = true;
        }
        else
        if (st->imu.count > 0
        && (t_ns - t_prev > gap_ns || t_ns - t_batch >= batch_ns
            || st->imu.count == S_MAX_SAMPLES)) {
            rc = s_imu_flush (ctx, &st->imu);
            if (rc != CW_OK)
                goto done;
        }
        if (st->imu.count == 0) {
            t_batch = t_ns;
            st->imu.start_ms = anchor + (t_ns - t_first + 500000u) / 1000000u;
        }
        for (int k = 0; k < 3; k++)
            st->imu.v [k][st->imu.count] = s_milli (a [k]);
        st->imu.count++;
        t_prev = t_ns;
        if (line.number % 8192 == 0)
            s_progress (ctx, pos);
    }
    rc = s_imu_flush (ctx, &st->imu);
    s_progress (ctx, len);
done:
    free (st);
    return rc;
}

/*  --------------------------------------------------------------------------------------
 *  Foot IMU CSV: "sensor,left_sensor,right_sensor,..." / "axis,acc_x,acc_x,..." / index,...
 */

static bool
s_detect_foot (const uint8_t *head, size_t len)
{
    size_t n;
    const char *line = s_first_line (head, len, &n);
    return s_starts_with (line, n, "sensor,");
}

static const char *const s_axis_names [6] = {
    "acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"
};

typedef struct {
    s_row_t row;
    char sensors [S_ROW_FIELDS][32];    /* first header row, per column */
    int column [2][6];                  /* [foot][axis] -> CSV column, or -1 */
    bool used [2];                      /* the foot has all three accel columns */
    s_imu_t imu [2];
} s_foot_import_t;

static int
s_import_foot (s_ctx_t *ctx, const uint8_t *data, size_t len)
{
    int rc = CW_OK;
    s_foot_import_t *st = calloc (1, sizeof *st);
    if (!st)
        return CW_ENOMEM;
    size_t pos = s_bom (data, len);
    s_line_t line = { NULL, 0, 0 };

    /*  The two header rows name each column's sensor and axis; columns are found by name. */
    if (!s_next_line (data, len, &pos, &line)) {
        rc = CW_EDECODE;
        goto done;
    }
    s_split (line.p, line.len, &st->row);
    size_t columns = st->row.count;
    for (size_t c = 0; c < columns; c++)
        snprintf (st->sensors [c], sizeof st->sensors [c], "%s", st->row.field [c]);
    if (!s_next_line (data, len, &pos, &line)) {
        s_fail_reason (ctx, "missing the second header row (axis names)");
        rc = CW_EDECODE;
        goto done;
    }
    s_split (line.p, line.len, &st->row);
    if (st->row.count == 0 || strcmp (st->row.field [0], "axis") != 0) {
        s_fail_reason (ctx, "line 2: second header row must start with \"axis\"");
        rc = CW_EDECODE;
        goto done;
    }
    for (int f = 0; f < 2; f++)
        for (int k = 0; k < 6; k++)
            st->column [f][k] = -1;
    for (size_t c = 1; c < columns && c < st->row.count; c++) {
        int foot = strncmp (st->sensors [c], "left", 4) == 0 ? 0
                 : strncmp (st->sensors [c], "right", 5) == 0 ? 1 : -1;
        if (foot < 0)
            continue;
        for (int k = 0; k < 6; k++)
            if (strcmp (st->row.field [c], s_axis_names [k]) == 0 && st->column [foot][k] < 0)
                st->column [foot][k] = (int) c;
    }
    for (int f = 0; f < 2; f++) {
        st->used [f] = st->column [f][0] >= 0 && st->column [f][1] >= 0
                    && st->column [f][2] >= 0;
        st->imu [f].gyro = st->used [f] && st->column [f][3] >= 0 && st->column [f][4] >= 0
                        && st->column [f][5] >= 0;
    }
    if (!st->used [0] && !st->used [1]) {
        s_fail_reason (ctx, "no left_* or right_* sensor has acc_x, acc_y and acc_z columns");
        rc = CW_EDECODE;
        goto done;
    }

    double rate = ctx->options.sample_rate_hz > 0 ? ctx->options.sample_rate_hz
                                                   : CW_IMPORT_DEFAULT_FOOT_RATE_HZ;
    uint32_t batch_ms = ctx->options.batch_ms ? ctx->options.batch_ms : 1000u;
    double per_batch = floor (rate * batch_ms / 1000.0);
    uint64_t samples_per_batch = per_batch < 1 ? 1
                               : per_batch > S_MAX_SAMPLES ? S_MAX_SAMPLES
                               : (uint64_t) per_batch;
    uint64_t anchor = s_anchor_ms (ctx);
    st->imu [0].placement = COACHWIRE__IMU_PLACEMENT__IMU_PLACEMENT_FOOT_LEFT;
    st->imu [1].placement = COACHWIRE__IMU_PLACEMENT__IMU_PLACEMENT_FOOT_RIGHT;
    st->imu [0].rate_mhz = st->imu [1].rate_mhz = (uint32_t) lround (rate * 1000.0);

    uint64_t index = 0, prev = 0, batch_first = 0;
    bool started = false;
    while (s_next_line (data, len, &pos, &line)) {
        if (s_blank (&line))
            continue;
        s_split (line.p, line.len, &st->row);
        double v [2][6] = { { 0 } };
        const char *why = NULL;
        if (!s_parse_u64 (st->row.field [0], &index))
            why = "sample index is not a non-negative integer";
        else
        if (index > 10000000000ull)
            why = "sample index out of range";
        else
        if (started && index <= prev)
            why = "sample index does not increase";
        for (int f = 0; f < 2 && !why; f++) {
            if (!st->used [f])
                continue;
            for (int k = 0; k < 6 && !why; k++) {
                int c = st->column [f][k];
                if (c < 0 || (k >= 3 && !st->imu [f].gyro))
                    continue;
                if ((size_t) c >= st->row.count)
                    why = "missing columns";
                else
                if (!s_parse_double (st->row.field [c], &v [f][k]))
                    why = "value is not a finite number";
                else
                if (fabs (v [f][k]) > (k < 3 ? S_MAX_ACCEL_M_S2 : S_MAX_GYRO_DEG_S))
                    why = "value out of range";
            }
        }
        if (why) {
            s_skip (ctx, "line", line.number, why);
            continue;
        }
        size_t count = st->used [0] ? st->imu [0].count : st->imu [1].count;
        if (count > 0
        && (index != prev + 1 || index - batch_first >= samples_per_batch)) {
            for (int f = 0; f < 2 && rc == CW_OK; f++)
                rc = s_imu_flush (ctx, &st->imu [f]);
            if (rc != CW_OK)
                goto done;
            count = 0;
        }
        if (count == 0) {
            batch_first = index;
            uint64_t start_ms = anchor + (uint64_t) llround ((double) index * 1000.0 / rate);
            st->imu [0].start_ms = st->imu [1].start_ms = start_ms;
        }
        for (int f = 0; f < 2; f++) {
            if (!st->used [f])
                continue;
            s_imu_t *b = &st->imu [f];
            for (int k = 0; k < 6; k++)
                b->v [k][b->count] = k < 3 || b->gyro ? s_milli (v [f][k]) : 0;
            b->count++;
        }
        prev = index;
        started = true;
        if (line.number % 8192 == 0)
            s_progress (ctx, pos);
    }
    for (int f = 0; f < 2 && rc == CW_OK; f++)
        rc = s_imu_flush (ctx, &st->imu [f]);
    s_progress (ctx, len);
done:
    free (st);
    return rc;
}

/*  --------------------------------------------------------------------------------------
 *  Food diary CSV: Date,Entry,Item,Amount,Calories,Carbs,Fat,Protein,Cholest,Sodium,...
 */

static bool
s_detect_food (const uint8_t *head, size_t len)
{
    size_t n;
    const char *line = s_first_line (head, len, &n);
    return s_starts_with (line, n, "Date,Entry,Item");
}

typedef enum {
    S_COL_DATE, S_COL_ENTRY, S_COL_ITEM, S_COL_AMOUNT, S_COL_CALORIES, S_COL_CARBS, S_COL_FAT,
    S_COL_PROTEIN, S_COL_SODIUM, S_COL_SUGARS, S_COL_FIBER, S_FOOD_COLUMNS
} s_food_column_t;

static const char *const s_food_headers [S_FOOD_COLUMNS] = {
    "Date", "Entry", "Item", "Amount", "Calories", "Carbs", "Fat", "Protein", "Sodium",
    "Sugars", "Fiber"
};

/*  A meal kind from the diary's Entry, and the local time we put it at (no times in file). */
typedef struct {
    const char *prefix;
    uint32_t kind;
    int hour, minute;
} s_meal_slot_t;

static const s_meal_slot_t s_meal_slots [] = {
    { "breakfast", COACHWIRE__MEAL_KIND__MEAL_KIND_BREAKFAST, 8, 0 },
    { "lunch",     COACHWIRE__MEAL_KIND__MEAL_KIND_LUNCH, 12, 30 },
    { "dinner",    COACHWIRE__MEAL_KIND__MEAL_KIND_DINNER, 19, 0 },
    { "snack",     COACHWIRE__MEAL_KIND__MEAL_KIND_SNACK, 15, 30 },
};
static const s_meal_slot_t s_meal_unknown = { "", COACHWIRE__MEAL_KIND__MEAL_KIND_UNKNOWN, 12, 0 };

static const s_meal_slot_t *
s_meal_slot (const char *entry)
{
    for (size_t i = 0; i < sizeof s_meal_slots / sizeof s_meal_slots [0]; i++)
        if (strncasecmp (entry, s_meal_slots [i].prefix, strlen (s_meal_slots [i].prefix)) == 0)
            return &s_meal_slots [i];
    return &s_meal_unknown;
}

static const char *const s_months [12] = {
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december"
};

static bool
s_leap (int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
s_days_in_month (int y, int m)
{
    static const int days [12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && s_leap (y) ? 29 : days [m - 1];
}

/*  "January 1, 2019" (full or three-letter month) or "2019-01-01". */
static bool
s_parse_date (const char *s, int *y, int *m, int *d)
{
    while (*s == ' ')
        s++;
    long year = 0, month = 0, day = 0;
    char *end = NULL;
    if (*s >= '0' && *s <= '9') {
        year = strtol (s, &end, 10);
        if (*end != '-')
            return false;
        month = strtol (end + 1, &end, 10);
        if (*end != '-')
            return false;
        day = strtol (end + 1, &end, 10);
    }
    else {
        size_t n = 0;
        while (s [n] && ((s [n] >= 'a' && s [n] <= 'z') || (s [n] >= 'A' && s [n] <= 'Z')))
            n++;
        if (n < 3)
            return false;
        for (int i = 0; i < 12 && !month; i++)
            if (n <= strlen (s_months [i]) && strncasecmp (s, s_months [i], n) == 0)
                month = i + 1;
        if (!month)
            return false;
        s += n;
        if (*s != ' ')
            return false;
        day = strtol (s, &end, 10);
        if (end == s)
            return false;
        s = end;
        if (*s == ',')
            s++;
        if (*s != ' ')
            return false;
        year = strtol (s, &end, 10);
        if (end == s)
            return false;
    }
    while (*end == ' ')
        end++;
    if (*end != 0 || year < 1970 || year > 2200 || month < 1 || month > 12 || day < 1)
        return false;
    if (day > s_days_in_month ((int) year, (int) month))
        return false;
    *y = (int) year;
    *m = (int) month;
    *d = (int) day;
    return true;
}

/*  Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t
s_days_from_civil (int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/*  Milliseconds since the epoch of a local wall-clock time in zone (NULL: UTC). */
static bool
s_local_ms (const char *zone, int y, int m, int d, int hour, int minute, uint64_t *out)
{
    if (!zone || !*zone || strcmp (zone, "UTC") == 0 || strcmp (zone, "Etc/UTC") == 0) {
        int64_t utc_s = s_days_from_civil (y, m, d) * 86400 + hour * 3600 + minute * 60;
        *out = (uint64_t) utc_s * 1000u;
        return true;
    }
    return cw_local_to_epoch (zone, y, m, d, hour * 60 + minute, out) == CW_OK;
}

/*  A number with optional thousands separators ("3,436") and an optional unit suffix, read as
 *  milli-units: "28g" -> 28000, "3,436mg" -> 3436. An empty field or "--" (the diary's
 *  "not recorded") is 0. default_scale applies when there is no unit (1000: grams). */
static bool
s_parse_mass_mg (const char *s, double default_scale, double *out)
{
    char num [64];
    size_t n = 0;
    while (*s == ' ')
        s++;
    if (*s == 0 || (s [0] == '-' && s [1] == '-')) {
        *out = 0;
        return true;
    }
    const char *p = s;
    for (; *p && ((*p >= '0' && *p <= '9') || *p == '.' || *p == ','); p++) {
        if (*p == ',') {
            /*  A thousands separator is followed by exactly three digits. */
            if (n == 0 || !(p [1] >= '0' && p [1] <= '9' && p [2] >= '0' && p [2] <= '9'
                            && p [3] >= '0' && p [3] <= '9')
            || (p [4] >= '0' && p [4] <= '9'))
                return false;
            continue;
        }
        if (n + 1 >= sizeof num)
            return false;
        num [n++] = *p;
    }
    num [n] = 0;
    double v;
    if (n == 0 || !s_parse_double (num, &v))
        return false;
    while (*p == ' ')
        p++;
    double scale = default_scale;
    if (strcmp (p, "mg") == 0)
        scale = 1;
    else
    if (strcmp (p, "g") == 0)
        scale = 1000;
    else
    if (strcmp (p, "kcal") == 0 || *p == 0)
        scale = default_scale;
    else
        return false;
    *out = v * scale;
    return isfinite (*out);
}

static size_t
s_utf8_seq (const unsigned char *s)
{
    unsigned char c = s [0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (s [1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return s [1] >= lo && s [1] <= hi && (s [2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return s [1] >= lo && s [1] <= hi && (s [2] & 0xC0) == 0x80
            && (s [3] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

/*  Copies src into dst (cap bytes with the NUL), cut at a character boundary, with invalid
 *  UTF-8 bytes and control characters replaced: a protobuf string must be valid UTF-8. */
static void
s_utf8_copy (char *dst, size_t cap, const char *src)
{
    const unsigned char *s = (const unsigned char *) src;
    size_t o = 0;
    while (*s) {
        size_t n = s_utf8_seq (s);
        if (n == 0 || (n == 1 && *s < 0x20)) {
            if (o + 1 >= cap)
                break;
            dst [o++] = n == 0 ? '?' : ' ';
            s++;
            continue;
        }
        if (o + n >= cap)
            break;
        memcpy (dst + o, s, n);
        o += n;
        s += n;
    }
    dst [o] = 0;
}

typedef struct {
    s_row_t row;
    int column [S_FOOD_COLUMNS];    /* CSV column of each known header, or -1 */
    int year, month, day;           /* day of the open batch */
    uint64_t slot_ms [5];           /* meal times of that day, by slot (4 = unknown) */
    size_t count;
    Coachwire__MealEntry entry [CW_IMPORT_MAX_MEALS_PER_BATCH];
    Coachwire__MealEntry *ptr [CW_IMPORT_MAX_MEALS_PER_BATCH];
    char item [CW_IMPORT_MAX_MEALS_PER_BATCH][S_ITEM_BYTES + 1];
    char amount [CW_IMPORT_MAX_MEALS_PER_BATCH][S_AMOUNT_BYTES + 1];
} s_food_import_t;

static int
s_meals_flush (s_ctx_t *ctx, s_food_import_t *st)
{
    if (st->count == 0)
        return CW_OK;
    /*  The diary lists a day by meal (snacks last); a batch lists entries in time order.
     *  Insertion sort keeps the diary's order within a meal. */
    for (size_t i = 0; i < st->count; i++)
        st->ptr [i] = &st->entry [i];
    for (size_t i = 1; i < st->count; i++) {
        Coachwire__MealEntry *e = st->ptr [i];
        size_t j = i;
        while (j > 0 && st->ptr [j - 1]->time_ms > e->time_ms) {
            st->ptr [j] = st->ptr [j - 1];
            j--;
        }
        st->ptr [j] = e;
    }
    Coachwire__MealBatch meal = COACHWIRE__MEAL_BATCH__INIT;
    meal.n_entries = st->count;
    meal.entries = st->ptr;
    Coachwire__SensorBatch batch = COACHWIRE__SENSOR_BATCH__INIT;
    batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_MEAL;
    batch.meal = &meal;
    size_t n = st->count;
    st->count = 0;
    return s_emit (ctx, &batch, n);
}

/*  Reads one nutrient column (absent column: 0). Returns false when the value is unusable. */
static bool
s_food_value (const s_food_import_t *st, s_food_column_t col, double default_scale,
              double max, uint32_t *out)
{
    *out = 0;
    int c = st->column [col];
    if (c < 0)
        return true;
    if ((size_t) c >= st->row.count)
        return false;
    double v;
    if (!s_parse_mass_mg (st->row.field [c], default_scale, &v) || v < 0 || v > max)
        return false;
    *out = (uint32_t) llround (v);
    return true;
}

static int
s_import_food (s_ctx_t *ctx, const uint8_t *data, size_t len)
{
    int rc = CW_OK;
    s_food_import_t *st = calloc (1, sizeof *st);
    if (!st)
        return CW_ENOMEM;
    size_t pos = s_bom (data, len);
    s_line_t line = { NULL, 0, 0 };
    if (!s_next_line (data, len, &pos, &line)) {
        rc = CW_EDECODE;
        goto done;
    }
    s_split (line.p, line.len, &st->row);
    for (int k = 0; k < S_FOOD_COLUMNS; k++) {
        st->column [k] = -1;
        for (size_t c = 0; c < st->row.count; c++)
            if (strcmp (st->row.field [c], s_food_headers [k]) == 0) {
                st->column [k] = (int) c;
                break;
            }
    }
    if (st->column [S_COL_DATE] < 0 || st->column [S_COL_ENTRY] < 0
    || st->column [S_COL_ITEM] < 0 || st->column [S_COL_CALORIES] < 0) {
        s_fail_reason (ctx, "line 1: header lacks Date, Entry, Item or Calories");
        rc = CW_EDECODE;
        goto done;
    }

    while (s_next_line (data, len, &pos, &line)) {
        if (s_blank (&line))
            continue;
        s_split (line.p, line.len, &st->row);
        const char *why = NULL;
        int y = 0, m = 0, d = 0;
        uint32_t kcal = 0, carbs = 0, fat = 0, protein = 0, sodium = 0, sugar = 0, fibre = 0;
        int c_date = st->column [S_COL_DATE], c_entry = st->column [S_COL_ENTRY];
        int c_item = st->column [S_COL_ITEM], c_amount = st->column [S_COL_AMOUNT];
        if ((size_t) c_item >= st->row.count || (size_t) c_entry >= st->row.count
        ||  (size_t) c_date >= st->row.count)
            why = "missing columns";
        else
        if (!s_parse_date (st->row.field [c_date], &y, &m, &d))
            why = "bad date";
        else
        if (!s_food_value (st, S_COL_CALORIES, 1, 20000, &kcal))
            why = "bad Calories";
        else
        if (!s_food_value (st, S_COL_CARBS, 1000, 2e9, &carbs)
        ||  !s_food_value (st, S_COL_FAT, 1000, 2e9, &fat)
        ||  !s_food_value (st, S_COL_PROTEIN, 1000, 2e9, &protein)
        ||  !s_food_value (st, S_COL_SUGARS, 1000, 2e9, &sugar)
        ||  !s_food_value (st, S_COL_FIBER, 1000, 2e9, &fibre)
        ||  !s_food_value (st, S_COL_SODIUM, 1, 2e9, &sodium))
            why = "bad nutrient value";
        if (why) {
            s_skip (ctx, "line", line.number, why);
            continue;
        }
        const s_meal_slot_t *slot = s_meal_slot (st->row.field [c_entry]);
        size_t slot_index = (size_t) (slot - s_meal_slots);
        if (slot == &s_meal_unknown)
            slot_index = 4;
        if (st->count > 0 && (y != st->year || m != st->month || d != st->day)) {
            rc = s_meals_flush (ctx, st);
            if (rc != CW_OK)
                goto done;
        }
        if (y != st->year || m != st->month || d != st->day) {
            /*  A new day: compute its meal times once (local time, DST-aware). */
            bool ok = true;
            for (size_t k = 0; k < 5 && ok; k++) {
                const s_meal_slot_t *sl = k < 4 ? &s_meal_slots [k] : &s_meal_unknown;
                ok = s_local_ms (ctx->options.time_zone, y, m, d, sl->hour, sl->minute,
                                 &st->slot_ms [k]);
            }
            if (!ok) {
                st->year = 0;
                s_skip (ctx, "line", line.number, "date not representable in the time zone");
                continue;
            }
            st->year = y;
            st->month = m;
            st->day = d;
        }
        if (st->count == CW_IMPORT_MAX_MEALS_PER_BATCH) {
            rc = s_meals_flush (ctx, st);
            if (rc != CW_OK)
                goto done;
        }
        size_t i = st->count++;
        Coachwire__MealEntry *e = &st->entry [i];
        coachwire__meal_entry__init (e);
        s_utf8_copy (st->item [i], sizeof st->item [i], st->row.field [c_item]);
        s_utf8_copy (st->amount [i], sizeof st->amount [i],
                     c_amount >= 0 && (size_t) c_amount < st->row.count
                     ? st->row.field [c_amount] : "");
        e->time_ms = st->slot_ms [slot_index];
        e->meal = slot->kind;
        e->item = st->item [i];
        e->amount = st->amount [i];
        e->energy_kcal = kcal;
        e->protein_mg = protein;
        e->carbohydrate_mg = carbs;
        e->fat_mg = fat;
        e->sugar_mg = sugar;
        e->sodium_mg = sodium;
        e->fibre_mg = fibre;
        if (line.number % 4096 == 0)
            s_progress (ctx, pos);
    }
    rc = s_meals_flush (ctx, st);
    s_progress (ctx, len);
done:
    free (st);
    return rc;
}

/*  --------------------------------------------------------------------------------------
 *  The table and the public entry points
 */

static const s_importer_t s_importers [] = {
    { CW_FORMAT_FIT, "fit", s_detect_fit, s_import_fit },
    { CW_FORMAT_FOOT_IMU_CSV, "foot-imu-csv", s_detect_foot, s_import_foot },
    { CW_FORMAT_FOOD_DIARY_CSV, "food-diary-csv", s_detect_food, s_import_food },
    { CW_FORMAT_PHONE_ACCEL_CSV, "phone-accel-csv", s_detect_phone, s_import_phone },
};
#define S_IMPORTERS (sizeof s_importers / sizeof s_importers [0])

static const s_importer_t *
s_find (const uint8_t *head, size_t len)
{
    if (!head || len == 0)
        return NULL;
    for (size_t i = 0; i < S_IMPORTERS; i++)
        if (s_importers [i].detect (head, len))
            return &s_importers [i];
    return NULL;
}

cw_format_t
cw_import_detect (const uint8_t *head, size_t len)
{
    const s_importer_t *imp = s_find (head, len);
    return imp ? imp->format : CW_FORMAT_UNKNOWN;
}

const char *
cw_format_name (cw_format_t format)
{
    for (size_t i = 0; i < S_IMPORTERS; i++)
        if (s_importers [i].format == format)
            return s_importers [i].name;
    return "unknown";
}

uint16_t
cw_batch_stream (const Coachwire__SensorBatch *batch)
{
    if (!batch || batch->body_case < 0 || batch->body_case > UINT16_MAX)
        return 0;
    return (uint16_t) batch->body_case;
}

/*  A zone name is handed to TZ: keep it to the IANA spelling, no paths out of the zone dir. */
static bool
s_zone_ok (const char *zone)
{
    if (!zone)
        return true;
    size_t n = strlen (zone);
    if (n == 0 || n > 64 || zone [0] == '/' || strstr (zone, ".."))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = zone [i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '/' || c == '_' || c == '-' || c == '+'))
            return false;
    }
    return true;
}

int
cw_import_buffer (const uint8_t *data, size_t len, const char *name,
                  const cw_import_options_t *options, cw_batch_sink_fn sink, void *sink_ctx,
                  cw_import_summary_t *summary)
{
    cw_import_summary_t scratch;
    if (!summary)
        summary = &scratch;
    memset (summary, 0, sizeof *summary);
    if (!sink || (!data && len > 0))
        return CW_EINVAL;
    if (len > CW_IMPORT_MAX_FILE_BYTES)
        return CW_ETOOBIG;

    s_ctx_t ctx;
    memset (&ctx, 0, sizeof ctx);
    if (options)
        ctx.options = *options;
    double rate = ctx.options.sample_rate_hz;
    if (rate != 0 && !(rate >= S_MIN_RATE_HZ && rate <= S_MAX_RATE_HZ))
        return CW_EINVAL;
    if (!s_zone_ok (ctx.options.time_zone))
        return CW_EINVAL;
    ctx.name = name;
    ctx.sink = sink;
    ctx.sink_ctx = sink_ctx;
    ctx.summary = summary;
    ctx.total = len;

    const s_importer_t *imp = s_find (data, len);
    if (!imp) {
        s_fail_reason (&ctx, "not a FIT file, phone accelerometer, foot IMU or food diary CSV");
        return CW_EDECODE;
    }
    summary->format = imp->format;
    int rc = imp->import (&ctx, data, len);
    if (rc == CW_OK && summary->batches == 0) {
        if (summary->first_error [0] == 0)
            s_fail_reason (&ctx, "no usable samples");
        rc = CW_EDECODE;
    }
    return rc;
}

int
cw_import_file (const char *path, const cw_import_options_t *options, cw_batch_sink_fn sink,
                void *sink_ctx, cw_import_summary_t *summary)
{
    if (summary)
        memset (summary, 0, sizeof *summary);
    if (!path || !sink)
        return CW_EINVAL;
    int rc = CW_OK;
    uint8_t *buf = NULL;
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = errno == ENOENT ? CW_ENOENT : CW_EIO;
        goto done;
    }
    struct stat st;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        rc = CW_EIO;
        goto done;
    }
    if ((uint64_t) st.st_size > CW_IMPORT_MAX_FILE_BYTES) {
        rc = CW_ETOOBIG;
        goto done;
    }
    size_t size = (size_t) st.st_size;
    buf = malloc (size ? size : 1);
    if (!buf) {
        rc = CW_ENOMEM;
        goto done;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read (fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = CW_EIO;
            goto done;
        }
        if (n == 0)
            break;          /* the file shrank while we read it: import what is there */
        got += (size_t) n;
    }
    rc = cw_import_buffer (buf, got, path, options, sink, sink_ctx, summary);
done:
    if (fd >= 0)
        close (fd);
    free (buf);
    return rc;
}
