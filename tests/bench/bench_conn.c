/*  bench_conn.c - cw-bench connections: many enrolled devices on one service, each sending a
 *  frame every 1/rate seconds; optionally a storm of strangers, a restart, a soak series.
 *
 *  Runs the real service as a child process (`coachwired init` + `run` on 127.0.0.1), enrolls
 *  N devices straight into its store in one transaction (one person each), and drives them
 *  from a few worker threads: each worker owns a share of the devices, one ZeroMQ DEALER +
 *  CURVE per device, and waits on all their ZMQ_FDs with epoll (20,000 sockets cannot be
 *  zmq_poll'ed every millisecond). A frame is one second of heart rate (a wearable's natural
 *  frame; --frame imu sends 1 s of 100 Hz IMU instead). Ack latency (send -> ack) goes into a
 *  log-linear histogram.
 *
 *  Phases, in order:
 *    connect   every device connects and has its first frame acked (time printed)
 *    calm      S seconds paced: ack p50/p99, service CPU, RSS per connection
 *    storm     (--unknown U / --raw M) the same S seconds while U threads connect DEALERs with
 *              fresh unknown CURVE keys over and over and M raw TCP sockets connect and never
 *              send a byte: PASS if the enrolled devices' p99 <= max (2 x calm, 2 ms)
 *    restart   (--restart) SIGTERM the service, start it again on the same endpoint: the time
 *              until every device has a new frame acked
 *  --interval I prints a sample every I seconds of the calm phase (service RSS, open fds, ack
 *  p99 of the interval) and judges flatness at the end (the soak: tests/e2e/soak.sh). */
#include "cw_bench.h"

#include "bench_hist.h"
#include "bench_service.h"

#include "coachwire.pb-c.h"
#include "coachwire/cw_envelope.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_keyring.h"
#include "coachwire/cw_store.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define S_DEVICES_MAX 30000
#define S_WORKERS_MAX 16
#define S_SLOTS_MIN 8u                  /* frames in flight per device before one counts lost */
#define S_SLOTS_MAX 4096u
#define S_FRAME_MAX 4096u
#define S_STREAM_IMU 1u
#define S_STREAM_HR 2u
#define S_IMU_SAMPLES 100u
#define S_DRAIN_NS 5000000000ull
#define S_CONNECT_NS 300000000000ull    /* every device connected and acked within 300 s */
#define S_RESTART_NS 300000000000ull
#define S_STARTUP_MS 60000
#define S_FLOOR_MS 2.0                  /* storm and soak: default p99 noise floor */
#define S_SERIES_MAX 4096

/*  One simulated wearable. Keys in plain memory: 20,000 sodium_malloc'd keys would need more
 *  memory mappings than the kernel allows a process. */
typedef struct {
    void *sock;
    uint8_t id [CW_ID_BYTES];
    uint8_t public_key [32], secret_key [32];
    uint8_t payload_key [CW_KEY_BYTES];
    uint64_t next_sequence;
    uint64_t *slot_sequence;    /* b->slots of each: frames in flight */
    uint64_t *slot_ns;
    uint32_t inflight;
    uint64_t probe_sequence;    /* restart: the frame whose ack proves the reconnection */
    bool probe_acked;
} s_dev_t;

typedef enum { S_MODE_PACED, S_MODE_PROBE } s_mode_t;

typedef struct s_conn_s s_conn_t;

typedef struct {
    s_conn_t *b;
    int first, count;
    int epfd;
    pthread_t thread;
    pthread_mutex_t lock;       /* guards hist and interval, read by the main thread */
    bench_hist_t *hist, *interval;
    uint64_t sent, acked, errors, backoffs, lost, eagain, last_probe_ns;
    char first_error [128];
    uint8_t frame [S_FRAME_MAX];
    uint8_t plain [S_FRAME_MAX];
} s_worker_t;

typedef struct {
    bool ran;
    double seconds, p50_ms, p99_ms, max_ms, cpu_pct;
    uint64_t sent, acked, errors, backoffs, lost;
    uint64_t storm_unknown, storm_raw;
} s_phase_t;

typedef struct {
    double t, p99_ms;
    uint64_t rss_kib, fds, acked;
} s_sample_t;

struct s_conn_s {
    /* options */
    int devices, workers, seconds, unknown, raw, io_threads;
    unsigned slots;             /* in flight per device: 2 s of frames, a power of two */
    double rate, interval;
    double floor_ms;            /* p99 limits are never below this */
    bool imu, restart, json;
    const char *keep;
    /* state */
    char dir [PATH_MAX], bench_path [PATH_MAX], coachwired [PATH_MAX];
    char gateway [256];
    uint8_t server_key [32];
    pid_t service;
    void *ctx;
    s_dev_t *devs;
    s_worker_t *w;
    /* the current phase, set before the workers start */
    s_mode_t mode;
    uint64_t start_ns, deadline_ns;
    atomic_bool storm_stop;
    atomic_uint_fast64_t storm_unknown, storm_raw;
    s_sample_t series [S_SERIES_MAX];
    int n_series;
};

/* ---- the service ------------------------------------------------------------------------ */

/*  Starts argv [0] with stdin from /dev/null and stdout and stderr to out_fd (-1: ours). */
static pid_t
s_spawn (char *const argv [], int out_fd)
{
    int null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0)
        return -1;
    pid_t pid = bench_service_spawn (argv, null_fd, out_fd, out_fd);
    close (null_fd);
    return pid;
}

static void
s_log_tail (const s_conn_t *b)
{
    char path [PATH_MAX + 32];
    snprintf (path, sizeof path, "%s/coachwired.log", b->dir);
    FILE *f = fopen (path, "r");
    if (!f)
        return;
    char buf [2048];
    fseek (f, 0, SEEK_END);
    long size = ftell (f);
    fseek (f, size > (long) sizeof buf - 1 ? size - (long) sizeof buf + 1 : 0, SEEK_SET);
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    buf [n] = '\0';
    fclose (f);
    fprintf (stderr, "--- coachwired.log (end) ---\n%s--- end ---\n", buf);
}

/*  utime + stime of pid in ns. */
static uint64_t
s_proc_cpu_ns (pid_t pid)
{
    char path [64];
    uint64_t ticks = 0;
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    if (!bench_service_stat_ticks (path, &ticks))
        return 0;
    long hz = sysconf (_SC_CLK_TCK);
    return ticks * (1000000000u / (uint64_t) (hz > 0 ? hz : 100));
}

