/*  test_edge.c - the edge client against an in-test fake gateway: a thread with a ROUTER socket,
 *  CURVE server with its own keypair, that opens each frame with the server-side payload key
 *  and answers with Downlink messages as each test scripts it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "coachwire.pb-c.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_envelope.h"
#include "coachwire/cw_error.h"
#include "coachwire/edge.h"

#define MAX_SEQ 256

static char s_dir [] = "/tmp/cw-test-edge-XXXXXX";
static int s_case;

/*  -------------------------------------------------------------------------------------------
 *  Fake gateway
 */

typedef struct {
    /* set before start */
    char endpoint [160];
    uint8_t srv_pk [32], srv_sk [32];
    uint8_t key [32];                   /* server-side derived payload key */
    uint8_t device_id [CW_DEVICE_ID_BYTES];
    uint64_t reject_seq;                /* refuse this sequence with reject_code (0: none) */
    int reject_code;
    int swallow;                        /* frames to take without any answer */
    uint32_t backoff_ms;                /* answer the first frame with Backoff (0: none) */
    int garbage;                        /* send junk downlinks before the first ack */
    int nudge;                          /* deliver one nudge before the first ack */
    /* thread */
    pthread_t thread;
    atomic_int stop;
    int running;
    /* what it saw, under lock */
    pthread_mutex_t lock;
    int received;                       /* frames received */
    int bad;                            /* frames that did not open */
    int seen [MAX_SEQ];                 /* receipts per sequence (any stream) */
    int committed [MAX_SEQ];
    int64_t first_ms [MAX_SEQ];         /* time of each sequence's first and last receipt */
    int64_t last_ms [MAX_SEQ];
} s_gw_t;

static int64_t
s_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_reply (void *router, zmq_msg_t *identity, const Coachwire__Downlink *down)
{
    uint8_t buf [512];
    size_t len = coachwire__downlink__pack (down, buf);
    zmq_send (router, zmq_msg_data (identity), zmq_msg_size (identity), ZMQ_SNDMORE);
    zmq_send (router, buf, len, 0);
}

