/*  cw_edge.c - the edge client: seal, queue, send over ZeroMQ + CURVE, resend until acked.
 *
 *  One DEALER socket, CURVE client with the server key pinned from the credential. Up: one
 *  message per sealed frame. Down: one packed coachwire.Downlink per message.
 *
 *  Delivery: a frame is sent when it was never sent, when its ack is overdue (resend timeout),
 *  or after the connection dropped (every frame in flight is marked unsent on DISCONNECTED,
 *  since ZeroMQ discards what sat in the dropped pipe). At most `window` frames are in flight.
 *  ZMQ_IMMEDIATE keeps the socket from queueing frames for a connection whose CURVE handshake
 *  has not completed, so an unreachable or impostor server never "receives" anything.
 *  A resent frame that had reached the gateway is acked as a duplicate: delivery is
 *  at-least-once on the wire, exactly-once in the store.
 */
#include "coachwire/edge.h"
#include "coachwire/cw_client.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_envelope.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_queue.h"
#include "cw_edge_internal.h"

#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define CW_EDGE_RING             32     /* recent rejections kept in memory */
#define CW_EDGE_READ_BURST       256    /* downlinks handled per pump before returning */
#define CW_EDGE_WINDOW_MAX       4096
#define CW_EDGE_BACKOFF_MIN_MS   100
#define CW_EDGE_REACTIONS_BURST  64     /* nudge acknowledgements sent per pump */

struct _cw_edge_t {
    cw_cred_t *cred;                    /* device credential (secret key in sodium memory) */
    uint8_t *key;                       /* payload key, sodium_malloc'd, CW_KEY_BYTES */
    cw_queue_t *queue;                  /* sealed frames waiting for ack */
    cw_edge_options_t opts;             /* with defaults filled in */
    void *zctx;                         /* this handle's own ZeroMQ context */
    void *dealer;                       /* the gateway socket, NULL until the first pump */
    void *monitor;                      /* PAIR receiving the dealer's monitor events */
    int connected;                      /* CURVE handshake succeeded, no disconnect since */
    uint64_t handshake_failures;        /* handshakes refused since new */
    int64_t paused_until_ms;            /* Backoff: no sends before this (monotonic ms) */
    cw_queue_frame_t *batch;            /* scratch for due frames, window entries */
    cw_edge_reject_fn *on_reject;
    void *reject_ctx;
    cw_edge_nudge_fn *on_nudge;
    void *nudge_ctx;
    cw_edge_rejection_t ring [CW_EDGE_RING];   /* recent refusals, ring_next is the oldest */
    size_t ring_next;
    size_t ring_count;
    int announce;                       /* cw_edge_announce: say hello once connected */
    cw_client_t *api;                   /* api client (consent switches), made on first use */
    char api_error [CW_EDGE_REASON_MAX];/* the service's sentence about the last api call */
};

/*  -------------------------------------------------------------------------------------------
 *  Downlink decoding (under cw_pb's capped allocator)
 */

int
cw_downlink_decode (cw_pb_alloc_t *alloc, const uint8_t *buf, size_t len,
                    Coachwire__Downlink **out)
{
    if (!alloc || !out || (!buf && len))
        return CW_EINVAL;
    *out = NULL;
    cw_pb_alloc_init (alloc, CW_DOWNLINK_HEAP_MAX);
    if (len > CW_DOWNLINK_MAX_BYTES)
        return CW_ETOOBIG;
    Coachwire__Downlink *msg = coachwire__downlink__unpack (&alloc->base, len, buf);
    if (!msg)
        return CW_EDECODE;
    int rc = CW_OK;
    switch (msg->body_case) {
        case COACHWIRE__DOWNLINK__BODY_ACK:
            if (!msg->ack)
                rc = CW_EDECODE;
            else if (msg->ack->stream < CW_STREAM_MIN || msg->ack->stream > CW_STREAM_MAX)
                rc = CW_ESTREAM;
            else if (msg->ack->sequence == 0)
                rc = CW_EFRAME;
            break;
        case COACHWIRE__DOWNLINK__BODY_ERROR:
            if (!msg->error)
                rc = CW_EDECODE;
            else if (msg->error->stream < CW_STREAM_MIN || msg->error->stream > CW_STREAM_MAX)
                rc = CW_ESTREAM;
            else if (msg->error->sequence == 0)
                rc = CW_EFRAME;
            break;
        case COACHWIRE__DOWNLINK__BODY_BACKOFF:
            if (!msg->backoff)
                rc = CW_EDECODE;
            break;
        case COACHWIRE__DOWNLINK__BODY_NUDGE:
            if (!msg->nudge || !msg->nudge->nudge_id)
                rc = CW_EDECODE;
            break;
        default:
            rc = CW_EDECODE;    /* no body, or one newer than this library */
            break;
    }
    if (rc != CW_OK) {
        coachwire__downlink__free_unpacked (msg, &alloc->base);
        return rc;
    }
    *out = msg;
    return CW_OK;
}

