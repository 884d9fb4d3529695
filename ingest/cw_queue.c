/*  cw_queue.c - the bounded on-device queue of sealed frames, in SQLite (see cw_queue.h).
 *
 *  Durability: WAL journal with synchronous=FULL. NORMAL would survive an application crash but
 *  may lose the last transactions on power loss; losing a committed push after its frame was
 *  sent and acked would roll next_sequence back and hand the same sequence to a new batch,
 *  which the gateway would then ack as a duplicate and drop: silent data loss. FULL costs one
 *  WAL fsync per push, and the bookkeeping of a pump (sent marks, acks) is grouped into one
 *  transaction so it costs one more, not one per frame.
 *
 *  Totals (frames, bytes) are kept by triggers in the same transaction as the rows they count,
 *  so the bound check never scans the table and never drifts.
 */
#include "coachwire/cw_queue.h"
#include "coachwire/cw_envelope.h"
#include "coachwire/cw_error.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CW_QUEUE_SCHEMA_VERSION 1

struct _cw_queue_t {
    sqlite3 *db;              /* the queue database, WAL mode */
    uint64_t max_frames;      /* bound on queued frames */
    uint64_t max_bytes;       /* bound on queued frame bytes */
    int in_tx;                /* inside cw_queue_begin .. cw_queue_commit */
};

static const char *s_counter_names [CW_QUEUE_COUNTERS] = {
    "sent", "resent", "acked", "duplicates", "rejected", "dropped", "garbage", "backoffs"
};

static const char s_schema [] =
    "CREATE TABLE IF NOT EXISTS frames ("
    "  id INTEGER PRIMARY KEY,"
    "  stream INTEGER NOT NULL,"
    "  sequence INTEGER NOT NULL,"
    "  frame BLOB NOT NULL,"
    "  bytes INTEGER NOT NULL,"
    "  enqueued_ms INTEGER NOT NULL,"
    "  last_sent_ms INTEGER NOT NULL DEFAULT 0,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  UNIQUE (stream, sequence));"
    "CREATE INDEX IF NOT EXISTS frames_sent ON frames (last_sent_ms);"
    "CREATE TABLE IF NOT EXISTS streams ("
    "  stream INTEGER PRIMARY KEY,"
    "  next_sequence INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS counters ("
    "  name TEXT PRIMARY KEY,"
    "  value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS rejected_codes ("
    "  code INTEGER PRIMARY KEY,"
    "  count INTEGER NOT NULL,"
    "  last_reason TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS totals ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  frames INTEGER NOT NULL,"
    "  bytes INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO totals VALUES (1, 0, 0);"
    "CREATE TRIGGER IF NOT EXISTS frames_ins AFTER INSERT ON frames BEGIN"
    "  UPDATE totals SET frames = frames + 1, bytes = bytes + NEW.bytes WHERE id = 1; END;"
    "CREATE TRIGGER IF NOT EXISTS frames_del AFTER DELETE ON frames BEGIN"
    "  UPDATE totals SET frames = frames - 1, bytes = bytes - OLD.bytes WHERE id = 1; END;"
    "CREATE TABLE IF NOT EXISTS nudges ("
    "  id TEXT PRIMARY KEY,"
    "  received_ms INTEGER NOT NULL,"
    "  body BLOB NOT NULL,"
    "  acked INTEGER NOT NULL DEFAULT 0,"
    "  feedback INTEGER NOT NULL DEFAULT 0,"
    "  feedback_sent INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS ack_sequence ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  next INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO ack_sequence VALUES (1, 1);";

static int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
s_exec (cw_queue_t *self, const char *sql)
{
    return sqlite3_exec (self->db, sql, NULL, NULL, NULL) == SQLITE_OK ? CW_OK : CW_EIO;
}

static int
s_prepare (cw_queue_t *self, sqlite3_stmt **stmt, const char *sql)
{
    return sqlite3_prepare_v2 (self->db, sql, -1, stmt, NULL) == SQLITE_OK ? CW_OK : CW_EIO;
}

/*  Runs a prepared statement that returns no rows (or ignores them) and finalizes it. */
static int
s_step_done (sqlite3_stmt *stmt)
{
    int r = sqlite3_step (stmt);
    sqlite3_finalize (stmt);
    return r == SQLITE_DONE || r == SQLITE_ROW ? CW_OK : CW_EIO;
}

