/*  cw_gateway.c - the gateway actor (see include/coachwire/cw_gateway.h).
 *
 *  One thread, one poll loop over: its pipe, the devices' ROUTER, the control PULL and the
 *  committer. Accepted frames wait in the filling group until it goes to the committer (its
 *  own thread, cw_committer.h) when the committer is free and the socket has nothing more
 *  queued (or commit_max_frames are waiting); commit_max_ms > 0 lets a group that is not full
 *  wait that long for more. While it syncs one group the gateway opens and checks the next. Acks
 *  leave only when the group holding their frames comes back committed.
 */
#include "coachwire/cw_gateway.h"
#include "coachwire/cw_actor.h"
#include "coachwire/cw_batch.h"
#include "coachwire/cw_catalog.h"
#include "coachwire/cw_committer.h"
#include "coachwire/cw_consent.h"
#include "coachwire/cw_strip.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_device_cache.h"
#include "coachwire/cw_envelope.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_nudge.h"
#include "coachwire/cw_store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define S_ROUTING_ID_MAX CW_COMMIT_ROUTING_ID_MAX
#define S_STAGES 6
#define S_MAX_CODES 64
#define S_BACKOFF_MS 1000u
#define S_COUNTER_FLUSH_US 250000u  /* counters and last-seen reach the store this often */
#define S_DIRTY_MAX 4096u           /* devices with unflushed frames before a forced flush */
#define S_LISTEN_BACKLOG 4096
#define S_STAGE_SAMPLE 16u          /* stage CPU is read on one frame in this many (a thread CPU
                                       clock read is a system call: timing every frame cost more
                                       than some of the stages it timed) */

static const char *s_stage_names [S_STAGES] = { "transport", "open", "decode_validate",
                                                 "reseal", "commit", "ack" };
enum { STAGE_TRANSPORT, STAGE_OPEN, STAGE_DECODE, STAGE_RESEAL, STAGE_COMMIT, STAGE_ACK };

static const char s_stored_context [] = "coachwire-stored-v1";

struct _cw_gateway_t {
    cw_actor_t *actor;
    const cw_server_config_t *config;   /* owned by coachwired, immutable while we run */
    char endpoint [CW_ENDPOINT_MAX];    /* written by the actor before it reports ready */
};


/*  Every counter the gateway keeps between flushes: only uint64_t, so that s_counts_each can
 *  walk them in one fixed order. */
typedef struct {
    uint64_t bytes, commit_failures, rejected [S_MAX_CODES];
    uint64_t stage_ns [S_STAGES];
    uint64_t stripped [64];     /* per catalog entry: frames that had it stripped */
    uint64_t frames_emptied;    /* frames with nothing granted: remembered, not stored */
    uint64_t nudges_delivered, nudge_acks;
} s_counts_t;

typedef struct {
    const cw_server_config_t *config;
    cw_gateway_t *owner;
    void *router;
    void *control;
    void *coach;                /* PUSH: consent changes reach the coach actor too */
    cw_store_t *store;
    cw_nudges_t *nudges;        /* delivery state of nudges to devices */
    cw_consent_t *consent;      /* grants: what may reach disk at all */
    uint64_t stream_fields [CW_STREAM_MAX + 1];  /* non-structural catalog bits per stream */
    cw_device_cache_t *devices;
    cw_pb_alloc_t alloc;
    uint8_t *plain;             /* CW_PAYLOAD_MAX_BYTES, sodium memory: it holds readings */
    uint8_t *packed;            /* the same, for a batch re-packed after consent stripping */
    cw_committer_t *committer;
    cw_commit_group_t *fill;    /* frames opened and checked, waiting for their commit */
    cw_commit_group_t *spare;   /* the other group: NULL while it is with the committer */
    uint64_t oldest_pending_us;
    uint8_t (*dirty) [CW_ID_BYTES];   /* devices with frames not yet counted in the store */
    size_t dirty_count;
    size_t dirty_out;           /* of those, the first dirty_out are in the group out */
    /* counters not yet in the store; the group out carries `flushed` of them */
    s_counts_t counts, flushed;
    uint32_t stage_tick;        /* frames since the last timed one */
    uint64_t last_counter_flush_us;
    bool counters_dirty;        /* counts not yet in the store */
    bool flush_out;             /* the group out carries counters and last-seen */
} s_gateway_t;

/*  Adds the CPU since *t to a stage and moves *t on, on the sampled frames only (*t == 0 on
 *  the others); the sum is scaled so that it stays a total over all frames. */
static void
s_stage (s_gateway_t *self, int stage, uint64_t *t)
{
    if (*t == 0)
        return;
    uint64_t now = cw_thread_cpu_ns ();
    self->counts.stage_ns [stage] += (now - *t) * S_STAGE_SAMPLE;
    *t = now;
}

static void
s_put_be (uint8_t *out, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        out [i] = (uint8_t) (v >> (8 * (bytes - 1 - i)));
}

static void
s_stored_ad (uint8_t *ad, const uint8_t *device_id, const uint8_t *user_id, uint16_t stream,
             uint64_t sequence)
{
    size_t n = sizeof s_stored_context - 1;
    memcpy (ad, s_stored_context, n);
    memcpy (ad + n, device_id, CW_ID_BYTES);
    memcpy (ad + n + CW_ID_BYTES, user_id, CW_ID_BYTES);
    s_put_be (ad + n + 2 * CW_ID_BYTES, stream, 2);
    s_put_be (ad + n + 2 * CW_ID_BYTES + 2, sequence, 8);
}

#define S_STORED_AD_BYTES (sizeof s_stored_context - 1 + 2 * CW_ID_BYTES + 10)

void
cw_stored_seal (uint8_t *sealed, const uint8_t *key, const uint8_t *device_id,
                const uint8_t *user_id, uint16_t stream, uint64_t sequence, const uint8_t *plain,
                size_t plain_len)
{
    uint8_t ad [S_STORED_AD_BYTES];
    s_stored_ad (ad, device_id, user_id, stream, sequence);
    randombytes_buf (sealed, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt (sealed + 24, NULL, plain, plain_len, ad,
                                                sizeof ad, NULL, sealed, key);
}

int
cw_stored_open (uint8_t *plain, size_t *plain_len, const uint8_t *key, const uint8_t *device_id,
                const uint8_t *user_id, uint16_t stream, uint64_t sequence,
                const uint8_t *sealed, size_t sealed_len)
{
    if (!plain || !plain_len || !key || sealed_len < CW_STORED_OVERHEAD)
        return CW_EINVAL;
    uint8_t ad [S_STORED_AD_BYTES];
    s_stored_ad (ad, device_id, user_id, stream, sequence);
    unsigned long long n = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt (plain, &n, NULL, sealed + 24,
                                                    sealed_len - 24, ad, sizeof ad, sealed,
                                                    key) != 0)
        return CW_EAUTH;
    *plain_len = (size_t) n;
    return CW_OK;
}

