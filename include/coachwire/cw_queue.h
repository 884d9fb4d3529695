/*  cw_queue.h - the bounded on-device queue of sealed frames (SQLite).
 *
 *  The queue holds only sealed frames, so what waits on the phone is encrypted at rest. A frame
 *  stays until the gateway acknowledges it (Ack) or refuses it for good (FrameError), across
 *  restarts and days offline. Sequences are allocated per stream and the frame is inserted in
 *  the same transaction, so a crash can never hand out a sequence twice: the gateway dedups on
 *  (device, stream, sequence) and a reused number would be acked as a duplicate and lost.
 *
 *  Bounded by a number of frames and a number of bytes: a full queue refuses the new frame
 *  with CW_ENOSPC and counts it in the persistent `dropped` counter.
 *
 *  One cw_queue_t belongs to one thread at a time. Two handles on one file are safe (SQLite
 *  locks) but pointless; the edge library opens exactly one.
 */
#ifndef CW_QUEUE_H_INCLUDED
#define CW_QUEUE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_QUEUE_DEFAULT_MAX_FRAMES  65536u
#define CW_QUEUE_DEFAULT_MAX_BYTES   (256u * 1024u * 1024u)
#define CW_QUEUE_REASON_MAX          160u   /* stored rejection reasons are cut to this */

typedef struct _cw_queue_t cw_queue_t;

/*  Persistent counters, lifetime of the queue file. */
typedef enum {
    CW_QUEUE_SENT = 0,        /* frames sent for the first time */
    CW_QUEUE_RESENT,          /* further sends of a frame (timeout, reconnect, backoff) */
    CW_QUEUE_ACKED,           /* frames acknowledged (duplicates included) and removed */
    CW_QUEUE_DUPLICATES,      /* of which the gateway had committed already */
    CW_QUEUE_REJECTED,        /* frames refused by the gateway and removed */
    CW_QUEUE_DROPPED,         /* frames refused at the door because the queue was full */
    CW_QUEUE_GARBAGE,         /* downlink messages that could not be decoded */
    CW_QUEUE_BACKOFFS,        /* Backoff messages honoured */
    CW_QUEUE_COUNTERS         /* number of counters */
} cw_queue_counter_t;

typedef struct {
    uint64_t value [CW_QUEUE_COUNTERS];
} cw_queue_counters_t;

/*  One frame copied out of the queue for sending. frame is malloc'd: cw_queue_frames_free. */
typedef struct {
    int64_t id;               /* row id, for cw_queue_mark_sent */
    uint16_t stream;
    uint64_t sequence;
    uint32_t attempts;        /* sends so far */
    uint8_t *frame;
    size_t frame_len;
} cw_queue_frame_t;

/*  Rejections counted by code, with the last reason seen for that code. */
typedef struct {
    int code;
    uint64_t count;
    char last_reason [CW_QUEUE_REASON_MAX];
} cw_queue_reject_count_t;

/*  Seals the frame for (stream, sequence) into frame (capacity frame_cap), setting *frame_len.
 *  Called by cw_queue_push inside its transaction. Returns CW_OK or a CW_E* code that aborts
 *  the push (nothing is stored, the sequence is not consumed). */
typedef int (*cw_queue_seal_fn) (void *ctx, uint16_t stream, uint64_t sequence, uint8_t *frame,
                                 size_t frame_cap, size_t *frame_len);

/*  Opens or creates the queue at path (WAL journal). max_frames / max_bytes of 0 take the
 *  defaults above. Returns CW_OK, CW_EINVAL, CW_ENOMEM or CW_EIO (not a queue, unreadable). */
CW_EXPORT int cw_queue_open (cw_queue_t **out, const char *path, uint64_t max_frames,
                             uint64_t max_bytes) CW_MUST_CHECK;

/*  Closes the database and frees the queue, sets *self_p to NULL; safe on NULL. */
CW_EXPORT void cw_queue_destroy (cw_queue_t **self_p);

/*  Allocates the next sequence of stream, calls seal to build the frame of exactly frame_len
 *  bytes (at most) and stores it, all in one durable transaction. Sets *sequence when not NULL.
 *  Returns CW_OK, CW_ENOSPC (full: counted as dropped), CW_ETOOBIG (frame_len beyond
 *  CW_FRAME_MAX_BYTES), CW_EINVAL, CW_EIO, or seal's error. */
CW_EXPORT int cw_queue_push (cw_queue_t *self, uint16_t stream, size_t frame_len,
                             cw_queue_seal_fn seal, void *seal_ctx, uint64_t *sequence)
    CW_MUST_CHECK;

/*  Copies up to max frames that are due, oldest first, into out and sets *count: frames never
 *  sent (or reset), and frames sent more than resend_timeout_ms before now_ms. */
CW_EXPORT int cw_queue_due (cw_queue_t *self, int64_t now_ms, int64_t resend_timeout_ms,
                            cw_queue_frame_t *out, size_t max, size_t *count) CW_MUST_CHECK;

/*  Frees the frame copies made by cw_queue_due (count entries) and zeroes them. */
CW_EXPORT void cw_queue_frames_free (cw_queue_frame_t *frames, size_t count);

/*  Records that frames were sent at now_ms: sets last_sent_ms, increments attempts and the
 *  sent / resent counters, in one transaction. */
CW_EXPORT int cw_queue_mark_sent (cw_queue_t *self, const cw_queue_frame_t *frames,
                                  size_t count, int64_t now_ms) CW_MUST_CHECK;