void
cw_downlink_free (cw_pb_alloc_t *alloc, Coachwire__Downlink **msg)
{
    if (!alloc || !msg || !*msg)
        return;
    coachwire__downlink__free_unpacked (*msg, &alloc->base);
    *msg = NULL;
}

/*  -------------------------------------------------------------------------------------------
 *  Construction
 */

static int64_t
s_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
s_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
cw_edge_options_default (cw_edge_options_t *opts)
{
    if (!opts)
        return;
    opts->queue_max_frames = CW_QUEUE_DEFAULT_MAX_FRAMES;
    opts->queue_max_bytes = CW_QUEUE_DEFAULT_MAX_BYTES;
    opts->resend_timeout_ms = 10000;
    opts->window = 64;
    opts->reconnect_ivl_ms = 250;
    opts->reconnect_ivl_max_ms = 30000;
    opts->backoff_max_ms = 300000;
}

static void
s_options_fill (cw_edge_options_t *out, const cw_edge_options_t *in)
{
    cw_edge_options_default (out);
    if (!in)
        return;
    if (in->queue_max_frames)
        out->queue_max_frames = in->queue_max_frames;
    if (in->queue_max_bytes)
        out->queue_max_bytes = in->queue_max_bytes;
    if (in->resend_timeout_ms)
        out->resend_timeout_ms = in->resend_timeout_ms;
    if (in->window)
        out->window = in->window < CW_EDGE_WINDOW_MAX ? in->window : CW_EDGE_WINDOW_MAX;
    if (in->reconnect_ivl_ms)
        out->reconnect_ivl_ms = in->reconnect_ivl_ms;
    if (in->reconnect_ivl_max_ms)
        out->reconnect_ivl_max_ms = in->reconnect_ivl_max_ms;
    if (in->backoff_max_ms)
        out->backoff_max_ms = in->backoff_max_ms;
    if (out->reconnect_ivl_max_ms < out->reconnect_ivl_ms)
        out->reconnect_ivl_max_ms = out->reconnect_ivl_ms;
}

int
cw_edge_new (cw_edge_t **out, const char *cred_path, const char *queue_path,
             const cw_edge_options_t *opts)
{
    if (!out || !cred_path || !queue_path)
        return CW_EINVAL;
    *out = NULL;
    if (sodium_init () < 0)
        return CW_ENOMEM;
    int rc = CW_OK;
    cw_edge_t *self = calloc (1, sizeof *self);
    if (!self)
        return CW_ENOMEM;
    s_options_fill (&self->opts, opts);

    if ((rc = cw_cred_load (cred_path, &self->cred, NULL, 0)) != CW_OK)
        goto done;
    if (cw_cred_kind (self->cred) != CW_CRED_DEVICE || !cw_cred_secret_key (self->cred)
        || !*cw_cred_endpoint (self->cred)) {
        rc = CW_ECRED;      /* not a device credential, or missing its secret or endpoint */
        goto done;
    }
    self->key = sodium_malloc (CW_KEY_BYTES);
    self->batch = calloc (self->opts.window, sizeof *self->batch);
    if (!self->key || !self->batch) {
        rc = CW_ENOMEM;
        goto done;
    }
    const uint8_t *device_public = cw_cred_public_key (self->cred);
    const uint8_t *server_public = cw_cred_server_key (self->cred);
    if ((rc = cw_payload_key_derive (self->key, cw_cred_secret_key (self->cred), server_public,
                                     device_public, server_public, cw_cred_id (self->cred)))
        != CW_OK)
        goto done;
    if ((rc = cw_queue_open (&self->queue, queue_path, self->opts.queue_max_frames,
                             self->opts.queue_max_bytes)) != CW_OK)
        goto done;
    /*  Nothing is in flight for a process that has not connected yet. */
    rc = cw_queue_reset_sent (self->queue);
done:
    if (rc != CW_OK)
        cw_edge_destroy (&self);
    *out = self;
    return rc;
}

static void
s_disconnect (cw_edge_t *self)
{
    if (self->dealer)
        zmq_socket_monitor (self->dealer, NULL, 0);
    if (self->monitor) {
        zmq_close (self->monitor);
        self->monitor = NULL;
    }
    if (self->dealer) {
        zmq_close (self->dealer);
        self->dealer = NULL;
    }
    if (self->zctx) {
        zmq_ctx_term (self->zctx);
        self->zctx = NULL;
    }
    self->connected = 0;
}

