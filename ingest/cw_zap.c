/*  cw_zap.c - ZAP handler: only enrolled, unrevoked keys get past the CURVE handshake. */
#include "coachwire/cw_zap.h"
#include "coachwire/cw_actor.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_FRAMES 7
#define S_FRAME_MAX 256
#define S_FLUSH_MS 1000

struct _cw_zap_t {
    cw_actor_t *actor;
};

typedef struct {
    const cw_server_config_t *config;
    cw_store_t *store;
    uint64_t refused_unknown;   /* counted in memory, flushed once a second: a storm of */
    uint64_t refused_revoked;   /* strangers must not turn into a storm of fsyncs */
    uint64_t refused_role;
    uint64_t refused_mechanism;
} s_zap_t;

/*  Decides on one request. Fills user_id (hex) when admitted. */
static const char *
s_decide (s_zap_t *self, char frames [S_FRAMES][S_FRAME_MAX], size_t sizes [S_FRAMES],
          char *user_id)
{
    if (sizes [5] != 5 || memcmp (frames [5], "CURVE", 5) != 0 || sizes [6] != 32) {
        self->refused_mechanism++;
        return "CURVE required";
    }
    cw_principal_t p;
    int rc = cw_store_principal_by_key (self->store, (const uint8_t *) frames [6], &p);
    if (rc != CW_OK) {
        self->refused_unknown++;
        return rc == CW_ENOENT ? "key not enrolled" : "store unavailable";
    }
    if (p.revoked_ms) {
        self->refused_revoked++;
        return "key revoked";
    }
    bool gateway = sizes [2] == strlen (CW_ZAP_DOMAIN_GATEWAY)
                   && memcmp (frames [2], CW_ZAP_DOMAIN_GATEWAY, sizes [2]) == 0;
    bool api = sizes [2] == strlen (CW_ZAP_DOMAIN_API)
               && memcmp (frames [2], CW_ZAP_DOMAIN_API, sizes [2]) == 0;
    if (!(gateway && p.kind == CW_PRINCIPAL_DEVICE) && !api) {
        self->refused_role++;
        return "key not allowed on this socket";
    }
    cw_hex_encode (user_id, p.id, CW_ID_BYTES);
    return NULL;
}

static void
s_flush (s_zap_t *self)
{
    if (!(self->refused_unknown | self->refused_revoked | self->refused_role
          | self->refused_mechanism))
        return;
    if (cw_store_begin (self->store) != CW_OK)
        return;     /* try again at the next flush; the counts stay in memory */
    int rc = CW_OK;
    if (rc == CW_OK)
        rc = cw_store_counter_add (self->store, "zap_refused.unknown_key", self->refused_unknown);
    if (rc == CW_OK)
        rc = cw_store_counter_add (self->store, "zap_refused.revoked", self->refused_revoked);
    if (rc == CW_OK)
        rc = cw_store_counter_add (self->store, "zap_refused.role", self->refused_role);
    if (rc == CW_OK)
        rc = cw_store_counter_add (self->store, "zap_refused.mechanism",
                                   self->refused_mechanism);
    if (rc == CW_OK && cw_store_commit (self->store) == CW_OK)
        self->refused_unknown = self->refused_revoked = self->refused_role
            = self->refused_mechanism = 0;
    else
        cw_store_rollback (self->store);
}

/*  Reads one ZAP request (7 frames; longer frames are truncated, extra frames drained). */
static int
s_recv_request (void *sock, char frames [S_FRAMES][S_FRAME_MAX], size_t sizes [S_FRAMES])
{
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, sock, 0) < 0) {
            zmq_msg_close (&msg);
            return -1;
        }
        if (n < S_FRAMES) {
            size_t len = zmq_msg_size (&msg);
            sizes [n] = len < S_FRAME_MAX ? len : S_FRAME_MAX;
            memcpy (frames [n], zmq_msg_data (&msg), sizes [n]);
        }
        n++;
        more = zmq_msg_more (&msg);
        zmq_msg_close (&msg);
    }
    return n;
}

static void
s_reply (void *sock, const char *request_id, size_t request_id_len, const char *status,
         const char *text, const char *user_id)
{
    zmq_send (sock, "1.0", 3, ZMQ_SNDMORE);
    zmq_send (sock, request_id, request_id_len, ZMQ_SNDMORE);
    zmq_send (sock, status, strlen (status), ZMQ_SNDMORE);
    zmq_send (sock, text, strlen (text), ZMQ_SNDMORE);
    zmq_send (sock, user_id, strlen (user_id), ZMQ_SNDMORE);
    zmq_send (sock, "", 0, 0);
}

static void
s_zap_actor (void *pipe, void *args)
{
    s_zap_t self = { .config = args };
    void *sock = zmq_socket (self.config->zmq_ctx, ZMQ_REP);
    int linger = 0;
    int rc = sock ? CW_OK : CW_EIO;
    if (rc == CW_OK) {
        zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_bind (sock, S_ZAP_ENDPOINT) != 0)
            rc = CW_EIO;
    }
    if (rc == CW_OK)
        rc = cw_store_open (&self.store, self.config->db_path, false);
    cw_actor_ready (pipe, rc);
    if (rc != CW_OK) {
        zmq_close (sock);
        return;
    }
    uint64_t last_flush = cw_mono_us ();
    while (true) {
        zmq_pollitem_t items [] = { { pipe, 0, ZMQ_POLLIN, 0 }, { sock, 0, ZMQ_POLLIN, 0 } };
        if (zmq_poll (items, 2, S_FLUSH_MS) < 0)
            break;
        if (items [0].revents & ZMQ_POLLIN) {
            char buf [16];
            int n = zmq_recv (pipe, buf, sizeof buf, 0);
            if (n >= 0 && cw_actor_is_term (buf, (size_t) n))
                break;
        }
        if (items [1].revents & ZMQ_POLLIN) {
            char frames [S_FRAMES][S_FRAME_MAX];
            size_t sizes [S_FRAMES] = { 0 };
            int n = s_recv_request (sock, frames, sizes);
            if (n < 0)
                continue;
            char user_id [2 * CW_ID_BYTES + 1] = "";
            const char *why = n == S_FRAMES && sizes [0] == 3 && memcmp (frames [0], "1.0", 3) == 0
                                  ? s_decide (&self, frames, sizes, user_id)
                                  : "malformed ZAP request";
            s_reply (sock, frames [1], n > 1 ? sizes [1] : 0, why ? "400" : "200",
                     why ? why : "OK", why ? "" : user_id);
        }
        if (cw_mono_us () - last_flush >= S_FLUSH_MS * 1000u) {
            s_flush (&self);
            last_flush = cw_mono_us ();
        }
    }
    s_flush (&self);
    cw_store_destroy (&self.store);
    zmq_close (sock);
}

int
cw_zap_start (cw_zap_t **out, const cw_server_config_t *config)
{
    if (!out || !config)
        return CW_EINVAL;
    *out = NULL;
    cw_zap_t *self = calloc (1, sizeof *self);
    if (!self)
        return CW_ENOMEM;
    int rc = cw_actor_new (&self->actor, config->zmq_ctx, s_zap_actor, (void *) config);
    if (rc != CW_OK) {
        free (self);
        return rc;
    }
    *out = self;
    return CW_OK;
}

void
cw_zap_destroy (cw_zap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_actor_destroy (&(*self_p)->actor);
    free (*self_p);
    *self_p = NULL;
}
