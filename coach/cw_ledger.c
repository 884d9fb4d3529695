/*  cw_ledger.c - the hash-chained, signed consent ledger (see cw_ledger.h).
 *
 *  Writing: a receipt body built with cw_json (fixed key order, so the same receipt is always
 *  the same bytes), chained to the person's last entry and signed. Reading: a small strict
 *  parser for exactly the export line shape; nothing else is accepted.
 */
#include "coachwire/cw_ledger.h"
#include "coachwire/cw_catalog.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_json.h"

#include <inttypes.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_TEXT_MAX 256u

struct _cw_ledger_t {
    cw_store_t *store;                          /* borrowed; its connection holds the table */
    sqlite3 *db;                                /* cw_store_sqlite (store) */
    uint8_t *secret;                            /* Ed25519 secret key, sodium_malloc'd */
    uint8_t public_key [CW_LEDGER_PUBLIC_KEY_BYTES];
    char controller [S_TEXT_MAX];               /* named in every receipt */
    char contact [S_TEXT_MAX];
    char jurisdiction [S_TEXT_MAX];
};

static const char *s_schema =
    "CREATE TABLE IF NOT EXISTS ledger ("
    " user_id BLOB NOT NULL,"
    " position INTEGER NOT NULL,"
    " ts_ms INTEGER NOT NULL,"
    " kind TEXT NOT NULL,"
    " body TEXT NOT NULL,"
    " prev_hash BLOB NOT NULL,"
    " hash BLOB NOT NULL,"
    " signature BLOB NOT NULL,"
    " PRIMARY KEY (user_id, position)) WITHOUT ROWID;";

/*  Kinds: name and the state a receipt of that kind records. Indexed by cw_ledger_kind_t. */
static const struct {
    const char *name;
    const char *state;
} s_kinds [] = {
    { NULL, NULL },
    { "grant", "granted" },
    { "revoke", "withdrawn" },
    { "export", "exported" },
    { "erase", "erased" },
};
#define S_KIND_COUNT (sizeof s_kinds / sizeof s_kinds [0])

const char *
cw_ledger_kind_name (cw_ledger_kind_t kind)
{
    return kind >= 1 && (size_t) kind < S_KIND_COUNT ? s_kinds [kind].name : NULL;
}

const char *
cw_ledger_kind_state (cw_ledger_kind_t kind)
{
    return kind >= 1 && (size_t) kind < S_KIND_COUNT ? s_kinds [kind].state : NULL;
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
cw_ledger_open (cw_ledger_t **out, cw_store_t *store, const uint8_t *signing_secret)
{
    if (!out || !store || !signing_secret)
        return CW_EINVAL;
    *out = NULL;
    if (sodium_init () < 0)
        return CW_EINTERNAL;
    int rc = CW_OK;
    cw_ledger_t *self = calloc (1, sizeof *self);
    if (!self)
        return CW_ENOMEM;
    self->store = store;
    self->db = cw_store_sqlite (store);
    self->secret = sodium_malloc (CW_LEDGER_SECRET_KEY_BYTES);
    if (!self->secret) {
        rc = CW_ENOMEM;
        goto done;
    }
    memcpy (self->secret, signing_secret, CW_LEDGER_SECRET_KEY_BYTES);
    if (crypto_sign_ed25519_sk_to_pk (self->public_key, self->secret) != 0) {
        rc = CW_EINVAL;
        goto done;
    }
    snprintf (self->controller, sizeof self->controller, "Coachwire");
    snprintf (self->contact, sizeof self->contact, "the operator of this Coachwire service");
    snprintf (self->jurisdiction, sizeof self->jurisdiction, "EU");
    rc = s_rc (sqlite3_exec (self->db, s_schema, NULL, NULL, NULL));
done:
    if (rc != CW_OK)
        cw_ledger_destroy (&self);
    *out = self;
    return rc;
}

void
cw_ledger_destroy (cw_ledger_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_ledger_t *self = *self_p;
    sodium_free (self->secret);     /* wipes */
    free (self);
    *self_p = NULL;
}

const uint8_t *
cw_ledger_public_key (const cw_ledger_t *self)
{
    return self->public_key;
}

int
cw_ledger_set_controller (cw_ledger_t *self, const char *name, const char *contact,
                          const char *jurisdiction)
{
    if (!self || (name && (strlen (name) >= S_TEXT_MAX || !*name))
        || (contact && strlen (contact) >= S_TEXT_MAX)
        || (jurisdiction && strlen (jurisdiction) >= S_TEXT_MAX))
        return CW_EINVAL;
    if (name)
        snprintf (self->controller, sizeof self->controller, "%s", name);
    if (contact)
        snprintf (self->contact, sizeof self->contact, "%s", contact);
    if (jurisdiction)
        snprintf (self->jurisdiction, sizeof self->jurisdiction, "%s", jurisdiction);
    return CW_OK;
}

/*  ISO 8601 UTC with milliseconds: 2024-05-01T06:30:00.000Z */
static void
s_iso_time (uint64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t) (ms / 1000u);
    struct tm tm;
    if (!gmtime_r (&secs, &tm)) {
        snprintf (buf, size, "invalid");
        return;
    }
    snprintf (buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
              tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
              (unsigned) (ms % 1000u));
}

