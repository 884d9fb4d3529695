/*  cw_api_consent.c - the api's commands for a person's consent and data (issue 3).
 *
 *  consent_grant, consent_revoke, consent_show, consent_receipts, access_log, data_export,
 *  data_erase: rows in cw_api.c's table. Every one acts on exactly one person, the subject,
 *  and the subject is who the key says: the person's own key, or a device of that person
 *  (the table refuses coaches and operators before a handler runs). A request may name a
 *  person (`user`) only to say whom the caller means; naming anyone else is refused.
 *
 *  Changes commit with their signed ledger receipt in one transaction; then the gateway is
 *  told ("consent" || user id on its control socket) before the client gets its answer, so
 *  a frame sent after the acknowledgement is filtered under the new consent.
 */
#include "coachwire/cw_access_log.h"
#include "coachwire/cw_batch.h"
#include "coachwire/cw_catalog.h"
#include "coachwire/cw_client.h"
#include "coachwire/cw_consent.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_envelope.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_gateway.h"
#include "coachwire/cw_json.h"
#include "coachwire/cw_keyring.h"
#include "coachwire/cw_ledger.h"
#include "coachwire/cw_store.h"
#include "coachwire/cw_strip.h"
#include "cw_api_internal.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CONSENT_VERB "consent"
#define S_REVOKE_VERB "revoke"
#define S_PATTERN_MAX 64u
#define S_ACCESS_DEFAULT 10000u             /* access-log rows when the request names none */
#define S_EXPORT_DEFAULT 500u               /* readings per export page by default */
#define S_EXPORT_LIMIT_MAX 5000u            /* ... and at most */
#define S_EXPORT_PAGE_BYTES (4u * 1024u * 1024u)  /* a page stops growing past this */
#define S_LINE_MAX (8u * 1024u * 1024u)     /* one rendered reading */
#define S_RENDER_DEPTH 8
#define S_ERASE_BATCH 64u                   /* frames rewritten per read of the store */
#define S_DEVICES_MAX 10000u
#define S_FIELDS_MAX 64u

struct _cw_api_consent_t {
    cw_consent_t *consent;                  /* grants and policies */
    cw_ledger_t *ledger;                    /* signed receipts, the service's signing key */
    cw_access_log_t *log;                   /* every read of personal data */
};

/*  ---------------------------------------------------------------------------------------
 *  Shared pieces */

void
cw_api_consent_destroy (cw_api_consent_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_api_consent_t *self = *self_p;
    cw_access_log_destroy (&self->log);
    cw_ledger_destroy (&self->ledger);
    cw_consent_destroy (&self->consent);
    free (self);
    *self_p = NULL;
}

/*  The actor's consent objects, opened on first use on the actor's store. */
static int
s_get (cw_api_call_t *call, cw_api_consent_t **out)
{
    if (*call->consent) {
        *out = *call->consent;
        return CW_OK;
    }
    cw_api_consent_t *self = calloc (1, sizeof *self);
    if (!self)
        return cw_api_fail (call, CW_ENOMEM, "out of memory opening consent");
    int rc = cw_consent_open (&self->consent, call->store);
    if (rc == CW_OK)
        rc = cw_ledger_open (&self->ledger, call->store,
                             cw_keyring_signing_secret (call->config->keyring));
    if (rc == CW_OK)
        rc = cw_access_log_open (&self->log, call->store);
    if (rc != CW_OK) {
        cw_api_consent_destroy (&self);
        return cw_api_fail (call, CW_EBUSY, "consent could not be opened: %s (%s)",
                            cw_strerror (rc), cw_store_errmsg (call->store));
    }
    /* What this connection deletes (erasure) is overwritten with zeros, not left in free
     * pages. Best effort: an old SQLite without it still deletes. */
    sqlite3_exec (cw_store_sqlite (call->store), "PRAGMA secure_delete = ON", NULL, NULL, NULL);
    *call->consent = *out = self;
    return CW_OK;
}

/*  True when pattern names at least one catalog field. */
static bool
s_pattern_known (const char *pattern)
{
    size_t count = 0;
    const cw_catalog_entry_t *all = cw_catalog_entries (&count);
    if (!pattern || !*pattern || strlen (pattern) > S_PATTERN_MAX)
        return false;
    for (size_t i = 0; i < count; i++)
        if (cw_catalog_matches (pattern, all [i].name))
            return true;
    return false;
}

static int
s_check_pattern (const char *pattern, char *reason, size_t size)
{
    if (!s_pattern_known (pattern))
        return cw_api_reason (reason, size, CW_EINVAL,
                              "'%.64s' names no field: give a field such as heart_rate.bpm, a "
                              "group such as running.* or * for all", pattern ? pattern : "");
    return CW_OK;
}

/*  Finds the subject: the caller if a person, the caller's person if a device. A request
 *  naming someone else is refused with a sentence. */
static int
s_subject (cw_api_call_t *call, const char *user, cw_principal_t *person)
{
    const cw_principal_t *caller = call->caller;
    if (caller->kind == CW_PRINCIPAL_USER)
        *person = *caller;
    else if (caller->kind == CW_PRINCIPAL_DEVICE) {
        int rc = cw_store_principal_by_id (call->store, caller->owner_id, person);
        if (rc != CW_OK || person->kind != CW_PRINCIPAL_USER)
            return cw_api_fail (call, rc == CW_OK || rc == CW_ENOENT ? CW_EDENIED : CW_EBUSY,
                                "this device belongs to no person the service knows");
        if (person->revoked_ms)
            return cw_api_fail (call, CW_EREVOKED, "the person of this device was revoked");
    }
    else
        return cw_api_fail (call, CW_EDENIED,
                            "only the person (or a device of theirs) may do this");
    if (user && *user && strcmp (user, person->name) != 0) {
        if (caller->kind == CW_PRINCIPAL_DEVICE)
            return cw_api_fail (call, CW_EDENIED,
                                "this device belongs to %s: it may not see or change the "
                                "consent or data of %s", person->name, user);
        return cw_api_fail (call, CW_EDENIED,
                            "you are %s: only %s (or a device of theirs) may see or change "
                            "the consent or data of %s", person->name, user, user);
    }
    return CW_OK;
}

/*  The ledger line at position into arena memory (NULL on failure). */
static char *
s_receipt_line (cw_api_call_t *call, cw_ledger_t *ledger, const uint8_t *user_id,
                uint64_t position)
{
    char *line = NULL;
    size_t len = 0;
    if (cw_ledger_line (ledger, user_id, position, &line, &len) != CW_OK)
        return NULL;
    char *copy = cw_api_strdup (call, line);
    free (line);
    return copy;
}

/*  Every catalog name, for receipts and the access log of whole-data operations. */
static size_t
s_all_fields (const char **names, size_t max)
{
    size_t count = 0, n = 0;
    const cw_catalog_entry_t *all = cw_catalog_entries (&count);
    for (size_t i = 0; i < count && n < max; i++)
        names [n++] = all [i].name;
    return n;
}

/*  ---------------------------------------------------------------------------------------
 *  Checks (syntax only) */

