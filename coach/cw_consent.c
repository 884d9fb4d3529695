/*  cw_consent.c - grants on (person, field, purpose) and the policy texts (see cw_consent.h).
 *
 *  Every change is one transaction: grant rows, the signed ledger receipt and the person's
 *  generation counter commit together or not at all.
 */
#include "coachwire/cw_consent.h"
#include "coachwire/cw_catalog.h"
#include "coachwire/cw_error.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_POLICY_MAX (64u * 1024u)
#define S_FIELDS_MAX 64u                        /* the mask is 64 bits wide */

struct _cw_consent_t {
    cw_store_t *store;                          /* borrowed */
    sqlite3 *db;                                /* cw_store_sqlite (store) */
};

/*  Purposes, indexed by cw_purpose_t. */
static const struct {
    const char *name;
    const char *description;
} s_purposes [] = {
    { "any", "any purpose" },
    { "coaching", "automated analysis by the coaching engine to plan your training and send "
                  "you nudges" },
    { "coach_review", "your own coach may see it and what is derived from it" },
    { "retention", "the raw readings are kept after processing (up to 365 days) so they can "
                   "be analysed again later" },
};

static const char *s_policy_v1 =
    "Coachwire consent policy, version 1\n"
    "\n"
    "You decide, field by field and purpose by purpose, what Coachwire may do with the data "
    "your devices send. Nothing is allowed until you switch it on. You can switch anything off "
    "again at any time, exactly as easily as you switched it on. A field that is on for no "
    "purpose is removed the moment it arrives and is never stored.\n"
    "\n"
    "Purposes\n"
    "- coaching: the coaching engine analyses the field automatically to plan your training "
    "and to send you nudges. Every nudge says which fields it used and why.\n"
    "- coach_review: your own coach (only a coach assigned to you) may see the field and the "
    "results derived from it.\n"
    "- retention: the raw readings of the field are kept after processing so that they can "
    "be analysed again later. Without it, raw readings are deleted once they have been "
    "processed, at the latest 24 hours after they arrived.\n"
    "\n"
    "How long we keep things\n"
    "- Raw readings kept under retention: up to 365 days, or until you switch retention off "
    "or erase the field.\n"
    "- Results derived for coaching (features, plans, nudges): while you use Coachwire, or "
    "until you erase them.\n"
    "- Your consent receipts and the log of every use of your data: as long as your account "
    "exists, so that you can always prove what you agreed to and see who used what. Receipts "
    "stay verifiable after you erase your data; they hold field names, never readings.\n"
    "\n"
    "Switching a purpose off stops further use within seconds; it does not undo use made "
    "while it was on. You can export everything held about you, or erase it, at any time. "
    "Each change gives you a receipt signed by the service.\n";

static const char *s_schema =
    "CREATE TABLE IF NOT EXISTS policies ("
    " version INTEGER PRIMARY KEY,"
    " text TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS grants ("
    " id BLOB PRIMARY KEY,"
    " user_id BLOB NOT NULL,"
    " field TEXT NOT NULL,"
    " purpose TEXT NOT NULL,"
    " policy_version INTEGER NOT NULL,"
    " granted_ms INTEGER NOT NULL,"
    " expires_ms INTEGER NOT NULL DEFAULT 0,"
    " withdrawn_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS grants_user ON grants (user_id, withdrawn_ms);"
    /* at most one active grant per cell: the invariant check and mask rely on */
    "CREATE UNIQUE INDEX IF NOT EXISTS grants_active ON grants (user_id, field, purpose)"
    " WHERE withdrawn_ms = 0;"
    "CREATE TABLE IF NOT EXISTS consent_generation ("
    " user_id BLOB PRIMARY KEY,"
    " generation INTEGER NOT NULL) WITHOUT ROWID;";

const char *
cw_purpose_name (cw_purpose_t purpose)
{
    return purpose >= 0 && purpose <= CW_PURPOSE_COUNT ? s_purposes [purpose].name : NULL;
}