static uint64_t
s_proc_fds (pid_t pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/fd", (int) pid);
    DIR *d = opendir (path);
    uint64_t n = 0;
    struct dirent *e;
    while (d && (e = readdir (d)) != NULL)
        if (e->d_name [0] != '.')
            n++;
    if (d)
        closedir (d);
    return n;
}

static int
s_init_service (s_conn_t *b)
{
    char *argv [] = { b->coachwired, (char *) "init", b->dir, NULL };
    int fd = open ("/dev/null", O_WRONLY);
    pid_t pid = s_spawn (argv, fd);
    if (fd >= 0)
        close (fd);
    int status = pid > 0 ? bench_service_wait (pid, 30000) : -1;
    return status != -1 && WIFEXITED (status) && WEXITSTATUS (status) == 0 ? CW_OK : CW_EIO;
}

/*  One person and one device per simulated wearable, in one transaction. */
static int
s_enroll (s_conn_t *b)
{
    bench_service_enroll_t e;
    bench_service_t svc = { .name = "cw-bench connections" };
    snprintf (svc.dir, sizeof svc.dir, "%s", b->dir);
    int rc = bench_service_enroll_open (&svc, &e, false);
    if (rc == CW_OK)
        rc = bench_service_enroll_begin (&e);
    if (rc == CW_OK)
        memcpy (b->server_key, cw_keyring_server_public (e.keyring), 32);
    uint8_t person_secret [32];
    for (int i = 0; rc == CW_OK && i < b->devices; i++) {
        s_dev_t *d = &b->devs [i];
        cw_principal_t person, device;
        char name [64];
        snprintf (name, sizeof name, "wearer-%d", i);
        rc = bench_service_enroll_person (&e, &person, name, person_secret);
        snprintf (name, sizeof name, "wearable-%d", i);
        if (rc == CW_OK)
            rc = bench_service_enroll_device (&e, &device, &person, name, d->secret_key);
        if (rc == CW_OK) {
            memcpy (d->id, device.id, CW_ID_BYTES);
            memcpy (d->public_key, device.public_key, 32);
            rc = cw_payload_key_derive (d->payload_key, d->secret_key, b->server_key,
                                        d->public_key, b->server_key, d->id);
        }
        d->next_sequence = 1;
    }
    sodium_memzero (person_secret, sizeof person_secret);
    return bench_service_enroll_end (&svc, &e, rc, "enrolling");
}

/*  Starts `coachwired run`; listen is "tcp://127.0.0.1:*" the first time, then the endpoint
 *  it bound (a restart keeps the port the devices reconnect to). */
static int
s_start_service (s_conn_t *b)
{
    char listen [300];
    snprintf (listen, sizeof listen, "%s", b->gateway [0] ? b->gateway : "tcp://127.0.0.1:*");
    char *argv [] = { b->coachwired, (char *) "run", b->dir, (char *) "--listen", listen,
                      (char *) "--api-listen", (char *) "tcp://127.0.0.1:*", NULL };
    char path [PATH_MAX + 32];
    snprintf (path, sizeof path, "%s/endpoints", b->dir);
    remove (path);
    snprintf (path, sizeof path, "%s/coachwired.log", b->dir);
    int fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    b->service = s_spawn (argv, fd);
    if (fd >= 0)
        close (fd);
    if (b->service < 0) {
        b->service = 0;
        return CW_EIO;
    }
    snprintf (path, sizeof path, "%s/endpoints", b->dir);
    for (int waited = 0; waited < S_STARTUP_MS && !bench_service_interrupted; waited += 10) {
        FILE *f = fopen (path, "r");
        if (f) {
            char line [300];
            bool found = false;
            while (fgets (line, sizeof line, f))
                if (strncmp (line, "gateway=", 8) == 0) {
                    line [strcspn (line, "\n")] = '\0';
                    snprintf (b->gateway, sizeof b->gateway, "%.255s", line + 8);
                    found = true;
                }
            fclose (f);
            if (found)
                return CW_OK;
        }
        int status = 0;
        if (waitpid (b->service, &status, WNOHANG) == b->service) {
            fprintf (stderr, "cw-bench connections: coachwired exited before serving\n");
            b->service = 0;
            s_log_tail (b);
            return CW_EIO;
        }
        usleep (10000);
    }
    s_log_tail (b);
    return CW_ETIMEOUT;
}

/* ---- a device --------------------------------------------------------------------------- */

/*  Seals the device's next second (heart rate, or 100 Hz IMU) into w->frame. */
static int
s_build (s_conn_t *b, s_worker_t *w, s_dev_t *d, uint64_t sequence, size_t *frame_len)
{
    uint64_t now = cw_now_ms ();
    Coachwire__SensorBatch batch = COACHWIRE__SENSOR_BATCH__INIT;
    Coachwire__HeartRateBatch hr = COACHWIRE__HEART_RATE_BATCH__INIT;
    Coachwire__ImuBatch imu = COACHWIRE__IMU_BATCH__INIT;
    uint32_t delta = 1000, bpm = 120u + (uint32_t) (sequence % 40u);
    int32_t axes [6][S_IMU_SAMPLES];
    uint16_t stream = S_STREAM_HR;
    if (b->imu) {
        for (int a = 0; a < 6; a++)
            for (size_t i = 0; i < S_IMU_SAMPLES; i++)
                axes [a][i] = (a == 2 ? 9806 : 0) + (int32_t) ((i * 37u + (size_t) a * 11u
                                                                + sequence) % 400u) - 200;
        imu.start_time_ms = now - 1000u;
        imu.sample_rate_mhz = 100000;
        imu.placement = COACHWIRE__IMU_PLACEMENT__IMU_PLACEMENT_WRIST;
        imu.accel_x_mm_s2 = axes [0], imu.n_accel_x_mm_s2 = S_IMU_SAMPLES;
        imu.accel_y_mm_s2 = axes [1], imu.n_accel_y_mm_s2 = S_IMU_SAMPLES;
        imu.accel_z_mm_s2 = axes [2], imu.n_accel_z_mm_s2 = S_IMU_SAMPLES;
        imu.gyro_x_mdeg_s = axes [3], imu.n_gyro_x_mdeg_s = S_IMU_SAMPLES;
        imu.gyro_y_mdeg_s = axes [4], imu.n_gyro_y_mdeg_s = S_IMU_SAMPLES;
        imu.gyro_z_mdeg_s = axes [5], imu.n_gyro_z_mdeg_s = S_IMU_SAMPLES;
        batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_IMU;
        batch.imu = &imu;
        stream = S_STREAM_IMU;
    }
    else {
        hr.start_time_ms = now - 1000u;
        hr.time_delta_ms = &delta, hr.n_time_delta_ms = 1;
        hr.bpm = &bpm, hr.n_bpm = 1;
        batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE;
        batch.heart_rate = &hr;
    }
    size_t plain_len = coachwire__sensor_batch__get_packed_size (&batch);
    if (plain_len + CW_FRAME_OVERHEAD > S_FRAME_MAX)
        return CW_ETOOBIG;
    coachwire__sensor_batch__pack (&batch, w->plain);
    return cw_envelope_seal (w->frame, sizeof w->frame, frame_len, d->payload_key, d->id, stream,
                             sequence, w->plain, plain_len);
}