int
cw_api_consent_change_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    bool grant = req->body_case == COACHWIRE__API_REQUEST__BODY_CONSENT_GRANT;
    const Coachwire__ConsentChangeRequest *r = grant ? req->consent_grant : req->consent_revoke;
    const char *name = grant ? "consent_grant" : "consent_revoke";
    if (!r)
        return cw_api_reason (reason, size, CW_EREQUEST, "%s without its arguments", name);
    int rc = cw_api_check_user (r->user, reason, size);
    if (rc == CW_OK)
        rc = s_check_pattern (r->pattern, reason, size);
    if (rc != CW_OK)
        return rc;
    cw_purpose_t purpose;
    if (!r->purpose || cw_purpose_parse (r->purpose, &purpose) != CW_OK
        || (grant && purpose == CW_PURPOSE_ANY))
        return cw_api_reason (reason, size, CW_EINVAL, "purpose must be coaching, coach_review or "
                              "retention%s", grant ? "" : " (or any, to withdraw every purpose)");
    if (!grant && r->expires_ms)
        return cw_api_reason (reason, size, CW_EINVAL, "a withdrawal takes no expiry");
    if (r->expires_ms > INT64_MAX)
        return cw_api_reason (reason, size, CW_EINVAL, "the expiry is out of range");
    return CW_OK;
}

int
cw_api_consent_show_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    const Coachwire__ConsentShowRequest *r = req->consent_show;
    if (!r)
        return cw_api_reason (reason, size, CW_EREQUEST, "consent_show without its arguments");
    int rc = cw_api_check_user (r->user, reason, size);
    if (rc == CW_OK && r->pattern && *r->pattern)
        rc = s_check_pattern (r->pattern, reason, size);
    return rc;
}

int
cw_api_consent_receipts_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    const Coachwire__ConsentReceiptsRequest *r = req->consent_receipts;
    if (!r)
        return cw_api_reason (reason, size, CW_EREQUEST, "consent_receipts without its arguments");
    return cw_api_check_user (r->user, reason, size);
}

int
cw_api_access_log_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    const Coachwire__AccessLogRequest *r = req->access_log;
    if (!r)
        return cw_api_reason (reason, size, CW_EREQUEST, "access_log without its arguments");
    if (r->since_ms > INT64_MAX)
        return cw_api_reason (reason, size, CW_EINVAL, "since is out of range");
    if (r->limit > CW_API_LIST_MAX)
        return cw_api_reason (reason, size, CW_EINVAL, "limit is at most %u",
                              (unsigned) CW_API_LIST_MAX);
    return cw_api_check_user (r->user, reason, size);
}

int
cw_api_data_export_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    const Coachwire__DataExportRequest *r = req->data_export;
    if (!r)
        return cw_api_reason (reason, size, CW_EREQUEST, "data_export without its arguments");
    if (r->after_row < 0)
        return cw_api_reason (reason, size, CW_EINVAL, "after_row must not be negative");
    if (r->limit > S_EXPORT_LIMIT_MAX)
        return cw_api_reason (reason, size, CW_EINVAL, "limit is at most %u readings a page",
                              (unsigned) S_EXPORT_LIMIT_MAX);
    return cw_api_check_user (r->user, reason, size);
}

int
cw_api_data_erase_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    const Coachwire__DataEraseRequest *r = req->data_erase;
    if (!r)
        return cw_api_reason (reason, size, CW_EREQUEST, "data_erase without its arguments");
    int rc = cw_api_check_user (r->user, reason, size);
    if (rc != CW_OK || !r->field || !*r->field)
        return rc;
    const cw_catalog_entry_t *entry = strlen (r->field) <= S_PATTERN_MAX
                                          ? cw_catalog_find (r->field) : NULL;
    if (!entry)
        return cw_api_reason (reason, size, CW_EINVAL, "'%.64s' is not a field: give one name "
                              "such as heart_rate.bpm (or no field to erase everything)", r->field);
    if (entry->structural)
        return cw_api_reason (reason, size, CW_EINVAL, "%s is the timing of other fields and goes "
                              "with them: erase those fields, or everything", entry->name);
    return CW_OK;
}

/*  ---------------------------------------------------------------------------------------
 *  Grant and revoke */

static int
s_change (cw_api_call_t *call, const Coachwire__ApiRequest *req, bool grant)
{
    const Coachwire__ConsentChangeRequest *r = grant ? req->consent_grant : req->consent_revoke;
    cw_principal_t person;
    int rc = s_subject (call, r->user, &person);
    if (rc != CW_OK)
        return rc;
    cw_purpose_t purpose;
    if (cw_purpose_parse (r->purpose, &purpose) != CW_OK)
        return cw_api_fail (call, CW_EINVAL, "unknown purpose");
    uint64_t now = cw_now_ms ();
    if (grant && r->expires_ms && r->expires_ms <= now)
        return cw_api_fail (call, CW_EINVAL, "the expiry is in the past");
    cw_api_consent_t *c = NULL;
    if ((rc = s_get (call, &c)) != CW_OK)
        return rc;
    cw_consent_change_t change;
    memset (&change, 0, sizeof change);
    if (grant)
        rc = cw_consent_grant (c->consent, c->ledger, person.id, r->pattern, purpose,
                               r->expires_ms, now, &change);
    else
        rc = cw_consent_revoke (c->consent, c->ledger, person.id, r->pattern, purpose, now,
                                &change);
    if (rc == CW_EINVAL)
        return cw_api_fail (call, rc, "the service refused '%s' for %s", r->pattern,
                            r->purpose);
    if (rc != CW_OK)
        return cw_api_fail (call, rc == CW_ENOMEM ? rc : CW_EBUSY,
                            "the change could not be stored (%s): nothing changed; try again",
                            cw_strerror (rc));
    /* Committed. The gateway reloads this person's mask before anyone hears back. */
    cw_api_control_send (call, S_CONSENT_VERB, person.id);

    Coachwire__ConsentChangeReply *body = cw_api_alloc (call, sizeof *body);
    if (!body)
        return cw_api_fail (call, CW_ENOMEM, "out of memory");
    coachwire__consent_change_reply__init (body);
    body->fields = (uint32_t) change.fields;
    body->changed = (uint32_t) change.changed;
    body->recorded = change.recorded;
    body->position = change.recorded ? change.receipt.position : 0;
    body->policy_version = change.policy_version;
    body->generation = change.generation;
    body->purpose = cw_api_strdup (call, r->purpose);
    body->pattern = cw_api_strdup (call, r->pattern);
    body->public_key = cw_api_hex (call, cw_ledger_public_key (c->ledger),
                                   CW_LEDGER_PUBLIC_KEY_BYTES);
    body->receipt = change.recorded
                        ? s_receipt_line (call, c->ledger, person.id, change.receipt.position)
                        : cw_api_strdup (call, "");
    if (!body->purpose || !body->pattern || !body->public_key || !body->receipt)
        return cw_api_fail (call, CW_ENOMEM, "changed, but the receipt could not be read back: "
                            "see cwctl consent receipts");
    call->reply->body_case = COACHWIRE__API_REPLY__BODY_CONSENT_CHANGE;
    call->reply->consent_change = body;
    if (!change.changed)
        return cw_api_fail (call, CW_OK, "%s for %s was %s already: nothing changed",
                            r->pattern, r->purpose, grant ? "granted" : "not granted");
    return cw_api_fail (call, CW_OK, "%s %zu field%s for %s (receipt %llu)",
                        grant ? "granted" : "withdrew", change.changed,
                        change.changed == 1 ? "" : "s", r->purpose,
                        (unsigned long long) change.receipt.position);
}

