/*  test_gateway.c - the gateway on 127.0.0.1: every bad frame is answered with its code and
 *  counted while other devices carry on; good frames are stored once, re-sealed, then acked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"
#include "coachwire/cw_envelope.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_gateway.h"
#include "coachwire/cw_keyring.h"
#include "coachwire/cw_store.h"

typedef struct {
    harness_t *h;
    uint8_t user [CW_ID_BYTES];
    cw_cred_t *cred;
    device_t *dev;
} fixture_t;

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    f->h = harness_new (false);
    harness_add_person (f->h, "ana", f->user);
    harness_grant (f->h, f->user, "*", "retention");
    f->cred = harness_enroll_device (f->h, f->user);
    f->dev = device_connect (f->h, f->cred);
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    device_destroy (&f->dev);
    cw_cred_destroy (&f->cred);
    harness_destroy (&f->h);
    free (f);
    return 0;
}

/*  Expects a FrameError with code; returns nothing. */
static void
s_expect_error (device_t *dev, int code, uint64_t sequence)
{
    Coachwire__Downlink *d = device_recv (dev, 3000);
    assert_non_null (d);
    if (d->body_case != COACHWIRE__DOWNLINK__BODY_ERROR)
        fail_msg ("expected error %s, got downlink case %d", cw_errname (code), d->body_case);
    if (d->error->code != code)
        fail_msg ("expected %s, got %s: %s", cw_errname (code), cw_errname (d->error->code),
                  d->error->reason);
    assert_true (strlen (d->error->reason) > 0);
    if (sequence)
        assert_int_equal (d->error->sequence, sequence);
    coachwire__downlink__free_unpacked (d, NULL);
}

static void
s_expect_ack (device_t *dev, uint64_t sequence, bool duplicate)
{
    Coachwire__Downlink *d = device_recv (dev, 3000);
    assert_non_null (d);
    if (d->body_case != COACHWIRE__DOWNLINK__BODY_ACK)
        fail_msg ("expected ack of %llu, got case %d (%s)", (unsigned long long) sequence,
                  d->body_case,
                  d->body_case == COACHWIRE__DOWNLINK__BODY_ERROR ? d->error->reason : "");
    assert_int_equal (d->ack->sequence, sequence);
    assert_int_equal (d->ack->duplicate, duplicate);
    coachwire__downlink__free_unpacked (d, NULL);
}

static void
s_send_hr (device_t *dev, uint64_t sequence, uint32_t bpm)
{
    Coachwire__SensorBatch *b = batch_heart_rate (cw_now_ms () - 60000, 30, bpm);
    device_send_batch (dev, b, 2, sequence);
    batch_free (b);
}

typedef struct {
    const char *name;
    uint64_t value;
} s_counter_ctx_t;

static void
s_counter_fn (void *c, const char *n, uint64_t v)
{
    s_counter_ctx_t *ctx = c;
    if (strcmp (n, ctx->name) == 0)
        ctx->value = v;
}

/*  Reads a counter, waiting up to 2 s for the gateway's periodic flush to bring it to at least
 *  min (counters reach the store every 250 ms). */
static uint64_t
s_counter (cw_store_t *store, const char *name, uint64_t min)
{
    s_counter_ctx_t ctx = { name, 0 };
    for (int i = 0; i < 100; i++) {
        ctx.value = 0;
        assert_int_equal (cw_store_counter_each (store, s_counter_fn, &ctx), CW_OK);
        if (ctx.value >= min)
            break;
        zmq_poll (NULL, 0, 20);
    }
    return ctx.value;
}

static void
test_unknown_key_gets_no_further_than_the_handshake (void **state)
{
    fixture_t *f = *state;
    cw_cred_t *stranger = harness_stranger (f->h);
    device_t *dev = device_connect (f->h, stranger);
    s_send_hr (dev, 1, 120);
    assert_null (device_recv (dev, 700));
    device_destroy (&dev);
    cw_cred_destroy (&stranger);
    /* the known device is not disturbed */
    s_send_hr (f->dev, 1, 120);
    s_expect_ack (f->dev, 1, false);
}

