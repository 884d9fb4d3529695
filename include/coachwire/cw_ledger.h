/*  cw_ledger.h - the consent ledger: per person, append-only, hash-chained, every entry a
 *  consent receipt signed with the service's Ed25519 key, verifiable offline.
 *
 *  Table ledger (user_id, position, ts_ms, kind, body, prev_hash, hash, signature) in the
 *  store's database. For each person, positions run 0, 1, 2... and
 *
 *      hash      = BLAKE2b-256 (prev_hash || body bytes)      (crypto_generichash, 32 bytes)
 *      signature = Ed25519 (hash)                              (crypto_sign_detached)
 *      prev_hash = the previous entry's hash; 32 zero bytes for position 0
 *
 *  The body is a consent receipt (canonical JSON, keys in a fixed order, no whitespace) in the
 *  spirit of ISO/IEC TS 27560 and the Kantara Consent Receipt: controller, subject, receipt
 *  id, time, policy version, purposes with their data categories (catalog field names),
 *  state, expiry, legal basis "consent".
 *
 *  Export and the verifier speak JSON lines, one entry per line, keys in this order:
 *
 *      {"position":0,"body":"{\"schema\":...}","prev_hash":"00..","hash":"..",
 *       "signature":"..","public_key":".."}
 *
 *  body is the receipt text as a JSON string (so tools that re-serialize the line keep its
 *  bytes); hashes, signature and the signer's public key are lowercase hex.
 *
 *  Typical use (the api actor, after the person's request was authorized):
 *
 *      cw_ledger_t *ledger = NULL;
 *      rc = cw_ledger_open (&ledger, store, cw_keyring_signing_secret (keyring));
 *      ...   cw_consent_grant (consent, ledger, ...) appends its own receipts
 *      ...   for export/erase: inside a transaction, cw_ledger_append (ledger, user, &r, &e)
 *      cw_ledger_export (ledger, user, &text, &len);  ... free (text);
 *      cw_ledger_destroy (&ledger);
 *
 *  cwctl verifies with cw_ledger_verify_jsonl alone: no database, no private key.
 */
#ifndef CW_LEDGER_H_INCLUDED
#define CW_LEDGER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"
#include "cw_store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_LEDGER_HASH_BYTES 32u
#define CW_LEDGER_SIGNATURE_BYTES 64u
#define CW_LEDGER_PUBLIC_KEY_BYTES 32u
#define CW_LEDGER_SECRET_KEY_BYTES 64u
#define CW_LEDGER_RECEIPT_ID_BYTES 16u
#define CW_LEDGER_BODY_MAX (64u * 1024u)            /* one receipt's canonical JSON */
#define CW_LEDGER_LINE_MAX (8u * CW_LEDGER_BODY_MAX) /* one exported line (escaped body) */
#define CW_LEDGER_EXPORT_MAX (64u * 1024u * 1024u)  /* one person's whole export */
#define CW_LEDGER_REASON_MAX 160u
#define CW_LEDGER_LIST_MAX 256u                     /* purposes, fields, grant ids per receipt */

typedef struct _cw_ledger_t cw_ledger_t;

/*  What an entry records. Values are stored; add new kinds at the end. */
typedef enum {
    CW_LEDGER_GRANT = 1,        /* state "granted" */
    CW_LEDGER_REVOKE = 2,       /* state "withdrawn" */
    CW_LEDGER_EXPORT = 3,       /* state "exported": the person took a copy of their data */
    CW_LEDGER_ERASE = 4         /* state "erased": data (or one field of it) was erased */
} cw_ledger_kind_t;

/*  "grant", "revoke", "export", "erase"; NULL for an unknown kind. */
CW_EXPORT const char *cw_ledger_kind_name (cw_ledger_kind_t kind);
/*  "granted", "withdrawn", "exported", "erased"; NULL for an unknown kind. */
CW_EXPORT const char *cw_ledger_kind_state (cw_ledger_kind_t kind);

/*  One receipt to append. Every pointer is borrowed for the call only. Lists hold at most
 *  CW_LEDGER_LIST_MAX items; fields must be catalog names (CW_EINVAL otherwise). */
typedef struct {
    cw_ledger_kind_t kind;
    uint64_t ts_ms;                     /* when it happened (Unix ms) */
    uint32_t policy_version;            /* the policy text the person saw (0: none applies) */
    const char *const *purposes;        /* purpose names ("coaching") */
    const char *const *purpose_texts;   /* a sentence per purpose, or NULL */
    size_t n_purposes;
    const char *const *fields;          /* data categories: catalog field names */
    size_t n_fields;
    const uint8_t *grant_ids;           /* n_grant_ids x CW_ID_BYTES, or NULL */
    size_t n_grant_ids;
    uint64_t expires_ms;                /* grants: 0 = until withdrawn */
    const char *note;                   /* optional plain text ("erase of meal.items"), or NULL */
} cw_receipt_t;

