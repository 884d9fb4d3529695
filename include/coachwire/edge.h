/*  edge.h - the Coachwire edge library (libcoachwire-edge): what a phone app or wearable links.
 *
 *  An edge handle seals each sensor batch on the device (XChaCha20-Poly1305 under a key derived
 *  from the device's Curve25519 key and the service's), stores the sealed frame in a bounded
 *  SQLite queue, and sends queued frames over ZeroMQ + CURVE to the gateway, resending until
 *  each is acknowledged or refused. Data is encrypted at rest on the device as well as in
 *  transit.
 *
 *  Basic flow (plain C calls, usable from Kotlin/JNI or Swift without callbacks):
 *      cw_edge_t *edge = NULL;
 *      if (cw_edge_new (&edge, "device.cred", "device.queue", NULL) != CW_OK) ...
 *      cw_edge_publish (edge, batch_bytes, batch_len, 0);     // seal and queue
 *      cw_edge_pump (edge, 0);                                // from your loop, regularly
 *      cw_edge_flush (edge, 5000);                            // before going to sleep
 *      cw_edge_destroy (&edge);
 *
 *  Threads: a handle has no global state and takes no locks. Use one handle from one thread
 *  at a time (or guard it with your own mutex); separate handles are independent. Callbacks run
 *  on the thread that called cw_edge_pump or cw_edge_flush, from inside that call.
 *
 *  Progress only happens inside cw_edge_pump and cw_edge_flush: the library starts no thread
 *  of its own (ZeroMQ's I/O thread aside). Call cw_edge_pump regularly (every few hundred
 *  milliseconds while the app is active) or acks, resends and Backoff are not handled.
 *
 *  Every function returns CW_OK or a negative CW_E* code (cw_error.h, cw_strerror).
 */
#ifndef CW_EDGE_H_INCLUDED
#define CW_EDGE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cw_error.h"
#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

struct Coachwire__SensorBatch;      /* from coachwire.pb-c.h (protobuf-c) */

typedef struct _cw_edge_t cw_edge_t;

/*  Options; a zero field takes the default in brackets. NULL options = all defaults. */
typedef struct {
    uint64_t queue_max_frames;      /* frames the queue may hold [65536] */
    uint64_t queue_max_bytes;       /* sealed bytes the queue may hold [256 MiB] */
    uint32_t resend_timeout_ms;     /* resend a frame not acked after this long [10000] */
    uint32_t window;                /* frames in flight (sent, not yet acked) at most [64] */
    uint32_t reconnect_ivl_ms;      /* first reconnect delay [250] */
    uint32_t reconnect_ivl_max_ms;  /* reconnect back-off ceiling [30000] */
    uint32_t backoff_max_ms;        /* longest pause a Backoff message can impose [300000] */
} cw_edge_options_t;

#define CW_EDGE_REJECT_KINDS 8      /* rejected-by-code entries in cw_edge_stats_t */
#define CW_EDGE_REASON_MAX   160    /* rejection reasons are cut to this (with the NUL) */

typedef struct {
    int code;                       /* CW_E* code the gateway gave (cw_errname for its name) */
    uint64_t count;                 /* frames refused with it, lifetime of the queue */
    char last_reason [CW_EDGE_REASON_MAX];
} cw_edge_reject_count_t;

/*  Counters are for the lifetime of the queue file (they survive restarts): take a snapshot
 *  before and after to count one session. */
typedef struct {
    uint64_t queued;                /* frames waiting for an ack or refusal now */
    uint64_t queued_bytes;          /* their sealed size */
    uint64_t in_flight;             /* of which sent and waiting, within the resend timeout */
    uint64_t sent;                  /* frames sent (first send of each) */
    uint64_t resent;                /* further sends after a timeout, reconnect or Backoff */
    uint64_t acked;                 /* frames acknowledged and removed (duplicates included) */
    uint64_t duplicates;            /* acks saying the gateway had the frame already */
    uint64_t rejected;              /* frames refused by the gateway (never resent) */
    uint64_t dropped;               /* publishes refused because the queue was full */
    uint64_t garbage;               /* downlink messages that could not be decoded (ignored) */
    uint64_t backoffs;              /* Backoff messages honoured */
    uint64_t handshake_failures;    /* this handle: CURVE handshakes refused (wrong server key?) */
    int connected;                  /* this handle: CURVE session up now (1) or not (0) */
    uint32_t paused_ms;             /* this handle: time left in a Backoff pause */
    size_t reject_kinds;            /* entries used in rejected_by_code, most frequent first */
    cw_edge_reject_count_t rejected_by_code [CW_EDGE_REJECT_KINDS];
} cw_edge_stats_t;

