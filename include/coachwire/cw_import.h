/*  cw_import.h - turn recordings into SensorBatch messages: FIT activity files, phone
 *  accelerometer CSV, foot IMU CSV, food-diary CSV, chosen by content; and the simulator.
 *
 *  Importers are pure: they read a file (or generate data) and hand each batch, in time order,
 *  to a sink. They never open a socket. The edge CLI's sink seals and queues each batch.
 */
#ifndef CW_IMPORT_H_INCLUDED
#define CW_IMPORT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "coachwire.pb-c.h"
#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_IMPORT_MAX_FILE_BYTES (256u * 1024u * 1024u)  /* larger inputs are refused */

/*  Called once per batch. batch (and everything it points to) is valid only during the call:
 *  pack it or copy it. A non-zero return (a CW_E* code) stops the import and is returned by
 *  the importer. */
typedef int (*cw_batch_sink_fn) (void *ctx, const Coachwire__SensorBatch *batch);

/*  Called now and then on long work with how far it is (units of total: bytes or samples). */
typedef void (*cw_progress_fn) (void *ctx, uint64_t done, uint64_t total);

typedef enum {
    CW_FORMAT_UNKNOWN = 0,
    CW_FORMAT_FIT = 1,              /* Garmin FIT activity file */
    CW_FORMAT_PHONE_ACCEL_CSV = 2,  /* time_ns,ax,ay,az[,...] rows, no header (Oxford step set) */
    CW_FORMAT_FOOD_DIARY_CSV = 3,   /* Date,Entry,Item,Amount,Calories,... (MyFitnessPal export) */
    CW_FORMAT_FOOT_IMU_CSV = 4      /* two header rows sensor/axis, left and right foot acc+gyr */
} cw_format_t;

typedef struct {
    const char *time_zone;      /* IANA zone for dates without a zone (food diary); NULL = UTC */
    uint64_t start_time_ms;     /* anchor for recordings with relative time only; 0 = derive
                                   from the file name (a 13-digit epoch ms) or else now */
    uint32_t batch_ms;          /* target span of one batch; 0 = 1000 ms for >= 10 Hz data,
                                   60000 ms for slower series, one day for meals */
    cw_progress_fn progress;    /* optional */
    void *progress_ctx;
    double sample_rate_hz;      /* rate of CSVs that do not state it (foot IMU, whose rows
                                   carry only a sample index); 0 = 204.8 Hz */
} cw_import_options_t;

#define CW_IMPORT_DEFAULT_FOOT_RATE_HZ 204.8
#define CW_IMPORT_MAX_BATCH_SAMPLES 4096u   /* a batch is cut at this many samples */
#define CW_IMPORT_MAX_MEALS_PER_BATCH 512u

typedef struct {
    cw_format_t format;
    uint64_t batches;           /* batches handed to the sink */
    uint64_t samples;           /* samples (or meal entries) in them */
    uint64_t skipped;           /* rows or records skipped as invalid */
    char first_error [160];     /* why the first skipped row was skipped, "" if none */
} cw_import_summary_t;

/*  Guesses the format from the first bytes of a file. */
CW_EXPORT cw_format_t cw_import_detect (const uint8_t *head, size_t len);
CW_EXPORT const char *cw_format_name (cw_format_t format);

/*  Imports a whole file. options may be NULL. Returns CW_OK, CW_ENOENT, CW_EIO, CW_ETOOBIG,
 *  CW_EDECODE (not a format we know, or corrupt beyond use: nothing was sent), or the sink's
 *  error. Invalid rows inside an otherwise good file are skipped and counted in summary. */
CW_EXPORT int cw_import_file (const char *path, const cw_import_options_t *options,
                              cw_batch_sink_fn sink, void *sink_ctx,
                              cw_import_summary_t *summary) CW_MUST_CHECK;

/*  Same, from memory (for tests and fuzzing). name may be NULL. */
CW_EXPORT int cw_import_buffer (const uint8_t *data, size_t len, const char *name,
                                const cw_import_options_t *options, cw_batch_sink_fn sink,
                                void *sink_ctx, cw_import_summary_t *summary) CW_MUST_CHECK;

/*  Simulated running: 100 Hz pocket IMU shaped by the given gait, plus heart rate, location
 *  (speed and distance) and device running dynamics once a second. */
typedef struct {
    uint64_t start_time_ms;     /* 0 = a run that ends now */
    uint32_t duration_s;        /* default 600 */
    double cadence_spm;         /* steps per minute at the start, default 170 */
    double cadence_end_spm;     /* at the end (a drift); 0 = same as cadence_spm */
    double vertical_oscillation_mm;  /* default 80 */
    double contact_time_ms;     /* default 250 */
    double balance_left_pct;    /* default 50 */
    double speed_m_s;           /* default 3.0 */
    double heart_rate_bpm;      /* default 150 */
    uint32_t sample_rate_hz;    /* IMU rate, default 100 */
    uint32_t seed;              /* noise seed; same seed, same data */
} cw_sim_run_options_t;

/*  Simulated diet: meals for a number of days with a daily energy, protein and sugar level. */
typedef struct {
    uint64_t start_time_ms;     /* 0 = start of today (UTC) minus days */
    uint32_t days;              /* default 7 */
    double energy_kcal;         /* per day, default 2200 */
    double protein_g;           /* per day, default 90 */
    double sugar_g;             /* per day, default 50 */
    uint32_t seed;
} cw_sim_diet_options_t;

CW_EXPORT int cw_simulate_run (const cw_sim_run_options_t *options, cw_batch_sink_fn sink,
                               void *sink_ctx, cw_import_summary_t *summary) CW_MUST_CHECK;
CW_EXPORT int cw_simulate_diet (const cw_sim_diet_options_t *options, cw_batch_sink_fn sink,
                                void *sink_ctx, cw_import_summary_t *summary) CW_MUST_CHECK;

/*  Stream id of a batch (its oneof case), 0 when empty. */
CW_EXPORT uint16_t cw_batch_stream (const Coachwire__SensorBatch *batch);

#ifdef __cplusplus
}
#endif

#endif