/*  What append wrote. */
typedef struct {
    uint64_t position;
    uint8_t receipt_id [CW_LEDGER_RECEIPT_ID_BYTES];
    uint8_t hash [CW_LEDGER_HASH_BYTES];
    uint8_t signature [CW_LEDGER_SIGNATURE_BYTES];
} cw_ledger_entry_t;

/*  Opens the ledger on store's database (creates its table if needed). signing_secret is
 *  the 64-byte Ed25519 secret key (cw_keyring_signing_secret); it is copied into sodium
 *  memory, the caller keeps theirs. The store must outlive the ledger. */
CW_EXPORT int cw_ledger_open (cw_ledger_t **out, cw_store_t *store, const uint8_t *signing_secret)
    CW_MUST_CHECK;
CW_EXPORT void cw_ledger_destroy (cw_ledger_t **self_p);

/*  The 32-byte Ed25519 public key receipts are signed with. */
CW_EXPORT const uint8_t *cw_ledger_public_key (const cw_ledger_t *self);

/*  Optional: the controller named in receipts (default name "Coachwire", contact "the
 *  operator of this Coachwire service", jurisdiction "EU"). Strings are copied; at most 255
 *  bytes each (CW_EINVAL). NULL leaves a value unchanged. */
CW_EXPORT int cw_ledger_set_controller (cw_ledger_t *self, const char *name, const char *contact,
                                        const char *jurisdiction) CW_MUST_CHECK;

/*  Builds the receipt body, chains and signs it, and appends it to user_id's ledger. Must be
 *  called inside the caller's transaction (cw_store_begin; CW_ESTATE otherwise), so that the
 *  change it records and its receipt commit or roll back together. out may be NULL. */
CW_EXPORT int cw_ledger_append (cw_ledger_t *self, const uint8_t *user_id,
                                const cw_receipt_t *receipt, cw_ledger_entry_t *out)
    CW_MUST_CHECK;

/*  Number of entries in user_id's ledger (0 for a person without any). */
CW_EXPORT int cw_ledger_count (cw_ledger_t *self, const uint8_t *user_id, uint64_t *count)
    CW_MUST_CHECK;

/*  One entry as an export line (no newline), into *line (malloc'd, NUL-terminated; the
 *  caller frees it with free). CW_ENOENT when there is no such position. This is the signed
 *  receipt the api hands back for a change. */
CW_EXPORT int cw_ledger_line (cw_ledger_t *self, const uint8_t *user_id, uint64_t position,
                              char **line, size_t *len) CW_MUST_CHECK;

/*  All of user_id's entries as JSON lines (each ending in '\n'), in position order, into
 *  *text (malloc'd, NUL-terminated; free with free). An empty ledger gives "". CW_ETOOBIG
 *  over CW_LEDGER_EXPORT_MAX. */
CW_EXPORT int cw_ledger_export (cw_ledger_t *self, const uint8_t *user_id, char **text,
                                size_t *len) CW_MUST_CHECK;

/*  The offline verifier: checks len bytes of exported JSON lines (a trailing newline is
 *  optional; "\r\n" is accepted). Needs no database.
 *    - each line is exactly the export shape (strict parser, limits CW_LEDGER_LINE_MAX);
 *    - positions run 0, 1, 2... in order;
 *    - each prev_hash is the previous line's hash (zeros first);
 *    - each hash recomputes from prev_hash || body;
 *    - each line names public_key (when public_key is not NULL: the service key the person
 *      got out of band; when NULL, every line must name the same key, which then proves only
 *      integrity, not who signed) and its signature verifies.
 *  Returns CW_OK with *entries = the number of lines; otherwise CW_EDECODE (a malformed or
 *  truncated line) or CW_EAUTH (a chain, hash, key or signature failure), *bad_position =
 *  the position (0-based line) of the first bad entry, *entries = the entries before it, and
 *  a sentence in reason. An edited, removed, inserted or reordered entry is caught at the
 *  first position it disturbs. Removing entries from the END cannot be seen from the lines
 *  alone: compare *entries (and the last hash) with the latest receipt the person holds.
 *  entries, bad_position and reason may be NULL. */
CW_EXPORT int cw_ledger_verify_jsonl (const char *text, size_t len, const uint8_t *public_key,
                                      size_t *entries, size_t *bad_position, char *reason,
                                      size_t reason_size) CW_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
