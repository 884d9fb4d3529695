/*  bench_ingest.c - cw-bench ingest: the whole ingest pipeline under load, next to raw CURVE.
 *
 *  Runs the real service as a child process (`coachwired init`, then `coachwired run` on
 *  127.0.0.1 with free ports) so that its CPU is its own, enrolls N devices straight into its
 *  store (as tests/harness.c does) and drives them from N threads: each a ZeroMQ DEALER with
 *  CURVE and its own keys, sending real sealed frames of one second of 100 Hz IMU (100
 *  six-axis samples, fresh sequence and start time per frame), either flat out with a bounded
 *  window of frames in flight or paced at a fixed rate. Ack latency (send -> ack receipt,
 *  CLOCK_MONOTONIC) goes into a log-linear histogram of bounded size.
 *
 *  In the same run, a raw libzmq CURVE PUSH/PULL baseline moves messages of the same size
 *  from the same number of sender threads to a PULL in a child process (this binary again,
 *  `cw-bench ingest --raw-sink`), with no processing at all.
 *
 *  And a floor (unless --no-floor): the flat-out load, unchanged but for a second DEALER per
 *  device, against `cw-bench ingest --floor-sink DIR`, a child that does only what the wire
 *  contract makes every service do per frame: a ROUTER set up as the gateway's, identifying
 *  the device by the User-Id the real ZAP handler gave its CURVE key, a device cache lookup,
 *  cw_envelope_peek + cw_envelope_open with the payload key derived as the gateway derives it,
 *  cw_stored_seal under a person key, and an Ack (sent in groups, as the gateway sends a
 *  committed group's). No decode, validation, dedup or storage: floor/raw is the most any
 *  pipeline doing the contract's crypto and acks can reach here.
 *
 *  Where the time goes: the service's CPU per frame, from /proc/<pid>/task/ (utime + stime of
 *  the libzmq I/O threads, the gateway thread, the whole process) and from the gateway's own
 *  stage counters (stage_ns.*, CPU time per stage, persisted with every group commit), each
 *  taken before and after a phase and divided by the frames accepted in between; the floor
 *  sink's from /proc/<pid>/ the same way, divided by the frames it acked. */
#include "cw_bench.h"

#include "bench_hist.h"
#include "bench_service.h"

#include "coachwire.pb-c.h"
#include "coachwire/cw_batch.h"
#include "coachwire/cw_committer.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_device_cache.h"
#include "coachwire/cw_envelope.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_gateway.h"
#include "coachwire/cw_keyring.h"
#include "coachwire/cw_server.h"
#include "coachwire/cw_store.h"
#include "coachwire/cw_zap.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define S_SAMPLES 100u                  /* one second of 100 Hz IMU per frame */
#define S_RATE_MHZ 100000u
#define S_STREAM_IMU 1u                 /* SensorBatch oneof case imu */
#define S_PLAIN_MAX 8192u               /* a packed batch of 600 sint32 is ~2 KB */
#define S_WINDOW 64u                    /* default frames in flight per device, flat out */
#define S_WINDOW_MAX 512u
#define S_MICRO_ROUNDS 2000             /* decode + validate alone, timed in the bench */
#define S_PACED_INFLIGHT_MAX 1024u      /* in flight per device when paced (memory bound) */
#define S_RING 1024u                    /* send-time slots per device; > any in-flight count */
#define S_DEVICES_MAX 256
#define S_SECONDS_MAX 600
#define S_DRAIN_NS 10000000000ull       /* after the phase: wait at most 10 s for acks */
#define S_STARTUP_MS 15000              /* coachwired must write DIR/endpoints in this time */
#define S_WARMUP_MS 10000               /* per device: first frame acked in this time */
#define S_SETTLE_MS 120000          /* the coach's catching up, waited for at most */
#define S_TARGET_RATIO 0.5
#define S_TARGET_P99_MS 15.0
#define S_STAGES 6
#define S_SIN_TABLE 1024u
#define S_POOL_STRIDE 2048u             /* one prepared frame (1,650 B) */
#define S_POOL_FPS 120000u              /* flat out: frames prepared per second, all devices
                                           (about twice what the pipeline reaches) ... */
#define S_FLOOR_POOL_FPS 200000u        /* ... and for the floor (twice the pipeline's pace) */
#define S_POOL_BYTES (4ull << 30)       /* prepared frames take at most this much memory;
                                           frames beyond it are built during the phase, and
                                           said so */
#define S_FLOOR_HWM 100000              /* the gateway's ROUTER options (ingest/cw_gateway.c) */
#define S_FLOOR_BACKLOG 4096
#define S_FLOOR_GROUP 256               /* answers sent together: the gateway's default group */

static const char *s_stage_names [S_STAGES] = { "transport", "open", "decode_validate",
                                                 "reseal", "commit", "ack" };

/*  Send time of one frame in flight. */
typedef struct {
    uint64_t sequence;          /* 0 = free */
    uint64_t sent_ns;
} s_slot_t;

/*  One simulated phone: its credential, its socket and where its signal is. */
typedef struct {
    int index;
    cw_cred_t *cred;
    uint8_t *payload_key;       /* CW_KEY_BYTES, sodium memory */
    void *sock;                 /* DEALER + CURVE; used by one thread at a time */
    uint64_t next_sequence;
    uint64_t rng;               /* xorshift64 state for sensor noise */
    double step_phase;          /* fraction of a step cycle */
    double cadence_hz;          /* steps per second */
    int32_t axes [6][S_SAMPLES];
    uint8_t plain [S_PLAIN_MAX];
    size_t plain_len;           /* of the last frame sent */
    uint8_t frame [S_PLAIN_MAX + CW_FRAME_OVERHEAD];
    /* frames built and sealed before the phase, sequences pool_first.. in order */
    uint8_t *pool;              /* pool_count x S_POOL_STRIDE bytes */
    uint32_t *pool_len;
    size_t pool_count;
    uint64_t pool_first;
    uint64_t built_inline;      /* sent beyond the pool: built in the timed phase */
    s_slot_t ring [S_RING];
    /* results of the current phase, written by the device's thread only */
    bench_hist_t hist;
    uint64_t sent, acked, duplicates, errors, backoffs, lost, bytes, last_ack_ns;
    size_t inflight;
    char first_error [160];
} s_device_t;

/*  What a phase asks of every device thread. */
typedef struct {
    s_device_t *device;
    double rate;                /* frames/s per device; 0 = flat out */
    size_t window;              /* flat out: frames in flight */
    uint64_t start_ns, deadline_ns;
} s_job_t;

typedef struct {
    uint64_t accepted, duplicates, rejected, commits;
    uint64_t stage_ns [S_STAGES];
} s_counters_t;

/*  The measured outcome of one pipeline phase. */
typedef struct {
    bool ran;
    const char *name;
    double rate;                /* per device, 0 = flat out */
    uint64_t sent, acked, duplicates, errors, backoffs, lost, bytes;
    uint64_t prepared, built_inline;    /* frames sealed before the phase, and during it */
    double elapsed_s, fps;
    double p50_ms, p99_ms, p999_ms, max_ms;
    uint64_t frames;            /* frames_accepted delta */
    uint64_t commits;
    double stage_us [S_STAGES]; /* per frame */
    double io_us, gateway_us, total_us, other_us, client_us;
    double io_util, gateway_util, total_util;
    uint64_t start_ns;          /* when the devices began sending */
    uint64_t client_ns;         /* the load generator's CPU while they ran */
    char first_error [160];
} s_phase_t;

/*  The floor phase: what the devices saw, and what the floor sink says it did. */
typedef struct {
    s_phase_t load;             /* load.ran: the phase ran */
    uint64_t open_failures, ack_failures;   /* the sink's, warm-up frames included */
    double sink_cpu_us, sink_io_us;     /* per frame acked in the phase */
    double service_util;        /* coachwired meanwhile, of one core: ~0 when comparable */
} s_floor_t;

typedef struct {
    bool ran;
    uint64_t sent, received, bytes;
    double elapsed_s, mps;
    double sink_cpu_us, client_us;
} s_raw_t;

typedef struct {
    int devices;
    int seconds;
    int window;
    double rate;
    bool half_peak;
    bool no_floor;
    bool json;
    const char *commit_frames;
    const char *commit_ms;
    const char *keep;
    const char *coachwired;
} s_options_t;

static float s_sin [S_SIN_TABLE];

static uint64_t
s_self_cpu_ns (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    return ((uint64_t) ru.ru_utime.tv_sec + (uint64_t) ru.ru_stime.tv_sec) * 1000000000u
         + ((uint64_t) ru.ru_utime.tv_usec + (uint64_t) ru.ru_stime.tv_usec) * 1000u;
}

/* ---- the sinks' pipes ------------------------------------------------------------------ */

/*  Reads one line from fd into buf within timeout_ms. Returns its length, or -1. */
static int
s_read_line (int fd, char *buf, size_t size, int timeout_ms)
{
    size_t n = 0;
    uint64_t deadline = bench_service_mono_ns () + (uint64_t) timeout_ms * 1000000u;
    while (n + 1 < size) {
        uint64_t now = bench_service_mono_ns ();
        if (now >= deadline)
            return -1;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int r = poll (&p, 1, (int) ((deadline - now) / 1000000u) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        ssize_t got = read (fd, buf + n, 1);
        if (got <= 0)
            return -1;
        if (buf [n] == '\n') {
            buf [n] = '\0';
            return (int) n;
        }
        n++;
    }
    return -1;
}

/* ---- the service's counters ----------------------------------------------------------- */

static void
s_counter_cb (void *ctx, const char *name, uint64_t value)
{
    s_counters_t *c = ctx;
    if (strcmp (name, "frames_accepted") == 0)
        c->accepted = value;
    else
    if (strcmp (name, "frames_duplicate") == 0)
        c->duplicates = value;
    else
    if (strcmp (name, "commits") == 0)
        c->commits = value;
    else
    if (strncmp (name, "rejected.", 9) == 0)
        c->rejected += value;
    else
    if (strncmp (name, "stage_ns.", 9) == 0)
        for (int s = 0; s < S_STAGES; s++)
            if (strcmp (name + 9, s_stage_names [s]) == 0)
                c->stage_ns [s] = value;
}

static int
s_counters (cw_store_t *store, s_counters_t *out)
{
    memset (out, 0, sizeof *out);
    return cw_store_counter_each (store, s_counter_cb, out);
}

/* ---- a device --------------------------------------------------------------------------- */

static int32_t
s_noise (uint64_t *state, int32_t amplitude)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (int32_t) (*state % (uint64_t) (2 * amplitude + 1)) - amplitude;
}

static double
s_sine (double cycles)
{
    double frac = cycles - floor (cycles);
    return (double) s_sin [(size_t) (frac * S_SIN_TABLE) & (S_SIN_TABLE - 1u)];
}

/*  Fills the next second of a runner's phone in a pocket: gravity spread over a tilted phone,
 *  a vertical bounce and a forward surge at the step rate, rotation at the stride rate, noise
 *  of about 0.2 m/s^2 and 2 deg/s. Units as in ImuBatch (mm/s^2, mdeg/s). */
