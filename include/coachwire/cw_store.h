/*  cw_store.h - the service's durable state (embedded default: one SQLite database, WAL).
 *
 *  One cw_store_t per thread (each actor opens its own); SQLite serialises writers and the
 *  busy timeout absorbs short waits. All ids are CW_ID_BYTES random bytes. Times are Unix ms.
 *  This is the store *interface*: a PostgreSQL backend would be a second file implementing
 *  the same functions, chosen at open time.
 */
#ifndef CW_STORE_H_INCLUDED
#define CW_STORE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_ID_BYTES 16u
#define CW_NAME_MAX 64u                 /* person, coach, operator names */
#define CW_LABEL_MAX 64u
#define CW_TZ_MAX 64u
#define CW_LOCALE_MAX 8u
#define CW_WRAPPED_KEY_BYTES 72u        /* 24 nonce + 32 key + 16 tag */

typedef struct _cw_store_t cw_store_t;

typedef enum {
    CW_PRINCIPAL_DEVICE = 1,
    CW_PRINCIPAL_USER = 2,
    CW_PRINCIPAL_COACH = 3,
    CW_PRINCIPAL_OPERATOR = 4
} cw_principal_kind_t;                  /* same values as cw_cred_kind_t */

/*  Anyone who holds a key: a device, a person, a coach or an operator. */
typedef struct {
    uint8_t id [CW_ID_BYTES];
    cw_principal_kind_t kind;
    char name [CW_NAME_MAX + 1];        /* person/coach/operator name; a device's label */
    uint8_t public_key [32];
    uint8_t owner_id [CW_ID_BYTES];     /* a device's person; zero otherwise */
    char owner_name [CW_NAME_MAX + 1];  /* a device's person's name; "" otherwise */
    char locale [CW_LOCALE_MAX + 1];    /* persons */
    char time_zone [CW_TZ_MAX + 1];     /* persons */
    uint64_t created_ms;
    uint64_t revoked_ms;                /* 0 while valid */
    uint64_t last_seen_ms;              /* devices: last accepted frame */
    uint64_t frames;                    /* devices: frames accepted */
} cw_principal_t;

typedef void (*cw_principal_fn) (void *ctx, const cw_principal_t *principal);
typedef void (*cw_counter_fn) (void *ctx, const char *name, uint64_t value);

/*  Opens (create = true: creates, and refuses CW_EEXIST if the file exists) the database at
 *  path: WAL, synchronous=FULL (an ack promises durability), foreign keys, busy timeout,
 *  schema checked (CW_EIO with a message on a corrupt or foreign file). */
CW_EXPORT int cw_store_open (cw_store_t **out, const char *path, bool create) CW_MUST_CHECK;
CW_EXPORT void cw_store_destroy (cw_store_t **self_p);
/*  The last SQLite error message, for logs. Never NULL. */
CW_EXPORT const char *cw_store_errmsg (cw_store_t *self);

/*  The SQLite handle, for modules of the same backend that keep their own tables (consent,
 *  ledger, access log, engine). They create their tables with CREATE TABLE IF NOT EXISTS on
 *  open and use this connection, so they share its transactions. */
struct sqlite3;
CW_EXPORT struct sqlite3 *cw_store_sqlite (cw_store_t *self);

/*  Transactions. begin is IMMEDIATE (takes the write lock at once). */
CW_EXPORT int cw_store_begin (cw_store_t *self) CW_MUST_CHECK;
CW_EXPORT int cw_store_commit (cw_store_t *self) CW_MUST_CHECK;
CW_EXPORT void cw_store_rollback (cw_store_t *self);
/*  Whether a transaction is open on this connection. */
CW_EXPORT bool cw_store_in_transaction (cw_store_t *self);

/*  meta: small key/value settings (schema version, endpoints). */
CW_EXPORT int cw_store_meta_set (cw_store_t *self, const char *key, const char *value)
    CW_MUST_CHECK;
/*  Copies the value into buf; CW_ENOENT when absent. */
CW_EXPORT int cw_store_meta_get (cw_store_t *self, const char *key, char *buf, size_t size)
    CW_MUST_CHECK;

/*  Principals. add fills p->id (random) and p->created_ms. Names of persons, coaches and
 *  operators are unique per kind (CW_EEXIST). A device needs owner_id of a person. */