static void
s_gw_frame (s_gw_t *gw, void *router, zmq_msg_t *identity, const uint8_t *frame, size_t len)
{
    uint8_t plain [4096];
    size_t plain_len = 0;
    cw_frame_header_t h;
    Coachwire__Downlink down = COACHWIRE__DOWNLINK__INIT;
    int rc = cw_envelope_open (plain, sizeof plain, &plain_len, &h, gw->key, gw->device_id,
                               frame, len);
    pthread_mutex_lock (&gw->lock);
    gw->received++;
    uint64_t seq = h.sequence < MAX_SEQ ? h.sequence : 0;
    int64_t now = s_mono_ms ();
    if (rc == CW_OK && seq) {
        if (!gw->seen [seq]++)
            gw->first_ms [seq] = now;
        gw->last_ms [seq] = now;
    }
    else
        gw->bad++;
    int swallow = gw->swallow > 0 ? gw->swallow-- : 0;
    uint32_t backoff = gw->backoff_ms;
    gw->backoff_ms = 0;
    int garbage = gw->garbage;
    gw->garbage = 0;
    int nudge = gw->nudge;
    gw->nudge = 0;
    int duplicate = seq ? gw->committed [seq] : 0;
    pthread_mutex_unlock (&gw->lock);

    if (rc != CW_OK || seq == gw->reject_seq) {
        Coachwire__FrameError err = COACHWIRE__FRAME_ERROR__INIT;
        err.stream = h.stream;
        err.sequence = h.sequence;
        err.code = rc != CW_OK ? rc : gw->reject_code;
        err.reason = (char *) (rc != CW_OK ? "frame did not open" : "bpm 400 out of range");
        down.body_case = COACHWIRE__DOWNLINK__BODY_ERROR;
        down.error = &err;
        s_reply (router, identity, &down);
        return;
    }
    if (swallow)
        return;
    if (backoff) {
        Coachwire__Backoff b = COACHWIRE__BACKOFF__INIT;
        b.retry_after_ms = backoff;
        b.code = CW_EBUSY;
        down.body_case = COACHWIRE__DOWNLINK__BODY_BACKOFF;
        down.backoff = &b;
        s_reply (router, identity, &down);
        return;
    }
    if (garbage) {
        static const uint8_t junk [] = { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x80 };
        zmq_send (router, zmq_msg_data (identity), zmq_msg_size (identity), ZMQ_SNDMORE);
        zmq_send (router, junk, sizeof junk, 0);
        /*  A downlink with no body, a two-part message, an ack for stream 99. */
        zmq_send (router, zmq_msg_data (identity), zmq_msg_size (identity), ZMQ_SNDMORE);
        zmq_send (router, "", 0, 0);
        zmq_send (router, zmq_msg_data (identity), zmq_msg_size (identity), ZMQ_SNDMORE);
        zmq_send (router, "a", 1, ZMQ_SNDMORE);
        zmq_send (router, "b", 1, 0);
        Coachwire__Ack odd = COACHWIRE__ACK__INIT;
        odd.stream = 99;
        odd.sequence = 1;
        Coachwire__Downlink d = COACHWIRE__DOWNLINK__INIT;
        d.body_case = COACHWIRE__DOWNLINK__BODY_ACK;
        d.ack = &odd;
        s_reply (router, identity, &d);
    }
    if (nudge) {
        Coachwire__NudgeDelivery n = COACHWIRE__NUDGE_DELIVERY__INIT;
        n.nudge_id = (char *) "0123456789abcdef0123456789abcdef";
        n.body.data = (uint8_t *) "hello";
        n.body.len = 5;
        Coachwire__Downlink d = COACHWIRE__DOWNLINK__INIT;
        d.body_case = COACHWIRE__DOWNLINK__BODY_NUDGE;
        d.nudge = &n;
        s_reply (router, identity, &d);
    }
    pthread_mutex_lock (&gw->lock);
    gw->committed [seq] = 1;
    pthread_mutex_unlock (&gw->lock);
    Coachwire__Ack ack = COACHWIRE__ACK__INIT;
    ack.stream = h.stream;
    ack.sequence = h.sequence;
    ack.duplicate = duplicate;
    down.body_case = COACHWIRE__DOWNLINK__BODY_ACK;
    down.ack = &ack;
    s_reply (router, identity, &down);
}

static void *
s_gw_run (void *arg)
{
    s_gw_t *gw = arg;
    void *ctx = zmq_ctx_new ();
    void *router = zmq_socket (ctx, ZMQ_ROUTER);
    int one = 1, zero = 0;
    zmq_setsockopt (router, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt (router, ZMQ_CURVE_SECRETKEY, gw->srv_sk, 32);
    zmq_setsockopt (router, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind (router, gw->endpoint) != 0)
        fprintf (stderr, "gateway bind %s: %s\n", gw->endpoint, zmq_strerror (zmq_errno ()));
    while (!atomic_load (&gw->stop)) {
        zmq_pollitem_t item = { router, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 20) <= 0)
            continue;
        zmq_msg_t identity, frame;
        zmq_msg_init (&identity);
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&identity, router, 0) >= 0 && zmq_msg_more (&identity)
            && zmq_msg_recv (&frame, router, 0) >= 0)
            s_gw_frame (gw, router, &identity, zmq_msg_data (&frame), zmq_msg_size (&frame));
        zmq_msg_close (&identity);
        zmq_msg_close (&frame);
    }
    zmq_close (router);
    zmq_ctx_term (ctx);
    return NULL;
}

static void
s_gw_start (s_gw_t *gw)
{
    atomic_store (&gw->stop, 0);
    assert_int_equal (pthread_create (&gw->thread, NULL, s_gw_run, gw), 0);
    gw->running = 1;
}