static void
s_imu_fill (s_device_t *d)
{
    double step = d->cadence_hz / 100.0;
    for (size_t i = 0; i < S_SAMPLES; i++) {
        double p = d->step_phase;
        double up = 9806.65 + 6000.0 * s_sine (p) + 1500.0 * s_sine (2.0 * p + 0.11);
        double fwd = 2000.0 * s_sine (p + 0.2);
        d->axes [0][i] = (int32_t) lrint (0.6 * up + 0.8 * fwd) + s_noise (&d->rng, 200);
        d->axes [1][i] = (int32_t) lrint (0.8 * up - 0.6 * fwd) + s_noise (&d->rng, 200);
        d->axes [2][i] = (int32_t) lrint (0.3 * fwd) + s_noise (&d->rng, 200);
        d->axes [3][i] = (int32_t) lrint (150000.0 * s_sine (p / 2.0)) + s_noise (&d->rng, 2000);
        d->axes [4][i] = (int32_t) lrint (80000.0 * s_sine (p / 2.0 + 0.08))
                       + s_noise (&d->rng, 2000);
        d->axes [5][i] = (int32_t) lrint (40000.0 * s_sine (p / 2.0 + 0.17))
                       + s_noise (&d->rng, 2000);
        d->step_phase += step;
        if (d->step_phase >= 2.0)
            d->step_phase -= 2.0;   /* two steps = one stride: keeps p / 2 continuous */
    }
}

/*  Packs and seals the device's next second of IMU as its next sequence into d->frame.
 *  s_device_send sends it: CW_OK, CW_ENOSPC when the socket would block, or an error. */
static int
s_device_build (s_device_t *d, size_t *frame_len)
{
    s_imu_fill (d);
    Coachwire__ImuBatch imu = COACHWIRE__IMU_BATCH__INIT;
    imu.start_time_ms = cw_now_ms () - 1000u;  /* the second that just ended */
    imu.sample_rate_mhz = S_RATE_MHZ;
    imu.placement = COACHWIRE__IMU_PLACEMENT__IMU_PLACEMENT_POCKET;
    int32_t **fields [6] = { &imu.accel_x_mm_s2, &imu.accel_y_mm_s2, &imu.accel_z_mm_s2,
                             &imu.gyro_x_mdeg_s, &imu.gyro_y_mdeg_s, &imu.gyro_z_mdeg_s };
    size_t *counts [6] = { &imu.n_accel_x_mm_s2, &imu.n_accel_y_mm_s2, &imu.n_accel_z_mm_s2,
                           &imu.n_gyro_x_mdeg_s, &imu.n_gyro_y_mdeg_s, &imu.n_gyro_z_mdeg_s };
    for (int a = 0; a < 6; a++) {
        *fields [a] = d->axes [a];
        *counts [a] = S_SAMPLES;
    }
    Coachwire__SensorBatch batch = COACHWIRE__SENSOR_BATCH__INIT;
    batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_IMU;
    batch.imu = &imu;
    size_t plain_len = coachwire__sensor_batch__get_packed_size (&batch);
    if (plain_len > sizeof d->plain)
        return CW_ETOOBIG;
    coachwire__sensor_batch__pack (&batch, d->plain);
    d->plain_len = plain_len;
    return cw_envelope_seal (d->frame, sizeof d->frame, frame_len, d->payload_key,
                             cw_cred_id (d->cred), S_STREAM_IMU, d->next_sequence, d->plain,
                             plain_len);
}

static int
s_device_send (s_device_t *d)
{
    uint64_t sequence = d->next_sequence;
    size_t frame_len = 0;
    const uint8_t *frame = d->frame;
    if (d->pool && sequence >= d->pool_first && sequence - d->pool_first < d->pool_count) {
        size_t i = (size_t) (sequence - d->pool_first);
        frame = d->pool + i * S_POOL_STRIDE;
        frame_len = d->pool_len [i];
    }
    else {
        int rc = s_device_build (d, &frame_len);
        if (rc != CW_OK)
            return rc;
        if (d->pool)
            d->built_inline++;
    }
    uint64_t now = bench_service_mono_ns ();
    if (zmq_send (d->sock, frame, frame_len, ZMQ_DONTWAIT) != (int) frame_len)
        return zmq_errno () == EAGAIN ? CW_ENOSPC : CW_EIO;
    d->next_sequence++;
    s_slot_t *slot = &d->ring [sequence % S_RING];
    if (slot->sequence)
        d->lost++;                  /* never answered and its slot is needed: count it */
    else
        d->inflight++;
    slot->sequence = sequence;
    slot->sent_ns = now;
    d->sent++;
    d->bytes += frame_len;
    return CW_OK;
}

/*  Receives every downlink queued on the device's socket and settles its frames. */
static void
s_device_receive (s_device_t *d)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    while (zmq_msg_recv (&msg, d->sock, ZMQ_DONTWAIT) >= 0) {
        uint64_t now = bench_service_mono_ns ();
        Coachwire__Downlink *down = coachwire__downlink__unpack (NULL, zmq_msg_size (&msg),
                                                                 zmq_msg_data (&msg));
        if (!down) {
            d->errors++;
            continue;
        }
        uint64_t sequence = 0;
        bool settled = false;
        if (down->body_case == COACHWIRE__DOWNLINK__BODY_ACK) {
            sequence = down->ack->sequence;
            settled = true;
            d->acked++;
            d->last_ack_ns = now;
            if (down->ack->duplicate)
                d->duplicates++;
        }
        else
        if (down->body_case == COACHWIRE__DOWNLINK__BODY_ERROR) {
            sequence = down->error->sequence;
            settled = true;
            if (d->errors++ == 0)
                snprintf (d->first_error, sizeof d->first_error, "%s: %s",
                          cw_errname (down->error->code),
                          down->error->reason ? down->error->reason : "");
        }
        else
        if (down->body_case == COACHWIRE__DOWNLINK__BODY_BACKOFF)
            d->backoffs++;
        coachwire__downlink__free_unpacked (down, NULL);
        if (!settled)
            continue;
        s_slot_t *slot = &d->ring [sequence % S_RING];
        if (slot->sequence != sequence)
            continue;
        if (d->last_ack_ns == now)
            bench_hist_add (&d->hist, (now - slot->sent_ns) / 1000u);
        slot->sequence = 0;
        d->inflight--;
    }
    zmq_msg_close (&msg);
}

/*  Builds and seals the device's next `count` frames into its pool, before the timed phase:
 *  a phone seals its readings on the phone, and the raw baseline sends one prepared message,
 *  so the load generator's share of these two cores is its sending alone. Timestamps are
 *  those of the preparation, seconds before the send: well inside what the gateway accepts. */
static void *
s_device_prepare (void *arg)
{
    s_device_t *d = arg;
    uint64_t first = d->next_sequence;
    size_t built = 0;
    for (; built < d->pool_count; built++) {
        size_t len = 0;
        if (s_device_build (d, &len) != CW_OK || len > S_POOL_STRIDE)
            break;
        memcpy (d->pool + built * S_POOL_STRIDE, d->frame, len);
        d->pool_len [built] = (uint32_t) len;
        d->next_sequence++;
    }
    d->pool_count = built;
    d->pool_first = first;
    d->next_sequence = first;
    return NULL;
}

static void
s_device_unprepare (s_device_t *d)
{
    free (d->pool);
    free (d->pool_len);
    d->pool = NULL;
    d->pool_len = NULL;
    d->pool_count = 0;
}

static void
s_device_reset (s_device_t *d)
{
    memset (&d->hist, 0, sizeof d->hist);
    d->sent = d->acked = d->duplicates = d->errors = d->backoffs = d->lost = d->bytes = 0;
    d->last_ack_ns = 0;
    d->first_error [0] = '\0';
}

/*  One device for one phase: sends until the deadline (flat out: keeps `S_WINDOW` frames in
 *  flight; paced: one frame every 1/rate s on an absolute schedule), then waits for the
 *  outstanding acks for at most S_DRAIN_NS. */
static void *
s_device_thread (void *arg)
{
    s_job_t *job = arg;
    s_device_t *d = job->device;
    uint64_t period_ns = job->rate > 0 ? (uint64_t) (1e9 / job->rate) : 0;
    uint64_t next_due = job->start_ns;
    bench_service_sleep_until (job->start_ns);
    for (;;) {
        uint64_t now = bench_service_mono_ns ();
        bool sending = now < job->deadline_ns && !bench_service_interrupted;
        if (!sending && (d->inflight == 0 || now >= job->deadline_ns + S_DRAIN_NS))
            break;
        if (sending && period_ns == 0) {
            while (d->inflight < job->window && s_device_send (d) == CW_OK)
                ;
        }
        else
        if (sending) {
            while (next_due <= now && d->inflight < S_PACED_INFLIGHT_MAX
                   && s_device_send (d) == CW_OK)
                next_due += period_ns;
            if (next_due <= now && d->inflight >= S_PACED_INFLIGHT_MAX)
                next_due = now + period_ns;     /* shed: the service stalled */
        }
        uint64_t wake = sending ? job->deadline_ns : job->deadline_ns + S_DRAIN_NS;
        if (sending && period_ns && next_due < wake)
            wake = next_due;
        now = bench_service_mono_ns ();
        long timeout_ms = wake > now ? (long) ((wake - now + 999999u) / 1000000u) : 0;
        if (timeout_ms > 100)
            timeout_ms = 100;
        zmq_pollitem_t item = { d->sock, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, timeout_ms) > 0)
            s_device_receive (d);
    }
    d->lost += d->inflight;
    for (size_t i = 0; i < S_RING; i++)
        d->ring [i].sequence = 0;
    d->inflight = 0;
    return NULL;
}

/*  Sends one frame and waits for its ack: proves the handshake, enrollment and validation
 *  before anything is measured. */
static int
s_device_warmup (s_device_t *d)
{
    int rc = s_device_send (d);
    uint64_t deadline = bench_service_mono_ns () + (uint64_t) S_WARMUP_MS * 1000000u;
    while (rc == CW_OK && d->inflight && bench_service_mono_ns () < deadline
           && !bench_service_interrupted) {
        zmq_pollitem_t item = { d->sock, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 100) > 0)
            s_device_receive (d);
    }
    if (rc == CW_OK && (d->inflight || d->errors))
        rc = d->errors ? CW_EINVAL : CW_ETIMEOUT;
    for (size_t i = 0; i < S_RING; i++)
        d->ring [i].sequence = 0;
    d->inflight = 0;
    return rc;
}

/* ---- the bench -------------------------------------------------------------------------- */

typedef struct {
    s_options_t opt;
    bench_service_t svc;
    char bench_path [PATH_MAX];
    cw_store_t *store;          /* our own connection, for the counters */
    void *ctx;
    s_device_t *devices;
    size_t frame_bytes;         /* mean sealed frame size */
    uint64_t hwm_kib;
    double decode_us, open_us;  /* the same work timed alone in the bench, per frame */
    double fast_us;             /* the gateway's IMU fast path (no protobuf-c), alone */
    double build_us;            /* the load generator's IMU fill + pack + seal, per frame */
    double loadavg;             /* 1-minute load average before the run */
    double settle_s;            /* the coach finishing the flat-out phase's frames */
    long cpus;
    s_phase_t flat, paced;
    s_floor_t floor;
    s_raw_t raw;
} s_bench_t;

/*  One person per device, each with a data key, who grants every field for retention: every
 *  frame is stored whole and kept (the full pipeline, not the nothing-granted path, where a
 *  frame is only remembered). The device credentials stay in memory. */