static void
test_revoked_device_refused_at_once (void **state)
{
    fixture_t *f = *state;
    s_send_hr (f->dev, 1, 120);
    s_expect_ack (f->dev, 1, false);
    assert_int_equal (cw_store_principal_revoke (harness_store (f->h), cw_cred_id (f->cred)),
                      CW_OK);
    /* tell the running gateway, as the api actor does */
    void *push = zmq_socket (harness_config (f->h)->zmq_ctx, ZMQ_PUSH);
    assert_int_equal (zmq_connect (push, CW_GATEWAY_CONTROL_ENDPOINT), 0);
    uint8_t msg [6 + CW_ID_BYTES];
    memcpy (msg, "revoke", 6);
    memcpy (msg + 6, cw_cred_id (f->cred), CW_ID_BYTES);
    assert_int_equal (zmq_send (push, msg, sizeof msg, 0), (int) sizeof msg);
    zmq_close (push);
    /* the open connection is refused frame by frame ... */
    bool refused = false;
    for (uint64_t seq = 2; seq < 50 && !refused; seq++) {
        s_send_hr (f->dev, seq, 120);
        Coachwire__Downlink *d = device_recv (f->dev, 3000);
        assert_non_null (d);
        refused = d->body_case == COACHWIRE__DOWNLINK__BODY_ERROR;
        if (refused)
            assert_int_equal (d->error->code, CW_EREVOKED);
        coachwire__downlink__free_unpacked (d, NULL);
    }
    assert_true (refused);
    /* ... and a new connection does not get past the handshake */
    device_t *again = device_connect (f->h, f->cred);
    s_send_hr (again, 99, 120);
    assert_null (device_recv (again, 700));
    device_destroy (&again);
}

static void
test_tampered_frames_refused_and_others_carry_on (void **state)
{
    fixture_t *f = *state;
    uint8_t other_user [CW_ID_BYTES];
    harness_add_person (f->h, "ben", other_user);
    harness_grant (f->h, other_user, "*", "retention");
    cw_cred_t *other_cred = harness_enroll_device (f->h, other_user);
    device_t *other = device_connect (f->h, other_cred);

    Coachwire__SensorBatch *b = batch_heart_rate (cw_now_ms () - 60000, 30, 130);
    size_t plen = coachwire__sensor_batch__get_packed_size (b);
    uint8_t plain [1024], frame [1200];
    coachwire__sensor_batch__pack (b, plain);
    batch_free (b);
    size_t flen = 0;
    assert_int_equal (cw_envelope_seal (frame, sizeof frame, &flen, device_payload_key (f->dev),
                                        cw_cred_id (f->cred), 2, 10, plain, plen), CW_OK);
    uint64_t seq_other = 1;
    /* flipped bit in the ciphertext, then in the tag */
    frame [40] ^= 1;
    device_send_raw (f->dev, frame, flen);
    s_expect_error (f->dev, CW_EAUTH, 10);
    frame [40] ^= 1;
    frame [flen - 1] ^= 0x80;
    device_send_raw (f->dev, frame, flen);
    s_expect_error (f->dev, CW_EAUTH, 10);
    frame [flen - 1] ^= 0x80;
    s_send_hr (other, seq_other, 99);
    s_expect_ack (other, seq_other++, false);
    /* truncated: inside the header, then inside the tag */
    device_send_raw (f->dev, frame, 7);
    s_expect_error (f->dev, CW_EFRAME, 0);
    device_send_raw (f->dev, frame, flen - 3);
    s_expect_error (f->dev, CW_EAUTH, 10);
    /* the header says another stream than the one sealed: associated data differs */
    frame [3] = 3;
    device_send_raw (f->dev, frame, flen);
    s_expect_error (f->dev, CW_EAUTH, 10);
    frame [3] = 2;
    /* another device's frame, replayed on this connection: wrong device in the AD */
    s_send_hr (other, seq_other, 99);
    s_expect_ack (other, seq_other++, false);
    /* future protocol version */
    frame [0] = 9;
    device_send_raw (f->dev, frame, flen);
    Coachwire__Downlink *d = device_recv (f->dev, 3000);
    assert_non_null (d);
    assert_int_equal (d->error->code, CW_EVERSION);
    assert_int_equal (d->error->n_supported_versions, 1);
    assert_int_equal (d->error->supported_versions [0], CW_PROTOCOL_VERSION);
    coachwire__downlink__free_unpacked (d, NULL);
    frame [0] = 1;
    /* after all that, the intact frame is accepted */
    device_send_raw (f->dev, frame, flen);
    s_expect_ack (f->dev, 10, false);
    s_send_hr (other, seq_other, 99);
    s_expect_ack (other, seq_other++, false);
    /* a batch whose kind differs from the stream it was sealed for */
    b = batch_heart_rate (cw_now_ms () - 60000, 5, 130);
    device_send_batch (f->dev, b, 3, 11);
    batch_free (b);
    s_expect_error (f->dev, CW_ESTREAM, 11);
    device_destroy (&other);
    cw_cred_destroy (&other_cred);
}

