/*  cw_store.c - the SQLite store (see include/coachwire/cw_store.h).
 *
 *  Dedup lives in its own table (seen) so that it stays permanent even when raw payloads are
 *  deleted (retention not granted, erasure). Frames are appended in arrival order (rowid).
 *  Their payloads lie in segment files beside the database (cw_segments.h: written once, not
 *  twice as a table's pages are), the row pointing to them; a payload replaced by erasure
 *  is kept in the row itself. Segment bytes are written and synced before the COMMIT that
 *  indexes them, and wiped only after the COMMIT that stops pointing to them.
 */
#include "coachwire/cw_store.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_segments.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_SCHEMA_VERSION "2"
#define S_SEGMENTS_SUFFIX "-segments"   /* DATA_DIR/coachwire.db-segments/ */

#define S_BUSY_TIMEOUT_MS 5000
#define S_BUSY_POLL_US 500          /* a waiting writer looks again this often */

/*  A payload whose row a pending transaction deleted or replaced: wiped after the COMMIT. */
typedef struct {
    uint32_t segment;
    uint64_t offset;
    size_t len;
} s_wipe_t;

struct _cw_store_t {
    sqlite3 *db;
    char *segments_dir;
    cw_segments_t *segments;        /* opened at the first payload written or read */
    s_wipe_t *wipes;                /* payloads to wipe once the transaction commits */
    size_t wipe_count, wipe_max;
    uint8_t *read_buf;              /* a payload read from a segment, for cw_store_frame_each */
    size_t read_cap;
    sqlite3_stmt *each;             /* the row a cw_store_frame_each_lazy callback holds */
    char error [192];               /* a segment failure, reported by cw_store_errmsg */
    int wal_frames;                 /* after our last commit (autocheckpoint off only) */
    sqlite3_stmt *seen_insert;      /* hot path statements, prepared once */
    sqlite3_stmt *frame_insert;
    sqlite3_stmt *counter_add;
    sqlite3_stmt *seen_select;
    sqlite3_stmt *seen_max;
};


static const char s_schema [] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE principals ("
    "  id BLOB PRIMARY KEY, kind INTEGER NOT NULL, name TEXT NOT NULL,"
    "  public_key BLOB NOT NULL UNIQUE, owner_id BLOB REFERENCES principals (id),"
    "  locale TEXT NOT NULL DEFAULT '', time_zone TEXT NOT NULL DEFAULT '',"
    "  created_ms INTEGER NOT NULL, revoked_ms INTEGER NOT NULL DEFAULT 0,"
    "  last_seen_ms INTEGER NOT NULL DEFAULT 0, frames INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX principals_name ON principals (kind, name) WHERE kind != 1;"
    "CREATE INDEX principals_owner ON principals (owner_id);"
    "CREATE TABLE person_keys (user_id BLOB PRIMARY KEY, wrapped BLOB NOT NULL);"
    "CREATE TABLE seen (device_id BLOB NOT NULL, stream INTEGER NOT NULL,"
    "  sequence INTEGER NOT NULL, PRIMARY KEY (device_id, stream, sequence)) WITHOUT ROWID;"
    /* AUTOINCREMENT: row ids never come back after deletes (retention, erasure), so the
     * coach's cursor over arrival order never skips a frame. */
    "CREATE TABLE frames (row INTEGER PRIMARY KEY AUTOINCREMENT, device_id BLOB NOT NULL,"
    "  user_id BLOB NOT NULL, stream INTEGER NOT NULL, sequence INTEGER NOT NULL,"
    "  received_ms INTEGER NOT NULL, sealed BLOB NOT NULL, seg INTEGER, seg_off INTEGER,"
    "  seg_len INTEGER);"
    "CREATE INDEX frames_user ON frames (user_id, row);"
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "INSERT INTO meta VALUES ('schema_version', '" S_SCHEMA_VERSION "');";

uint64_t
cw_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

uint64_t
cw_mono_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

uint64_t
cw_thread_cpu_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
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
s_exec (cw_store_t *self, const char *sql)
{
    return s_rc (sqlite3_exec (self->db, sql, NULL, NULL, NULL));
}

const char *
cw_store_errmsg (cw_store_t *self)
{
    if (self && self->error [0])
        return self->error;
    return self && self->db ? sqlite3_errmsg (self->db) : "no database";
}

/*  SQLite's own busy handler sleeps longer after each try (up to 100 ms at a time), so a
 *  connection that waits for the write lock while the committer takes it a thousand times a
 *  second (the coach writing a nudge) can wait hundreds of ms for a gap of a millisecond.
 *  Ours looks every S_BUSY_POLL_US, up to S_BUSY_TIMEOUT_MS in all. */
static int
s_busy (void *ctx, int tries)
{
    (void) ctx;
    if ((long) tries * S_BUSY_POLL_US >= S_BUSY_TIMEOUT_MS * 1000L)
        return 0;
    usleep (S_BUSY_POLL_US);
    return 1;
}

/*  The segment files, opened on first use (most connections never touch a payload). */
static int
s_segments (cw_store_t *self, cw_segments_t **out)
{
    int rc = CW_OK;
    if (!self->segments && (rc = cw_segments_open (&self->segments, self->segments_dir))
                               != CW_OK)
        snprintf (self->error, sizeof self->error, "cannot open %s: %s", self->segments_dir,
                  cw_strerror (rc));
    *out = self->segments;
    return rc;
}

static int
s_segment_fail (cw_store_t *self, int rc)
{
    snprintf (self->error, sizeof self->error, "%s", cw_segments_error (self->segments));
    return rc;
}

/*  Wipes what the committed transaction stopped pointing to. A wipe that fails leaves
 *  unreferenced ciphertext, never a wrong answer: it is logged, not returned. */
static void
s_wipes_apply (cw_store_t *self)
{
    cw_segments_t *seg = NULL;
    for (size_t i = 0; i < self->wipe_count && s_segments (self, &seg) == CW_OK; i++)
        if (cw_segments_wipe (seg, self->wipes [i].segment, self->wipes [i].offset,
                              self->wipes [i].len) != CW_OK)
            fprintf (stderr, "coachwire: store: erasing a payload: %s\n",
                     cw_segments_error (seg));
    self->wipe_count = 0;
}

/*  Remembers the payload of a row that is being deleted or replaced (segment columns at
 *  col, col + 1, col + 2 of st; NULL when the payload was in the row). */
static int
s_wipe_later (cw_store_t *self, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type (st, col) == SQLITE_NULL)
        return CW_OK;
    if (self->wipe_count == self->wipe_max) {
        size_t max = self->wipe_max ? self->wipe_max * 2 : 64;
        s_wipe_t *w = realloc (self->wipes, max * sizeof *w);
        if (!w)
            return CW_ENOMEM;
        self->wipes = w;
        self->wipe_max = max;
    }
    s_wipe_t *w = &self->wipes [self->wipe_count++];
    w->segment = (uint32_t) sqlite3_column_int64 (st, col);
    w->offset = (uint64_t) sqlite3_column_int64 (st, col + 1);
    w->len = (size_t) sqlite3_column_int64 (st, col + 2);
    return CW_OK;
}

