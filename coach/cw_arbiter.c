/*  cw_arbiter.c - consent, budget, quiet hours, cooldown and de-duplication for every
 *  candidate nudge (see include/coachwire/cw_arbiter.h). */
#include "coachwire/cw_arbiter.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_localtime.h"
#include "cw_engine_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _cw_arbiter_t {
    cw_store_t *store;                  /* not owned */
    sqlite3 *db;                        /* the store's connection */
    cw_consent_check_fn consent;        /* asks the consent ledger */
    void *consent_ctx;
};

static const char *s_code_names [] = { "sent", "consent", "budget", "quiet_hours", "cooldown",
                                       "duplicate" };

static const char s_schema [] =
    "CREATE TABLE IF NOT EXISTS decisions ("
    "  id BLOB PRIMARY KEY, user_id BLOB NOT NULL, rule TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL, window_start_ms INTEGER NOT NULL,"
    "  window_end_ms INTEGER NOT NULL, sent INTEGER NOT NULL, code INTEGER NOT NULL,"
    "  reason TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS decisions_by_user ON decisions (user_id, created_ms);"
    "CREATE INDEX IF NOT EXISTS decisions_by_rule ON decisions (user_id, rule, sent,"
    "  window_start_ms);"
    "CREATE TABLE IF NOT EXISTS arbiter_settings ("
    "  user_id BLOB PRIMARY KEY, budget INTEGER NOT NULL, quiet_start INTEGER NOT NULL,"
    "  quiet_end INTEGER NOT NULL);";

const char *
cw_decision_code_name (cw_decision_code_t code)
{
    return (int) code >= 0 && code <= CW_DECISION_HELD_DUPLICATE ? s_code_names [code] : NULL;
}

int
cw_arbiter_open (cw_arbiter_t **out, cw_store_t *store, cw_consent_check_fn consent,
                 void *consent_ctx)
{
    if (!out || !store || !consent)
        return CW_EINVAL;
    *out = NULL;
    cw_arbiter_t *self = calloc (1, sizeof *self);
    if (!self)
        return CW_ENOMEM;
    self->store = store;
    self->db = cw_store_sqlite (store);
    self->consent = consent;
    self->consent_ctx = consent_ctx;
    int rc = cw_sql_exec (self->db, s_schema);
    if (rc != CW_OK)
        cw_arbiter_destroy (&self);
    *out = self;
    return rc;
}