CW_EXPORT int cw_store_principal_add (cw_store_t *self, cw_principal_t *p) CW_MUST_CHECK;
CW_EXPORT int cw_store_principal_by_key (cw_store_t *self, const uint8_t *public_key,
                                         cw_principal_t *out) CW_MUST_CHECK;
CW_EXPORT int cw_store_principal_by_id (cw_store_t *self, const uint8_t *id,
                                        cw_principal_t *out) CW_MUST_CHECK;
CW_EXPORT int cw_store_principal_by_name (cw_store_t *self, cw_principal_kind_t kind,
                                          const char *name, cw_principal_t *out) CW_MUST_CHECK;
/*  Marks revoked (CW_ENOENT if unknown, CW_ESTATE if already revoked). */
CW_EXPORT int cw_store_principal_revoke (cw_store_t *self, const uint8_t *id) CW_MUST_CHECK;
/*  Calls fn for each principal of kind (owner_id filters devices by person when not NULL). */
CW_EXPORT int cw_store_principal_list (cw_store_t *self, cw_principal_kind_t kind,
                                       const uint8_t *owner_id, cw_principal_fn fn, void *ctx)
    CW_MUST_CHECK;
/*  A device accepted n frames now. */
CW_EXPORT int cw_store_device_seen (cw_store_t *self, const uint8_t *device_id, uint64_t now_ms,
                                    uint64_t frames) CW_MUST_CHECK;

/*  A person's data key, wrapped by the service master key (see cw_keyring.h). */
CW_EXPORT int cw_store_person_key_put (cw_store_t *self, const uint8_t *user_id,
                                       const uint8_t *wrapped) CW_MUST_CHECK;
/*  CW_ENOENT when the person has none (never had, or erased: crypto-shredded). */
CW_EXPORT int cw_store_person_key_get (cw_store_t *self, const uint8_t *user_id,
                                       uint8_t *wrapped) CW_MUST_CHECK;
CW_EXPORT int cw_store_person_key_delete (cw_store_t *self, const uint8_t *user_id)
    CW_MUST_CHECK;

/*  Frames. Marks (device, stream, sequence) seen forever and stores the re-sealed payload
 *  (sealed NULL: nothing to keep, the frame is only remembered for dedup; nor is anything
 *  kept when the person has no data key: erased while the frame waited). *duplicate is set
 *  (and nothing stored) when it was seen before, even if its payload has since been deleted.
 *  Call inside a transaction (CW_EINVAL outside one). */
CW_EXPORT int cw_store_frame_put (cw_store_t *self, const uint8_t *device_id,
                                  const uint8_t *user_id, uint16_t stream, uint64_t sequence,
                                  uint64_t received_ms, const uint8_t *sealed, size_t sealed_len,
                                  bool *duplicate) CW_MUST_CHECK;
/*  Whether (device, stream, sequence) was ever accepted. */
CW_EXPORT int cw_store_frame_seen (cw_store_t *self, const uint8_t *device_id, uint16_t stream,
                                   uint64_t sequence, bool *seen) CW_MUST_CHECK;

/*  The highest sequence ever accepted on (device, stream), 0 if none. */
CW_EXPORT int cw_store_frame_max_sequence (cw_store_t *self, const uint8_t *device_id,
                                           uint16_t stream, uint64_t *max) CW_MUST_CHECK;

/*  WAL checkpoints. The gateway turns automatic checkpoints off on its connections (a
 *  checkpoint's fsyncs would stall the commits devices wait for) and a checkpointer thread
 *  runs PASSIVE ones on its own connection: they never block writers. Under a steady write
 *  load those never finish (the writer keeps appending) and a WAL that only grows makes every
 *  commit allocate and zero new file blocks, so the writer itself, between two commits, runs
 *  CATCH_UP (FULL, but never waiting for the lock: another checkpoint running means CW_OK and
 *  nothing done), after which its next commit starts the WAL over; or FORCE (FULL, waiting)
 *  when the WAL has outgrown what the checkpointer can copy. *wal_frames and *backfilled
 *  (each may be NULL) get the WAL's length and how much of it is in the database, in frames. */
typedef enum {
    CW_CHECKPOINT_PASSIVE,
    CW_CHECKPOINT_CATCH_UP,
    CW_CHECKPOINT_FORCE
} cw_checkpoint_t;