static void
test_bad_payloads_answered_with_their_codes (void **state)
{
    fixture_t *f = *state;
    /* an embedded length longer than what follows */
    const uint8_t short_len [] = { 0x12, 0x05, 0x08, 0x01 };
    device_send_plain (f->dev, short_len, sizeof short_len, 2, 20);
    s_expect_error (f->dev, CW_EDECODE, 20);
    /* a packed array whose length prefix claims 2 GB */
    const uint8_t huge [] = { 0x12, 0x08, 0x1a, 0xff, 0xff, 0xff, 0xff, 0x07, 0x01, 0x02 };
    device_send_plain (f->dev, huge, sizeof huge, 2, 21);
    s_expect_error (f->dev, CW_EDECODE, 21);
    /* extreme values */
    Coachwire__SensorBatch *b = batch_heart_rate (cw_now_ms () - 60000, 10, 120);
    b->heart_rate->bpm [3] = UINT32_MAX;
    device_send_batch (f->dev, b, 2, 22);
    s_expect_error (f->dev, CW_ERANGE, 22);
    b->heart_rate->bpm [3] = 0;
    device_send_batch (f->dev, b, 2, 23);
    s_expect_error (f->dev, CW_ERANGE, 23);
    b->heart_rate->bpm [3] = 120;
    /* arrays of different lengths */
    b->heart_rate->n_bpm = 9;
    device_send_batch (f->dev, b, 2, 24);
    s_expect_error (f->dev, CW_ESHAPE, 24);
    b->heart_rate->n_bpm = 10;
    /* far in the future, and decades old */
    b->heart_rate->start_time_ms = cw_now_ms () + 24ull * 3600 * 1000;
    device_send_batch (f->dev, b, 2, 25);
    s_expect_error (f->dev, CW_ETIME, 25);
    b->heart_rate->start_time_ms = 1000;
    device_send_batch (f->dev, b, 2, 26);
    s_expect_error (f->dev, CW_ETIME, 26);
    batch_free (b);
    /* an IMU batch with the most negative zigzag value */
    Coachwire__SensorBatch imu_batch = COACHWIRE__SENSOR_BATCH__INIT;
    Coachwire__ImuBatch imu = COACHWIRE__IMU_BATCH__INIT;
    int32_t xs [4] = { 0, INT32_MIN, 5, 6 };
    imu.start_time_ms = cw_now_ms () - 1000;
    imu.sample_rate_mhz = 100000;
    imu.n_accel_x_mm_s2 = imu.n_accel_y_mm_s2 = imu.n_accel_z_mm_s2 = 4;
    imu.accel_x_mm_s2 = imu.accel_y_mm_s2 = imu.accel_z_mm_s2 = xs;
    imu_batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_IMU;
    imu_batch.imu = &imu;
    device_send_batch (f->dev, &imu_batch, 1, 27);
    s_expect_error (f->dev, CW_ERANGE, 27);
    imu.sample_rate_mhz = 0;
    xs [1] = 9810;
    device_send_batch (f->dev, &imu_batch, 1, 28);
    s_expect_error (f->dev, CW_ERANGE, 28);
    /* empty batch */
    Coachwire__SensorBatch empty = COACHWIRE__SENSOR_BATCH__INIT;
    device_send_batch (f->dev, &empty, 2, 29);
    s_expect_error (f->dev, CW_ESTREAM, 29);
    /* oversized: 1.5 MiB */
    size_t big = CW_FRAME_MAX_BYTES + CW_FRAME_MAX_BYTES / 2;
    uint8_t *junk = calloc (1, big);
    junk [0] = 1;
    junk [1] = 1;
    junk [3] = 2;
    junk [11] = 30;
    device_send_raw (f->dev, junk, big);
    free (junk);
    s_expect_error (f->dev, CW_ETOOBIG, 30);
    /* after all of it, the connection still works */
    s_send_hr (f->dev, 31, 120);
    s_expect_ack (f->dev, 31, false);
    /* and every refusal was counted */
    cw_store_t *store = harness_store (f->h);
    assert_true (s_counter (store, "rejected.CW_EDECODE", 2) >= 2);
    assert_true (s_counter (store, "rejected.CW_ERANGE", 4) >= 4);
    assert_true (s_counter (store, "rejected.CW_ETIME", 2) >= 2);
    assert_true (s_counter (store, "rejected.CW_ETOOBIG", 1) >= 1);
    assert_true (s_counter (store, "rejected.CW_ESHAPE", 1) >= 1);
    assert_int_equal (s_counter (store, "frames_accepted", 1), 1);
}

