/*  test_envelope.c - sealing and opening frames; every way a frame can be wrong is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "coachwire/cw_envelope.h"
#include "coachwire/cw_error.h"

typedef struct {
    uint8_t dev_pk [32], dev_sk [32], srv_pk [32], srv_sk [32];
    uint8_t device_id [CW_DEVICE_ID_BYTES];
    uint8_t key [32];
    uint8_t frame [256];
    size_t frame_len;
    uint8_t plain [256];
} fixture_t;

static const uint8_t s_payload [] = "one second of heart rate";

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    crypto_box_keypair (f->dev_pk, f->dev_sk);
    crypto_box_keypair (f->srv_pk, f->srv_sk);
    randombytes_buf (f->device_id, sizeof f->device_id);
    assert_int_equal (cw_payload_key_derive (f->key, f->dev_sk, f->srv_pk, f->dev_pk, f->srv_pk,
                                             f->device_id), CW_OK);
    assert_int_equal (cw_envelope_seal (f->frame, sizeof f->frame, &f->frame_len, f->key,
                                        f->device_id, 2, 7, s_payload, sizeof s_payload),
                      CW_OK);
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    free (*state);
    return 0;
}

static int
s_open (fixture_t *f, const uint8_t *device_id)
{
    size_t len = 0;
    cw_frame_header_t h;
    return cw_envelope_open (f->plain, sizeof f->plain, &len, &h, f->key, device_id, f->frame,
                             f->frame_len);
}

static void
test_flipped_bit_anywhere_refused (void **state)
{
    fixture_t *f = *state;
    /* Flip each bit past the clear header in turn: nonce, ciphertext and tag are all covered. */
    for (size_t i = CW_FRAME_HEADER_BYTES; i < f->frame_len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            f->frame [i] ^= (uint8_t) (1u << bit);
            assert_int_equal (s_open (f, f->device_id), CW_EAUTH);
            f->frame [i] ^= (uint8_t) (1u << bit);
        }
    }
}

static void
test_header_rewrites_refused (void **state)
{
    fixture_t *f = *state;
    f->frame [3] = 3;   /* other stream */
    assert_int_equal (s_open (f, f->device_id), CW_EAUTH);
    f->frame [3] = 2;
    f->frame [11] = 8;  /* other sequence: a replay under a new number */
    assert_int_equal (s_open (f, f->device_id), CW_EAUTH);
    f->frame [11] = 7;
    f->frame [3] = 9;   /* no such stream */
    assert_int_equal (s_open (f, f->device_id), CW_ESTREAM);
    f->frame [3] = 2;
    f->frame [0] = 2;   /* future version */
    assert_int_equal (s_open (f, f->device_id), CW_EVERSION);
    f->frame [0] = 1;
    f->frame [1] = 9;   /* unknown kind */
    assert_int_equal (s_open (f, f->device_id), CW_EFRAME);
    f->frame [1] = 1;
    assert_int_equal (s_open (f, f->device_id), CW_OK);
}

static void
test_other_device_refused (void **state)
{
    fixture_t *f = *state;
    uint8_t other [CW_DEVICE_ID_BYTES];
    memcpy (other, f->device_id, sizeof other);
    other [0] ^= 1;
    assert_int_equal (s_open (f, other), CW_EAUTH);
}

static void
test_truncated_refused (void **state)
{
    fixture_t *f = *state;
    size_t full = f->frame_len;
    for (size_t n = 0; n < full; n++) {
        f->frame_len = n;
        int rc = s_open (f, f->device_id);
        assert_true (rc == CW_EFRAME || rc == CW_EAUTH);
    }
    f->frame_len = full;
}

static void
test_roundtrip_and_server_derives_same_key (void **state)
{
    fixture_t *f = *state;
    uint8_t server_key [32];
    assert_int_equal (cw_payload_key_derive (server_key, f->srv_sk, f->dev_pk, f->dev_pk,
                                             f->srv_pk, f->device_id), CW_OK);
    assert_memory_equal (server_key, f->key, 32);
    size_t len = 0;
    cw_frame_header_t h;
    assert_int_equal (cw_envelope_open (f->plain, sizeof f->plain, &len, &h, server_key,
                                        f->device_id, f->frame, f->frame_len), CW_OK);
    assert_int_equal (len, sizeof s_payload);
    assert_memory_equal (f->plain, s_payload, len);
    assert_int_equal (h.stream, 2);
    assert_int_equal (h.sequence, 7);
    assert_int_equal (f->frame_len, sizeof s_payload + CW_FRAME_OVERHEAD);
}

static void
test_low_order_peer_key_refused (void **state)
{
    fixture_t *f = *state;
    uint8_t zero [32] = { 0 };
    uint8_t key [32];
    assert_int_equal (cw_payload_key_derive (key, f->dev_sk, zero, f->dev_pk, zero, f->device_id),
                      CW_EAUTH);
}

static void
test_seal_refuses_bad_arguments (void **state)
{
    fixture_t *f = *state;
    size_t len;
    assert_int_equal (cw_envelope_seal (f->frame, sizeof f->frame, &len, f->key, f->device_id,
                                        0, 1, s_payload, 4), CW_EINVAL);
    assert_int_equal (cw_envelope_seal (f->frame, sizeof f->frame, &len, f->key, f->device_id,
                                        1, 0, s_payload, 4), CW_EINVAL);
    assert_int_equal (cw_envelope_seal (f->frame, 10, &len, f->key, f->device_id, 1, 1,
                                        s_payload, 4), CW_EINVAL);
    assert_int_equal (cw_envelope_seal (f->frame, sizeof f->frame, &len, f->key, f->device_id,
                                        1, 1, s_payload, CW_PAYLOAD_MAX_BYTES + 1), CW_ETOOBIG);
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_flipped_bit_anywhere_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_header_rewrites_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_other_device_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_truncated_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_low_order_peer_key_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_seal_refuses_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown (test_roundtrip_and_server_derives_same_key, setup,
                                         teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
