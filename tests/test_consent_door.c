/*  test_consent_door.c - consent enforced at the gateway's door, driven through the api.
 *
 *  1. A field without a grant is not stored: heart-rate frames carry a marker bpm (187) and
 *     rr intervals, only rr is granted; the stored payloads, opened with the person's key,
 *     hold no bpm, and the packed marker array appears nowhere in the database, WAL or
 *     payload segment files.
 *     After a grant of heart_rate.bpm, frames sent after its acknowledgement carry bpm again;
 *     frames stored before stay without it.
 *  2. Withdrawal under load: a thread sends frames continuously; each of 20 withdrawals of
 *     heart_rate.bpm must show in the store within 100 ms (p99) of its acknowledgement, and no
 *     frame sent after an acknowledgement may carry the field.
 *
 *  Needs the gateway's consent filter ("consent" control message, cw_strip_batch).
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

#include "harness.h"
#include "coachwire/cw_client.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_store.h"

#define S_TIMEOUT_MS 5000
#define S_MARKER_BPM 187u
#define S_SAMPLES 4u
#define S_WITHDRAWALS 20
#define S_BOUND_MS 100.0

static int
s_change (cw_client_t *client, bool grant, const char *pattern, const char *purpose)
{
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__ConsentChangeRequest body = COACHWIRE__CONSENT_CHANGE_REQUEST__INIT;
    body.pattern = (char *) pattern;
    body.purpose = (char *) purpose;
    req.body_case = grant ? COACHWIRE__API_REQUEST__BODY_CONSENT_GRANT
                          : COACHWIRE__API_REQUEST__BODY_CONSENT_REVOKE;
    if (grant)
        req.consent_grant = &body;
    else
        req.consent_revoke = &body;
    Coachwire__ApiReply *reply = NULL;
    assert_int_equal (cw_client_call (client, &req, &reply, S_TIMEOUT_MS), CW_OK);
    int rc = reply->code;
    if (rc != CW_OK)
        fprintf (stderr, "change refused: %s\n", reply->error);
    cw_client_reply_free (&reply);
    return rc;
}

static void
s_send_acked (device_t *dev, uint64_t first_seq, size_t n, uint32_t bpm)
{
    for (size_t i = 0; i < n; i++) {
        Coachwire__SensorBatch *b = batch_heart_rate_rr (cw_now_ms () - 60000, S_SAMPLES, bpm,
                                                         800);
        device_send_batch (dev, b, 2, first_seq + i);
        batch_free (b);
    }
    for (size_t acked = 0; acked < n; acked++) {
        Coachwire__Downlink *d = device_recv (dev, S_TIMEOUT_MS);
        assert_non_null (d);
        assert_int_equal (d->body_case, COACHWIRE__DOWNLINK__BODY_ACK);
        coachwire__downlink__free_unpacked (d, NULL);
    }
}

typedef struct {
    uint64_t min_sequence;      /* count frames with sequence >= this */
    size_t frames;
    size_t opened;
    size_t with_bpm;
    size_t with_rr;
    uint64_t first_without_bpm; /* sequence of the first frame (>= min) without bpm, or 0 */
    uint64_t first_with_bpm;
    uint64_t bad_sequence;      /* set by the latency test: a frame after it must lack bpm */
    size_t bad;                 /* frames after bad_sequence that carry bpm */
} s_scan_t;

static void
s_scan_frame (void *ctx, const cw_stored_frame_t *f, const Coachwire__SensorBatch *b)
{
    s_scan_t *s = ctx;
    if (f->sequence < s->min_sequence)
        return;
    s->frames++;
    if (!b || b->body_case != COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE)
        return;
    s->opened++;
    bool bpm = b->heart_rate->n_bpm > 0;
    s->with_bpm += bpm;
    s->with_rr += b->heart_rate->n_rr_interval_ms > 0;
    if (!bpm && !s->first_without_bpm)
        s->first_without_bpm = f->sequence;
    if (bpm && !s->first_with_bpm)
        s->first_with_bpm = f->sequence;
    if (bpm && s->bad_sequence && f->sequence > s->bad_sequence)
        s->bad++;
}

static bool
s_contains (const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp (hay + i, needle, m) == 0)
            return true;
    return false;
}

/*  The marker in every plain form it could take: the packed bpm field (tag 0x1a, length,
 *  varints of 187) and the bare run of varints. */