typedef struct {
    const uint8_t *key;
    int count;
    uint64_t seqs;
} s_stored_ctx_t;

static int
s_check_stored (void *c, const cw_stored_frame_t *fr)
{
    s_stored_ctx_t *ctx = c;
    uint8_t plain [1024];
    size_t n = 0;
    assert_int_equal (cw_stored_open (plain, &n, ctx->key, fr->device_id, fr->user_id,
                                      fr->stream, fr->sequence, fr->sealed, fr->sealed_len),
                      CW_OK);
    Coachwire__SensorBatch *b = coachwire__sensor_batch__unpack (NULL, n, plain);
    assert_non_null (b);
    assert_int_equal (b->body_case, COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE);
    assert_int_equal (b->heart_rate->n_bpm, 30);
    assert_int_equal (b->heart_rate->bpm [0], 100 + fr->sequence);
    coachwire__sensor_batch__free_unpacked (b, NULL);
    /* a byte changed in storage is detected */
    uint8_t *copy = malloc (fr->sealed_len);
    memcpy (copy, fr->sealed, fr->sealed_len);
    copy [fr->sealed_len / 2] ^= 1;
    assert_int_equal (cw_stored_open (plain, &n, ctx->key, fr->device_id, fr->user_id,
                                      fr->stream, fr->sequence, copy, fr->sealed_len),
                      CW_EAUTH);
    free (copy);
    ctx->count++;
    ctx->seqs += fr->sequence;
    return CW_OK;
}

static void
test_replay_and_out_of_order_stored_once (void **state)
{
    fixture_t *f = *state;
    uint64_t order [] = { 5, 3, 4, 1, 2 };
    for (size_t i = 0; i < 5; i++) {
        s_send_hr (f->dev, order [i], 100 + (uint32_t) order [i]);
        s_expect_ack (f->dev, order [i], false);
    }
    /* replays, including after a restart of the service */
    s_send_hr (f->dev, 3, 103);
    s_expect_ack (f->dev, 3, true);
    harness_stop (f->h);
    harness_start (f->h);
    device_destroy (&f->dev);
    f->dev = device_connect (f->h, f->cred);
    s_send_hr (f->dev, 4, 104);
    s_expect_ack (f->dev, 4, true);
    /* what is stored decodes back to the readings, under the person's key */
    cw_store_t *store = harness_store (f->h);
    uint8_t wrapped [CW_WRAPPED_KEY_BYTES];
    assert_int_equal (cw_store_person_key_get (store, f->user, wrapped), CW_OK);
    cw_keyring_t *kr = NULL;
    assert_int_equal (cw_keyring_load (&kr, harness_dir (f->h)), CW_OK);
    uint8_t *key = sodium_malloc (32);
    assert_int_equal (cw_keyring_person_key_unwrap (kr, f->user, wrapped, key), CW_OK);
    s_stored_ctx_t ctx = { key, 0, 0 };
    assert_int_equal (cw_store_frame_each (store, f->user, 0, 0, s_check_stored, &ctx), CW_OK);
    assert_int_equal (ctx.count, 5);
    assert_int_equal (ctx.seqs, 1 + 2 + 3 + 4 + 5);
    sodium_free (key);
    cw_keyring_destroy (&kr);
}

