/*  cw_consent.h - consent grants on (person, field, purpose), and the policy they refer to.
 *
 *  A field is a catalog name ("heart_rate.bpm"); a purpose is one of cw_purpose_t. Nothing is
 *  granted by default. A grant may carry an expiry; a withdrawal ends it. At most one grant is
 *  active per (person, field, purpose): granting again replaces it (new id, new expiry). Every
 *  grant and withdrawal names the policy version in force, whose text is stored.
 *
 *  Tables in the store's database (created on open): policies (version, text, created_ms),
 *  grants (id, user_id, field, purpose, policy_version, granted_ms, expires_ms, withdrawn_ms),
 *  consent_generation (user_id, generation).
 *
 *  Changing consent (api actor, after checking the caller IS the person):
 *
 *      cw_consent_change_t change;
 *      rc = cw_consent_grant (consent, ledger, user_id, "running.*", CW_PURPOSE_COACHING,
 *                             0, cw_now_ms (), &change);
 *      // one transaction: a grant row per field + one signed receipt at change.position;
 *      // cw_ledger_line (ledger, user_id, change.position, ...) is the receipt to return.
 *
 *  Enforcing (gateway, engine, coach views): cw_consent_mask gives a bitmask over catalog
 *  indices to cache per person; cw_consent_generation tells whether the cache is stale;
 *  cw_consent_check answers for one field and gives the grant id for the access log.
 *
 *  One cw_consent_t per store connection (per thread), like cw_store_t.
 */
#ifndef CW_CONSENT_H_INCLUDED
#define CW_CONSENT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"
#include "cw_ledger.h"
#include "cw_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Purposes. Values are stable (they travel in api requests); add new ones at the end. */
typedef enum {
    CW_PURPOSE_ANY = 0,             /* only where documented: "any purpose" */
    CW_PURPOSE_COACHING = 1,        /* automated analysis and nudges by the engine */
    CW_PURPOSE_COACH_REVIEW = 2,    /* the person's human coach may see it */
    CW_PURPOSE_RETENTION = 3        /* raw readings kept beyond processing */
} cw_purpose_t;
#define CW_PURPOSE_COUNT 3          /* real purposes: 1 .. CW_PURPOSE_COUNT */

/*  "coaching", "coach_review", "retention"; "any" for CW_PURPOSE_ANY; NULL out of range. */
CW_EXPORT const char *cw_purpose_name (cw_purpose_t purpose);
/*  A plain-language sentence of what the purpose allows; NULL out of range. */
CW_EXPORT const char *cw_purpose_description (cw_purpose_t purpose);
/*  Parses a purpose name ("any" gives CW_PURPOSE_ANY). CW_EINVAL for anything else. */
CW_EXPORT int cw_purpose_parse (const char *name, cw_purpose_t *out) CW_MUST_CHECK;

typedef struct _cw_consent_t cw_consent_t;

/*  Opens consent on store's database: creates its tables if needed and installs the default
 *  policy (version 1) when there is none. The store must outlive the consent object. */
CW_EXPORT int cw_consent_open (cw_consent_t **out, cw_store_t *store) CW_MUST_CHECK;
CW_EXPORT void cw_consent_destroy (cw_consent_t **self_p);

/*  Policies. current: the highest version. text: into *text (malloc'd; free with free), and
 *  created_ms (may be NULL); CW_ENOENT for an unknown version. add: stores a new version
 *  (current + 1) and sets *version; new grants refer to it from then on. */
CW_EXPORT int cw_consent_policy_current (cw_consent_t *self, uint32_t *version) CW_MUST_CHECK;
CW_EXPORT int cw_consent_policy_text (cw_consent_t *self, uint32_t version, char **text,
                                      uint64_t *created_ms) CW_MUST_CHECK;
CW_EXPORT int cw_consent_policy_add (cw_consent_t *self, const char *text, uint64_t now_ms,
                                     uint32_t *version) CW_MUST_CHECK;

/*  What one grant or revoke call did. */
typedef struct {
    size_t fields;                  /* fields the pattern named */
    size_t changed;                 /* grant rows written (grant) or ended (revoke) */
    bool recorded;                  /* a ledger entry was appended (false: nothing changed) */
    cw_ledger_entry_t receipt;      /* valid when recorded */
    uint32_t policy_version;
    uint64_t generation;            /* the person's consent generation after the call */
} cw_consent_change_t;