void
cw_edge_destroy (cw_edge_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_edge_t *self = *self_p;
    s_disconnect (self);
    cw_client_destroy (&self->api);
    cw_queue_destroy (&self->queue);
    if (self->key)
        sodium_free (self->key);    /* wipes before freeing */
    cw_cred_destroy (&self->cred);
    free (self->batch);
    sodium_memzero (self, sizeof *self);
    free (self);
    *self_p = NULL;
}

int
cw_edge_consent (cw_edge_t *self, const char *pattern, const char *purpose, bool grant,
                 char *receipt, size_t receipt_size, int timeout_ms)
{
    if (!self || !pattern || !purpose || (receipt_size && !receipt))
        return CW_EINVAL;
    if (receipt_size)
        receipt [0] = 0;
    self->api_error [0] = 0;
    if (!*cw_cred_api_endpoint (self->cred)) {
        snprintf (self->api_error, sizeof self->api_error,
                  "the device credential names no api endpoint");
        return CW_EINVAL;
    }
    int rc = CW_OK;
    if (!self->api && (rc = cw_client_new (&self->api, self->cred, NULL)) != CW_OK)
        return rc;
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
    rc = cw_client_call (self->api, &req, &reply, timeout_ms > 0 ? timeout_ms : 5000);
    if (rc != CW_OK) {
        snprintf (self->api_error, sizeof self->api_error, "%s", cw_client_hint (self->api));
        return rc;
    }
    rc = reply->code;
    snprintf (self->api_error, sizeof self->api_error, "%s", reply->error ? reply->error : "");
    const Coachwire__ConsentChangeReply *change =
        reply->body_case == COACHWIRE__API_REPLY__BODY_CONSENT_CHANGE ? reply->consent_change
                                                                      : NULL;
    if (rc == CW_OK && !change)
        rc = CW_EDECODE;
    if (rc == CW_OK && receipt_size && change->receipt) {
        size_t n = strlen (change->receipt);
        if (n < receipt_size)
            memcpy (receipt, change->receipt, n + 1);
        else
            rc = CW_ETOOBIG;    /* the change was made: the receipt is in the ledger */
    }
    cw_client_reply_free (&reply);
    return rc;
}

const char *
cw_edge_api_error (const cw_edge_t *self)
{
    return self ? self->api_error : "";
}

const char *
cw_edge_device_id (const cw_edge_t *self)
{
    return self && self->cred ? cw_cred_id_hex (self->cred) : "";
}

void
cw_edge_on_reject (cw_edge_t *self, cw_edge_reject_fn *fn, void *ctx)
{
    if (!self)
        return;
    self->on_reject = fn;
    self->reject_ctx = fn ? ctx : NULL;
}

void
cw_edge_set_nudge_handler (cw_edge_t *self, cw_edge_nudge_fn *fn, void *ctx)
{
    if (!self)
        return;
    self->on_nudge = fn;
    self->nudge_ctx = fn ? ctx : NULL;
}

/*  -------------------------------------------------------------------------------------------
 *  Publishing
 */

typedef struct {
    const uint8_t *key;
    const uint8_t *device_id;
    const uint8_t *plain;
    size_t plain_len;
} s_seal_ctx_t;

static int
s_seal (void *ctx, uint16_t stream, uint64_t sequence, uint8_t *frame, size_t frame_cap,
        size_t *frame_len)
{
    s_seal_ctx_t *s = ctx;
    return cw_envelope_seal (frame, frame_cap, frame_len, s->key, s->device_id, stream,
                             sequence, s->plain, s->plain_len);
}

static int
s_enqueue (cw_edge_t *self, const uint8_t *plain, size_t len, uint16_t stream)
{
    s_seal_ctx_t ctx = { self->key, cw_cred_id (self->cred), plain, len };
    return cw_queue_push (self->queue, stream, len + CW_FRAME_OVERHEAD, s_seal, &ctx, NULL);
}

int
cw_edge_publish (cw_edge_t *self, const uint8_t *batch_pb, size_t len, uint16_t stream)
{
    if (!self || (!batch_pb && len))
        return CW_EINVAL;
    if (len > CW_PAYLOAD_MAX_BYTES)
        return CW_ETOOBIG;
    if (stream > CW_STREAM_MAX)
        return CW_ESTREAM;
    /*  Decode once to catch a batch that the gateway would refuse for good. The app's own
     *  bytes, but still capped: packed fields expand (a 1-byte varint becomes 4 or 8 bytes and
     *  an empty meal entry a whole struct). */
    cw_pb_alloc_t alloc;
    cw_pb_alloc_init (&alloc, 64 * len + 64 * 1024);
    Coachwire__SensorBatch *batch = coachwire__sensor_batch__unpack (&alloc.base, len, batch_pb);
    if (!batch)
        return alloc.refused ? CW_ETOOBIG : CW_EDECODE;
    int body = (int) batch->body_case;
    coachwire__sensor_batch__free_unpacked (batch, &alloc.base);
    if (body < CW_STREAM_MIN || body > CW_STREAM_MAX)
        return CW_EEMPTY;
    if (stream != 0 && stream != body)
        return CW_ESTREAM;
    return s_enqueue (self, batch_pb, len, (uint16_t) body);
}