static void
s_assert_marker_absent (harness_t *h)
{
    uint8_t field [2 + 2 * S_SAMPLES], run [2 * S_SAMPLES];
    field [0] = 0x1a;
    field [1] = (uint8_t) (2 * S_SAMPLES);
    for (size_t i = 0; i < S_SAMPLES; i++) {
        field [2 + 2 * i] = run [2 * i] = (uint8_t) (0x80 | (S_MARKER_BPM & 0x7f));
        field [3 + 2 * i] = run [2 * i + 1] = (uint8_t) (S_MARKER_BPM >> 7);
    }
    const char *suffixes [] = { "", "-wal", "-shm", "-segments/00000001.seg" };
    for (size_t k = 0; k < sizeof suffixes / sizeof suffixes [0]; k++) {
        char path [CW_ENDPOINT_MAX + 64];
        snprintf (path, sizeof path, "%s%s", harness_config (h)->db_path, suffixes [k]);
        size_t len = 0;
        uint8_t *data = harness_read_file (path, &len);
        if (!data)
            continue;
        assert_false (s_contains (data, len, field, sizeof field));
        assert_false (s_contains (data, len, run, sizeof run));
        free (data);
    }
}

static void
test_ungranted_field_never_stored (void **state)
{
    (void) state;
    harness_t *h = harness_new (true);
    uint8_t ana [CW_ID_BYTES];
    cw_cred_t *cred = harness_principal (h, CW_PRINCIPAL_USER, "ana", NULL, ana);
    cw_cred_t *phone = harness_principal (h, CW_PRINCIPAL_DEVICE, "phone", ana, NULL);
    cw_client_t *client = NULL;
    assert_int_equal (cw_client_new (&client, cred, harness_api (h)), CW_OK);
    /* heart_rate.bpm granted for nothing; rr intervals granted. */
    assert_int_equal (s_change (client, true, "heart_rate.rr_interval", "retention"), CW_OK);
    device_t *dev = device_connect (h, phone);
    s_send_acked (dev, 1, 10, S_MARKER_BPM);

    s_scan_t s;
    memset (&s, 0, sizeof s);
    harness_stored_each (h, ana, 0, s_scan_frame, &s);
    assert_int_equal (s.frames, 10);
    assert_int_equal (s.opened, 10);
    assert_int_equal (s.with_bpm, 0);
    assert_int_equal (s.with_rr, 10);
    s_assert_marker_absent (h);

    /* Granted now: frames sent after the grant's acknowledgement carry bpm. */
    assert_int_equal (s_change (client, true, "heart_rate.bpm", "retention"), CW_OK);
    s_send_acked (dev, 11, 5, 120);
    memset (&s, 0, sizeof s);
    s.min_sequence = 11;
    harness_stored_each (h, ana, 0, s_scan_frame, &s);
    assert_int_equal (s.frames, 5);
    assert_int_equal (s.with_bpm, 5);
    /* ... and what was stored before stays without it. */
    memset (&s, 0, sizeof s);
    harness_stored_each (h, ana, 0, s_scan_frame, &s);
    assert_int_equal (s.frames, 15);
    assert_int_equal (s.with_bpm, 5);
    s_assert_marker_absent (h);

    device_destroy (&dev);
    cw_client_destroy (&client);
    cw_cred_destroy (&phone);
    cw_cred_destroy (&cred);
    harness_destroy (&h);
}

/*  ---------------------------------------------------------------------------------------
 *  Withdrawal under load */

typedef struct {
    device_t *dev;
    atomic_uint_fast64_t last_sent;     /* highest sequence sent so far */
    atomic_bool stop;
    size_t refused;
} s_load_t;

static void *
s_load (void *arg)
{
    s_load_t *load = arg;
    uint64_t seq = 0;
    while (!atomic_load (&load->stop)) {
        Coachwire__SensorBatch *b = batch_heart_rate_rr (cw_now_ms () - 60000, S_SAMPLES, 150,
                                                         800);
        device_send_batch (load->dev, b, 2, ++seq);
        batch_free (b);
        atomic_store (&load->last_sent, seq);
        Coachwire__Downlink *d;
        while ((d = device_recv (load->dev, 0)) != NULL) {
            load->refused += d->body_case == COACHWIRE__DOWNLINK__BODY_ERROR;
            coachwire__downlink__free_unpacked (d, NULL);
        }
        struct timespec pause = { 0, 2 * 1000 * 1000 };
        nanosleep (&pause, NULL);
    }
    return NULL;
}