/*  After a statement that queued wipes (wipe_count was before): a failed one changed nothing,
 *  and outside a transaction a successful one has committed already. */
static void
s_wipes_settle (cw_store_t *self, size_t before, int rc)
{
    if (rc != CW_OK)
        self->wipe_count = before;
    else if (sqlite3_get_autocommit (self->db))
        s_wipes_apply (self);
}

/*  Schema 1 kept every payload in its row; 2 adds the segment columns (old rows keep theirs). */
static int
s_migrate (cw_store_t *self, const char *version)
{
    if (strcmp (version, "1") != 0) {
        snprintf (self->error, sizeof self->error, "schema version %s: this build reads %s"
                  " and 1 only (a newer coachwired made it?)", version, S_SCHEMA_VERSION);
        return CW_EIO;
    }
    int rc = s_exec (self, "BEGIN IMMEDIATE");
    if (rc != CW_OK)
        return rc;
    char now [16] = "";
    rc = cw_store_meta_get (self, "schema_version", now, sizeof now);
    if (rc == CW_OK && strcmp (now, "1") == 0)      /* another connection may have done it */
        rc = s_exec (self, "ALTER TABLE frames ADD COLUMN seg INTEGER;"
                           "ALTER TABLE frames ADD COLUMN seg_off INTEGER;"
                           "ALTER TABLE frames ADD COLUMN seg_len INTEGER;"
                           "UPDATE meta SET value = '" S_SCHEMA_VERSION "'"
                           " WHERE key = 'schema_version';");
    else if (rc == CW_OK && strcmp (now, S_SCHEMA_VERSION) != 0)
        rc = CW_EIO;
    if (rc == CW_OK)
        rc = s_exec (self, "COMMIT");
    if (rc != CW_OK)
        s_exec (self, "ROLLBACK");
    return rc;
}

void
cw_store_destroy (cw_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_store_t *self = *self_p;
    sqlite3_finalize (self->seen_insert);
    sqlite3_finalize (self->frame_insert);
    sqlite3_finalize (self->counter_add);
    sqlite3_finalize (self->seen_select);
    sqlite3_finalize (self->seen_max);
    sqlite3_close_v2 (self->db);
    cw_segments_destroy (&self->segments);
    free (self->segments_dir);
    free (self->wipes);
    free (self->read_buf);
    free (self);
    *self_p = NULL;
}