int
cw_edge_publish_batch (cw_edge_t *self, const struct Coachwire__SensorBatch *batch)
{
    if (!self || !batch)
        return CW_EINVAL;
    /* The app may have built the batch with its own copy of the generated code (a shared
     * library keeps ours private): pack through the message's own descriptor, after checking
     * that it is a SensorBatch at all. */
    const ProtobufCMessageDescriptor *desc = batch->base.descriptor;
    if (!desc || desc->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC
        || strcmp (desc->name, "coachwire.SensorBatch") != 0)
        return CW_EINVAL;
    int body = (int) batch->body_case;
    if (body < CW_STREAM_MIN || body > CW_STREAM_MAX)
        return CW_EEMPTY;
    size_t len = protobuf_c_message_get_packed_size (&batch->base);
    if (len > CW_PAYLOAD_MAX_BYTES)
        return CW_ETOOBIG;
    uint8_t *buf = malloc (len ? len : 1);
    if (!buf)
        return CW_ENOMEM;
    size_t packed = protobuf_c_message_pack (&batch->base, buf);
    int rc = packed == len ? s_enqueue (self, buf, len, (uint16_t) body) : CW_EINTERNAL;
    free (buf);
    return rc;
}

/*  -------------------------------------------------------------------------------------------
 *  Connection
 */

static int
s_setopt_int (void *socket, int option, int value)
{
    return zmq_setsockopt (socket, option, &value, sizeof value) == 0 ? CW_OK : CW_EINVAL;
}

/*  Creates the context, the DEALER and its monitor, and starts connecting (asynchronously:
 *  ZeroMQ reconnects by itself from here on). */
static int
s_connect (cw_edge_t *self)
{
    if (self->dealer)
        return CW_OK;
    int rc = CW_OK;
    char monitor_ep [64];
    snprintf (monitor_ep, sizeof monitor_ep, "inproc://cw-edge-monitor-%p", (void *) self);
    self->zctx = zmq_ctx_new ();
    if (!self->zctx)
        return CW_ENOMEM;
    self->dealer = zmq_socket (self->zctx, ZMQ_DEALER);
    if (!self->dealer) {
        rc = CW_ENOMEM;
        goto done;
    }
    int64_t maxmsg = CW_DOWNLINK_MAX_BYTES;
    int hwm = (int) self->opts.window * 2 + 16;
    if (zmq_setsockopt (self->dealer, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0
        || s_setopt_int (self->dealer, ZMQ_LINGER, 0) != CW_OK
        || s_setopt_int (self->dealer, ZMQ_IMMEDIATE, 1) != CW_OK
        || s_setopt_int (self->dealer, ZMQ_SNDHWM, hwm) != CW_OK
        || s_setopt_int (self->dealer, ZMQ_RCVHWM, 1000) != CW_OK
        || s_setopt_int (self->dealer, ZMQ_RECONNECT_IVL, (int) self->opts.reconnect_ivl_ms)
               != CW_OK
        || s_setopt_int (self->dealer, ZMQ_RECONNECT_IVL_MAX,
                         (int) self->opts.reconnect_ivl_max_ms) != CW_OK
        || s_setopt_int (self->dealer, ZMQ_HEARTBEAT_IVL, 10000) != CW_OK
        || s_setopt_int (self->dealer, ZMQ_HEARTBEAT_TIMEOUT, 30000) != CW_OK
        || zmq_setsockopt (self->dealer, ZMQ_CURVE_SERVERKEY, cw_cred_server_key (self->cred),
                           CW_KEY_BYTES) != 0
        || zmq_setsockopt (self->dealer, ZMQ_CURVE_PUBLICKEY, cw_cred_public_key (self->cred),
                           CW_KEY_BYTES) != 0
        || zmq_setsockopt (self->dealer, ZMQ_CURVE_SECRETKEY, cw_cred_secret_key (self->cred),
                           CW_KEY_BYTES) != 0) {
        rc = CW_EINVAL;
        goto done;
    }
    if (zmq_socket_monitor (self->dealer, monitor_ep,
                            ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED
                                | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                                | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                                | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0) {
        rc = CW_EINVAL;
        goto done;
    }
    self->monitor = zmq_socket (self->zctx, ZMQ_PAIR);
    if (!self->monitor || s_setopt_int (self->monitor, ZMQ_LINGER, 0) != CW_OK
        || zmq_connect (self->monitor, monitor_ep) != 0) {
        rc = CW_ENOMEM;
        goto done;
    }
    if (zmq_connect (self->dealer, cw_cred_endpoint (self->cred)) != 0) {
        rc = CW_ECRED;      /* the endpoint in the credential is not one ZeroMQ accepts */
        goto done;
    }
done:
    if (rc != CW_OK)
        s_disconnect (self);
    return rc;
}

/*  Reads every pending monitor event. A drop discards whatever sat in the pipe, so every frame
 *  in flight is marked unsent and goes out again once the handshake succeeds. */
static int
s_drain_monitor (cw_edge_t *self)
{
    int rc = CW_OK;
    while (self->monitor) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, self->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&msg);
            break;
        }
        uint16_t event = 0;
        if (zmq_msg_size (&msg) >= 6)
            memcpy (&event, zmq_msg_data (&msg), sizeof event);
        int more = zmq_msg_more (&msg);
        zmq_msg_close (&msg);
        while (more) {
            zmq_msg_init (&msg);
            if (zmq_msg_recv (&msg, self->monitor, 0) < 0)
                more = 0;
            else
                more = zmq_msg_more (&msg);
            zmq_msg_close (&msg);
        }
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            self->connected = 1;
        else if (event == ZMQ_EVENT_DISCONNECTED) {
            self->connected = 0;
            if (cw_queue_reset_sent (self->queue) != CW_OK)
                rc = CW_EIO;
        }
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                 || event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                 || event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            self->handshake_failures++;
    }
    return rc;
}