int
cw_api_consent_grant (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    return s_change (call, req, true);
}

int
cw_api_consent_revoke (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    return s_change (call, req, false);
}

/*  ---------------------------------------------------------------------------------------
 *  Show, receipts, access log */

static void
s_state_row (void *ctx, const cw_consent_state_t *state)
{
    cw_api_list_t *list = ctx;
    if (list->rc != CW_OK)
        return;
    Coachwire__ConsentState *row = cw_api_alloc (list->call, sizeof *row);
    if (row) {
        coachwire__consent_state__init (row);
        const cw_catalog_entry_t *entry = cw_catalog_find (state->field);
        row->field = cw_api_strdup (list->call, state->field);
        row->purpose = cw_api_strdup (list->call, cw_purpose_name (state->purpose));
        row->granted = state->granted;
        row->grant_id = state->granted ? cw_api_hex (list->call, state->grant_id, CW_ID_BYTES)
                                       : cw_api_strdup (list->call, "");
        row->policy_version = state->granted ? state->policy_version : 0;
        row->granted_ms = state->granted ? state->granted_ms : 0;
        row->expires_ms = state->granted ? state->expires_ms : 0;
        row->unit = cw_api_strdup (list->call, entry && entry->unit ? entry->unit : "");
        row->description = cw_api_strdup (list->call, entry && entry->description
                                                          ? entry->description : "");
        if (!row->field || !row->purpose || !row->grant_id || !row->unit || !row->description)
            row = NULL;
    }
    cw_api_list_push (list, row);
}

int
cw_api_consent_show (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    const Coachwire__ConsentShowRequest *r = req->consent_show;
    cw_principal_t person;
    cw_api_consent_t *c = NULL;
    int rc = s_subject (call, r->user, &person);
    if (rc != CW_OK || (rc = s_get (call, &c)) != CW_OK)
        return rc;
    Coachwire__ConsentShowReply *body = cw_api_alloc (call, sizeof *body);
    if (!body)
        return cw_api_fail (call, CW_ENOMEM, "out of memory");
    coachwire__consent_show_reply__init (body);
    uint32_t version = 0;
    char *text = NULL;
    rc = cw_consent_policy_current (c->consent, &version);
    if (rc == CW_OK)
        rc = cw_consent_policy_text (c->consent, version, &text, NULL);
    if (rc != CW_OK)
        return cw_api_fail (call, CW_EBUSY, "the policy could not be read: %s",
                            cw_strerror (rc));
    body->policy_version = version;
    body->policy_text = cw_api_strdup (call, text);
    free (text);
    cw_api_list_t list = { call, NULL, 0, 0, CW_API_LIST_MAX, CW_OK };
    rc = cw_consent_each (c->consent, person.id, r->pattern && *r->pattern ? r->pattern : NULL,
                          CW_PURPOSE_ANY, cw_now_ms (), s_state_row, &list);
    size_t count = list.count;
    body->states = (Coachwire__ConsentState **) cw_api_list_finish (&list);
    if (rc == CW_OK)
        rc = list.rc;
    if (rc != CW_OK || !body->policy_text)
        return cw_api_fail (call, rc == CW_OK ? CW_ENOMEM : rc,
                            "consent could not be listed: %s", cw_strerror (rc));
    body->n_states = count;
    size_t granted = 0;
    for (size_t i = 0; i < count; i++)
        granted += body->states [i]->granted ? 1u : 0u;
    call->reply->body_case = COACHWIRE__API_REPLY__BODY_CONSENT_SHOW;
    call->reply->consent_show = body;
    return cw_api_fail (call, CW_OK, "%s: %zu of %zu field-purposes granted (policy %u)",
                        person.name, granted, count, version);
}

int
cw_api_consent_receipts (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    cw_principal_t person;
    cw_api_consent_t *c = NULL;
    int rc = s_subject (call, req->consent_receipts->user, &person);
    if (rc != CW_OK || (rc = s_get (call, &c)) != CW_OK)
        return rc;
    char *text = NULL;
    size_t len = 0;
    uint64_t count = 0;
    rc = cw_ledger_export (c->ledger, person.id, &text, &len);
    if (rc == CW_OK)
        rc = cw_ledger_count (c->ledger, person.id, &count);
    if (rc != CW_OK) {
        free (text);
        return cw_api_fail (call, rc == CW_ETOOBIG ? rc : CW_EBUSY,
                            "the receipts could not be read: %s", cw_strerror (rc));
    }
    Coachwire__ConsentReceiptsReply *body = cw_api_alloc (call, sizeof *body);
    char *copy = cw_api_alloc (call, len + 1);
    if (body && copy)
        memcpy (copy, text, len + 1);
    free (text);
    if (!body || !copy)
        return cw_api_fail (call, CW_ENOMEM, "out of memory");
    coachwire__consent_receipts_reply__init (body);
    body->receipts = copy;
    body->count = count;
    body->public_key = cw_api_hex (call, cw_ledger_public_key (c->ledger),
                                   CW_LEDGER_PUBLIC_KEY_BYTES);
    if (!body->public_key)
        return cw_api_fail (call, CW_ENOMEM, "out of memory");
    call->reply->body_case = COACHWIRE__API_REPLY__BODY_CONSENT_RECEIPTS;
    call->reply->consent_receipts = body;
    return cw_api_fail (call, CW_OK, "%llu receipt%s", (unsigned long long) count,
                        count == 1 ? "" : "s");
}

static int
s_access_row (void *ctx, const cw_access_record_t *a)
{
    cw_api_list_t *list = ctx;
    Coachwire__AccessEntry *row = cw_api_alloc (list->call, sizeof *row);
    if (row) {
        static const uint8_t zero [CW_ID_BYTES];
        coachwire__access_entry__init (row);
        row->id = a->id;
        row->ts_ms = a->ts_ms;
        row->actor = cw_api_strdup (list->call, a->actor_name ? a->actor_name : "");
        row->actor_id = sodium_memcmp (a->actor_id, zero, CW_ID_BYTES) == 0
                            ? cw_api_strdup (list->call, "")
                            : cw_api_hex (list->call, a->actor_id, CW_ID_BYTES);
        row->purpose = cw_api_strdup (list->call, a->purpose);
        row->fields = cw_api_strdup (list->call, a->fields);
        row->grant_ids = cw_api_strdup (list->call, a->grant_ids);
        row->what = cw_api_strdup (list->call, a->what_name ? a->what_name : "");
        row->detail = cw_api_strdup (list->call, a->detail);
        if (!row->actor || !row->actor_id || !row->purpose || !row->fields || !row->grant_ids
            || !row->what || !row->detail)
            row = NULL;
    }
    cw_api_list_push (list, row);
    return list->rc;
}

