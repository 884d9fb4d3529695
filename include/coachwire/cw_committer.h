/*  cw_committer.h - the gateway's group commits, on a thread of their own.
 *
 *  The gateway opens, checks and re-seals frames into a group; the committer writes the group
 *  in one SQLite transaction on its own connection (frames and their dedup rows, the counters
 *  and devices' last-seen that ride along, the commit count in the database and in
 *  DATA_DIR/commit_seq), syncs it and hands the group back with the outcome. While one group
 *  is being synced the gateway opens and checks the next, so an fsync never stops the receive
 *  path; a frame is still acked only after the group holding it came back committed.
 *
 *  Ownership: a group is the gateway's until cw_committer_submit and the committer's until
 *  cw_committer_take returns it; the committer holds one group at a time. Deduplication stays
 *  exact across groups in flight: the insert of the dedup row decides, inside the transaction.
 */
#ifndef CW_COMMITTER_H_INCLUDED
#define CW_COMMITTER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"
#include "cw_store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_COMMIT_ROUTING_ID_MAX 256
#define CW_COMMIT_COUNTERS_MAX 192
#define CW_COMMIT_NAME_MAX 64

/*  A frame opened and checked, waiting for its group commit. */
typedef struct {
    uint8_t routing_id [CW_COMMIT_ROUTING_ID_MAX];
    size_t routing_id_len;
    uint8_t device_id [CW_ID_BYTES];
    uint8_t user_id [CW_ID_BYTES];
    uint16_t stream;
    uint64_t sequence;
    uint8_t *sealed;        /* re-sealed payload (malloc, freed by the group); NULL when
                               consent left nothing to keep: then only remembered for dedup */
    size_t sealed_len;
    bool duplicate;         /* known before the commit, or found by it */
} cw_commit_frame_t;

typedef struct {
    char name [CW_COMMIT_NAME_MAX];
    uint64_t value;         /* added to the stored counter */
} cw_commit_counter_t;

typedef struct {
    uint8_t device_id [CW_ID_BYTES];
    uint64_t frames;        /* added to the device's frame count; last-seen set to now */
} cw_commit_seen_t;

typedef struct {
    cw_commit_frame_t *frames;
    size_t frame_count, frame_max;
    cw_commit_counter_t counters [CW_COMMIT_COUNTERS_MAX];
    size_t counter_count;
    cw_commit_seen_t *seen;
    size_t seen_count, seen_max;
    bool flush;             /* counters ride along: the committer writes its own too (frames
                               accepted and duplicate, commits, its CPU), which it keeps
                               until then: a counter page in every commit would cost more
                               than the frames */
    uint64_t now_ms;        /* received_ms of the frames, last-seen of the devices */
    /* the outcome, set by the committer */
    int rc;
    uint64_t accepted, duplicates;
    char error [160];
} cw_commit_group_t;

CW_EXPORT int cw_commit_group_new (cw_commit_group_t **out, size_t frame_max, size_t seen_max)
    CW_MUST_CHECK;
/*  Adds value to the named counter in this commit (nothing when value is 0). CW_ENOSPC when the
 *  group holds CW_COMMIT_COUNTERS_MAX counters already. */
CW_EXPORT int cw_commit_group_count (cw_commit_group_t *self, const char *name, uint64_t value);
/*  Frees the payloads and empties the group for reuse. */
CW_EXPORT void cw_commit_group_reset (cw_commit_group_t *self);
CW_EXPORT void cw_commit_group_destroy (cw_commit_group_t **self_p);

typedef struct _cw_committer_t cw_committer_t;

/*  Opens its own connection to db_path and reads the commit count; commit_seq_path (may be
 *  NULL) is the file that repeats the count outside SQLite. */
CW_EXPORT int cw_committer_new (cw_committer_t **out, void *zmq_ctx, const char *db_path,
                                const char *commit_seq_path) CW_MUST_CHECK;
/*  Readable (ZMQ_POLLIN) when a submitted group is back: then cw_committer_take. */
CW_EXPORT void *cw_committer_pipe (cw_committer_t *self);
CW_EXPORT int cw_committer_submit (cw_committer_t *self, cw_commit_group_t *group)
    CW_MUST_CHECK;
/*  Waits for the submitted group and returns it (rc, accepted, duplicates, error set; each
 *  frame's duplicate flag final), or NULL when none is out. */
CW_EXPORT cw_commit_group_t *cw_committer_take (cw_committer_t *self);
/*  Stops the thread; a group still out is waited for first. Safe on NULL. */
CW_EXPORT void cw_committer_destroy (cw_committer_t **self_p);

#ifdef __cplusplus
}
#endif

#endif