static void
s_hex (const uint8_t *bin, size_t n, char *hex, size_t hex_size)
{
    sodium_bin2hex (hex, hex_size, bin, n);
}

static bool
s_receipt_valid (const cw_receipt_t *r)
{
    if (!cw_ledger_kind_name (r->kind) || r->n_purposes > CW_LEDGER_LIST_MAX
        || r->n_fields > CW_LEDGER_LIST_MAX || r->n_grant_ids > CW_LEDGER_LIST_MAX
        || (r->n_purposes && !r->purposes) || (r->n_fields && !r->fields)
        || (r->n_grant_ids && !r->grant_ids))
        return false;
    for (size_t i = 0; i < r->n_purposes; i++)
        if (!r->purposes [i] || !*r->purposes [i] || strlen (r->purposes [i]) >= S_TEXT_MAX)
            return false;
    for (size_t i = 0; i < r->n_fields; i++)
        if (!cw_catalog_find (r->fields [i]))
            return false;
    return true;
}

/*  The canonical receipt body. Key order is part of the format: never reorder. */
static int
s_body (cw_ledger_t *self, const uint8_t *user_id, const cw_receipt_t *r,
        const uint8_t *receipt_id, cw_json_t *json)
{
    char hex [2 * CW_ID_BYTES + 1];
    char when [128];
    bool sensitive = false;
    for (size_t i = 0; i < r->n_fields; i++)
        if (cw_catalog_find (r->fields [i])->sensitivity == CW_SENSITIVITY_HIGH)
            sensitive = true;

    cw_json_object_begin (json, NULL);
    cw_json_string (json, "schema", "coachwire-consent-receipt/1");
    s_hex (receipt_id, CW_LEDGER_RECEIPT_ID_BYTES, hex, sizeof hex);
    cw_json_string (json, "receipt_id", hex);
    cw_json_string (json, "kind", cw_ledger_kind_name (r->kind));
    cw_json_string (json, "state", cw_ledger_kind_state (r->kind));
    s_iso_time (r->ts_ms, when, sizeof when);
    cw_json_string (json, "timestamp", when);
    cw_json_uint (json, "timestamp_ms", r->ts_ms);
    cw_json_object_begin (json, "controller");
    cw_json_string (json, "name", self->controller);
    cw_json_string (json, "contact", self->contact);
    cw_json_object_end (json);
    cw_json_object_begin (json, "subject");
    s_hex (user_id, CW_ID_BYTES, hex, sizeof hex);
    cw_json_string (json, "id", hex);
    cw_json_object_end (json);
    cw_json_string (json, "jurisdiction", self->jurisdiction);
    cw_json_string (json, "legal_basis", "consent");
    cw_json_string (json, "collection_method", "explicit request by the subject");
    cw_json_object_begin (json, "policy");
    cw_json_uint (json, "version", r->policy_version);
    cw_json_object_end (json);
    cw_json_array_begin (json, "purposes");
    for (size_t p = 0; p < r->n_purposes; p++) {
        cw_json_object_begin (json, NULL);
        cw_json_string (json, "purpose", r->purposes [p]);
        if (r->purpose_texts && r->purpose_texts [p])
            cw_json_string (json, "description", r->purpose_texts [p]);
        cw_json_string (json, "consent_type", "explicit");
        cw_json_array_begin (json, "data_categories");
        for (size_t f = 0; f < r->n_fields; f++)
            cw_json_string (json, NULL, r->fields [f]);
        cw_json_array_end (json);
        cw_json_object_end (json);
    }
    cw_json_array_end (json);
    if (r->n_purposes == 0) {
        /* export and erase name their data categories without a purpose */
        cw_json_array_begin (json, "data_categories");
        for (size_t f = 0; f < r->n_fields; f++)
            cw_json_string (json, NULL, r->fields [f]);
        cw_json_array_end (json);
    }
    cw_json_bool (json, "sensitive", sensitive);
    cw_json_array_begin (json, "grant_ids");
    for (size_t g = 0; g < r->n_grant_ids; g++) {
        s_hex (r->grant_ids + g * CW_ID_BYTES, CW_ID_BYTES, hex, sizeof hex);
        cw_json_string (json, NULL, hex);
    }
    cw_json_array_end (json);
    cw_json_uint (json, "expires_ms", r->expires_ms);
    if (r->expires_ms) {
        s_iso_time (r->expires_ms, when, sizeof when);
        cw_json_string (json, "expires", when);
    }
    else
        cw_json_null (json, "expires");
    if (r->note)
        cw_json_string (json, "note", r->note);
    cw_json_object_end (json);
    return cw_json_error (json);
}