int
cw_api_access_log (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    const Coachwire__AccessLogRequest *r = req->access_log;
    cw_principal_t person;
    cw_api_consent_t *c = NULL;
    int rc = s_subject (call, r->user, &person);
    if (rc != CW_OK || (rc = s_get (call, &c)) != CW_OK)
        return rc;
    Coachwire__AccessLogReply *body = cw_api_alloc (call, sizeof *body);
    if (!body)
        return cw_api_fail (call, CW_ENOMEM, "out of memory");
    coachwire__access_log_reply__init (body);
    cw_api_list_t list = { call, NULL, 0, 0, CW_API_LIST_MAX, CW_OK };
    rc = cw_access_log_list (c->log, person.id, r->since_ms, r->limit ? r->limit : S_ACCESS_DEFAULT,
                             s_access_row, &list);
    size_t count = list.count;
    body->entries = (Coachwire__AccessEntry **) cw_api_list_finish (&list);
    if (rc == CW_OK)
        rc = list.rc;
    if (rc != CW_OK)
        return cw_api_fail (call, rc, "the access log could not be read: %s", cw_strerror (rc));
    body->n_entries = count;
    call->reply->body_case = COACHWIRE__API_REPLY__BODY_ACCESS_LOG;
    call->reply->access_log = body;
    return cw_api_fail (call, CW_OK, "%zu use%s of %s's data", count, count == 1 ? "" : "s",
                        person.name);
}

/*  ---------------------------------------------------------------------------------------
 *  Export: readings rendered by catalog name */

/*  A growing text buffer with a hard cap; wiped when freed (it holds personal data). */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
    int rc;
} s_text_t;

static void
s_text_add (s_text_t *t, const char *bytes, size_t n)
{
    if (t->rc != CW_OK)
        return;
    if (n > CW_CLIENT_REPLY_MAX_BYTES || t->len + n + 1 > CW_CLIENT_REPLY_MAX_BYTES) {
        t->rc = CW_ETOOBIG;
        return;
    }
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *grown = sodium_malloc (cap);
        if (!grown) {
            t->rc = CW_ENOMEM;
            return;
        }
        if (t->data) {
            memcpy (grown, t->data, t->len);
            sodium_free (t->data);
        }
        t->data = grown;
        t->cap = cap;
    }
    memcpy (t->data + t->len, bytes, n);
    t->len += n;
    t->data [t->len] = 0;
}

static void
s_text_free (s_text_t *t)
{
    if (t->data)
        sodium_free (t->data);     /* wipes */
    memset (t, 0, sizeof *t);
}

/*  Appends a finished JSON document and a newline. */
static void
s_text_json (s_text_t *t, cw_json_t *json)
{
    size_t len = 0;
    const char *text = json ? cw_json_text (json, &len) : NULL;
    if (!text) {
        if (t->rc == CW_OK)
            t->rc = json ? cw_json_error (json) : CW_ENOMEM;
        if (t->rc == CW_OK)
            t->rc = CW_EINTERNAL;
        return;
    }
    s_text_add (t, text, len);
    s_text_add (t, "\n", 1);
}

static bool
s_field_present (const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
    const uint8_t *base = (const uint8_t *) msg;
    if (fd->label == PROTOBUF_C_LABEL_REPEATED)
        return *(const size_t *) (const void *) (base + fd->quantifier_offset) != 0;
    const void *at = base + fd->offset;
    switch (fd->type) {
        case PROTOBUF_C_TYPE_STRING: {
            const char *s = *(char *const *) at;
            return s && *s;
        }
        case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *) at)->len != 0;
        case PROTOBUF_C_TYPE_MESSAGE: return *(void *const *) at != NULL;
        case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
            return *(const uint64_t *) at != 0;
        default: return *(const uint32_t *) at != 0;
    }
}

/*  One scalar value at `at` (key NULL inside an array). */
static void
s_render_value (cw_json_t *json, const char *key, ProtobufCType type, const void *at)
{
    char buf [64];
    switch (type) {
        case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
            cw_json_int (json, key, *(const int32_t *) at);
            break;
        case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_ENUM:
            cw_json_uint (json, key, *(const uint32_t *) at);
            break;
        case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
            cw_json_int (json, key, *(const int64_t *) at);
            break;
        case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
            cw_json_uint (json, key, *(const uint64_t *) at);
            break;
        case PROTOBUF_C_TYPE_BOOL:
            cw_json_bool (json, key, *(const protobuf_c_boolean *) at != 0);
            break;
        case PROTOBUF_C_TYPE_FLOAT:
            snprintf (buf, sizeof buf, "%.9g", (double) *(const float *) at);
            cw_json_string (json, key, buf);
            break;
        case PROTOBUF_C_TYPE_DOUBLE:
            snprintf (buf, sizeof buf, "%.17g", *(const double *) at);
            cw_json_string (json, key, buf);
            break;
        case PROTOBUF_C_TYPE_STRING:
            cw_json_string (json, key, *(char *const *) at);
            break;
        case PROTOBUF_C_TYPE_BYTES: {
            const ProtobufCBinaryData *b = at;
            char *hex = b->len <= S_LINE_MAX / 4 ? malloc (2 * b->len + 1) : NULL;
            if (hex)
                cw_hex_encode (hex, b->data, b->len);
            cw_json_string (json, key, hex ? hex : "");
            free (hex);
            break;
        }
        default: cw_json_null (json, key); break;
    }
}

static size_t
s_type_size (ProtobufCType type)
{
    switch (type) {
        case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
            return 8;
        case PROTOBUF_C_TYPE_STRING: case PROTOBUF_C_TYPE_MESSAGE: return sizeof (void *);
        case PROTOBUF_C_TYPE_BYTES: return sizeof (ProtobufCBinaryData);
        case PROTOBUF_C_TYPE_BOOL: return sizeof (protobuf_c_boolean);
        default: return 4;
    }
}

static void s_render_message (cw_json_t *json, const char *key, const ProtobufCMessage *msg,
                              int depth);

/*  One field (scalar, array or message) under key. */
static void
s_render_field (cw_json_t *json, const char *key, const ProtobufCMessage *msg,
                const ProtobufCFieldDescriptor *fd, int depth)
{
    const uint8_t *base = (const uint8_t *) msg;
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n = *(const size_t *) (const void *) (base + fd->quantifier_offset);
        const uint8_t *array = *(const uint8_t *const *) (const void *) (base + fd->offset);
        size_t size = s_type_size (fd->type);
        cw_json_array_begin (json, key);
        for (size_t i = 0; array && i < n; i++) {
            if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
                s_render_message (json, NULL,
                                  *(const ProtobufCMessage *const *) (const void *)
                                      (array + i * size), depth + 1);
            else
                s_render_value (json, NULL, fd->type, array + i * size);
        }
        cw_json_array_end (json);
    }
    else if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
        s_render_message (json, key,
                          *(const ProtobufCMessage *const *) (const void *) (base + fd->offset),
                          depth + 1);
    else
        s_render_value (json, key, fd->type, base + fd->offset);
}

/*  A message as an object: its catalogued fields by catalog name (an entry covering several
 *  proto fields becomes an object of them), then any sub-messages by their proto name. Empty
 *  fields (stripped, or never sent) are left out. */