/*  One refusal, as reported to the reject callback and kept in the recent-rejections ring. */
typedef struct {
    uint16_t stream;
    uint64_t sequence;
    int code;
    char reason [CW_EDGE_REASON_MAX];
} cw_edge_rejection_t;

/*  Called from cw_edge_pump / cw_edge_flush for each frame the gateway refused; rejection is
 *  valid during the call only. */
typedef void (cw_edge_reject_fn) (void *ctx, const cw_edge_rejection_t *rejection);

/*  Called from cw_edge_pump / cw_edge_flush for each nudge delivered to this device.
 *  nudge_id is NUL-terminated, body is a serialized coachwire.Nudge (api.proto); both are
 *  valid during the call only. */
typedef void (cw_edge_nudge_fn) (void *ctx, const char *nudge_id, const uint8_t *body,
                                 size_t body_len);

/*  Fills opts with the defaults (so that callers can change one field). */
CW_EXPORT void cw_edge_options_default (cw_edge_options_t *opts);

/*  Loads the device credential (cw_cred.h: kind device, with secret key, server key and
 *  endpoint), derives the payload key, and opens or creates the queue at queue_path. Does not
 *  connect yet: the first cw_edge_pump does. opts may be NULL.
 *  Returns CW_OK and the handle in *out, or CW_EINVAL, CW_ENOENT / CW_ECRED (credential),
 *  CW_EIO (queue), CW_ENOMEM, CW_EAUTH (unusable server key). */
CW_EXPORT int cw_edge_new (cw_edge_t **out, const char *cred_path, const char *queue_path,
                           const cw_edge_options_t *opts) CW_MUST_CHECK;

/*  Closes the connection and the queue (queued frames stay on disk), wipes the keys, frees the
 *  handle and sets *self_p to NULL; safe on NULL and safe to call twice. */
CW_EXPORT void cw_edge_destroy (cw_edge_t **self_p);

/*  Seals one packed coachwire.SensorBatch and queues it for sending. stream is the batch's
 *  oneof case (1 imu .. 6 weight), or 0 to take it from the batch. The bytes are checked to
 *  decode as a SensorBatch of that stream first, so the gateway never sees a frame it must
 *  refuse for shape. The caller keeps ownership of batch_pb.
 *  Returns CW_OK; CW_ENOSPC when the queue is full (the batch is not stored and the `dropped`
 *  counter goes up: keep pumping to make room); CW_EDECODE, CW_ESTREAM, CW_EEMPTY (bad batch);
 *  CW_ETOOBIG; CW_EIO. */
CW_EXPORT int cw_edge_publish (cw_edge_t *self, const uint8_t *batch_pb, size_t len,
                               uint16_t stream) CW_MUST_CHECK;

/*  Same, from a protobuf-c message (packs it first). */
CW_EXPORT int cw_edge_publish_batch (cw_edge_t *self,
                                     const struct Coachwire__SensorBatch *batch) CW_MUST_CHECK;

/*  Does the network work: connects on first use, sends queued frames that were never sent or
 *  whose ack is overdue (at most `window` in flight, none during a Backoff pause), and handles
 *  downlinks (acks, refusals, Backoff, nudges), waiting up to timeout_ms for the first one
 *  (0: do not wait). Returns CW_OK (also when offline: frames simply wait), CW_EIO (queue),
 *  CW_ENOMEM. */
CW_EXPORT int cw_edge_pump (cw_edge_t *self, int timeout_ms) CW_MUST_CHECK;

/*  Pumps until the queue is empty (every frame acked or refused) or timeout_ms has passed.
 *  Returns CW_OK when the queue is empty, CW_ETIMEOUT when frames remain, or a pump error. */
CW_EXPORT int cw_edge_flush (cw_edge_t *self, int timeout_ms) CW_MUST_CHECK;

/*  Fills *out with the queue size and counters. */
CW_EXPORT int cw_edge_stats (cw_edge_t *self, cw_edge_stats_t *out) CW_MUST_CHECK;

/*  Copies up to max of the most recent refusals this handle saw (oldest first; at most 32 are
 *  kept) into out and returns how many, or a negative CW_E* code. */
CW_EXPORT int cw_edge_rejections (cw_edge_t *self, cw_edge_rejection_t *out, size_t max);

/*  Sets (fn non-NULL) or clears the reject callback. */
CW_EXPORT void cw_edge_on_reject (cw_edge_t *self, cw_edge_reject_fn *fn, void *ctx);