static void
s_gw_stop (s_gw_t *gw)
{
    if (!gw->running)
        return;
    atomic_store (&gw->stop, 1);
    pthread_join (gw->thread, NULL);
    gw->running = 0;
}

static int
s_gw_seen (s_gw_t *gw, uint64_t seq)
{
    pthread_mutex_lock (&gw->lock);
    int n = gw->seen [seq];
    pthread_mutex_unlock (&gw->lock);
    return n;
}

/*  -------------------------------------------------------------------------------------------
 *  Fixture: a device credential, a queue path, a gateway (not started)
 */

typedef struct {
    s_gw_t gw;
    char cred_path [256];
    char queue_path [256];
    cw_edge_options_t opts;
    cw_edge_t *edge;
} fixture_t;

static void
s_write_cred (fixture_t *f, const uint8_t *server_key)
{
    uint8_t pk [32], sk [32];
    crypto_box_keypair (pk, sk);
    cw_cred_t *cred = NULL;
    assert_int_equal (cw_cred_new (&cred, CW_CRED_DEVICE, f->gw.device_id, "ana", pk, sk,
                                   server_key, f->gw.endpoint, ""), CW_OK);
    assert_int_equal (cw_cred_save (cred, f->cred_path), CW_OK);
    cw_cred_destroy (&cred);
    assert_int_equal (cw_payload_key_derive (f->gw.key, f->gw.srv_sk, pk, pk, f->gw.srv_pk,
                                             f->gw.device_id), CW_OK);
    sodium_memzero (sk, sizeof sk);
}

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    if (!f)
        return -1;
    int n = ++s_case;
    snprintf (f->cred_path, sizeof f->cred_path, "%s/dev%d.cred", s_dir, n);
    snprintf (f->queue_path, sizeof f->queue_path, "%s/dev%d.queue", s_dir, n);
    snprintf (f->gw.endpoint, sizeof f->gw.endpoint, "ipc://%s/gw%d.ipc", s_dir, n);
    pthread_mutex_init (&f->gw.lock, NULL);
    crypto_box_keypair (f->gw.srv_pk, f->gw.srv_sk);
    randombytes_buf (f->gw.device_id, sizeof f->gw.device_id);
    s_write_cred (f, f->gw.srv_pk);
    cw_edge_options_default (&f->opts);
    f->opts.resend_timeout_ms = 3000;
    f->opts.window = 8;
    f->opts.reconnect_ivl_ms = 30;
    f->opts.reconnect_ivl_max_ms = 100;
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    cw_edge_destroy (&f->edge);
    s_gw_stop (&f->gw);
    pthread_mutex_destroy (&f->gw.lock);
    free (f);
    return 0;
}

static void
s_open (fixture_t *f)
{
    assert_int_equal (cw_edge_new (&f->edge, f->cred_path, f->queue_path, &f->opts), CW_OK);
}

/*  Publishes n one-sample heart-rate batches. */
static void
s_publish_hr (fixture_t *f, int n)
{
    for (int i = 0; i < n; i++) {
        Coachwire__HeartRateBatch hr = COACHWIRE__HEART_RATE_BATCH__INIT;
        uint32_t delta = 1000, bpm = (uint32_t) (140 + i);
        hr.start_time_ms = 1700000000000ull + (uint64_t) i * 1000;
        hr.n_time_delta_ms = 1;
        hr.time_delta_ms = &delta;
        hr.n_bpm = 1;
        hr.bpm = &bpm;
        Coachwire__SensorBatch b = COACHWIRE__SENSOR_BATCH__INIT;
        b.body_case = COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE;
        b.heart_rate = &hr;
        assert_int_equal (cw_edge_publish_batch (f->edge, &b), CW_OK);
    }
}