/*  Sends frames that are due while the window has room. */
static int
s_send_due (cw_edge_t *self)
{
    if (!self->connected || s_mono_ms () < self->paused_until_ms)
        return CW_OK;
    int64_t now = s_wall_ms ();
    int64_t timeout = self->opts.resend_timeout_ms;
    int rc = CW_OK;
    while (rc == CW_OK) {
        uint64_t in_flight = 0;
        if ((rc = cw_queue_in_flight (self->queue, now, timeout, &in_flight)) != CW_OK)
            break;
        if (in_flight >= self->opts.window)
            break;
        size_t room = (size_t) (self->opts.window - in_flight), due = 0, sent = 0;
        if ((rc = cw_queue_due (self->queue, now, timeout, self->batch, room, &due)) != CW_OK)
            break;
        while (sent < due) {
            cw_queue_frame_t *f = &self->batch [sent];
            if (zmq_send (self->dealer, f->frame, f->frame_len, ZMQ_DONTWAIT) < 0)
                break;      /* EAGAIN: no session (yet) or the pipe is full; try next pump */
            sent++;
        }
        rc = cw_queue_mark_sent (self->queue, self->batch, sent, now);
        cw_queue_frames_free (self->batch, due);
        if (sent < due || due < room)
            break;      /* blocked, or nothing more is due */
    }
    return rc;
}

static void
s_ring_push (cw_edge_t *self, const cw_edge_rejection_t *r)
{
    size_t at = (self->ring_next + self->ring_count) % CW_EDGE_RING;
    if (self->ring_count == CW_EDGE_RING) {
        at = self->ring_next;
        self->ring_next = (self->ring_next + 1) % CW_EDGE_RING;
    }
    else
        self->ring_count++;
    self->ring [at] = *r;
}

/*  Seals and sends one nudge acknowledgement (kind 2, stream = reaction, plaintext = the
 *  16-byte id) when connected, and records that it went out. *sent says whether it did. */
static int
s_send_reaction (cw_edge_t *self, const char *id_hex, int reaction, int *sent)
{
    *sent = 0;
    uint8_t id [16];
    if (!self->dealer || !self->connected || cw_hex_decode (id, sizeof id, id_hex) != CW_OK)
        return CW_OK;
    uint64_t sequence = 0;
    int rc = cw_queue_ack_sequence (self->queue, &sequence);
    if (rc != CW_OK)
        return rc;
    uint8_t frame [sizeof id + CW_FRAME_OVERHEAD];
    size_t len = 0;
    rc = cw_envelope_seal_kind (frame, sizeof frame, &len, self->key, cw_cred_id (self->cred),
                                CW_FRAME_KIND_NUDGE_ACK, (uint16_t) reaction, sequence, id,
                                sizeof id);
    if (rc != CW_OK)
        return rc;
    if (zmq_send (self->dealer, frame, len, ZMQ_DONTWAIT) != (int) len)
        return CW_OK;       /* no session or a full pipe: a later pump sends it */
    *sent = 1;
    return cw_queue_nudge_sent (self->queue, id_hex, reaction);
}

/*  A nudge arrived: stored (once), handed to the app (once), acknowledged (every time: a
 *  redelivery means the service did not get the receipt). */
