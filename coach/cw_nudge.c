/*  cw_nudge.c - nudges, their disclosure, the nudge store, feedback and effectiveness
 *  (see include/coachwire/cw_nudge.h). */
#include "coachwire/cw_nudge.h"
#include "coachwire/cw_catalog.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_pb.h"
#include "cw_engine_internal.h"

#include "api.pb-c.h"

#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_UNPACK_BUDGET (64u * 1024u)

struct _cw_nudges_t {
    cw_store_t *store;                  /* not owned */
    sqlite3 *db;                        /* the store's connection */
};

static const char *s_state_names [] = { NULL, "pending", "delivered", "acked", "expired",
                                        "withdrawn" };
static const char *s_feedback_names [] = { NULL, "opened", "dismissed", "helpful" };

const char *
cw_nudge_state_name (cw_nudge_state_t state)
{
    return state >= CW_NUDGE_PENDING && state <= CW_NUDGE_WITHDRAWN ? s_state_names [state]
                                                                    : NULL;
}

const char *
cw_feedback_name (cw_feedback_t kind)
{
    return kind >= CW_FEEDBACK_OPENED && kind <= CW_FEEDBACK_HELPFUL ? s_feedback_names [kind]
                                                                     : NULL;
}

int
cw_feedback_parse (const char *name, cw_feedback_t *out)
{
    for (int k = CW_FEEDBACK_OPENED; name && out && k <= CW_FEEDBACK_HELPFUL; k++)
        if (strcmp (s_feedback_names [k], name) == 0) {
            *out = (cw_feedback_t) k;
            return CW_OK;
        }
    return CW_EINVAL;
}

#define S_COPY(dst, src) snprintf ((dst), sizeof (dst), "%s", (src) ? (src) : "")

int
cw_nudge_build (cw_nudge_t *out, const cw_candidate_t *c, const cw_decision_t *d,
                const char *locale, uint64_t ttl_ms)
{
    if (!out || !c || !c->rule || !c->user_id || !d)
        return CW_EINVAL;
    if (!d->sent)
        return CW_ESTATE;
    const cw_rule_t *rule = c->rule;
    const cw_goal_type_info_t *goal = cw_goal_type_info (rule->goal);
    cw_locale_t lang = cw_locale_pick (locale);
    memset (out, 0, sizeof *out);
    randombytes_buf (out->id, CW_ID_BYTES);
    memcpy (out->user_id, c->user_id, CW_ID_BYTES);
    S_COPY (out->rule, rule->id);
    out->state = CW_NUDGE_PENDING;
    out->created_ms = c->now_ms;
    out->expires_ms = c->now_ms + (ttl_ms ? ttl_ms : CW_NUDGE_DEFAULT_TTL_MS);
    S_COPY (out->locale, cw_locale_name (lang));
    out->priority = rule->priority;
    int rc = cw_rule_render (rule, lang, &c->fire, out->message, sizeof out->message);
    if (rc != CW_OK)
        return rc;
    S_COPY (out->why.trigger, cw_trigger_name (rule->trigger));
    S_COPY (out->why.goal, goal->name);
    S_COPY (out->why.metric, goal->metric);
    S_COPY (out->why.unit, goal->unit);
    out->why.observed = c->fire.observed;
    out->why.target_lo = c->fire.target_lo;
    out->why.target_hi = c->fire.target_hi;
    cw_rule_target_text (rule, &c->fire, out->why.target, sizeof out->why.target);
    out->why.window_start_ms = c->fire.window_start_ms;
    out->why.window_end_ms = c->fire.window_end_ms;
    cw_rule_window_text (rule, &c->fire, lang, out->why.window, sizeof out->why.window);
    out->n_uses = d->n_uses;
    memcpy (out->uses, d->uses, d->n_uses * sizeof d->uses [0]);
    return CW_OK;
}