/*  Sends the device's next frame: CW_OK, CW_ENOSPC (would block: no connection yet), error. */
static int
s_send (s_conn_t *b, s_worker_t *w, s_dev_t *d, uint64_t now)
{
    uint64_t sequence = d->next_sequence;
    size_t len = 0;
    int rc = s_build (b, w, d, sequence, &len);
    if (rc != CW_OK)
        return rc;
    if (zmq_send (d->sock, w->frame, len, ZMQ_DONTWAIT) != (int) len) {
        w->eagain++;
        return zmq_errno () == EAGAIN ? CW_ENOSPC : CW_EIO;
    }
    d->next_sequence++;
    unsigned slot = (unsigned) (sequence % b->slots);
    if (d->slot_sequence [slot])
        w->lost++;
    else
        d->inflight++;
    d->slot_sequence [slot] = sequence;
    d->slot_ns [slot] = now;
    w->sent++;
    return CW_OK;
}

/*  Reads every downlink waiting on the device's socket (which also resets its ZMQ_FD). */
static void
s_receive (s_worker_t *w, s_dev_t *d)
{
    unsigned slots = w->b->slots;
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    while (zmq_msg_recv (&msg, d->sock, ZMQ_DONTWAIT) >= 0) {
        uint64_t now = bench_service_mono_ns ();
        Coachwire__Downlink *down = coachwire__downlink__unpack (NULL, zmq_msg_size (&msg),
                                                                 zmq_msg_data (&msg));
        if (!down) {
            w->errors++;
            continue;
        }
        uint64_t sequence = 0;
        bool ack = false;
        if (down->body_case == COACHWIRE__DOWNLINK__BODY_ACK) {
            sequence = down->ack->sequence;
            ack = true;
        }
        else
        if (down->body_case == COACHWIRE__DOWNLINK__BODY_ERROR) {
            sequence = down->error->sequence;
            if (w->errors++ == 0)
                snprintf (w->first_error, sizeof w->first_error, "%s: %s",
                          cw_errname (down->error->code),
                          down->error->reason ? down->error->reason : "");
        }
        else
        if (down->body_case == COACHWIRE__DOWNLINK__BODY_BACKOFF)
            w->backoffs++;
        coachwire__downlink__free_unpacked (down, NULL);
        if (sequence == 0)
            continue;
        unsigned slot = (unsigned) (sequence % slots);
        if (d->slot_sequence [slot] != sequence)
            continue;
        if (ack) {
            uint64_t us = (now - d->slot_ns [slot]) / 1000u;
            pthread_mutex_lock (&w->lock);
            bench_hist_add (w->hist, us);
            bench_hist_add (w->interval, us);
            pthread_mutex_unlock (&w->lock);
            w->acked++;
            if (sequence == d->probe_sequence) {
                d->probe_acked = true;
                w->last_probe_ns = now;
            }
        }
        d->slot_sequence [slot] = 0;
        d->inflight--;
    }
    zmq_msg_close (&msg);
}

/*  A worker for one phase. Paced: device j of the worker's n sends at start + (k * n + j) *
 *  period / n, so sends spread evenly; then the acks drain for at most S_DRAIN_NS. Probe:
 *  every device sends one frame (retrying while it has no connection) until each is acked. */
static void *
s_worker (void *arg)
{
    s_worker_t *w = arg;
    s_conn_t *b = w->b;
    s_dev_t *devs = b->devs + w->first;
    int n = w->count;
    struct epoll_event events [256];
    double slot_ns = b->rate > 0 ? 1e9 / b->rate / (double) n : 1e9;
    uint64_t k = 0;
    int probes_left = n;
    uint64_t next_retry = 0;
    while (!bench_service_interrupted) {
        uint64_t now = bench_service_mono_ns ();
        bool sending = now < b->deadline_ns;
        uint64_t wake = now + 100000000u;
        if (b->mode == S_MODE_PACED) {
            if (!sending) {
                bool inflight = false;
                for (int j = 0; j < n && !inflight; j++)
                    inflight = devs [j].inflight > 0;
                if (!inflight || now >= b->deadline_ns + S_DRAIN_NS)
                    break;
            }
            else
            if (now >= b->start_ns) {
                for (;;) {
                    uint64_t due = b->start_ns + (uint64_t) ((double) k * slot_ns);
                    if (due > now)
                        break;
                    s_dev_t *d = &devs [k % (uint64_t) n];
                    s_send (b, w, d, now);
                    s_receive (w, d);
                    k++;
                }
                uint64_t due = b->start_ns + (uint64_t) ((double) k * slot_ns);
                if (due < wake)
                    wake = due;
            }
            else
                wake = b->start_ns;
        }
        else {
            if (probes_left == 0 || now >= b->deadline_ns)
                break;
            if (now >= next_retry) {
                probes_left = 0;
                for (int j = 0; j < n; j++) {
                    s_dev_t *d = &devs [j];
                    if (d->probe_acked)
                        continue;
                    probes_left++;
                    if (d->probe_sequence == 0 || d->slot_sequence [d->probe_sequence
                                                                    % b->slots] == 0) {
                        uint64_t seq = d->next_sequence;
                        if (s_send (b, w, d, now) == CW_OK)
                            d->probe_sequence = seq;
                    }
                    s_receive (w, d);
                }
                next_retry = now + 20000000u;
            }
            if (next_retry < wake)
                wake = next_retry;
        }
        now = bench_service_mono_ns ();
        int timeout = wake > now ? (int) ((wake - now + 999999u) / 1000000u) : 0;
        if (timeout > 100)
            timeout = 100;
        int got = epoll_wait (w->epfd, events, 256, timeout);
        for (int i = 0; i < got; i++)
            s_receive (w, &devs [events [i].data.u32]);
    }
    for (int j = 0; j < n; j++) {
        s_dev_t *d = &devs [j];
        w->lost += d->inflight;
        memset (d->slot_sequence, 0, b->slots * sizeof *d->slot_sequence);
        d->inflight = 0;
    }
    return NULL;
}