/*  Sends a packed Downlink to one device. Drops silently when the device is gone: it will
 *  resend and be answered then. */
static void
s_send_downlink (s_gateway_t *self, const uint8_t *routing_id, size_t routing_id_len,
                 const Coachwire__Downlink *down)
{
    uint8_t buf [512];
    size_t len = coachwire__downlink__get_packed_size (down);
    if (len > sizeof buf)
        return;
    coachwire__downlink__pack (down, buf);
    if (zmq_send (self->router, routing_id, routing_id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return;
    zmq_send (self->router, buf, len, ZMQ_DONTWAIT);
}

static void
s_reject (s_gateway_t *self, const uint8_t *routing_id, size_t routing_id_len, uint16_t stream,
          uint64_t sequence, int code, const char *reason)
{
    int idx = -code;
    if (idx > 0 && idx < S_MAX_CODES)
        self->counts.rejected [idx]++;
    self->counters_dirty = true;
    Coachwire__FrameError err = COACHWIRE__FRAME_ERROR__INIT;
    err.stream = stream;
    err.sequence = sequence;
    err.code = code;
    err.reason = (char *) (reason && *reason ? reason : cw_strerror (code));
    uint32_t versions [] = { CW_PROTOCOL_VERSION };
    if (code == CW_EVERSION) {
        err.n_supported_versions = 1;
        err.supported_versions = versions;
    }
    Coachwire__Downlink down = COACHWIRE__DOWNLINK__INIT;
    down.body_case = COACHWIRE__DOWNLINK__BODY_ERROR;
    down.error = &err;
    s_send_downlink (self, routing_id, routing_id_len, &down);
}

static void
s_backoff (s_gateway_t *self, const uint8_t *routing_id, size_t routing_id_len, int code,
           const char *reason)
{
    Coachwire__Backoff b = COACHWIRE__BACKOFF__INIT;
    b.retry_after_ms = S_BACKOFF_MS;
    b.code = code;
    b.reason = (char *) reason;
    Coachwire__Downlink down = COACHWIRE__DOWNLINK__INIT;
    down.body_case = COACHWIRE__DOWNLINK__BODY_BACKOFF;
    down.backoff = &b;
    s_send_downlink (self, routing_id, routing_id_len, &down);
}

/*  Finds or loads the device: its person, payload key and the person's data key. */
static int
s_device (s_gateway_t *self, const uint8_t *device_id, cw_device_entry_t **out,
          const char **reason)
{
    *out = cw_device_cache_get (self->devices, device_id);
    if (*out)
        return CW_OK;
    cw_principal_t p;
    int rc = cw_store_principal_by_id (self->store, device_id, &p);
    if (rc != CW_OK && rc != CW_ENOENT) {
        *reason = "service storage failed";
        return CW_EBUSY;     /* transient: the caller answers with a Backoff, not a refusal */
    }
    if (rc != CW_OK || p.kind != CW_PRINCIPAL_DEVICE) {
        *reason = "device not enrolled";
        return CW_EUNKNOWNKEY;
    }
    if (p.revoked_ms) {
        *reason = "device revoked";
        return CW_EREVOKED;
    }
    uint8_t wrapped [CW_WRAPPED_KEY_BYTES];
    rc = cw_store_person_key_get (self->store, p.owner_id, wrapped);
    if (rc == CW_ENOENT) {
        *reason = "the person's data was erased: enroll again";
        return CW_EREVOKED;
    }
    if (rc != CW_OK) {
        *reason = "service storage failed";
        return CW_EBUSY;
    }
    uint8_t *keys = sodium_malloc (64);
    if (!keys)
        return CW_ENOMEM;
    const uint8_t *server_public = cw_keyring_server_public (self->config->keyring);
    rc = cw_payload_key_derive (keys, cw_keyring_server_secret (self->config->keyring),
                                p.public_key, p.public_key, server_public, device_id);
    if (rc == CW_OK)
        rc = cw_keyring_person_key_unwrap (self->config->keyring, p.owner_id, wrapped,
                                           keys + 32);
    if (rc == CW_OK) {
        *out = cw_device_cache_put (self->devices, device_id, p.owner_id, keys, keys + 32);
        if (!*out)
            rc = CW_ENOMEM;
    }
    else
        *reason = "device keys could not be derived";
    sodium_free (keys);
    return rc;
}

/*  The person's keep mask (fields granted for any purpose), reloaded after a consent change
 *  or when a grant expires. */
static int
s_keep_mask (s_gateway_t *self, cw_device_entry_t *dev, uint64_t now, uint64_t *mask)
{
    if (!dev->mask_loaded || (dev->mask_valid_until && now >= dev->mask_valid_until)) {
        int rc = cw_consent_mask (self->consent, dev->user_id, CW_PURPOSE_ANY, now,
                                  &dev->keep_mask, &dev->mask_valid_until);
        if (rc != CW_OK)
            return rc;
        dev->mask_loaded = true;
    }
    *mask = dev->keep_mask;
    return CW_OK;
}

/*  Unknown wire fields would ride into storage undisclosed: such a batch takes the strip. */
static bool
s_has_unknown_fields (const Coachwire__SensorBatch *b)
{
    if (b->base.n_unknown_fields)
        return true;
    const ProtobufCMessage *inner = NULL;
    switch (b->body_case) {
        case COACHWIRE__SENSOR_BATCH__BODY_IMU: inner = &b->imu->base; break;
        case COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE: inner = &b->heart_rate->base; break;
        case COACHWIRE__SENSOR_BATCH__BODY_LOCATION: inner = &b->location->base; break;
        case COACHWIRE__SENSOR_BATCH__BODY_RUNNING: inner = &b->running->base; break;
        case COACHWIRE__SENSOR_BATCH__BODY_WEIGHT: inner = &b->weight->base; break;
        case COACHWIRE__SENSOR_BATCH__BODY_MEAL:
            inner = &b->meal->base;
            for (size_t i = 0; i < b->meal->n_entries; i++)
                if (b->meal->entries [i]->base.n_unknown_fields)
                    return true;
            break;
        default: return false;
    }
    return inner && inner->n_unknown_fields;
}

/*  Applies consent to a validated batch (*batch_p NULL when the fast path checked it: no
 *  unknown fields, and decoded here only if something must be stripped). Returns the bytes
 *  to re-seal: plain itself when every field may be kept (the common case, no re-encoding),
 *  else the stripped batch packed into self->packed; *len 0 when nothing may be kept. */
static const uint8_t *
s_apply_consent (s_gateway_t *self, Coachwire__SensorBatch **batch_p, uint16_t stream,
                 uint64_t keep, const uint8_t *plain, size_t *len)
{
    if ((keep & self->stream_fields [stream]) == self->stream_fields [stream]
        && (!*batch_p || !s_has_unknown_fields (*batch_p)))
        return plain;
    char reason [CW_REASON_MAX];
    if (!*batch_p && cw_batch_decode (&self->alloc, plain, *len, batch_p, reason, sizeof reason)
                         != CW_OK) {
        *len = 0;       /* cannot happen for a checked batch; keep nothing rather than all */
        return plain;
    }
    Coachwire__SensorBatch *batch = *batch_p;
    cw_strip_result_t res;
    if (cw_strip_batch (batch, keep, &self->alloc.base, &res) != CW_OK) {
        *len = 0;       /* cannot happen for a validated batch; keep nothing rather than all */
        return plain;
    }
    for (int i = 0; i < 64; i++)
        if (res.stripped_mask & (1ull << i))
            self->counts.stripped [i]++;
    self->counters_dirty = true;
    if (res.empty) {
        self->counts.frames_emptied++;
        *len = 0;
        return plain;
    }
    *len = coachwire__sensor_batch__pack (batch, self->packed);
    return self->packed;
}

/*  Sends one nudge to one connection; true when libzmq took it (ROUTER_MANDATORY: a device
 *  that has gone is an error, so a nudge is never marked delivered into the void). */
static bool
s_send_nudge (s_gateway_t *self, const uint8_t *routing_id, size_t routing_id_len,
              const uint8_t *nudge_id, const uint8_t *body, size_t len)
{
    char id_hex [2 * CW_ID_BYTES + 1];
    cw_hex_encode (id_hex, nudge_id, CW_ID_BYTES);
    Coachwire__NudgeDelivery nd = COACHWIRE__NUDGE_DELIVERY__INIT;
    nd.nudge_id = id_hex;
    nd.body.data = (uint8_t *) body;
    nd.body.len = len;
    Coachwire__Downlink down = COACHWIRE__DOWNLINK__INIT;
    down.body_case = COACHWIRE__DOWNLINK__BODY_NUDGE;
    down.nudge = &nd;
    size_t packed_len = coachwire__downlink__get_packed_size (&down);
    uint8_t *buf = malloc (packed_len + 1);
    if (!buf)
        return false;
    coachwire__downlink__pack (&down, buf);
    bool sent = zmq_send (self->router, routing_id, routing_id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT)
                    >= 0
                && zmq_send (self->router, buf, packed_len, ZMQ_DONTWAIT) >= 0;
    free (buf);
    return sent;
}

typedef struct {
    s_gateway_t *self;
    const uint8_t *user_id;
    const uint8_t *nudge_id;
    const uint8_t *body;
    size_t len;
    bool sent;
} s_nudge_ctx_t;

static void
s_nudge_to_device (void *ctx, cw_device_entry_t *entry)
{
    s_nudge_ctx_t *c = ctx;
    if (entry->routing_id_len && memcmp (entry->user_id, c->user_id, CW_ID_BYTES) == 0)
        c->sent |= s_send_nudge (c->self, entry->routing_id, entry->routing_id_len, c->nudge_id,
                                 c->body, c->len);
}

/*  The coach made a nudge: every connected device of the person gets it. One that is offline
 *  gets it when it next shows up (s_pending_nudges). */
static void
s_deliver_nudge (s_gateway_t *self, const uint8_t *user_id, const uint8_t *nudge_id,
                 const uint8_t *body, size_t len)
{
    s_nudge_ctx_t c = { self, user_id, nudge_id, body, len, false };
    cw_device_cache_each (self->devices, s_nudge_to_device, &c);
    if (c.sent && cw_nudges_delivered (self->nudges, nudge_id, cw_now_ms ()) == CW_OK) {
        self->counts.nudges_delivered++;
        self->counters_dirty = true;
    }
}

typedef struct {
    s_gateway_t *self;
    const uint8_t *routing_id;
    size_t routing_id_len;
} s_pending_ctx_t;

static void
s_pending_nudge (void *ctx, const cw_nudge_t *nudge)
{
    s_pending_ctx_t *c = ctx;
    uint8_t *body = NULL;
    size_t len = 0;
    if (cw_nudge_pack (nudge, &body, &len) != CW_OK)
        return;
    if (s_send_nudge (c->self, c->routing_id, c->routing_id_len, nudge->id, body, len)
        && cw_nudges_delivered (c->self->nudges, nudge->id, cw_now_ms ()) == CW_OK) {
        c->self->counts.nudges_delivered++;
        c->self->counters_dirty = true;
    }
    free (body);
}

/*  A device's (new) connection: remember it, and hand it what waited while it was away. */
static void
s_device_connected (s_gateway_t *self, cw_device_entry_t *dev, const uint8_t *routing_id,
                    size_t routing_id_len)
{
    if (routing_id_len > CW_DEVICE_ROUTING_ID_MAX)
        return;
    if (dev->routing_id_len == routing_id_len
        && memcmp (dev->routing_id, routing_id, routing_id_len) == 0)
        return;
    memcpy (dev->routing_id, routing_id, routing_id_len);
    dev->routing_id_len = (uint8_t) routing_id_len;
    s_pending_ctx_t c = { self, routing_id, routing_id_len };
    if (cw_nudges_each (self->nudges, dev->user_id, CW_NUDGE_PENDING, 32, s_pending_nudge, &c)
        != CW_OK)
        fprintf (stderr, "coachwired: gateway: pending nudges: %s\n",
                 cw_store_errmsg (self->store));
}

/*  A device acknowledges a nudge (frame kind CW_FRAME_KIND_NUDGE_ACK): the plaintext is the
 *  nudge id, the stream field says how the person reacted (0 received, 1 opened, 2 dismissed,
 *  3 helpful). */
static void
s_nudge_ack (s_gateway_t *self, cw_device_entry_t *dev, const cw_frame_header_t *h,
             const uint8_t *plain, size_t len, const uint8_t *routing_id, size_t routing_id_len)
{
    if (len != CW_ID_BYTES) {
        s_reject (self, routing_id, routing_id_len, h->stream, h->sequence, CW_EFRAME,
                  "a nudge acknowledgement carries the 16-byte nudge id");
        return;
    }
    static const uint8_t hello [CW_ID_BYTES];
    if (sodium_memcmp (plain, hello, CW_ID_BYTES) == 0)
        return;     /* "hello": a device announcing itself; what waits went out above */
    int rc = cw_nudges_acked (self->nudges, dev->user_id, plain, cw_now_ms ());
    if (rc == CW_OK && h->stream > 0)
        rc = cw_nudges_feedback (self->nudges, dev->user_id, plain, (cw_feedback_t) h->stream,
                                 cw_now_ms ());
    if (rc == CW_OK) {
        self->counts.nudge_acks++;
        self->counters_dirty = true;
    }
    else if (rc != CW_EBUSY && rc != CW_EIO)
        s_reject (self, routing_id, routing_id_len, h->stream, h->sequence, rc,
                  "nudge acknowledgement refused");
}

/*  Handles one message from a device. */
static void
s_handle_frame (s_gateway_t *self, zmq_msg_t *rid, zmq_msg_t *msg, uint64_t t)
{
    const uint8_t *frame = zmq_msg_data (msg);
    size_t frame_len = zmq_msg_size (msg);
    const uint8_t *routing_id = zmq_msg_data (rid);
    size_t routing_id_len = zmq_msg_size (rid);
    if (routing_id_len > S_ROUTING_ID_MAX)
        return;
    char reason [CW_REASON_MAX] = "";
    const char *why = NULL;
    cw_frame_header_t h;
    int rc = cw_envelope_peek (&h, frame, frame_len);
    if (rc != CW_OK) {
        s_reject (self, routing_id, routing_id_len, h.stream, h.sequence, rc, NULL);
        return;
    }
    /* Who sent it: only the key the handshake authenticated, never the frame. */
    const char *user_id_hex = zmq_msg_gets (msg, "User-Id");
    uint8_t device_id [CW_ID_BYTES];
    if (!user_id_hex || cw_hex_decode (device_id, CW_ID_BYTES, user_id_hex) != CW_OK) {
        s_reject (self, routing_id, routing_id_len, h.stream, h.sequence, CW_EUNKNOWNKEY,
                  "connection not authenticated");
        return;
    }
    cw_device_entry_t *dev = NULL;
    rc = s_device (self, device_id, &dev, &why);
    if (rc == CW_EBUSY || rc == CW_ENOMEM) {
        /* Our trouble, not the frame's: a refusal would make the device delete it. */
        s_backoff (self, routing_id, routing_id_len, rc, why ? why : cw_strerror (rc));
        return;
    }
    if (rc != CW_OK) {
        s_reject (self, routing_id, routing_id_len, h.stream, h.sequence, rc, why);
        return;
    }
    size_t plain_len = 0;
    rc = cw_envelope_open (self->plain, CW_PAYLOAD_MAX_BYTES, &plain_len, &h,
                           cw_device_cache_payload_key (self->devices, dev), device_id, frame,
                           frame_len);
    s_stage (self, STAGE_OPEN, &t);
    if (rc != CW_OK) {
        s_reject (self, routing_id, routing_id_len, h.stream, h.sequence, rc, NULL);
        return;
    }
    s_device_connected (self, dev, routing_id, routing_id_len);
    if (h.kind == CW_FRAME_KIND_NUDGE_ACK) {
        s_nudge_ack (self, dev, &h, self->plain, plain_len, routing_id, routing_id_len);
        sodium_memzero (self->plain, plain_len);
        return;
    }
    cw_commit_group_t *g = self->fill;
    if (g->frame_count == g->frame_max)
        return;     /* cannot happen: the loop stops reading when full; never overrun */
    cw_commit_frame_t *p = &g->frames [g->frame_count];
    memset (p, 0, offsetof (cw_commit_frame_t, sealed));
    memcpy (p->routing_id, routing_id, routing_id_len);
    p->routing_id_len = routing_id_len;
    memcpy (p->device_id, device_id, CW_ID_BYTES);
    memcpy (p->user_id, dev->user_id, CW_ID_BYTES);
    p->stream = h.stream;
    p->sequence = h.sequence;
    p->sealed = NULL;
    p->sealed_len = 0;
    p->duplicate = false;

    /* Dedup before validation: a resend after a week must be acked as a duplicate, not
     * refused because its timestamps have aged. Above the highest committed sequence of its
     * stream a frame is new, and the store need not be asked. */
    uint8_t bit = (uint8_t) (1u << h.stream);
    if (!(dev->max_loaded & bit)
        && cw_store_frame_max_sequence (self->store, device_id, h.stream,
                                        &dev->max_sequence [h.stream]) == CW_OK)
        dev->max_loaded |= bit;
    bool seen = false;
    if (!(dev->max_loaded & bit) || h.sequence <= dev->max_sequence [h.stream]) {
        if (cw_store_frame_seen (self->store, device_id, h.stream, h.sequence, &seen)
            != CW_OK) {
            sodium_memzero (self->plain, plain_len);
            s_backoff (self, routing_id, routing_id_len, CW_EBUSY, "service storage failed");
            return;
        }
    }
    if (seen) {
        p->duplicate = true;
        if (g->frame_count++ == 0)
            self->oldest_pending_us = cw_mono_us ();
        sodium_memzero (self->plain, plain_len);
        return;
    }
    Coachwire__SensorBatch *batch = NULL;
    uint64_t now = cw_now_ms ();
    /* The commonest frame (packed IMU) is checked where it lies; the rest, and any refusal,
     * through protobuf-c. */
    rc = CW_OK;
    if (!cw_batch_imu_accept_fast (self->plain, plain_len, h.stream, now)) {
        rc = cw_batch_decode (&self->alloc, self->plain, plain_len, &batch, reason,
                              sizeof reason);
        if (rc == CW_OK)
            rc = cw_batch_validate (batch, h.stream, now, reason, sizeof reason);
    }
    s_stage (self, STAGE_DECODE, &t);
    if (rc != CW_OK) {
        cw_batch_free (&self->alloc, &batch);
        sodium_memzero (self->plain, plain_len);
        s_reject (self, routing_id, routing_id_len, h.stream, h.sequence, rc, reason);
        return;
    }
    /* Consent: a field with no grant for any purpose never reaches disk. */
    uint64_t keep = 0;
    if (s_keep_mask (self, dev, now, &keep) != CW_OK) {
        cw_batch_free (&self->alloc, &batch);
        sodium_memzero (self->plain, plain_len);
        s_backoff (self, routing_id, routing_id_len, CW_EBUSY, "service storage failed");
        return;
    }
    size_t keep_len = plain_len;
    const uint8_t *keep_bytes = s_apply_consent (self, &batch, h.stream, keep, self->plain,
                                                 &keep_len);
    cw_batch_free (&self->alloc, &batch);
    if (keep_len > 0) {
        p->sealed = malloc (keep_len + CW_STORED_OVERHEAD);
        if (!p->sealed) {
            sodium_memzero (self->plain, plain_len);
            s_backoff (self, routing_id, routing_id_len, CW_ENOMEM, "service out of memory");
            return;
        }
        cw_stored_seal (p->sealed, cw_device_cache_person_key (self->devices, dev), device_id,
                        dev->user_id, h.stream, h.sequence, keep_bytes, keep_len);
        p->sealed_len = keep_len + CW_STORED_OVERHEAD;
    }
    sodium_memzero (self->plain, plain_len);
    if (keep_bytes == self->packed)
        sodium_memzero (self->packed, keep_len);
    s_stage (self, STAGE_RESEAL, &t);
    if (g->frame_count++ == 0)
        self->oldest_pending_us = cw_mono_us ();
    self->counts.bytes += frame_len;
}

/*  Calls fn with the store name and address of every counter, always in the same order. */
static void
s_counts_each (s_counts_t *c, void (*fn) (void *ctx, const char *name, uint64_t *value),
               void *ctx)
{
    char name [CW_COMMIT_NAME_MAX];
    fn (ctx, "bytes_accepted", &c->bytes);
    fn (ctx, "commit_failures", &c->commit_failures);
    for (int i = 1; i < S_MAX_CODES; i++) {
        snprintf (name, sizeof name, "rejected.%s", cw_errname (-i));
        fn (ctx, name, &c->rejected [i]);
    }
    for (int i = 0; i < S_STAGES; i++) {
        snprintf (name, sizeof name, "stage_ns.%s", s_stage_names [i]);
        fn (ctx, name, &c->stage_ns [i]);
    }
    size_t n_fields = 0;
    const cw_catalog_entry_t *fields = cw_catalog_entries (&n_fields);
    for (size_t i = 0; i < n_fields && i < 64; i++) {
        snprintf (name, sizeof name, "stripped.%s", fields [i].name);
        fn (ctx, name, &c->stripped [i]);
    }
    fn (ctx, "frames_nothing_granted", &c->frames_emptied);
    fn (ctx, "nudges_delivered", &c->nudges_delivered);
    fn (ctx, "nudge_acks", &c->nudge_acks);
}

typedef struct {
    cw_commit_group_t *group;
    uint64_t *flushed;          /* walks self->flushed in step with the counters */
    int rc;
} s_flush_t;

static void
s_flush_one (void *ctx, const char *name, uint64_t *value)
{
    s_flush_t *f = ctx;
    *f->flushed = 0;
    if (f->rc == CW_OK && *value) {
        f->rc = cw_commit_group_count (f->group, name, *value);
        if (f->rc == CW_OK)
            *f->flushed = *value;
    }
    f->flushed++;
}

static void
s_flushed_done (void *ctx, const char *name, uint64_t *value)
{
    (void) name;
    uint64_t **flushed = ctx;
    *value -= *(*flushed)++;
}

/*  Walks self->flushed alongside self->counts: both are s_counts_t, visited field by field. */
static void
s_counts_settle (s_gateway_t *self)
{
    uint64_t flushed [sizeof (s_counts_t) / sizeof (uint64_t)];
    memcpy (flushed, &self->flushed, sizeof flushed);
    uint64_t *cursor = flushed;
    s_counts_each (&self->counts, s_flushed_done, &cursor);
    memset (&self->flushed, 0, sizeof self->flushed);
}

/*  Puts the counters and the devices' frame counts into the group (they commit with it). */
static void
s_flush_into (s_gateway_t *self, cw_commit_group_t *g)
{
    uint64_t flushed [sizeof (s_counts_t) / sizeof (uint64_t)];
    s_flush_t f = { g, flushed, CW_OK };
    g->flush = true;
    s_counts_each (&self->counts, s_flush_one, &f);
    memcpy (&self->flushed, flushed, sizeof flushed);
    self->dirty_out = 0;
    for (size_t i = 0; i < self->dirty_count && g->seen_count < g->seen_max; i++) {
        cw_device_entry_t *dev = cw_device_cache_get (self->devices, self->dirty [i]);
        cw_commit_seen_t *seen = &g->seen [g->seen_count];
        memcpy (seen->device_id, self->dirty [i], CW_ID_BYTES);
        seen->frames = dev ? dev->frames : 0;
        if (seen->frames)
            g->seen_count++;
        self->dirty_out = i + 1;
    }
}

static void
s_mark_dirty (s_gateway_t *self, cw_device_entry_t *dev)
{
    if (dev->frames++ == 0 && self->dirty_count < S_DIRTY_MAX)
        memcpy (self->dirty [self->dirty_count++], dev->device_id, CW_ID_BYTES);
}

/*  The counted frames of the devices in the committed group are in the store now: take them
 *  off, and keep in the list only devices that have gained frames since. */
static void
s_dirty_settle (s_gateway_t *self, const cw_commit_group_t *g)
{
    size_t s = 0;
    for (size_t i = 0; i < self->dirty_out && s < g->seen_count; i++) {
        if (memcmp (g->seen [s].device_id, self->dirty [i], CW_ID_BYTES) != 0)
            continue;           /* it had no frames to count when the group left */
        /* the cache may have dropped and reloaded the device meanwhile: never below 0 */
        cw_device_entry_t *dev = cw_device_cache_get (self->devices, self->dirty [i]);
        uint64_t counted = g->seen [s++].frames;
        if (dev)
            dev->frames -= counted < dev->frames ? counted : dev->frames;
    }
    size_t kept = 0;
    for (size_t i = 0; i < self->dirty_count; i++) {
        cw_device_entry_t *dev = cw_device_cache_get (self->devices, self->dirty [i]);
        if (dev && dev->frames) {
            if (kept != i)
                memcpy (self->dirty [kept], self->dirty [i], CW_ID_BYTES);
            kept++;
        }
    }
    self->dirty_count = kept;
    self->dirty_out = 0;
}

/*  The group carrying the counters was not written: they all stay counted here, to ride
 *  with a later group. */
static void
s_flush_undo (s_gateway_t *self, cw_commit_group_t *g)
{
    memset (&self->flushed, 0, sizeof self->flushed);
    self->dirty_out = 0;
    self->counters_dirty = true;
    g->flush = false;
    g->counter_count = g->seen_count = 0;
}

/*  Hands the filling group to the committer when it is free and there is something to write:
 *  frames, or counters and last-seen that are due (every S_COUNTER_FLUSH_US, or when forced).
 *  Writing the counters with every small commit would cost more than the frames. */
static void
s_dispatch (s_gateway_t *self, bool force_flush)
{
    if (!self->spare)
        return;                 /* the committer has a group: this one keeps filling */
    cw_commit_group_t *g = self->fill;
    uint64_t now_us = cw_mono_us ();
    bool flush = self->counters_dirty
                 && (force_flush || now_us - self->last_counter_flush_us >= S_COUNTER_FLUSH_US
                     || self->dirty_count + g->frame_max > S_DIRTY_MAX);
    if (g->frame_count == 0 && !flush)
        return;
    /* commit_max_ms: a group that is not full may wait for more frames (fewer, larger
     * commits on a slow disk, for latency); 0 hands it over as soon as nothing is queued */
    if (!force_flush && g->frame_count && g->frame_count < g->frame_max
        && now_us - self->oldest_pending_us < (uint64_t) self->config->commit_max_ms * 1000u)
        return;
    g->now_ms = cw_now_ms ();
    if (flush) {
        s_flush_into (self, g);
        self->counters_dirty = false;
        self->last_counter_flush_us = now_us;
    }
    if (cw_committer_submit (self->committer, g) != CW_OK) {
        /* cannot happen while spare is held; keep filling rather than lose the group */
        if (flush)
            s_flush_undo (self, g);
        return;
    }
    self->flush_out = flush;
    self->fill = self->spare;
    self->spare = NULL;
}

/*  The group came back from the committer: ack its frames, or on failure tell their devices to
 *  back off (they resend: nothing acknowledged is lost). */
static void
s_group_done (s_gateway_t *self, cw_commit_group_t *g)
{
    uint64_t t = cw_thread_cpu_ns ();
    if (g->rc == CW_OK) {
        if (self->flush_out) {
            s_counts_settle (self);
            s_dirty_settle (self, g);
        }
        for (size_t i = 0; i < g->frame_count; i++) {
            cw_commit_frame_t *p = &g->frames [i];
            cw_device_entry_t *dev = cw_device_cache_get (self->devices, p->device_id);
            if (dev && !p->duplicate) {
                s_mark_dirty (self, dev);
                if (p->sequence > dev->max_sequence [p->stream])
                    dev->max_sequence [p->stream] = p->sequence;
            }
            Coachwire__Ack ack = COACHWIRE__ACK__INIT;
            ack.stream = p->stream;
            ack.sequence = p->sequence;
            ack.duplicate = p->duplicate;
            Coachwire__Downlink down = COACHWIRE__DOWNLINK__INIT;
            down.body_case = COACHWIRE__DOWNLINK__BODY_ACK;
            down.ack = &ack;
            s_send_downlink (self, p->routing_id, p->routing_id_len, &down);
        }
        if (g->frame_count)
            self->counters_dirty = true;    /* last-seen and frame counts of the devices */
        if (g->accepted)    /* new frames: the coach reads them now, not at its next timeout */
            zmq_send (self->coach, "tick", 4, ZMQ_DONTWAIT);
        if (g->frame_count)
            self->counts.stage_ns [STAGE_ACK] += cw_thread_cpu_ns () - t;
    }
    else {
        if (self->flush_out)
            s_flush_undo (self, g);
        self->counts.commit_failures++;
        self->counters_dirty = true;
        fprintf (stderr, "coachwired: gateway: commit of %zu frames failed: %s (%s); devices "
                 "told to back off\n", g->frame_count, cw_strerror (g->rc), g->error);
        for (size_t i = 0; i < g->frame_count; i++)
            s_backoff (self, g->frames [i].routing_id, g->frames [i].routing_id_len,
                       g->rc == CW_ENOSPC ? CW_ENOSPC : CW_EBUSY,
                       g->rc == CW_ENOSPC ? "service storage is full"
                                          : "service storage failed");
    }
    self->flush_out = false;
    cw_commit_group_reset (g);
    self->spare = g;
}

/*  Waits for the group out, if any, and settles it. */
static void
s_settle_out (s_gateway_t *self)
{
    cw_commit_group_t *g = cw_committer_take (self->committer);
    if (g)
        s_group_done (self, g);
}

typedef struct {
    const uint8_t *user_id;
} s_user_t;

static void
s_forget_mask (void *ctx, cw_device_entry_t *entry)
{
    const s_user_t *u = ctx;
    if (memcmp (entry->user_id, u->user_id, CW_ID_BYTES) == 0)
        entry->mask_loaded = false;
}

static void
s_handle_control (s_gateway_t *self)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    int n = zmq_msg_recv (&msg, self->control, 0);
    const uint8_t *data = zmq_msg_data (&msg);
    if (n > 5 + 2 * (int) CW_ID_BYTES && memcmp (data, "nudge", 5) == 0
        && (size_t) n - 5 - 2 * CW_ID_BYTES <= CW_NUDGE_BODY_MAX)
        s_deliver_nudge (self, data + 5, data + 5 + CW_ID_BYTES, data + 5 + 2 * CW_ID_BYTES,
                         (size_t) n - 5 - 2 * CW_ID_BYTES);
    uint8_t buf [64];
    if (n > 0 && (size_t) n <= sizeof buf)
        memcpy (buf, data, (size_t) n);
    zmq_msg_close (&msg);
    if (n == 6 + (int) CW_ID_BYTES && memcmp (buf, "revoke", 6) == 0)
        cw_device_cache_remove (self->devices, buf + 6);
    else if (n == 7 + (int) CW_ID_BYTES && memcmp (buf, "consent", 7) == 0) {
        s_user_t u = { buf + 7 };
        cw_device_cache_each (self->devices, s_forget_mask, &u);
        zmq_send (self->coach, buf, (size_t) n, ZMQ_DONTWAIT);
    }
}

/*  Receives one device message (routing id + frame); anything else is drained and dropped. */
static void
s_handle_router (s_gateway_t *self)
{
    zmq_msg_t rid, msg;
    zmq_msg_init (&rid);
    zmq_msg_init (&msg);
    uint64_t t = 0;
    if (++self->stage_tick >= S_STAGE_SAMPLE) {
        self->stage_tick = 0;
        t = cw_thread_cpu_ns ();
    }
    if (zmq_msg_recv (&rid, self->router, ZMQ_DONTWAIT) < 0)
        goto done;
    if (!zmq_msg_more (&rid) || zmq_msg_recv (&msg, self->router, 0) < 0)
        goto done;
    s_stage (self, STAGE_TRANSPORT, &t);
    if (zmq_msg_more (&msg)) {
        /* multipart from a device: not our protocol; drain the rest and refuse */
        zmq_msg_t extra;
        zmq_msg_init (&extra);
        while (zmq_msg_more (&msg) && zmq_msg_recv (&extra, self->router, 0) >= 0
               && zmq_msg_more (&extra))
            ;
        zmq_msg_close (&extra);
        s_reject (self, zmq_msg_data (&rid), zmq_msg_size (&rid), 0, 0, CW_EFRAME,
                  "one frame per message");
        goto done;
    }
    if (zmq_msg_size (&msg) > CW_FRAME_MAX_BYTES) {
        cw_frame_header_t h;
        /* the header names stream and sequence even though the frame is refused */
        int peek = cw_envelope_peek (&h, zmq_msg_data (&msg), zmq_msg_size (&msg));
        (void) peek;
        s_reject (self, zmq_msg_data (&rid), zmq_msg_size (&rid), h.stream, h.sequence,
                  CW_ETOOBIG, "frame larger than 1 MiB");
        goto done;
    }
    s_handle_frame (self, &rid, &msg, t);
done:
    zmq_msg_close (&rid);
    zmq_msg_close (&msg);
}

static int
s_setup (s_gateway_t *self)
{
    const cw_server_config_t *c = self->config;
    int one = 1, zero = 0, hwm = 100000, handshake_ms = 5000;
    int64_t maxmsg = CW_GATEWAY_MAXMSGSIZE;
    self->router = zmq_socket (c->zmq_ctx, ZMQ_ROUTER);
    self->control = zmq_socket (c->zmq_ctx, ZMQ_PULL);
    if (!self->router || !self->control)
        return CW_EIO;
    zmq_setsockopt (self->router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (self->control, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (self->router, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt (self->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt (self->router, ZMQ_CURVE_SECRETKEY, cw_keyring_server_secret (c->keyring), 32);
    zmq_setsockopt (self->router, ZMQ_ZAP_DOMAIN, CW_ZAP_DOMAIN_GATEWAY,
                    strlen (CW_ZAP_DOMAIN_GATEWAY));
    zmq_setsockopt (self->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    zmq_setsockopt (self->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (self->router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    /* A peer that never finishes its handshake is dropped quickly: storms of idle TCP
     * connections must not pin resources. */
    zmq_setsockopt (self->router, ZMQ_HANDSHAKE_IVL, &handshake_ms, sizeof handshake_ms);
    /* After a restart every device reconnects at once: with libzmq's listen backlog of 100
     * the kernel drops most SYNs and the devices wait out TCP's retransmit timeouts (1, 3,
     * 7, 15 s...). The kernel caps this at net.core.somaxconn. */
    int backlog = S_LISTEN_BACKLOG;
    zmq_setsockopt (self->router, ZMQ_BACKLOG, &backlog, sizeof backlog);
    if (zmq_bind (self->router, c->gateway_bind) != 0) {
        fprintf (stderr, "coachwired: gateway: cannot bind %s: %s\n", c->gateway_bind,
                 zmq_strerror (zmq_errno ()));
        return CW_EIO;
    }
    size_t len = sizeof self->owner->endpoint;
    zmq_getsockopt (self->router, ZMQ_LAST_ENDPOINT, self->owner->endpoint, &len);
    if (zmq_bind (self->control, CW_GATEWAY_CONTROL_ENDPOINT) != 0)
        return CW_EIO;
    self->coach = zmq_socket (c->zmq_ctx, ZMQ_PUSH);
    if (!self->coach)
        return CW_EIO;
    zmq_setsockopt (self->coach, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect (self->coach, CW_COACH_CONTROL_ENDPOINT) != 0)
        return CW_EIO;
    int rc = cw_store_open (&self->store, c->db_path, false);
    if (rc != CW_OK)
        return rc;
    if ((rc = cw_store_autocheckpoint (self->store, false)) != CW_OK)
        return rc;
    char path [CW_ENDPOINT_MAX + 32];
    snprintf (path, sizeof path, "%s/commit_seq", c->data_dir);
    if ((rc = cw_committer_new (&self->committer, c->zmq_ctx, c->db_path, path)) != CW_OK
        || (rc = cw_commit_group_new (&self->fill, c->commit_max_frames, S_DIRTY_MAX)) != CW_OK
        || (rc = cw_commit_group_new (&self->spare, c->commit_max_frames, S_DIRTY_MAX))
           != CW_OK)
        return rc;
    if ((rc = cw_consent_open (&self->consent, self->store)) != CW_OK
        || (rc = cw_nudges_open (&self->nudges, self->store)) != CW_OK)
        return rc;
    size_t n_fields = 0;
    const cw_catalog_entry_t *fields = cw_catalog_entries (&n_fields);
    for (size_t i = 0; i < n_fields && i < 64; i++)
        if (!fields [i].structural && fields [i].stream <= CW_STREAM_MAX)
            self->stream_fields [fields [i].stream] |= 1ull << i;
    if ((rc = cw_device_cache_new (&self->devices)) != CW_OK)
        return rc;
    cw_pb_alloc_init (&self->alloc, 0);
    self->plain = sodium_malloc (CW_PAYLOAD_MAX_BYTES);
    self->packed = sodium_malloc (CW_PAYLOAD_MAX_BYTES);
    self->dirty = calloc (S_DIRTY_MAX, sizeof *self->dirty);
    if (!self->plain || !self->packed || !self->dirty)
        return CW_ENOMEM;
    return CW_OK;
}

static void
s_teardown (s_gateway_t *self)
{
    /* SIGTERM: what is in flight is committed and acked (or, if that fails, left unacked) */
    if (self->committer) {
        s_settle_out (self);
        if (self->fill)
            s_dispatch (self, true);
        s_settle_out (self);
    }
    cw_committer_destroy (&self->committer);
    cw_commit_group_destroy (&self->fill);
    cw_commit_group_destroy (&self->spare);
    cw_device_cache_destroy (&self->devices);
    cw_consent_destroy (&self->consent);
    cw_nudges_destroy (&self->nudges);
    cw_store_destroy (&self->store);
    if (self->plain)
        sodium_free (self->plain);
    if (self->packed)
        sodium_free (self->packed);
    free (self->dirty);
    zmq_close (self->router);
    zmq_close (self->control);
    zmq_close (self->coach);
}

static void
s_gateway_actor (void *pipe, void *args)
{
    s_gateway_t self;
    memset (&self, 0, sizeof self);
    self.owner = args;
    self.config = self.owner->config;
    pthread_setname_np (pthread_self (), "cw-gateway");
    int rc = s_setup (&self);
    cw_actor_ready (pipe, rc);
    if (rc != CW_OK) {
        s_teardown (&self);
        return;
    }
    void *committed = cw_committer_pipe (self.committer);
    bool running = true;
    while (running) {
        cw_commit_group_t *g = self.fill;
        bool room = g->frame_count < g->frame_max;
        long timeout = -1;
        if (g->frame_count && self.spare) {
            uint64_t age_us = cw_mono_us () - self.oldest_pending_us;
            uint64_t max_us = (uint64_t) self.config->commit_max_ms * 1000u;
            timeout = age_us >= max_us ? 0 : (long) ((max_us - age_us) / 1000u);
        }
        else if (self.counters_dirty && self.spare)
            timeout = 100;
        /* a full group reads no more frames until the committer takes it: they wait in
         * libzmq's queue (and the devices' windows), not in our memory */
        zmq_pollitem_t items [] = { { pipe, 0, ZMQ_POLLIN, 0 },
                                    { self.control, 0, ZMQ_POLLIN, 0 },
                                    { committed, 0, ZMQ_POLLIN, 0 },
                                    { self.router, 0, ZMQ_POLLIN, 0 } };
        if (zmq_poll (items, room ? 4 : 3, timeout) < 0)
            break;
        if (items [0].revents & ZMQ_POLLIN) {
            char buf [16];
            int n = zmq_recv (pipe, buf, sizeof buf, 0);
            if (n >= 0 && cw_actor_is_term (buf, (size_t) n))
                running = false;
        }
        if (items [1].revents & ZMQ_POLLIN)
            s_handle_control (&self);
        if (items [2].revents & ZMQ_POLLIN)
            s_settle_out (&self);
        if (room && (items [3].revents & ZMQ_POLLIN)) {
            /* Drain what is queued while the group has room. */
            int events = ZMQ_POLLIN;
            size_t len = sizeof events;
            while (running && (events & ZMQ_POLLIN)) {
                /* Control first, even mid-drain: a revocation or consent withdrawal must
                 * overtake frames that are already queued behind it. */
                int other = 0;
                size_t olen = sizeof other;
                if (zmq_getsockopt (self.control, ZMQ_EVENTS, &other, &olen) == 0
                    && (other & ZMQ_POLLIN))
                    s_handle_control (&self);
                /* A group back mid-drain: ack it and hand over what has gathered at once,
                 * so the committer never idles while frames wait. */
                olen = sizeof other;
                if (!self.spare && zmq_getsockopt (committed, ZMQ_EVENTS, &other, &olen) == 0
                    && (other & ZMQ_POLLIN)) {
                    s_settle_out (&self);
                    s_dispatch (&self, false);
                }
                s_handle_router (&self);
                if (self.fill->frame_count == self.fill->frame_max) {
                    s_dispatch (&self, false);
                    if (self.fill->frame_count == self.fill->frame_max)
                        break;      /* full and the committer busy: wait for it */
                }
                if (zmq_getsockopt (self.router, ZMQ_EVENTS, &events, &len) != 0)
                    break;
            }
        }
        /* Nothing more queued (or the oldest waited long enough): hand it over if we can. */
        s_dispatch (&self, false);
    }
    s_teardown (&self);
}

int
cw_gateway_start (cw_gateway_t **out, const cw_server_config_t *config)
{
    if (!out || !config || config->commit_max_frames == 0)
        return CW_EINVAL;
    *out = NULL;
    cw_gateway_t *self = calloc (1, sizeof *self);
    if (!self)
        return CW_ENOMEM;
    self->config = config;
    int rc = cw_actor_new (&self->actor, config->zmq_ctx, s_gateway_actor, self);
    if (rc != CW_OK) {
        cw_actor_destroy (&self->actor);
        free (self);
        return rc;
    }
    *out = self;
    return CW_OK;
}

const char *
cw_gateway_endpoint (const cw_gateway_t *self)
{
    return self->endpoint;
}

void
cw_gateway_destroy (cw_gateway_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_actor_destroy (&(*self_p)->actor);
    free (*self_p);
    *self_p = NULL;
}