int
cw_nudge_pack (const cw_nudge_t *self, uint8_t **buf, size_t *len)
{
    if (!self || !buf || !len || self->n_uses > CW_RULE_MAX_FIELDS)
        return CW_EINVAL;
    *buf = NULL;
    *len = 0;
    Coachwire__FieldUse uses [CW_RULE_MAX_FIELDS];
    Coachwire__FieldUse *use_ptrs [CW_RULE_MAX_FIELDS];
    for (size_t i = 0; i < self->n_uses; i++) {
        const cw_field_use_t *u = &self->uses [i];
        coachwire__field_use__init (&uses [i]);
        uses [i].field = (char *) u->field;
        uses [i].purpose = (char *) u->purpose;
        uses [i].grant_id.data = (uint8_t *) u->grant_id;
        uses [i].grant_id.len = CW_ID_BYTES;
        uses [i].policy_version = u->policy_version;
        uses [i].window_start_ms = u->window_start_ms;
        uses [i].window_end_ms = u->window_end_ms;
        uses [i].samples = u->samples;
        use_ptrs [i] = &uses [i];
    }
    Coachwire__Disclosure disclosure = COACHWIRE__DISCLOSURE__INIT;
    disclosure.n_fields = self->n_uses;
    disclosure.fields = use_ptrs;
    Coachwire__Why why = COACHWIRE__WHY__INIT;
    why.rule = (char *) self->rule;
    why.trigger = (char *) self->why.trigger;
    why.goal = (char *) self->why.goal;
    why.metric = (char *) self->why.metric;
    why.unit = (char *) self->why.unit;
    why.observed = self->why.observed;
    why.target_low = self->why.target_lo;
    why.target_high = self->why.target_hi;
    why.target = (char *) self->why.target;
    why.window_start_ms = self->why.window_start_ms;
    why.window_end_ms = self->why.window_end_ms;
    why.window = (char *) self->why.window;
    Coachwire__Nudge msg = COACHWIRE__NUDGE__INIT;
    msg.id.data = (uint8_t *) self->id;
    msg.id.len = CW_ID_BYTES;
    msg.user_id.data = (uint8_t *) self->user_id;
    msg.user_id.len = CW_ID_BYTES;
    msg.rule = (char *) self->rule;
    msg.created_ms = self->created_ms;
    msg.expires_ms = self->expires_ms;
    msg.locale = (char *) self->locale;
    msg.message = (char *) self->message;
    msg.why = &why;
    msg.disclosure = &disclosure;
    msg.priority = self->priority;
    size_t size = coachwire__nudge__get_packed_size (&msg);
    uint8_t *out = malloc (size ? size : 1);
    if (!out)
        return CW_ENOMEM;
    *len = coachwire__nudge__pack (&msg, out);
    *buf = out;
    return CW_OK;
}

int
cw_nudge_unpack (const uint8_t *buf, size_t len, cw_nudge_t *out)
{
    if (!buf || !out)
        return CW_EINVAL;
    ProtobufCMessage *base = NULL;
    int rc = cw_pb_unpack (&coachwire__nudge__descriptor, buf, len, CW_NUDGE_BODY_MAX,
                           S_UNPACK_BUDGET, &base);
    if (rc != CW_OK)
        return rc;
    Coachwire__Nudge *msg = (Coachwire__Nudge *) base;
    memset (out, 0, sizeof *out);
    if (msg->id.len != CW_ID_BYTES || msg->user_id.len != CW_ID_BYTES
        || (msg->disclosure && msg->disclosure->n_fields > CW_RULE_MAX_FIELDS)) {
        rc = CW_ERANGE;
        goto done;
    }
    memcpy (out->id, msg->id.data, CW_ID_BYTES);
    memcpy (out->user_id, msg->user_id.data, CW_ID_BYTES);
    S_COPY (out->rule, msg->rule);
    out->state = CW_NUDGE_PENDING;
    out->created_ms = msg->created_ms;
    out->expires_ms = msg->expires_ms;
    S_COPY (out->locale, msg->locale);
    out->priority = msg->priority;
    S_COPY (out->message, msg->message);
    if (msg->why) {
        S_COPY (out->why.trigger, msg->why->trigger);
        S_COPY (out->why.goal, msg->why->goal);
        S_COPY (out->why.metric, msg->why->metric);
        S_COPY (out->why.unit, msg->why->unit);
        out->why.observed = msg->why->observed;
        out->why.target_lo = msg->why->target_low;
        out->why.target_hi = msg->why->target_high;
        S_COPY (out->why.target, msg->why->target);
        out->why.window_start_ms = msg->why->window_start_ms;
        out->why.window_end_ms = msg->why->window_end_ms;
        S_COPY (out->why.window, msg->why->window);
    }
    for (size_t i = 0; msg->disclosure && i < msg->disclosure->n_fields; i++) {
        const Coachwire__FieldUse *f = msg->disclosure->fields [i];
        cw_field_use_t *u = &out->uses [out->n_uses++];
        S_COPY (u->field, f->field);
        S_COPY (u->purpose, f->purpose);
        if (f->grant_id.len == CW_ID_BYTES)
            memcpy (u->grant_id, f->grant_id.data, CW_ID_BYTES);
        u->policy_version = f->policy_version;
        u->window_start_ms = f->window_start_ms;
        u->window_end_ms = f->window_end_ms;
        u->samples = f->samples;
    }
done:
    cw_pb_free (&base);
    return rc;
}