static int
s_nudge_received (cw_edge_t *self, const char *id, const ProtobufCBinaryData *body,
                  uint64_t *garbage)
{
    int is_new = 0;
    int rc = cw_queue_nudge_put (self->queue, id, s_wall_ms (), body->data, body->len, &is_new);
    if (rc == CW_EINVAL || rc == CW_ETOOBIG) {
        (*garbage)++;       /* not an id the service makes, or a body past any nudge */
        return CW_OK;
    }
    if (rc != CW_OK)
        return rc;
    if (is_new && self->on_nudge)
        self->on_nudge (self->nudge_ctx, id, body->data, body->len);
    int sent = 0;
    return s_send_reaction (self, id, CW_EDGE_REACTION_RECEIVED, &sent);
}

/*  What the pump still owes the service about nudges: receipts and reactions not sent yet,
 *  and a hello (cw_edge_announce). */
typedef struct {
    char ids [CW_EDGE_REACTIONS_BURST][33];
    unsigned todo [CW_EDGE_REACTIONS_BURST];    /* bit 0 receipt, 1 << r reaction r */
    size_t count;
    char newest [33];
} s_owed_t;

static int
s_owed_add (void *ctx, const cw_queue_nudge_t *n)
{
    s_owed_t *owed = ctx;
    memcpy (owed->newest, n->id, sizeof owed->newest);
    unsigned todo = (n->acked ? 0u : 1u) | (n->feedback & ~n->feedback_sent & 0xeu);
    if (todo && owed->count < CW_EDGE_REACTIONS_BURST) {
        memcpy (owed->ids [owed->count], n->id, sizeof owed->ids [0]);
        owed->todo [owed->count++] = todo;
    }
    return 0;
}

static int
s_send_reactions (cw_edge_t *self)
{
    if (!self->connected)
        return CW_OK;
    s_owed_t owed;
    memset (&owed, 0, sizeof owed);
    int rc = cw_queue_nudges_each (self->queue, !self->announce, s_owed_add, &owed);
    for (size_t i = 0; rc == CW_OK && i < owed.count; i++)
        for (int r = 0; rc == CW_OK && r <= CW_EDGE_REACTION_HELPFUL; r++) {
            int sent = 0;
            if (owed.todo [i] & (1u << r))
                rc = s_send_reaction (self, owed.ids [i], r, &sent);
            if (rc == CW_OK && !sent && (owed.todo [i] & (1u << r)))
                return CW_OK;       /* blocked: the rest next pump */
        }
    if (rc == CW_OK && self->announce) {
        int sent = 0;
        if (owed.newest [0])
            rc = s_send_reaction (self, owed.newest, CW_EDGE_REACTION_RECEIVED, &sent);
        else {
            static const char s_nobody [] = "00000000000000000000000000000000";
            rc = s_send_reaction (self, s_nobody, CW_EDGE_REACTION_RECEIVED, &sent);
            if (rc == CW_EIO || rc == CW_EINVAL)
                rc = CW_OK;     /* there is no such nudge to mark: only the frame matters */
        }
        if (rc == CW_OK && sent)
            self->announce = 0;
    }
    return rc;
}

int
cw_edge_announce (cw_edge_t *self)
{
    if (!self)
        return CW_EINVAL;
    self->announce = 1;
    return CW_OK;
}

int
cw_edge_nudge_feedback (cw_edge_t *self, const char *nudge_id_hex, int reaction)
{
    if (!self || !nudge_id_hex || reaction < CW_EDGE_REACTION_OPENED
        || reaction > CW_EDGE_REACTION_HELPFUL)
        return CW_EINVAL;
    char id [33];
    size_t n = strlen (nudge_id_hex);
    if (n != 32)
        return CW_EINVAL;
    for (size_t i = 0; i <= n; i++) {
        char c = nudge_id_hex [i];
        id [i] = c >= 'A' && c <= 'F' ? (char) (c - 'A' + 'a') : c;
    }
    int rc = cw_queue_nudge_feedback (self->queue, id, reaction);
    int sent = 0;
    if (rc == CW_OK)
        rc = s_send_reaction (self, id, reaction, &sent);
    return rc;
}

typedef struct {
    cw_edge_nudge_each_fn *fn;
    void *ctx;
} s_each_t;

static int
s_each_nudge (void *ctx, const cw_queue_nudge_t *n)
{
    s_each_t *e = ctx;
    cw_edge_nudge_t out;
    memcpy (out.id, n->id, sizeof out.id);
    out.received_ms = n->received_ms;
    out.body = n->body;
    out.body_len = n->body_len;
    out.acked = n->acked;
    out.feedback = n->feedback;
    out.feedback_sent = n->feedback_sent;
    return e->fn (e->ctx, &out);
}