/*  The person's last hash and next position (zeros and 0 for an empty ledger). */
static int
s_tail (cw_ledger_t *self, const uint8_t *user_id, uint8_t *prev_hash, uint64_t *next)
{
    sqlite3_stmt *st = NULL;
    int rc = s_rc (sqlite3_prepare_v2 (self->db,
        "SELECT position, hash FROM ledger WHERE user_id = ?1 ORDER BY position DESC LIMIT 1",
        -1, &st, NULL));
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    memset (prev_hash, 0, CW_LEDGER_HASH_BYTES);
    *next = 0;
    int r = sqlite3_step (st);
    if (r == SQLITE_ROW) {
        if (sqlite3_column_bytes (st, 1) != (int) CW_LEDGER_HASH_BYTES
            || sqlite3_column_int64 (st, 0) < 0)
            rc = CW_EIO;
        else {
            memcpy (prev_hash, sqlite3_column_blob (st, 1), CW_LEDGER_HASH_BYTES);
            *next = (uint64_t) sqlite3_column_int64 (st, 0) + 1;
        }
    }
    else if (r != SQLITE_DONE)
        rc = s_rc (r);
    sqlite3_finalize (st);
    return rc;
}

static void
s_chain_hash (const uint8_t *prev_hash, const uint8_t *body, size_t body_len, uint8_t *hash)
{
    crypto_generichash_state h;
    crypto_generichash_init (&h, NULL, 0, CW_LEDGER_HASH_BYTES);
    crypto_generichash_update (&h, prev_hash, CW_LEDGER_HASH_BYTES);
    crypto_generichash_update (&h, body, body_len);
    crypto_generichash_final (&h, hash, CW_LEDGER_HASH_BYTES);
}