static cw_edge_stats_t
s_stats (fixture_t *f)
{
    cw_edge_stats_t s;
    assert_int_equal (cw_edge_stats (f->edge, &s), CW_OK);
    return s;
}

/*  Pumps for about ms milliseconds. */
static void
s_pump_for (fixture_t *f, int ms)
{
    int64_t end = s_mono_ms () + ms;
    while (s_mono_ms () < end)
        assert_int_equal (cw_edge_pump (f->edge, 20), CW_OK);
}

/*  -------------------------------------------------------------------------------------------
 *  Negative tests first
 */

static void
test_wrong_server_key_nothing_acked (void **state)
{
    fixture_t *f = *state;
    /*  The credential pins a key the gateway does not hold. */
    uint8_t other_pk [32], other_sk [32];
    crypto_box_keypair (other_pk, other_sk);
    snprintf (f->cred_path + strlen (f->cred_path) - 5, 6, ".bad1");
    s_write_cred (f, other_pk);
    s_gw_start (&f->gw);
    s_open (f);
    s_publish_hr (f, 3);
    assert_int_equal (cw_edge_flush (f->edge, 800), CW_ETIMEOUT);
    cw_edge_stats_t s = s_stats (f);
    assert_int_equal (s.acked, 0);
    assert_int_equal (s.sent, 0);   /* never reached a session, so never "sent" */
    assert_int_equal (s.queued, 3);
    assert_int_equal (s.connected, 0);
    pthread_mutex_lock (&f->gw.lock);
    assert_int_equal (f->gw.received, 0);
    pthread_mutex_unlock (&f->gw.lock);
}

static void
test_bad_arguments_and_credentials (void **state)
{
    fixture_t *f = *state;
    cw_edge_t *e = NULL;
    assert_int_equal (cw_edge_new (&e, NULL, f->queue_path, NULL), CW_EINVAL);
    char missing [300];
    snprintf (missing, sizeof missing, "%s/none.cred", s_dir);
    assert_int_equal (cw_edge_new (&e, missing, f->queue_path, NULL), CW_ENOENT);
    /*  A user credential is not a device. */
    char user_path [300];
    snprintf (user_path, sizeof user_path, "%s/user%d.cred", s_dir, s_case);
    uint8_t pk [32], sk [32], id [16] = { 1 };
    crypto_box_keypair (pk, sk);
    cw_cred_t *cred = NULL;
    assert_int_equal (cw_cred_new (&cred, CW_CRED_USER, id, "ana", pk, sk, f->gw.srv_pk,
                                   f->gw.endpoint, ""), CW_OK);
    assert_int_equal (cw_cred_save (cred, user_path), CW_OK);
    cw_cred_destroy (&cred);
    assert_int_equal (cw_edge_new (&e, user_path, f->queue_path, NULL), CW_ECRED);
    assert_null (e);
    cw_edge_destroy (&e);   /* safe on NULL */
}

static void
test_publish_validates_batches (void **state)
{
    fixture_t *f = *state;
    s_open (f);
    static const uint8_t junk [] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    assert_int_equal (cw_edge_publish (f->edge, junk, sizeof junk, 0), CW_EDECODE);
    assert_int_equal (cw_edge_publish (f->edge, NULL, 0, 0), CW_EEMPTY);
    assert_int_equal (cw_edge_publish (f->edge, junk, sizeof junk, 9), CW_ESTREAM);
    /*  A heart-rate batch announced as IMU. */
    Coachwire__HeartRateBatch hr = COACHWIRE__HEART_RATE_BATCH__INIT;
    hr.start_time_ms = 1;
    Coachwire__SensorBatch b = COACHWIRE__SENSOR_BATCH__INIT;
    b.body_case = COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE;
    b.heart_rate = &hr;
    uint8_t buf [64];
    size_t len = coachwire__sensor_batch__pack (&b, buf);
    assert_int_equal (cw_edge_publish (f->edge, buf, len, 1), CW_ESTREAM);
    assert_int_equal (cw_edge_publish (f->edge, buf, len, 2), CW_OK);
    assert_int_equal (cw_edge_publish (f->edge, buf, len, 0), CW_OK);
    Coachwire__SensorBatch empty = COACHWIRE__SENSOR_BATCH__INIT;
    assert_int_equal (cw_edge_publish_batch (f->edge, &empty), CW_EEMPTY);
    assert_int_equal (s_stats (f).queued, 2);
}