int
cw_edge_nudges_each (cw_edge_t *self, cw_edge_nudge_each_fn *fn, void *ctx)
{
    if (!self || !fn)
        return CW_EINVAL;
    s_each_t e = { fn, ctx };
    return cw_queue_nudges_each (self->queue, 0, s_each_nudge, &e);
}

/*  Handles one downlink message. Acks and refusals join the open queue transaction (*in_tx);
 *  callbacks run outside it, so that they may publish. */
static int
s_handle (cw_edge_t *self, const uint8_t *data, size_t size, int *in_tx, uint64_t *garbage)
{
    cw_pb_alloc_t alloc;
    Coachwire__Downlink *msg = NULL;
    if (cw_downlink_decode (&alloc, data, size, &msg) != CW_OK) {
        (*garbage)++;
        return CW_OK;
    }
    int rc = CW_OK;
    if (!*in_tx && msg->body_case != COACHWIRE__DOWNLINK__BODY_NUDGE) {
        if ((rc = cw_queue_begin (self->queue)) != CW_OK)
            goto done;
        *in_tx = 1;
    }
    switch (msg->body_case) {
        case COACHWIRE__DOWNLINK__BODY_ACK:
            rc = cw_queue_ack (self->queue, (uint16_t) msg->ack->stream, msg->ack->sequence,
                               msg->ack->duplicate, NULL);
            break;
        case COACHWIRE__DOWNLINK__BODY_ERROR: {
            int found = 0;
            cw_edge_rejection_t r = { (uint16_t) msg->error->stream, msg->error->sequence,
                                      msg->error->code, "" };
            snprintf (r.reason, sizeof r.reason, "%s",
                      msg->error->reason ? msg->error->reason : "");
            rc = cw_queue_reject (self->queue, r.stream, r.sequence, r.code, r.reason, &found);
            if (rc == CW_OK && found) {
                s_ring_push (self, &r);
                if (self->on_reject) {
                    *in_tx = 0;
                    if ((rc = cw_queue_commit (self->queue)) != CW_OK)
                        break;
                    self->on_reject (self->reject_ctx, &r);
                }
            }
            break;
        }
        case COACHWIRE__DOWNLINK__BODY_BACKOFF: {
            uint32_t ms = msg->backoff->retry_after_ms;
            if (ms < CW_EDGE_BACKOFF_MIN_MS)
                ms = CW_EDGE_BACKOFF_MIN_MS;
            if (ms > self->opts.backoff_max_ms)
                ms = self->opts.backoff_max_ms;
            self->paused_until_ms = s_mono_ms () + ms;
            /*  The gateway did not take what is in flight: send it all again after the pause
             *  instead of waiting out the resend timeout. */
            rc = cw_queue_reset_sent (self->queue);
            if (rc == CW_OK)
                rc = cw_queue_count_event (self->queue, CW_QUEUE_BACKOFFS, 1);
            break;
        }
        case COACHWIRE__DOWNLINK__BODY_NUDGE:
            if (*in_tx) {
                *in_tx = 0;
                if ((rc = cw_queue_commit (self->queue)) != CW_OK)
                    break;
            }
            rc = s_nudge_received (self, msg->nudge->nudge_id, &msg->nudge->body, garbage);
            break;
        default:
            break;
    }
done:
    cw_downlink_free (&alloc, &msg);
    return rc;
}

/*  Reads the downlinks waiting on the socket (up to a burst), grouping queue writes in one
 *  transaction. Sets *got when at least one message was read. */
static int
s_read_downlinks (cw_edge_t *self, int *got)
{
    int rc = CW_OK, in_tx = 0;
    uint64_t garbage = 0;
    *got = 0;
    for (int n = 0; rc == CW_OK && n < CW_EDGE_READ_BURST; n++) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, self->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&msg);
            break;
        }
        *got = 1;
        if (zmq_msg_more (&msg)) {
            /*  A downlink is one part: a multipart message is garbage, all of it. */
            int more = 1;
            while (more) {
                zmq_msg_close (&msg);
                zmq_msg_init (&msg);
                more = zmq_msg_recv (&msg, self->dealer, 0) >= 0 && zmq_msg_more (&msg);
            }
            garbage++;
        }
        else
            rc = s_handle (self, zmq_msg_data (&msg), zmq_msg_size (&msg), &in_tx, &garbage);
        zmq_msg_close (&msg);
    }
    if (garbage) {
        int grc = cw_queue_count_event (self->queue, CW_QUEUE_GARBAGE, garbage);
        if (rc == CW_OK)
            rc = grc;
    }
    if (in_tx) {
        int crc = cw_queue_commit (self->queue);
        if (rc == CW_OK)
            rc = crc;
    }
    return rc;
}