int
cw_ledger_append (cw_ledger_t *self, const uint8_t *user_id, const cw_receipt_t *receipt,
                  cw_ledger_entry_t *out)
{
    if (!self || !user_id || !receipt || !s_receipt_valid (receipt))
        return CW_EINVAL;
    if (sqlite3_get_autocommit (self->db))
        return CW_ESTATE;           /* the change and its receipt must commit together */
    int rc = CW_OK;
    cw_json_t *json = NULL;
    sqlite3_stmt *st = NULL;
    cw_ledger_entry_t entry;
    uint8_t prev_hash [CW_LEDGER_HASH_BYTES];
    memset (&entry, 0, sizeof entry);
    randombytes_buf (entry.receipt_id, sizeof entry.receipt_id);

    if ((rc = cw_json_new (&json, CW_LEDGER_BODY_MAX)) != CW_OK)
        goto done;
    if ((rc = s_body (self, user_id, receipt, entry.receipt_id, json)) != CW_OK)
        goto done;
    size_t body_len = 0;
    const char *body = cw_json_text (json, &body_len);
    if (!body) {
        rc = CW_EINTERNAL;
        goto done;
    }
    if ((rc = s_tail (self, user_id, prev_hash, &entry.position)) != CW_OK)
        goto done;
    s_chain_hash (prev_hash, (const uint8_t *) body, body_len, entry.hash);
    crypto_sign_detached (entry.signature, NULL, entry.hash, sizeof entry.hash, self->secret);

    rc = s_rc (sqlite3_prepare_v2 (self->db,
        "INSERT INTO ledger (user_id, position, ts_ms, kind, body, prev_hash, hash, signature)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", -1, &st, NULL));
    if (rc != CW_OK)
        goto done;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, (sqlite3_int64) entry.position);
    sqlite3_bind_int64 (st, 3, (sqlite3_int64) receipt->ts_ms);
    sqlite3_bind_text (st, 4, cw_ledger_kind_name (receipt->kind), -1, SQLITE_STATIC);
    sqlite3_bind_text (st, 5, body, (int) body_len, SQLITE_STATIC);
    sqlite3_bind_blob (st, 6, prev_hash, sizeof prev_hash, SQLITE_STATIC);
    sqlite3_bind_blob (st, 7, entry.hash, sizeof entry.hash, SQLITE_STATIC);
    sqlite3_bind_blob (st, 8, entry.signature, sizeof entry.signature, SQLITE_STATIC);
    int r = sqlite3_step (st);
    rc = r == SQLITE_DONE ? CW_OK : s_rc (r);
    if (rc == CW_OK && r != SQLITE_DONE)
        rc = CW_EIO;
    if (rc == CW_OK && out)
        *out = entry;
done:
    sqlite3_finalize (st);
    cw_json_destroy (&json);
    return rc;
}

int
cw_ledger_count (cw_ledger_t *self, const uint8_t *user_id, uint64_t *count)
{
    if (!self || !user_id || !count)
        return CW_EINVAL;
    uint8_t hash [CW_LEDGER_HASH_BYTES];
    return s_tail (self, user_id, hash, count);
}

/*  Formats the row st is on (columns: position, body, prev_hash, hash, signature) as one
 *  export line into *line (malloc'd, NUL-terminated, no newline) and *len. */