static void
test_full_queue_refuses_and_counts (void **state)
{
    fixture_t *f = *state;
    f->opts.queue_max_frames = 2;
    s_open (f);
    s_publish_hr (f, 2);
    Coachwire__HeartRateBatch hr = COACHWIRE__HEART_RATE_BATCH__INIT;
    Coachwire__SensorBatch b = COACHWIRE__SENSOR_BATCH__INIT;
    b.body_case = COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE;
    b.heart_rate = &hr;
    assert_int_equal (cw_edge_publish_batch (f->edge, &b), CW_ENOSPC);
    cw_edge_stats_t s = s_stats (f);
    assert_int_equal (s.dropped, 1);
    assert_int_equal (s.queued, 2);
}

static void
test_frame_error_not_resent_and_counted (void **state)
{
    fixture_t *f = *state;
    f->gw.reject_seq = 3;
    f->gw.reject_code = CW_ERANGE;
    f->opts.resend_timeout_ms = 200;
    s_gw_start (&f->gw);
    s_open (f);
    s_publish_hr (f, 5);
    assert_int_equal (cw_edge_flush (f->edge, 3000), CW_OK);
    s_pump_for (f, 500);    /* well past the resend timeout */
    assert_int_equal (s_gw_seen (&f->gw, 3), 1);
    cw_edge_stats_t s = s_stats (f);
    assert_int_equal (s.queued, 0);
    assert_int_equal (s.acked, 4);
    assert_int_equal (s.rejected, 1);
    assert_int_equal (s.reject_kinds, 1);
    assert_int_equal (s.rejected_by_code [0].code, CW_ERANGE);
    assert_int_equal (s.rejected_by_code [0].count, 1);
    assert_string_equal (s.rejected_by_code [0].last_reason, "bpm 400 out of range");
    cw_edge_rejection_t r [4];
    assert_int_equal (cw_edge_rejections (f->edge, r, 4), 1);
    assert_int_equal (r [0].stream, 2);
    assert_int_equal (r [0].sequence, 3);
    assert_int_equal (r [0].code, CW_ERANGE);
}

static void
test_garbage_downlink_ignored_and_counted (void **state)
{
    fixture_t *f = *state;
    f->gw.garbage = 1;
    s_gw_start (&f->gw);
    s_open (f);
    s_publish_hr (f, 3);
    assert_int_equal (cw_edge_flush (f->edge, 3000), CW_OK);
    cw_edge_stats_t s = s_stats (f);
    assert_int_equal (s.acked, 3);
    assert_int_equal (s.garbage, 4);   /* junk, empty body, two parts, stream 99 */
    assert_int_equal (s.rejected, 0);
}

/*  -------------------------------------------------------------------------------------------
 *  Delivery
 */

static void
test_all_frames_acked_queue_empty (void **state)
{
    fixture_t *f = *state;
    s_gw_start (&f->gw);
    s_open (f);
    s_publish_hr (f, 20);      /* more than the window of 8 */
    assert_int_equal (s_stats (f).queued, 20);
    assert_int_equal (cw_edge_flush (f->edge, 5000), CW_OK);
    cw_edge_stats_t s = s_stats (f);
    assert_int_equal (s.queued, 0);
    assert_int_equal (s.sent, 20);
    assert_int_equal (s.acked, 20);
    assert_int_equal (s.duplicates, 0);
    assert_int_equal (s.rejected, 0);
    assert_int_equal (s.connected, 1);
    for (uint64_t seq = 1; seq <= 20; seq++)
        assert_int_equal (s_gw_seen (&f->gw, seq), 1);
    pthread_mutex_lock (&f->gw.lock);
    assert_int_equal (f->gw.bad, 0);
    pthread_mutex_unlock (&f->gw.lock);
}

