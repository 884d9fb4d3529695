/*  cw_access_log.h - every read of a person's data, per use and per field.
 *
 *  Table access_log (id, user_id, ts_ms, actor_kind, actor_id, purpose, fields, grant_ids,
 *  what, detail) in the store's database: who (the engine, a coach, the person, an
 *  operator), which fields (catalog names, comma-separated), under which purpose and which
 *  grants (hex ids, comma-separated), when, and what kind of use. The person lists theirs
 *  with cwctl consent access-log [--since].
 *
 *      const char *fields [] = { "heart_rate.bpm", "running.cadence" };
 *      cw_access_t a = { .user_id = user, .ts_ms = cw_now_ms (), .actor = CW_ACCESS_ENGINE,
 *                        .purpose = "coaching", .fields = fields, .n_fields = 2,
 *                        .grant_ids = ids, .n_grant_ids = 2, .what = CW_ACCESS_DECISION,
 *                        .detail = "nudge: easy day" };
 *      rc = cw_access_log_append (log, &a);
 */
#ifndef CW_ACCESS_LOG_H_INCLUDED
#define CW_ACCESS_LOG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"
#include "cw_store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_ACCESS_MAX_FIELDS 64u
#define CW_ACCESS_MAX_GRANTS 192u
#define CW_ACCESS_DETAIL_MAX 1024u

/*  Who read. Stored by name; add new ones at the end. */
typedef enum {
    CW_ACCESS_ENGINE = 1,           /* the coaching engine (the service itself) */
    CW_ACCESS_COACH = 2,            /* a coach; actor_id is the coach's principal id */
    CW_ACCESS_PERSON = 3,           /* the person themself (export) */
    CW_ACCESS_OPERATOR = 4          /* an operator */
} cw_access_actor_t;

/*  What kind of use. Stored by name; add new ones at the end. */
typedef enum {
    CW_ACCESS_DECISION = 1,         /* an engine decision (a nudge sent or held back) */
    CW_ACCESS_COACH_VIEW = 2,       /* a coach looked at progress or readings */
    CW_ACCESS_EXPORT = 3            /* a data export */
} cw_access_what_t;

/*  "engine", "coach", "person", "operator" / "decision", "coach_view", "export"; NULL when
 *  out of range. */
CW_EXPORT const char *cw_access_actor_name (cw_access_actor_t actor);
CW_EXPORT const char *cw_access_what_name (cw_access_what_t what);

typedef struct _cw_access_log_t cw_access_log_t;

/*  One use, to append. Pointers are borrowed for the call. */
typedef struct {
    const uint8_t *user_id;         /* whose data */
    uint64_t ts_ms;
    cw_access_actor_t actor;
    const uint8_t *actor_id;        /* CW_ID_BYTES, or NULL (the engine) */
    const char *purpose;            /* purpose name ("coaching"); NULL for none (export) */
    const char *const *fields;      /* catalog names, at most CW_ACCESS_MAX_FIELDS */
    size_t n_fields;
    const uint8_t *grant_ids;       /* n_grant_ids x CW_ID_BYTES, or NULL */
    size_t n_grant_ids;
    cw_access_what_t what;
    const char *detail;             /* plain text, at most CW_ACCESS_DETAIL_MAX bytes, or NULL */
} cw_access_t;

/*  One logged use, as listed. Pointers are valid only during the callback. */
typedef struct {
    int64_t id;                     /* increasing; order of appending */
    uint8_t user_id [CW_ID_BYTES];
    uint64_t ts_ms;
    cw_access_actor_t actor;
    uint8_t actor_id [CW_ID_BYTES]; /* zero when none */
    const char *actor_name;         /* cw_access_actor_name */
    const char *purpose;            /* "" when none */
    const char *fields;             /* "heart_rate.bpm,running.cadence" */
    const char *grant_ids;          /* hex ids, comma-separated; "" when none */
    cw_access_what_t what;
    const char *what_name;          /* cw_access_what_name */
    const char *detail;             /* "" when none */
} cw_access_record_t;
typedef int (*cw_access_fn) (void *ctx, const cw_access_record_t *record);

/*  Opens the access log on store's database (creates its table). */
CW_EXPORT int cw_access_log_open (cw_access_log_t **out, cw_store_t *store) CW_MUST_CHECK;
CW_EXPORT void cw_access_log_destroy (cw_access_log_t **self_p);

/*  Appends one use. CW_EINVAL (nothing written) for a missing user, an unknown actor, what,
 *  purpose or field name, or lists or detail over their limits. Joins the caller's
 *  transaction if there is one. */
CW_EXPORT int cw_access_log_append (cw_access_log_t *self, const cw_access_t *access)
    CW_MUST_CHECK;

/*  Calls fn for user_id's uses with ts_ms >= since_ms, oldest first (by time, then id), at
 *  most limit (0 = all). A non-zero return from fn stops and is returned. */
CW_EXPORT int cw_access_log_list (cw_access_log_t *self, const uint8_t *user_id,
                                  uint64_t since_ms, size_t limit, cw_access_fn fn, void *ctx)
    CW_MUST_CHECK;

/*  Deletes every row of user_id (erasure); *deleted (may be NULL) is set. */
CW_EXPORT int cw_access_log_erase (cw_access_log_t *self, const uint8_t *user_id,
                                   uint64_t *deleted) CW_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