int
cw_store_open (cw_store_t **out, const char *path, bool create)
{
    if (!out || !path)
        return CW_EINVAL;
    *out = NULL;
    if (create && access (path, F_OK) == 0)
        return CW_EEXIST;
    if (!create && access (path, F_OK) != 0)
        return CW_ENOENT;
    cw_store_t *self = calloc (1, sizeof *self);
    if (!self)
        return CW_ENOMEM;
    size_t dir_len = strlen (path) + sizeof S_SEGMENTS_SUFFIX;
    if (!(self->segments_dir = malloc (dir_len))) {
        free (self);
        return CW_ENOMEM;
    }
    snprintf (self->segments_dir, dir_len, "%s%s", path, S_SEGMENTS_SUFFIX);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    int rc = s_rc (sqlite3_open_v2 (path, &self->db, flags, NULL));
    if (rc != CW_OK)
        goto done;
    sqlite3_busy_handler (self->db, s_busy, self);
    sqlite3_extended_result_codes (self->db, 1);
    /* synchronous=FULL: an ack promises the frame survives power loss, so each commit syncs. */
    /* secure_delete: an erased or stripped payload is overwritten, not left in free pages. */
    if ((rc = s_exec (self, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                            "PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;")) != CW_OK)
        goto done;
    if (create) {
        if ((rc = s_exec (self, "BEGIN")) != CW_OK)
            goto done;
        if ((rc = s_exec (self, s_schema)) != CW_OK || (rc = s_exec (self, "COMMIT")) != CW_OK) {
            s_exec (self, "ROLLBACK");
            goto done;
        }
    }
    else {
        /* A quick integrity check at start: a damaged file is reported, never served. */
        sqlite3_stmt *st = NULL;
        rc = s_rc (sqlite3_prepare_v2 (self->db, "PRAGMA quick_check", -1, &st, NULL));
        if (rc == CW_OK && sqlite3_step (st) == SQLITE_ROW) {
            const char *r = (const char *) sqlite3_column_text (st, 0);
            if (!r || strcmp (r, "ok") != 0)
                rc = CW_EIO;
        }
        else if (rc == CW_OK)
            rc = CW_EIO;
        sqlite3_finalize (st);
        if (rc != CW_OK)
            goto done;
        char version [16];
        if (cw_store_meta_get (self, "schema_version", version, sizeof version) != CW_OK) {
            rc = CW_EIO;
            goto done;
        }
        if (strcmp (version, S_SCHEMA_VERSION) != 0 && (rc = s_migrate (self, version)) != CW_OK)
            goto done;
    }
    if ((rc = s_rc (sqlite3_prepare_v2 (self->db,
                 "INSERT OR IGNORE INTO seen VALUES (?1, ?2, ?3)", -1, &self->seen_insert,
                 NULL))) != CW_OK
        || (rc = s_rc (sqlite3_prepare_v2 (self->db,
                 "INSERT INTO frames (device_id, user_id, stream, sequence, received_ms, sealed,"
                 " seg, seg_off, seg_len) SELECT ?1, ?2, ?3, ?4, ?5, x'', ?6, ?7, ?8"
                 " WHERE EXISTS (SELECT 1 FROM person_keys WHERE user_id = ?2)", -1,
                 &self->frame_insert, NULL))) != CW_OK
        || (rc = s_rc (sqlite3_prepare_v2 (self->db,
                 "INSERT INTO counters VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE"
                 " SET value = value + excluded.value", -1, &self->counter_add, NULL))) != CW_OK
        || (rc = s_rc (sqlite3_prepare_v2 (self->db,
                 "SELECT 1 FROM seen WHERE device_id = ?1 AND stream = ?2 AND sequence = ?3",
                 -1, &self->seen_select, NULL))) != CW_OK
        || (rc = s_rc (sqlite3_prepare_v2 (self->db,
                 "SELECT coalesce (max (sequence), 0) FROM seen WHERE device_id = ?1"
                 " AND stream = ?2", -1, &self->seen_max, NULL))) != CW_OK)
        goto done;
done:
    if (rc != CW_OK) {
        if (self->db)
            fprintf (stderr, "coachwire: store %s: %s\n", path, cw_store_errmsg (self));
        cw_store_destroy (&self);
    }
    *out = self;
    return rc;
}

struct sqlite3 *
cw_store_sqlite (cw_store_t *self)
{
    return self->db;
}

int
cw_store_begin (cw_store_t *self)
{
    return s_exec (self, "BEGIN IMMEDIATE");
}

int
cw_store_commit (cw_store_t *self)
{
    /* the payloads first: a committed row never points to bytes not on disk */
    int rc = self->segments ? cw_segments_flush (self->segments) : CW_OK;
    if (rc != CW_OK)
        return s_segment_fail (self, rc);
    rc = s_exec (self, "COMMIT");
    if (rc == CW_OK)
        s_wipes_apply (self);
    return rc;
}

bool
cw_store_in_transaction (cw_store_t *self)
{
    return sqlite3_get_autocommit (self->db) == 0;
}

void
cw_store_rollback (cw_store_t *self)
{
    if (!sqlite3_get_autocommit (self->db))
        s_exec (self, "ROLLBACK");
    cw_segments_discard (self->segments);
    self->wipe_count = 0;
}

/*  Prepares sql; the caller finalizes. */
static int
s_prepare (cw_store_t *self, const char *sql, sqlite3_stmt **st)
{
    return s_rc (sqlite3_prepare_v2 (self->db, sql, -1, st, NULL));
}

/*  Steps a statement expected to finish with DONE, then finalizes it. */
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