static int
s_line (cw_ledger_t *self, sqlite3_stmt *st, char **line, size_t *len)
{
    if (sqlite3_column_bytes (st, 2) != (int) CW_LEDGER_HASH_BYTES
        || sqlite3_column_bytes (st, 3) != (int) CW_LEDGER_HASH_BYTES
        || sqlite3_column_bytes (st, 4) != (int) CW_LEDGER_SIGNATURE_BYTES
        || sqlite3_column_int64 (st, 0) < 0)
        return CW_EIO;
    const char *body = (const char *) sqlite3_column_text (st, 1);
    if (!body)
        return CW_EIO;
    char hex [2 * CW_LEDGER_SIGNATURE_BYTES + 1];
    cw_json_t *json = NULL;
    int rc = cw_json_new (&json, CW_LEDGER_LINE_MAX);
    if (rc != CW_OK)
        return rc;
    cw_json_object_begin (json, NULL);
    cw_json_uint (json, "position", (uint64_t) sqlite3_column_int64 (st, 0));
    cw_json_string (json, "body", body);
    s_hex (sqlite3_column_blob (st, 2), CW_LEDGER_HASH_BYTES, hex, sizeof hex);
    cw_json_string (json, "prev_hash", hex);
    s_hex (sqlite3_column_blob (st, 3), CW_LEDGER_HASH_BYTES, hex, sizeof hex);
    cw_json_string (json, "hash", hex);
    s_hex (sqlite3_column_blob (st, 4), CW_LEDGER_SIGNATURE_BYTES, hex, sizeof hex);
    cw_json_string (json, "signature", hex);
    s_hex (self->public_key, CW_LEDGER_PUBLIC_KEY_BYTES, hex, sizeof hex);
    cw_json_string (json, "public_key", hex);
    cw_json_object_end (json);
    size_t n = 0;
    const char *text = cw_json_text (json, &n);
    if (!text)
        rc = cw_json_error (json) ? cw_json_error (json) : CW_EINTERNAL;
    else {
        *line = malloc (n + 1);
        if (!*line)
            rc = CW_ENOMEM;
        else {
            memcpy (*line, text, n + 1);
            *len = n;
        }
    }
    cw_json_destroy (&json);
    return rc;
}

int
cw_ledger_line (cw_ledger_t *self, const uint8_t *user_id, uint64_t position, char **line,
                size_t *len)
{
    if (!self || !user_id || !line || !len || position > INT64_MAX)
        return CW_EINVAL;
    *line = NULL;
    *len = 0;
    sqlite3_stmt *st = NULL;
    int rc = s_rc (sqlite3_prepare_v2 (self->db,
        "SELECT position, body, prev_hash, hash, signature FROM ledger"
        " WHERE user_id = ?1 AND position = ?2", -1, &st, NULL));
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, (sqlite3_int64) position);
    int r = sqlite3_step (st);
    if (r == SQLITE_ROW)
        rc = s_line (self, st, line, len);
    else
        rc = r == SQLITE_DONE ? CW_ENOENT : s_rc (r);
    sqlite3_finalize (st);
    return rc;
}

int
cw_ledger_export (cw_ledger_t *self, const uint8_t *user_id, char **text, size_t *len)
{
    if (!self || !user_id || !text || !len)
        return CW_EINVAL;
    *text = NULL;
    *len = 0;
    sqlite3_stmt *st = NULL;
    char *buf = calloc (1, 1);
    size_t used = 0;
    int rc = buf ? CW_OK : CW_ENOMEM;
    if (rc != CW_OK)
        goto done;
    rc = s_rc (sqlite3_prepare_v2 (self->db,
        "SELECT position, body, prev_hash, hash, signature FROM ledger"
        " WHERE user_id = ?1 ORDER BY position", -1, &st, NULL));
    if (rc != CW_OK)
        goto done;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    int r;
    while ((r = sqlite3_step (st)) == SQLITE_ROW) {
        char *line = NULL;
        size_t n = 0;
        if ((rc = s_line (self, st, &line, &n)) != CW_OK)
            goto done;
        if (used + n + 1 > CW_LEDGER_EXPORT_MAX) {
            free (line);
            rc = CW_ETOOBIG;
            goto done;
        }
        char *grown = realloc (buf, used + n + 2);
        if (!grown) {
            free (line);
            rc = CW_ENOMEM;
            goto done;
        }
        buf = grown;
        memcpy (buf + used, line, n);
        buf [used + n] = '\n';
        buf [used + n + 1] = 0;
        used += n + 1;
        free (line);
    }
    if (r != SQLITE_DONE)
        rc = s_rc (r) ? s_rc (r) : CW_EIO;
done:
    sqlite3_finalize (st);
    if (rc == CW_OK) {
        *text = buf;
        *len = used;
    }
    else
        free (buf);
    return rc;
}

