/*  harness.c - see harness.h. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "coachwire/cw_api.h"
#include "coachwire/cw_coach.h"
#include "coachwire/cw_consent.h"
#include "coachwire/cw_ledger.h"
#include "coachwire/cw_envelope.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_gateway.h"
#include "coachwire/cw_keyring.h"
#include "coachwire/cw_zap.h"

struct harness_t {
    char dir [64];
    bool with_api;
    cw_server_config_t config;
    cw_keyring_t *keyring;
    cw_store_t *store;
    cw_zap_t *zap;
    cw_gateway_t *gateway;
    cw_api_t *api;
    cw_coach_t *coach;
};

struct device_t {
    harness_t *harness;
    void *sock;
    uint8_t device_id [CW_ID_BYTES];
    uint8_t *key;
};

/*  A free loopback port, reserved by binding and releasing it. */
static void
s_free_endpoint (char *out, size_t size)
{
    void *ctx = zmq_ctx_new ();
    void *s = zmq_socket (ctx, ZMQ_ROUTER);
    assert_int_equal (zmq_bind (s, "tcp://127.0.0.1:*"), 0);
    size_t len = size;
    zmq_getsockopt (s, ZMQ_LAST_ENDPOINT, out, &len);
    zmq_close (s);
    zmq_ctx_term (ctx);
}

harness_t *
harness_new (bool with_api)
{
    assert_int_not_equal (sodium_init (), -1);
    harness_t *self = calloc (1, sizeof *self);
    snprintf (self->dir, sizeof self->dir, "/tmp/cw_test_XXXXXX");
    assert_non_null (mkdtemp (self->dir));
    self->with_api = with_api;
    assert_int_equal (cw_keyring_create (self->dir), CW_OK);
    assert_int_equal (cw_keyring_load (&self->keyring, self->dir), CW_OK);
    cw_server_config_t *c = &self->config;
    snprintf (c->data_dir, sizeof c->data_dir, "%s", self->dir);
    snprintf (c->db_path, sizeof c->db_path, "%s/coachwire.db", self->dir);
    assert_int_equal (cw_store_open (&self->store, c->db_path, true), CW_OK);
    c->keyring = self->keyring;
    s_free_endpoint (c->gateway_bind, sizeof c->gateway_bind);
    s_free_endpoint (c->api_bind, sizeof c->api_bind);
    snprintf (c->gateway_public, sizeof c->gateway_public, "%s", c->gateway_bind);
    snprintf (c->api_public, sizeof c->api_public, "%s", c->api_bind);
    c->commit_max_frames = 64;
    c->commit_max_ms = 0;
    c->start_ms = cw_now_ms ();
    harness_start (self);
    return self;
}

cw_server_config_t *
harness_config_edit (harness_t *self)
{
    return &self->config;
}

void
harness_start (harness_t *self)
{
    self->config.zmq_ctx = zmq_ctx_new ();
    assert_int_equal (cw_zap_start (&self->zap, &self->config), CW_OK);
    assert_int_equal (cw_gateway_start (&self->gateway, &self->config), CW_OK);
    assert_int_equal (cw_coach_start (&self->coach, &self->config), CW_OK);
    if (self->with_api)
        assert_int_equal (cw_api_start (&self->api, &self->config), CW_OK);
}

void
harness_stop (harness_t *self)
{
    cw_api_destroy (&self->api);
    cw_coach_destroy (&self->coach);
    cw_gateway_destroy (&self->gateway);
    cw_zap_destroy (&self->zap);
    if (self->config.zmq_ctx)
        zmq_ctx_term (self->config.zmq_ctx);
    self->config.zmq_ctx = NULL;
}