static int
s_enroll (s_bench_t *b)
{
    bench_service_enroll_t e;
    int rc = bench_service_enroll_open (&b->svc, &e, true);
    if (rc == CW_OK)
        rc = bench_service_enroll_begin (&e);
    uint8_t *secret = sodium_malloc (32);
    if (!secret && rc == CW_OK)
        rc = CW_ENOMEM;
    for (int i = 0; rc == CW_OK && i < b->opt.devices; i++) {
        cw_principal_t person, device;
        char name [64];
        snprintf (name, sizeof name, "bench-runner-%d", i);
        rc = bench_service_enroll_person (&e, &person, name, secret);
        cw_consent_change_t change;
        if (rc == CW_OK)
            rc = cw_consent_grant (e.consent, e.ledger, person.id, "*", CW_PURPOSE_RETENTION, 0,
                                   cw_now_ms (), &change);
        snprintf (name, sizeof name, "bench-phone-%d", i);
        if (rc == CW_OK)
            rc = bench_service_enroll_device (&e, &device, &person, name, secret);
        s_device_t *d = &b->devices [i];
        if (rc == CW_OK)
            rc = bench_service_enroll_cred (&e, &device, &person, secret, &d->cred,
                                            &d->payload_key);
    }
    if (secret)
        sodium_free (secret);
    return bench_service_enroll_end (&b->svc, &e, rc, "enrolling devices");
}

/*  Starts `coachwired run` with the group commit options, and waits for DIR/endpoints. */
static int
s_start_service (s_bench_t *b)
{
    char *extra [5];
    int n = 0;
    if (b->opt.commit_frames) {
        extra [n++] = (char *) "--commit-frames";
        extra [n++] = (char *) b->opt.commit_frames;
    }
    if (b->opt.commit_ms) {
        extra [n++] = (char *) "--commit-ms";
        extra [n++] = (char *) b->opt.commit_ms;
    }
    extra [n] = NULL;
    return bench_service_start (&b->svc, extra, S_STARTUP_MS);
}

/*  Gives every device a fresh DEALER (its own keys, the service's public key) connected to
 *  endpoint in d->sock, and proves each with one acknowledged frame. The service's endpoint
 *  sets b->frame_bytes from those frames and shows the service's log on a failure. */
static int
s_connect_devices (s_bench_t *b, const char *endpoint)
{
    bool service = strcmp (endpoint, b->svc.gateway) == 0;
    size_t frames = 0, bytes = 0;
    for (int i = 0; i < b->opt.devices; i++) {
        s_device_t *d = &b->devices [i];
        int rc = bench_service_connect_to (&b->svc, b->ctx, d->cred, endpoint, &d->sock);
        if (rc != CW_OK)
            return rc;
    }
    for (int i = 0; i < b->opt.devices; i++) {
        s_device_t *d = &b->devices [i];
        int rc = s_device_warmup (d);
        if (rc != CW_OK) {
            fprintf (stderr, "cw-bench ingest: device %d: first frame %s%s%s%s\n", i,
                     rc == CW_ETIMEOUT ? "not acknowledged within 10 s" : "refused",
                     service ? "" : " by the floor sink", d->first_error [0] ? ": " : "",
                     d->first_error);
            if (service)
                bench_service_log_tail (&b->svc);
            return rc;
        }
        frames += d->sent;
        bytes += d->bytes;
        s_device_reset (d);
    }
    if (service)
        b->frame_bytes = frames ? (bytes + frames / 2) / frames : 0;
    return CW_OK;
}

static uint64_t
s_thread_cpu_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/*  Times, on this thread's CPU clock, what the gateway does to device 0's last frame in its
 *  open and decode_validate stages, without the store: the rest of those stages is the
 *  service's (the dedup SELECT sits inside decode_validate). */
static int
s_microbench (s_bench_t *b)
{
    s_device_t *d = &b->devices [0];
    cw_pb_alloc_t alloc;
    cw_pb_alloc_init (&alloc, 0);
    uint8_t *plain = malloc (S_PLAIN_MAX);
    int rc = plain ? s_device_send (d) : CW_ENOMEM;    /* a fresh frame; acked meanwhile */
    size_t frame_len = d->plain_len + CW_FRAME_OVERHEAD, plain_len = 0;
    char reason [CW_REASON_MAX];
    cw_frame_header_t h;
    uint64_t t0 = s_thread_cpu_ns ();
    for (int i = 0; rc == CW_OK && i < S_MICRO_ROUNDS; i++)
        rc = cw_envelope_open (plain, S_PLAIN_MAX, &plain_len, &h, d->payload_key,
                               cw_cred_id (d->cred), d->frame, frame_len);
    uint64_t t1 = s_thread_cpu_ns ();
    for (int i = 0; rc == CW_OK && i < S_MICRO_ROUNDS; i++) {
        Coachwire__SensorBatch *batch = NULL;
        rc = cw_batch_decode (&alloc, plain, plain_len, &batch, reason, sizeof reason);
        if (rc == CW_OK)
            rc = cw_batch_validate (batch, S_STREAM_IMU, cw_now_ms (), reason, sizeof reason);
        cw_batch_free (&alloc, &batch);
    }
    uint64_t t2 = s_thread_cpu_ns ();
    for (int i = 0; rc == CW_OK && i < S_MICRO_ROUNDS; i++)
        if (!cw_batch_imu_accept_fast (plain, plain_len, S_STREAM_IMU, cw_now_ms ()))
            rc = CW_EINTERNAL;      /* the bench's frames are what the fast path is for */
    uint64_t t2f = s_thread_cpu_ns ();
    s_device_t *spare = malloc (sizeof *spare);    /* a copy: the real device's frame stays */
    if (!spare && rc == CW_OK)
        rc = CW_ENOMEM;
    if (spare)
        memcpy (spare, d, sizeof *spare);
    size_t spare_len = 0;
    for (int i = 0; rc == CW_OK && i < S_MICRO_ROUNDS; i++)
        rc = s_device_build (spare, &spare_len);
    uint64_t t3 = s_thread_cpu_ns ();
    free (spare);
    if (rc == CW_OK) {
        b->open_us = (double) (t1 - t0) / 1e3 / S_MICRO_ROUNDS;
        b->decode_us = (double) (t2 - t1) / 1e3 / S_MICRO_ROUNDS;
        b->fast_us = (double) (t2f - t2) / 1e3 / S_MICRO_ROUNDS;
        b->build_us = (double) (t3 - t2f) / 1e3 / S_MICRO_ROUNDS;
    }
    else
        fprintf (stderr, "cw-bench ingest: microbench: %s\n", cw_strerror (rc));
    free (plain);
    /* settle the frame sent above so the phases start with nothing in flight */
    uint64_t deadline = bench_service_mono_ns () + (uint64_t) S_WARMUP_MS * 1000000u;
    while (d->inflight && bench_service_mono_ns () < deadline && !bench_service_interrupted) {
        zmq_pollitem_t item = { d->sock, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 100) > 0)
            s_device_receive (d);
    }
    if (rc == CW_OK && d->inflight)
        rc = CW_ETIMEOUT;
    s_device_reset (d);
    return rc;
}

static int
s_any_frame (void *ctx, const cw_stored_frame_t *fr)
{
    (void) fr;
    *(bool *) ctx = true;
    return 0;
}

/*  Before the paced phase: the coach reads every stored frame, and the flat-out phase left it
 *  far behind; catching up, it takes CPU and the write lock from the commits of the next
 *  phase. That is the burst's cost, not the steady state's: let it finish first (as seen
 *  from its saved cursor, which it writes once a second), for at most S_SETTLE_MS. Also
 *  before the floor and raw phases, whose CPU it would take. Adds the wait to settle_s. */
static void
s_settle (s_bench_t *b)
{
    uint64_t t0 = bench_service_mono_ns ();
    uint64_t deadline = t0 + (uint64_t) S_SETTLE_MS * 1000000u;
    bool behind = true;
    while (behind && bench_service_mono_ns () < deadline && !bench_service_interrupted) {
        char text [32];
        long long cursor = 0;
        if (cw_store_meta_get (b->store, "coach.cursor", text, sizeof text) == CW_OK)
            cursor = atoll (text);
        behind = false;
        if (cw_store_frame_each (b->store, NULL, cursor, 1, s_any_frame, &behind) != CW_OK)
            break;
        if (behind)
            bench_service_sleep_until (bench_service_mono_ns () + 200000000u);
    }
    b->settle_s += (double) (bench_service_mono_ns () - t0) / 1e9;
}