/*  Starts a write transaction unless the caller holds one (cw_queue_begin). */
static int
s_tx_begin (cw_queue_t *self)
{
    return self->in_tx ? CW_OK : s_exec (self, "BEGIN IMMEDIATE");
}

static int
s_tx_end (cw_queue_t *self, int rc)
{
    if (self->in_tx)
        return rc;
    if (rc == CW_OK) {
        if (s_exec (self, "COMMIT") == CW_OK)
            return CW_OK;
        rc = CW_EIO;
    }
    sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int
s_counter_add (cw_queue_t *self, cw_queue_counter_t which, uint64_t delta)
{
    sqlite3_stmt *stmt = NULL;
    if (s_prepare (self, &stmt, "INSERT INTO counters (name, value) VALUES (?1, ?2)"
                                " ON CONFLICT (name) DO UPDATE SET value = value + ?2") != CW_OK)
        return CW_EIO;
    sqlite3_bind_text (stmt, 1, s_counter_names [which], -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 2, (sqlite3_int64) delta);
    return s_step_done (stmt);
}

const char *
cw_queue_counter_name (cw_queue_counter_t which)
{
    if ((int) which < 0 || which >= CW_QUEUE_COUNTERS)
        return "?";
    return s_counter_names [which];
}

int
cw_queue_open (cw_queue_t **out, const char *path, uint64_t max_frames, uint64_t max_bytes)
{
    if (!out || !path || !*path)
        return CW_EINVAL;
    *out = NULL;
    int rc = CW_OK;
    cw_queue_t *self = calloc (1, sizeof *self);
    if (!self)
        return CW_ENOMEM;
    self->max_frames = max_frames ? max_frames : CW_QUEUE_DEFAULT_MAX_FRAMES;
    self->max_bytes = max_bytes ? max_bytes : CW_QUEUE_DEFAULT_MAX_BYTES;

    /*  Create the file owner-only before SQLite opens it: the WAL and shared-memory files take
     *  the database file's permissions. Frames are sealed, but timings and counts are not. */
    int fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = CW_EIO;
        goto done;
    }
    close (fd);
    if (sqlite3_open_v2 (path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                              | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        rc = CW_EIO;
        goto done;
    }
    sqlite3_busy_timeout (self->db, 5000);
    sqlite3_stmt *stmt = NULL;
    if ((rc = s_prepare (self, &stmt, "PRAGMA user_version")) != CW_OK)
        goto done;      /* SQLITE_NOTADB lands here */
    int version = sqlite3_step (stmt) == SQLITE_ROW ? sqlite3_column_int (stmt, 0) : -1;
    sqlite3_finalize (stmt);
    if (version < 0 || version > CW_QUEUE_SCHEMA_VERSION) {
        rc = CW_EIO;    /* unreadable, or written by a newer library */
        goto done;
    }
    if ((rc = s_exec (self, "PRAGMA journal_mode = WAL")) != CW_OK
        || (rc = s_exec (self, "PRAGMA synchronous = FULL")) != CW_OK
        || (rc = s_exec (self, "PRAGMA foreign_keys = OFF")) != CW_OK)
        goto done;
    if ((rc = s_exec (self, "BEGIN IMMEDIATE")) != CW_OK)
        goto done;
    rc = s_exec (self, s_schema);
    for (int i = 0; rc == CW_OK && i < CW_QUEUE_COUNTERS; i++) {
        if ((rc = s_prepare (self, &stmt, "INSERT OR IGNORE INTO counters VALUES (?1, 0)"))
            != CW_OK)
            break;
        sqlite3_bind_text (stmt, 1, s_counter_names [i], -1, SQLITE_STATIC);
        rc = s_step_done (stmt);
    }
    if (rc == CW_OK)
        rc = s_exec (self, "PRAGMA user_version = 1");
    rc = s_tx_end (self, rc);
done:
    if (rc != CW_OK)
        cw_queue_destroy (&self);
    *out = self;
    return rc;
}

void
cw_queue_destroy (cw_queue_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_queue_t *self = *self_p;
    if (self->db)
        sqlite3_close_v2 (self->db);
    free (self);
    *self_p = NULL;
}

static int
s_totals (cw_queue_t *self, uint64_t *frames, uint64_t *bytes)
{
    sqlite3_stmt *stmt = NULL;
    if (s_prepare (self, &stmt, "SELECT frames, bytes FROM totals WHERE id = 1") != CW_OK)
        return CW_EIO;
    int rc = CW_EIO;
    if (sqlite3_step (stmt) == SQLITE_ROW) {
        if (frames)
            *frames = (uint64_t) sqlite3_column_int64 (stmt, 0);
        if (bytes)
            *bytes = (uint64_t) sqlite3_column_int64 (stmt, 1);
        rc = CW_OK;
    }
    sqlite3_finalize (stmt);
    return rc;
}

static int
s_next_sequence (cw_queue_t *self, uint16_t stream, uint64_t *sequence)
{
    sqlite3_stmt *stmt = NULL;
    if (s_prepare (self, &stmt, "SELECT next_sequence FROM streams WHERE stream = ?1") != CW_OK)
        return CW_EIO;
    sqlite3_bind_int (stmt, 1, stream);
    int r = sqlite3_step (stmt);
    int rc = CW_OK;
    if (r == SQLITE_ROW)
        *sequence = (uint64_t) sqlite3_column_int64 (stmt, 0);
    else if (r == SQLITE_DONE)
        *sequence = 1;
    else
        rc = CW_EIO;
    sqlite3_finalize (stmt);
    return rc;
}

int
cw_queue_next_sequence (cw_queue_t *self, uint16_t stream, uint64_t *sequence)
{
    if (!self || !sequence)
        return CW_EINVAL;
    return s_next_sequence (self, stream, sequence);
}

int
cw_queue_push (cw_queue_t *self, uint16_t stream, size_t frame_len, cw_queue_seal_fn seal,
               void *seal_ctx, uint64_t *sequence)
{
    if (!self || !seal || self->in_tx || stream < CW_STREAM_MIN || stream > CW_STREAM_MAX
        || frame_len < CW_FRAME_OVERHEAD)
        return CW_EINVAL;
    if (frame_len > CW_FRAME_MAX_BYTES)
        return CW_ETOOBIG;
    int rc = CW_OK;
    uint8_t *frame = NULL;
    sqlite3_stmt *stmt = NULL;
    if ((rc = s_exec (self, "BEGIN IMMEDIATE")) != CW_OK)
        return rc;
    uint64_t frames = 0, bytes = 0, seq = 0;
    if ((rc = s_totals (self, &frames, &bytes)) != CW_OK)
        goto done;
    if (frames + 1 > self->max_frames || bytes + frame_len > self->max_bytes) {
        rc = CW_ENOSPC;
        goto done;
    }
    if ((rc = s_next_sequence (self, stream, &seq)) != CW_OK)
        goto done;
    if (seq == 0 || seq >= (uint64_t) INT64_MAX) {
        rc = CW_ERANGE;
        goto done;
    }
    frame = malloc (frame_len);
    if (!frame) {
        rc = CW_ENOMEM;
        goto done;
    }
    size_t len = 0;
    if ((rc = seal (seal_ctx, stream, seq, frame, frame_len, &len)) != CW_OK)
        goto done;
    if (len == 0 || len > frame_len) {
        rc = CW_EINTERNAL;
        goto done;
    }
    if ((rc = s_prepare (self, &stmt, "INSERT INTO frames (stream, sequence, frame, bytes,"
                                      " enqueued_ms) VALUES (?1, ?2, ?3, ?4, ?5)")) != CW_OK)
        goto done;
    sqlite3_bind_int (stmt, 1, stream);
    sqlite3_bind_int64 (stmt, 2, (sqlite3_int64) seq);
    sqlite3_bind_blob (stmt, 3, frame, (int) len, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 4, (sqlite3_int64) len);
    sqlite3_bind_int64 (stmt, 5, s_now_ms ());
    rc = s_step_done (stmt);
    stmt = NULL;
    if (rc != CW_OK)
        goto done;
    if ((rc = s_prepare (self, &stmt, "INSERT INTO streams (stream, next_sequence)"
                                      " VALUES (?1, ?2) ON CONFLICT (stream)"
                                      " DO UPDATE SET next_sequence = ?2")) != CW_OK)
        goto done;
    sqlite3_bind_int (stmt, 1, stream);
    sqlite3_bind_int64 (stmt, 2, (sqlite3_int64) (seq + 1));
    rc = s_step_done (stmt);
    stmt = NULL;
done:
    free (frame);
    if (stmt)
        sqlite3_finalize (stmt);
    if (rc == CW_OK) {
        if (s_exec (self, "COMMIT") != CW_OK) {
            sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
            return CW_EIO;
        }
        if (sequence)
            *sequence = seq;
        return CW_OK;
    }
    sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
    if (rc == CW_ENOSPC) {
        /*  Counted outside the rolled-back transaction: a drop is never silent. */
        if (s_counter_add (self, CW_QUEUE_DROPPED, 1) != CW_OK)
            return CW_EIO;
    }
    return rc;
}

void
cw_queue_frames_free (cw_queue_frame_t *frames, size_t count)
{
    if (!frames)
        return;
    for (size_t i = 0; i < count; i++) {
        free (frames [i].frame);
        memset (&frames [i], 0, sizeof frames [i]);
    }
}

int
cw_queue_due (cw_queue_t *self, int64_t now_ms, int64_t resend_timeout_ms,
              cw_queue_frame_t *out, size_t max, size_t *count)
{
    if (!self || !count || (!out && max))
        return CW_EINVAL;
    *count = 0;
    if (max == 0)
        return CW_OK;
    sqlite3_stmt *stmt = NULL;
    if (s_prepare (self, &stmt, "SELECT id, stream, sequence, attempts, frame FROM frames"
                                " WHERE last_sent_ms = 0 OR last_sent_ms <= ?1"
                                " OR last_sent_ms > ?3 ORDER BY id LIMIT ?2") != CW_OK)
        return CW_EIO;
    /*  A send time in the future means the wall clock went back: resend rather than wait. */
    sqlite3_bind_int64 (stmt, 1, now_ms - resend_timeout_ms);
    sqlite3_bind_int64 (stmt, 2, (sqlite3_int64) max);
    sqlite3_bind_int64 (stmt, 3, now_ms);
    int rc = CW_OK, r;
    size_t n = 0;
    while (n < max && (r = sqlite3_step (stmt)) == SQLITE_ROW) {
        cw_queue_frame_t *f = &out [n];
        memset (f, 0, sizeof *f);
        f->id = sqlite3_column_int64 (stmt, 0);
        f->stream = (uint16_t) sqlite3_column_int (stmt, 1);
        f->sequence = (uint64_t) sqlite3_column_int64 (stmt, 2);
        f->attempts = (uint32_t) sqlite3_column_int64 (stmt, 3);
        const void *blob = sqlite3_column_blob (stmt, 4);
        int blen = sqlite3_column_bytes (stmt, 4);
        if (!blob || blen <= 0) {
            rc = CW_EIO;
            break;
        }
        f->frame = malloc ((size_t) blen);
        if (!f->frame) {
            rc = CW_ENOMEM;
            break;
        }
        memcpy (f->frame, blob, (size_t) blen);
        f->frame_len = (size_t) blen;
        n++;
    }
    sqlite3_finalize (stmt);
    if (rc != CW_OK) {
        cw_queue_frames_free (out, n);
        return rc;
    }
    *count = n;
    return CW_OK;
}

int
cw_queue_mark_sent (cw_queue_t *self, const cw_queue_frame_t *frames, size_t count,
                    int64_t now_ms)
{
    if (!self || (!frames && count))
        return CW_EINVAL;
    if (count == 0)
        return CW_OK;
    int rc = s_tx_begin (self);
    if (rc != CW_OK)
        return rc;
    uint64_t first = 0, again = 0;
    sqlite3_stmt *stmt = NULL;
    if ((rc = s_prepare (self, &stmt, "UPDATE frames SET last_sent_ms = ?1,"
                                      " attempts = attempts + 1 WHERE id = ?2")) != CW_OK)
        return s_tx_end (self, rc);
    for (size_t i = 0; i < count; i++) {
        sqlite3_reset (stmt);
        sqlite3_bind_int64 (stmt, 1, now_ms > 0 ? now_ms : 1);
        sqlite3_bind_int64 (stmt, 2, frames [i].id);
        if (sqlite3_step (stmt) != SQLITE_DONE) {
            rc = CW_EIO;
            break;
        }
        if (sqlite3_changes (self->db) > 0) {
            if (frames [i].attempts == 0)
                first++;
            else
                again++;
        }
    }
    sqlite3_finalize (stmt);
    if (rc == CW_OK && first)
        rc = s_counter_add (self, CW_QUEUE_SENT, first);
    if (rc == CW_OK && again)
        rc = s_counter_add (self, CW_QUEUE_RESENT, again);
    return s_tx_end (self, rc);
}

int
cw_queue_in_flight (cw_queue_t *self, int64_t now_ms, int64_t resend_timeout_ms,
                    uint64_t *count)
{
    if (!self || !count)
        return CW_EINVAL;
    sqlite3_stmt *stmt = NULL;
    if (s_prepare (self, &stmt, "SELECT COUNT(*) FROM frames"
                                " WHERE last_sent_ms > 0 AND last_sent_ms > ?1"
                                " AND last_sent_ms <= ?2") != CW_OK)
        return CW_EIO;
    sqlite3_bind_int64 (stmt, 1, now_ms - resend_timeout_ms);
    sqlite3_bind_int64 (stmt, 2, now_ms);
    int rc = CW_EIO;
    if (sqlite3_step (stmt) == SQLITE_ROW) {
        *count = (uint64_t) sqlite3_column_int64 (stmt, 0);
        rc = CW_OK;
    }
    sqlite3_finalize (stmt);
    return rc;
}

int
cw_queue_reset_sent (cw_queue_t *self)
{
    if (!self)
        return CW_EINVAL;
    return s_exec (self, "UPDATE frames SET last_sent_ms = 0 WHERE last_sent_ms <> 0");
}

/*  Deletes (stream, sequence); *found says whether a row went. */
static int
s_delete (cw_queue_t *self, uint16_t stream, uint64_t sequence, int *found)
{
    *found = 0;
    if (sequence == 0 || sequence >= (uint64_t) INT64_MAX)
        return CW_OK;   /* not a sequence we could have queued */
    sqlite3_stmt *stmt = NULL;
    if (s_prepare (self, &stmt, "DELETE FROM frames WHERE stream = ?1 AND sequence = ?2")
        != CW_OK)
        return CW_EIO;
    sqlite3_bind_int (stmt, 1, stream);
    sqlite3_bind_int64 (stmt, 2, (sqlite3_int64) sequence);
    int r = sqlite3_step (stmt);
    sqlite3_finalize (stmt);
    if (r != SQLITE_DONE)
        return CW_EIO;
    *found = sqlite3_changes (self->db) > 0;
    return CW_OK;
}

int
cw_queue_ack (cw_queue_t *self, uint16_t stream, uint64_t sequence, int duplicate, int *found)
{
    if (!self)
        return CW_EINVAL;
    int here = 0;
    int rc = s_tx_begin (self);
    if (rc != CW_OK)
        return rc;
    rc = s_delete (self, stream, sequence, &here);
    if (rc == CW_OK && here)
        rc = s_counter_add (self, CW_QUEUE_ACKED, 1);
    if (rc == CW_OK && here && duplicate)
        rc = s_counter_add (self, CW_QUEUE_DUPLICATES, 1);
    rc = s_tx_end (self, rc);
    if (found)
        *found = rc == CW_OK && here;
    return rc;
}

int
cw_queue_reject (cw_queue_t *self, uint16_t stream, uint64_t sequence, int code,
                 const char *reason, int *found)
{
    if (!self)
        return CW_EINVAL;
    int here = 0;
    int rc = s_tx_begin (self);
    if (rc != CW_OK)
        return rc;
    rc = s_delete (self, stream, sequence, &here);
    if (rc == CW_OK && here)
        rc = s_counter_add (self, CW_QUEUE_REJECTED, 1);
    if (rc == CW_OK && here) {
        sqlite3_stmt *stmt = NULL;
        rc = s_prepare (self, &stmt, "INSERT INTO rejected_codes (code, count, last_reason)"
                                     " VALUES (?1, 1, ?2) ON CONFLICT (code) DO UPDATE"
                                     " SET count = count + 1, last_reason = ?2");
        if (rc == CW_OK) {
            /*  The reason comes from the network: store a bounded prefix. */
            size_t len = reason ? strnlen (reason, CW_QUEUE_REASON_MAX - 1) : 0;
            sqlite3_bind_int (stmt, 1, code);
            sqlite3_bind_text (stmt, 2, reason ? reason : "", (int) len, SQLITE_TRANSIENT);
            rc = s_step_done (stmt);
        }
    }
    rc = s_tx_end (self, rc);
    if (found)
        *found = rc == CW_OK && here;
    return rc;
}

int
cw_queue_count_event (cw_queue_t *self, cw_queue_counter_t which, uint64_t delta)
{
    if (!self || (int) which < 0 || which >= CW_QUEUE_COUNTERS)
        return CW_EINVAL;
    return s_counter_add (self, which, delta);
}

int
cw_queue_size (cw_queue_t *self, uint64_t *frames, uint64_t *bytes)
{
    if (!self)
        return CW_EINVAL;
    return s_totals (self, frames, bytes);
}

int
cw_queue_counters (cw_queue_t *self, cw_queue_counters_t *out)
{
    if (!self || !out)
        return CW_EINVAL;
    memset (out, 0, sizeof *out);
    sqlite3_stmt *stmt = NULL;
    if (s_prepare (self, &stmt, "SELECT name, value FROM counters") != CW_OK)
        return CW_EIO;
    int r;
    while ((r = sqlite3_step (stmt)) == SQLITE_ROW) {
        const char *name = (const char *) sqlite3_column_text (stmt, 0);
        for (int i = 0; name && i < CW_QUEUE_COUNTERS; i++)
            if (strcmp (name, s_counter_names [i]) == 0)
                out->value [i] = (uint64_t) sqlite3_column_int64 (stmt, 1);
    }
    sqlite3_finalize (stmt);
    return r == SQLITE_DONE ? CW_OK : CW_EIO;
}

int
cw_queue_rejected_codes (cw_queue_t *self, cw_queue_reject_count_t *out, size_t max,
                         size_t *count)
{
    if (!self || !count || (!out && max))
        return CW_EINVAL;
    *count = 0;
    sqlite3_stmt *stmt = NULL;
    if (s_prepare (self, &stmt, "SELECT code, count, last_reason FROM rejected_codes"
                                " ORDER BY count DESC, code LIMIT ?1") != CW_OK)
        return CW_EIO;
    sqlite3_bind_int64 (stmt, 1, (sqlite3_int64) max);
    int r;
    size_t n = 0;
    while (n < max && (r = sqlite3_step (stmt)) == SQLITE_ROW) {
        out [n].code = sqlite3_column_int (stmt, 0);
        out [n].count = (uint64_t) sqlite3_column_int64 (stmt, 1);
        const char *reason = (const char *) sqlite3_column_text (stmt, 2);
        snprintf (out [n].last_reason, sizeof out [n].last_reason, "%s", reason ? reason : "");
        n++;
    }
    sqlite3_finalize (stmt);
    *count = n;
    return CW_OK;
}

int
cw_queue_begin (cw_queue_t *self)
{
    if (!self || self->in_tx)
        return CW_ESTATE;
    int rc = s_exec (self, "BEGIN IMMEDIATE");
    if (rc == CW_OK)
        self->in_tx = 1;
    return rc;
}

int
cw_queue_commit (cw_queue_t *self)
{
    if (!self || !self->in_tx)
        return CW_ESTATE;
    self->in_tx = 0;
    return s_tx_end (self, CW_OK);
}

/*  -------------------------------------------------------------------------------------------
 *  Nudges received
 */

static int
s_nudge_id_valid (const char *id)
{
    if (!id || strlen (id) != CW_QUEUE_NUDGE_ID_HEX)
        return 0;
    for (const char *c = id; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return 0;
    return 1;
}

int
cw_queue_nudge_put (cw_queue_t *self, const char *id, int64_t received_ms, const uint8_t *body,
                    size_t len, int *is_new)
{
    if (is_new)
        *is_new = 0;
    if (!self || !s_nudge_id_valid (id) || (!body && len))
        return CW_EINVAL;
    if (len > CW_QUEUE_NUDGE_BODY_MAX)
        return CW_ETOOBIG;
    sqlite3_stmt *stmt = NULL;
    if (s_prepare (self, &stmt, "INSERT OR IGNORE INTO nudges (id, received_ms, body)"
                                " VALUES (?1, ?2, ?3)") != CW_OK)
        return CW_EIO;
    sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 2, received_ms);
    sqlite3_bind_blob (stmt, 3, len ? (const void *) body : "", (int) len, SQLITE_STATIC);
    int rc = s_step_done (stmt);
    if (rc == CW_OK && is_new)
        *is_new = sqlite3_changes (self->db) > 0;
    return rc;
}

int
cw_queue_nudge_feedback (cw_queue_t *self, const char *id, int reaction)
{
    if (!self || !s_nudge_id_valid (id) || reaction < 1 || reaction > 3)
        return CW_EINVAL;
    sqlite3_stmt *stmt = NULL;
    if (s_prepare (self, &stmt, "UPDATE nudges SET feedback = feedback | ?2 WHERE id = ?1")
        != CW_OK)
        return CW_EIO;
    sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int (stmt, 2, 1 << reaction);
    int rc = s_step_done (stmt);
    if (rc == CW_OK && sqlite3_changes (self->db) == 0)
        rc = CW_ENOENT;
    return rc;
}

int
cw_queue_nudge_sent (cw_queue_t *self, const char *id, int reaction)
{
    if (!self || !s_nudge_id_valid (id) || reaction < 0 || reaction > 3)
        return CW_EINVAL;
    sqlite3_stmt *stmt = NULL;
    if (s_prepare (self, &stmt, reaction == 0
                                    ? "UPDATE nudges SET acked = 1 WHERE id = ?1"
                                    : "UPDATE nudges SET feedback_sent = feedback_sent | ?2"
                                      " WHERE id = ?1") != CW_OK)
        return CW_EIO;
    sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
    if (reaction)
        sqlite3_bind_int (stmt, 2, 1 << reaction);
    return s_step_done (stmt);
}

int
cw_queue_nudges_each (cw_queue_t *self, int unsent_only, cw_queue_nudge_fn fn, void *ctx)
{
    if (!self || !fn)
        return CW_EINVAL;
    sqlite3_stmt *stmt = NULL;
    if (s_prepare (self, &stmt, "SELECT id, received_ms, body, acked, feedback, feedback_sent"
                                " FROM nudges WHERE ?1 = 0 OR acked = 0"
                                " OR (feedback & ~feedback_sent) != 0"
                                " ORDER BY received_ms, rowid") != CW_OK)
        return CW_EIO;
    sqlite3_bind_int (stmt, 1, unsent_only ? 1 : 0);
    int rc = CW_OK, r;
    while ((r = sqlite3_step (stmt)) == SQLITE_ROW) {
        const char *id = (const char *) sqlite3_column_text (stmt, 0);
        if (!s_nudge_id_valid (id))
            continue;
        cw_queue_nudge_t n;
        memset (&n, 0, sizeof n);
        memcpy (n.id, id, CW_QUEUE_NUDGE_ID_HEX + 1);
        n.received_ms = sqlite3_column_int64 (stmt, 1);
        n.body = sqlite3_column_blob (stmt, 2);
        n.body_len = (size_t) sqlite3_column_bytes (stmt, 2);
        n.acked = sqlite3_column_int (stmt, 3) != 0;
        n.feedback = (unsigned) sqlite3_column_int (stmt, 4);
        n.feedback_sent = (unsigned) sqlite3_column_int (stmt, 5);
        if ((rc = fn (ctx, &n)) != 0)
            break;
    }
    if (rc == CW_OK && r != SQLITE_DONE)
        rc = CW_EIO;
    sqlite3_finalize (stmt);
    return rc;
}

int
cw_queue_ack_sequence (cw_queue_t *self, uint64_t *sequence)
{
    if (!self || !sequence)
        return CW_EINVAL;
    int rc = s_tx_begin (self);
    if (rc != CW_OK)
        return rc;
    sqlite3_stmt *stmt = NULL;
    rc = s_prepare (self, &stmt, "SELECT next FROM ack_sequence WHERE id = 1");
    if (rc == CW_OK) {
        rc = sqlite3_step (stmt) == SQLITE_ROW ? CW_OK : CW_EIO;
        if (rc == CW_OK)
            *sequence = (uint64_t) sqlite3_column_int64 (stmt, 0);
        sqlite3_finalize (stmt);
    }
    if (rc == CW_OK && (*sequence == 0 || *sequence >= (uint64_t) INT64_MAX))
        rc = CW_ENOSPC;
    if (rc == CW_OK && (rc = s_prepare (self, &stmt, "UPDATE ack_sequence SET next = next + 1"
                                                     " WHERE id = 1")) == CW_OK)
        rc = s_step_done (stmt);
    return s_tx_end (self, rc);
}
