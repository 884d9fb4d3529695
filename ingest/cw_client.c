/*  cw_client.c - the api client (see cw_client.h).
 *
 *  ZMQ_IMMEDIATE keeps a request out of the queue until the CURVE handshake has succeeded, so
 *  a refused key or a dead endpoint ends in CW_ETIMEOUT with nothing left to be delivered
 *  later. A socket monitor records how the connection went, to say in the hint why there was
 *  no answer.
 */
#include "coachwire/cw_client.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_pb.h"
#include "coachwire/cw_server.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define S_MONITOR_ENDPOINT "inproc://cw-client-monitor"

struct _cw_client_t {
    void *ctx;                          /* own ZeroMQ context */
    void *dealer;                       /* CURVE client to the api actor */
    void *monitor;                      /* PAIR receiving the dealer's socket events */
    uint64_t next_id;                   /* request_id of the next call */
    char endpoint [CW_ENDPOINT_MAX];
    bool connected;                     /* a TCP (or ipc) connection was made */
    bool handshake_ok;                  /* CURVE handshake succeeded at least once */
    bool auth_failed;                   /* the service's ZAP handler refused our key */
    bool protocol_failed;               /* the handshake broke (wrong server key?) */
    bool disconnected;                  /* a connection closed */
    char hint [CW_CLIENT_HINT_MAX];     /* why the last call failed, for people */
};

void
cw_client_destroy (cw_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_client_t *self = *self_p;
    if (self->monitor)
        zmq_close (self->monitor);
    if (self->dealer)
        zmq_close (self->dealer);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    free (self);
    *self_p = NULL;
}

static int
s_setsockopt_int (void *socket, int option, int value)
{
    return zmq_setsockopt (socket, option, &value, sizeof value) == 0 ? CW_OK : CW_EIO;
}

int
cw_client_new (cw_client_t **out, const cw_cred_t *cred, const char *endpoint_override)
{
    if (!out || !cred)
        return CW_EINVAL;
    *out = NULL;
    const char *endpoint = endpoint_override ? endpoint_override : cw_cred_api_endpoint (cred);
    if (!endpoint || !*endpoint || strlen (endpoint) >= CW_ENDPOINT_MAX
        || !cw_cred_secret_key (cred))
        return CW_EINVAL;
    if (sodium_init () < 0)     /* idempotent; the edge library may not have called it */
        return CW_ENOMEM;
    cw_client_t *self = calloc (1, sizeof *self);
    if (!self)
        return CW_ENOMEM;
    int rc = CW_OK;
    memcpy (self->endpoint, endpoint, strlen (endpoint) + 1);
    uint32_t start = randombytes_random ();
    self->next_id = (uint64_t) start + 1;

    self->ctx = zmq_ctx_new ();
    if (!self->ctx) {
        rc = CW_ENOMEM;
        goto done;
    }
    self->dealer = zmq_socket (self->ctx, ZMQ_DEALER);
    if (!self->dealer) {
        rc = CW_EIO;
        goto done;
    }
    int64_t max_reply = (int64_t) CW_CLIENT_REPLY_MAX_BYTES;
    if ((rc = s_setsockopt_int (self->dealer, ZMQ_LINGER, 0)) != CW_OK
        || (rc = s_setsockopt_int (self->dealer, ZMQ_IMMEDIATE, 1)) != CW_OK
        || zmq_setsockopt (self->dealer, ZMQ_MAXMSGSIZE, &max_reply, sizeof max_reply) != 0
        || zmq_setsockopt (self->dealer, ZMQ_CURVE_SERVERKEY, cw_cred_server_key (cred), 32) != 0
        || zmq_setsockopt (self->dealer, ZMQ_CURVE_PUBLICKEY, cw_cred_public_key (cred), 32) != 0
        || zmq_setsockopt (self->dealer, ZMQ_CURVE_SECRETKEY, cw_cred_secret_key (cred), 32)
               != 0) {
        rc = CW_EIO;
        goto done;
    }
    int events = ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                 | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                 | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
    if (zmq_socket_monitor (self->dealer, S_MONITOR_ENDPOINT, events) != 0) {
        rc = CW_EIO;
        goto done;
    }
    self->monitor = zmq_socket (self->ctx, ZMQ_PAIR);
    if (!self->monitor || zmq_connect (self->monitor, S_MONITOR_ENDPOINT) != 0
        || s_setsockopt_int (self->monitor, ZMQ_LINGER, 0) != CW_OK) {
        rc = CW_EIO;
        goto done;
    }
    if (zmq_connect (self->dealer, self->endpoint) != 0) {
        rc = CW_EIO;     /* malformed endpoint or unknown transport */
        goto done;
    }
done:
    if (rc != CW_OK)
        cw_client_destroy (&self);
    *out = self;
    return rc;
}

/*  Reads every pending monitor event without blocking and remembers what happened. */
static void
s_monitor_drain (cw_client_t *self)
{
    while (true) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, self->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&msg);
            return;
        }
        uint16_t event = 0;
        if (zmq_msg_size (&msg) >= sizeof event)
            memcpy (&event, zmq_msg_data (&msg), sizeof event);
        bool more = zmq_msg_more (&msg);
        zmq_msg_close (&msg);
        while (more) {          /* the second frame names the endpoint: not needed */
            zmq_msg_init (&msg);
            if (zmq_msg_recv (&msg, self->monitor, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close (&msg);
                break;
            }
            more = zmq_msg_more (&msg);
            zmq_msg_close (&msg);
        }
        switch (event) {
            case ZMQ_EVENT_CONNECTED: self->connected = true; break;
            case ZMQ_EVENT_DISCONNECTED: self->disconnected = true; break;
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: self->handshake_ok = true; break;
            case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: self->auth_failed = true; break;
            case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
            case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: self->protocol_failed = true; break;
            default: break;
        }
    }
}