int
cw_edge_pump (cw_edge_t *self, int timeout_ms)
{
    if (!self)
        return CW_EINVAL;
    int rc = s_connect (self);
    if (rc != CW_OK)
        return rc;
    if ((rc = s_drain_monitor (self)) != CW_OK || (rc = s_send_due (self)) != CW_OK
        || (rc = s_send_reactions (self)) != CW_OK)
        return rc;
    int64_t deadline = s_mono_ms () + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int64_t now = s_mono_ms ();
        long wait = deadline > now ? (long) (deadline - now) : 0;
        /*  Wake when a Backoff pause ends, so that sending resumes within this call. */
        if (self->paused_until_ms > now && self->paused_until_ms - now < wait)
            wait = (long) (self->paused_until_ms - now);
        zmq_pollitem_t items [] = {
            { self->dealer, 0, ZMQ_POLLIN, 0 },
            { self->monitor, 0, ZMQ_POLLIN, 0 },
        };
        int n = zmq_poll (items, 2, wait);
        if (n < 0)
            return CW_OK;   /* EINTR: the caller pumps again */
        int got = 0;
        if (items [1].revents & ZMQ_POLLIN) {
            if ((rc = s_drain_monitor (self)) != CW_OK)
                return rc;
        }
        if (items [0].revents & ZMQ_POLLIN) {
            if ((rc = s_read_downlinks (self, &got)) != CW_OK)
                return rc;
        }
        if ((rc = s_send_due (self)) != CW_OK || (rc = s_send_reactions (self)) != CW_OK)
            return rc;
        if (got || s_mono_ms () >= deadline)
            return CW_OK;
    }
}

int
cw_edge_flush (cw_edge_t *self, int timeout_ms)
{
    if (!self)
        return CW_EINVAL;
    int64_t deadline = s_mono_ms () + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        uint64_t frames = 0;
        int rc = cw_queue_size (self->queue, &frames, NULL);
        if (rc != CW_OK)
            return rc;
        if (frames == 0)
            return CW_OK;
        int64_t left = deadline - s_mono_ms ();
        if (left <= 0)
            return CW_ETIMEOUT;
        if ((rc = cw_edge_pump (self, left < 50 ? (int) left : 50)) != CW_OK)
            return rc;
    }
}

int
cw_edge_stats (cw_edge_t *self, cw_edge_stats_t *out)
{
    if (!self || !out)
        return CW_EINVAL;
    memset (out, 0, sizeof *out);
    cw_queue_counters_t c;
    cw_queue_reject_count_t kinds [CW_EDGE_REJECT_KINDS];
    size_t nkinds = 0;
    int rc;
    if ((rc = cw_queue_size (self->queue, &out->queued, &out->queued_bytes)) != CW_OK
        || (rc = cw_queue_in_flight (self->queue, s_wall_ms (), self->opts.resend_timeout_ms,
                                     &out->in_flight)) != CW_OK
        || (rc = cw_queue_counters (self->queue, &c)) != CW_OK
        || (rc = cw_queue_rejected_codes (self->queue, kinds, CW_EDGE_REJECT_KINDS, &nkinds))
               != CW_OK)
        return rc;
    out->sent = c.value [CW_QUEUE_SENT];
    out->resent = c.value [CW_QUEUE_RESENT];
    out->acked = c.value [CW_QUEUE_ACKED];
    out->duplicates = c.value [CW_QUEUE_DUPLICATES];
    out->rejected = c.value [CW_QUEUE_REJECTED];
    out->dropped = c.value [CW_QUEUE_DROPPED];
    out->garbage = c.value [CW_QUEUE_GARBAGE];
    out->backoffs = c.value [CW_QUEUE_BACKOFFS];
    out->handshake_failures = self->handshake_failures;
    out->connected = self->connected;
    int64_t left = self->paused_until_ms - s_mono_ms ();
    out->paused_ms = left > 0 ? (uint32_t) left : 0;
    out->reject_kinds = nkinds;
    for (size_t i = 0; i < nkinds; i++) {
        out->rejected_by_code [i].code = kinds [i].code;
        out->rejected_by_code [i].count = kinds [i].count;
        snprintf (out->rejected_by_code [i].last_reason,
                  sizeof out->rejected_by_code [i].last_reason, "%s", kinds [i].last_reason);
    }
    return CW_OK;
}

int
cw_edge_rejections (cw_edge_t *self, cw_edge_rejection_t *out, size_t max)
{
    if (!self || (!out && max))
        return CW_EINVAL;
    size_t n = self->ring_count < max ? self->ring_count : max;
    size_t skip = self->ring_count - n;     /* keep the most recent n */
    for (size_t i = 0; i < n; i++)
        out [i] = self->ring [(self->ring_next + skip + i) % CW_EDGE_RING];
    return (int) n;
}