static void
s_render_message (cw_json_t *json, const char *key, const ProtobufCMessage *msg, int depth)
{
    if (!msg || depth > S_RENDER_DEPTH) {
        cw_json_null (json, key);
        return;
    }
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    size_t count = 0;
    const cw_catalog_entry_t *all = cw_catalog_entries (&count);
    cw_json_object_begin (json, key);
    for (size_t i = 0; i < count; i++) {
        const cw_catalog_entry_t *e = &all [i];
        if (strcmp (e->message, d->name) != 0)
            continue;
        const ProtobufCFieldDescriptor *fds [CW_CATALOG_MAX_PROTO_FIELDS];
        size_t n = 0, present = 0;
        for (size_t k = 0; k < CW_CATALOG_MAX_PROTO_FIELDS && e->proto_fields [k]; k++) {
            const ProtobufCFieldDescriptor *fd =
                protobuf_c_message_descriptor_get_field (d, e->proto_fields [k]);
            if (!fd)
                continue;
            fds [n++] = fd;
            present += s_field_present (msg, fd);
        }
        if (!present)
            continue;
        if (n == 1)
            s_render_field (json, e->name, msg, fds [0], depth);
        else {
            cw_json_object_begin (json, e->name);
            for (size_t k = 0; k < n; k++)
                if (s_field_present (msg, fds [k]))
                    s_render_field (json, fds [k]->name, msg, fds [k], depth);
            cw_json_object_end (json);
        }
    }
    for (unsigned f = 0; f < d->n_fields; f++) {
        const ProtobufCFieldDescriptor *fd = &d->fields [f];
        if (fd->type == PROTOBUF_C_TYPE_MESSAGE && s_field_present (msg, fd))
            s_render_field (json, fd->name, msg, fd, depth);
    }
    cw_json_object_end (json);
}

/*  The person's data key, unwrapped into sodium memory (free with sodium_free). CW_ENOENT
 *  when erased. */
static int
s_person_key (cw_api_call_t *call, const uint8_t *user_id, uint8_t **key_out)
{
    uint8_t wrapped [CW_WRAPPED_KEY_BYTES];
    *key_out = NULL;
    int rc = cw_store_person_key_get (call->store, user_id, wrapped);
    if (rc != CW_OK)
        return rc;
    uint8_t *key = sodium_malloc (32);
    if (!key)
        return CW_ENOMEM;
    rc = cw_keyring_person_key_unwrap (call->config->keyring, user_id, wrapped, key);
    if (rc != CW_OK) {
        sodium_free (key);
        return rc;
    }
    *key_out = key;
    return CW_OK;
}

/*  Opens and decodes one stored frame (free *batch with cw_batch_free (alloc, ...)). */
static int
s_frame_decode (const cw_stored_frame_t *f, const uint8_t *key, cw_pb_alloc_t *alloc,
                Coachwire__SensorBatch **batch)
{
    *batch = NULL;
    if (f->sealed_len < CW_STORED_OVERHEAD || f->sealed_len > 2 * CW_FRAME_MAX_BYTES)
        return CW_EFRAME;
    size_t cap = f->sealed_len - CW_STORED_OVERHEAD;
    uint8_t *plain = sodium_malloc (cap ? cap : 1);
    if (!plain)
        return CW_ENOMEM;
    size_t plain_len = 0;
    int rc = cw_stored_open (plain, &plain_len, key, f->device_id, f->user_id, f->stream,
                             f->sequence, f->sealed, f->sealed_len);
    if (rc == CW_OK) {
        char reason [CW_REASON_MAX];
        cw_pb_alloc_init (alloc, CW_BATCH_ALLOC_FACTOR * plain_len + CW_BATCH_ALLOC_SLACK);
        rc = cw_batch_decode (alloc, plain, plain_len, batch, reason, sizeof reason);
    }
    sodium_free (plain);
    return rc;
}

typedef struct {
    const uint8_t *key;         /* the person's data key */
    s_text_t *text;
    int64_t last_row;
    size_t visited;
    size_t readings;
    size_t unreadable;
    bool full;                  /* the page reached S_EXPORT_PAGE_BYTES */
} s_export_t;

static int
s_export_frame (void *ctx, const cw_stored_frame_t *f)
{
    s_export_t *x = ctx;
    x->visited++;
    x->last_row = f->row;
    cw_pb_alloc_t alloc;
    Coachwire__SensorBatch *batch = NULL;
    int rc = s_frame_decode (f, x->key, &alloc, &batch);
    cw_json_t *json = NULL;
    if (cw_json_new (&json, S_LINE_MAX) != CW_OK) {
        cw_batch_free (&alloc, &batch);
        return CW_ENOMEM;
    }
    char device [2 * CW_ID_BYTES + 1];
    cw_hex_encode (device, f->device_id, CW_ID_BYTES);
    const char *stream = cw_stream_name (f->stream);
    cw_json_object_begin (json, NULL);
    cw_json_string (json, "type", "reading");
    cw_json_int (json, "row", f->row);
    cw_json_string (json, "device_id", device);
    cw_json_string (json, "stream", stream ? stream : "unknown");
    cw_json_uint (json, "sequence", f->sequence);
    cw_json_uint (json, "received_ms", f->received_ms);
    if (rc == CW_OK) {
        const ProtobufCFieldDescriptor *fd = protobuf_c_message_descriptor_get_field (
            batch->base.descriptor, (unsigned) batch->body_case);
        if (fd)
            s_render_field (json, "data", &batch->base, fd, 0);
        x->readings++;
    }
    else {
        cw_json_string (json, "error", rc == CW_EAUTH ? "cannot be opened with your data key"
                                                      : cw_strerror (rc));
        x->unreadable++;
    }
    cw_json_object_end (json);
    s_text_json (x->text, json);
    cw_json_destroy (&json);
    cw_batch_free (&alloc, &batch);
    if (x->text->rc != CW_OK)
        return x->text->rc;
    if (x->text->len >= S_EXPORT_PAGE_BYTES) {
        x->full = true;
        return 1;           /* stop: the page is full */
    }
    return CW_OK;
}

typedef struct {
    s_text_t *text;
} s_lines_t;

static int
s_export_access (void *ctx, const cw_access_record_t *a)
{
    s_lines_t *lines = ctx;
    cw_json_t *json = NULL;
    if (cw_json_new (&json, 0) != CW_OK)
        return CW_ENOMEM;
    char actor [2 * CW_ID_BYTES + 1];
    cw_hex_encode (actor, a->actor_id, CW_ID_BYTES);
    cw_json_object_begin (json, NULL);
    cw_json_string (json, "type", "access");
    cw_json_int (json, "id", a->id);
    cw_json_uint (json, "ts_ms", a->ts_ms);
    cw_json_string (json, "actor", a->actor_name);
    cw_json_string (json, "actor_id", actor);
    cw_json_string (json, "purpose", a->purpose);
    cw_json_string (json, "fields", a->fields);
    cw_json_string (json, "grant_ids", a->grant_ids);
    cw_json_string (json, "what", a->what_name);
    cw_json_string (json, "detail", a->detail);
    cw_json_object_end (json);
    s_text_json (lines->text, json);
    cw_json_destroy (&json);
    return lines->text->rc;
}