static void
s_timeout_hint (cw_client_t *self, int timeout_ms)
{
    s_monitor_drain (self);
    const char *why;
    if (self->auth_failed)
        why = "the service refused this credential's key (not enrolled, or revoked)";
    else if (self->protocol_failed)
        why = "the secure handshake failed: the credential's server_key may not belong to "
              "this service";
    else if (self->connected && !self->handshake_ok && self->disconnected)
        why = "the service closed the connection during the handshake: this key may not be "
              "enrolled, or the credential's server_key may be wrong";
    else if (self->handshake_ok)
        why = "connected, but the service did not answer in time: it may be overloaded";
    else if (self->connected)
        why = "connected, but the secure handshake did not finish: check the credential's "
              "key and server_key";
    else
        why = "could not connect: check the endpoint and that coachwired runs there";
    snprintf (self->hint, sizeof self->hint, "no answer from %s within %d ms: %s",
              self->endpoint, timeout_ms, why);
}

static int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*  Receives one frame (and drops any extra frames) into msg. Returns CW_OK or CW_EIO. */
static int
s_recv_reply (cw_client_t *self, zmq_msg_t *msg)
{
    if (zmq_msg_recv (msg, self->dealer, ZMQ_DONTWAIT) < 0)
        return CW_EIO;
    int more = zmq_msg_more (msg);
    while (more) {
        zmq_msg_t extra;
        zmq_msg_init (&extra);
        if (zmq_msg_recv (&extra, self->dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&extra);
            break;
        }
        more = zmq_msg_more (&extra);
        zmq_msg_close (&extra);
    }
    return CW_OK;
}

int
cw_client_call (cw_client_t *self, Coachwire__ApiRequest *req, Coachwire__ApiReply **reply,
                int timeout_ms)
{
    if (!self || !req || !reply || timeout_ms < 0)
        return CW_EINVAL;
    *reply = NULL;
    self->hint [0] = 0;
    uint64_t id = self->next_id++;
    req->request_id = id;
    size_t size = protobuf_c_message_get_packed_size (&req->base);
    if (size > CW_API_MAX_MSG_BYTES) {
        snprintf (self->hint, sizeof self->hint,
                  "the request is %zu bytes, more than the service accepts (%u)", size,
                  (unsigned) CW_API_MAX_MSG_BYTES);
        return CW_ETOOBIG;
    }
    uint8_t *packed = malloc (size ? size : 1);
    if (!packed)
        return CW_ENOMEM;
    protobuf_c_message_pack (&req->base, packed);

    int rc = CW_ETIMEOUT;
    bool sent = false;
    int64_t deadline = s_now_ms () + timeout_ms;
    while (true) {
        int64_t now = s_now_ms ();
        if (now >= deadline && timeout_ms > 0)
            break;
        zmq_pollitem_t items [] = {
            { self->dealer, 0, (short) (sent ? ZMQ_POLLIN : ZMQ_POLLOUT), 0 },
            { self->monitor, 0, ZMQ_POLLIN, 0 },
        };
        long wait = (long) (deadline - now);
        if (zmq_poll (items, 2, wait) < 0) {
            rc = CW_EIO;
            snprintf (self->hint, sizeof self->hint, "polling failed: %s",
                      zmq_strerror (zmq_errno ()));
            break;
        }
        if (items [1].revents & ZMQ_POLLIN)
            s_monitor_drain (self);
        if (!sent && (items [0].revents & ZMQ_POLLOUT)) {
            if (zmq_send (self->dealer, packed, size, ZMQ_DONTWAIT) == (int) size)
                sent = true;
        }
        else if (sent && (items [0].revents & ZMQ_POLLIN)) {
            zmq_msg_t msg;
            zmq_msg_init (&msg);
            if (s_recv_reply (self, &msg) != CW_OK) {
                zmq_msg_close (&msg);
                continue;
            }
            ProtobufCMessage *decoded = NULL;
            int drc = cw_pb_unpack (&coachwire__api_reply__descriptor,
                                    (const uint8_t *) zmq_msg_data (&msg), zmq_msg_size (&msg),
                                    CW_CLIENT_REPLY_MAX_BYTES, CW_CLIENT_DECODE_BUDGET,
                                    &decoded);
            zmq_msg_close (&msg);
            if (drc != CW_OK) {
                rc = drc;
                snprintf (self->hint, sizeof self->hint,
                          "the service at %s sent a reply that could not be decoded",
                          self->endpoint);
                break;
            }
            Coachwire__ApiReply *got = (Coachwire__ApiReply *) decoded;
            if (got->request_id != id) {        /* an answer to an abandoned call */
                cw_pb_free (&decoded);
                continue;
            }
            *reply = got;
            rc = CW_OK;
            break;
        }
        if (timeout_ms == 0)
            break;
    }
    free (packed);
    if (rc == CW_ETIMEOUT)
        s_timeout_hint (self, timeout_ms);
    return rc;
}

void
cw_client_reply_free (Coachwire__ApiReply **reply_p)
{
    if (!reply_p || !*reply_p)
        return;
    ProtobufCMessage *msg = &(*reply_p)->base;
    cw_pb_free (&msg);
    *reply_p = NULL;
}

const char *
cw_client_hint (const cw_client_t *self)
{
    return self ? self->hint : "";
}

const char *
cw_client_endpoint (const cw_client_t *self)
{
    return self ? self->endpoint : "";
}