void
harness_destroy (harness_t **self_p)
{
    harness_t *self = *self_p;
    if (!self)
        return;
    harness_stop (self);
    cw_store_destroy (&self->store);
    cw_keyring_destroy (&self->keyring);
    char cmd [128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", self->dir);
    if (system (cmd) != 0)
        fprintf (stderr, "harness: could not remove %s\n", self->dir);
    free (self);
    *self_p = NULL;
}

const char *harness_dir (harness_t *self) { return self->dir; }
const char *harness_gateway (harness_t *self) { return self->config.gateway_public; }
const char *harness_api (harness_t *self) { return self->config.api_public; }
cw_store_t *harness_store (harness_t *self) { return self->store; }
const cw_server_config_t *harness_config (harness_t *self) { return &self->config; }

void
harness_add_person (harness_t *self, const char *name, uint8_t *user_id)
{
    cw_principal_t p;
    memset (&p, 0, sizeof p);
    p.kind = CW_PRINCIPAL_USER;
    snprintf (p.name, sizeof p.name, "%s", name);
    snprintf (p.locale, sizeof p.locale, "en");
    snprintf (p.time_zone, sizeof p.time_zone, "UTC");
    uint8_t sk [32];
    crypto_box_keypair (p.public_key, sk);
    assert_int_equal (cw_store_principal_add (self->store, &p), CW_OK);
    uint8_t key [32], wrapped [CW_WRAPPED_KEY_BYTES];
    assert_int_equal (cw_keyring_person_key_new (self->keyring, p.id, key, wrapped), CW_OK);
    assert_int_equal (cw_store_person_key_put (self->store, p.id, wrapped), CW_OK);
    memcpy (user_id, p.id, CW_ID_BYTES);
}

void
harness_grant (harness_t *self, const uint8_t *user_id, const char *pattern,
               const char *purpose)
{
    harness_consent (self, user_id, pattern, purpose, true);
}

void
harness_consent (harness_t *self, const uint8_t *user_id, const char *pattern,
                 const char *purpose, bool grant)
{
    cw_consent_t *consent = NULL;
    cw_ledger_t *ledger = NULL;
    cw_purpose_t p;
    assert_int_equal (cw_purpose_parse (purpose, &p), CW_OK);
    assert_int_equal (cw_consent_open (&consent, self->store), CW_OK);
    assert_int_equal (cw_ledger_open (&ledger, self->store,
                                      cw_keyring_signing_secret (self->keyring)), CW_OK);
    cw_consent_change_t change;
    if (grant)
        assert_int_equal (cw_consent_grant (consent, ledger, user_id, pattern, p, 0,
                                            cw_now_ms (), &change), CW_OK);
    else
        assert_int_equal (cw_consent_revoke (consent, ledger, user_id, pattern, p,
                                             cw_now_ms (), &change), CW_OK);
    cw_ledger_destroy (&ledger);
    cw_consent_destroy (&consent);
    if (self->config.zmq_ctx) {
        void *push = zmq_socket (self->config.zmq_ctx, ZMQ_PUSH);
        assert_int_equal (zmq_connect (push, CW_GATEWAY_CONTROL_ENDPOINT), 0);
        uint8_t msg [7 + CW_ID_BYTES];
        memcpy (msg, "consent", 7);
        memcpy (msg + 7, user_id, CW_ID_BYTES);
        assert_int_equal (zmq_send (push, msg, sizeof msg, 0), (int) sizeof msg);
        zmq_close (push);
    }
}

cw_cred_t *
harness_enroll_device (harness_t *self, const uint8_t *user_id)
{
    cw_principal_t p;
    memset (&p, 0, sizeof p);
    p.kind = CW_PRINCIPAL_DEVICE;
    snprintf (p.name, sizeof p.name, "phone");
    memcpy (p.owner_id, user_id, CW_ID_BYTES);
    uint8_t sk [32];
    crypto_box_keypair (p.public_key, sk);
    assert_int_equal (cw_store_principal_add (self->store, &p), CW_OK);
    cw_cred_t *cred = NULL;
    assert_int_equal (cw_cred_new (&cred, CW_CRED_DEVICE, p.id, "person", p.public_key, sk,
                                   cw_keyring_server_public (self->keyring),
                                   self->config.gateway_public, self->config.api_public),
                      CW_OK);
    return cred;
}

cw_cred_t *
harness_stranger (harness_t *self)
{
    uint8_t pk [32], sk [32], id [16];
    crypto_box_keypair (pk, sk);
    randombytes_buf (id, sizeof id);
    cw_cred_t *cred = NULL;
    assert_int_equal (cw_cred_new (&cred, CW_CRED_DEVICE, id, "stranger", pk, sk,
                                   cw_keyring_server_public (self->keyring),
                                   self->config.gateway_public, self->config.api_public),
                      CW_OK);
    return cred;
}

device_t *
device_connect (harness_t *h, const cw_cred_t *cred)
{
    device_t *self = calloc (1, sizeof *self);
    self->harness = h;
    memcpy (self->device_id, cw_cred_id (cred), CW_ID_BYTES);
    self->key = sodium_malloc (32);
    /* A stranger's key derivation works too: it is only refused at the handshake. */
    assert_int_equal (cw_payload_key_derive (self->key, cw_cred_secret_key (cred),
                                             cw_cred_server_key (cred), cw_cred_public_key (cred),
                                             cw_cred_server_key (cred), self->device_id), CW_OK);
    static void *ctx;
    if (!ctx)
        ctx = zmq_ctx_new ();
    self->sock = zmq_socket (ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt (self->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (self->sock, ZMQ_CURVE_SERVERKEY, cw_cred_server_key (cred), 32);
    zmq_setsockopt (self->sock, ZMQ_CURVE_PUBLICKEY, cw_cred_public_key (cred), 32);
    zmq_setsockopt (self->sock, ZMQ_CURVE_SECRETKEY, cw_cred_secret_key (cred), 32);
    assert_int_equal (zmq_connect (self->sock, cw_cred_endpoint (cred)), 0);
    return self;
}

void
device_destroy (device_t **self_p)
{
    if (!*self_p)
        return;
    zmq_close ((*self_p)->sock);
    sodium_free ((*self_p)->key);
    free (*self_p);
    *self_p = NULL;
}

const uint8_t *device_payload_key (device_t *self) { return self->key; }

void
device_send_raw (device_t *self, const uint8_t *data, size_t len)
{
    assert_int_equal (zmq_send (self->sock, data, len, 0), (int) len);
}

void
device_send_plain (device_t *self, const uint8_t *plain, size_t len, uint16_t stream,
                   uint64_t sequence)
{
    size_t cap = len + CW_FRAME_OVERHEAD, n = 0;
    uint8_t *frame = malloc (cap);
    assert_int_equal (cw_envelope_seal (frame, cap, &n, self->key, self->device_id, stream,
                                        sequence, plain, len), CW_OK);
    device_send_raw (self, frame, n);
    free (frame);
}

void
device_send_batch (device_t *self, const Coachwire__SensorBatch *batch, uint16_t stream,
                   uint64_t sequence)
{
    size_t len = coachwire__sensor_batch__get_packed_size (batch);
    uint8_t *buf = malloc (len + 1);
    coachwire__sensor_batch__pack (batch, buf);
    device_send_plain (self, buf, len, stream, sequence);
    free (buf);
}

Coachwire__Downlink *
device_recv (device_t *self, int timeout_ms)
{
    zmq_pollitem_t item = { self->sock, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll (&item, 1, timeout_ms) <= 0)
        return NULL;
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    assert_true (zmq_msg_recv (&msg, self->sock, 0) >= 0);
    Coachwire__Downlink *d = coachwire__downlink__unpack (NULL, zmq_msg_size (&msg),
                                                          zmq_msg_data (&msg));
    zmq_msg_close (&msg);
    assert_non_null (d);
    return d;
}

Coachwire__SensorBatch *
batch_heart_rate (uint64_t start_ms, size_t n, uint32_t bpm)
{
    Coachwire__SensorBatch *b = calloc (1, sizeof *b);
    coachwire__sensor_batch__init (b);
    Coachwire__HeartRateBatch *hr = calloc (1, sizeof *hr);
    coachwire__heart_rate_batch__init (hr);
    hr->start_time_ms = start_ms;
    hr->n_time_delta_ms = hr->n_bpm = n;
    hr->time_delta_ms = calloc (n, sizeof (uint32_t));
    hr->bpm = calloc (n, sizeof (uint32_t));
    for (size_t i = 0; i < n; i++) {
        hr->time_delta_ms [i] = i ? 1000 : 0;
        hr->bpm [i] = bpm;
    }
    b->body_case = COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE;
    b->heart_rate = hr;
    return b;
}

void
batch_free (Coachwire__SensorBatch *b)
{
    if (!b)
        return;
    if (b->body_case == COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE) {
        free (b->heart_rate->time_delta_ms);
        free (b->heart_rate->bpm);
        free (b->heart_rate->rr_interval_ms);
        free (b->heart_rate);
    }
    free (b);
}

cw_cred_t *
harness_principal (harness_t *self, cw_principal_kind_t kind, const char *name,
                   const uint8_t *owner, uint8_t *id_out)
{
    cw_principal_t p;
    memset (&p, 0, sizeof p);
    p.kind = kind;
    snprintf (p.name, sizeof p.name, "%s", name);
    if (kind == CW_PRINCIPAL_USER) {
        snprintf (p.locale, sizeof p.locale, "en");
        snprintf (p.time_zone, sizeof p.time_zone, "UTC");
    }
    if (owner)
        memcpy (p.owner_id, owner, CW_ID_BYTES);
    uint8_t sk [32];
    crypto_box_keypair (p.public_key, sk);
    assert_int_equal (cw_store_principal_add (self->store, &p), CW_OK);
    if (kind == CW_PRINCIPAL_USER) {
        uint8_t key [32], wrapped [CW_WRAPPED_KEY_BYTES];
        assert_int_equal (cw_keyring_person_key_new (self->keyring, p.id, key, wrapped), CW_OK);
        assert_int_equal (cw_store_person_key_put (self->store, p.id, wrapped), CW_OK);
        sodium_memzero (key, sizeof key);
    }
    cw_cred_t *cred = NULL;
    assert_int_equal (cw_cred_new (&cred, (cw_cred_kind_t) kind, p.id, name, p.public_key, sk,
                                   cw_keyring_server_public (self->keyring),
                                   self->config.gateway_public, self->config.api_public),
                      CW_OK);
    sodium_memzero (sk, sizeof sk);
    if (id_out)
        memcpy (id_out, p.id, CW_ID_BYTES);
    return cred;
}

const cw_keyring_t *harness_keyring (harness_t *self) { return self->keyring; }

typedef struct {
    harness_t *harness;
    uint8_t *key;               /* NULL: the person has no data key (erased) */
    harness_frame_fn fn;
    void *ctx;
    size_t count;
} s_each_t;

static int
s_each_frame (void *ctx, const cw_stored_frame_t *f)
{
    s_each_t *e = ctx;
    e->count++;
    Coachwire__SensorBatch *batch = NULL;
    if (e->key && f->sealed_len >= CW_STORED_OVERHEAD) {
        uint8_t *plain = malloc (f->sealed_len);
        size_t len = 0;
        if (cw_stored_open (plain, &len, e->key, f->device_id, f->user_id, f->stream,
                            f->sequence, f->sealed, f->sealed_len) == CW_OK)
            batch = coachwire__sensor_batch__unpack (NULL, len, plain);
        free (plain);
    }
    e->fn (e->ctx, f, batch);
    if (batch)
        coachwire__sensor_batch__free_unpacked (batch, NULL);
    return CW_OK;
}

size_t
harness_stored_each (harness_t *self, const uint8_t *user_id, int64_t after_row,
                     harness_frame_fn fn, void *ctx)
{
    s_each_t e = { self, NULL, fn, ctx, 0 };
    uint8_t wrapped [CW_WRAPPED_KEY_BYTES];
    if (cw_store_person_key_get (self->store, user_id, wrapped) == CW_OK) {
        e.key = sodium_malloc (32);
        assert_int_equal (cw_keyring_person_key_unwrap (self->keyring, user_id, wrapped, e.key),
                          CW_OK);
    }
    assert_int_equal (cw_store_frame_each (self->store, user_id, after_row, 0, s_each_frame, &e),
                      CW_OK);
    if (e.key)
        sodium_free (e.key);
    return e.count;
}

Coachwire__SensorBatch *
batch_heart_rate_rr (uint64_t start_ms, size_t n, uint32_t bpm, uint32_t rr_ms)
{
    Coachwire__SensorBatch *b = batch_heart_rate (start_ms, n, bpm);
    b->heart_rate->n_rr_interval_ms = n;
    b->heart_rate->rr_interval_ms = calloc (n, sizeof (uint32_t));
    for (size_t i = 0; i < n; i++)
        b->heart_rate->rr_interval_ms [i] = rr_ms;
    return b;
}

uint8_t *
harness_read_file (const char *path, size_t *len)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    fseek (f, 0, SEEK_END);
    long n = ftell (f);
    fseek (f, 0, SEEK_SET);
    uint8_t *buf = malloc ((size_t) n + 1);
    *len = fread (buf, 1, (size_t) n, f);
    fclose (f);
    return buf;
}