//  ---- Text and JSON --------------------------------------------------------------------

static void
s_utc (uint64_t ms, char *buf, size_t size)
{
    time_t t = (time_t) (ms / 1000u);
    struct tm tm;
    if (!gmtime_r (&t, &tm))
        snprintf (buf, size, "%llu ms", (unsigned long long) ms);
    else
        snprintf (buf, size, "%04d-%02d-%02d %02d:%02d:%02dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void
s_hex (const uint8_t *bytes, size_t n, char *out)
{
    static const char digits [] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out [2 * i] = digits [bytes [i] >> 4];
        out [2 * i + 1] = digits [bytes [i] & 15];
    }
    out [2 * n] = '\0';
}

typedef struct {
    char *buf;
    size_t len, cap;
    bool failed;
} s_text_t;

static void s_add (s_text_t *t, const char *fmt, ...) __attribute__((format (printf, 2, 3)));

static void
s_add (s_text_t *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    va_list ap;
    va_start (ap, fmt);
    char piece [1024];
    int n = vsnprintf (piece, sizeof piece, fmt, ap);
    va_end (ap);
    if (n < 0 || (size_t) n >= sizeof piece) {
        t->failed = true;
        return;
    }
    if (t->len + (size_t) n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 2048;
        while (cap < t->len + (size_t) n + 1)
            cap *= 2;
        char *grown = realloc (t->buf, cap);
        if (!grown) {
            t->failed = true;
            return;
        }
        t->buf = grown;
        t->cap = cap;
    }
    memcpy (t->buf + t->len, piece, (size_t) n + 1);
    t->len += (size_t) n;
}

int
cw_nudge_text (const cw_nudge_t *self, char **text)
{
    return cw_nudge_text_redacted (self, NULL, 0, text);
}

int
cw_nudge_text_redacted (const cw_nudge_t *self, const char *const *hidden, size_t n_hidden,
                        char **text)
{
    if (!self || !text || (n_hidden && !hidden))
        return CW_EINVAL;
    *text = NULL;
    s_text_t t = { 0 };
    char id [2 * CW_ID_BYTES + 1], a [80], b [80];
    s_hex (self->id, CW_ID_BYTES, id);
    s_utc (self->created_ms, a, sizeof a);
    s_utc (self->expires_ms, b, sizeof b);
    const char *state = cw_nudge_state_name (self->state);
    s_add (&t, "nudge %s  rule %s  %s  created %s  expires %s\n", id, self->rule,
           state ? state : "?", a, b);
    s_utc (self->why.window_start_ms, a, sizeof a);
    s_utc (self->why.window_end_ms, b, sizeof b);
    if (n_hidden) {
        s_add (&t, "  [%s] (%s)\n", self->locale, CW_NUDGE_HIDDEN_TEXT);
        s_add (&t, "  why: rule %s (%s on goal %s): %s (%s) against target %s %s, window %s"
               " (%s .. %s)\n", self->rule, self->why.trigger, self->why.goal,
               self->why.metric, CW_NUDGE_HIDDEN_TEXT, self->why.target, self->why.unit,
               self->why.window, a, b);
    }
    else {
        s_add (&t, "  [%s] %s\n", self->locale, self->message);
        s_add (&t, "  why: rule %s (%s on goal %s): %s %.2f %s against target %s %s, window %s"
               " (%s .. %s)\n", self->rule, self->why.trigger, self->why.goal,
               self->why.metric, self->why.observed, self->why.unit, self->why.target,
               self->why.unit, self->why.window, a, b);
    }
    s_add (&t, "  disclosure: %zu field%s used\n", self->n_uses + n_hidden,
           self->n_uses + n_hidden == 1 ? "" : "s");
    for (size_t i = 0; i < n_hidden; i++)
        s_add (&t, "    %s  %s\n", hidden [i] ? hidden [i] : "?", CW_NUDGE_HIDDEN_TEXT);
    for (size_t i = 0; i < self->n_uses; i++) {
        const cw_field_use_t *u = &self->uses [i];
        char grant [2 * CW_ID_BYTES + 1];
        s_hex (u->grant_id, CW_ID_BYTES, grant);
        s_utc (u->window_start_ms, a, sizeof a);
        s_utc (u->window_end_ms, b, sizeof b);
        s_add (&t, "    %s  purpose %s  grant %s  policy v%u  window %s .. %s  samples %u\n",
               u->field, u->purpose, grant, u->policy_version, a, b, u->samples);
    }
    if (t.failed) {
        free (t.buf);
        return CW_ENOMEM;
    }
    *text = t.buf;
    return CW_OK;
}

//  JSON numbers through cw_json: integers only, so values are written as their text.
static void
s_json_number (cw_json_t *json, const char *key, double v)
{
    char num [48];
    snprintf (num, sizeof num, "%.6g", v);
    cw_json_string (json, key, num);
}

void
cw_nudge_json (const cw_nudge_t *self, cw_json_t *json, const char *key)
{
    if (!self || !json)
        return;
    char hex [2 * CW_ID_BYTES + 1];
    cw_json_object_begin (json, key);
    s_hex (self->id, CW_ID_BYTES, hex);
    cw_json_string (json, "id", hex);
    s_hex (self->user_id, CW_ID_BYTES, hex);
    cw_json_string (json, "user_id", hex);
    cw_json_string (json, "rule", self->rule);
    cw_json_string (json, "state", cw_nudge_state_name (self->state));
    cw_json_uint (json, "created_ms", self->created_ms);
    cw_json_uint (json, "expires_ms", self->expires_ms);
    cw_json_string (json, "locale", self->locale);
    cw_json_uint (json, "priority", self->priority);
    cw_json_string (json, "message", self->message);
    cw_json_object_begin (json, "why");
    cw_json_string (json, "rule", self->rule);
    cw_json_string (json, "trigger", self->why.trigger);
    cw_json_string (json, "goal", self->why.goal);
    cw_json_string (json, "metric", self->why.metric);
    cw_json_string (json, "unit", self->why.unit);
    s_json_number (json, "observed", self->why.observed);
    s_json_number (json, "target_low", self->why.target_lo);
    s_json_number (json, "target_high", self->why.target_hi);
    cw_json_string (json, "target", self->why.target);
    cw_json_uint (json, "window_start_ms", self->why.window_start_ms);
    cw_json_uint (json, "window_end_ms", self->why.window_end_ms);
    cw_json_string (json, "window", self->why.window);
    cw_json_object_end (json);
    cw_json_array_begin (json, "disclosure");
    for (size_t i = 0; i < self->n_uses; i++) {
        const cw_field_use_t *u = &self->uses [i];
        cw_json_object_begin (json, NULL);
        cw_json_string (json, "field", u->field);
        cw_json_string (json, "purpose", u->purpose);
        s_hex (u->grant_id, CW_ID_BYTES, hex);
        cw_json_string (json, "grant_id", hex);
        cw_json_uint (json, "policy_version", u->policy_version);
        cw_json_uint (json, "window_start_ms", u->window_start_ms);
        cw_json_uint (json, "window_end_ms", u->window_end_ms);
        cw_json_uint (json, "samples", u->samples);
        cw_json_object_end (json);
    }
    cw_json_array_end (json);
    cw_json_object_end (json);
}

//  ---- The store ------------------------------------------------------------------------

static const char s_schema [] =
    "CREATE TABLE IF NOT EXISTS nudges ("
    "  id BLOB PRIMARY KEY, user_id BLOB NOT NULL, rule TEXT NOT NULL, state INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, changed_ms INTEGER NOT NULL,"
    "  body BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS nudges_by_user ON nudges (user_id, state, created_ms);"
    "CREATE TABLE IF NOT EXISTS nudge_fields ("
    "  nudge_id BLOB NOT NULL, field TEXT NOT NULL, PRIMARY KEY (nudge_id, field));"
    "CREATE TABLE IF NOT EXISTS nudge_feedback ("
    "  nudge_id BLOB NOT NULL, kind INTEGER NOT NULL, at_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (nudge_id, kind));"
    "CREATE TABLE IF NOT EXISTS nudge_outcomes ("
    "  nudge_id BLOB PRIMARY KEY, before REAL NOT NULL, after REAL NOT NULL,"
    "  at_ms INTEGER NOT NULL);";

int
cw_nudges_open (cw_nudges_t **out, cw_store_t *store)
{
    if (!out || !store)
        return CW_EINVAL;
    *out = NULL;
    cw_nudges_t *self = calloc (1, sizeof *self);
    if (!self)
        return CW_ENOMEM;
    self->store = store;
    self->db = cw_store_sqlite (store);
    int rc = cw_sql_exec (self->db, s_schema);
    if (rc != CW_OK)
        cw_nudges_destroy (&self);
    *out = self;
    return rc;
}

void
cw_nudges_destroy (cw_nudges_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

int
cw_nudges_put (cw_nudges_t *self, const cw_nudge_t *nudge)
{
    if (!self || !nudge)
        return CW_EINVAL;
    uint8_t *body = NULL;
    size_t len = 0;
    sqlite3_stmt *st = NULL;
    int rc = cw_nudge_pack (nudge, &body, &len);
    if (rc != CW_OK)
        return rc;
    if ((rc = cw_sql_savepoint (self->db, "nudges_put")) != CW_OK)
        goto done;
    if ((rc = cw_sql_prepare (self->db,
             "INSERT INTO nudges VALUES (?1, ?2, ?3, 1, ?4, ?5, ?4, ?6)", &st)) != CW_OK)
        goto rollback;
    sqlite3_bind_blob (st, 1, nudge->id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob (st, 2, nudge->user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_text (st, 3, nudge->rule, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 4, (sqlite3_int64) nudge->created_ms);
    sqlite3_bind_int64 (st, 5, (sqlite3_int64) nudge->expires_ms);
    sqlite3_bind_blob (st, 6, body, (int) len, SQLITE_STATIC);
    rc = cw_sql_step_done (st);
    st = NULL;
    for (size_t i = 0; rc == CW_OK && i < nudge->n_uses; i++) {
        if ((rc = cw_sql_prepare (self->db,
                 "INSERT OR IGNORE INTO nudge_fields VALUES (?1, ?2)", &st)) != CW_OK)
            break;
        sqlite3_bind_blob (st, 1, nudge->id, CW_ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_text (st, 2, nudge->uses [i].field, -1, SQLITE_STATIC);
        rc = cw_sql_step_done (st);
        st = NULL;
    }
rollback:
    if (rc == CW_OK)
        rc = cw_sql_release (self->db, "nudges_put");
    if (rc != CW_OK)
        cw_sql_rollback_to (self->db, "nudges_put");
done:
    free (body);
    return rc;
}

//  Decodes the current row (id, state, body) of st into out.
static int
s_row (sqlite3_stmt *st, cw_nudge_t *out)
{
    const void *body = sqlite3_column_blob (st, 2);
    int len = sqlite3_column_bytes (st, 2);
    if (!body || len <= 0)
        return CW_EIO;
    int rc = cw_nudge_unpack (body, (size_t) len, out);
    if (rc != CW_OK)
        return CW_EIO;
    out->state = (cw_nudge_state_t) sqlite3_column_int (st, 1);
    return CW_OK;
}

int
cw_nudges_get (cw_nudges_t *self, const uint8_t *id, cw_nudge_t *out)
{
    if (!self || !id || !out)
        return CW_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_prepare (self->db, "SELECT id, state, body FROM nudges WHERE id = ?1", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, id, CW_ID_BYTES, SQLITE_STATIC);
    int r = sqlite3_step (st);
    rc = r == SQLITE_ROW ? s_row (st, out) : r == SQLITE_DONE ? CW_ENOENT : cw_sql_rc (r);
    sqlite3_finalize (st);
    return rc;
}

int
cw_nudges_each (cw_nudges_t *self, const uint8_t *user_id, cw_nudge_state_t state, size_t limit,
                cw_nudge_fn fn, void *ctx)
{
    if (!self || !user_id || !fn)
        return CW_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_prepare (self->db,
        "SELECT id, state, body FROM nudges WHERE user_id = ?1 AND (?2 = 0 OR state = ?2)"
        " ORDER BY created_ms, rowid LIMIT ?3", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int (st, 2, (int) state);
    sqlite3_bind_int64 (st, 3, limit ? (sqlite3_int64) limit : -1);
    int r;
    cw_nudge_t *nudge = malloc (sizeof *nudge);
    if (!nudge) {
        sqlite3_finalize (st);
        return CW_ENOMEM;
    }
    while ((r = sqlite3_step (st)) == SQLITE_ROW)
        if (s_row (st, nudge) == CW_OK)
            fn (ctx, nudge);
    rc = r == SQLITE_DONE ? CW_OK : cw_sql_rc (r);
    sqlite3_finalize (st);
    free (nudge);
    return rc;
}

//  Moves a nudge to state `to` when its state is in the `from` mask (1 << state) and, when
//  user_id is not NULL, it belongs to user_id. *was gets the state before.
static int
s_move (cw_nudges_t *self, const uint8_t *user_id, const uint8_t *id, unsigned from,
        cw_nudge_state_t to, uint64_t now_ms, cw_nudge_state_t *was)
{
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_prepare (self->db, "SELECT state, user_id FROM nudges WHERE id = ?1", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, id, CW_ID_BYTES, SQLITE_STATIC);
    int r = sqlite3_step (st);
    if (r != SQLITE_ROW) {
        sqlite3_finalize (st);
        return r == SQLITE_DONE ? CW_ENOENT : cw_sql_rc (r);
    }
    cw_nudge_state_t state = (cw_nudge_state_t) sqlite3_column_int (st, 0);
    bool owner = !user_id || (sqlite3_column_bytes (st, 1) == (int) CW_ID_BYTES
                              && memcmp (sqlite3_column_blob (st, 1), user_id, CW_ID_BYTES) == 0);
    sqlite3_finalize (st);
    if (was)
        *was = state;
    if (!owner)
        return CW_EDENIED;
    if (!(from & (1u << state)))
        return CW_ESTATE;
    if ((rc = cw_sql_prepare (self->db,
             "UPDATE nudges SET state = ?2, changed_ms = ?3 WHERE id = ?1", &st)) != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int (st, 2, (int) to);
    sqlite3_bind_int64 (st, 3, (sqlite3_int64) now_ms);
    return cw_sql_step_done (st);
}

int
cw_nudges_delivered (cw_nudges_t *self, const uint8_t *id, uint64_t now_ms)
{
    if (!self || !id)
        return CW_EINVAL;
    return s_move (self, NULL, id, 1u << CW_NUDGE_PENDING, CW_NUDGE_DELIVERED, now_ms, NULL);
}

int
cw_nudges_acked (cw_nudges_t *self, const uint8_t *user_id, const uint8_t *id, uint64_t now_ms)
{
    if (!self || !user_id || !id)
        return CW_EINVAL;
    cw_nudge_state_t was = 0;
    int rc = s_move (self, user_id, id, (1u << CW_NUDGE_PENDING) | (1u << CW_NUDGE_DELIVERED),
                     CW_NUDGE_ACKED, now_ms, &was);
    return rc == CW_ESTATE && was == CW_NUDGE_ACKED ? CW_OK : rc;
}

int
cw_nudges_expire (cw_nudges_t *self, uint64_t now_ms, size_t *count)
{
    if (!self)
        return CW_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_prepare (self->db,
        "UPDATE nudges SET state = 4, changed_ms = ?1 WHERE state IN (1, 2)"
        " AND expires_ms <= ?1", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_int64 (st, 1, (sqlite3_int64) now_ms);
    rc = cw_sql_step_done (st);
    if (count)
        *count = rc == CW_OK ? (size_t) sqlite3_changes (self->db) : 0;
    return rc;
}

int
cw_nudges_withdraw_field (cw_nudges_t *self, const uint8_t *user_id, const char *field,
                          uint64_t now_ms, size_t *count)
{
    if (!self || !user_id || !field)
        return CW_EINVAL;
    if (count)
        *count = 0;
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_savepoint (self->db, "nudges_withdraw");
    if (rc != CW_OK)
        return rc;
    //  Which pending nudges used a matching field (patterns are matched here, in C, by the
    //  catalog's own rule, so "meal.*" means exactly what it means for consent).
    if ((rc = cw_sql_prepare (self->db,
             "SELECT DISTINCT f.nudge_id, f.field FROM nudge_fields f JOIN nudges n"
             " ON n.id = f.nudge_id WHERE n.user_id = ?1 AND n.state = 1", &st)) != CW_OK)
        goto done;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    size_t n = 0, cap = 0;
    uint8_t (*ids) [CW_ID_BYTES] = NULL;
    int r;
    while ((r = sqlite3_step (st)) == SQLITE_ROW) {
        const char *used = (const char *) sqlite3_column_text (st, 1);
        if (sqlite3_column_bytes (st, 0) != (int) CW_ID_BYTES || !cw_catalog_matches (field, used))
            continue;
        if (n == cap) {
            size_t grown_cap = cap ? cap * 2 : 16;
            void *grown = realloc (ids, grown_cap * CW_ID_BYTES);
            if (!grown) {
                rc = CW_ENOMEM;
                break;
            }
            ids = grown;
            cap = grown_cap;
        }
        memcpy (ids [n++], sqlite3_column_blob (st, 0), CW_ID_BYTES);
    }
    if (rc == CW_OK && r != SQLITE_DONE)
        rc = cw_sql_rc (r);
    sqlite3_finalize (st);
    st = NULL;
    size_t dropped = 0;
    for (size_t i = 0; rc == CW_OK && i < n; i++) {
        rc = s_move (self, user_id, ids [i], 1u << CW_NUDGE_PENDING, CW_NUDGE_WITHDRAWN, now_ms,
                     NULL);
        if (rc == CW_ESTATE)
            rc = CW_OK;         // the same nudge listed for two matching fields
        else if (rc == CW_OK)
            dropped++;
    }
    free (ids);
    if (rc == CW_OK && count)
        *count = dropped;
done:
    sqlite3_finalize (st);
    if (rc == CW_OK)
        rc = cw_sql_release (self->db, "nudges_withdraw");
    if (rc != CW_OK)
        cw_sql_rollback_to (self->db, "nudges_withdraw");
    return rc;
}

int
cw_nudges_feedback (cw_nudges_t *self, const uint8_t *user_id, const uint8_t *id,
                    cw_feedback_t kind, uint64_t now_ms)
{
    if (!self || !user_id || !id || !cw_feedback_name (kind))
        return CW_EINVAL;
    //  Ownership first: a device gives feedback on its person's nudges only.
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_prepare (self->db, "SELECT user_id FROM nudges WHERE id = ?1", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, id, CW_ID_BYTES, SQLITE_STATIC);
    int r = sqlite3_step (st);
    if (r != SQLITE_ROW)
        rc = r == SQLITE_DONE ? CW_ENOENT : cw_sql_rc (r);
    else if (sqlite3_column_bytes (st, 0) != (int) CW_ID_BYTES
             || memcmp (sqlite3_column_blob (st, 0), user_id, CW_ID_BYTES) != 0)
        rc = CW_EDENIED;
    sqlite3_finalize (st);
    if (rc != CW_OK)
        return rc;
    if ((rc = cw_sql_prepare (self->db,
             "INSERT OR IGNORE INTO nudge_feedback VALUES (?1, ?2, ?3)", &st)) != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int (st, 2, (int) kind);
    sqlite3_bind_int64 (st, 3, (sqlite3_int64) now_ms);
    return cw_sql_step_done (st);
}

int
cw_nudges_outcome (cw_nudges_t *self, const uint8_t *id, double before, double after,
                   uint64_t now_ms)
{
    if (!self || !id || !isfinite (before) || !isfinite (after))
        return CW_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_prepare (self->db,
        "INSERT OR REPLACE INTO nudge_outcomes SELECT id, ?2, ?3, ?4 FROM nudges WHERE id = ?1",
        &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_double (st, 2, before);
    sqlite3_bind_double (st, 3, after);
    sqlite3_bind_int64 (st, 4, (sqlite3_int64) now_ms);
    rc = cw_sql_step_done (st);
    if (rc == CW_OK && sqlite3_changes (self->db) == 0)
        rc = CW_ENOENT;
    return rc;
}

int
cw_nudges_effectiveness_each (cw_nudges_t *self, const uint8_t *user_id, uint64_t since_ms,
                              cw_effectiveness_fn fn, void *ctx)
{
    if (!self || !fn)
        return CW_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_prepare (self->db,
        "SELECT n.rule, COUNT (*), SUM (n.state IN (2, 3)),"
        " SUM (EXISTS (SELECT 1 FROM nudge_feedback f WHERE f.nudge_id = n.id AND f.kind = 1)),"
        " SUM (EXISTS (SELECT 1 FROM nudge_feedback f WHERE f.nudge_id = n.id AND f.kind = 2)),"
        " SUM (EXISTS (SELECT 1 FROM nudge_feedback f WHERE f.nudge_id = n.id AND f.kind = 3)),"
        " COUNT (o.nudge_id), COALESCE (AVG (o.after - o.before), 0)"
        " FROM nudges n LEFT JOIN nudge_outcomes o ON o.nudge_id = n.id"
        " WHERE n.created_ms >= ?1 AND (?2 IS NULL OR n.user_id = ?2)"
        " GROUP BY n.rule ORDER BY n.rule", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_int64 (st, 1, (sqlite3_int64) since_ms);
    if (user_id)
        sqlite3_bind_blob (st, 2, user_id, CW_ID_BYTES, SQLITE_STATIC);
    else
        sqlite3_bind_null (st, 2);
    int r;
    while ((r = sqlite3_step (st)) == SQLITE_ROW) {
        cw_effectiveness_t row = {
            .rule = (const char *) sqlite3_column_text (st, 0),
            .sent = (uint64_t) sqlite3_column_int64 (st, 1),
            .delivered = (uint64_t) sqlite3_column_int64 (st, 2),
            .opened = (uint64_t) sqlite3_column_int64 (st, 3),
            .dismissed = (uint64_t) sqlite3_column_int64 (st, 4),
            .helpful = (uint64_t) sqlite3_column_int64 (st, 5),
            .outcomes = (uint64_t) sqlite3_column_int64 (st, 6),
            .mean_change = sqlite3_column_double (st, 7) };
        fn (ctx, &row);
    }
    rc = r == SQLITE_DONE ? CW_OK : cw_sql_rc (r);
    sqlite3_finalize (st);
    return rc;
}

int
cw_nudges_erase_user (cw_nudges_t *self, const uint8_t *user_id, uint64_t *deleted)
{
    if (!self || !user_id)
        return CW_EINVAL;
    if (deleted)
        *deleted = 0;
    static const char *const s_sql [] = {
        "DELETE FROM nudge_fields WHERE nudge_id IN (SELECT id FROM nudges WHERE user_id = ?1)",
        "DELETE FROM nudge_feedback WHERE nudge_id IN"
        " (SELECT id FROM nudges WHERE user_id = ?1)",
        "DELETE FROM nudge_outcomes WHERE nudge_id IN"
        " (SELECT id FROM nudges WHERE user_id = ?1)",
        "DELETE FROM nudges WHERE user_id = ?1",
    };
    return cw_sql_erase_user (self->db, "nudges_erase", s_sql, sizeof s_sql / sizeof s_sql [0],
                              user_id, deleted);
}