static void
test_ack_only_after_commit (void **state)
{
    fixture_t *f = *state;
    for (uint64_t seq = 1; seq <= 20; seq++)
        s_send_hr (f->dev, seq, 120);
    for (uint64_t seq = 1; seq <= 20; seq++) {
        Coachwire__Downlink *d = device_recv (f->dev, 3000);
        assert_non_null (d);
        assert_int_equal (d->body_case, COACHWIRE__DOWNLINK__BODY_ACK);
        /* visible to another connection: it was committed before the ack left */
        bool seen = false;
        assert_int_equal (cw_store_frame_seen (harness_store (f->h), cw_cred_id (f->cred), 2,
                                               d->ack->sequence, &seen), CW_OK);
        assert_true (seen);
        coachwire__downlink__free_unpacked (d, NULL);
    }
}

/*  --commit-ms: a group that is not full waits that long for more frames before its commit,
 *  so no ack can come sooner (a lower bound: it holds however loaded the machine is). */
static void
test_commit_ms_lets_a_group_gather (void **state)
{
    fixture_t *f = *state;
    harness_stop (f->h);
    harness_config_edit (f->h)->commit_max_ms = 300;
    harness_start (f->h);
    uint64_t t0 = cw_mono_us ();
    for (uint64_t seq = 1; seq <= 5; seq++)
        s_send_hr (f->dev, seq, 120);
    for (uint64_t seq = 1; seq <= 5; seq++) {
        Coachwire__Downlink *d = device_recv (f->dev, 5000);
        assert_non_null (d);
        assert_int_equal (d->body_case, COACHWIRE__DOWNLINK__BODY_ACK);
        assert_false (d->ack->duplicate);
        assert_true (cw_mono_us () - t0 >= 300000);
        coachwire__downlink__free_unpacked (d, NULL);
    }
}

typedef struct {
    const uint8_t *key;
    size_t frames;
    size_t with_bpm;
    size_t with_rr;
    size_t unknown;
    uint32_t marker;        /* every stored bpm must be this, when not 0 */
} s_door_ctx_t;

static int
s_door_check (void *c, const cw_stored_frame_t *fr)
{
    s_door_ctx_t *ctx = c;
    uint8_t plain [2048];
    size_t n = 0;
    assert_int_equal (cw_stored_open (plain, &n, ctx->key, fr->device_id, fr->user_id,
                                      fr->stream, fr->sequence, fr->sealed, fr->sealed_len),
                      CW_OK);
    Coachwire__SensorBatch *b = coachwire__sensor_batch__unpack (NULL, n, plain);
    assert_non_null (b);
    ctx->frames++;
    ctx->with_bpm += b->heart_rate->n_bpm > 0;
    ctx->with_rr += b->heart_rate->n_rr_interval_ms > 0;
    ctx->unknown += b->base.n_unknown_fields + b->heart_rate->base.n_unknown_fields;
    for (size_t i = 0; ctx->marker && i < b->heart_rate->n_bpm; i++)
        assert_int_equal (b->heart_rate->bpm [i], ctx->marker);
    coachwire__sensor_batch__free_unpacked (b, NULL);
    return CW_OK;
}

static s_door_ctx_t
s_door_scan (harness_t *h, const uint8_t *user, uint32_t marker)
{
    cw_keyring_t *kr = NULL;
    assert_int_equal (cw_keyring_load (&kr, harness_dir (h)), CW_OK);
    uint8_t wrapped [CW_WRAPPED_KEY_BYTES];
    assert_int_equal (cw_store_person_key_get (harness_store (h), user, wrapped), CW_OK);
    uint8_t *key = sodium_malloc (32);
    assert_int_equal (cw_keyring_person_key_unwrap (kr, user, wrapped, key), CW_OK);
    s_door_ctx_t ctx = { key, 0, 0, 0, 0, marker };
    assert_int_equal (cw_store_frame_each (harness_store (h), user, 0, 0, s_door_check, &ctx),
                      CW_OK);
    sodium_free (key);
    cw_keyring_destroy (&kr);
    return ctx;
}