static void
s_export_grant (void *ctx, const cw_consent_state_t *state)
{
    s_lines_t *lines = ctx;
    if (!state->granted || lines->text->rc != CW_OK)
        return;
    cw_json_t *json = NULL;
    if (cw_json_new (&json, 0) != CW_OK) {
        lines->text->rc = CW_ENOMEM;
        return;
    }
    char id [2 * CW_ID_BYTES + 1];
    cw_hex_encode (id, state->grant_id, CW_ID_BYTES);
    cw_json_object_begin (json, NULL);
    cw_json_string (json, "type", "consent_grant");
    cw_json_string (json, "field", state->field);
    cw_json_string (json, "purpose", cw_purpose_name (state->purpose));
    cw_json_string (json, "grant_id", id);
    cw_json_uint (json, "policy_version", state->policy_version);
    cw_json_uint (json, "granted_ms", state->granted_ms);
    cw_json_uint (json, "expires_ms", state->expires_ms);
    cw_json_object_end (json);
    s_text_json (lines->text, json);
    cw_json_destroy (&json);
}

/*  First page only: records the export (access log + ledger, one transaction), then writes
 *  the header, current grants, the consent history and the access log. */
static int
s_export_head (cw_api_call_t *call, cw_api_consent_t *c, const cw_principal_t *person,
               s_text_t *text)
{
    const char *fields [S_FIELDS_MAX];
    size_t n_fields = s_all_fields (fields, S_FIELDS_MAX);
    uint64_t now = cw_now_ms ();
    uint32_t version = 0;
    int rc = cw_consent_policy_current (c->consent, &version);
    if (rc != CW_OK)
        return cw_api_fail (call, CW_EBUSY, "the policy could not be read");
    cw_access_t access = {
        .user_id = person->id, .ts_ms = now, .actor = CW_ACCESS_PERSON,
        .actor_id = call->caller->id, .purpose = NULL, .fields = fields, .n_fields = n_fields,
        .what = CW_ACCESS_EXPORT,
        .detail = "data export at the person's own request (cwctl data export)",
    };
    cw_receipt_t receipt = {
        .kind = CW_LEDGER_EXPORT, .ts_ms = now, .policy_version = version,
        .fields = fields, .n_fields = n_fields,
        .note = "the person exported a copy of all data held about them",
    };
    if ((rc = cw_store_begin (call->store)) != CW_OK)
        return cw_api_fail (call, CW_EBUSY, "the store is busy: %s",
                            cw_store_errmsg (call->store));
    rc = cw_access_log_append (c->log, &access);
    if (rc == CW_OK)
        rc = cw_ledger_append (c->ledger, person->id, &receipt, NULL);
    if (rc == CW_OK)
        rc = cw_store_commit (call->store);
    if (rc != CW_OK) {
        cw_store_rollback (call->store);
        return cw_api_fail (call, CW_EBUSY, "the export could not be recorded (%s): nothing "
                            "was exported", cw_strerror (rc));
    }

    cw_json_t *json = NULL;
    if (cw_json_new (&json, 0) != CW_OK)
        return cw_api_fail (call, CW_ENOMEM, "out of memory");
    char id [2 * CW_ID_BYTES + 1], key [2 * CW_LEDGER_PUBLIC_KEY_BYTES + 1];
    cw_hex_encode (id, person->id, CW_ID_BYTES);
    cw_hex_encode (key, cw_ledger_public_key (c->ledger), CW_LEDGER_PUBLIC_KEY_BYTES);
    cw_json_object_begin (json, NULL);
    cw_json_string (json, "type", "export");
    cw_json_string (json, "format", "coachwire-export-v1");
    cw_json_string (json, "user_id", id);
    cw_json_string (json, "name", person->name);
    cw_json_string (json, "locale", person->locale);
    cw_json_string (json, "time_zone", person->time_zone);
    cw_json_uint (json, "created_ms", person->created_ms);
    cw_json_uint (json, "exported_ms", now);
    cw_json_string (json, "receipts_public_key", key);
    cw_json_object_end (json);
    s_text_json (text, json);
    cw_json_destroy (&json);

    s_lines_t lines = { text };
    rc = cw_consent_each (c->consent, person->id, NULL, CW_PURPOSE_ANY, now, s_export_grant,
                          &lines);
    /* The consent history: each signed ledger line, unchanged, inside a wrapper. */
    char *ledger = NULL;
    size_t ledger_len = 0;
    if (rc == CW_OK)
        rc = cw_ledger_export (c->ledger, person->id, &ledger, &ledger_len);
    for (char *line = ledger; rc == CW_OK && line && *line;) {
        char *end = strchr (line, '\n');
        size_t len = end ? (size_t) (end - line) : strlen (line);
        static const char head [] = "{\"type\":\"consent_receipt\",\"receipt\":";
        s_text_add (text, head, sizeof head - 1);
        s_text_add (text, line, len);
        s_text_add (text, "}\n", 2);
        line = end ? end + 1 : line + len;
    }
    free (ledger);
    if (rc == CW_OK)
        rc = cw_access_log_list (c->log, person->id, 0, 0, s_export_access, &lines);
    /* Nudges: {"type":"nudge","nudge":{...}} lines, each with its why and disclosure. */
    if (rc == CW_OK) {
        char *nudges = NULL;
        size_t nudges_len = 0;
        rc = cw_api_coach_export (call, person->id, &nudges, &nudges_len);
        if (rc == CW_OK && nudges_len)
            s_text_add (text, nudges, nudges_len);
        free (nudges);
    }
    if (rc == CW_OK)
        rc = text->rc;
    if (rc != CW_OK)
        return cw_api_fail (call, rc, "the export could not be written: %s", cw_strerror (rc));
    return CW_OK;
}

int
cw_api_data_export (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    const Coachwire__DataExportRequest *r = req->data_export;
    cw_principal_t person;
    cw_api_consent_t *c = NULL;
    int rc = s_subject (call, r->user, &person);
    if (rc != CW_OK || (rc = s_get (call, &c)) != CW_OK)
        return rc;
    s_text_t text = { NULL, 0, 0, CW_OK };
    uint8_t *key = NULL;
    if (r->after_row == 0 && (rc = s_export_head (call, c, &person, &text)) != CW_OK)
        goto done;
    size_t limit = r->limit ? r->limit : S_EXPORT_DEFAULT;
    s_export_t x = { NULL, &text, r->after_row, 0, 0, 0, false };
    rc = s_person_key (call, person.id, &key);
    if (rc == CW_OK) {
        x.key = key;
        rc = cw_store_frame_each (call->store, person.id, r->after_row, limit, s_export_frame,
                                  &x);
        if (rc == 1)
            rc = CW_OK;
    }
    else if (rc == CW_ENOENT)
        rc = CW_OK;         /* erased: no key, so nothing stored can be read */
    if (rc != CW_OK) {
        rc = cw_api_fail (call, rc == CW_ETOOBIG || rc == CW_ENOMEM ? rc : CW_EBUSY,
                          "the readings could not be exported: %s", cw_strerror (rc));
        goto done;
    }
    Coachwire__DataExportReply *body = cw_api_alloc (call, sizeof *body);
    char *lines = cw_api_alloc (call, text.len + 1);
    if (!body || !lines) {
        rc = cw_api_fail (call, CW_ENOMEM, "out of memory");
        goto done;
    }
    coachwire__data_export_reply__init (body);
    if (text.len)
        memcpy (lines, text.data, text.len);
    body->lines = lines;
    body->next_row = x.last_row;
    body->done = !key || (!x.full && x.visited < limit);
    body->readings = (uint32_t) x.readings;
    body->unreadable = (uint32_t) x.unreadable;
    call->reply->body_case = COACHWIRE__API_REPLY__BODY_DATA_EXPORT;
    call->reply->data_export = body;
    rc = cw_api_fail (call, CW_OK, "%zu reading%s%s", x.readings, x.readings == 1 ? "" : "s",
                      body->done ? ", done" : ", more to come");
done:
    if (key)
        sodium_free (key);
    s_text_free (&text);
    return rc;
}