/*  Grants purpose (not ANY) on every catalog field matching pattern (a name, "group.*" or
 *  "*") to user_id, until expires_ms (0: until withdrawn; otherwise must be > now_ms), under
 *  the current policy. One transaction: one grant row per field (replacing an active grant of
 *  the same field and purpose), one signed ledger receipt listing every field, the
 *  generation bumped. If the caller is in a transaction already, this joins it (savepoint).
 *  CW_EINVAL (nothing written) for an unknown field or pattern, a bad purpose or expiry.
 *  Authorization (only the person may change their consent) is the caller's job.
 *  out may be NULL. */
CW_EXPORT int cw_consent_grant (cw_consent_t *self, cw_ledger_t *ledger, const uint8_t *user_id,
                                const char *pattern, cw_purpose_t purpose, uint64_t expires_ms,
                                uint64_t now_ms, cw_consent_change_t *out) CW_MUST_CHECK;

/*  Withdraws purpose (or CW_PURPOSE_ANY: every purpose) on every field matching pattern:
 *  active grants (expired ones too) get withdrawn_ms = now_ms; one receipt (state
 *  "withdrawn") names the fields and purposes of the request, all now withdrawn, and the ids
 *  of the grants it ended. Same shapes, transaction and errors as grant. Withdrawing what is
 *  not granted is not an error: CW_OK with changed = 0, no receipt, no new generation. */
CW_EXPORT int cw_consent_revoke (cw_consent_t *self, cw_ledger_t *ledger, const uint8_t *user_id,
                                 const char *pattern, cw_purpose_t purpose, uint64_t now_ms,
                                 cw_consent_change_t *out) CW_MUST_CHECK;

/*  One (field, purpose) cell of a person's consent, for show. Pointers are static. */
typedef struct {
    const char *field;              /* catalog name */
    cw_purpose_t purpose;
    bool granted;                   /* active now (not withdrawn, not expired) */
    uint8_t grant_id [CW_ID_BYTES]; /* when granted */
    uint32_t policy_version;        /* when granted */
    uint64_t granted_ms;            /* when granted */
    uint64_t expires_ms;            /* when granted; 0 = until withdrawn */
} cw_consent_state_t;
typedef void (*cw_consent_fn) (void *ctx, const cw_consent_state_t *state);

/*  Calls fn for every catalog field matching pattern (NULL: all) x every purpose (or only
 *  purpose, when not ANY), in catalog order, granted or not: the full table to show. */
CW_EXPORT int cw_consent_each (cw_consent_t *self, const uint8_t *user_id, const char *pattern,
                               cw_purpose_t purpose, uint64_t now_ms, cw_consent_fn fn,
                               void *ctx) CW_MUST_CHECK;

/*  CW_OK when an active, unexpired grant covers (user, field, purpose) at now_ms, and its id
 *  and policy version (either out may be NULL); CW_ECONSENT when none does; CW_EINVAL for an
 *  unknown field or purpose. purpose ANY: a grant for any purpose (the first found). */
CW_EXPORT int cw_consent_check (cw_consent_t *self, const uint8_t *user_id, const char *field,
                                cw_purpose_t purpose, uint64_t now_ms, uint8_t *grant_id_out,
                                uint32_t *policy_out) CW_MUST_CHECK;

/*  Bit i of *mask is set when catalog entry i (cw_catalog_index) is granted to purpose (ANY:
 *  to at least one purpose) at now_ms. *valid_until_ms (may be NULL) is the earliest expiry
 *  among those grants (0: none expires), after which the mask must be recomputed even if the
 *  generation did not change. */
CW_EXPORT int cw_consent_mask (cw_consent_t *self, const uint8_t *user_id, cw_purpose_t purpose,
                               uint64_t now_ms, uint64_t *mask, uint64_t *valid_until_ms)
    CW_MUST_CHECK;

/*  The person's consent generation: 0 before any change, +1 with every committed grant or
 *  revoke that changed something. A cache holding (mask, generation) is stale when this
 *  differs. Cheap: one indexed row. */
CW_EXPORT int cw_consent_generation (cw_consent_t *self, const uint8_t *user_id,
                                     uint64_t *generation) CW_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