const char *
cw_purpose_description (cw_purpose_t purpose)
{
    return purpose >= 0 && purpose <= CW_PURPOSE_COUNT ? s_purposes [purpose].description
                                                        : NULL;
}

int
cw_purpose_parse (const char *name, cw_purpose_t *out)
{
    if (!name || !out)
        return CW_EINVAL;
    for (int p = 0; p <= CW_PURPOSE_COUNT; p++)
        if (strcmp (s_purposes [p].name, name) == 0) {
            *out = (cw_purpose_t) p;
            return CW_OK;
        }
    return CW_EINVAL;
}

static bool
s_purpose_real (cw_purpose_t purpose)
{
    return purpose >= 1 && purpose <= CW_PURPOSE_COUNT;
}

static int
s_rc (int sqlite_rc)
{
    switch (sqlite_rc & 0xff) {
        case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW: return CW_OK;
        case SQLITE_NOMEM: return CW_ENOMEM;
        case SQLITE_FULL: return CW_ENOSPC;
        case SQLITE_BUSY: case SQLITE_LOCKED: return CW_EBUSY;
        case SQLITE_CONSTRAINT: return CW_EEXIST;
        default: return CW_EIO;
    }
}

static int
s_exec (cw_consent_t *self, const char *sql)
{
    return s_rc (sqlite3_exec (self->db, sql, NULL, NULL, NULL));
}

static int
s_prepare (cw_consent_t *self, const char *sql, sqlite3_stmt **st)
{
    return s_rc (sqlite3_prepare_v2 (self->db, sql, -1, st, NULL));
}

/*  Steps st to DONE; finalizes it. */
static int
s_step_done (sqlite3_stmt *st)
{
    int r = sqlite3_step (st);
    int rc = r == SQLITE_DONE ? CW_OK : s_rc (r);
    if (rc == CW_OK && r != SQLITE_DONE)
        rc = CW_EIO;
    sqlite3_finalize (st);
    return rc;
}

/*  Starts a transaction, or a savepoint inside the caller's. */
static int
s_tx_begin (cw_consent_t *self, bool *own)
{
    *own = sqlite3_get_autocommit (self->db) != 0;
    return *own ? cw_store_begin (self->store) : s_exec (self, "SAVEPOINT cw_consent");
}

/*  Commits (rc == CW_OK) or undoes what s_tx_begin started. Returns the final rc. */
static int
s_tx_end (cw_consent_t *self, bool own, int rc)
{
    if (rc == CW_OK) {
        rc = own ? cw_store_commit (self->store) : s_exec (self, "RELEASE cw_consent");
        if (rc == CW_OK)
            return rc;
    }
    if (own)
        cw_store_rollback (self->store);
    else {
        s_exec (self, "ROLLBACK TO cw_consent");
        s_exec (self, "RELEASE cw_consent");
    }
    return rc;
}

int
cw_consent_policy_current (cw_consent_t *self, uint32_t *version)
{
    if (!self || !version)
        return CW_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "SELECT COALESCE (MAX (version), 0) FROM policies", &st);
    if (rc != CW_OK)
        return rc;
    int r = sqlite3_step (st);
    if (r == SQLITE_ROW) {
        sqlite3_int64 v = sqlite3_column_int64 (st, 0);
        *version = v >= 0 && v <= UINT32_MAX ? (uint32_t) v : 0;
    }
    else
        rc = s_rc (r) ? s_rc (r) : CW_EIO;
    sqlite3_finalize (st);
    return rc;
}