CW_EXPORT int cw_store_autocheckpoint (cw_store_t *self, bool on) CW_MUST_CHECK;
CW_EXPORT int cw_store_checkpoint (cw_store_t *self, cw_checkpoint_t mode, int *wal_frames,
                                   int *backfilled) CW_MUST_CHECK;
/*  With automatic checkpoints off: the WAL's length in frames after this connection's last
 *  commit (0 after a restart), for a writer that decides when the WAL should start over. */
CW_EXPORT int cw_store_wal_frames (const cw_store_t *self);

/*  One stored frame, handed to a cw_frame_fn. Pointers valid only during the call. */
typedef struct {
    int64_t row;                        /* arrival order */
    const uint8_t *device_id;
    const uint8_t *user_id;
    uint16_t stream;
    uint64_t sequence;
    uint64_t received_ms;
    const uint8_t *sealed;
    size_t sealed_len;
} cw_stored_frame_t;
typedef int (*cw_frame_fn) (void *ctx, const cw_stored_frame_t *frame);

/*  Calls fn for each stored frame of user_id (all users when NULL) with row > after_row, in
 *  arrival order, at most limit (0 = all). A non-zero return from fn stops and is returned. */
CW_EXPORT int cw_store_frame_each (cw_store_t *self, const uint8_t *user_id, int64_t after_row,
                                   size_t limit, cw_frame_fn fn, void *ctx) CW_MUST_CHECK;

/*  As cw_store_frame_each, but a payload kept in a segment file is not read unless the callback
 *  asks: frame->sealed is NULL (sealed_len its length) until cw_store_frame_payload. For a
 *  reader that passes over most payloads (the coach skips frames it neither reads nor trims). */
CW_EXPORT int cw_store_frame_each_lazy (cw_store_t *self, const uint8_t *user_id,
                                        int64_t after_row, size_t limit, cw_frame_fn fn,
                                        void *ctx) CW_MUST_CHECK;
/*  Inside a cw_store_frame_each_lazy callback, for the frame it was handed: its payload in
 *  *sealed (valid during the call). CW_EIO when its segment cannot be read. */
CW_EXPORT int cw_store_frame_payload (cw_store_t *self, const cw_stored_frame_t *frame,
                                      const uint8_t **sealed) CW_MUST_CHECK;

/*  At start: every segment file from the oldest stored frame's to the newest's is there (none
 *  is ever removed), and the newest holds that frame's bytes in full. CW_EIO with the missing
 *  or cut file named in cw_store_errmsg (a database restored without its segments, a cut
 *  copy). Reads two rows and lists the directory: cheap on any size of store. */
CW_EXPORT int cw_store_segments_check (cw_store_t *self) CW_MUST_CHECK;

/*  Erasure. delete_user deletes every stored frame of user_id (the dedup record in `seen`
 *  stays: a replayed frame is still a duplicate) and sets *deleted (may be NULL). update
 *  replaces one frame's sealed payload (a field erased from it); delete removes one frame.
 *  CW_ENOENT when row does not exist. Call inside a transaction. */
CW_EXPORT int cw_store_frame_delete_user (cw_store_t *self, const uint8_t *user_id,
                                          uint64_t *deleted) CW_MUST_CHECK;
CW_EXPORT int cw_store_frame_update (cw_store_t *self, int64_t row, const uint8_t *sealed,
                                     size_t sealed_len) CW_MUST_CHECK;
CW_EXPORT int cw_store_frame_delete (cw_store_t *self, int64_t row) CW_MUST_CHECK;

/*  Counters: persistent named totals (frames_accepted, rejected.CW_EAUTH, ...). */
CW_EXPORT int cw_store_counter_add (cw_store_t *self, const char *name, uint64_t delta)
    CW_MUST_CHECK;
CW_EXPORT int cw_store_counter_each (cw_store_t *self, cw_counter_fn fn, void *ctx)
    CW_MUST_CHECK;

/*  Unix time in ms (realtime clock), a monotonic clock in microseconds, and the calling
 *  thread's CPU time in nanoseconds (a system call: read it sparingly on hot paths). */
CW_EXPORT uint64_t cw_now_ms (void);
CW_EXPORT uint64_t cw_mono_us (void);
CW_EXPORT uint64_t cw_thread_cpu_ns (void);

#ifdef __cplusplus
}
#endif

#endif