/*  ---------------------------------------------------------------------------------------
 *  Erasure */

typedef struct {
    uint8_t (*ids) [CW_ID_BYTES];
    size_t count;
    size_t cap;
    bool failed;
} s_devices_t;

static void
s_device_collect (void *ctx, const cw_principal_t *p)
{
    s_devices_t *d = ctx;
    if (d->failed || p->revoked_ms)
        return;
    if (d->count == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 8;
        void *grown = cap <= S_DEVICES_MAX ? realloc (d->ids, cap * CW_ID_BYTES) : NULL;
        if (!grown) {
            d->failed = true;
            return;
        }
        d->ids = grown;
        d->cap = cap;
    }
    memcpy (d->ids [d->count++], p->id, CW_ID_BYTES);
}

/*  Everything: the data key first (every sealed copy, wherever it is, is unreadable from that
 *  commit on), then frames, access log, devices, grants; an ERASE receipt. */
static int
s_erase_all (cw_api_call_t *call, cw_api_consent_t *c, const cw_principal_t *person,
             Coachwire__DataEraseReply *body)
{
    s_devices_t devices = { NULL, 0, 0, false };
    const char *fields [S_FIELDS_MAX];
    size_t n_fields = s_all_fields (fields, S_FIELDS_MAX);
    uint64_t now = cw_now_ms (), frames = 0, rows = 0;
    uint32_t version = 0;
    cw_consent_change_t change;
    cw_ledger_entry_t entry;
    memset (&change, 0, sizeof change);
    int rc = cw_consent_policy_current (c->consent, &version);
    if (rc == CW_OK)
        rc = cw_store_principal_list (call->store, CW_PRINCIPAL_DEVICE, person->id,
                                      s_device_collect, &devices);
    if (rc == CW_OK && devices.failed)
        rc = CW_ENOMEM;
    if (rc != CW_OK) {
        free (devices.ids);
        return cw_api_fail (call, CW_EBUSY, "the store could not be read: %s",
                            cw_strerror (rc));
    }
    if ((rc = cw_store_begin (call->store)) != CW_OK) {
        free (devices.ids);
        return cw_api_fail (call, CW_EBUSY, "the store is busy: %s",
                            cw_store_errmsg (call->store));
    }
    rc = cw_store_person_key_delete (call->store, person->id);
    if (rc == CW_OK)
        rc = cw_store_frame_delete_user (call->store, person->id, &frames);
    if (rc == CW_OK)
        rc = cw_access_log_erase (c->log, person->id, &rows);
    /* Derived data: nudges, plans and progress, the arbiter's decisions, coach links. */
    uint64_t nudges = 0, plans = 0, decisions = 0;
    if (rc == CW_OK)
        rc = cw_api_coach_erase (call, person->id, &nudges, &plans, &decisions);
    for (size_t i = 0; rc == CW_OK && i < devices.count; i++)
        rc = cw_store_principal_revoke (call->store, devices.ids [i]);
    if (rc == CW_OK)
        rc = cw_consent_revoke (c->consent, c->ledger, person->id, "*", CW_PURPOSE_ANY, now,
                                &change);
    char note [CW_LEDGER_REASON_MAX];
    snprintf (note, sizeof note, "erasure of all data: data key destroyed; deleted %llu "
              "readings, %llu access-log rows, %llu nudges, %llu plans, %llu decisions; %zu "
              "devices revoked", (unsigned long long) frames,
              (unsigned long long) rows, (unsigned long long) nudges,
              (unsigned long long) plans, (unsigned long long) decisions, devices.count);
    cw_receipt_t receipt = {
        .kind = CW_LEDGER_ERASE, .ts_ms = now, .policy_version = version,
        .fields = fields, .n_fields = n_fields, .note = note,
    };
    if (rc == CW_OK)
        rc = cw_ledger_append (c->ledger, person->id, &receipt, &entry);
    if (rc == CW_OK)
        rc = cw_store_commit (call->store);
    if (rc != CW_OK) {
        cw_store_rollback (call->store);
        free (devices.ids);
        return cw_api_fail (call, CW_EBUSY, "nothing was erased: the store refused it (%s); "
                            "try again", cw_strerror (rc));
    }
    /* Committed: the gateway drops the devices and reloads (now empty) consent. */
    cw_api_control_send (call, S_CONSENT_VERB, person->id);
    for (size_t i = 0; i < devices.count; i++)
        cw_api_control_send (call, S_REVOKE_VERB, devices.ids [i]);
    body->frames_deleted = frames;
    body->access_rows_deleted = rows;
    body->devices_revoked = (uint32_t) devices.count;
    body->grants_withdrawn = (uint32_t) change.changed;
    body->receipt = s_receipt_line (call, c->ledger, person->id, entry.position);
    free (devices.ids);
    return cw_api_fail (call, CW_OK, "erased all data of %s: data key destroyed, %llu "
                        "readings deleted, %u device%s revoked", person->name,
                        (unsigned long long) frames, body->devices_revoked,
                        body->devices_revoked == 1 ? "" : "s");
}

/*  One stored frame, copied out of the statement so that the row can be rewritten. */
typedef struct {
    cw_stored_frame_t f;
    uint8_t device_id [CW_ID_BYTES];
    uint8_t user_id [CW_ID_BYTES];
    uint8_t *sealed;
} s_frame_copy_t;

typedef struct {
    s_frame_copy_t items [S_ERASE_BATCH];
    size_t count;
} s_frame_batch_t;

static int
s_frame_copy (void *ctx, const cw_stored_frame_t *f)
{
    s_frame_batch_t *b = ctx;
    s_frame_copy_t *c = &b->items [b->count];
    c->sealed = malloc (f->sealed_len ? f->sealed_len : 1);
    if (!c->sealed)
        return CW_ENOMEM;
    memcpy (c->sealed, f->sealed, f->sealed_len);
    memcpy (c->device_id, f->device_id, CW_ID_BYTES);
    memcpy (c->user_id, f->user_id, CW_ID_BYTES);
    c->f = *f;
    c->f.device_id = c->device_id;
    c->f.user_id = c->user_id;
    c->f.sealed = c->sealed;
    b->count++;
    return CW_OK;
}

static void
s_frame_batch_clear (s_frame_batch_t *b)
{
    for (size_t i = 0; i < b->count; i++)
        free (b->items [i].sealed);
    b->count = 0;
}

/*  Rewrites one frame without the fields outside keep: *outcome 0 unchanged, 1 rewritten,
 *  2 deleted (nothing left), 3 unreadable (left as it is). */