/*  Prepares every device's frames for a phase of `frames` per device, one thread each. */
static int
s_prepare (s_bench_t *b, size_t frames)
{
    int n = b->opt.devices;
    pthread_t *threads = calloc ((size_t) n, sizeof *threads);
    int rc = threads ? CW_OK : CW_ENOMEM;
    int started = 0;
    for (int i = 0; rc == CW_OK && i < n; i++) {
        s_device_t *d = &b->devices [i];
        d->pool = malloc (frames * S_POOL_STRIDE);
        d->pool_len = calloc (frames, sizeof *d->pool_len);
        d->pool_count = frames;
        d->built_inline = 0;
        if (!d->pool || !d->pool_len)
            rc = CW_ENOMEM;
        else if (pthread_create (&threads [i], NULL, s_device_prepare, d) != 0)
            rc = CW_ENOMEM;
        else
            started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join (threads [i], NULL);
    free (threads);
    if (rc != CW_OK)
        for (int i = 0; i < n; i++)
            s_device_unprepare (&b->devices [i]);
    return rc;
}

/*  Runs every device's thread for one phase against whatever its socket is connected to,
 *  with the frames s_prepare made (flat out when rate is 0), and gathers what the devices saw
 *  into ph: sends, acks, ack latency, elapsed time, the load generator's CPU. Frees the
 *  prepared frames. The caller measures the other end. */
static int
s_run_devices (s_bench_t *b, s_phase_t *ph, double rate)
{
    int n = b->opt.devices;
    s_job_t *jobs = calloc ((size_t) n, sizeof *jobs);
    pthread_t *threads = calloc ((size_t) n, sizeof *threads);
    bench_hist_t *hist = calloc (1, sizeof *hist);
    int rc = jobs && threads && hist ? CW_OK : CW_ENOMEM;
    if (rc != CW_OK)
        goto done;
    uint64_t client0 = s_self_cpu_ns ();
    uint64_t start = bench_service_mono_ns () + 100000000u;     /* every thread running by then */
    uint64_t deadline = start + (uint64_t) b->opt.seconds * 1000000000u;
    int started = 0;
    for (int i = 0; i < n; i++) {
        s_device_reset (&b->devices [i]);
        jobs [i] = (s_job_t) { &b->devices [i], rate, (size_t) b->opt.window, start, deadline };
        if (pthread_create (&threads [i], NULL, s_device_thread, &jobs [i]) != 0) {
            bench_service_interrupted = 1;      /* the started ones stop at once */
            rc = CW_ENOMEM;
            break;
        }
        started++;
    }
    uint64_t last_ack = start;
    for (int i = 0; i < started; i++) {
        pthread_join (threads [i], NULL);
        s_device_t *d = &b->devices [i];
        ph->sent += d->sent;
        ph->acked += d->acked;
        ph->duplicates += d->duplicates;
        ph->errors += d->errors;
        ph->backoffs += d->backoffs;
        ph->lost += d->lost;
        ph->bytes += d->bytes;
        ph->built_inline += d->built_inline;
        ph->prepared += d->pool_count;
        s_device_unprepare (d);
        if (d->last_ack_ns > last_ack)
            last_ack = d->last_ack_ns;
        if (d->first_error [0] && !ph->first_error [0])
            snprintf (ph->first_error, sizeof ph->first_error, "%s", d->first_error);
        bench_hist_merge (hist, &d->hist);
    }
    if (rc != CW_OK)
        goto done;
    ph->client_ns = s_self_cpu_ns () - client0;
    ph->start_ns = start;
    ph->elapsed_s = (double) (last_ack - start) / 1e9;
    ph->fps = ph->elapsed_s > 0 ? (double) ph->acked / ph->elapsed_s : 0.0;
    ph->p50_ms = bench_hist_quantile_ms (hist, 0.50);
    ph->p99_ms = bench_hist_quantile_ms (hist, 0.99);
    ph->p999_ms = bench_hist_quantile_ms (hist, 0.999);
    ph->max_ms = (double) hist->max_us / 1000.0;
done:
    for (int i = 0; i < n; i++)
        s_device_unprepare (&b->devices [i]);
    free (jobs);
    free (threads);
    free (hist);
    return rc;
}

/*  Frames each device prepares for a phase: enough for the whole phase at rate (0: flat
 *  out, total_per_s across all devices, more than the fastest sink could take), within
 *  S_POOL_BYTES. */
static size_t
s_pool_frames (const s_bench_t *b, double rate, size_t total_per_s)
{
    size_t n = (size_t) b->opt.devices;
    size_t frames = rate > 0 ? (size_t) ceil (rate * b->opt.seconds * 1.05) + 64u
                             : total_per_s / n * (size_t) b->opt.seconds;
    size_t max = (size_t) (S_POOL_BYTES / S_POOL_STRIDE) / n;
    return frames < max ? frames : max;
}

/*  Runs the devices against the service for one phase and measures it. */
static int
s_pipeline_phase (s_bench_t *b, s_phase_t *ph, const char *name, double rate)
{
    memset (ph, 0, sizeof *ph);
    ph->name = name;
    ph->rate = rate;
    s_counters_t c0, c1;
    bench_service_cpu_t p0, p1;
    int rc = s_counters (b->store, &c0);
    if (rc == CW_OK)
        rc = s_prepare (b, s_pool_frames (b, rate, S_POOL_FPS));
    if (rc == CW_OK)
        rc = bench_service_proc_cpu (b->svc.pid, &p0);
    if (rc == CW_OK)
        rc = s_run_devices (b, ph, rate);
    if (rc != CW_OK)
        goto done;
    if ((rc = s_counters (b->store, &c1)) != CW_OK
        || (rc = bench_service_proc_cpu (b->svc.pid, &p1)) != CW_OK)
        goto done;
    ph->ran = true;
    ph->frames = c1.accepted - c0.accepted;
    ph->commits = c1.commits - c0.commits;
    double frames = ph->frames ? (double) ph->frames : 1.0;
    double stages = 0;
    for (int s = 0; s < S_STAGES; s++) {
        ph->stage_us [s] = (double) (c1.stage_ns [s] - c0.stage_ns [s]) / 1e3 / frames;
        stages += ph->stage_us [s];
    }
    ph->io_us = (double) (p1.io_ns - p0.io_ns) / 1e3 / frames;
    ph->gateway_us = (double) (p1.gateway_ns - p0.gateway_ns) / 1e3 / frames;
    ph->total_us = (double) (p1.total_ns - p0.total_ns) / 1e3 / frames;
    ph->other_us = ph->total_us - ph->io_us - stages;
    ph->client_us = (double) ph->client_ns / 1e3 / frames;
    double wall = (double) (bench_service_mono_ns () - ph->start_ns) * 1e-9;
    ph->io_util = (double) (p1.io_ns - p0.io_ns) * 1e-9 / wall;
    ph->gateway_util = (double) (p1.gateway_ns - p0.gateway_ns) * 1e-9 / wall;
    ph->total_util = (double) (p1.total_ns - p0.total_ns) * 1e-9 / wall;
    if (c1.rejected != c0.rejected && ph->errors == 0)
        ph->errors = c1.rejected - c0.rejected;
done:
    for (int i = 0; i < b->opt.devices; i++)
        s_device_unprepare (&b->devices [i]);
    return rc;
}

/* ---- the sinks: this binary again, in a child process ------------------------------------ */

/*  What a sink has seen, reported to the parent as one line of numbers. received and bytes
 *  count every message; the floor sink also counts the frames it could not open or answer. */
typedef struct {
    uint64_t received, bytes, first_ns, last_ns, cpu_ns;
    uint64_t open_failures, ack_failures;
} s_sink_count_t;

static void
s_sink_counted (s_sink_count_t *c, size_t size)
{
    uint64_t now = bench_service_mono_ns ();
    if (c->received++ == 0)
        c->first_ns = now;
    c->last_ns = now;
    c->bytes += size;
}

/*  The child's loop, for either sink: says "ENDPOINT SERVER_PUBLIC_Z85" on stdout, calls
 *  drain whenever sock is readable, and when told the number sent (a line on stdin) waits for
 *  it (at most 5 s without progress), then answers "received bytes first_ns last_ns cpu_ns
 *  open_failures ack_failures". */
static void
s_sink_run (void *sock, const char *server_z85, void (*drain) (void *ctx, s_sink_count_t *c),
            void *ctx)
{
    char endpoint [CW_ENDPOINT_MAX];
    size_t len = sizeof endpoint;
    zmq_getsockopt (sock, ZMQ_LAST_ENDPOINT, endpoint, &len);
    printf ("%s %s\n", endpoint, server_z85);
    fflush (stdout);
    s_sink_count_t c;
    memset (&c, 0, sizeof c);
    uint64_t expected = 0;
    bool told = false;
    char line [64];
    size_t line_len = 0;
    uint64_t progress = bench_service_mono_ns (), started = progress;
    for (;;) {
        zmq_pollitem_t items [] = { { sock, 0, ZMQ_POLLIN, 0 }, { NULL, 0, ZMQ_POLLIN, 0 } };
        int r = zmq_poll (items, told ? 1 : 2, 100);
        uint64_t now = bench_service_mono_ns ();
        if (r > 0 && (items [0].revents & ZMQ_POLLIN)) {
            drain (ctx, &c);
            progress = now = bench_service_mono_ns ();
        }
        if (!told && r > 0 && (items [1].revents & ZMQ_POLLIN)) {
            char ch;
            ssize_t got = read (0, &ch, 1);
            if (got <= 0)
                told = true;            /* the parent went away: report and leave */
            else
            if (ch == '\n' || line_len + 1 >= sizeof line) {
                line [line_len] = '\0';
                expected = strtoull (line, NULL, 10);
                told = true;
                progress = now;
            }
            else
                line [line_len++] = ch;
        }
        if (told && (c.received >= expected || now - progress > 5000000000ull))
            break;
        if (now - started > (uint64_t) (2 * S_SECONDS_MAX) * 1000000000u)
            break;                      /* bounded, whatever the parent does */
    }
    printf ("%llu %llu %llu %llu %llu %llu %llu\n", (unsigned long long) c.received,
            (unsigned long long) c.bytes, (unsigned long long) c.first_ns,
            (unsigned long long) c.last_ns, (unsigned long long) s_self_cpu_ns (),
            (unsigned long long) c.open_failures, (unsigned long long) c.ack_failures);
    fflush (stdout);
}

/*  A sink child, from the parent's side. */
typedef struct {
    pid_t pid;                  /* 0: not running */
    int to_child, from_child;   /* its stdin and stdout; -1: closed */
    char endpoint [CW_ENDPOINT_MAX];
    char server_z85 [41];
} s_sink_t;

/*  Starts `cw-bench ingest MODE [ARG]` and reads where it listens. s_sink_end follows, even
 *  on failure. */
static int
s_sink_start (s_bench_t *b, s_sink_t *sink, const char *mode, const char *arg,
              const char *what)
{
    int to_child [2] = { -1, -1 }, from_child [2] = { -1, -1 };
    memset (sink, 0, sizeof *sink);
    sink->to_child = sink->from_child = -1;
    if (pipe2 (to_child, O_CLOEXEC) != 0 || pipe2 (from_child, O_CLOEXEC) != 0) {
        for (int i = 0; i < 2; i++)
            if (to_child [i] >= 0)
                close (to_child [i]);
        return CW_EIO;
    }
    char *argv [] = { b->bench_path, (char *) "ingest", (char *) mode, (char *) arg, NULL };
    pid_t pid = bench_service_spawn (argv, to_child [0], from_child [1], -1);
    close (to_child [0]);
    close (from_child [1]);
    sink->to_child = to_child [1];
    sink->from_child = from_child [0];
    if (pid < 0)
        return CW_EIO;
    sink->pid = pid;
    char line [CW_ENDPOINT_MAX + 64];
    if (s_read_line (sink->from_child, line, sizeof line, 10000) < 0
        || sscanf (line, "%255s %40s", sink->endpoint, sink->server_z85) != 2) {
        fprintf (stderr, "cw-bench ingest: the %s did not start\n", what);
        return CW_EIO;
    }
    return CW_OK;
}

/*  Tells the sink how many were sent and reads its counts. */
static int
s_sink_report (s_sink_t *sink, uint64_t sent, s_sink_count_t *c, const char *what)
{
    char line [256];
    int len = snprintf (line, sizeof line, "%llu\n", (unsigned long long) sent);
    if (write (sink->to_child, line, (size_t) len) != len)
        return CW_EIO;
    unsigned long long v [7];
    if (s_read_line (sink->from_child, line, sizeof line, 30000) < 0
        || sscanf (line, "%llu %llu %llu %llu %llu %llu %llu", &v [0], &v [1], &v [2], &v [3],
                   &v [4], &v [5], &v [6]) != 7) {
        fprintf (stderr, "cw-bench ingest: the %s did not report\n", what);
        return CW_EIO;
    }
    *c = (s_sink_count_t) { v [0], v [1], v [2], v [3], v [4], v [5], v [6] };
    return CW_OK;
}

/*  Closes its pipes (it reports and leaves on end of input) and waits for it. */
static void
s_sink_end (s_sink_t *sink)
{
    if (sink->to_child >= 0)
        close (sink->to_child);
    if (sink->from_child >= 0)
        close (sink->from_child);
    sink->to_child = sink->from_child = -1;
    if (sink->pid > 0 && bench_service_wait (sink->pid, 5000) == -1)
        bench_service_stop_child ("cw-bench ingest", sink->pid, 10000);
    sink->pid = 0;
}

/* ---- raw CURVE baseline ----------------------------------------------------------------- */

typedef struct {
    void *sock;
    size_t size;
    uint64_t start_ns, deadline_ns;
    uint64_t sent;
} s_pusher_t;

static void *
s_pusher_thread (void *arg)
{
    s_pusher_t *p = arg;
    uint8_t *buf = malloc (p->size);
    if (!buf)
        return NULL;
    randombytes_buf (buf, p->size);     /* ciphertext looks random */
    bench_service_sleep_until (p->start_ns);
    while (!bench_service_interrupted && bench_service_mono_ns () < p->deadline_ns) {
        if (zmq_send (p->sock, buf, p->size, ZMQ_DONTWAIT) == (int) p->size) {
            p->sent++;
            continue;
        }
        if (zmq_errno () != EAGAIN)
            break;
        zmq_pollitem_t item = { p->sock, 0, ZMQ_POLLOUT, 0 };
        zmq_poll (&item, 1, 10);
    }
    free (buf);
    return NULL;
}

static void
s_raw_drain (void *ctx, s_sink_count_t *c)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    while (zmq_msg_recv (&msg, ctx, ZMQ_DONTWAIT) >= 0)
        s_sink_counted (c, zmq_msg_size (&msg));
    zmq_msg_close (&msg);
}

