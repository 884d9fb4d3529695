/*  cw_access_log.c - the per-use, per-field access log (see cw_access_log.h). */
#include "coachwire/cw_access_log.h"
#include "coachwire/cw_catalog.h"
#include "coachwire/cw_consent.h"
#include "coachwire/cw_error.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct _cw_access_log_t {
    cw_store_t *store;                  /* borrowed */
    sqlite3 *db;                        /* cw_store_sqlite (store) */
};

static const char *s_actors [] = { NULL, "engine", "coach", "person", "operator" };
static const char *s_whats [] = { NULL, "decision", "coach_view", "export" };
#define S_ACTORS (sizeof s_actors / sizeof s_actors [0])
#define S_WHATS (sizeof s_whats / sizeof s_whats [0])

static const char *s_schema =
    "CREATE TABLE IF NOT EXISTS access_log ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " user_id BLOB NOT NULL,"
    " ts_ms INTEGER NOT NULL,"
    " actor_kind TEXT NOT NULL,"
    " actor_id BLOB,"
    " purpose TEXT NOT NULL,"
    " fields TEXT NOT NULL,"
    " grant_ids TEXT NOT NULL,"
    " what TEXT NOT NULL,"
    " detail TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS access_log_user ON access_log (user_id, ts_ms);";

const char *
cw_access_actor_name (cw_access_actor_t actor)
{
    return actor >= 1 && (size_t) actor < S_ACTORS ? s_actors [actor] : NULL;
}