int
cw_consent_policy_text (cw_consent_t *self, uint32_t version, char **text, uint64_t *created_ms)
{
    if (!self || !text)
        return CW_EINVAL;
    *text = NULL;
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "SELECT text, created_ms FROM policies WHERE version = ?1", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_int64 (st, 1, version);
    int r = sqlite3_step (st);
    if (r == SQLITE_ROW) {
        const char *t = (const char *) sqlite3_column_text (st, 0);
        size_t n = t ? (size_t) sqlite3_column_bytes (st, 0) : 0;
        *text = malloc (n + 1);
        if (!*text)
            rc = CW_ENOMEM;
        else {
            if (n)
                memcpy (*text, t, n);
            (*text) [n] = 0;
            if (created_ms)
                *created_ms = (uint64_t) sqlite3_column_int64 (st, 1);
        }
    }
    else
        rc = r == SQLITE_DONE ? CW_ENOENT : s_rc (r);
    sqlite3_finalize (st);
    return rc;
}

int
cw_consent_policy_add (cw_consent_t *self, const char *text, uint64_t now_ms, uint32_t *version)
{
    if (!self || !text || !*text || strlen (text) > S_POLICY_MAX)
        return CW_EINVAL;
    bool own = false;
    uint32_t current = 0;
    int rc = s_tx_begin (self, &own);
    if (rc != CW_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    if ((rc = cw_consent_policy_current (self, &current)) != CW_OK)
        goto done;
    if ((rc = s_prepare (self, "INSERT INTO policies VALUES (?1, ?2, ?3)", &st)) != CW_OK)
        goto done;
    sqlite3_bind_int64 (st, 1, (sqlite3_int64) current + 1);
    sqlite3_bind_text (st, 2, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 3, (sqlite3_int64) now_ms);
    rc = s_step_done (st);
done:
    rc = s_tx_end (self, own, rc);
    if (rc == CW_OK && version)
        *version = current + 1;
    return rc;
}

int
cw_consent_open (cw_consent_t **out, cw_store_t *store)
{
    if (!out || !store)
        return CW_EINVAL;
    *out = NULL;
    size_t count = 0;
    cw_catalog_entries (&count);
    if (count > S_FIELDS_MAX)
        return CW_EINTERNAL;            /* the mask would need more than 64 bits */
    cw_consent_t *self = calloc (1, sizeof *self);
    if (!self)
        return CW_ENOMEM;
    self->store = store;
    self->db = cw_store_sqlite (store);
    uint32_t version = 0;
    int rc = s_exec (self, s_schema);
    if (rc == CW_OK)
        rc = cw_consent_policy_current (self, &version);
    if (rc == CW_OK && version == 0)
        rc = cw_consent_policy_add (self, s_policy_v1, cw_now_ms (), &version);
    if (rc != CW_OK)
        cw_consent_destroy (&self);
    *out = self;
    return rc;
}

void
cw_consent_destroy (cw_consent_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

/*  Catalog entries matching pattern, in catalog order. CW_EINVAL when none does. */
static int
s_expand (const char *pattern, const cw_catalog_entry_t **fields, size_t *n)
{
    size_t count = 0;
    const cw_catalog_entry_t *all = cw_catalog_entries (&count);
    *n = 0;
    if (!pattern || strlen (pattern) >= CW_FIELD_NAME_MAX)
        return CW_EINVAL;
    for (size_t i = 0; i < count && *n < S_FIELDS_MAX; i++)
        if (cw_catalog_matches (pattern, all [i].name))
            fields [(*n)++] = &all [i];
    return *n ? CW_OK : CW_EINVAL;
}

/*  Bumps the person's generation inside the open transaction; sets *generation. */
static int
s_bump (cw_consent_t *self, const uint8_t *user_id, uint64_t *generation)
{
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "INSERT INTO consent_generation VALUES (?1, 1)"
                              " ON CONFLICT (user_id) DO UPDATE SET generation = generation + 1",
                        &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    if ((rc = s_step_done (st)) != CW_OK)
        return rc;
    return cw_consent_generation (self, user_id, generation);
}

int
cw_consent_generation (cw_consent_t *self, const uint8_t *user_id, uint64_t *generation)
{
    if (!self || !user_id || !generation)
        return CW_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "SELECT generation FROM consent_generation WHERE user_id = ?1",
                        &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    int r = sqlite3_step (st);
    *generation = 0;
    if (r == SQLITE_ROW)
        *generation = (uint64_t) sqlite3_column_int64 (st, 0);
    else if (r != SQLITE_DONE)
        rc = s_rc (r);
    sqlite3_finalize (st);
    return rc;
}

int
cw_consent_grant (cw_consent_t *self, cw_ledger_t *ledger, const uint8_t *user_id,
                  const char *pattern, cw_purpose_t purpose, uint64_t expires_ms,
                  uint64_t now_ms, cw_consent_change_t *out)
{
    const cw_catalog_entry_t *fields [S_FIELDS_MAX];
    const char *names [S_FIELDS_MAX];
    uint8_t ids [S_FIELDS_MAX * CW_ID_BYTES];
    size_t n = 0;
    if (!self || !ledger || !user_id || !s_purpose_real (purpose)
        || (expires_ms != 0 && expires_ms <= now_ms) || expires_ms > INT64_MAX
        || now_ms > INT64_MAX || s_expand (pattern, fields, &n) != CW_OK)
        return CW_EINVAL;
    cw_consent_change_t change;
    memset (&change, 0, sizeof change);
    change.fields = n;
    int rc = cw_consent_policy_current (self, &change.policy_version);
    if (rc != CW_OK)
        return rc;
    bool own = false;
    if ((rc = s_tx_begin (self, &own)) != CW_OK)
        return rc;
    sqlite3_stmt *end = NULL;
    sqlite3_stmt *insert = NULL;
    const char *purpose_name = cw_purpose_name (purpose);
    if ((rc = s_prepare (self, "UPDATE grants SET withdrawn_ms = ?1 WHERE user_id = ?2"
                               " AND field = ?3 AND purpose = ?4 AND withdrawn_ms = 0",
                         &end)) != CW_OK
        || (rc = s_prepare (self, "INSERT INTO grants (id, user_id, field, purpose,"
                                  " policy_version, granted_ms, expires_ms, withdrawn_ms)"
                                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0)", &insert)) != CW_OK)
        goto done;
    for (size_t i = 0; i < n && rc == CW_OK; i++) {
        names [i] = fields [i]->name;
        uint8_t *id = ids + i * CW_ID_BYTES;
        randombytes_buf (id, CW_ID_BYTES);
        /* a replaced grant ends the moment its successor starts */
        sqlite3_bind_int64 (end, 1, (sqlite3_int64) now_ms);
        sqlite3_bind_blob (end, 2, user_id, CW_ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_text (end, 3, names [i], -1, SQLITE_STATIC);
        sqlite3_bind_text (end, 4, purpose_name, -1, SQLITE_STATIC);
        int r = sqlite3_step (end);
        rc = r == SQLITE_DONE ? CW_OK : (s_rc (r) ? s_rc (r) : CW_EIO);
        sqlite3_reset (end);
        if (rc != CW_OK)
            break;
        sqlite3_bind_blob (insert, 1, id, CW_ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_blob (insert, 2, user_id, CW_ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_text (insert, 3, names [i], -1, SQLITE_STATIC);
        sqlite3_bind_text (insert, 4, purpose_name, -1, SQLITE_STATIC);
        sqlite3_bind_int64 (insert, 5, change.policy_version);
        sqlite3_bind_int64 (insert, 6, (sqlite3_int64) now_ms);
        sqlite3_bind_int64 (insert, 7, (sqlite3_int64) expires_ms);
        r = sqlite3_step (insert);
        rc = r == SQLITE_DONE ? CW_OK : (s_rc (r) ? s_rc (r) : CW_EIO);
        sqlite3_reset (insert);
        change.changed++;
    }
    if (rc != CW_OK)
        goto done;
    const char *purposes [1] = { purpose_name };
    const char *texts [1] = { cw_purpose_description (purpose) };
    cw_receipt_t receipt = {
        .kind = CW_LEDGER_GRANT, .ts_ms = now_ms, .policy_version = change.policy_version,
        .purposes = purposes, .purpose_texts = texts, .n_purposes = 1,
        .fields = names, .n_fields = n, .grant_ids = ids, .n_grant_ids = n,
        .expires_ms = expires_ms, .note = NULL
    };
    if ((rc = cw_ledger_append (ledger, user_id, &receipt, &change.receipt)) != CW_OK)
        goto done;
    change.recorded = true;
    rc = s_bump (self, user_id, &change.generation);
done:
    sqlite3_finalize (end);
    sqlite3_finalize (insert);
    rc = s_tx_end (self, own, rc);
    if (rc == CW_OK && out)
        *out = change;
    return rc;
}

int
cw_consent_revoke (cw_consent_t *self, cw_ledger_t *ledger, const uint8_t *user_id,
                   const char *pattern, cw_purpose_t purpose, uint64_t now_ms,
                   cw_consent_change_t *out)
{
    const cw_catalog_entry_t *fields [S_FIELDS_MAX];
    const char *names [S_FIELDS_MAX];
    const char *purposes [CW_PURPOSE_COUNT];
    const char *texts [CW_PURPOSE_COUNT];
    uint8_t ids [S_FIELDS_MAX * CW_PURPOSE_COUNT * CW_ID_BYTES];
    size_t n = 0;
    size_t n_ids = 0;
    size_t n_purposes = 0;
    if (!self || !ledger || !user_id || (purpose != CW_PURPOSE_ANY && !s_purpose_real (purpose))
        || now_ms > INT64_MAX || s_expand (pattern, fields, &n) != CW_OK)
        return CW_EINVAL;
    for (int p = 1; p <= CW_PURPOSE_COUNT; p++)
        if (purpose == CW_PURPOSE_ANY || (int) purpose == p) {
            purposes [n_purposes] = cw_purpose_name ((cw_purpose_t) p);
            texts [n_purposes++] = cw_purpose_description ((cw_purpose_t) p);
        }
    for (size_t i = 0; i < n; i++)
        names [i] = fields [i]->name;
    cw_consent_change_t change;
    memset (&change, 0, sizeof change);
    change.fields = n;
    int rc = cw_consent_policy_current (self, &change.policy_version);
    if (rc != CW_OK)
        return rc;
    bool own = false;
    if ((rc = s_tx_begin (self, &own)) != CW_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    if ((rc = s_prepare (self, "UPDATE grants SET withdrawn_ms = ?1 WHERE user_id = ?2"
                               " AND field = ?3 AND purpose = ?4 AND withdrawn_ms = 0"
                               " RETURNING id", &st)) != CW_OK)
        goto done;
    for (size_t i = 0; i < n && rc == CW_OK; i++)
        for (size_t p = 0; p < n_purposes && rc == CW_OK; p++) {
            sqlite3_bind_int64 (st, 1, (sqlite3_int64) now_ms);
            sqlite3_bind_blob (st, 2, user_id, CW_ID_BYTES, SQLITE_STATIC);
            sqlite3_bind_text (st, 3, names [i], -1, SQLITE_STATIC);
            sqlite3_bind_text (st, 4, purposes [p], -1, SQLITE_STATIC);
            int r;
            while ((r = sqlite3_step (st)) == SQLITE_ROW) {
                /* the unique active index allows one row per cell */
                if (n_ids < S_FIELDS_MAX * CW_PURPOSE_COUNT
                    && sqlite3_column_bytes (st, 0) == (int) CW_ID_BYTES) {
                    memcpy (ids + n_ids * CW_ID_BYTES, sqlite3_column_blob (st, 0),
                            CW_ID_BYTES);
                    n_ids++;
                }
                change.changed++;
            }
            if (r != SQLITE_DONE)
                rc = s_rc (r) ? s_rc (r) : CW_EIO;
            sqlite3_reset (st);
        }
    if (rc != CW_OK || change.changed == 0)
        goto done;
    cw_receipt_t receipt = {
        .kind = CW_LEDGER_REVOKE, .ts_ms = now_ms, .policy_version = change.policy_version,
        .purposes = purposes, .purpose_texts = texts, .n_purposes = n_purposes,
        .fields = names, .n_fields = n, .grant_ids = ids, .n_grant_ids = n_ids,
        .expires_ms = 0, .note = NULL
    };
    if ((rc = cw_ledger_append (ledger, user_id, &receipt, &change.receipt)) != CW_OK)
        goto done;
    change.recorded = true;
    rc = s_bump (self, user_id, &change.generation);
done:
    sqlite3_finalize (st);
    rc = s_tx_end (self, own, rc);
    if (rc == CW_OK && change.changed == 0)
        rc = cw_consent_generation (self, user_id, &change.generation);
    if (rc == CW_OK && out)
        *out = change;
    return rc;
}

/*  Active (withdrawn_ms = 0) grants of a person; fn-like visitor per row. */
typedef struct {
    int entry;                          /* catalog index */
    cw_purpose_t purpose;
    uint8_t id [CW_ID_BYTES];
    uint32_t policy_version;
    uint64_t granted_ms;
    uint64_t expires_ms;
} s_grant_t;

/*  Loads active, unexpired grants of user_id (purpose ANY: all purposes) into grants
 *  (capacity S_FIELDS_MAX * CW_PURPOSE_COUNT); rows naming unknown fields are skipped. */
static int
s_load (cw_consent_t *self, const uint8_t *user_id, cw_purpose_t purpose, uint64_t now_ms,
        s_grant_t *grants, size_t *n)
{
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "SELECT field, purpose, id, policy_version, granted_ms,"
                              " expires_ms FROM grants WHERE user_id = ?1 AND withdrawn_ms = 0"
                              " AND (expires_ms = 0 OR expires_ms > ?2)", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, (sqlite3_int64) (now_ms > INT64_MAX ? INT64_MAX : now_ms));
    int r;
    while ((r = sqlite3_step (st)) == SQLITE_ROW) {
        const cw_catalog_entry_t *e = cw_catalog_find ((const char *) sqlite3_column_text (st, 0));
        cw_purpose_t p;
        if (!e || cw_purpose_parse ((const char *) sqlite3_column_text (st, 1), &p) != CW_OK
            || !s_purpose_real (p) || sqlite3_column_bytes (st, 2) != (int) CW_ID_BYTES)
            continue;           /* a field retired from the catalog grants nothing */
        if (purpose != CW_PURPOSE_ANY && p != purpose)
            continue;
        if (*n >= S_FIELDS_MAX * CW_PURPOSE_COUNT) {
            rc = CW_EINTERNAL;  /* more than one active row per cell: the index forbids it */
            break;
        }
        s_grant_t *g = &grants [(*n)++];
        g->entry = cw_catalog_index (e);
        g->purpose = p;
        memcpy (g->id, sqlite3_column_blob (st, 2), CW_ID_BYTES);
        g->policy_version = (uint32_t) sqlite3_column_int64 (st, 3);
        g->granted_ms = (uint64_t) sqlite3_column_int64 (st, 4);
        g->expires_ms = (uint64_t) sqlite3_column_int64 (st, 5);
    }
    if (rc == CW_OK && r != SQLITE_DONE)
        rc = s_rc (r) ? s_rc (r) : CW_EIO;
    sqlite3_finalize (st);
    return rc;
}

int
cw_consent_each (cw_consent_t *self, const uint8_t *user_id, const char *pattern,
                 cw_purpose_t purpose, uint64_t now_ms, cw_consent_fn fn, void *ctx)
{
    if (!self || !user_id || !fn || (purpose != CW_PURPOSE_ANY && !s_purpose_real (purpose)))
        return CW_EINVAL;
    const cw_catalog_entry_t *fields [S_FIELDS_MAX];
    size_t n = 0;
    if (s_expand (pattern ? pattern : "*", fields, &n) != CW_OK)
        return CW_EINVAL;
    s_grant_t grants [S_FIELDS_MAX * CW_PURPOSE_COUNT];
    size_t n_grants = 0;
    int rc = s_load (self, user_id, purpose, now_ms, grants, &n_grants);
    if (rc != CW_OK)
        return rc;
    for (size_t i = 0; i < n; i++)
        for (int p = 1; p <= CW_PURPOSE_COUNT; p++) {
            if (purpose != CW_PURPOSE_ANY && (int) purpose != p)
                continue;
            cw_consent_state_t state;
            memset (&state, 0, sizeof state);
            state.field = fields [i]->name;
            state.purpose = (cw_purpose_t) p;
            for (size_t g = 0; g < n_grants; g++)
                if (grants [g].entry == cw_catalog_index (fields [i])
                    && (int) grants [g].purpose == p) {
                    state.granted = true;
                    memcpy (state.grant_id, grants [g].id, CW_ID_BYTES);
                    state.policy_version = grants [g].policy_version;
                    state.granted_ms = grants [g].granted_ms;
                    state.expires_ms = grants [g].expires_ms;
                }
            fn (ctx, &state);
        }
    return CW_OK;
}

int
cw_consent_check (cw_consent_t *self, const uint8_t *user_id, const char *field,
                  cw_purpose_t purpose, uint64_t now_ms, uint8_t *grant_id_out,
                  uint32_t *policy_out)
{
    if (!self || !user_id || !cw_catalog_find (field)
        || (purpose != CW_PURPOSE_ANY && !s_purpose_real (purpose)))
        return CW_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "SELECT id, policy_version FROM grants WHERE user_id = ?1"
                              " AND field = ?2 AND (?3 = 'any' OR purpose = ?3)"
                              " AND withdrawn_ms = 0 AND (expires_ms = 0 OR expires_ms > ?4)"
                              " ORDER BY granted_ms LIMIT 1", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_text (st, 2, field, -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 3, cw_purpose_name (purpose), -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 4, (sqlite3_int64) (now_ms > INT64_MAX ? INT64_MAX : now_ms));
    int r = sqlite3_step (st);
    if (r == SQLITE_ROW && sqlite3_column_bytes (st, 0) == (int) CW_ID_BYTES) {
        if (grant_id_out)
            memcpy (grant_id_out, sqlite3_column_blob (st, 0), CW_ID_BYTES);
        if (policy_out)
            *policy_out = (uint32_t) sqlite3_column_int64 (st, 1);
    }
    else if (r == SQLITE_DONE)
        rc = CW_ECONSENT;
    else
        rc = s_rc (r) ? s_rc (r) : CW_EIO;
    sqlite3_finalize (st);
    return rc;
}

int
cw_consent_mask (cw_consent_t *self, const uint8_t *user_id, cw_purpose_t purpose,
                 uint64_t now_ms, uint64_t *mask, uint64_t *valid_until_ms)
{
    if (!self || !user_id || !mask || (purpose != CW_PURPOSE_ANY && !s_purpose_real (purpose)))
        return CW_EINVAL;
    *mask = 0;
    if (valid_until_ms)
        *valid_until_ms = 0;
    s_grant_t grants [S_FIELDS_MAX * CW_PURPOSE_COUNT];
    size_t n = 0;
    int rc = s_load (self, user_id, purpose, now_ms, grants, &n);
    if (rc != CW_OK)
        return rc;
    uint64_t until = 0;
    for (size_t g = 0; g < n; g++) {
        if (grants [g].entry < 0 || grants [g].entry >= (int) S_FIELDS_MAX)
            continue;
        *mask |= 1ull << grants [g].entry;
        if (grants [g].expires_ms && (until == 0 || grants [g].expires_ms < until))
            until = grants [g].expires_ms;
    }
    if (valid_until_ms)
        *valid_until_ms = until;
    return CW_OK;
}