static void
s_workers_reset (s_conn_t *b)
{
    for (int i = 0; i < b->workers; i++) {
        s_worker_t *w = &b->w [i];
        pthread_mutex_lock (&w->lock);
        memset (w->hist, 0, sizeof *w->hist);
        memset (w->interval, 0, sizeof *w->interval);
        pthread_mutex_unlock (&w->lock);
        w->sent = w->acked = w->errors = w->backoffs = w->lost = w->eagain = 0;
        w->last_probe_ns = 0;
        w->first_error [0] = '\0';
    }
}

/*  Samples the service every b->interval seconds while the workers run (soak series). */
static void
s_sample (s_conn_t *b, uint64_t t0)
{
    bench_hist_t *h = calloc (1, sizeof *h);
    if (!h || b->n_series >= S_SERIES_MAX) {
        free (h);
        return;
    }
    uint64_t acked = 0;
    for (int i = 0; i < b->workers; i++) {
        s_worker_t *w = &b->w [i];
        pthread_mutex_lock (&w->lock);
        bench_hist_merge (h, w->interval);
        memset (w->interval, 0, sizeof *w->interval);
        pthread_mutex_unlock (&w->lock);
    }
    acked = h->total;
    s_sample_t *s = &b->series [b->n_series++];
    s->t = (double) (bench_service_mono_ns () - t0) / 1e9;
    s->p99_ms = bench_hist_quantile_ms (h, 0.99);
    s->rss_kib = bench_service_status_kib (b->service, "VmRSS");
    s->fds = s_proc_fds (b->service);
    s->acked = acked;
    if (!b->json)
        printf ("  t=%7.0f s  rss %8.1f MiB  fds %6llu  acked %8llu  ack p99 %8.2f ms\n", s->t,
                (double) s->rss_kib / 1024.0, (unsigned long long) s->fds,
                (unsigned long long) s->acked, s->p99_ms);
    fflush (stdout);
    free (h);
}

/*  Runs the workers for one phase of `seconds` (paced) or until every probe is acked. */
static int
s_phase (s_conn_t *b, s_phase_t *ph, s_mode_t mode, double seconds)
{
    memset (ph, 0, sizeof *ph);
    s_workers_reset (b);
    b->mode = mode;
    uint64_t t0 = bench_service_mono_ns ();
    b->start_ns = t0 + 50000000u;
    b->deadline_ns = b->start_ns + (uint64_t) (seconds * 1e9);
    uint64_t cpu0 = s_proc_cpu_ns (b->service);
    int started = 0, rc = CW_OK;
    for (int i = 0; i < b->workers; i++) {
        if (pthread_create (&b->w [i].thread, NULL, s_worker, &b->w [i]) != 0) {
            bench_service_interrupted = 1;
            rc = CW_ENOMEM;
            break;
        }
        started++;
    }
    if (mode == S_MODE_PACED && b->interval > 0 && rc == CW_OK) {
        uint64_t next = b->start_ns + (uint64_t) (b->interval * 1e9);
        while (!bench_service_interrupted && next <= b->deadline_ns) {
            uint64_t now = bench_service_mono_ns ();
            if (now < next) {
                usleep ((useconds_t) ((next - now) / 1000u < 200000u ? (next - now) / 1000u
                                                                     : 200000u));
                continue;
            }
            s_sample (b, b->start_ns);
            next += (uint64_t) (b->interval * 1e9);
        }
    }
    for (int i = 0; i < started; i++)
        pthread_join (b->w [i].thread, NULL);
    uint64_t t1 = bench_service_mono_ns ();
    uint64_t cpu1 = s_proc_cpu_ns (b->service);
    bench_hist_t *h = calloc (1, sizeof *h);
    if (!h)
        return CW_ENOMEM;
    uint64_t last_probe = 0;
    for (int i = 0; i < b->workers; i++) {
        s_worker_t *w = &b->w [i];
        bench_hist_merge (h, w->hist);
        ph->sent += w->sent;
        ph->acked += w->acked;
        ph->errors += w->errors;
        ph->backoffs += w->backoffs;
        ph->lost += w->lost;
        if (w->last_probe_ns > last_probe)
            last_probe = w->last_probe_ns;
        if (w->first_error [0])
            fprintf (stderr, "cw-bench connections: refused: %s\n", w->first_error);
    }
    ph->ran = true;
    ph->seconds = mode == S_MODE_PROBE ? (double) ((last_probe > t0 ? last_probe : t0) - t0) / 1e9
                                       : (double) (t1 - b->start_ns) / 1e9;
    ph->p50_ms = bench_hist_quantile_ms (h, 0.50);
    ph->p99_ms = bench_hist_quantile_ms (h, 0.99);
    ph->max_ms = (double) h->max_us / 1000.0;
    ph->cpu_pct = t1 > t0 ? (double) (cpu1 - cpu0) / (double) (t1 - t0) * 100.0 : 0.0;
    free (h);
    return rc;
}

/* ---- the storm -------------------------------------------------------------------------- */