static int
s_frame_rewrite (cw_api_call_t *call, const cw_stored_frame_t *f, const uint8_t *key,
                 uint64_t keep, int *outcome)
{
    cw_pb_alloc_t alloc;
    Coachwire__SensorBatch *batch = NULL;
    *outcome = 3;
    int rc = s_frame_decode (f, key, &alloc, &batch);
    if (rc == CW_ENOMEM)
        return rc;
    if (rc != CW_OK)
        return CW_OK;
    cw_strip_result_t strip;
    rc = cw_strip_batch (batch, keep, &alloc.base, &strip);
    if (rc != CW_OK) {
        cw_batch_free (&alloc, &batch);
        return CW_OK;       /* not a batch we can filter: leave it */
    }
    *outcome = 0;
    if (strip.empty) {
        *outcome = 2;
        rc = cw_store_frame_delete (call->store, f->row);
    }
    else if (strip.stripped || strip.unknown_dropped) {
        *outcome = 1;
        size_t len = coachwire__sensor_batch__get_packed_size (batch);
        uint8_t *plain = sodium_malloc (len ? len : 1);
        uint8_t *sealed = malloc (len + CW_STORED_OVERHEAD);
        if (!plain || !sealed)
            rc = CW_ENOMEM;
        else {
            coachwire__sensor_batch__pack (batch, plain);
            cw_stored_seal (sealed, key, f->device_id, f->user_id, f->stream, f->sequence,
                            plain, len);
            rc = cw_store_frame_update (call->store, f->row, sealed, len + CW_STORED_OVERHEAD);
        }
        if (plain)
            sodium_free (plain);
        free (sealed);
    }
    cw_batch_free (&alloc, &batch);
    return rc;
}

/*  One field: its grants are withdrawn first (committed, and the gateway told, so that new
 *  frames come in without it), then every stored frame is rewritten without it. */
static int
s_erase_field (cw_api_call_t *call, cw_api_consent_t *c, const cw_principal_t *person,
               const char *field, Coachwire__DataEraseReply *body)
{
    const cw_catalog_entry_t *entry = cw_catalog_find (field);
    int index = entry ? cw_catalog_index (entry) : -1;
    if (index < 0 || index >= 64)
        return cw_api_fail (call, CW_EINVAL, "'%s' is not a field", field);
    uint64_t keep = ~((uint64_t) 1 << index);
    uint64_t now = cw_now_ms ();
    cw_consent_change_t change;
    memset (&change, 0, sizeof change);
    int rc = cw_consent_revoke (c->consent, c->ledger, person->id, field, CW_PURPOSE_ANY, now,
                                &change);
    if (rc != CW_OK)
        return cw_api_fail (call, CW_EBUSY, "nothing was erased: the grants of %s could not "
                            "be withdrawn (%s)", field, cw_strerror (rc));
    cw_api_control_send (call, S_CONSENT_VERB, person->id);
    body->grants_withdrawn = (uint32_t) change.changed;

    uint8_t *key = NULL;
    rc = s_person_key (call, person->id, &key);
    if (rc == CW_ENOENT)
        rc = CW_OK;         /* everything was erased already: nothing to rewrite */
    else if (rc != CW_OK)
        return cw_api_fail (call, CW_EBUSY, "the data key could not be read (%s): the grants "
                            "of %s are withdrawn, nothing stored was changed", cw_strerror (rc),
                            field);
    uint32_t version = 0;
    if (rc == CW_OK)
        rc = cw_consent_policy_current (c->consent, &version);
    if (rc == CW_OK && (rc = cw_store_begin (call->store)) != CW_OK)
        rc = CW_EBUSY;
    s_frame_batch_t *batch = key ? calloc (1, sizeof *batch) : NULL;
    if (key && !batch && rc == CW_OK)
        rc = CW_ENOMEM;
    uint64_t rewritten = 0, deleted = 0;
    int64_t after = 0;
    while (rc == CW_OK && batch) {
        rc = cw_store_frame_each (call->store, person->id, after, S_ERASE_BATCH, s_frame_copy,
                                  batch);
        if (rc != CW_OK || batch->count == 0)
            break;
        for (size_t i = 0; rc == CW_OK && i < batch->count; i++) {
            int outcome = 0;
            rc = s_frame_rewrite (call, &batch->items [i].f, key, keep, &outcome);
            rewritten += outcome == 1;
            deleted += outcome == 2;
            after = batch->items [i].f.row;
        }
        bool last = batch->count < S_ERASE_BATCH;
        s_frame_batch_clear (batch);
        if (last)
            break;
    }
    if (batch)
        s_frame_batch_clear (batch);
    free (batch);
    if (key)
        sodium_free (key);
    char note [CW_LEDGER_REASON_MAX];
    snprintf (note, sizeof note, "erasure of %s: removed from %llu stored readings (%llu left "
              "empty and deleted)", field, (unsigned long long) (rewritten + deleted),
              (unsigned long long) deleted);
    const char *fields [1] = { field };
    cw_receipt_t receipt = {
        .kind = CW_LEDGER_ERASE, .ts_ms = now, .policy_version = version,
        .fields = fields, .n_fields = 1, .note = note,
    };
    cw_ledger_entry_t ledger_entry;
    if (rc == CW_OK)
        rc = cw_ledger_append (c->ledger, person->id, &receipt, &ledger_entry);
    if (rc == CW_OK)
        rc = cw_store_commit (call->store);
    if (rc != CW_OK) {
        cw_store_rollback (call->store);
        return cw_api_fail (call, rc == CW_ENOMEM ? rc : CW_EBUSY,
                            "the grants of %s are withdrawn, but the stored readings could not "
                            "be rewritten (%s): nothing stored changed; try again", field,
                            cw_strerror (rc));
    }
    body->frames_rewritten = rewritten;
    body->frames_deleted = deleted;
    body->field = cw_api_strdup (call, field);
    body->receipt = s_receipt_line (call, c->ledger, person->id, ledger_entry.position);
    return cw_api_fail (call, CW_OK, "erased %s from %llu stored reading%s (%llu deleted: "
                        "nothing else left in them)", field,
                        (unsigned long long) (rewritten + deleted),
                        rewritten + deleted == 1 ? "" : "s", (unsigned long long) deleted);
}

int
cw_api_data_erase (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    const Coachwire__DataEraseRequest *r = req->data_erase;
    cw_principal_t person;
    cw_api_consent_t *c = NULL;
    int rc = s_subject (call, r->user, &person);
    if (rc != CW_OK || (rc = s_get (call, &c)) != CW_OK)
        return rc;
    Coachwire__DataEraseReply *body = cw_api_alloc (call, sizeof *body);
    if (!body)
        return cw_api_fail (call, CW_ENOMEM, "out of memory");
    coachwire__data_erase_reply__init (body);
    bool field = r->field && *r->field;
    rc = field ? s_erase_field (call, c, &person, r->field, body)
               : s_erase_all (call, c, &person, body);
    if (rc != CW_OK)
        return rc;
    if (!body->field)
        body->field = (char *) "";
    if (!body->receipt)
        body->receipt = (char *) "";
    call->reply->body_case = COACHWIRE__API_REPLY__BODY_DATA_ERASE;
    call->reply->data_erase = body;
    return CW_OK;
}