static void
test_no_ack_resent_after_timeout (void **state)
{
    fixture_t *f = *state;
    f->gw.swallow = 1;
    f->opts.resend_timeout_ms = 300;
    s_gw_start (&f->gw);
    s_open (f);
    s_publish_hr (f, 1);
    assert_int_equal (cw_edge_flush (f->edge, 3000), CW_OK);
    assert_int_equal (s_gw_seen (&f->gw, 1), 2);
    pthread_mutex_lock (&f->gw.lock);
    int64_t gap = f->gw.last_ms [1] - f->gw.first_ms [1];
    pthread_mutex_unlock (&f->gw.lock);
    assert_true (gap >= 250);
    cw_edge_stats_t s = s_stats (f);
    assert_int_equal (s.sent, 1);
    assert_int_equal (s.resent, 1);
    assert_int_equal (s.acked, 1);
}

static void
test_backoff_pauses_sending (void **state)
{
    fixture_t *f = *state;
    f->gw.backoff_ms = 400;
    s_gw_start (&f->gw);
    s_open (f);
    s_publish_hr (f, 1);
    assert_int_equal (cw_edge_flush (f->edge, 3000), CW_OK);
    assert_int_equal (s_gw_seen (&f->gw, 1), 2);
    pthread_mutex_lock (&f->gw.lock);
    int64_t gap = f->gw.last_ms [1] - f->gw.first_ms [1];
    pthread_mutex_unlock (&f->gw.lock);
    assert_true (gap >= 350);
    assert_true (gap < 2500);     /* resent after the pause, not after the 3 s timeout */
    cw_edge_stats_t s = s_stats (f);
    assert_int_equal (s.backoffs, 1);
    assert_int_equal (s.acked, 1);
}

static void
test_server_restart_reconnects_and_resends (void **state)
{
    fixture_t *f = *state;
    f->opts.resend_timeout_ms = 60000;     /* only the reconnect can bring a resend in time */
    f->gw.swallow = 1000;                  /* the first gateway takes frames and dies */
    s_gw_start (&f->gw);
    s_open (f);
    s_publish_hr (f, 3);
    for (int i = 0; i < 100 && s_gw_seen (&f->gw, 3) == 0; i++)
        assert_int_equal (cw_edge_pump (f->edge, 20), CW_OK);
    assert_int_equal (s_gw_seen (&f->gw, 3), 1);
    assert_int_equal (s_stats (f).in_flight, 3);
    s_gw_stop (&f->gw);
    s_pump_for (f, 200);
    s_publish_hr (f, 2);                   /* queued while the gateway is down */
    f->gw.swallow = 0;
    s_gw_start (&f->gw);
    assert_int_equal (cw_edge_flush (f->edge, 5000), CW_OK);
    cw_edge_stats_t s = s_stats (f);
    assert_int_equal (s.acked, 5);
    assert_int_equal (s.sent, 5);
    assert_int_equal (s.resent, 3);
    assert_int_equal (s_gw_seen (&f->gw, 1), 2);
    assert_int_equal (s_gw_seen (&f->gw, 5), 1);
}

static void
test_queue_survives_restart_then_sends (void **state)
{
    fixture_t *f = *state;
    s_open (f);
    s_publish_hr (f, 4);       /* offline: nothing listens yet */
    assert_int_equal (cw_edge_flush (f->edge, 200), CW_ETIMEOUT);
    cw_edge_destroy (&f->edge);
    s_open (f);
    assert_int_equal (s_stats (f).queued, 4);
    s_publish_hr (f, 1);
    s_gw_start (&f->gw);
    assert_int_equal (cw_edge_flush (f->edge, 5000), CW_OK);
    assert_int_equal (s_stats (f).acked, 5);
    assert_int_equal (s_gw_seen (&f->gw, 5), 1);   /* the new batch took sequence 5 */
}