/*  A stranger: a DEALER with a fresh CURVE key connects, says something, and goes; again. */
static void *
s_unknown_thread (void *arg)
{
    s_conn_t *b = arg;
    void *ctx = zmq_ctx_new ();
    char z85 [41];
    zmq_z85_encode (z85, b->server_key, 32);
    while (ctx && !atomic_load (&b->storm_stop)) {
        char pub [41], sec [41];
        void *s = zmq_socket (ctx, ZMQ_DEALER);
        if (!s || zmq_curve_keypair (pub, sec) != 0)
            break;
        int zero = 0;
        zmq_setsockopt (s, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt (s, ZMQ_CURVE_SERVERKEY, z85, 40);
        zmq_setsockopt (s, ZMQ_CURVE_PUBLICKEY, pub, 40);
        zmq_setsockopt (s, ZMQ_CURVE_SECRETKEY, sec, 40);
        zmq_connect (s, b->gateway);
        zmq_send (s, "hello", 5, ZMQ_DONTWAIT);
        zmq_pollitem_t item = { s, 0, ZMQ_POLLIN, 0 };
        zmq_poll (&item, 1, 20);
        zmq_close (s);
        atomic_fetch_add (&b->storm_unknown, 1);
    }
    if (ctx)
        zmq_ctx_term (ctx);
    return NULL;
}

/*  Raw TCP sockets that connect and never send a byte; each reopened when the service
 *  closes it (its handshake timeout), so `raw` of them are open all the time. */
static void *
s_raw_thread (void *arg)
{
    s_conn_t *b = arg;
    struct sockaddr_in addr;
    memset (&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    const char *colon = strrchr (b->gateway, ':');
    addr.sin_port = htons ((uint16_t) (colon ? atol (colon + 1) : 0));
    inet_pton (AF_INET, "127.0.0.1", &addr.sin_addr);
    struct pollfd *fds = calloc ((size_t) b->raw, sizeof *fds);
    if (!fds)
        return NULL;
    for (int i = 0; i < b->raw; i++)
        fds [i].fd = -1;
    while (!atomic_load (&b->storm_stop)) {
        for (int i = 0; i < b->raw; i++) {
            if (fds [i].fd >= 0)
                continue;
            int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0)
                break;
            if (connect (fd, (struct sockaddr *) &addr, sizeof addr) != 0) {
                close (fd);
                continue;
            }
            fds [i].fd = fd;
            fds [i].events = POLLIN;
            atomic_fetch_add (&b->storm_raw, 1);
        }
        if (poll (fds, (nfds_t) b->raw, 100) > 0)
            for (int i = 0; i < b->raw; i++)
                if (fds [i].fd >= 0 && fds [i].revents) {
                    char buf [256];
                    if (read (fds [i].fd, buf, sizeof buf) <= 0) {
                        close (fds [i].fd);     /* closed by the service: open another */
                        fds [i].fd = -1;
                    }
                }
    }
    for (int i = 0; i < b->raw; i++)
        if (fds [i].fd >= 0)
            close (fds [i].fd);
    free (fds);
    return NULL;
}

/* ---- main ------------------------------------------------------------------------------- */

static const char s_usage [] =
    "usage: cw-bench connections [--devices N] [--rate R] [--seconds S] [--frame hr|imu]\n"
    "                            [--unknown U] [--raw M] [--restart] [--interval I]\n"
    "                            [--workers W] [--io-threads T] [--floor-ms F] [--json]\n"
    "                            [--keep DIR]\n"
    "\n"
    "Starts the real coachwired (a child process on 127.0.0.1), enrolls N devices straight\n"
    "into its store in one transaction, connects one CURVE DEALER per device and sends one\n"
    "frame every 1/R seconds from each. Prints the connect time, ack p50/p99, the service's\n"
    "CPU and its memory per connection (RSS after connecting - RSS before) / N.\n"
    "\n"
    "  --devices N     devices (default 100, at most 30000; > 1000 wants ulimit -n 65536)\n"
    "  --rate R        frames/s per device (default 1)\n"
    "  --seconds S     length of the calm phase, and of the storm phase (default 10)\n"
    "  --frame hr|imu  1 s of heart rate (default) or 1 s of 100 Hz IMU per frame\n"
    "  --unknown U     storm: U threads connecting DEALERs with fresh unknown CURVE keys\n"
    "  --raw M         storm: M raw TCP connections that never send a byte\n"
    "                  (with either: PASS if p99 in the storm <= max (2 x calm, 2 ms))\n"
    "  --restart       then restart the service; time until every device is acked again\n"
    "  --interval I    sample service RSS, fds and ack p99 every I s of the calm phase; PASS\n"
    "                  if flat after the first third (warm-up): last quarter max <= first\n"
    "                  quarter max + 10 % RSS, + 16 fds;\n"
    "                  p99 <= max (2 x first quarter's, 2 ms))\n"
    "  --floor-ms F    the p99 limits are never below F ms (default 2)\n"
    "  --workers W     load threads (default: 1 per 2500 devices, 1..16)\n"
    "  --io-threads T  libzmq I/O threads in the load generator (default 1)\n";

static int
s_parse (int argc, char **argv, s_conn_t *b)
{
    static const struct option options [] = {
        { "devices", required_argument, NULL, 'd' }, { "rate", required_argument, NULL, 'r' },
        { "seconds", required_argument, NULL, 's' }, { "frame", required_argument, NULL, 'f' },
        { "unknown", required_argument, NULL, 'u' }, { "raw", required_argument, NULL, 'R' },
        { "restart", no_argument, NULL, 'x' }, { "interval", required_argument, NULL, 'i' },
        { "workers", required_argument, NULL, 'w' },
        { "io-threads", required_argument, NULL, 't' }, { "json", no_argument, NULL, 'j' },
        { "keep", required_argument, NULL, 'k' }, { "help", no_argument, NULL, 'h' },
        { "floor-ms", required_argument, NULL, 'F' }, { NULL, 0, NULL, 0 } };
    int c;
    char *end = NULL;
    optind = 1;
    while ((c = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        long v = 0;
        double f = 0;
        if (optarg && c != 'f' && c != 'k') {
            errno = 0;
            if (c == 'r' || c == 'i' || c == 'F') {
                f = strtod (optarg, &end);
                if (end == optarg || *end || !(f > 0 && f <= 100000))
                    return CW_EINVAL;
            }
            else {
                v = strtol (optarg, &end, 10);
                if (errno || end == optarg || *end || v < 0 || v > 1000000)
                    return CW_EINVAL;
            }
        }
        switch (c) {
            case 'd': if (v < 1 || v > S_DEVICES_MAX) return CW_EINVAL; b->devices = (int) v; break;
            case 'r': b->rate = f; break;
            case 's': if (v < 1) return CW_EINVAL; b->seconds = (int) v; break;
            case 'f':
                if (strcmp (optarg, "imu") == 0)
                    b->imu = true;
                else
                if (strcmp (optarg, "hr") != 0)
                    return CW_EINVAL;
                break;
            case 'u': if (v > 256) return CW_EINVAL; b->unknown = (int) v; break;
            case 'R': if (v > 20000) return CW_EINVAL; b->raw = (int) v; break;
            case 'x': b->restart = true; break;
            case 'i': b->interval = f; break;
            case 'F': b->floor_ms = f; break;
            case 'w': if (v < 1 || v > S_WORKERS_MAX) return CW_EINVAL; b->workers = (int) v; break;
            case 't': if (v < 1 || v > 16) return CW_EINVAL; b->io_threads = (int) v; break;
            case 'j': b->json = true; break;
            case 'k': b->keep = optarg; break;
            case 'h': return 1;
            default: return CW_EINVAL;
        }
    }
    return optind == argc ? CW_OK : CW_EINVAL;
}

static int
s_setup (s_conn_t *b)
{
    ssize_t n = readlink ("/proc/self/exe", b->bench_path, sizeof b->bench_path - 1);
    if (n <= 0)
        return CW_EIO;
    b->bench_path [n] = '\0';
    char dir [PATH_MAX];
    snprintf (dir, sizeof dir, "%s", b->bench_path);
    char *slash = strrchr (dir, '/');
    if (slash)
        *slash = '\0';
    snprintf (b->coachwired, sizeof b->coachwired, "%.*s/../coach/coachwired", PATH_MAX - 32,
              dir);
    if (access (b->coachwired, X_OK) != 0) {
        fprintf (stderr, "cw-bench connections: no coachwired at %s\n", b->coachwired);
        return CW_ENOENT;
    }
    if (b->keep) {
        snprintf (b->dir, sizeof b->dir, "%.200s", b->keep);
        if (mkdir (b->dir, 0700) != 0)
            return CW_EEXIST;
    }
    else {
        const char *tmp = getenv ("TMPDIR");
        snprintf (b->dir, sizeof b->dir, "%.128s/cw_conn_XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp (b->dir))
            return CW_EIO;
    }
    return CW_OK;
}

static int
s_connect_all (s_conn_t *b)
{
    if (zmq_ctx_set (b->ctx, ZMQ_MAX_SOCKETS, b->devices + 1024) != 0
        || zmq_ctx_set (b->ctx, ZMQ_IO_THREADS, b->io_threads) != 0)
        return CW_EINVAL;
    char z85 [41];
    zmq_z85_encode (z85, b->server_key, 32);
    for (int i = 0; i < b->workers; i++) {
        s_worker_t *w = &b->w [i];
        w->epfd = epoll_create1 (EPOLL_CLOEXEC);
        if (w->epfd < 0)
            return CW_EIO;
        for (int j = 0; j < w->count; j++) {
            s_dev_t *d = &b->devs [w->first + j];
            d->sock = bench_service_dealer (b->ctx, b->server_key, d->public_key, d->secret_key);
            if (!d->sock) {
                fprintf (stderr, "cw-bench connections: socket %d: %s (ulimit -n is %ld)\n",
                         w->first + j, zmq_strerror (zmq_errno ()), sysconf (_SC_OPEN_MAX));
                return CW_EIO;
            }
            if (zmq_connect (d->sock, b->gateway) != 0)
                return CW_EIO;
            int fd = -1;
            size_t len = sizeof fd;
            if (zmq_getsockopt (d->sock, ZMQ_FD, &fd, &len) != 0)
                return CW_EIO;
            struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t) j };
            if (epoll_ctl (w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
                return CW_EIO;
        }
    }
    return CW_OK;
}

static void
s_print_phase (const char *name, const s_phase_t *ph)
{
    printf ("  %-10s %8.1f s  sent %9llu  acked %9llu  p50 %7.2f ms  p99 %7.2f ms  max %8.2f "
            "ms  service CPU %5.1f %%%s\n", name, ph->seconds, (unsigned long long) ph->sent,
            (unsigned long long) ph->acked, ph->p50_ms, ph->p99_ms, ph->max_ms, ph->cpu_pct,
            ph->lost || ph->errors || ph->backoffs ? " (!)" : "");
    if (ph->lost || ph->errors || ph->backoffs)
        printf ("  %-10s unacked %llu, refused %llu, backoffs %llu\n", "",
                (unsigned long long) ph->lost, (unsigned long long) ph->errors,
                (unsigned long long) ph->backoffs);
}

/*  The soak verdict over b->series: after the first third of the samples (warm-up), the first
 *  quarter of the rest against its last quarter. */
static bool
s_judge_series (const s_conn_t *b, char *why, size_t why_size)
{
    int n = b->n_series;
    if (n < 5) {
        snprintf (why, why_size, "too few samples (%d) to judge", n);
        return false;
    }
    int from = n / 3 > 1 ? n / 3 : 1;     /* warm-up: caches fill, the database grows */
    int q = (n - from) / 4 > 0 ? (n - from) / 4 : 1;
    uint64_t rss_a = 0, rss_b = 0, fd_a = 0, fd_b = 0;
    double p99_a = 0, p99_b = 0;
    for (int i = from; i < from + q; i++) {
        rss_a = b->series [i].rss_kib > rss_a ? b->series [i].rss_kib : rss_a;
        fd_a = b->series [i].fds > fd_a ? b->series [i].fds : fd_a;
        p99_a = b->series [i].p99_ms > p99_a ? b->series [i].p99_ms : p99_a;
    }
    for (int i = n - q; i < n; i++) {
        rss_b = b->series [i].rss_kib > rss_b ? b->series [i].rss_kib : rss_b;
        fd_b = b->series [i].fds > fd_b ? b->series [i].fds : fd_b;
        p99_b = b->series [i].p99_ms > p99_b ? b->series [i].p99_ms : p99_b;
    }
    double p99_limit = 2 * p99_a > b->floor_ms ? 2 * p99_a : b->floor_ms;
    bool rss_ok = (double) rss_b <= (double) rss_a * 1.10;
    bool fd_ok = fd_b <= fd_a + 16;
    bool p99_ok = p99_b <= p99_limit;
    snprintf (why, why_size, "RSS max %.1f -> %.1f MiB (limit +10 %%: %s), fds max %llu -> "
              "%llu (limit +16: %s), ack p99 max %.2f -> %.2f ms (limit %.2f: %s)",
              (double) rss_a / 1024, (double) rss_b / 1024, rss_ok ? "ok" : "GREW",
              (unsigned long long) fd_a, (unsigned long long) fd_b, fd_ok ? "ok" : "GREW", p99_a,
              p99_b, p99_limit, p99_ok ? "ok" : "WORSE");
    return rss_ok && fd_ok && p99_ok;
}

int
cw_bench_connections (int argc, char **argv)
{
    s_conn_t *b = calloc (1, sizeof *b);
    if (!b)
        return 1;
    b->devices = 100;
    b->rate = 1.0;
    b->seconds = 10;
    b->io_threads = 1;
    b->floor_ms = S_FLOOR_MS;
    int rc = s_parse (argc, argv, b);
    if (rc != CW_OK) {
        fputs (s_usage, rc == 1 ? stdout : stderr);
        free (b);
        return rc == 1 ? 0 : 2;
    }
    if (b->workers == 0)
        b->workers = b->devices / 2500 + 1;
    if (b->workers > b->devices)
        b->workers = b->devices;
    if (b->workers > S_WORKERS_MAX)
        b->workers = S_WORKERS_MAX;
    if (sodium_init () < 0) {
        free (b);
        return 1;
    }
    bench_service_signals ();
    struct rlimit rl;
    getrlimit (RLIMIT_NOFILE, &rl);
    if ((rlim_t) b->devices * 2 + 256 > rl.rlim_cur)
        fprintf (stderr, "cw-bench connections: warning: ulimit -n %llu is below the %d "
                 "descriptors %d devices need (raise it: ulimit -n 65536)\n",
                 (unsigned long long) rl.rlim_cur, b->devices * 2 + 256, b->devices);

    b->slots = S_SLOTS_MIN;
    while (b->slots < S_SLOTS_MAX && (double) b->slots < 2.0 * b->rate)
        b->slots *= 2;
    b->devs = calloc ((size_t) b->devices, sizeof *b->devs);
    b->w = calloc ((size_t) b->workers, sizeof *b->w);
    uint64_t *slot_memory = calloc ((size_t) b->devices * b->slots * 2, sizeof (uint64_t));
    rc = b->devs && b->w && slot_memory ? CW_OK : CW_ENOMEM;
    for (int i = 0; rc == CW_OK && i < b->devices; i++) {
        b->devs [i].slot_sequence = slot_memory + (size_t) i * b->slots * 2;
        b->devs [i].slot_ns = b->devs [i].slot_sequence + b->slots;
    }
    for (int i = 0; rc == CW_OK && i < b->workers; i++) {
        s_worker_t *w = &b->w [i];
        w->b = b;
        w->first = b->devices * i / b->workers;
        w->count = b->devices * (i + 1) / b->workers - w->first;
        w->epfd = -1;
        pthread_mutex_init (&w->lock, NULL);
        w->hist = calloc (1, sizeof *w->hist);
        w->interval = calloc (1, sizeof *w->interval);
        if (!w->hist || !w->interval)
            rc = CW_ENOMEM;
    }
    bool dir_made = false;
    uint64_t t_enroll = 0, rss_base = 0, rss_conn = 0, fds_base = 0, fds_conn = 0;
    s_phase_t connect, calm, storm, restart;
    memset (&connect, 0, sizeof connect);
    memset (&calm, 0, sizeof calm);
    memset (&storm, 0, sizeof storm);
    memset (&restart, 0, sizeof restart);
    uint64_t t_begin = bench_service_mono_ns ();
    if (rc == CW_OK && (rc = s_setup (b)) == CW_OK)
        dir_made = true;
    if (rc == CW_OK)
        rc = s_init_service (b);
    if (rc == CW_OK) {
        uint64_t t0 = bench_service_mono_ns ();
        rc = s_enroll (b);
        t_enroll = bench_service_mono_ns () - t0;
    }
    if (rc == CW_OK)
        rc = s_start_service (b);
    if (rc == CW_OK) {
        usleep (500000);
        rss_base = bench_service_status_kib (b->service, "VmRSS");
        fds_base = s_proc_fds (b->service);
        b->ctx = zmq_ctx_new ();
        rc = b->ctx ? s_connect_all (b) : CW_ENOMEM;
    }
    if (!b->json && rc == CW_OK)
        fprintf (stderr, "cw-bench connections: %d devices enrolled in %.2f s; connecting to "
                 "%s...\n", b->devices, (double) t_enroll / 1e9, b->gateway);
    if (rc == CW_OK) {
        /* connect: every device's first frame acked */
        b->deadline_ns = bench_service_mono_ns () + S_CONNECT_NS;
        rc = s_phase (b, &connect, S_MODE_PROBE, (double) S_CONNECT_NS / 1e9);
        uint64_t missing = 0;
        for (int i = 0; i < b->devices; i++)
            missing += !b->devs [i].probe_acked;
        if (rc == CW_OK && missing) {
            fprintf (stderr, "cw-bench connections: %llu devices never had a frame acked\n",
                     (unsigned long long) missing);
            s_log_tail (b);
            rc = CW_ETIMEOUT;
        }
        usleep (500000);
        rss_conn = bench_service_status_kib (b->service, "VmRSS");
        fds_conn = s_proc_fds (b->service);
    }
    if (rc == CW_OK && !bench_service_interrupted) {
        if (b->interval > 0 && !b->json)
            printf ("soak series (every %.0f s):\n", b->interval);
        rc = s_phase (b, &calm, S_MODE_PACED, (double) b->seconds);
    }
    pthread_t storm_threads [257];
    int n_storm = 0;
    if (rc == CW_OK && !bench_service_interrupted && (b->unknown || b->raw)) {
        atomic_store (&b->storm_stop, false);
        for (int i = 0; i < b->unknown; i++)
            if (pthread_create (&storm_threads [n_storm], NULL, s_unknown_thread, b) == 0)
                n_storm++;
        if (b->raw && pthread_create (&storm_threads [n_storm], NULL, s_raw_thread, b) == 0)
            n_storm++;
        usleep (500000);        /* the storm is raging before the measurement starts */
        rc = s_phase (b, &storm, S_MODE_PACED, (double) b->seconds);
        storm.storm_unknown = atomic_load (&b->storm_unknown);
        storm.storm_raw = atomic_load (&b->storm_raw);
        atomic_store (&b->storm_stop, true);
        for (int i = 0; i < n_storm; i++)
            pthread_join (storm_threads [i], NULL);
    }
    uint64_t t_down = 0;
    if (rc == CW_OK && !bench_service_interrupted && b->restart) {
        uint64_t t0 = bench_service_mono_ns ();
        bench_service_stop_child ("cw-bench connections", b->service, 20000);
        b->service = 0;
        rc = s_start_service (b);
        t_down = bench_service_mono_ns () - t0;
        for (int i = 0; i < b->devices; i++) {
            b->devs [i].probe_acked = false;
            b->devs [i].probe_sequence = 0;
        }
        if (rc == CW_OK) {
            b->deadline_ns = bench_service_mono_ns () + S_RESTART_NS;
            rc = s_phase (b, &restart, S_MODE_PROBE, (double) S_RESTART_NS / 1e9);
        }
        uint64_t missing = 0;
        for (int i = 0; i < b->devices; i++)
            missing += !b->devs [i].probe_acked;
        if (rc == CW_OK && missing) {
            fprintf (stderr, "cw-bench connections: %llu devices did not come back after the "
                     "restart\n", (unsigned long long) missing);
            rc = CW_ETIMEOUT;
        }
    }
    bool pass = rc == CW_OK && !bench_service_interrupted;
    if (rc == CW_OK) {
        double per_conn = b->devices ? ((double) rss_conn - (double) rss_base) / b->devices : 0;
        if (b->json) {
            printf ("{\"devices\":%d,\"rate\":%.3f,\"frame\":\"%s\",\"enroll_s\":%.3f,"
                    "\"connect_s\":%.3f,\"rss_base_kib\":%llu,\"rss_connected_kib\":%llu,"
                    "\"kib_per_connection\":%.2f,\"fds_base\":%llu,\"fds_connected\":%llu,"
                    "\"calm\":{\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,\"acked\":%llu,"
                    "\"sent\":%llu,\"unacked\":%llu,\"cpu_pct\":%.1f}",
                    b->devices, b->rate, b->imu ? "imu" : "hr", (double) t_enroll / 1e9,
                    connect.seconds, (unsigned long long) rss_base, (unsigned long long) rss_conn,
                    per_conn, (unsigned long long) fds_base, (unsigned long long) fds_conn,
                    calm.p50_ms, calm.p99_ms, calm.max_ms, (unsigned long long) calm.acked,
                    (unsigned long long) calm.sent, (unsigned long long) calm.lost, calm.cpu_pct);
            if (storm.ran)
                printf (",\"storm\":{\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"acked\":%llu,"
                        "\"unknown_connects\":%llu,\"raw_connects\":%llu,\"cpu_pct\":%.1f}",
                        storm.p50_ms, storm.p99_ms, (unsigned long long) storm.acked,
                        (unsigned long long) storm.storm_unknown,
                        (unsigned long long) storm.storm_raw, storm.cpu_pct);
            if (restart.ran)
                printf (",\"restart\":{\"service_down_s\":%.3f,\"reconnect_all_s\":%.3f}",
                        (double) t_down / 1e9, restart.seconds);
            printf ("}\n");
        }
        else {
            printf ("cw-bench connections: %d devices, %.2f frames/s each (%s frames), "
                    "service pid %d\n", b->devices, b->rate, b->imu ? "1 s IMU" : "1 s heart rate",
                    (int) b->service);
            printf ("  enroll %d devices in one transaction: %.2f s\n", b->devices,
                    (double) t_enroll / 1e9);
            s_print_phase ("connect", &connect);
            printf ("  service RSS %.1f MiB idle -> %.1f MiB connected: %.1f KiB per "
                    "connection; fds %llu -> %llu\n", (double) rss_base / 1024,
                    (double) rss_conn / 1024, per_conn, (unsigned long long) fds_base,
                    (unsigned long long) fds_conn);
            s_print_phase ("calm", &calm);
            if (storm.ran) {
                s_print_phase ("storm", &storm);
                printf ("  storm: %llu unknown-key connections from %d threads, %llu raw TCP "
                        "connections (%d held open)\n", (unsigned long long) storm.storm_unknown,
                        b->unknown, (unsigned long long) storm.storm_raw, b->raw);
            }
            if (restart.ran)
                printf ("  restart: service down and up in %.2f s; all %d devices acked again "
                        "%.2f s after it was back\n", (double) t_down / 1e9, b->devices,
                        restart.seconds);
        }
        if (storm.ran) {
            double limit = 2 * calm.p99_ms > b->floor_ms ? 2 * calm.p99_ms : b->floor_ms;
            bool ok = storm.p99_ms <= limit && storm.acked > 0;
            pass = pass && ok;
            printf ("storm: enrolled devices' ack p99 %.2f ms calm -> %.2f ms in the storm, "
                    "limit %.2f ms: %s\n", calm.p99_ms, storm.p99_ms, limit, ok ? "PASS" : "FAIL");
        }
        if (b->interval > 0) {
            char why [512];
            bool ok = s_judge_series (b, why, sizeof why);
            pass = pass && ok;
            printf ("soak: %s: %s\n", why, ok ? "PASS" : "FAIL");
        }
        if (calm.lost || calm.errors) {
            pass = false;
            printf ("FAIL: %llu frames unacknowledged, %llu refused in the calm phase\n",
                    (unsigned long long) calm.lost, (unsigned long long) calm.errors);
        }
        printf ("%s (whole run %.1f s)\n", pass ? "PASS" : "FAIL",
                (double) (bench_service_mono_ns () - t_begin) / 1e9);
    }
    fflush (stdout);
    for (int i = 0; b->devs && i < b->devices; i++)
        if (b->devs [i].sock)
            zmq_close (b->devs [i].sock);
    if (b->ctx)
        zmq_ctx_term (b->ctx);
    if (b->service > 0 && bench_service_stop_child ("cw-bench connections", b->service, 20000) != 0
        && rc == CW_OK) {
        fprintf (stderr, "cw-bench connections: coachwired did not stop cleanly\n");
        s_log_tail (b);
        pass = false;
    }
    for (int i = 0; b->w && i < b->workers; i++) {
        if (b->w [i].epfd >= 0)
            close (b->w [i].epfd);
        free (b->w [i].hist);
        free (b->w [i].interval);
        pthread_mutex_destroy (&b->w [i].lock);
    }
    if (dir_made && !b->keep)
        bench_service_remove_tree (b->dir);
    if (rc != CW_OK)
        fprintf (stderr, "cw-bench connections: %s\n", bench_service_interrupted ? "interrupted"
                 : cw_strerror (rc));
    sodium_memzero (b->devs, b->devs ? (size_t) b->devices * sizeof *b->devs : 0);
    free (slot_memory);
    free (b->devs);
    free (b->w);
    free (b);
    return pass ? 0 : 1;
}