void
cw_arbiter_destroy (cw_arbiter_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

int
cw_arbiter_settings_set (cw_arbiter_t *self, const uint8_t *user_id, uint32_t budget,
                         uint32_t quiet_start, uint32_t quiet_end)
{
    if (!self || !user_id || budget > 100 || quiet_start >= 1440 || quiet_end >= 1440)
        return CW_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_prepare (self->db,
        "INSERT OR REPLACE INTO arbiter_settings VALUES (?1, ?2, ?3, ?4)", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int (st, 2, (int) budget);
    sqlite3_bind_int (st, 3, (int) quiet_start);
    sqlite3_bind_int (st, 4, (int) quiet_end);
    return cw_sql_step_done (st);
}

int
cw_arbiter_settings_get (cw_arbiter_t *self, const uint8_t *user_id, uint32_t *budget,
                         uint32_t *quiet_start, uint32_t *quiet_end)
{
    if (!self || !user_id || !budget || !quiet_start || !quiet_end)
        return CW_EINVAL;
    *budget = CW_ARBITER_DEFAULT_BUDGET;
    *quiet_start = CW_ARBITER_DEFAULT_QUIET_START;
    *quiet_end = CW_ARBITER_DEFAULT_QUIET_END;
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_prepare (self->db, "SELECT budget, quiet_start, quiet_end"
                             " FROM arbiter_settings WHERE user_id = ?1", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    int r = sqlite3_step (st);
    if (r == SQLITE_ROW) {
        *budget = (uint32_t) sqlite3_column_int (st, 0);
        *quiet_start = (uint32_t) sqlite3_column_int (st, 1);
        *quiet_end = (uint32_t) sqlite3_column_int (st, 2);
    }
    else if (r != SQLITE_DONE)
        rc = cw_sql_rc (r);
    sqlite3_finalize (st);
    return rc;
}

//  A single integer from a query with ?1 user, ?2 rule text, ?3 and ?4 integers.
static int
s_count (cw_arbiter_t *self, const char *sql, const uint8_t *user_id, const char *rule,
         int64_t a, int64_t b, int64_t *value)
{
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_prepare (self->db, sql, &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_text (st, 2, rule ? rule : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 3, a);
    sqlite3_bind_int64 (st, 4, b);
    int r = sqlite3_step (st);
    if (r == SQLITE_ROW)
        *value = sqlite3_column_int64 (st, 0);
    else
        rc = r == SQLITE_DONE ? CW_EIO : cw_sql_rc (r);
    sqlite3_finalize (st);
    return rc;
}

static int
s_record (cw_arbiter_t *self, const cw_rule_t *rule, const uint8_t *user_id, uint64_t now_ms,
          const cw_rule_fire_t *fire, cw_decision_t *d)
{
    randombytes_buf (d->id, CW_ID_BYTES);
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_prepare (self->db,
        "INSERT INTO decisions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, d->id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob (st, 2, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_text (st, 3, rule->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 4, (sqlite3_int64) now_ms);
    sqlite3_bind_int64 (st, 5, fire ? (sqlite3_int64) fire->window_start_ms : 0);
    sqlite3_bind_int64 (st, 6, fire ? (sqlite3_int64) fire->window_end_ms : 0);
    sqlite3_bind_int (st, 7, d->sent);
    sqlite3_bind_int (st, 8, (int) d->code);
    sqlite3_bind_text (st, 9, d->reason, -1, SQLITE_STATIC);
    return cw_sql_step_done (st);
}

//  Asks for every field of the rule; fills d->uses with the grants. *granted false and the
//  reason set at the first field not granted.
static int
s_consent (cw_arbiter_t *self, const cw_rule_t *rule, const uint8_t *user_id, uint64_t now_ms,
           cw_decision_t *d, bool *granted)
{
    *granted = true;
    d->n_uses = 0;
    for (size_t i = 0; i < rule->n_fields; i++) {
        cw_field_use_t *use = &d->uses [d->n_uses];
        memset (use, 0, sizeof *use);
        int rc = self->consent (self->consent_ctx, user_id, rule->fields [i], rule->purpose,
                                now_ms, use->grant_id, &use->policy_version);
        if (rc != CW_OK) {
            *granted = false;
            d->code = CW_DECISION_HELD_CONSENT;
            snprintf (d->reason, sizeof d->reason, "consent (field %s not granted for %s%s%s)",
                      rule->fields [i], rule->purpose, rc == CW_ECONSENT ? "" : ": ",
                      rc == CW_ECONSENT ? "" : cw_errname (rc));
            return rc == CW_ECONSENT ? CW_OK : rc;
        }
        snprintf (use->field, sizeof use->field, "%s", rule->fields [i]);
        snprintf (use->purpose, sizeof use->purpose, "%s", rule->purpose);
        d->n_uses++;
    }
    return CW_OK;
}

//  Records a consent hold unless the person's last decision for this rule is the same hold.
static int
s_record_consent_hold (cw_arbiter_t *self, const cw_rule_t *rule, const uint8_t *user_id,
                       uint64_t now_ms, const cw_rule_fire_t *fire, cw_decision_t *d)
{
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_prepare (self->db,
        "SELECT code, reason, id FROM decisions WHERE user_id = ?1 AND rule = ?2"
        " ORDER BY created_ms DESC, rowid DESC LIMIT 1", &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_text (st, 2, rule->id, -1, SQLITE_STATIC);
    bool same = false;
    if (sqlite3_step (st) == SQLITE_ROW) {
        const char *reason = (const char *) sqlite3_column_text (st, 1);
        same = sqlite3_column_int (st, 0) == CW_DECISION_HELD_CONSENT && reason
            && strcmp (reason, d->reason) == 0
            && sqlite3_column_bytes (st, 2) == (int) CW_ID_BYTES;
        if (same)
            memcpy (d->id, sqlite3_column_blob (st, 2), CW_ID_BYTES);
    }
    sqlite3_finalize (st);
    return same ? CW_OK : s_record (self, rule, user_id, now_ms, fire, d);
}

int
cw_arbiter_gate (cw_arbiter_t *self, const cw_rule_t *rule, const uint8_t *user_id,
                 uint64_t now_ms, cw_decision_t *out)
{
    if (!self || !rule || !user_id || !out)
        return CW_EINVAL;
    memset (out, 0, sizeof *out);
    bool granted = false;
    int rc = s_consent (self, rule, user_id, now_ms, out, &granted);
    if (rc == CW_OK && granted) {
        out->sent = true;
        out->code = CW_DECISION_SENT;
        snprintf (out->reason, sizeof out->reason, "may run: every field granted for %s",
                  rule->purpose);
        return CW_OK;
    }
    int rc2 = s_record_consent_hold (self, rule, user_id, now_ms, NULL, out);
    return rc != CW_OK ? rc : rc2;
}

//  ---- The chain after consent: one table, applied in order -------------------------------

typedef struct {
    const cw_candidate_t *c;
    cw_local_t local;                   /* the person's wall clock now */
    uint32_t budget, quiet_start, quiet_end;
} s_context_t;

//  Each check sets *hold and writes the reason when it holds the candidate back.
typedef int (s_check_fn) (cw_arbiter_t *self, const s_context_t *x, bool *hold, char *reason,
                          size_t size);

static int
s_check_budget (cw_arbiter_t *self, const s_context_t *x, bool *hold, char *reason, size_t size)
{
    int64_t sent = 0;
    int rc = s_count (self, "SELECT COUNT (*) FROM decisions WHERE user_id = ?1 AND sent = 1"
                      " AND created_ms >= ?3 AND ?2 = ?2 AND ?4 = ?4", x->c->user_id, NULL,
                      (int64_t) x->local.day_start_ms, 0, &sent);
    if (rc == CW_OK && sent >= (int64_t) x->budget) {
        *hold = true;
        snprintf (reason, size, "budget (%lld of %u nudges sent today)", (long long) sent,
                  x->budget);
    }
    return rc;
}

static int
s_check_quiet (cw_arbiter_t *self, const s_context_t *x, bool *hold, char *reason, size_t size)
{
    (void) self;
    uint32_t m = x->local.minute, a = x->quiet_start, b = x->quiet_end;
    bool quiet = a == b ? false : a < b ? (m >= a && m < b) : (m >= a || m < b);
    if (quiet) {
        *hold = true;
        snprintf (reason, size, "quiet hours (%02u:%02u in %s, quiet %02u:%02u-%02u:%02u)",
                  m / 60, m % 60, x->c->time_zone, a / 60, a % 60, b / 60, b % 60);
    }
    return CW_OK;
}

static int
s_check_cooldown (cw_arbiter_t *self, const s_context_t *x, bool *hold, char *reason,
                  size_t size)
{
    int64_t last = 0;
    int rc = s_count (self, "SELECT COALESCE (MAX (created_ms), -1) FROM decisions"
                      " WHERE user_id = ?1 AND rule = ?2 AND sent = 1 AND ?3 = ?3 AND ?4 = ?4",
                      x->c->user_id, x->c->rule->id, 0, 0, &last);
    if (rc == CW_OK && last >= 0 && x->c->now_ms < (uint64_t) last + x->c->rule->cooldown_ms) {
        *hold = true;
        char left [32];
        cw_format_duration ((uint64_t) last + x->c->rule->cooldown_ms - x->c->now_ms, false,
                            left, sizeof left);
        snprintf (reason, size, "cooldown (rule %s sent %lld s ago; %s left)", x->c->rule->id,
                  (long long) ((x->c->now_ms - (uint64_t) last) / 1000u), left);
    }
    return rc;
}

static int
s_check_duplicate (cw_arbiter_t *self, const s_context_t *x, bool *hold, char *reason,
                   size_t size)
{
    int64_t n = 0;
    int rc = s_count (self, "SELECT COUNT (*) FROM decisions WHERE user_id = ?1 AND rule = ?2"
                      " AND sent = 1 AND window_start_ms = ?3 AND ?4 = ?4", x->c->user_id,
                      x->c->rule->id, (int64_t) x->c->fire.window_start_ms, 0, &n);
    if (rc == CW_OK && n > 0) {
        *hold = true;
        snprintf (reason, size, "duplicate (rule %s already sent for this window)",
                  x->c->rule->id);
    }
    return rc;
}

static const struct {
    cw_decision_code_t code;
    s_check_fn *check;
} s_checks [] = {
    { CW_DECISION_HELD_BUDGET, s_check_budget },
    { CW_DECISION_HELD_QUIET, s_check_quiet },
    { CW_DECISION_HELD_COOLDOWN, s_check_cooldown },
    { CW_DECISION_HELD_DUPLICATE, s_check_duplicate },
};

int
cw_arbiter_decide (cw_arbiter_t *self, const cw_candidate_t *c, cw_decision_t *out)
{
    if (!self || !c || !c->rule || !c->user_id || !c->time_zone || !out
        || c->fire.window_end_ms < c->fire.window_start_ms)
        return CW_EINVAL;
    memset (out, 0, sizeof *out);
    s_context_t x = { .c = c };
    int rc = cw_local_time (c->time_zone, c->now_ms, &x.local);
    if (rc != CW_OK)
        return rc;
    if ((rc = cw_arbiter_settings_get (self, c->user_id, &x.budget, &x.quiet_start,
                                       &x.quiet_end)) != CW_OK)
        return rc;
    bool granted = false;
    rc = s_consent (self, c->rule, c->user_id, c->now_ms, out, &granted);
    if (rc != CW_OK || !granted) {
        int rc2 = s_record_consent_hold (self, c->rule, c->user_id, c->now_ms, &c->fire, out);
        return rc != CW_OK ? rc : rc2;
    }
    for (size_t i = 0; i < out->n_uses; i++) {
        out->uses [i].window_start_ms = c->fire.window_start_ms;
        out->uses [i].window_end_ms = c->fire.window_end_ms;
        out->uses [i].samples = c->fire.samples;
    }
    out->sent = true;
    out->code = CW_DECISION_SENT;
    snprintf (out->reason, sizeof out->reason, "sent");
    //  The decision and the counts it rests on in one savepoint: two decisions for one
    //  person cannot both take the last unit of budget.
    if ((rc = cw_sql_savepoint (self->db, "arbiter")) != CW_OK)
        return rc;
    for (size_t i = 0; i < sizeof s_checks / sizeof s_checks [0]; i++) {
        bool hold = false;
        if ((rc = s_checks [i].check (self, &x, &hold, out->reason, sizeof out->reason))
            != CW_OK)
            goto done;
        if (hold) {
            out->sent = false;
            out->code = s_checks [i].code;
            break;
        }
    }
    rc = s_record (self, c->rule, c->user_id, c->now_ms, &c->fire, out);
done:
    if (rc == CW_OK)
        rc = cw_sql_release (self->db, "arbiter");
    if (rc != CW_OK)
        cw_sql_rollback_to (self->db, "arbiter");
    return rc;
}

int
cw_arbiter_decisions_each (cw_arbiter_t *self, const uint8_t *user_id, uint64_t since_ms,
                           cw_decision_fn fn, void *ctx)
{
    if (!self || !user_id || !fn)
        return CW_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = cw_sql_prepare (self->db,
        "SELECT id, rule, created_ms, window_start_ms, window_end_ms, sent, code, reason"
        " FROM decisions WHERE user_id = ?1 AND created_ms >= ?2 ORDER BY created_ms, rowid",
        &st);
    if (rc != CW_OK)
        return rc;
    sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64 (st, 2, (sqlite3_int64) since_ms);
    int r;
    while ((r = sqlite3_step (st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes (st, 0) != (int) CW_ID_BYTES)
            continue;
        cw_decision_row_t row = {
            .id = sqlite3_column_blob (st, 0),
            .rule = (const char *) sqlite3_column_text (st, 1),
            .created_ms = (uint64_t) sqlite3_column_int64 (st, 2),
            .window_start_ms = (uint64_t) sqlite3_column_int64 (st, 3),
            .window_end_ms = (uint64_t) sqlite3_column_int64 (st, 4),
            .sent = sqlite3_column_int (st, 5) != 0,
            .code = (cw_decision_code_t) sqlite3_column_int (st, 6),
            .reason = (const char *) sqlite3_column_text (st, 7) };
        fn (ctx, &row);
    }
    rc = r == SQLITE_DONE ? CW_OK : cw_sql_rc (r);
    sqlite3_finalize (st);
    return rc;
}

int
cw_arbiter_erase_user (cw_arbiter_t *self, const uint8_t *user_id, uint64_t *deleted)
{
    if (!self || !user_id)
        return CW_EINVAL;
    if (deleted)
        *deleted = 0;
    static const char *const s_sql [] = {
        "DELETE FROM arbiter_settings WHERE user_id = ?1",
        "DELETE FROM decisions WHERE user_id = ?1",
    };
    return cw_sql_erase_user (self->db, "arbiter_erase", s_sql, sizeof s_sql / sizeof s_sql [0],
                              user_id, deleted);
}