/*  A heart-rate batch with a marker bpm and RR intervals. */
static void
s_send_marked (device_t *dev, uint64_t sequence)
{
    Coachwire__SensorBatch *b = batch_heart_rate (cw_now_ms () - 60000, 10, 187);
    uint32_t rr [3] = { 800, 810, 820 };
    b->heart_rate->n_rr_interval_ms = 3;
    b->heart_rate->rr_interval_ms = malloc (sizeof rr);
    memcpy (b->heart_rate->rr_interval_ms, rr, sizeof rr);
    device_send_batch (dev, b, 2, sequence);
    batch_free (b);
}

static void
test_consent_door_strips_ungranted_fields (void **state)
{
    fixture_t *f = *state;
    uint8_t user [CW_ID_BYTES];
    harness_add_person (f->h, "cleo", user);
    cw_cred_t *cred = harness_enroll_device (f->h, user);
    device_t *dev = device_connect (f->h, cred);
    /* nothing granted: acked, remembered for dedup, nothing stored */
    s_send_marked (dev, 1);
    s_expect_ack (dev, 1, false);
    assert_int_equal (s_door_scan (f->h, user, 187).frames, 0);
    s_send_marked (dev, 1);
    s_expect_ack (dev, 1, true);
    /* only RR intervals granted (to keep): bpm never reaches disk */
    harness_grant (f->h, user, "heart_rate.rr_interval", "retention");
    s_send_marked (dev, 2);
    s_expect_ack (dev, 2, false);
    s_door_ctx_t got = s_door_scan (f->h, user, 187);
    assert_int_equal (got.frames, 1);
    assert_int_equal (got.with_rr, 1);
    assert_int_equal (got.with_bpm, 0);
    /* the next frame after a grant's acknowledgement carries the field; earlier ones not */
    harness_grant (f->h, user, "heart_rate.bpm", "retention");
    s_send_marked (dev, 3);
    s_expect_ack (dev, 3, false);
    got = s_door_scan (f->h, user, 187);
    assert_int_equal (got.frames, 2);
    assert_int_equal (got.with_bpm, 1);
    assert_true (s_counter (harness_store (f->h), "stripped.heart_rate.bpm", 1) >= 1);
    assert_true (s_counter (harness_store (f->h), "frames_nothing_granted", 1) >= 1);
    device_destroy (&dev);
    cw_cred_destroy (&cred);
}

static void
test_unknown_wire_fields_never_stored (void **state)
{
    fixture_t *f = *state;
    /* everything is granted, yet a field the catalog does not know must not ride along */
    Coachwire__SensorBatch *b = batch_heart_rate (cw_now_ms () - 60000, 5, 120);
    size_t len = coachwire__sensor_batch__get_packed_size (b);
    uint8_t buf [512];
    coachwire__sensor_batch__pack (b, buf);
    batch_free (b);
    /* append field 15 (varint) inside the heart-rate message: rewrite its length prefix */
    assert_int_equal (buf [0], 0x12);
    assert_true (buf [1] < 0x7e);
    buf [1] = (uint8_t) (buf [1] + 2);
    buf [len] = 0x78;       /* field 15, varint */
    buf [len + 1] = 0x2a;   /* 42 */
    device_send_plain (f->dev, buf, len + 2, 2, 7);
    s_expect_ack (f->dev, 7, false);
    s_door_ctx_t got = s_door_scan (f->h, f->user, 0);
    assert_int_equal (got.frames, 1);
    assert_int_equal (got.unknown, 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_unknown_key_gets_no_further_than_the_handshake,
                                         setup, teardown),
        cmocka_unit_test_setup_teardown (test_revoked_device_refused_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown (test_tampered_frames_refused_and_others_carry_on, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_bad_payloads_answered_with_their_codes, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_replay_and_out_of_order_stored_once, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_ack_only_after_commit, setup, teardown),
        cmocka_unit_test_setup_teardown (test_commit_ms_lets_a_group_gather, setup, teardown),
        cmocka_unit_test_setup_teardown (test_consent_door_strips_ungranted_fields, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_unknown_wire_fields_never_stored, setup,
                                         teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