static void
test_queue_is_encrypted_at_rest (void **state)
{
    fixture_t *f = *state;
    s_open (f);
    static const char secret [] = "secret-banana-split-42";
    Coachwire__MealEntry entry = COACHWIRE__MEAL_ENTRY__INIT;
    entry.time_ms = 1700000000000ull;
    entry.item = (char *) secret;
    entry.amount = (char *) "1";
    Coachwire__MealEntry *entries [1] = { &entry };
    Coachwire__MealBatch meal = COACHWIRE__MEAL_BATCH__INIT;
    meal.n_entries = 1;
    meal.entries = entries;
    Coachwire__SensorBatch b = COACHWIRE__SENSOR_BATCH__INIT;
    b.body_case = COACHWIRE__SENSOR_BATCH__BODY_MEAL;
    b.meal = &meal;
    assert_int_equal (cw_edge_publish_batch (f->edge, &b), CW_OK);
    cw_edge_destroy (&f->edge);     /* checkpoint the WAL into the file */
    const char *suffixes [] = { "", "-wal" };
    for (int i = 0; i < 2; i++) {
        char path [300];
        snprintf (path, sizeof path, "%s%s", f->queue_path, suffixes [i]);
        FILE *file = fopen (path, "rb");
        if (!file)
            continue;
        static uint8_t data [1 << 20];
        size_t n = fread (data, 1, sizeof data, file);
        fclose (file);
        assert_null (memmem (data, n, secret, sizeof secret - 1));
    }
}

static int s_nudges;
static char s_nudge_id [33];

static void
s_on_nudge (void *ctx, const char *nudge_id, const uint8_t *body, size_t body_len)
{
    (void) ctx;
    s_nudges++;
    snprintf (s_nudge_id, sizeof s_nudge_id, "%s", nudge_id);
    assert_int_equal (body_len, 5);
    assert_memory_equal (body, "hello", 5);
}

static void
test_nudge_reaches_handler (void **state)
{
    fixture_t *f = *state;
    f->gw.nudge = 1;
    s_gw_start (&f->gw);
    s_open (f);
    cw_edge_set_nudge_handler (f->edge, s_on_nudge, NULL);
    s_publish_hr (f, 1);
    assert_int_equal (cw_edge_flush (f->edge, 3000), CW_OK);
    assert_int_equal (s_nudges, 1);
    assert_string_equal (s_nudge_id, "0123456789abcdef0123456789abcdef");
}

int
main (void)
{
    if (sodium_init () < 0 || !mkdtemp (s_dir))
        return 1;
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_wrong_server_key_nothing_acked, setup, teardown),
        cmocka_unit_test_setup_teardown (test_bad_arguments_and_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown (test_publish_validates_batches, setup, teardown),
        cmocka_unit_test_setup_teardown (test_full_queue_refuses_and_counts, setup, teardown),
        cmocka_unit_test_setup_teardown (test_frame_error_not_resent_and_counted, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_garbage_downlink_ignored_and_counted, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_all_frames_acked_queue_empty, setup, teardown),
        cmocka_unit_test_setup_teardown (test_no_ack_resent_after_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown (test_backoff_pauses_sending, setup, teardown),
        cmocka_unit_test_setup_teardown (test_server_restart_reconnects_and_resends, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_queue_survives_restart_then_sends, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_queue_is_encrypted_at_rest, setup, teardown),
        cmocka_unit_test_setup_teardown (test_nudge_reaches_handler, setup, teardown),
    };
    int failed = cmocka_run_group_tests (tests, NULL, NULL);
    char cmd [512];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", s_dir);
    return failed;
}