int
cw_store_meta_set (cw_store_t *self, const char *key, const char *value)
{
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "INSERT OR REPLACE INTO meta VALUES (?1, ?2)", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_text (st, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text (st, 2, value, -1, SQLITE_TRANSIENT);
    return s_step_done (st);
}

int
cw_store_meta_get (cw_store_t *self, const char *key, char *buf, size_t size)
{
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "SELECT value FROM meta WHERE key = ?1", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_text (st, 1, key, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step (st);
    if (r == SQLITE_ROW) {
        const char *v = (const char *) sqlite3_column_text (st, 0);
        if (!v || strlen (v) >= size)
            rc = CW_ETOOBIG;
        else
            memcpy (buf, v, strlen (v) + 1);
    }
    else
        rc = r == SQLITE_DONE ? CW_ENOENT : s_rc (r);
    sqlite3_finalize (st);
    return rc;
}

static void
s_copy_text (char *dst, size_t size, const unsigned char *src)
{
    snprintf (dst, size, "%s", src ? (const char *) src : "");
}

static void
s_copy_blob (uint8_t *dst, size_t size, sqlite3_stmt *st, int col)
{
    memset (dst, 0, size);
    const void *b = sqlite3_column_blob (st, col);
    int n = sqlite3_column_bytes (st, col);
    if (b && n == (int) size)
        memcpy (dst, b, size);
}

#define S_PRINCIPAL_COLUMNS \
    "p.id, p.kind, p.name, p.public_key, p.owner_id, coalesce (o.name, ''), p.locale," \
    " p.time_zone, p.created_ms, p.revoked_ms, p.last_seen_ms, p.frames" \
    " FROM principals p LEFT JOIN principals o ON o.id = p.owner_id "

static void
s_read_principal (sqlite3_stmt *st, cw_principal_t *p)
{
    memset (p, 0, sizeof *p);
    s_copy_blob (p->id, CW_ID_BYTES, st, 0);
    p->kind = (cw_principal_kind_t) sqlite3_column_int (st, 1);
    s_copy_text (p->name, sizeof p->name, sqlite3_column_text (st, 2));
    s_copy_blob (p->public_key, 32, st, 3);
    s_copy_blob (p->owner_id, CW_ID_BYTES, st, 4);
    s_copy_text (p->owner_name, sizeof p->owner_name, sqlite3_column_text (st, 5));
    s_copy_text (p->locale, sizeof p->locale, sqlite3_column_text (st, 6));
    s_copy_text (p->time_zone, sizeof p->time_zone, sqlite3_column_text (st, 7));
    p->created_ms = (uint64_t) sqlite3_column_int64 (st, 8);
    p->revoked_ms = (uint64_t) sqlite3_column_int64 (st, 9);
    p->last_seen_ms = (uint64_t) sqlite3_column_int64 (st, 10);
    p->frames = (uint64_t) sqlite3_column_int64 (st, 11);
}

/*  Runs a one-row principal query; CW_ENOENT when no row. */
static int
s_principal_one (sqlite3_stmt *st, cw_principal_t *out)
{
    int r = sqlite3_step (st);
    int rc = CW_OK;
    if (r == SQLITE_ROW)
        s_read_principal (st, out);
    else
        rc = r == SQLITE_DONE ? CW_ENOENT : s_rc (r);
    sqlite3_finalize (st);
    return rc;
}

int
cw_store_principal_add (cw_store_t *self, cw_principal_t *p)
{
    if (!self || !p || p->kind < CW_PRINCIPAL_DEVICE || p->kind > CW_PRINCIPAL_OPERATOR)
        return CW_EINVAL;
    static const uint8_t zero [CW_ID_BYTES];
    bool has_owner = memcmp (p->owner_id, zero, CW_ID_BYTES) != 0;
    if ((p->kind == CW_PRINCIPAL_DEVICE) != has_owner)
        return CW_EINVAL;
    randombytes_buf (p->id, CW_ID_BYTES);
    p->created_ms = cw_now_ms ();
    p->revoked_ms = 0;
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self,
        "INSERT INTO principals (id, kind, name, public_key, owner_id, locale, time_zone,"
        " created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, p->id, CW_ID_BYTES, SQLITE_TRANSIENT);
    sqlite3_bind_int (st, 2, (int) p->kind);
    sqlite3_bind_text (st, 3, p->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob (st, 4, p->public_key, 32, SQLITE_TRANSIENT);
    if (has_owner)
        sqlite3_bind_blob (st, 5, p->owner_id, CW_ID_BYTES, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null (st, 5);
    sqlite3_bind_text (st, 6, p->locale, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text (st, 7, p->time_zone, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64 (st, 8, (sqlite3_int64) p->created_ms);
    return s_step_done (st);
}

int
cw_store_principal_by_key (cw_store_t *self, const uint8_t *public_key, cw_principal_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "SELECT " S_PRINCIPAL_COLUMNS "WHERE p.public_key = ?1", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, public_key, 32, SQLITE_TRANSIENT);
    return s_principal_one (st, out);
}

int
cw_store_principal_by_id (cw_store_t *self, const uint8_t *id, cw_principal_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "SELECT " S_PRINCIPAL_COLUMNS "WHERE p.id = ?1", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, id, CW_ID_BYTES, SQLITE_TRANSIENT);
    return s_principal_one (st, out);
}

int
cw_store_principal_by_name (cw_store_t *self, cw_principal_kind_t kind, const char *name,
                            cw_principal_t *out)
{
    if (!name || kind == CW_PRINCIPAL_DEVICE)
        return CW_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "SELECT " S_PRINCIPAL_COLUMNS "WHERE p.kind = ?1 AND p.name = ?2",
                        &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_int (st, 1, (int) kind);
    sqlite3_bind_text (st, 2, name, -1, SQLITE_TRANSIENT);
    return s_principal_one (st, out);
}

int
cw_store_principal_revoke (cw_store_t *self, const uint8_t *id)
{
    cw_principal_t p;
    int rc = cw_store_principal_by_id (self, id, &p);
    if (rc != CW_OK)
        return rc;
    if (p.revoked_ms)
        return CW_ESTATE;
    sqlite3_stmt *st = NULL;
    if ((rc = s_prepare (self, "UPDATE principals SET revoked_ms = ?2 WHERE id = ?1", &st))
        != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, id, CW_ID_BYTES, SQLITE_TRANSIENT);
    sqlite3_bind_int64 (st, 2, (sqlite3_int64) cw_now_ms ());
    return s_step_done (st);
}

int
cw_store_principal_list (cw_store_t *self, cw_principal_kind_t kind, const uint8_t *owner_id,
                         cw_principal_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "SELECT " S_PRINCIPAL_COLUMNS
                        "WHERE p.kind = ?1 AND (?2 IS NULL OR p.owner_id = ?2)"
                        " ORDER BY p.created_ms, p.name", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_int (st, 1, (int) kind);
    if (owner_id)
        sqlite3_bind_blob (st, 2, owner_id, CW_ID_BYTES, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null (st, 2);
    int r;
    cw_principal_t p;
    while ((r = sqlite3_step (st)) == SQLITE_ROW) {
        s_read_principal (st, &p);
        fn (ctx, &p);
    }
    rc = r == SQLITE_DONE ? CW_OK : s_rc (r);
    sqlite3_finalize (st);
    return rc;
}

int
cw_store_device_seen (cw_store_t *self, const uint8_t *device_id, uint64_t now_ms,
                      uint64_t frames)
{
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "UPDATE principals SET last_seen_ms = ?2, frames = frames + ?3"
                              " WHERE id = ?1", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, device_id, CW_ID_BYTES, SQLITE_TRANSIENT);
    sqlite3_bind_int64 (st, 2, (sqlite3_int64) now_ms);
    sqlite3_bind_int64 (st, 3, (sqlite3_int64) frames);
    return s_step_done (st);
}

int
cw_store_person_key_put (cw_store_t *self, const uint8_t *user_id, const uint8_t *wrapped)
{
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "INSERT OR REPLACE INTO person_keys VALUES (?1, ?2)", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_TRANSIENT);
    sqlite3_bind_blob (st, 2, wrapped, CW_WRAPPED_KEY_BYTES, SQLITE_TRANSIENT);
    return s_step_done (st);
}

int
cw_store_person_key_get (cw_store_t *self, const uint8_t *user_id, uint8_t *wrapped)
{
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "SELECT wrapped FROM person_keys WHERE user_id = ?1", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_TRANSIENT);
    int r = sqlite3_step (st);
    if (r == SQLITE_ROW) {
        if (sqlite3_column_bytes (st, 0) != (int) CW_WRAPPED_KEY_BYTES)
            rc = CW_EIO;
        else
            memcpy (wrapped, sqlite3_column_blob (st, 0), CW_WRAPPED_KEY_BYTES);
    }
    else
        rc = r == SQLITE_DONE ? CW_ENOENT : s_rc (r);
    sqlite3_finalize (st);
    return rc;
}

int
cw_store_person_key_delete (cw_store_t *self, const uint8_t *user_id)
{
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "DELETE FROM person_keys WHERE user_id = ?1", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_TRANSIENT);
    return s_step_done (st);
}

/*  Steps a cached statement, then resets it for the next use. */
static int
s_step_reset (sqlite3_stmt *st)
{
    int r = sqlite3_step (st);
    sqlite3_reset (st);
    sqlite3_clear_bindings (st);
    return r == SQLITE_DONE ? CW_OK : s_rc (r) == CW_OK ? CW_EIO : s_rc (r);
}

int
cw_store_frame_put (cw_store_t *self, const uint8_t *device_id, const uint8_t *user_id,
                    uint16_t stream, uint64_t sequence, uint64_t received_ms,
                    const uint8_t *sealed, size_t sealed_len, bool *duplicate)
{
    if (!self || !device_id || !user_id || !duplicate || (!sealed && sealed_len)
        || sequence > INT64_MAX || sealed_len > CW_SEGMENT_PAYLOAD_MAX
        || sqlite3_get_autocommit (self->db))
        return CW_EINVAL;   /* outside a transaction a row could commit before its payload */
    *duplicate = false;
    sqlite3_stmt *st = self->seen_insert;
    sqlite3_bind_blob (st, 1, device_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int (st, 2, stream);
    sqlite3_bind_int64 (st, 3, (sqlite3_int64) sequence);
    int rc = s_step_reset (st);
    if (rc != CW_OK)
        return rc;
    if (sqlite3_changes (self->db) == 0) {
        *duplicate = true;
        return CW_OK;
    }
    if (!sealed)
        return CW_OK;       /* consent left nothing to keep: remembered for dedup only */
    /* the seen row's insert took the write lock: the append position is ours */
    cw_segments_t *seg = NULL;
    uint32_t segment = 0, at_segment = 0;
    uint64_t offset = 0, at_offset = 0;
    if ((rc = s_segments (self, &seg)) != CW_OK)
        return rc;
    if ((rc = cw_segments_next (seg, &segment, &offset)) != CW_OK)
        return s_segment_fail (self, rc);
    /* The row goes in only while the person has a data key: one erased while this frame
     * waited for its commit keeps nothing (the payload is sealed under the erased key).
     * Inside this transaction, so an erasure is wholly before it or after it. */
    st = self->frame_insert;
    sqlite3_bind_blob (st, 1, device_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob (st, 2, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int (st, 3, stream);
    sqlite3_bind_int64 (st, 4, (sqlite3_int64) sequence);
    sqlite3_bind_int64 (st, 5, (sqlite3_int64) received_ms);
    sqlite3_bind_int64 (st, 6, segment);
    sqlite3_bind_int64 (st, 7, (sqlite3_int64) offset);
    sqlite3_bind_int64 (st, 8, (sqlite3_int64) sealed_len);
    if ((rc = s_step_reset (st)) != CW_OK || sqlite3_changes (self->db) == 0)
        return rc;
    if ((rc = cw_segments_add (seg, sealed, sealed_len, &at_segment, &at_offset)) != CW_OK)
        return s_segment_fail (self, rc);
    return at_segment == segment && at_offset == offset ? CW_OK : CW_EINTERNAL;
}

int
cw_store_frame_seen (cw_store_t *self, const uint8_t *device_id, uint16_t stream,
                     uint64_t sequence, bool *seen)
{
    if (!self || !device_id || !seen || sequence > INT64_MAX)
        return CW_EINVAL;
    sqlite3_stmt *st = self->seen_select;
    sqlite3_bind_blob (st, 1, device_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int (st, 2, stream);
    sqlite3_bind_int64 (st, 3, (sqlite3_int64) sequence);
    int r = sqlite3_step (st);
    *seen = r == SQLITE_ROW;
    int rc = r == SQLITE_ROW || r == SQLITE_DONE ? CW_OK : s_rc (r);
    sqlite3_reset (st);
    sqlite3_clear_bindings (st);
    return rc;
}

int
cw_store_frame_max_sequence (cw_store_t *self, const uint8_t *device_id, uint16_t stream,
                             uint64_t *max)
{
    if (!self || !device_id || !max)
        return CW_EINVAL;
    sqlite3_stmt *st = self->seen_max;
    sqlite3_bind_blob (st, 1, device_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int (st, 2, stream);
    int r = sqlite3_step (st);
    *max = r == SQLITE_ROW ? (uint64_t) sqlite3_column_int64 (st, 0) : 0;
    int rc = r == SQLITE_ROW ? CW_OK : s_rc (r) == CW_OK ? CW_EIO : s_rc (r);
    sqlite3_reset (st);
    sqlite3_clear_bindings (st);
    return rc;
}

int
cw_store_checkpoint (cw_store_t *self, cw_checkpoint_t mode, int *wal_frames,
                     int *backfilled)
{
    int log = 0, done = 0;
    /* catching up never waits: when another checkpoint is running, the next try will do */
    if (mode == CW_CHECKPOINT_CATCH_UP)
        sqlite3_busy_timeout (self->db, 0);
    int r = sqlite3_wal_checkpoint_v2 (self->db, NULL, mode == CW_CHECKPOINT_PASSIVE
                                                       ? SQLITE_CHECKPOINT_PASSIVE
                                                       : SQLITE_CHECKPOINT_FULL, &log, &done);
    if (mode == CW_CHECKPOINT_CATCH_UP)
        sqlite3_busy_handler (self->db, s_busy, self);
    if (wal_frames)
        *wal_frames = log;
    if (backfilled)
        *backfilled = done;
    if (r == SQLITE_OK && mode != CW_CHECKPOINT_PASSIVE)
        self->wal_frames = 0;
    return r == SQLITE_BUSY ? CW_OK : s_rc (r);
}

static int
s_wal_hook (void *ctx, sqlite3 *db, const char *name, int frames)
{
    (void) db;
    (void) name;
    ((cw_store_t *) ctx)->wal_frames = frames;
    return SQLITE_OK;
}

int
cw_store_autocheckpoint (cw_store_t *self, bool on)
{
    if (on)
        return s_rc (sqlite3_wal_autocheckpoint (self->db, 1000));
    sqlite3_wal_hook (self->db, s_wal_hook, self);  /* replaces SQLite's automatic one */
    return CW_OK;
}

int
cw_store_wal_frames (const cw_store_t *self)
{
    return self ? self->wal_frames : 0;
}

/*  The payload a row points to (segment columns at col..col + 2), read into self->read_buf. */
static int
s_read_payload (cw_store_t *self, sqlite3_stmt *st, int col, cw_stored_frame_t *f)
{
    sqlite3_int64 segment = sqlite3_column_int64 (st, col);
    sqlite3_int64 offset = sqlite3_column_int64 (st, col + 1);
    sqlite3_int64 len = sqlite3_column_int64 (st, col + 2);
    if (segment <= 0 || segment > UINT32_MAX || offset < 0 || len < 0
        || len > CW_SEGMENT_PAYLOAD_MAX) {
        snprintf (self->error, sizeof self->error, "frame %lld: bad segment reference",
                  (long long) f->row);
        return CW_EIO;
    }
    if ((size_t) len > self->read_cap) {
        uint8_t *buf = realloc (self->read_buf, (size_t) len);
        if (!buf)
            return CW_ENOMEM;
        self->read_buf = buf;
        self->read_cap = (size_t) len;
    }
    cw_segments_t *seg = NULL;
    int rc = s_segments (self, &seg);
    if (rc == CW_OK && (rc = cw_segments_read (seg, (uint32_t) segment, (uint64_t) offset,
                                               (size_t) len, self->read_buf)) != CW_OK)
        rc = s_segment_fail (self, rc);
    f->sealed = self->read_buf;
    f->sealed_len = (size_t) len;
    return rc;
}

static int s_frame_each (cw_store_t *self, const uint8_t *user_id, int64_t after_row,
                         size_t limit, bool lazy, cw_frame_fn fn, void *ctx);

int
cw_store_frame_each (cw_store_t *self, const uint8_t *user_id, int64_t after_row, size_t limit,
                     cw_frame_fn fn, void *ctx)
{
    return s_frame_each (self, user_id, after_row, limit, false, fn, ctx);
}

int
cw_store_frame_each_lazy (cw_store_t *self, const uint8_t *user_id, int64_t after_row,
                          size_t limit, cw_frame_fn fn, void *ctx)
{
    return s_frame_each (self, user_id, after_row, limit, true, fn, ctx);
}

int
cw_store_frame_payload (cw_store_t *self, const cw_stored_frame_t *frame, const uint8_t **sealed)
{
    if (!self || !frame || !sealed || !self->each)
        return CW_EINVAL;       /* only inside a cw_store_frame_each_lazy callback */
    if (frame->sealed) {
        *sealed = frame->sealed;
        return CW_OK;
    }
    cw_stored_frame_t f = *frame;
    int rc = s_read_payload (self, self->each, 7, &f);
    *sealed = rc == CW_OK ? f.sealed : NULL;
    return rc;
}

static int
s_frame_each (cw_store_t *self, const uint8_t *user_id, int64_t after_row, size_t limit,
              bool lazy, cw_frame_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "SELECT row, device_id, user_id, stream, sequence, received_ms,"
                        " sealed, seg, seg_off, seg_len FROM frames"
                        " WHERE (?1 IS NULL OR user_id = ?1) AND row > ?2"
                        " ORDER BY row LIMIT ?3", &st);
    if (rc != CW_OK)
        return rc;
    if (user_id)
        sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null (st, 1);
    sqlite3_bind_int64 (st, 2, after_row);
    sqlite3_bind_int64 (st, 3, limit ? (sqlite3_int64) limit : -1);
    int r;
    while ((r = sqlite3_step (st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes (st, 1) != (int) CW_ID_BYTES
            || sqlite3_column_bytes (st, 2) != (int) CW_ID_BYTES) {
            rc = CW_EIO;
            break;
        }
        cw_stored_frame_t f = {
            .row = sqlite3_column_int64 (st, 0),
            .device_id = sqlite3_column_blob (st, 1),
            .user_id = sqlite3_column_blob (st, 2),
            .stream = (uint16_t) sqlite3_column_int (st, 3),
            .sequence = (uint64_t) sqlite3_column_int64 (st, 4),
            .received_ms = (uint64_t) sqlite3_column_int64 (st, 5),
            .sealed = sqlite3_column_blob (st, 6),
            .sealed_len = (size_t) sqlite3_column_bytes (st, 6),
        };
        if (sqlite3_column_type (st, 7) != SQLITE_NULL) {
            if (lazy) {
                f.sealed = NULL;
                f.sealed_len = (size_t) sqlite3_column_int64 (st, 9);
            }
            else if ((rc = s_read_payload (self, st, 7, &f)) != CW_OK)
                break;
        }
        self->each = st;
        rc = fn (ctx, &f);
        self->each = NULL;
        if (rc != CW_OK)
            break;
    }
    if (rc == CW_OK && r != SQLITE_DONE)
        rc = s_rc (r) == CW_OK ? CW_EIO : s_rc (r);
    sqlite3_finalize (st);
    return rc;
}

int
cw_store_segments_check (cw_store_t *self)
{
    if (!self)
        return CW_EINVAL;
    sqlite3_int64 first = 0, last = 0, end = 0;
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "SELECT seg FROM frames WHERE seg IS NOT NULL ORDER BY row"
                        " LIMIT 1", &st);
    if (rc == CW_OK && sqlite3_step (st) == SQLITE_ROW)
        first = sqlite3_column_int64 (st, 0);
    sqlite3_finalize (st);
    st = NULL;
    if (rc == CW_OK && (rc = s_prepare (self, "SELECT seg, seg_off + seg_len FROM frames"
                                        " WHERE seg IS NOT NULL ORDER BY row DESC LIMIT 1",
                                        &st)) == CW_OK
        && sqlite3_step (st) == SQLITE_ROW) {
        last = sqlite3_column_int64 (st, 0);
        end = sqlite3_column_int64 (st, 1);
    }
    sqlite3_finalize (st);
    if (rc != CW_OK || last == 0)
        return rc;          /* no payload in a segment yet */
    if (first <= 0 || first > last || last > UINT32_MAX) {
        snprintf (self->error, sizeof self->error, "bad segment numbers in the frames table");
        return CW_EIO;
    }
    cw_segments_t *seg = NULL;
    if ((rc = s_segments (self, &seg)) != CW_OK)
        return rc;
    uint64_t size = 0;
    for (sqlite3_int64 n = first; rc == CW_OK && n <= last; n++)
        if (cw_segments_size (seg, (uint32_t) n, &size) != CW_OK)
            rc = s_segment_fail (self, CW_EIO);
    if (rc == CW_OK && size < (uint64_t) end) {
        snprintf (self->error, sizeof self->error, "segment %08llx.seg is cut short: %llu bytes,"
                  " its last frame ends at %lld", (unsigned long long) last,
                  (unsigned long long) size, (long long) end);
        rc = CW_EIO;
    }
    return rc;
}

/*  Steps a DELETE ... RETURNING seg, seg_off, seg_len to the end, queueing the payloads it
 *  removed for wiping; finalizes it. *rows gets the rows deleted. */
static int
s_step_wipes (cw_store_t *self, sqlite3_stmt *st, uint64_t *rows)
{
    int r, rc = CW_OK;
    size_t before = self->wipe_count;
    *rows = 0;
    while (rc == CW_OK && (r = sqlite3_step (st)) == SQLITE_ROW) {
        rc = s_wipe_later (self, st, 0);
        (*rows)++;
    }
    if (rc == CW_OK && r != SQLITE_DONE)
        rc = s_rc (r) == CW_OK ? CW_EIO : s_rc (r);
    sqlite3_finalize (st);
    s_wipes_settle (self, before, rc);
    return rc;
}

int
cw_store_frame_delete_user (cw_store_t *self, const uint8_t *user_id, uint64_t *deleted)
{
    if (!self || !user_id)
        return CW_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "DELETE FROM frames WHERE user_id = ?1"
                        " RETURNING seg, seg_off, seg_len", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_TRANSIENT);
    uint64_t n = 0;
    rc = s_step_wipes (self, st, &n);
    if (deleted)
        *deleted = rc == CW_OK ? n : 0;
    return rc;
}

int
cw_store_frame_update (cw_store_t *self, int64_t row, const uint8_t *sealed, size_t sealed_len)
{
    if (!self || !sealed || sealed_len > INT32_MAX)
        return CW_EINVAL;
    /* the new payload stays in the row: rewrites are rare, and a segment is append-only */
    size_t before = self->wipe_count;
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "SELECT seg, seg_off, seg_len FROM frames WHERE row = ?1", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_int64 (st, 1, row);
    int r = sqlite3_step (st);
    rc = r == SQLITE_ROW ? s_wipe_later (self, st, 0) : r == SQLITE_DONE ? CW_ENOENT : s_rc (r);
    sqlite3_finalize (st);
    if (rc == CW_OK && (rc = s_prepare (self, "UPDATE frames SET sealed = ?2, seg = NULL,"
                                        " seg_off = NULL, seg_len = NULL WHERE row = ?1", &st))
                           == CW_OK) {
        sqlite3_bind_int64 (st, 1, row);
        sqlite3_bind_blob (st, 2, sealed, (int) sealed_len, SQLITE_TRANSIENT);
        rc = s_step_done (st);
    }
    s_wipes_settle (self, before, rc);
    return rc;
}

int
cw_store_frame_delete (cw_store_t *self, int64_t row)
{
    if (!self)
        return CW_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "DELETE FROM frames WHERE row = ?1 RETURNING seg, seg_off,"
                        " seg_len", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_int64 (st, 1, row);
    uint64_t n = 0;
    rc = s_step_wipes (self, st, &n);
    return rc == CW_OK && n == 0 ? CW_ENOENT : rc;
}

int
cw_store_counter_add (cw_store_t *self, const char *name, uint64_t delta)
{
    if (!self || !name || delta > INT64_MAX)
        return CW_EINVAL;
    sqlite3_stmt *st = self->counter_add;
    sqlite3_bind_text (st, 1, name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64 (st, 2, (sqlite3_int64) delta);
    return s_step_reset (st);
}

int
cw_store_counter_each (cw_store_t *self, cw_counter_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    int rc = s_prepare (self, "SELECT name, value FROM counters ORDER BY name", &st);
    if (rc != CW_OK)
        return rc;
    int r;
    while ((r = sqlite3_step (st)) == SQLITE_ROW)
        fn (ctx, (const char *) sqlite3_column_text (st, 0),
            (uint64_t) sqlite3_column_int64 (st, 1));
    rc = r == SQLITE_DONE ? CW_OK : s_rc (r);
    sqlite3_finalize (st);
    return rc;
}