const char *
cw_access_what_name (cw_access_what_t what)
{
    return what >= 1 && (size_t) what < S_WHATS ? s_whats [what] : NULL;
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

int
cw_access_log_open (cw_access_log_t **out, cw_store_t *store)
{
    if (!out || !store)
        return CW_EINVAL;
    *out = NULL;
    cw_access_log_t *self = calloc (1, sizeof *self);
    if (!self)
        return CW_ENOMEM;
    self->store = store;
    self->db = cw_store_sqlite (store);
    int rc = s_rc (sqlite3_exec (self->db, s_schema, NULL, NULL, NULL));
    if (rc != CW_OK)
        cw_access_log_destroy (&self);
    *out = self;
    return rc;
}

void
cw_access_log_destroy (cw_access_log_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

/*  A real purpose name (cw_consent.h), not "any". */
static bool
s_purpose_known (const char *purpose)
{
    cw_purpose_t p;
    return cw_purpose_parse (purpose, &p) == CW_OK && p != CW_PURPOSE_ANY;
}

int
cw_access_log_append (cw_access_log_t *self, const cw_access_t *a)
{
    if (!self || !a || !a->user_id || !cw_access_actor_name (a->actor)
        || !cw_access_what_name (a->what) || (a->purpose && !s_purpose_known (a->purpose))
        || a->n_fields > CW_ACCESS_MAX_FIELDS || (a->n_fields && !a->fields)
        || a->n_grant_ids > CW_ACCESS_MAX_GRANTS || (a->n_grant_ids && !a->grant_ids)
        || (a->detail && strlen (a->detail) > CW_ACCESS_DETAIL_MAX) || a->ts_ms > INT64_MAX)
        return CW_EINVAL;
    /* fields: names joined by ',' (each < CW_FIELD_NAME_MAX) */
    char fields [CW_ACCESS_MAX_FIELDS * CW_FIELD_NAME_MAX + 1];
    char grants [CW_ACCESS_MAX_GRANTS * (2 * CW_ID_BYTES + 1) + 1];
    size_t used = 0;
    fields [0] = 0;
    for (size_t i = 0; i < a->n_fields; i++) {
        if (!cw_catalog_find (a->fields [i]))
            return CW_EINVAL;
        size_t n = strlen (a->fields [i]);
        if (i)
            fields [used++] = ',';
        memcpy (fields + used, a->fields [i], n);
        used += n;
        fields [used] = 0;
    }
    used = 0;
    grants [0] = 0;
    for (size_t i = 0; i < a->n_grant_ids; i++) {
        if (i)
            grants [used++] = ',';
        sodium_bin2hex (grants + used, sizeof grants - used, a->grant_ids + i * CW_ID_BYTES,
                        CW_ID_BYTES);
        used += 2 * CW_ID_BYTES;
    }
    sqlite3_stmt *st = NULL;
    int rc = s_rc (sqlite3_prepare_v2 (self->db,
        "INSERT INTO access_log (user_id, ts_ms, actor_kind, actor_id, purpose, fields,"
        " grant_ids, what, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", -1, &st, NULL));
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, a->user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, (sqlite3_int64) a->ts_ms);
    sqlite3_bind_text (st, 3, cw_access_actor_name (a->actor), -1, SQLITE_STATIC);
    if (a->actor_id)
        sqlite3_bind_blob (st, 4, a->actor_id, CW_ID_BYTES, SQLITE_STATIC);
    else
        sqlite3_bind_null (st, 4);
    sqlite3_bind_text (st, 5, a->purpose ? a->purpose : "", -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 6, fields, -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 7, grants, -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 8, cw_access_what_name (a->what), -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 9, a->detail ? a->detail : "", -1, SQLITE_STATIC);
    int r = sqlite3_step (st);
    rc = r == SQLITE_DONE ? CW_OK : (s_rc (r) ? s_rc (r) : CW_EIO);
    sqlite3_finalize (st);
    return rc;
}

static int
s_lookup (const char *const *table, size_t n, const char *name)
{
    for (size_t i = 1; name && i < n; i++)
        if (strcmp (table [i], name) == 0)
            return (int) i;
    return 0;
}

static const char *
s_text (sqlite3_stmt *st, int col)
{
    const char *t = (const char *) sqlite3_column_text (st, col);
    return t ? t : "";
}

int
cw_access_log_list (cw_access_log_t *self, const uint8_t *user_id, uint64_t since_ms,
                    size_t limit, cw_access_fn fn, void *ctx)
{
    if (!self || !user_id || !fn)
        return CW_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = s_rc (sqlite3_prepare_v2 (self->db,
        "SELECT id, user_id, ts_ms, actor_kind, actor_id, purpose, fields, grant_ids, what,"
        " detail FROM access_log WHERE user_id = ?1 AND ts_ms >= ?2 ORDER BY ts_ms, id"
        " LIMIT ?3", -1, &st, NULL));
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, (sqlite3_int64) (since_ms > INT64_MAX ? INT64_MAX : since_ms));
    sqlite3_bind_int64 (st, 3, limit == 0 || limit > INT64_MAX ? -1 : (sqlite3_int64) limit);
    int r;
    while ((r = sqlite3_step (st)) == SQLITE_ROW) {
        cw_access_record_t rec;
        memset (&rec, 0, sizeof rec);
        rec.id = sqlite3_column_int64 (st, 0);
        if (sqlite3_column_bytes (st, 1) == (int) CW_ID_BYTES)
            memcpy (rec.user_id, sqlite3_column_blob (st, 1), CW_ID_BYTES);
        rec.ts_ms = (uint64_t) sqlite3_column_int64 (st, 2);
        rec.actor = (cw_access_actor_t) s_lookup (s_actors, S_ACTORS, s_text (st, 3));
        rec.actor_name = s_text (st, 3);
        if (sqlite3_column_bytes (st, 4) == (int) CW_ID_BYTES)
            memcpy (rec.actor_id, sqlite3_column_blob (st, 4), CW_ID_BYTES);
        rec.purpose = s_text (st, 5);
        rec.fields = s_text (st, 6);
        rec.grant_ids = s_text (st, 7);
        rec.what = (cw_access_what_t) s_lookup (s_whats, S_WHATS, s_text (st, 8));
        rec.what_name = s_text (st, 8);
        rec.detail = s_text (st, 9);
        if ((rc = fn (ctx, &rec)) != 0)
            break;
    }
    if (rc == CW_OK && r != SQLITE_DONE)
        rc = s_rc (r) ? s_rc (r) : CW_EIO;
    sqlite3_finalize (st);
    return rc;
}

int
cw_access_log_erase (cw_access_log_t *self, const uint8_t *user_id, uint64_t *deleted)
{
    if (!self || !user_id)
        return CW_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = s_rc (sqlite3_prepare_v2 (self->db, "DELETE FROM access_log WHERE user_id = ?1",
                                       -1, &st, NULL));
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    int r = sqlite3_step (st);
    rc = r == SQLITE_DONE ? CW_OK : (s_rc (r) ? s_rc (r) : CW_EIO);
    if (rc == CW_OK && deleted)
        *deleted = (uint64_t) sqlite3_changes (self->db);
    sqlite3_finalize (st);
    return rc;
}