/* ---------------------------------------------------------------------------------------- */
/*  Offline verification: a strict parser for the export line shape.                        */

typedef struct {
    const char *p;              /* next byte */
    const char *end;            /* one past the line */
} s_cursor_t;

static void
s_ws (s_cursor_t *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

static bool
s_expect (s_cursor_t *c, char ch)
{
    s_ws (c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

static int
s_hexval (char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

static bool
s_u4 (s_cursor_t *c, uint32_t *v)
{
    if (c->end - c->p < 4)
        return false;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = s_hexval (c->p [i]);
        if (h < 0)
            return false;
        *v = (*v << 4) | (uint32_t) h;
    }
    c->p += 4;
    return true;
}

/*  Parses a JSON string into out (capacity cap; the unescaped text is never longer than the
 *  escaped one, so the line length is always enough). Sets *n; NUL-terminates. */
static bool
s_string (s_cursor_t *c, char *out, size_t cap, size_t *n)
{
    s_ws (c);
    if (c->p >= c->end || *c->p != '"')
        return false;
    c->p++;
    size_t k = 0;
    while (c->p < c->end) {
        unsigned char ch = (unsigned char) *c->p++;
        if (ch == '"') {
            if (k >= cap)
                return false;
            out [k] = 0;
            *n = k;
            return true;
        }
        if (ch < 0x20)
            return false;
        if (ch != '\\') {
            if (k + 1 >= cap)
                return false;
            out [k++] = (char) ch;
            continue;
        }
        if (c->p >= c->end)
            return false;
        char e = *c->p++;
        char simple = e == '"' ? '"' : e == '\\' ? '\\' : e == '/' ? '/' : e == 'b' ? '\b'
                    : e == 'f' ? '\f' : e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : 0;
        if (simple) {
            if (k + 1 >= cap)
                return false;
            out [k++] = simple;
            continue;
        }
        if (e != 'u')
            return false;
        uint32_t cp;
        if (!s_u4 (c, &cp))
            return false;
        if (cp >= 0xdc00 && cp <= 0xdfff)
            return false;                   /* a lone low surrogate */
        if (cp >= 0xd800 && cp <= 0xdbff) {
            uint32_t lo;
            if (c->end - c->p < 2 || c->p [0] != '\\' || c->p [1] != 'u')
                return false;
            c->p += 2;
            if (!s_u4 (c, &lo) || lo < 0xdc00 || lo > 0xdfff)
                return false;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        uint8_t u [4];
        size_t m;
        if (cp < 0x80) {
            u [0] = (uint8_t) cp;
            m = 1;
        }
        else if (cp < 0x800) {
            u [0] = (uint8_t) (0xc0 | (cp >> 6));
            u [1] = (uint8_t) (0x80 | (cp & 0x3f));
            m = 2;
        }
        else if (cp < 0x10000) {
            u [0] = (uint8_t) (0xe0 | (cp >> 12));
            u [1] = (uint8_t) (0x80 | ((cp >> 6) & 0x3f));
            u [2] = (uint8_t) (0x80 | (cp & 0x3f));
            m = 3;
        }
        else {
            u [0] = (uint8_t) (0xf0 | (cp >> 18));
            u [1] = (uint8_t) (0x80 | ((cp >> 12) & 0x3f));
            u [2] = (uint8_t) (0x80 | ((cp >> 6) & 0x3f));
            u [3] = (uint8_t) (0x80 | (cp & 0x3f));
            m = 4;
        }
        if (k + m >= cap)
            return false;
        memcpy (out + k, u, m);
        k += m;
    }
    return false;                           /* no closing quote: truncated */
}

/*  A non-negative integer without sign, fraction or leading zeros, at most 2^53. */
static bool
s_uint (s_cursor_t *c, uint64_t *v)
{
    s_ws (c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9')
        return false;
    if (*c->p == '0' && c->end - c->p > 1 && c->p [1] >= '0' && c->p [1] <= '9')
        return false;
    *v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        *v = *v * 10 + (uint64_t) (*c->p - '0');
        if (*v > (1ull << 53))
            return false;
        c->p++;
    }
    return true;
}

/*  Exactly size bytes from a string of 2 * size hex digits. */
static bool
s_hex_field (s_cursor_t *c, char *scratch, size_t scratch_cap, uint8_t *bin, size_t size)
{
    size_t n = 0;
    if (!s_string (c, scratch, scratch_cap, &n) || n != 2 * size)
        return false;
    for (size_t i = 0; i < size; i++) {
        int hi = s_hexval (scratch [2 * i]);
        int lo = s_hexval (scratch [2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        bin [i] = (uint8_t) (hi << 4 | lo);
    }
    return true;
}

typedef struct {
    uint64_t position;
    char *body;                 /* unescaped, NUL-terminated; owned by the caller */
    size_t body_len;
    uint8_t prev_hash [CW_LEDGER_HASH_BYTES];
    uint8_t hash [CW_LEDGER_HASH_BYTES];
    uint8_t signature [CW_LEDGER_SIGNATURE_BYTES];
    uint8_t public_key [CW_LEDGER_PUBLIC_KEY_BYTES];
} s_line_t;

/*  Parses one line into out (out->body has room for the line's length + 1). Each of the
 *  six keys exactly once, in any order; nothing else. Returns NULL or what is wrong. */
static const char *
s_parse_line (const char *text, size_t len, s_line_t *out)
{
    static const char *keys [] = { "position", "body", "prev_hash", "hash", "signature",
                                   "public_key" };
    s_cursor_t c = { text, text + len };
    char key [16];
    char scratch [2 * CW_LEDGER_SIGNATURE_BYTES + 1];
    unsigned seen = 0;
    if (!s_expect (&c, '{'))
        return "the line is not a JSON object";
    for (size_t i = 0; i < 6; i++) {
        if (i > 0 && !s_expect (&c, ','))
            return "a member is missing or the line is truncated";
        size_t n = 0;
        if (!s_string (&c, key, sizeof key, &n))
            return "a key is malformed, unknown or truncated";
        size_t k = 0;
        while (k < 6 && strcmp (keys [k], key) != 0)
            k++;
        if (k == 6 || strlen (key) != n)
            return "an unknown key";
        if (seen & (1u << k))
            return "a key appears twice";
        seen |= 1u << k;
        if (!s_expect (&c, ':'))
            return "a ':' is missing";
        bool ok;
        switch (k) {
            case 0: ok = s_uint (&c, &out->position); break;
            case 1:
                ok = s_string (&c, out->body, len + 1, &out->body_len)
                     && out->body_len <= CW_LEDGER_BODY_MAX;
                break;
            case 2: ok = s_hex_field (&c, scratch, sizeof scratch, out->prev_hash,
                                      CW_LEDGER_HASH_BYTES); break;
            case 3: ok = s_hex_field (&c, scratch, sizeof scratch, out->hash,
                                      CW_LEDGER_HASH_BYTES); break;
            case 4: ok = s_hex_field (&c, scratch, sizeof scratch, out->signature,
                                      CW_LEDGER_SIGNATURE_BYTES); break;
            default: ok = s_hex_field (&c, scratch, sizeof scratch, out->public_key,
                                       CW_LEDGER_PUBLIC_KEY_BYTES); break;
        }
        if (!ok)
            return k == 0 ? "position is not a non-negative integer"
                 : k == 1 ? "body is not a complete JSON string (or is too long)"
                          : "a hash, signature or key is not hex of the right length";
    }
    if (!s_expect (&c, '}'))
        return "the object is not closed (truncated) or has extra members";
    s_ws (&c);
    if (c.p != c.end)
        return "bytes follow the object";
    return NULL;
}

static int
s_verify_fail (char *reason, size_t size, int rc, const char *fmt, ...)
{
    if (reason && size) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (reason, size, fmt, ap);
        va_end (ap);
    }
    return rc;
}

int
cw_ledger_verify_jsonl (const char *text, size_t len, const uint8_t *public_key,
                        size_t *entries, size_t *bad_position, char *reason, size_t reason_size)
{
    if (entries)
        *entries = 0;
    if (bad_position)
        *bad_position = 0;
    if (reason && reason_size)
        reason [0] = 0;
    if (!text && len)
        return CW_EINVAL;
    if (sodium_init () < 0)
        return CW_EINTERNAL;
    int rc = CW_OK;
    size_t index = 0;
    uint8_t prev [CW_LEDGER_HASH_BYTES] = { 0 };
    uint8_t key [CW_LEDGER_PUBLIC_KEY_BYTES];
    uint8_t hash [CW_LEDGER_HASH_BYTES];
    s_line_t line;
    memset (&line, 0, sizeof line);
    size_t at = 0;
    while (at < len) {
        const char *nl = memchr (text + at, '\n', len - at);
        size_t n = nl ? (size_t) (nl - (text + at)) : len - at;
        const char *start = text + at;
        at += n + (nl ? 1 : 0);
        if (n > 0 && start [n - 1] == '\r')
            n--;
        if (n == 0) {
            rc = s_verify_fail (reason, reason_size, CW_EDECODE,
                                "position %zu: malformed line: empty", index);
            goto done;
        }
        if (n > CW_LEDGER_LINE_MAX) {
            rc = s_verify_fail (reason, reason_size, CW_EDECODE,
                                "position %zu: line longer than %u bytes", index,
                                (unsigned) CW_LEDGER_LINE_MAX);
            goto done;
        }
        line.body = malloc (n + 1);
        if (!line.body) {
            rc = s_verify_fail (reason, reason_size, CW_ENOMEM, "position %zu: out of memory",
                                index);
            goto done;
        }
        const char *why = s_parse_line (start, n, &line);
        if (why) {
            rc = s_verify_fail (reason, reason_size, CW_EDECODE,
                                "position %zu: malformed line: %s", index, why);
            goto done;
        }
        if (line.position != index) {
            rc = s_verify_fail (reason, reason_size, CW_EAUTH,
                                "position %zu: the entry says position %" PRIu64 " (an entry "
                                "was removed, inserted or reordered here)", index, line.position);
            goto done;
        }
        if (sodium_memcmp (line.prev_hash, prev, sizeof prev) != 0) {
            rc = s_verify_fail (reason, reason_size, CW_EAUTH,
                                "position %zu: prev_hash is not the hash of the entry before "
                                "(an entry was removed, reordered or edited)", index);
            goto done;
        }
        s_chain_hash (line.prev_hash, (const uint8_t *) line.body, line.body_len, hash);
        if (sodium_memcmp (hash, line.hash, sizeof hash) != 0) {
            rc = s_verify_fail (reason, reason_size, CW_EAUTH,
                                "position %zu: hash does not match prev_hash and body "
                                "(the entry was edited)", index);
            goto done;
        }
        if (index == 0)
            memcpy (key, public_key ? public_key : line.public_key, sizeof key);
        if (sodium_memcmp (key, line.public_key, sizeof key) != 0) {
            rc = s_verify_fail (reason, reason_size, CW_EAUTH,
                                "position %zu: signed by a key other than %s", index,
                                public_key ? "the service key given" : "the first entry's");
            goto done;
        }
        if (crypto_sign_verify_detached (line.signature, line.hash, sizeof line.hash, key)
            != 0) {
            rc = s_verify_fail (reason, reason_size, CW_EAUTH,
                                "position %zu: the signature does not verify", index);
            goto done;
        }
        memcpy (prev, line.hash, sizeof prev);
        free (line.body);
        line.body = NULL;
        index++;
    }
done:
    free (line.body);
    if (entries)
        *entries = index;
    if (bad_position && rc != CW_OK)
        *bad_position = index;
    return rc;
}