/*  Number of frames sent less than resend_timeout_ms ago: the frames in flight. */
CW_EXPORT int cw_queue_in_flight (cw_queue_t *self, int64_t now_ms, int64_t resend_timeout_ms,
                                  uint64_t *count) CW_MUST_CHECK;

/*  Marks every frame as not sent, so each goes out again at once (after a reconnect). */
CW_EXPORT int cw_queue_reset_sent (cw_queue_t *self) CW_MUST_CHECK;

/*  The gateway committed (stream, sequence): removes it and counts it as acked (and as a
 *  duplicate when duplicate is non-zero). *found (optional) says whether it was queued; an ack
 *  for a frame no longer queued (a second ack after a resend) changes nothing. */
CW_EXPORT int cw_queue_ack (cw_queue_t *self, uint16_t stream, uint64_t sequence,
                            int duplicate, int *found) CW_MUST_CHECK;

/*  The gateway refused (stream, sequence) for good: removes it, counts it as rejected under
 *  code with reason (may be NULL). *found as for cw_queue_ack. */
CW_EXPORT int cw_queue_reject (cw_queue_t *self, uint16_t stream, uint64_t sequence, int code,
                               const char *reason, int *found) CW_MUST_CHECK;

/*  Adds delta to a counter (garbage, backoffs...). */
CW_EXPORT int cw_queue_count_event (cw_queue_t *self, cw_queue_counter_t which, uint64_t delta)
    CW_MUST_CHECK;

/*  Frames and bytes queued now. */
CW_EXPORT int cw_queue_size (cw_queue_t *self, uint64_t *frames, uint64_t *bytes)
    CW_MUST_CHECK;

/*  The persistent counters. */
CW_EXPORT int cw_queue_counters (cw_queue_t *self, cw_queue_counters_t *out) CW_MUST_CHECK;

/*  Up to max rejection kinds, most frequent first; sets *count. */
CW_EXPORT int cw_queue_rejected_codes (cw_queue_t *self, cw_queue_reject_count_t *out,
                                       size_t max, size_t *count) CW_MUST_CHECK;

/*  The next sequence stream would get (1 for a stream never used). */
CW_EXPORT int cw_queue_next_sequence (cw_queue_t *self, uint16_t stream, uint64_t *sequence)
    CW_MUST_CHECK;

/*  Groups several ack / reject / count calls into one transaction (one fsync). Not nestable,
 *  and cw_queue_push must not be called in between. */
CW_EXPORT int cw_queue_begin (cw_queue_t *self) CW_MUST_CHECK;
CW_EXPORT int cw_queue_commit (cw_queue_t *self) CW_MUST_CHECK;

/*  ---- Nudges received (table nudges: id, received_ms, body, acked, feedback, feedback_sent)
 *
 *  A nudge the gateway delivered is kept with its packed body. acked says the receipt
 *  (reaction 0) went out; feedback is a bit set (1 << reaction: 1 opened, 2 dismissed,
 *  3 helpful) of what the person said, feedback_sent what of it went out. The queue file is
 *  the device's store; a body is the person's own nudge. */

#define CW_QUEUE_NUDGE_BODY_MAX (64u * 1024u)
#define CW_QUEUE_NUDGE_ID_HEX 32u

typedef struct {
    char id [CW_QUEUE_NUDGE_ID_HEX + 1];  /* hex */
    int64_t received_ms;
    const uint8_t *body;                  /* valid during the callback */
    size_t body_len;
    int acked;
    unsigned feedback;
    unsigned feedback_sent;
} cw_queue_nudge_t;

/*  Return non-zero to stop (that value is returned). */
typedef int (*cw_queue_nudge_fn) (void *ctx, const cw_queue_nudge_t *nudge);

/*  Stores a delivered nudge (id: 32 lowercase hex). *is_new (may be NULL) is 0 when it was
 *  stored already (a redelivery: nothing changes). CW_EINVAL for a bad id, CW_ETOOBIG. */
CW_EXPORT int cw_queue_nudge_put (cw_queue_t *self, const char *id, int64_t received_ms,
                                  const uint8_t *body, size_t len, int *is_new) CW_MUST_CHECK;
/*  Records feedback (reaction 1..3) to send. CW_ENOENT for a nudge not stored. */
CW_EXPORT int cw_queue_nudge_feedback (cw_queue_t *self, const char *id, int reaction)
    CW_MUST_CHECK;
/*  Marks what went out: reaction 0 sets acked, 1..3 its feedback_sent bit. */
CW_EXPORT int cw_queue_nudge_sent (cw_queue_t *self, const char *id, int reaction)
    CW_MUST_CHECK;
/*  Calls fn for every stored nudge, oldest first (only those with something left to send
 *  when unsent_only). */
CW_EXPORT int cw_queue_nudges_each (cw_queue_t *self, int unsent_only, cw_queue_nudge_fn fn,
                                    void *ctx) CW_MUST_CHECK;
/*  The next sequence for a nudge acknowledgement frame (kind 2), durable: never reused. */
CW_EXPORT int cw_queue_ack_sequence (cw_queue_t *self, uint64_t *sequence) CW_MUST_CHECK;

/*  Short name of a counter ("sent"), for logs and JSON. */
CW_EXPORT const char *cw_queue_counter_name (cw_queue_counter_t which);

#ifdef __cplusplus
}
#endif

#endif