/*  Sets (fn non-NULL) or clears the nudge handler.
 *
 *  Every nudge delivered is first stored in the queue database (kept until the queue file
 *  is deleted; a redelivery is stored once), then handed to the handler (once per nudge,
 *  when one is set), and acknowledged at once: a frame of kind 2 (PROTOCOL.md 8a) with
 *  reaction "received", sealed with this device's payload key, so that the service marks it
 *  acked. An acknowledgement that could not go out (offline) goes out on a later pump. */
CW_EXPORT void cw_edge_set_nudge_handler (cw_edge_t *self, cw_edge_nudge_fn *fn, void *ctx);

/*  How the person reacted to a nudge (the stream of its acknowledgement frame). */
#define CW_EDGE_REACTION_RECEIVED  0
#define CW_EDGE_REACTION_OPENED    1
#define CW_EDGE_REACTION_DISMISSED 2
#define CW_EDGE_REACTION_HELPFUL   3

/*  Reports the person's reaction (opened, dismissed or helpful) to a stored nudge: kept in
 *  the queue database and sent as a kind-2 frame now when connected, else on a later
 *  cw_edge_pump. Each reaction counts once per nudge at the service. Returns CW_OK,
 *  CW_EINVAL (not 32 hex characters, or reaction not 1..3), CW_ENOENT (no such nudge was
 *  delivered to this device), CW_EIO. */
CW_EXPORT int cw_edge_nudge_feedback (cw_edge_t *self, const char *nudge_id_hex, int reaction)
    CW_MUST_CHECK;

/*  One stored nudge, valid during the callback only. body is the packed coachwire.Nudge. */
typedef struct {
    char id [33];                   /* hex */
    int64_t received_ms;            /* Unix ms, this device's clock */
    const uint8_t *body;
    size_t body_len;
    int acked;                      /* the receipt went out */
    unsigned feedback;              /* 1 << reaction for each reaction reported */
    unsigned feedback_sent;         /* ... and sent */
} cw_edge_nudge_t;

/*  Return non-zero to stop; that value is returned by cw_edge_nudges_each. */
typedef int (cw_edge_nudge_each_fn) (void *ctx, const cw_edge_nudge_t *nudge);

/*  Calls fn for every nudge stored on this device, oldest first. Does not connect. */
CW_EXPORT int cw_edge_nudges_each (cw_edge_t *self, cw_edge_nudge_each_fn *fn, void *ctx)
    CW_MUST_CHECK;

/*  Tells the gateway this device is here, so that nudges waiting for the person (made while
 *  no device of theirs was connected) are delivered: the gateway hands them over on the
 *  first frame of a connection. Sends the receipt of the newest stored nudge again (harmless:
 *  receipts repeat), or when none is stored an acknowledgement naming no nudge, which the
 *  gateway refuses (the refusal is counted as garbage). It goes out inside cw_edge_pump as
 *  soon as the connection is up; pump to receive what waited. Returns CW_OK. */
CW_EXPORT int cw_edge_announce (cw_edge_t *self) CW_MUST_CHECK;

/*  Consent switches, for an app to offer: grants (grant true) or withdraws one purpose on a
 *  field ("heart_rate.bpm"), a group ("running.*") or every field ("*"), for this device's
 *  person, over the api with the device credential (its api_endpoint). Withdrawing is the same
 *  call with grant false; purpose is "coaching", "coach_review" or "retention" (withdrawing
 *  also takes "any"). Blocks up to timeout_ms (0: 5000) for the service's answer; when the
 *  call returns CW_OK the change is committed and in force at the gateway.
 *
 *  receipt (may be NULL with receipt_size 0) gets the signed ledger line recording the
 *  change (JSON, see cw_ledger.h), or "" when nothing changed (already so); a receipt of a
 *  few KiB is usual, 16 KiB is ample. Returns CW_OK; CW_ETOOBIG when receipt_size is too
 *  small (the change WAS made: the receipt stays in the person's ledger); the service's code
 *  (CW_EINVAL: unknown field or purpose, CW_EDENIED, CW_EREVOKED, CW_EBUSY) with its sentence
 *  in cw_edge_api_error; CW_ETIMEOUT when no answer came (nothing is known to have changed:
 *  ask again, it is idempotent). Independent of the frame queue: call it from the thread
 *  that uses the handle. */
CW_EXPORT int cw_edge_consent (cw_edge_t *self, const char *pattern, const char *purpose,
                               bool grant, char *receipt, size_t receipt_size, int timeout_ms)
    CW_MUST_CHECK;

/*  The service's sentence about the last cw_edge_consent call ("" when none); never NULL. */
CW_EXPORT const char *cw_edge_api_error (const cw_edge_t *self);

/*  Hex of this device's id (32 chars), for logs; never NULL. */
CW_EXPORT const char *cw_edge_device_id (const cw_edge_t *self);

#ifdef __cplusplus
}
#endif

#endif