static int
s_compare_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static void
test_withdrawal_latency_under_load (void **state)
{
    (void) state;
    harness_t *h = harness_new (true);
    uint8_t ana [CW_ID_BYTES];
    cw_cred_t *cred = harness_principal (h, CW_PRINCIPAL_USER, "ana", NULL, ana);
    cw_cred_t *phone = harness_principal (h, CW_PRINCIPAL_DEVICE, "phone", ana, NULL);
    cw_client_t *client = NULL;
    assert_int_equal (cw_client_new (&client, cred, harness_api (h)), CW_OK);
    assert_int_equal (s_change (client, true, "heart_rate.rr_interval", "retention"), CW_OK);
    assert_int_equal (s_change (client, true, "heart_rate.bpm", "retention"), CW_OK);

    s_load_t load;
    memset (&load, 0, sizeof load);
    load.dev = device_connect (h, phone);
    atomic_init (&load.last_sent, 0);
    atomic_init (&load.stop, false);
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_load, &load), 0);

    double latency [S_WITHDRAWALS];
    size_t violations = 0;
    for (int i = 0; i < S_WITHDRAWALS; i++) {
        /* Granted: wait until frames with bpm are being stored. */
        uint64_t from = atomic_load (&load.last_sent) + 1;
        s_scan_t s;
        uint64_t deadline = cw_mono_us () + 5000000;
        do {
            memset (&s, 0, sizeof s);
            s.min_sequence = from;
            harness_stored_each (h, ana, 0, s_scan_frame, &s);
        } while (!s.first_with_bpm && cw_mono_us () < deadline);
        assert_true (s.first_with_bpm != 0);

        /* Withdraw: measure from the acknowledgement to the first stored frame without. */
        uint64_t before = atomic_load (&load.last_sent);
        assert_int_equal (s_change (client, false, "heart_rate.bpm", "retention"), CW_OK);
        uint64_t acked_us = cw_mono_us ();
        uint64_t after_ack = atomic_load (&load.last_sent);
        uint64_t seen_us = 0;
        deadline = acked_us + 5000000;
        do {
            memset (&s, 0, sizeof s);
            s.min_sequence = before + 1;
            harness_stored_each (h, ana, 0, s_scan_frame, &s);
            if (s.first_without_bpm)
                seen_us = cw_mono_us ();
        } while (!seen_us && cw_mono_us () < deadline);
        assert_true (seen_us != 0);
        latency [i] = (double) (seen_us - acked_us) / 1000.0;

        /* Strict: nothing sent after the acknowledgement carries the field. Let frames in
         * flight land, then look at everything after after_ack. */
        struct timespec settle = { 0, 30 * 1000 * 1000 };
        nanosleep (&settle, NULL);
        memset (&s, 0, sizeof s);
        s.min_sequence = after_ack + 1;
        s.bad_sequence = after_ack;
        harness_stored_each (h, ana, 0, s_scan_frame, &s);
        violations += s.bad;
        assert_true (s.frames > 0);

        assert_int_equal (s_change (client, true, "heart_rate.bpm", "retention"), CW_OK);
    }
    atomic_store (&load.stop, true);
    pthread_join (thread, NULL);

    qsort (latency, S_WITHDRAWALS, sizeof latency [0], s_compare_double);
    size_t p99 = (size_t) (0.99 * S_WITHDRAWALS + 0.999999) - 1;
    printf ("withdrawal to effect under load: median %.1f ms, p99 %.1f ms, max %.1f ms "
            "(%d withdrawals)\n", latency [S_WITHDRAWALS / 2], latency [p99],
            latency [S_WITHDRAWALS - 1], S_WITHDRAWALS);
    assert_int_equal (violations, 0);
    assert_int_equal (load.refused, 0);
    assert_true (latency [p99] <= S_BOUND_MS);

    device_destroy (&load.dev);
    cw_client_destroy (&client);
    cw_cred_destroy (&phone);
    cw_cred_destroy (&cred);
    harness_destroy (&h);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_ungranted_field_never_stored),
        cmocka_unit_test (test_withdrawal_latency_under_load),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