/*  The child side: `cw-bench ingest --raw-sink`. A CURVE PULL on a free loopback port that
 *  only counts what arrives (s_sink_run). */
static int
s_raw_sink (void)
{
    char public_z85 [41], secret_z85 [41];
    if (zmq_curve_keypair (public_z85, secret_z85) != 0)
        return 1;
    void *ctx = zmq_ctx_new ();
    void *pull = zmq_socket (ctx, ZMQ_PULL);
    int one = 1, zero = 0;
    zmq_setsockopt (pull, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (pull, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt (pull, ZMQ_CURVE_SECRETKEY, secret_z85, 40);
    sodium_memzero (secret_z85, sizeof secret_z85);
    if (zmq_bind (pull, "tcp://127.0.0.1:*") != 0) {
        fprintf (stderr, "cw-bench ingest --raw-sink: bind: %s\n", zmq_strerror (zmq_errno ()));
        return 1;
    }
    s_sink_run (pull, public_z85, s_raw_drain, pull);
    zmq_close (pull);
    zmq_ctx_term (ctx);
    return 0;
}

static int
s_raw_phase (s_bench_t *b)
{
    int n = b->opt.devices;
    s_sink_t sink;
    s_pusher_t *pushers = calloc ((size_t) n, sizeof *pushers);
    pthread_t *threads = calloc ((size_t) n, sizeof *threads);
    int started = 0;
    int rc = s_sink_start (b, &sink, "--raw-sink", NULL, "raw CURVE sink");
    if (rc == CW_OK && (!pushers || !threads))
        rc = CW_ENOMEM;
    if (rc != CW_OK)
        goto done;
    for (int i = 0; i < n; i++) {
        char pub [41], sec [41];
        void *s = zmq_socket (b->ctx, ZMQ_PUSH);
        if (!s || zmq_curve_keypair (pub, sec) != 0) {
            rc = CW_EIO;
            goto done;
        }
        int zero = 0;
        zmq_setsockopt (s, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt (s, ZMQ_CURVE_SERVERKEY, sink.server_z85, 40);
        zmq_setsockopt (s, ZMQ_CURVE_PUBLICKEY, pub, 40);
        zmq_setsockopt (s, ZMQ_CURVE_SECRETKEY, sec, 40);
        pushers [i].sock = s;
        pushers [i].size = b->frame_bytes;
        if (zmq_connect (s, sink.endpoint) != 0) {
            rc = CW_EIO;
            goto done;
        }
    }
    uint64_t client0 = s_self_cpu_ns ();
    uint64_t start = bench_service_mono_ns () + 200000000u;     /* handshakes done by then */
    for (int i = 0; i < n; i++) {
        pushers [i].start_ns = start;
        pushers [i].deadline_ns = start + (uint64_t) b->opt.seconds * 1000000000u;
        if (pthread_create (&threads [i], NULL, s_pusher_thread, &pushers [i]) != 0) {
            bench_service_interrupted = 1;
            rc = CW_ENOMEM;
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join (threads [i], NULL);
        b->raw.sent += pushers [i].sent;
    }
    started = 0;
    s_sink_count_t c;
    if (rc == CW_OK)
        rc = s_sink_report (&sink, b->raw.sent, &c, "raw CURVE sink");
    if (rc != CW_OK)
        goto done;
    uint64_t client1 = s_self_cpu_ns ();
    b->raw.ran = true;
    b->raw.received = c.received;
    b->raw.bytes = c.bytes;
    b->raw.elapsed_s = (double) (c.last_ns - c.first_ns) / 1e9;
    b->raw.mps = c.received > 1 && c.last_ns > c.first_ns
               ? (double) (c.received - 1) / b->raw.elapsed_s : 0.0;
    b->raw.sink_cpu_us = c.received ? (double) c.cpu_ns / 1e3 / (double) c.received : 0.0;
    b->raw.client_us = c.received ? (double) (client1 - client0) / 1e3 / (double) c.received
                                  : 0.0;
done:
    for (int i = 0; i < started; i++)
        pthread_join (threads [i], NULL);
    for (int i = 0; pushers && i < n; i++)
        if (pushers [i].sock)
            zmq_close (pushers [i].sock);
    s_sink_end (&sink);
    free (pushers);
    free (threads);
    return rc;
}

/* ---- the floor -------------------------------------------------------------------------- */

/*  One frame's answer, waiting for the rest of its group. */
typedef struct {
    uint8_t routing_id [CW_COMMIT_ROUTING_ID_MAX];
    size_t routing_id_len;
    uint16_t stream;
    uint64_t sequence;
    int rc;                         /* CW_OK: an Ack; else a FrameError with this code */
} s_floor_answer_t;

/*  The floor sink: how the gateway knows a device and its keys, two buffers and the answers
 *  not yet sent. Nothing that decodes, validates, dedups or stores. */
typedef struct {
    void *router;
    const cw_keyring_t *keyring;
    cw_store_t *store;              /* a device's public key, read on its first frame only */
    cw_device_cache_t *devices;     /* the gateway's own table, looked up on every frame */
    uint8_t *plain;                 /* CW_PAYLOAD_MAX_BYTES, sodium memory: it holds readings */
    uint8_t *sealed;                /* CW_PAYLOAD_MAX_BYTES + CW_STORED_OVERHEAD */
    s_floor_answer_t *answers;      /* S_FLOOR_GROUP */
    size_t answer_count;
} s_floor_sink_t;

/*  The device's entry. On its first frame its payload key is derived as the gateway's
 *  s_device derives it; random bytes stand in for its person's unwrapped data key (the same
 *  cost to seal under). NULL when the device is not enrolled. */
static cw_device_entry_t *
s_floor_device (s_floor_sink_t *self, const uint8_t *device_id)
{
    cw_device_entry_t *dev = cw_device_cache_get (self->devices, device_id);
    if (dev)
        return dev;
    cw_principal_t p;
    if (cw_store_principal_by_id (self->store, device_id, &p) != CW_OK
        || p.kind != CW_PRINCIPAL_DEVICE)
        return NULL;
    uint8_t *keys = sodium_malloc (2 * CW_KEY_BYTES);
    if (!keys)
        return NULL;
    if (cw_payload_key_derive (keys, cw_keyring_server_secret (self->keyring), p.public_key,
                               p.public_key, cw_keyring_server_public (self->keyring),
                               device_id) == CW_OK) {
        randombytes_buf (keys + CW_KEY_BYTES, CW_KEY_BYTES);
        dev = cw_device_cache_put (self->devices, device_id, p.owner_id, keys,
                                   keys + CW_KEY_BYTES);
    }
    sodium_free (keys);
    return dev;
}

/*  Sends the waiting answers, each built, packed and sent as the gateway's ack path does
 *  (s_group_done, s_send_downlink): an Ack, or for a frame that did not open a FrameError,
 *  so that its device settles it. */
static void
s_floor_answer_all (s_floor_sink_t *self, s_sink_count_t *c)
{
    for (size_t i = 0; i < self->answer_count; i++) {
        const s_floor_answer_t *a = &self->answers [i];
        Coachwire__Ack ack = COACHWIRE__ACK__INIT;
        Coachwire__FrameError err = COACHWIRE__FRAME_ERROR__INIT;
        Coachwire__Downlink down = COACHWIRE__DOWNLINK__INIT;
        if (a->rc == CW_OK) {
            ack.stream = a->stream;
            ack.sequence = a->sequence;
            down.body_case = COACHWIRE__DOWNLINK__BODY_ACK;
            down.ack = &ack;
        }
        else {
            err.stream = a->stream;
            err.sequence = a->sequence;
            err.code = a->rc;
            err.reason = (char *) cw_strerror (a->rc);
            down.body_case = COACHWIRE__DOWNLINK__BODY_ERROR;
            down.error = &err;
        }
        uint8_t buf [512];
        size_t len = coachwire__downlink__get_packed_size (&down);
        if (len > sizeof buf) {
            c->ack_failures++;
            continue;
        }
        coachwire__downlink__pack (&down, buf);
        if (zmq_send (self->router, a->routing_id, a->routing_id_len,
                      ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0
            || zmq_send (self->router, buf, len, ZMQ_DONTWAIT) < 0)
            c->ack_failures++;
    }
    self->answer_count = 0;
}

/*  One frame, the contract's per-frame work in the gateway's order: peek, the device by the
 *  key its handshake authenticated (never by the frame), open, re-seal, wipe; its answer
 *  waits for the group. A frame that does not open is a bench bug, counted. */
static void
s_floor_frame (s_floor_sink_t *self, zmq_msg_t *rid, zmq_msg_t *msg, s_sink_count_t *c)
{
    if (zmq_msg_size (rid) > CW_COMMIT_ROUTING_ID_MAX) {
        c->open_failures++;         /* the gateway drops it unanswered; not from the bench */
        return;
    }
    const uint8_t *frame = zmq_msg_data (msg);
    size_t frame_len = zmq_msg_size (msg);
    cw_frame_header_t h;
    memset (&h, 0, sizeof h);
    int rc = cw_envelope_peek (&h, frame, frame_len);
    const char *user_id_hex = rc == CW_OK ? zmq_msg_gets (msg, "User-Id") : NULL;
    uint8_t device_id [CW_ID_BYTES];
    if (rc == CW_OK
        && (!user_id_hex || cw_hex_decode (device_id, CW_ID_BYTES, user_id_hex) != CW_OK))
        rc = CW_EUNKNOWNKEY;
    cw_device_entry_t *dev = NULL;
    if (rc == CW_OK && !(dev = s_floor_device (self, device_id)))
        rc = CW_EUNKNOWNKEY;
    size_t plain_len = 0;
    if (rc == CW_OK)
        rc = cw_envelope_open (self->plain, CW_PAYLOAD_MAX_BYTES, &plain_len, &h,
                               cw_device_cache_payload_key (self->devices, dev), device_id,
                               frame, frame_len);
    if (rc == CW_OK) {
        cw_stored_seal (self->sealed, cw_device_cache_person_key (self->devices, dev),
                        device_id, dev->user_id, h.stream, h.sequence, self->plain, plain_len);
        sodium_memzero (self->plain, plain_len);
    }
    else
        c->open_failures++;
    s_floor_answer_t *a = &self->answers [self->answer_count++];
    memcpy (a->routing_id, zmq_msg_data (rid), zmq_msg_size (rid));
    a->routing_id_len = zmq_msg_size (rid);
    a->stream = h.stream;
    a->sequence = h.sequence;
    a->rc = rc;
}

/*  Everything queued on the ROUTER, frame by frame on this one thread; the answers leave in
 *  groups of up to S_FLOOR_GROUP, and whenever nothing more is queued. The gateway acks a
 *  committed group together, too: answering each frame at once costs libzmq's I/O thread
 *  about 3 us a frame more (its writes no longer batch), which is no part of the contract. */
static void
s_floor_drain (void *ctx, s_sink_count_t *c)
{
    s_floor_sink_t *self = ctx;
    zmq_msg_t rid, msg;
    zmq_msg_init (&rid);
    zmq_msg_init (&msg);
    while (zmq_msg_recv (&rid, self->router, ZMQ_DONTWAIT) >= 0) {
        if (!zmq_msg_more (&rid) || zmq_msg_recv (&msg, self->router, 0) < 0)
            continue;
        s_sink_counted (c, zmq_msg_size (&msg));
        if (zmq_msg_more (&msg)) {
            /* not a frame (the bench sends one part): dropped whole, and a failure */
            while (zmq_msg_more (&msg) && zmq_msg_recv (&msg, self->router, 0) >= 0)
                ;
            c->open_failures++;
            continue;
        }
        s_floor_frame (self, &rid, &msg, c);
        if (self->answer_count == S_FLOOR_GROUP)
            s_floor_answer_all (self, c);
    }
    s_floor_answer_all (self, c);
    zmq_msg_close (&rid);
    zmq_msg_close (&msg);
}

/*  The child side: `cw-bench ingest --floor-sink DIR`, with the keys and store of the service
 *  in DIR: the real ZAP handler (it gives each connection its device's User-Id), a ROUTER
 *  with the gateway's CURVE keys and the socket options that bear on its cost, and
 *  s_floor_drain on this thread (s_sink_run). */
static int
s_floor_sink (const char *dir)
{
    s_floor_sink_t self;
    memset (&self, 0, sizeof self);
    cw_server_config_t config;
    memset (&config, 0, sizeof config);
    snprintf (config.data_dir, sizeof config.data_dir, "%s", dir);
    snprintf (config.db_path, sizeof config.db_path, "%s/coachwire.db", dir);
    cw_keyring_t *keyring = NULL;
    cw_zap_t *zap = NULL;
    int rc = sodium_init () < 0 ? CW_EINTERNAL : CW_OK;
    if (rc == CW_OK)
        rc = cw_keyring_load (&keyring, dir);
    config.keyring = keyring;
    self.keyring = keyring;
    if (rc == CW_OK) {
        config.zmq_ctx = zmq_ctx_new ();
        rc = config.zmq_ctx ? CW_OK : CW_ENOMEM;
    }
    if (rc == CW_OK)
        rc = cw_zap_start (&zap, &config);      /* before the CURVE socket binds */
    if (rc == CW_OK)
        rc = cw_store_open (&self.store, config.db_path, false);
    if (rc == CW_OK)
        rc = cw_device_cache_new (&self.devices);
    if (rc == CW_OK) {
        self.plain = sodium_malloc (CW_PAYLOAD_MAX_BYTES);
        self.sealed = malloc (CW_PAYLOAD_MAX_BYTES + CW_STORED_OVERHEAD);
        self.answers = calloc (S_FLOOR_GROUP, sizeof *self.answers);
        self.router = zmq_socket (config.zmq_ctx, ZMQ_ROUTER);
        rc = self.plain && self.sealed && self.answers && self.router ? CW_OK : CW_ENOMEM;
    }
    if (rc == CW_OK) {
        int one = 1, zero = 0, hwm = S_FLOOR_HWM, backlog = S_FLOOR_BACKLOG;
        int64_t maxmsg = CW_GATEWAY_MAXMSGSIZE;
        zmq_setsockopt (self.router, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt (self.router, ZMQ_CURVE_SERVER, &one, sizeof one);
        zmq_setsockopt (self.router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
        zmq_setsockopt (self.router, ZMQ_CURVE_SECRETKEY, cw_keyring_server_secret (keyring),
                        CW_KEY_BYTES);
        zmq_setsockopt (self.router, ZMQ_ZAP_DOMAIN, CW_ZAP_DOMAIN_GATEWAY,
                        strlen (CW_ZAP_DOMAIN_GATEWAY));
        zmq_setsockopt (self.router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        zmq_setsockopt (self.router, ZMQ_SNDHWM, &hwm, sizeof hwm);
        zmq_setsockopt (self.router, ZMQ_RCVHWM, &hwm, sizeof hwm);
        zmq_setsockopt (self.router, ZMQ_BACKLOG, &backlog, sizeof backlog);
        if (zmq_bind (self.router, "tcp://127.0.0.1:*") != 0)
            rc = CW_EIO;
    }
    if (rc == CW_OK) {
        char server_z85 [41];
        cw_key_to_z85 (server_z85, cw_keyring_server_public (keyring));
        s_sink_run (self.router, server_z85, s_floor_drain, &self);
    }
    else
        fprintf (stderr, "cw-bench ingest --floor-sink: %s\n", cw_strerror (rc));
    if (self.router)
        zmq_close (self.router);
    cw_zap_destroy (&zap);
    if (config.zmq_ctx)
        zmq_ctx_term (config.zmq_ctx);
    cw_device_cache_destroy (&self.devices);
    cw_store_destroy (&self.store);
    if (self.plain)
        sodium_free (self.plain);
    free (self.sealed);
    free (self.answers);
    cw_keyring_destroy (&keyring);
    return rc == CW_OK ? 0 : 1;
}

/*  The floor phase: the flat-out phase's devices, threads, prepared frames and window, each
 *  device on a second DEALER (its keys, the service's public key) to the floor sink; its
 *  service socket waits, idle, and comes back afterwards. The frames continue the devices'
 *  sequences, sealed under their real payload keys. */
static int
s_floor_phase (s_bench_t *b)
{
    int n = b->opt.devices;
    s_floor_t *fl = &b->floor;
    s_phase_t *ph = &fl->load;
    memset (fl, 0, sizeof *fl);
    ph->name = "floor";
    s_sink_t sink;
    int rc = s_sink_start (b, &sink, "--floor-sink", b->svc.dir, "floor sink");
    void **service_socks = calloc ((size_t) n, sizeof *service_socks);
    if (!service_socks) {
        rc = CW_ENOMEM;
        goto done;
    }
    for (int i = 0; i < n; i++) {
        service_socks [i] = b->devices [i].sock;
        b->devices [i].sock = NULL;
    }
    if (rc == CW_OK)
        rc = s_connect_devices (b, sink.endpoint);
    if (rc == CW_OK)
        rc = s_prepare (b, s_pool_frames (b, 0.0, S_FLOOR_POOL_FPS));
    bench_service_cpu_t s0, s1, v0, v1;
    if (rc == CW_OK && (rc = bench_service_proc_cpu (sink.pid, &s0)) == CW_OK)
        rc = bench_service_proc_cpu (b->svc.pid, &v0);
    if (rc == CW_OK)
        rc = s_run_devices (b, ph, 0.0);
    if (rc == CW_OK && (rc = bench_service_proc_cpu (sink.pid, &s1)) == CW_OK)
        rc = bench_service_proc_cpu (b->svc.pid, &v1);
    double wall = (double) (bench_service_mono_ns () - ph->start_ns) * 1e-9;
    s_sink_count_t c;
    /* each device also sent its warm-up frame; everything is acked or refused by now */
    if (rc == CW_OK)
        rc = s_sink_report (&sink, (uint64_t) n + ph->sent, &c, "floor sink");
    if (rc != CW_OK)
        goto done;
    double frames = ph->acked ? (double) ph->acked : 1.0;
    ph->ran = true;
    ph->frames = ph->acked;
    ph->client_us = (double) ph->client_ns / 1e3 / frames;
    fl->open_failures = c.open_failures;
    fl->ack_failures = c.ack_failures;
    fl->sink_cpu_us = (double) (s1.total_ns - s0.total_ns) / 1e3 / frames;
    fl->sink_io_us = (double) (s1.io_ns - s0.io_ns) / 1e3 / frames;
    fl->service_util = (double) (v1.total_ns - v0.total_ns) * 1e-9 / wall;
done:
    for (int i = 0; service_socks && i < n; i++) {
        s_device_t *d = &b->devices [i];
        if (d->sock)
            zmq_close (d->sock);
        d->sock = service_socks [i];
    }
    for (int i = 0; i < n; i++)
        s_device_unprepare (&b->devices [i]);
    s_sink_end (&sink);
    free (service_socks);
    return rc;
}

/* ---- report ----------------------------------------------------------------------------- */

static const char *
s_verdict (bool pass)
{
    return pass ? "PASS" : "FAIL";
}

static double
s_phase_mb_s (const s_phase_t *ph)
{
    return ph->elapsed_s > 0 ? (double) ph->bytes / ph->elapsed_s / 1e6 : 0.0;
}

/*  The floor sink opens its own devices' frames: anything not opened and acked is the
 *  bench's bug, not a measurement. */
static bool
s_floor_failed (const s_floor_t *fl)
{
    return fl->load.ran && (fl->open_failures || fl->ack_failures || fl->load.errors
                            || fl->load.lost || fl->load.backoffs);
}

typedef struct {
    const char *label;
    double a, c;                /* flat out (or the only phase), half peak */
} s_row_t;

static void
s_print_text (const s_bench_t *b)
{
    const s_phase_t *main_phase = b->flat.ran ? &b->flat : &b->paced;
    printf ("cw-bench ingest: %d devices, %d s per phase; a frame is 1 s of 100 Hz IMU = 100 "
            "samples (one sample = one 6-axis reading: accel x/y/z + gyro x/y/z), %zu bytes "
            "sealed\n", b->opt.devices, b->opt.seconds, b->frame_bytes);
    printf ("service: coachwired pid %d, commit %s frames / %s ms; data in %s%s\n",
            (int) b->svc.pid, b->opt.commit_frames ? b->opt.commit_frames : "256 (default)",
            b->opt.commit_ms ? b->opt.commit_ms : "0 (default)", b->svc.dir,
            b->svc.tmpfs ? " (tmpfs: fsync is free)" : "");
    printf ("machine: %ld CPUs online, 1-minute load average %.2f before the run%s\n", b->cpus,
            b->loadavg, b->loadavg > 0.5 ? " (others are using the CPUs: figures are lower)"
                                         : "");
    printf ("load: one DEALER + CURVE per device thread, %d frames in flight per device flat "
            "out; one client libzmq I/O thread\n\n", b->opt.window);

    printf ("%-34s %12s %12s %12s\n", "throughput", "frames/s", "samples/s", "MB/s");
    const s_phase_t *phases [2] = { &b->flat, &b->paced };
    for (int i = 0; i < 2; i++) {
        const s_phase_t *ph = phases [i];
        if (!ph->ran)
            continue;
        char label [64];
        if (ph->rate > 0)
            snprintf (label, sizeof label, "  pipeline, %s (%.1f/s/dev)", ph->name, ph->rate);
        else
            snprintf (label, sizeof label, "  pipeline, %s", ph->name);
        printf ("%-34s %12.1f %12.0f %12.2f\n", label, ph->fps, ph->fps * S_SAMPLES,
                s_phase_mb_s (ph));
    }
    const s_phase_t *fl = b->floor.load.ran ? &b->floor.load : NULL;
    if (fl)
        printf ("%-34s %12.1f %12.0f %12.2f\n", "  floor: open + re-seal + ack only", fl->fps,
                fl->fps * S_SAMPLES, s_phase_mb_s (fl));
    if (b->raw.ran)
        printf ("%-34s %12.1f %12.0f %12.2f\n", "  raw CURVE PUSH/PULL, same size", b->raw.mps,
                b->raw.mps * S_SAMPLES, b->raw.mps * (double) b->frame_bytes / 1e6);
    if (b->flat.ran && b->raw.ran && b->raw.mps > 0) {
        double ratio = b->flat.fps / b->raw.mps;
        printf ("  ratio pipeline/raw               %12.2f   target >= %.2f: %s\n", ratio,
                S_TARGET_RATIO, s_verdict (ratio >= S_TARGET_RATIO));
    }
    if (fl && b->raw.ran && b->raw.mps > 0) {
        double ratio = fl->fps / b->raw.mps;
        printf ("  ratio floor/raw                  %12.2f   the ceiling of pipeline/raw here%s\n",
                ratio, ratio < S_TARGET_RATIO ? ": below the target" : "");
    }
    if (fl && b->flat.ran && fl->fps > 0)
        printf ("  ratio pipeline/floor             %12.2f\n", b->flat.fps / fl->fps);

    printf ("\n%-34s %8s %8s %8s %8s %10s\n", "ack latency (ms)", "p50", "p99", "p99.9", "max",
            "acked");
    for (int i = 0; i < 2; i++) {
        const s_phase_t *ph = phases [i];
        if (!ph->ran)
            continue;
        char label [64];
        snprintf (label, sizeof label, "  %s", ph->name);
        printf ("%-34s %8.2f %8.2f %8.2f %8.2f %10llu\n", label, ph->p50_ms, ph->p99_ms,
                ph->p999_ms, ph->max_ms, (unsigned long long) ph->acked);
    }
    if (fl)
        printf ("%-34s %8.2f %8.2f %8.2f %8.2f %10llu\n", "  floor", fl->p50_ms,
                fl->p99_ms, fl->p999_ms, fl->max_ms, (unsigned long long) fl->acked);
    if (b->opt.half_peak && b->paced.ran)
        printf ("  p99 at half of peak              %8.2f   target <= %.0f ms: %s\n"
                "  (before it, %.1f s for the coach to finish the flat-out phase's frames)\n",
                b->paced.p99_ms, S_TARGET_P99_MS, s_verdict (b->paced.p99_ms <= S_TARGET_P99_MS),
                b->settle_s);
    else
    if (!b->opt.half_peak)
        printf ("  (the latency target, p99 <= %.0f ms, is judged at half of peak: "
                "--half-peak)\n", S_TARGET_P99_MS);

    printf ("\nwhere the time goes: service CPU us per frame %s\n",
            b->flat.ran && b->paced.ran ? "(flat out | half peak)" : "");
    s_row_t rows [12];
    int nrows = 0;
    const s_phase_t *f = main_phase, *p = b->flat.ran && b->paced.ran ? &b->paced : NULL;
#define S_ROW(l, field) rows [nrows++] = (s_row_t) { l, f->field, p ? p->field : 0 }
    S_ROW ("transport: libzmq I/O thread", io_us);
    S_ROW ("transport: recv on gateway thread", stage_us [0]);
    S_ROW ("open (AEAD, device key)", stage_us [1]);
    S_ROW ("dedup lookup + decode + validate", stage_us [2]);
    S_ROW ("re-seal (person key)", stage_us [3]);
    S_ROW ("commit: inserts (committer thread)", stage_us [4]);
    S_ROW ("ack", stage_us [5]);
    S_ROW ("other: WAL sync, checkpoint, coach", other_us);
    S_ROW ("total service CPU", total_us);
    S_ROW ("  of which the gateway thread", gateway_us);
    S_ROW ("load generator CPU (bench process)", client_us);
#undef S_ROW
    for (int i = 0; i < nrows; i++) {
        if (p)
            printf ("  %-38s %9.1f | %9.1f\n", rows [i].label, rows [i].a, rows [i].c);
        else
            printf ("  %-38s %9.1f\n", rows [i].label, rows [i].a);
    }
    printf ("  %-38s %9.0f%s", "frames per group commit",
            f->commits ? (double) f->frames / (double) f->commits : 0.0, p ? " | " : "\n");
    if (p)
        printf ("%9.0f\n", p->commits ? (double) p->frames / (double) p->commits : 0.0);
    printf ("  %-38s %8.0f%%%s", "busy: libzmq I/O thread", f->io_util * 100, p ? " | " : "\n");
    if (p)
        printf ("%8.0f%%\n", p->io_util * 100);
    printf ("  %-38s %8.0f%%%s", "busy: gateway thread", f->gateway_util * 100,
            p ? " | " : "\n");
    if (p)
        printf ("%8.0f%%\n", p->gateway_util * 100);
    printf ("  %-38s %8.0f%%%s", "busy: whole service (of one core)", f->total_util * 100,
            p ? " | " : "\n");
    if (p)
        printf ("%8.0f%%\n", p->total_util * 100);
    if (b->raw.ran)
        printf ("  %-38s %9.1f   (load generator %.1f)\n", "raw CURVE sink CPU us per message",
                b->raw.sink_cpu_us, b->raw.client_us);
    if (fl)
        printf ("  %-38s %9.1f   (libzmq I/O thread %.1f, the rest %.1f; load generator %.1f)\n",
                "floor sink CPU us per frame", b->floor.sink_cpu_us, b->floor.sink_io_us,
                b->floor.sink_cpu_us - b->floor.sink_io_us, fl->client_us);
    if (fl && b->floor.service_util >= 0.05)
        printf ("  (coachwired used %.0f%% of a core during the floor phase: the floor is low)\n",
                b->floor.service_util * 100);
    printf ("  %-38s %9.1f MiB\n", "service peak RSS (VmHWM)", (double) b->hwm_kib / 1024.0);
    printf ("  %-38s %9.1f   (the gateway checks IMU frames by the fast path: %.1f)\n",
            "decode + validate alone, protobuf-c", b->decode_us, b->fast_us);
    printf ("  %-38s %9.1f\n", "open alone (in the bench)", b->open_us);
    printf ("  %-38s %9.1f   (done before each phase: %llu frames prepared, %llu built "
            "during it)\n", "load generator: fill+pack+seal a frame", b->build_us,
            (unsigned long long) (b->flat.prepared + b->paced.prepared
                                  + b->floor.load.prepared),
            (unsigned long long) (b->flat.built_inline + b->paced.built_inline
                                  + b->floor.load.built_inline));
    for (int i = 0; i < 2; i++) {
        const s_phase_t *ph = phases [i];
        if (ph->ran && (ph->errors || ph->lost || ph->backoffs || ph->duplicates))
            printf ("\nWARNING %s: %llu refused, %llu unacknowledged, %llu backoffs, %llu "
                    "duplicates%s%s\n", ph->name, (unsigned long long) ph->errors,
                    (unsigned long long) ph->lost, (unsigned long long) ph->backoffs,
                    (unsigned long long) ph->duplicates, ph->first_error [0] ? "; first: " : "",
                    ph->first_error);
    }
    if (s_floor_failed (&b->floor))
        printf ("\nWARNING floor (a bench bug): %llu frames not opened, %llu answers not sent, "
                "%llu refused, %llu unacknowledged%s%s\n",
                (unsigned long long) b->floor.open_failures,
                (unsigned long long) b->floor.ack_failures, (unsigned long long) fl->errors,
                (unsigned long long) fl->lost, fl->first_error [0] ? "; first: " : "",
                fl->first_error);
}

static void
s_print_json_phase (const s_phase_t *ph)
{
    printf ("{\"rate_per_device\":%.3f,\"frames_per_s\":%.1f,\"samples_per_s\":%.0f,"
            "\"sent\":%llu,\"acked\":%llu,\"refused\":%llu,\"unacked\":%llu,"
            "\"duplicates\":%llu,\"backoffs\":%llu,\"seconds\":%.3f,"
            "\"ack_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},"
            "\"cpu_us_per_frame\":{\"transport_io_thread\":%.2f,\"transport_recv\":%.2f,"
            "\"open\":%.2f,\"decode_validate\":%.2f,\"reseal\":%.2f,\"commit\":%.2f,"
            "\"ack\":%.2f,\"other\":%.2f,\"service_total\":%.2f,\"gateway_thread\":%.2f,"
            "\"load_generator\":%.2f},\"frames_per_commit\":%.1f,"
            "\"busy\":{\"io_thread\":%.3f,\"gateway_thread\":%.3f,\"service\":%.3f}}",
            ph->rate, ph->fps, ph->fps * S_SAMPLES, (unsigned long long) ph->sent,
            (unsigned long long) ph->acked, (unsigned long long) ph->errors,
            (unsigned long long) ph->lost, (unsigned long long) ph->duplicates,
            (unsigned long long) ph->backoffs, ph->elapsed_s, ph->p50_ms, ph->p99_ms,
            ph->p999_ms, ph->max_ms, ph->io_us, ph->stage_us [0], ph->stage_us [1],
            ph->stage_us [2], ph->stage_us [3], ph->stage_us [4], ph->stage_us [5],
            ph->other_us, ph->total_us, ph->gateway_us, ph->client_us,
            ph->commits ? (double) ph->frames / (double) ph->commits : 0.0, ph->io_util,
            ph->gateway_util, ph->total_util);
}

static void
s_print_json (const s_bench_t *b)
{
    printf ("{\"devices\":%d,\"seconds\":%d,\"window\":%d,\"frame_bytes\":%zu,"
            "\"samples_per_frame\":%u,\"sample\":\"one 6-axis reading\","
            "\"commit_frames\":\"%s\",\"commit_ms\":\"%s\",\"tmpfs\":%s,"
            "\"service_vmhwm_kib\":%llu,\"decode_validate_alone_us\":%.2f,"
            "\"imu_fast_path_alone_us\":%.2f,\"open_alone_us\":%.2f,"
            "\"frame_build_us\":%.2f,\"cpus\":%ld,\"loadavg_before\":%.2f",
            b->opt.devices, b->opt.seconds, b->opt.window, b->frame_bytes, S_SAMPLES,
            b->opt.commit_frames ? b->opt.commit_frames : "default",
            b->opt.commit_ms ? b->opt.commit_ms : "default", b->svc.tmpfs ? "true" : "false",
            (unsigned long long) b->hwm_kib, b->decode_us, b->fast_us, b->open_us, b->build_us,
            b->cpus,
            b->loadavg);
    if (b->flat.ran) {
        printf (",\"flat_out\":");
        s_print_json_phase (&b->flat);
    }
    if (b->paced.ran) {
        printf (",\"%s\":", b->opt.half_peak ? "half_peak" : "paced");
        s_print_json_phase (&b->paced);
    }
    if (b->raw.ran)
        printf (",\"raw_curve\":{\"messages_per_s\":%.1f,\"sent\":%llu,\"received\":%llu,"
                "\"sink_cpu_us_per_message\":%.2f,\"load_generator_cpu_us_per_message\":%.2f}",
                b->raw.mps, (unsigned long long) b->raw.sent,
                (unsigned long long) b->raw.received, b->raw.sink_cpu_us, b->raw.client_us);
    if (b->flat.ran && b->raw.ran && b->raw.mps > 0) {
        double ratio = b->flat.fps / b->raw.mps;
        printf (",\"ratio_pipeline_raw\":%.3f,\"ratio_target\":%.2f,\"ratio_pass\":%s", ratio,
                S_TARGET_RATIO, ratio >= S_TARGET_RATIO ? "true" : "false");
    }
    const s_floor_t *fl = &b->floor;
    if (fl->load.ran) {
        const s_phase_t *ph = &fl->load;
        printf (",\"floor\":{\"frames_per_s\":%.1f,\"samples_per_s\":%.0f,\"mb_per_s\":%.2f,"
                "\"sent\":%llu,\"acked\":%llu,\"refused\":%llu,\"unacked\":%llu,"
                "\"open_failures\":%llu,\"answers_not_sent\":%llu,\"seconds\":%.3f,"
                "\"ack_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},"
                "\"cpu_us_per_frame\":{\"sink_total\":%.2f,\"sink_io_thread\":%.2f,"
                "\"sink_rest\":%.2f,\"load_generator\":%.2f},\"service_busy_meanwhile\":%.3f}",
                ph->fps, ph->fps * S_SAMPLES, s_phase_mb_s (ph), (unsigned long long) ph->sent,
                (unsigned long long) ph->acked, (unsigned long long) ph->errors,
                (unsigned long long) ph->lost, (unsigned long long) fl->open_failures,
                (unsigned long long) fl->ack_failures, ph->elapsed_s, ph->p50_ms, ph->p99_ms,
                ph->p999_ms, ph->max_ms, fl->sink_cpu_us, fl->sink_io_us,
                fl->sink_cpu_us - fl->sink_io_us, ph->client_us, fl->service_util);
        if (b->raw.ran && b->raw.mps > 0)
            printf (",\"ratio_floor_raw\":%.3f", ph->fps / b->raw.mps);
        if (b->flat.ran && ph->fps > 0)
            printf (",\"ratio_pipeline_floor\":%.3f", b->flat.fps / ph->fps);
    }
    if (b->opt.half_peak && b->paced.ran)
        printf (",\"p99_target_ms\":%.1f,\"p99_pass\":%s", S_TARGET_P99_MS,
                b->paced.p99_ms <= S_TARGET_P99_MS ? "true" : "false");
    printf ("}\n");
}

/* ---- options and main ------------------------------------------------------------------- */

static const char s_usage [] =
    "usage: cw-bench ingest [--devices N] [--seconds S] [--rate R | --half-peak]\n"
    "                       [--window N] [--commit-frames N] [--commit-ms MS] [--json]\n"
    "                       [--keep DIR]"
    " [--coachwired PATH] [--no-floor]\n"
    "\n"
    "Starts the real coachwired (init + run, a child process on 127.0.0.1), enrolls N\n"
    "devices and sends real sealed frames (1 s of 100 Hz IMU each) over CURVE from N\n"
    "threads; then the same load against a floor sink that only opens, re-seals and acks\n"
    "each frame (the wire contract's per-frame work, nothing else); then raw libzmq CURVE\n"
    "PUSH/PULL with the same message size and sender count. Prints frames/s, samples/s, ack\n"
    "latency p50/p99/p99.9, the pipeline/raw and floor/raw ratios and the CPU per frame of\n"
    "the service in each stage and of the sinks.\n"
    "\n"
    "  --devices N        simulated devices, one thread each (default 8, at most 256)\n"
    "  --seconds S        length of each phase (default 10)\n"
    "  --rate R           frames/s per device (default 0 = flat out)\n"
    "  --window N         flat out: frames in flight per device (default 64, at most 512)\n"
    "  --half-peak        flat out, then paced at half the measured peak; judges ack p99\n"
    "  --commit-frames N  passed to coachwired run (group commit size)\n"
    "  --commit-ms MS     passed to coachwired run (how long a group may gather)\n"
    "  --json             one JSON object on stdout instead of the table\n"
    "  --keep DIR         use DIR (new) as the data directory and keep it afterwards\n"
    "  --coachwired PATH  the service binary (default: coach/coachwired of this build tree)\n"
    "  --no-floor         skip the floor phase\n"
    "\n"
    "Targets (issue 2): pipeline >= 0.5 x raw CURVE; ack p99 <= 15 ms at half of peak.\n"
    "PASS/FAIL is printed; the exit status is 0 unless the bench itself failed (a frame\n"
    "the floor sink could not open or answer is such a failure).\n";

static int
s_parse (int argc, char **argv, s_options_t *o)
{
    static const struct option options [] = {
        { "devices", required_argument, NULL, 'd' },
        { "seconds", required_argument, NULL, 's' },
        { "rate", required_argument, NULL, 'r' },
        { "half-peak", no_argument, NULL, 'H' },
        { "commit-frames", required_argument, NULL, 'f' },
        { "commit-ms", required_argument, NULL, 'm' },
        { "window", required_argument, NULL, 'w' },
        { "json", no_argument, NULL, 'j' },
        { "keep", required_argument, NULL, 'k' },
        { "coachwired", required_argument, NULL, 'c' },
        { "no-floor", no_argument, NULL, 'F' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 } };
    long v = 0;
    char *end = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
            case 'd':
                if (bench_service_parse_long (optarg, 1, S_DEVICES_MAX, &v) != CW_OK)
                    return CW_EINVAL;
                o->devices = (int) v;
                break;
            case 's':
                if (bench_service_parse_long (optarg, 1, S_SECONDS_MAX, &v) != CW_OK)
                    return CW_EINVAL;
                o->seconds = (int) v;
                break;
            case 'r':
                o->rate = strtod (optarg, &end);
                if (end == optarg || *end || !(o->rate >= 0.0 && o->rate <= 100000.0))
                    return CW_EINVAL;
                break;
            case 'w':
                if (bench_service_parse_long (optarg, 1, S_WINDOW_MAX, &v) != CW_OK)
                    return CW_EINVAL;
                o->window = (int) v;
                break;
            case 'H': o->half_peak = true; break;
            case 'f':
                if (bench_service_parse_long (optarg, 1, 10000, &v) != CW_OK)
                    return CW_EINVAL;
                o->commit_frames = optarg;
                break;
            case 'm':
                if (bench_service_parse_long (optarg, 0, 1000, &v) != CW_OK)
                    return CW_EINVAL;
                o->commit_ms = optarg;
                break;
            case 'j': o->json = true; break;
            case 'k': o->keep = optarg; break;
            case 'c': o->coachwired = optarg; break;
            case 'F': o->no_floor = true; break;
            case 'h': return 1;
            default: return CW_EINVAL;
        }
    }
    if (optind != argc || (o->half_peak && o->rate > 0))
        return CW_EINVAL;
    return CW_OK;
}

/*  This binary (for the sinks) and the service binary. */
static int
s_locate (s_bench_t *b)
{
    ssize_t n = readlink ("/proc/self/exe", b->bench_path, sizeof b->bench_path - 1);
    if (n <= 0)
        return CW_EIO;
    b->bench_path [n] = '\0';
    return bench_service_locate (&b->svc, b->opt.coachwired);
}

int
cw_bench_ingest (int argc, char **argv)
{
    if (argc == 2 && strcmp (argv [1], "--raw-sink") == 0)
        return s_raw_sink ();
    if (argc == 3 && strcmp (argv [1], "--floor-sink") == 0)
        return s_floor_sink (argv [2]);
    s_bench_t *b = calloc (1, sizeof *b);
    if (!b)
        return 1;
    b->opt = (s_options_t) { .devices = 8, .seconds = 10, .window = S_WINDOW };
    int rc = s_parse (argc, argv, &b->opt);
    if (rc != CW_OK) {
        fputs (s_usage, rc == 1 ? stdout : stderr);
        free (b);
        return rc == 1 ? 0 : 2;
    }
    if (sodium_init () < 0) {
        free (b);
        return 1;
    }
    for (size_t i = 0; i < S_SIN_TABLE; i++)
        s_sin [i] = (float) sin (6.283185307179586 * (double) i / S_SIN_TABLE);
    bench_service_signals ();
    b->svc.name = "cw-bench ingest";

    b->devices = calloc ((size_t) b->opt.devices, sizeof *b->devices);
    rc = b->devices ? CW_OK : CW_ENOMEM;
    for (int i = 0; rc == CW_OK && i < b->opt.devices; i++) {
        s_device_t *d = &b->devices [i];
        d->index = i;
        d->next_sequence = 1;
        d->rng = 0x9e3779b97f4a7c15u ^ ((uint64_t) i * 0xbf58476d1ce4e5b9u);
        d->cadence_hz = (160.0 + (double) (i % 8) * 2.5) / 60.0;
    }
    bench_service_machine (&b->cpus, &b->loadavg);
    if (rc == CW_OK)
        rc = s_locate (b);
    if (rc == CW_OK)
        rc = bench_service_make_dir (&b->svc, b->opt.keep, "cw_bench");
    if (rc == CW_OK)
        rc = bench_service_init (&b->svc);
    if (rc == CW_OK)
        rc = s_enroll (b);
    if (rc == CW_OK)
        rc = s_start_service (b);
    if (rc == CW_OK) {
        char db [PATH_MAX + 16];
        snprintf (db, sizeof db, "%s/coachwire.db", b->svc.dir);
        rc = cw_store_open (&b->store, db, false);
    }
    if (rc == CW_OK) {
        b->ctx = zmq_ctx_new ();
        rc = b->ctx ? s_connect_devices (b, b->svc.gateway) : CW_ENOMEM;
    }
    if (rc == CW_OK)
        rc = s_microbench (b);
    if (!b->opt.json && rc == CW_OK)
        fprintf (stderr, "cw-bench ingest: %d devices connected to %s; measuring...\n",
                 b->opt.devices, b->svc.gateway);
    if (rc == CW_OK && b->opt.rate == 0)
        rc = s_pipeline_phase (b, &b->flat, "flat out", 0.0);
    /* The floor and raw CURVE back to back, with coachwired idle (its coach done with the
     * flat-out phase's frames first): the same machine for both, so floor/raw compares like
     * with like. The floor first, as it reuses the devices the flat-out phase just ran. */
    if (rc == CW_OK && b->flat.ran && !bench_service_interrupted)
        s_settle (b);
    if (rc == CW_OK && !b->opt.no_floor && !bench_service_interrupted)
        rc = s_floor_phase (b);
    if (rc == CW_OK && !bench_service_interrupted)
        rc = s_raw_phase (b);
    if (rc == CW_OK && !bench_service_interrupted && (b->opt.rate > 0 || b->opt.half_peak)) {
        double rate = b->opt.rate;
        if (b->opt.half_peak)
            rate = b->flat.fps / 2.0 / (double) b->opt.devices;
        s_settle (b);
        if (rate > 0)
            rc = s_pipeline_phase (b, &b->paced, b->opt.half_peak ? "half peak" : "paced",
                                   rate);
    }
    if (b->svc.pid)
        b->hwm_kib = bench_service_status_kib (b->svc.pid, "VmHWM");
    if (bench_service_interrupted && rc == CW_OK)
        rc = CW_ESTATE;
    if (rc == CW_OK) {
        if (b->opt.json)
            s_print_json (b);
        else
            s_print_text (b);
        const s_phase_t *phases [2] = { &b->flat, &b->paced };
        for (int i = 0; i < 2; i++)
            if (phases [i]->ran && (phases [i]->errors || phases [i]->lost))
                rc = CW_EINTERNAL;      /* the service refused or lost frames: broken */
        if (!b->flat.ran && !b->paced.ran)
            rc = CW_EINTERNAL;
        if (s_floor_failed (&b->floor))
            rc = CW_EINTERNAL;
    }
    fflush (stdout);

    for (int i = 0; b->devices && i < b->opt.devices; i++) {
        s_device_t *d = &b->devices [i];
        if (d->sock)
            zmq_close (d->sock);
        cw_cred_destroy (&d->cred);
        if (d->payload_key)
            sodium_free (d->payload_key);
    }
    if (b->ctx)
        zmq_ctx_term (b->ctx);
    cw_store_destroy (&b->store);
    if (bench_service_end (&b->svc, b->opt.keep != NULL, b->opt.json) != CW_OK && rc == CW_OK)
        rc = CW_EIO;
    if (rc != CW_OK && rc != CW_EINTERNAL)
        fprintf (stderr, "cw-bench ingest: %s\n", bench_service_interrupted ? "interrupted"
                 : cw_strerror (rc));
    free (b->devices);
    free (b);
    return rc == CW_OK ? 0 : 1;
}
