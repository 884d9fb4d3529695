/*  cw_api_coach.c - the api's commands for coaches and for a person's nudges (issue 4).
 *
 *  coach_add (operator), coach_accept and coach_remove (the person), clients, plan_show,
 *  plan_set, plan_review, progress, nudges, coach_effectiveness (a coach; plan_show, progress
 *  and nudges also the person about themself), settings (the person): rows in cw_api.c's
 *  table.
 *
 *  Who may see whom: a coach sees a person only while that person has accepted them (table
 *  coach_clients: coach_id, user_id, accepted_ms, removed_ms; removing sets removed_ms, a new
 *  accept clears it). A person the coach may not see and a person who does not exist get the
 *  same refusal, so the api is no oracle for who is enrolled. Of a client, a coach sees only
 *  what is granted for coach_review at the time of the request (cw_consent_mask): progress
 *  of a goal is measured from its type's first field and is hidden without it; a nudge's
 *  disclosure loses every field not shared, and then its message and observed value too
 *  (they are made of it). Every coach view is appended to the person's access log (actor
 *  coach, purpose coach_review, the fields shown, their coach_review grants).
 *
 *  The engine's objects (consent, access log, nudges, plans, arbiter) are opened on the
 *  actor's store for the request and closed after it: these commands are rare next to
 *  frames, and the actor's state stays what cw_api.c owns.
 */
#include "coachwire/cw_access_log.h"
#include "coachwire/cw_arbiter.h"
#include "coachwire/cw_catalog.h"
#include "coachwire/cw_consent.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_json.h"
#include "coachwire/cw_nudge.h"
#include "coachwire/cw_plan.h"
#include "coachwire/cw_store.h"
#include "cw_api_internal.h"

#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_PLAN_VERB "plan"
#define S_VERSIONS_MAX 64u              /* plan versions listed, newest first */
#define S_PROGRESS_DEFAULT 60u          /* windows per goal when the request names none */
#define S_PROGRESS_MAX 10000u
#define S_NUDGES_DEFAULT 200u
#define S_NUDGES_MAX 5000u
#define S_CLIENTS_MAX 10000u
#define S_RULES_MAX 256u
#define S_MINUTES_PER_DAY (24u * 60u)
#define S_EXPORT_MAX (4u * 1024u * 1024u)    /* nudge lines in an export, at most */

static const char s_schema [] =
    "CREATE TABLE IF NOT EXISTS coach_clients ("
    "  coach_id BLOB NOT NULL, user_id BLOB NOT NULL, accepted_ms INTEGER NOT NULL,"
    "  removed_ms INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (coach_id, user_id));"
    "CREATE INDEX IF NOT EXISTS coach_clients_by_user ON coach_clients (user_id);";

/*  ---------------------------------------------------------------------------------------
 *  Shared pieces */

/*  What a request of this file uses, opened on the actor's store for the request. */
typedef struct {
    cw_consent_t *consent;
    cw_access_log_t *log;
    cw_nudges_t *nudges;
    cw_plans_t *plans;
    cw_arbiter_t *arbiter;
} s_engine_t;

static int
s_consent_check (void *ctx, const uint8_t *user_id, const char *field, const char *purpose,
                 uint64_t now_ms, uint8_t grant_id [CW_ID_BYTES], uint32_t *policy_version)
{
    s_engine_t *e = ctx;
    cw_purpose_t p;
    if (cw_purpose_parse (purpose, &p) != CW_OK)
        return CW_EINVAL;
    return cw_consent_check (e->consent, user_id, field, p, now_ms, grant_id, policy_version);
}

static void
s_engine_close (s_engine_t *e)
{
    cw_arbiter_destroy (&e->arbiter);
    cw_plans_destroy (&e->plans);
    cw_nudges_destroy (&e->nudges);
    cw_access_log_destroy (&e->log);
    cw_consent_destroy (&e->consent);
}

static int
s_engine_open (cw_api_call_t *call, s_engine_t *e)
{
    memset (e, 0, sizeof *e);
    int rc = sqlite3_exec (cw_store_sqlite (call->store), s_schema, NULL, NULL, NULL)
                     == SQLITE_OK ? CW_OK : CW_EIO;
    if (rc == CW_OK)
        rc = cw_consent_open (&e->consent, call->store);
    if (rc == CW_OK)
        rc = cw_access_log_open (&e->log, call->store);
    if (rc == CW_OK)
        rc = cw_nudges_open (&e->nudges, call->store);
    if (rc == CW_OK)
        rc = cw_plans_open (&e->plans, call->store);
    if (rc == CW_OK)
        rc = cw_arbiter_open (&e->arbiter, call->store, s_consent_check, e);
    if (rc != CW_OK) {
        s_engine_close (e);
        return cw_api_fail (call, CW_EBUSY, "the coaching engine's tables could not be opened: "
                            "%s (%s)", cw_strerror (rc), cw_store_errmsg (call->store));
    }
    return CW_OK;
}

static int
s_store_failed (cw_api_call_t *call, int rc)
{
    if (rc == CW_ENOMEM)
        return cw_api_fail (call, rc, "out of memory");
    if (rc == CW_ETOOBIG)
        return cw_api_fail (call, rc, "the reply would be too large: narrow the request");
    return cw_api_fail (call, CW_EBUSY, "the store could not be read: %s (%s)",
                        cw_strerror (rc), cw_store_errmsg (call->store));
}

/*  Tells the coach actor to reload the person's active plan. The api actor's own PUSH goes to
 *  the gateway, so this one is made for the message (plans change rarely); a linger lets the
 *  message reach the coach's PULL after the socket is closed. */
static void
s_plan_changed (cw_api_call_t *call, const uint8_t *user_id)
{
    void *push = zmq_socket (call->config->zmq_ctx, ZMQ_PUSH);
    uint8_t message [sizeof S_PLAN_VERB - 1 + CW_ID_BYTES];
    memcpy (message, S_PLAN_VERB, sizeof S_PLAN_VERB - 1);
    memcpy (message + sizeof S_PLAN_VERB - 1, user_id, CW_ID_BYTES);
    int linger = 1000;
    if (!push || zmq_setsockopt (push, ZMQ_LINGER, &linger, sizeof linger) != 0
        || zmq_connect (push, CW_COACH_CONTROL_ENDPOINT) != 0
        || zmq_send (push, message, sizeof message, ZMQ_DONTWAIT) != (int) sizeof message)
        fprintf (stderr, "cw_api: could not tell the coach actor about a plan change: %s\n",
                 zmq_strerror (zmq_errno ()));
    if (push)
        zmq_close (push);
}

/*  Is coach_id an accepted coach of user_id now? */
static int
s_accepted (cw_api_call_t *call, const uint8_t *coach_id, const uint8_t *user_id, bool *yes)
{
    sqlite3_stmt *st = NULL;
    *yes = false;
    if (sqlite3_exec (cw_store_sqlite (call->store), s_schema, NULL, NULL, NULL) != SQLITE_OK)
        return CW_EIO;
    if (sqlite3_prepare_v2 (cw_store_sqlite (call->store),
                            "SELECT 1 FROM coach_clients WHERE coach_id = ?1 AND user_id = ?2"
                            " AND removed_ms = 0", -1, &st, NULL) != SQLITE_OK)
        return CW_EIO;
    sqlite3_bind_blob (st, 1, coach_id, CW_ID_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob (st, 2, user_id, CW_ID_BYTES, SQLITE_STATIC);
    int r = sqlite3_step (st);
    sqlite3_finalize (st);
    if (r == SQLITE_ROW)
        *yes = true;
    return r == SQLITE_ROW || r == SQLITE_DONE ? CW_OK : CW_EIO;
}

/*  The person a request is about: the caller when a person (naming anyone else is refused),
 *  the named client when a coach (who must have been accepted). *coach is set when the
 *  caller is a coach: what the coach sees is filtered and logged. */
static int
s_subject (cw_api_call_t *call, const char *user, cw_principal_t *person, bool *coach)
{
    const cw_principal_t *caller = call->caller;
    *coach = false;
    if (caller->kind == CW_PRINCIPAL_USER) {
        *person = *caller;
        if (user && *user && strcmp (user, caller->name) != 0)
            return cw_api_fail (call, CW_EDENIED, "you are %s: you may see your own plan, "
                                "progress and nudges, not those of %s", caller->name, user);
        return CW_OK;
    }
    if (caller->kind != CW_PRINCIPAL_COACH)
        return cw_api_fail (call, CW_EDENIED, "only the person or a coach they accepted may "
                            "do this");
    *coach = true;
    if (!user || !*user)
        return cw_api_fail (call, CW_EINVAL, "name the person (one of your clients: cwctl "
                            "clients)");
    int rc = cw_store_principal_by_name (call->store, CW_PRINCIPAL_USER, user, person);
    bool yes = false;
    if (rc == CW_OK && !person->revoked_ms)
        rc = s_accepted (call, caller->id, person->id, &yes);
    else if (rc == CW_OK || rc == CW_ENOENT)
        rc = CW_OK;
    if (rc != CW_OK)
        return s_store_failed (call, rc);
    if (!yes)
        return cw_api_fail (call, CW_EDENIED, "%s has not accepted you as their coach (they "
                            "can: cwctl coach accept %s)", user, caller->name);
    return CW_OK;
}

/*  Appends a coach view to the person's access log: the fields shown with their
 *  coach_review grants. */
static int
s_log_view (cw_api_call_t *call, s_engine_t *e, const cw_principal_t *person,
            const char *const *fields, size_t n_fields, const char *detail)
{
    uint8_t grants [CW_ACCESS_MAX_FIELDS * CW_ID_BYTES];
    const char *names [CW_ACCESS_MAX_FIELDS];
    size_t n = 0, n_grants = 0;
    uint64_t now = cw_now_ms ();
    for (size_t i = 0; i < n_fields && n < CW_ACCESS_MAX_FIELDS; i++) {
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = strcmp (names [k], fields [i]) == 0;
        if (seen)
            continue;
        names [n++] = fields [i];
        if (cw_consent_check (e->consent, person->id, fields [i], CW_PURPOSE_COACH_REVIEW, now,
                              grants + n_grants * CW_ID_BYTES, NULL) == CW_OK)
            n_grants++;
    }
    cw_access_t access = {
        .user_id = person->id, .ts_ms = now, .actor = CW_ACCESS_COACH,
        .actor_id = call->caller->id, .purpose = cw_purpose_name (CW_PURPOSE_COACH_REVIEW),
        .fields = names, .n_fields = n, .grant_ids = n_grants ? grants : NULL,
        .n_grant_ids = n_grants, .what = CW_ACCESS_COACH_VIEW, .detail = detail,
    };
    int rc = cw_access_log_append (e->log, &access);
    if (rc != CW_OK)
        return cw_api_fail (call, CW_EBUSY, "the view could not be recorded in %s's access "
                            "log (%s): nothing is shown", person->name, cw_strerror (rc));
    return CW_OK;
}

/*  Whether a catalog field is in mask (bit = catalog index). */
static bool
s_in_mask (uint64_t mask, const char *field)
{
    const cw_catalog_entry_t *entry = cw_catalog_find (field);
    int index = entry ? cw_catalog_index (entry) : -1;
    return index >= 0 && index < 64 && (mask & ((uint64_t) 1 << index));
}

/*  What the person shares with their coach now. */
static int
s_review_mask (cw_api_call_t *call, s_engine_t *e, const uint8_t *user_id, uint64_t *mask)
{
    int rc = cw_consent_mask (e->consent, user_id, CW_PURPOSE_COACH_REVIEW, cw_now_ms (), mask,
                              NULL);
    if (rc != CW_OK)
        return cw_api_fail (call, CW_EBUSY, "the person's consent could not be read: %s",
                            cw_strerror (rc));
    return CW_OK;
}

/*  ---------------------------------------------------------------------------------------
 *  Checks (syntax only) */

int
cw_api_coach_add_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    if (!req->coach_add)
        return cw_api_reason (reason, size, CW_EREQUEST, "coach_add without its arguments");
    return cw_api_check_name ("name", req->coach_add->name, reason, size);
}

int
cw_api_coach_link_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    bool accept = req->body_case == COACHWIRE__API_REQUEST__BODY_COACH_ACCEPT;
    const Coachwire__CoachLinkRequest *r = accept ? req->coach_accept : req->coach_remove;
    if (!r)
        return cw_api_reason (reason, size, CW_EREQUEST, "%s without its arguments",
                              accept ? "coach_accept" : "coach_remove");
    return cw_api_check_name ("coach", r->coach, reason, size);
}

int
cw_api_plan_show_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    if (!req->plan_show)
        return cw_api_reason (reason, size, CW_EREQUEST, "plan_show without its arguments");
    return cw_api_check_user (req->plan_show->user, reason, size);
}

int
cw_api_plan_set_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    const Coachwire__PlanSetRequest *r = req->plan_set;
    if (!r)
        return cw_api_reason (reason, size, CW_EREQUEST, "plan_set without its arguments");
    size_t n = r->text ? strlen (r->text) : 0;
    if (n == 0)
        return cw_api_reason (reason, size, CW_EINVAL, "the plan file is empty");
    if (n > CW_PLAN_TEXT_MAX)
        return cw_api_reason (reason, size, CW_EINVAL, "the plan file is larger than %u bytes",
                              (unsigned) CW_PLAN_TEXT_MAX);
    return cw_api_check_user (r->user, reason, size);
}

int
cw_api_plan_review_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    const Coachwire__PlanReviewRequest *r = req->plan_review;
    if (!r)
        return cw_api_reason (reason, size, CW_EREQUEST, "plan_review without its arguments");
    if (r->approve && r->reject)
        return cw_api_reason (reason, size, CW_EINVAL, "approve or reject, not both");
    return cw_api_check_user (r->user, reason, size);
}

int
cw_api_progress_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    const Coachwire__ProgressRequest *r = req->progress;
    if (!r)
        return cw_api_reason (reason, size, CW_EREQUEST, "progress without its arguments");
    if (r->goal && *r->goal && !cw_goal_type_find (r->goal)) {
        char names [256] = "";
        size_t count = 0;
        const cw_goal_type_info_t *types = cw_goal_types (&count);
        for (size_t i = 0; i < count; i++) {
            size_t used = strlen (names);
            snprintf (names + used, sizeof names - used, "%s%s", i ? ", " : "", types [i].name);
        }
        return cw_api_reason (reason, size, CW_EINVAL, "'%.32s' is not a goal; goals: %s", r->goal,
                              names);
    }
    if (r->since_ms > INT64_MAX)
        return cw_api_reason (reason, size, CW_EINVAL, "since is out of range");
    if (r->limit > S_PROGRESS_MAX)
        return cw_api_reason (reason, size, CW_EINVAL, "limit is at most %u",
                              (unsigned) S_PROGRESS_MAX);
    return cw_api_check_user (r->user, reason, size);
}

int
cw_api_nudges_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    const Coachwire__NudgesRequest *r = req->nudges;
    if (!r)
        return cw_api_reason (reason, size, CW_EREQUEST, "nudges without its arguments");
    if (r->limit > S_NUDGES_MAX)
        return cw_api_reason (reason, size, CW_EINVAL, "limit is at most %u",
                              (unsigned) S_NUDGES_MAX);
    return cw_api_check_user (r->user, reason, size);
}

int
cw_api_effectiveness_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    if (!req->coach_effectiveness)
        return cw_api_reason (reason, size, CW_EREQUEST,
                              "coach_effectiveness without its arguments");
    return cw_api_check_user (req->coach_effectiveness->user, reason, size);
}

int
cw_api_settings_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    const Coachwire__SettingsRequest *r = req->settings;
    if (!r)
        return cw_api_reason (reason, size, CW_EREQUEST, "settings without its arguments");
    if (r->set_quiet && (r->quiet_start >= S_MINUTES_PER_DAY || r->quiet_end >= S_MINUTES_PER_DAY))
        return cw_api_reason (reason, size, CW_EINVAL,
                              "quiet hours are times of day, 00:00 .. 23:59");
    if (r->set_budget && r->budget > 100)
        return cw_api_reason (reason, size, CW_EINVAL, "the daily budget is 0 .. 100 nudges");
    return CW_OK;
}

/*  ---------------------------------------------------------------------------------------
 *  Coaches: add, accept, remove, clients */

int
cw_api_coach_add (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    cw_principal_t p;
    memset (&p, 0, sizeof p);
    p.kind = CW_PRINCIPAL_COACH;
    snprintf (p.name, sizeof p.name, "%s", req->coach_add->name);
    int rc = cw_api_issue (call, &p, CW_CRED_COACH, p.name, NULL);
    if (rc == CW_OK)
        cw_api_fail (call, CW_OK, "added coach %s: they see a person only once that person "
                     "accepts them (cwctl coach accept %s)", p.name, p.name);
    return rc;
}

static int
s_link (cw_api_call_t *call, const char *coach_name, bool accept)
{
    const cw_principal_t *person = call->caller;
    cw_principal_t coach;
    int rc = cw_store_principal_by_name (call->store, CW_PRINCIPAL_COACH, coach_name, &coach);
    if (rc == CW_ENOENT || (rc == CW_OK && coach.revoked_ms))
        return cw_api_fail (call, CW_ENOENT, "no coach named '%s'", coach_name);
    if (rc != CW_OK)
        return s_store_failed (call, rc);
    s_engine_t e;
    if ((rc = s_engine_open (call, &e)) != CW_OK)
        return rc;
    sqlite3 *db = cw_store_sqlite (call->store);
    sqlite3_stmt *st = NULL;
    const char *sql = accept
        ? "INSERT INTO coach_clients (coach_id, user_id, accepted_ms, removed_ms)"
          " VALUES (?1, ?2, ?3, 0) ON CONFLICT (coach_id, user_id) DO UPDATE SET"
          " accepted_ms = CASE WHEN removed_ms = 0 THEN accepted_ms ELSE ?3 END, removed_ms = 0"
        : "UPDATE coach_clients SET removed_ms = ?3 WHERE coach_id = ?1 AND user_id = ?2"
          " AND removed_ms = 0";
    rc = sqlite3_prepare_v2 (db, sql, -1, &st, NULL) == SQLITE_OK ? CW_OK : CW_EIO;
    if (rc == CW_OK) {
        sqlite3_bind_blob (st, 1, coach.id, CW_ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_blob (st, 2, person->id, CW_ID_BYTES, SQLITE_STATIC);
        sqlite3_bind_int64 (st, 3, (sqlite3_int64) cw_now_ms ());
        rc = sqlite3_step (st) == SQLITE_DONE ? CW_OK : CW_EIO;
        sqlite3_finalize (st);
    }
    int changed = rc == CW_OK ? sqlite3_changes (db) : 0;
    s_engine_close (&e);
    if (rc != CW_OK)
        return s_store_failed (call, rc);
    Coachwire__Empty *empty = cw_api_alloc (call, sizeof *empty);
    if (!empty)
        return cw_api_fail (call, CW_ENOMEM, "out of memory");
    coachwire__empty__init (empty);
    call->reply->body_case = COACHWIRE__API_REPLY__BODY_EMPTY;
    call->reply->empty = empty;
    if (accept)
        return cw_api_fail (call, CW_OK, "%s is your coach: they see your plan, and of your "
                            "data only what you grant for coach_review (cwctl consent grant "
                            "FIELD coach_review)", coach.name);
    if (!changed)
        return cw_api_fail (call, CW_OK, "%s was not your coach: nothing changed", coach.name);
    return cw_api_fail (call, CW_OK, "%s is no longer your coach: they see nothing of yours "
                        "from now on", coach.name);
}

int
cw_api_coach_accept (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    return s_link (call, req->coach_accept->coach, true);
}

int
cw_api_coach_remove (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    return s_link (call, req->coach_remove->coach, false);
}

int
cw_api_clients (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    (void) req;
    s_engine_t e;
    int rc = s_engine_open (call, &e);
    if (rc != CW_OK)
        return rc;
    sqlite3_stmt *st = NULL;
    cw_api_list_t list = { call, NULL, 0, 0, S_CLIENTS_MAX, CW_OK };
    rc = sqlite3_prepare_v2 (cw_store_sqlite (call->store),
                             "SELECT user_id, accepted_ms FROM coach_clients WHERE coach_id = ?1"
                             " AND removed_ms = 0 ORDER BY accepted_ms", -1, &st, NULL)
             == SQLITE_OK ? CW_OK : CW_EIO;
    if (rc == CW_OK) {
        sqlite3_bind_blob (st, 1, call->caller->id, CW_ID_BYTES, SQLITE_STATIC);
        int r;
        while (list.rc == CW_OK && (r = sqlite3_step (st)) == SQLITE_ROW) {
            cw_principal_t p;
            if (sqlite3_column_bytes (st, 0) != (int) CW_ID_BYTES
                || cw_store_principal_by_id (call->store, sqlite3_column_blob (st, 0), &p)
                       != CW_OK
                || p.revoked_ms)
                continue;
            Coachwire__ClientInfo *info = cw_api_alloc (call, sizeof *info);
            if (info) {
                coachwire__client_info__init (info);
                info->user_id = cw_api_hex (call, p.id, CW_ID_BYTES);
                info->name = cw_api_strdup (call, p.name);
                info->time_zone = cw_api_strdup (call, p.time_zone);
                info->accepted_ms = (uint64_t) sqlite3_column_int64 (st, 1);
                if (!info->user_id || !info->name || !info->time_zone)
                    info = NULL;
            }
            cw_api_list_push (&list, info);
        }
        sqlite3_finalize (st);
    }
    s_engine_close (&e);
    size_t count = list.count;
    Coachwire__ClientsReply *body = cw_api_alloc (call, sizeof *body);
    void **items = cw_api_list_finish (&list);
    if (rc == CW_OK)
        rc = list.rc;
    if (rc == CW_OK && !body)
        rc = CW_ENOMEM;
    if (rc != CW_OK)
        return s_store_failed (call, rc);
    coachwire__clients_reply__init (body);
    body->clients = (Coachwire__ClientInfo **) items;
    body->n_clients = count;
    call->reply->body_case = COACHWIRE__API_REPLY__BODY_CLIENTS;
    call->reply->clients = body;
    return cw_api_fail (call, CW_OK, "%zu client%s", count, count == 1 ? "" : "s");
}

/*  ---------------------------------------------------------------------------------------
 *  Plans: show, set, review */

static Coachwire__PlanInfo *
s_plan_info (cw_api_call_t *call, const cw_plan_t *plan)
{
    Coachwire__PlanInfo *info = cw_api_alloc (call, sizeof *info);
    char *text = NULL;
    if (!info || cw_plan_text (plan, &text) != CW_OK)
        return NULL;
    coachwire__plan_info__init (info);
    info->version = cw_plan_version (plan);
    info->state = (char *) cw_plan_state_name (cw_plan_state (plan));
    info->reason = cw_api_strdup (call, cw_plan_reason (plan));
    info->start_ms = cw_plan_start (plan);
    info->created_ms = cw_plan_created (plan);
    info->text = cw_api_strdup (call, text);
    free (text);
    if (!info->state || !info->reason || !info->text)
        return NULL;
    return info;
}

/*  Lists the person's versions, newest first (only `version` when not 0; only proposed ones
 *  when proposed_only), into body. */
static int
s_plans_list (cw_api_call_t *call, s_engine_t *e, const cw_principal_t *person, uint32_t version,
              bool proposed_only, Coachwire__PlanShowReply *body)
{
    cw_api_list_t list = { call, NULL, 0, 0, S_VERSIONS_MAX, CW_OK };
    cw_plan_t *plan = NULL;
    int rc = cw_plans_get (e->plans, person->id, version, &plan);
    uint32_t newest = rc == CW_OK ? cw_plan_version (plan) : 0;
    cw_plan_destroy (&plan);
    if (rc == CW_ENOENT) {
        if (version)
            return cw_api_fail (call, CW_ENOENT, "%s has no plan version %u", person->name,
                                version);
        rc = CW_OK;
    }
    uint32_t lowest = version ? version : 1;
    for (uint32_t v = newest; rc == CW_OK && v >= lowest && v > 0
                              && list.count < S_VERSIONS_MAX; v--) {
        rc = cw_plans_get (e->plans, person->id, v, &plan);
        if (rc == CW_ENOENT) {
            rc = CW_OK;
            continue;
        }
        if (rc == CW_OK && (!proposed_only || cw_plan_state (plan) == CW_PLAN_PROPOSED))
            cw_api_list_push (&list, s_plan_info (call, plan));
        cw_plan_destroy (&plan);
    }
    size_t count = list.count;
    void **items = cw_api_list_finish (&list);
    if (rc == CW_OK)
        rc = list.rc;
    body->user = cw_api_strdup (call, person->name);
    if (rc == CW_OK && !body->user)
        rc = CW_ENOMEM;
    if (rc != CW_OK)
        return s_store_failed (call, rc);
    body->plans = (Coachwire__PlanInfo **) items;
    body->n_plans = count;
    return CW_OK;
}

static Coachwire__PlanShowReply *
s_plans_reply (cw_api_call_t *call)
{
    Coachwire__PlanShowReply *body = cw_api_alloc (call, sizeof *body);
    if (body) {
        coachwire__plan_show_reply__init (body);
        call->reply->body_case = COACHWIRE__API_REPLY__BODY_PLANS;
        call->reply->plans = body;
    }
    return body;
}

int
cw_api_plan_show (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    const Coachwire__PlanShowRequest *r = req->plan_show;
    cw_principal_t person;
    bool coach = false;
    s_engine_t e;
    int rc = s_subject (call, r->user, &person, &coach);
    if (rc != CW_OK || (rc = s_engine_open (call, &e)) != CW_OK)
        return rc;
    Coachwire__PlanShowReply *body = s_plans_reply (call);
    rc = body ? s_plans_list (call, &e, &person, r->version, false, body)
              : cw_api_fail (call, CW_ENOMEM, "out of memory");
    if (rc == CW_OK && coach)
        rc = s_log_view (call, &e, &person, NULL, 0, "plan show: the plan's goals and targets");
    s_engine_close (&e);
    if (rc != CW_OK)
        return rc;
    return cw_api_fail (call, CW_OK, "%zu plan version%s of %s", body->n_plans,
                        body->n_plans == 1 ? "" : "s", person.name);
}

int
cw_api_plan_set (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    const Coachwire__PlanSetRequest *r = req->plan_set;
    cw_principal_t person;
    bool coach = false;
    int rc = s_subject (call, r->user, &person, &coach);
    if (rc != CW_OK)
        return rc;
    cw_plan_t *plan = NULL;
    cw_parse_error_t err = { 0, "" };
    rc = cw_plan_parse (r->text, strlen (r->text), &plan, &err);
    if (rc == CW_ENOMEM)
        return cw_api_fail (call, rc, "out of memory reading the plan");
    if (rc != CW_OK) {
        if (err.line)
            return cw_api_fail (call, CW_EINVAL, "the plan was refused: line %u: %s", err.line,
                                err.reason);
        return cw_api_fail (call, CW_EINVAL, "the plan was refused: %s", err.reason);
    }
    s_engine_t e;
    if ((rc = s_engine_open (call, &e)) != CW_OK) {
        cw_plan_destroy (&plan);
        return rc;
    }
    cw_plan_state_t state = r->propose ? CW_PLAN_PROPOSED : CW_PLAN_ACTIVE;
    uint32_t version = 0;
    rc = cw_store_begin (call->store);
    if (rc == CW_OK)
        rc = cw_plans_put (e.plans, person.id, plan, state, cw_now_ms (), &version);
    char detail [128];
    snprintf (detail, sizeof detail, "plan set: version %u (%s)", version,
              cw_plan_state_name (state));
    if (rc == CW_OK && coach)
        rc = s_log_view (call, &e, &person, NULL, 0, detail);
    else if (rc != CW_OK)
        rc = cw_api_fail (call, CW_EBUSY, "the plan could not be stored: %s (%s)",
                          cw_strerror (rc), cw_store_errmsg (call->store));
    if (rc == CW_OK && (rc = cw_store_commit (call->store)) != CW_OK)
        rc = cw_api_fail (call, CW_EBUSY, "the plan could not be stored: %s",
                          cw_store_errmsg (call->store));
    if (rc != CW_OK)
        cw_store_rollback (call->store);
    cw_plan_destroy (&plan);
    if (rc == CW_OK && state == CW_PLAN_ACTIVE)
        s_plan_changed (call, person.id);
    Coachwire__PlanShowReply *body = rc == CW_OK ? s_plans_reply (call) : NULL;
    if (rc == CW_OK && !body)
        rc = cw_api_fail (call, CW_ENOMEM, "out of memory");
    if (rc == CW_OK)
        rc = s_plans_list (call, &e, &person, version, false, body);
    s_engine_close (&e);
    if (rc != CW_OK)
        return rc;
    body->changed_version = version;
    if (state == CW_PLAN_ACTIVE)
        return cw_api_fail (call, CW_OK, "plan version %u of %s is active: the engine coaches "
                            "against it from now on", version, person.name);
    return cw_api_fail (call, CW_OK, "plan version %u of %s is proposed: approve it with "
                        "cwctl plan review %s --approve %u", version, person.name, person.name,
                        version);
}

int
cw_api_plan_review (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    const Coachwire__PlanReviewRequest *r = req->plan_review;
    cw_principal_t person;
    bool coach = false;
    s_engine_t e;
    int rc = s_subject (call, r->user, &person, &coach);
    if (rc != CW_OK || (rc = s_engine_open (call, &e)) != CW_OK)
        return rc;
    uint32_t version = r->approve ? r->approve : r->reject;
    uint64_t now = cw_now_ms ();
    char detail [128] = "plan review: the proposed versions";
    if (version) {
        rc = r->approve ? cw_plans_approve (e.plans, person.id, version, now)
                        : cw_plans_reject (e.plans, person.id, version, now);
        if (rc == CW_ENOENT)
            rc = cw_api_fail (call, rc, "%s has no plan version %u", person.name, version);
        else if (rc == CW_ESTATE)
            rc = cw_api_fail (call, rc, "plan version %u of %s is not proposed: only a "
                              "proposed version can be approved or rejected", version,
                              person.name);
        else if (rc != CW_OK)
            rc = s_store_failed (call, rc);
        snprintf (detail, sizeof detail, "plan review: version %u %s", version,
                  r->approve ? "approved" : "rejected");
    }
    if (rc == CW_OK && r->approve)
        s_plan_changed (call, person.id);
    if (rc == CW_OK && coach)
        rc = s_log_view (call, &e, &person, NULL, 0, detail);
    Coachwire__PlanShowReply *body = rc == CW_OK ? s_plans_reply (call) : NULL;
    if (rc == CW_OK && !body)
        rc = cw_api_fail (call, CW_ENOMEM, "out of memory");
    if (rc == CW_OK)
        rc = s_plans_list (call, &e, &person, 0, true, body);
    s_engine_close (&e);
    if (rc != CW_OK)
        return rc;
    body->changed_version = version;
    if (version)
        return cw_api_fail (call, CW_OK, "plan version %u of %s %s", version, person.name,
                            r->approve ? "approved: it is active, the old one retired"
                                       : "rejected");
    return cw_api_fail (call, CW_OK, "%zu proposed version%s of %s's plan", body->n_plans,
                        body->n_plans == 1 ? "" : "s", person.name);
}

/*  ---------------------------------------------------------------------------------------
 *  Progress */

/*  The newest `max` rows of a series, in a ring. */
typedef struct {
    cw_progress_t *rows;
    size_t max, count, next;
} s_ring_t;

static void
s_ring_add (void *ctx, const cw_progress_t *row)
{
    s_ring_t *ring = ctx;
    ring->rows [ring->next] = *row;
    ring->next = (ring->next + 1) % ring->max;
    if (ring->count < ring->max)
        ring->count++;
}

/*  One goal's series into a GoalProgress (hidden: only its name and that it is hidden). */
static int
s_goal_progress (cw_api_call_t *call, s_engine_t *e, const cw_principal_t *person,
                 const cw_goal_type_info_t *info, bool hidden, uint64_t since, size_t limit,
                 Coachwire__GoalProgress **out)
{
    *out = NULL;
    Coachwire__GoalProgress *g = cw_api_alloc (call, sizeof *g);
    if (!g)
        return CW_ENOMEM;
    coachwire__goal_progress__init (g);
    char fields [160] = "";
    for (size_t f = 0; f < CW_GOAL_MAX_FIELDS && info->fields [f]; f++) {
        size_t used = strlen (fields);
        snprintf (fields + used, sizeof fields - used, "%s%s", f ? "," : "", info->fields [f]);
    }
    g->goal = (char *) info->name;
    g->metric = (char *) info->metric;
    g->unit = (char *) info->unit;
    g->kind = (char *) cw_goal_kind_name (info->kind);
    g->hidden = hidden;
    g->fields = cw_api_strdup (call, fields);
    if (!g->fields || !g->kind)
        return CW_ENOMEM;
    if (hidden) {
        *out = g;
        return CW_OK;
    }
    s_ring_t ring = { calloc (limit, sizeof (cw_progress_t)), limit, 0, 0 };
    if (!ring.rows)
        return CW_ENOMEM;
    int rc = cw_plans_progress_each (e->plans, person->id, info->type, since, 0, s_ring_add,
                                     &ring);
    Coachwire__ProgressPoint **points = NULL;
    if (rc == CW_OK && ring.count) {
        points = cw_api_alloc (call, ring.count * sizeof *points);
        if (!points)
            rc = CW_ENOMEM;
    }
    size_t first = ring.count < ring.max ? 0 : ring.next;
    for (size_t i = 0; rc == CW_OK && i < ring.count; i++) {
        const cw_progress_t *row = &ring.rows [(first + i) % ring.max];
        Coachwire__ProgressPoint *p = cw_api_alloc (call, sizeof *p);
        if (!p) {
            rc = CW_ENOMEM;
            break;
        }
        coachwire__progress_point__init (p);
        p->version = row->version;
        p->window_start_ms = row->window_start_ms;
        p->window_end_ms = row->window_end_ms;
        p->observed = row->observed;
        p->target_low = row->target_lo;
        p->target_high = row->target_hi;
        p->met = row->met;
        points [i] = p;
        if (row->met)
            g->met++;
        else
            g->missed++;
    }
    if (rc == CW_OK) {
        g->points = points;
        g->n_points = ring.count;
        *out = g;
    }
    free (ring.rows);
    return rc;
}

int
cw_api_progress (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    const Coachwire__ProgressRequest *r = req->progress;
    cw_principal_t person;
    bool coach = false;
    s_engine_t e;
    int rc = s_subject (call, r->user, &person, &coach);
    if (rc != CW_OK || (rc = s_engine_open (call, &e)) != CW_OK)
        return rc;
    uint64_t mask = ~(uint64_t) 0;
    if (coach && (rc = s_review_mask (call, &e, person.id, &mask)) != CW_OK) {
        s_engine_close (&e);
        return rc;
    }
    cw_plan_t *active = NULL;
    if (cw_plans_active (e.plans, person.id, &active) != CW_OK)
        active = NULL;
    size_t n_types = 0;
    const cw_goal_type_info_t *types = cw_goal_types (&n_types);
    const cw_goal_type_info_t *only = r->goal && *r->goal ? cw_goal_type_find (r->goal) : NULL;
    size_t limit = r->limit ? r->limit : S_PROGRESS_DEFAULT;
    cw_api_list_t list = { call, NULL, 0, 0, CW_GOAL_TYPE_COUNT, CW_OK };
    const char *shown [CW_GOAL_TYPE_COUNT];
    size_t n_shown = 0;
    for (size_t t = 0; rc == CW_OK && t < n_types; t++) {
        const cw_goal_type_info_t *info = &types [t];
        if (only ? only != info : (active && !cw_plan_goal_of (active, info->type)))
            continue;
        /* progress is measured from the type's first field: what the engine records */
        bool hidden = !s_in_mask (mask, info->fields [0]);
        Coachwire__GoalProgress *g = NULL;
        rc = s_goal_progress (call, &e, &person, info, hidden, r->since_ms, limit, &g);
        if (rc == CW_OK && !only && !active && !hidden && g->n_points == 0)
            continue;       /* no plan: only goals with something to show */
        if (rc == CW_OK) {
            cw_api_list_push (&list, g);
            if (!hidden)
                shown [n_shown++] = info->fields [0];
        }
    }
    cw_plan_destroy (&active);
    size_t count = list.count;
    void **items = cw_api_list_finish (&list);
    if (rc == CW_OK)
        rc = list.rc;
    if (rc != CW_OK) {
        s_engine_close (&e);
        return s_store_failed (call, rc);
    }
    if (coach) {
        char detail [128];
        snprintf (detail, sizeof detail, "progress%s%s: %zu goal%s shown", only ? " of " : "",
                  only ? only->name : "", n_shown, n_shown == 1 ? "" : "s");
        rc = s_log_view (call, &e, &person, shown, n_shown, detail);
    }
    s_engine_close (&e);
    if (rc != CW_OK)
        return rc;
    Coachwire__ProgressReply *body = cw_api_alloc (call, sizeof *body);
    if (!body)
        return cw_api_fail (call, CW_ENOMEM, "out of memory");
    coachwire__progress_reply__init (body);
    if (!(body->user = cw_api_strdup (call, person.name)))
        return cw_api_fail (call, CW_ENOMEM, "out of memory");
    body->goals = (Coachwire__GoalProgress **) items;
    body->n_goals = count;
    call->reply->body_case = COACHWIRE__API_REPLY__BODY_PROGRESS;
    call->reply->progress = body;
    return cw_api_fail (call, CW_OK, "progress of %s: %zu goal%s", person.name, count,
                        count == 1 ? "" : "s");
}

/*  ---------------------------------------------------------------------------------------
 *  Nudges */

typedef struct {
    cw_api_call_t *call;
    bool all;
    bool coach;
    uint64_t mask;                      /* coach_review grants (coach views) */
    size_t limit;
    Coachwire__NudgeEntry **ring;       /* the newest `limit` */
    size_t count, next;
    const char *shown [CW_ACCESS_MAX_FIELDS];
    size_t n_shown;
    int rc;
} s_nudges_t;

static void
s_nudge_row (void *ctx, const cw_nudge_t *nudge)
{
    s_nudges_t *x = ctx;
    if (x->rc != CW_OK)
        return;
    if (!x->all && (nudge->state == CW_NUDGE_EXPIRED || nudge->state == CW_NUDGE_WITHDRAWN))
        return;
    cw_nudge_t view = *nudge;
    const char *hidden [CW_RULE_MAX_FIELDS];
    size_t n_hidden = 0;
    if (x->coach) {
        view.n_uses = 0;
        for (size_t i = 0; i < nudge->n_uses; i++) {
            if (s_in_mask (x->mask, nudge->uses [i].field))
                view.uses [view.n_uses++] = nudge->uses [i];
            else
                hidden [n_hidden++] = nudge->uses [i].field;
        }
        if (n_hidden) {
            /* the message and the observed value are made of what is not shared */
            snprintf (view.message, sizeof view.message, "%s", CW_NUDGE_HIDDEN_TEXT);
            view.why.observed = 0;
        }
    }
    Coachwire__NudgeEntry *entry = cw_api_alloc (x->call, sizeof *entry);
    uint8_t *packed = NULL;
    size_t len = 0;
    if (!entry || cw_nudge_pack (&view, &packed, &len) != CW_OK) {
        x->rc = CW_ENOMEM;
        return;
    }
    coachwire__nudge_entry__init (entry);
    entry->body.data = cw_api_alloc (x->call, len ? len : 1);
    if (entry->body.data)
        memcpy (entry->body.data, packed, len);
    entry->body.len = len;
    free (packed);
    entry->state = (char *) cw_nudge_state_name (nudge->state);
    if (n_hidden) {
        entry->hidden = cw_api_alloc (x->call, n_hidden * sizeof *entry->hidden);
        for (size_t i = 0; entry->hidden && i < n_hidden; i++)
            if (!(entry->hidden [i] = cw_api_strdup (x->call, hidden [i])))
                entry->hidden = NULL;
        entry->n_hidden = entry->hidden ? n_hidden : 0;
    }
    if (!entry->body.data || !entry->state || (n_hidden && !entry->hidden)) {
        x->rc = CW_ENOMEM;
        return;
    }
    for (size_t i = 0; i < view.n_uses && x->n_shown < CW_ACCESS_MAX_FIELDS; i++) {
        const cw_catalog_entry_t *c = cw_catalog_find (view.uses [i].field);
        if (c)
            x->shown [x->n_shown++] = c->name;     /* static: outlives the nudge */
    }
    x->ring [x->next] = entry;
    x->next = (x->next + 1) % x->limit;
    if (x->count < x->limit)
        x->count++;
}

typedef struct {
    cw_api_call_t *call;
    cw_api_list_t *list;
} s_held_t;

static void
s_held_row (void *ctx, const cw_decision_row_t *row)
{
    s_held_t *h = ctx;
    if (row->sent)
        return;
    Coachwire__HeldDecision *d = cw_api_alloc (h->call, sizeof *d);
    if (d) {
        coachwire__held_decision__init (d);
        const char *code = cw_decision_code_name (row->code);
        d->rule = cw_api_strdup (h->call, row->rule ? row->rule : "");
        d->created_ms = row->created_ms;
        d->code = (char *) (code ? code : "?");
        d->reason = cw_api_strdup (h->call, row->reason ? row->reason : "");
        d->window_start_ms = row->window_start_ms;
        d->window_end_ms = row->window_end_ms;
        if (!d->rule || !d->reason)
            d = NULL;
    }
    if (h->list->count == h->list->max && d && h->list->rc == CW_OK) {
        /* keep the newest: drop the oldest */
        memmove (h->list->items, h->list->items + 1, (h->list->count - 1) * sizeof (void *));
        h->list->count--;
    }
    cw_api_list_push (h->list, d);
}

int
cw_api_nudges (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    const Coachwire__NudgesRequest *r = req->nudges;
    cw_principal_t person;
    bool coach = false;
    s_engine_t e;
    int rc = s_subject (call, r->user, &person, &coach);
    if (rc != CW_OK || (rc = s_engine_open (call, &e)) != CW_OK)
        return rc;
    s_nudges_t x;
    memset (&x, 0, sizeof x);
    x.call = call;
    x.all = r->all;
    x.coach = coach;
    x.limit = r->limit ? r->limit : S_NUDGES_DEFAULT;
    x.ring = calloc (x.limit, sizeof *x.ring);
    cw_api_list_t held = { call, NULL, 0, 0, x.limit, CW_OK };
    if (!x.ring)
        rc = cw_api_fail (call, CW_ENOMEM, "out of memory");
    if (rc == CW_OK && coach)
        rc = s_review_mask (call, &e, person.id, &x.mask);
    if (rc == CW_OK) {
        rc = cw_nudges_each (e.nudges, person.id, 0, 0, s_nudge_row, &x);
        if (rc == CW_OK)
            rc = x.rc;
        s_held_t h = { call, &held };
        if (rc == CW_OK && r->held)
            rc = cw_arbiter_decisions_each (e.arbiter, person.id, 0, s_held_row, &h);
        if (rc == CW_OK)
            rc = held.rc;
        if (rc != CW_OK)
            rc = s_store_failed (call, rc);
    }
    size_t n_held = held.count;
    void **held_items = cw_api_list_finish (&held);
    if (rc == CW_OK && coach) {
        char detail [128];
        snprintf (detail, sizeof detail, "nudges: %zu shown%s", x.count,
                  r->held ? ", with the decisions held back" : "");
        rc = s_log_view (call, &e, &person, x.shown, x.n_shown, detail);
    }
    s_engine_close (&e);
    Coachwire__NudgesReply *body = rc == CW_OK ? cw_api_alloc (call, sizeof *body) : NULL;
    Coachwire__NudgeEntry **entries = rc == CW_OK && x.count
                                          ? cw_api_alloc (call, x.count * sizeof *entries)
                                          : NULL;
    if (rc == CW_OK && (!body || (x.count && !entries)))
        rc = cw_api_fail (call, CW_ENOMEM, "out of memory");
    if (rc == CW_OK) {
        size_t first = x.count < x.limit ? 0 : x.next;
        for (size_t i = 0; i < x.count; i++)
            entries [i] = x.ring [(first + i) % x.limit];
        coachwire__nudges_reply__init (body);
        body->user = cw_api_strdup (call, person.name);
        body->nudges = entries;
        body->n_nudges = x.count;
        body->held = (Coachwire__HeldDecision **) held_items;
        body->n_held = n_held;
        call->reply->body_case = COACHWIRE__API_REPLY__BODY_NUDGES;
        call->reply->nudges = body;
        if (!body->user)
            rc = cw_api_fail (call, CW_ENOMEM, "out of memory");
    }
    free (x.ring);
    if (rc != CW_OK)
        return rc;
    return cw_api_fail (call, CW_OK, "%zu nudge%s of %s%s", x.count, x.count == 1 ? "" : "s",
                        person.name, r->held ? " and the decisions held back" : "");
}

/*  ---------------------------------------------------------------------------------------
 *  Effectiveness */

typedef struct {
    cw_effectiveness_t rows [S_RULES_MAX];
    char names [S_RULES_MAX][CW_RULE_ID_MAX + 1];
    double change_sum [S_RULES_MAX];
    size_t count;
} s_effect_t;

static void
s_effect_row (void *ctx, const cw_effectiveness_t *row)
{
    s_effect_t *x = ctx;
    size_t i = 0;
    while (i < x->count && strcmp (x->names [i], row->rule ? row->rule : "") != 0)
        i++;
    if (i == x->count) {
        if (x->count == S_RULES_MAX)
            return;
        memset (&x->rows [i], 0, sizeof x->rows [i]);
        snprintf (x->names [i], sizeof x->names [i], "%s", row->rule ? row->rule : "");
        x->change_sum [i] = 0;
        x->count++;
    }
    cw_effectiveness_t *sum = &x->rows [i];
    sum->sent += row->sent;
    sum->delivered += row->delivered;
    sum->opened += row->opened;
    sum->dismissed += row->dismissed;
    sum->helpful += row->helpful;
    sum->outcomes += row->outcomes;
    x->change_sum [i] += row->mean_change * (double) row->outcomes;
}

int
cw_api_effectiveness (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    const Coachwire__EffectivenessRequest *r = req->coach_effectiveness;
    s_engine_t e;
    int rc = CW_OK;
    bool coach = true;
    /* whose: one client, or every client of the caller */
    uint8_t (*ids) [CW_ID_BYTES] = NULL;
    size_t n_ids = 0;
    if (r->user && *r->user) {
        cw_principal_t person;
        if ((rc = s_subject (call, r->user, &person, &coach)) != CW_OK)
            return rc;
        if (!(ids = malloc (CW_ID_BYTES)))
            return cw_api_fail (call, CW_ENOMEM, "out of memory");
        memcpy (ids [0], person.id, CW_ID_BYTES);
        n_ids = 1;
    }
    if ((rc = s_engine_open (call, &e)) != CW_OK) {
        free (ids);
        return rc;
    }
    if (!n_ids) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2 (cw_store_sqlite (call->store),
                                 "SELECT user_id FROM coach_clients WHERE coach_id = ?1 AND"
                                 " removed_ms = 0", -1, &st, NULL) == SQLITE_OK ? CW_OK : CW_EIO;
        if (rc == CW_OK) {
            sqlite3_bind_blob (st, 1, call->caller->id, CW_ID_BYTES, SQLITE_STATIC);
            size_t cap = 0;
            while (rc == CW_OK && sqlite3_step (st) == SQLITE_ROW && n_ids < S_CLIENTS_MAX) {
                if (sqlite3_column_bytes (st, 0) != (int) CW_ID_BYTES)
                    continue;
                if (n_ids == cap) {
                    cap = cap ? 2 * cap : 16;
                    void *grown = realloc (ids, cap * CW_ID_BYTES);
                    if (!grown) {
                        rc = CW_ENOMEM;
                        break;
                    }
                    ids = grown;
                }
                memcpy (ids [n_ids++], sqlite3_column_blob (st, 0), CW_ID_BYTES);
            }
            sqlite3_finalize (st);
        }
    }
    s_effect_t *x = rc == CW_OK ? calloc (1, sizeof *x) : NULL;
    if (rc == CW_OK && !x)
        rc = CW_ENOMEM;
    for (size_t i = 0; rc == CW_OK && i < n_ids; i++)
        rc = cw_nudges_effectiveness_each (e.nudges, ids [i], 0, s_effect_row, x);
    /* each client whose nudges were counted learns of it in their access log */
    for (size_t i = 0; rc == CW_OK && i < n_ids; i++) {
        cw_principal_t person;
        if (cw_store_principal_by_id (call->store, ids [i], &person) == CW_OK)
            rc = s_log_view (call, &e, &person, NULL, 0,
                             "coach effectiveness: nudges sent, reactions and outcomes per "
                             "rule");
    }
    s_engine_close (&e);
    free (ids);
    if (rc != CW_OK) {
        free (x);
        return call->reason [0] ? rc : s_store_failed (call, rc);
    }
    Coachwire__EffectivenessReply *body = cw_api_alloc (call, sizeof *body);
    Coachwire__RuleEffect **rules = x->count ? cw_api_alloc (call, x->count * sizeof *rules)
                                             : NULL;
    if (!body || (x->count && !rules)) {
        free (x);
        return cw_api_fail (call, CW_ENOMEM, "out of memory");
    }
    coachwire__effectiveness_reply__init (body);
    for (size_t i = 0; i < x->count; i++) {
        Coachwire__RuleEffect *row = cw_api_alloc (call, sizeof *row);
        char *name = cw_api_strdup (call, x->names [i]);
        if (!row || !name) {
            free (x);
            return cw_api_fail (call, CW_ENOMEM, "out of memory");
        }
        coachwire__rule_effect__init (row);
        const cw_effectiveness_t *s = &x->rows [i];
        row->rule = name;
        row->sent = s->sent;
        row->delivered = s->delivered;
        row->opened = s->opened;
        row->dismissed = s->dismissed;
        row->helpful = s->helpful;
        row->outcomes = s->outcomes;
        row->mean_change = s->outcomes ? x->change_sum [i] / (double) s->outcomes : 0;
        rules [i] = row;
    }
    body->rules = rules;
    body->n_rules = x->count;
    body->people = (uint32_t) n_ids;
    size_t count = x->count;
    free (x);
    call->reply->body_case = COACHWIRE__API_REPLY__BODY_COACH_EFFECTIVENESS;
    call->reply->coach_effectiveness = body;
    return cw_api_fail (call, CW_OK, "%zu rule%s over %u %s", count, count == 1 ? "" : "s",
                        body->people, body->people == 1 ? "person" : "people");
}

/*  ---------------------------------------------------------------------------------------
 *  The person's settings */

int
cw_api_settings (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    const Coachwire__SettingsRequest *r = req->settings;
    const cw_principal_t *person = call->caller;
    s_engine_t e;
    int rc = s_engine_open (call, &e);
    if (rc != CW_OK)
        return rc;
    uint32_t budget = 0, start = 0, end = 0;
    rc = cw_arbiter_settings_get (e.arbiter, person->id, &budget, &start, &end);
    if (rc == CW_OK && (r->set_quiet || r->set_budget)) {
        if (r->set_quiet) {
            start = r->quiet_start;
            end = r->quiet_end;
        }
        if (r->set_budget)
            budget = r->budget;
        rc = cw_arbiter_settings_set (e.arbiter, person->id, budget, start, end);
    }
    s_engine_close (&e);
    if (rc != CW_OK)
        return s_store_failed (call, rc);
    Coachwire__SettingsReply *body = cw_api_alloc (call, sizeof *body);
    if (!body)
        return cw_api_fail (call, CW_ENOMEM, "out of memory");
    coachwire__settings_reply__init (body);
    body->quiet_start = start;
    body->quiet_end = end;
    body->budget = budget;
    body->time_zone = cw_api_strdup (call, person->time_zone [0] ? person->time_zone : "UTC");
    if (!body->time_zone)
        return cw_api_fail (call, CW_ENOMEM, "out of memory");
    call->reply->body_case = COACHWIRE__API_REPLY__BODY_SETTINGS;
    call->reply->settings = body;
    if (start == end)
        return cw_api_fail (call, CW_OK, "%s: at most %u nudge%s a day, no quiet hours%s",
                            person->name, budget, budget == 1 ? "" : "s",
                            r->set_quiet || r->set_budget ? " (saved)" : "");
    return cw_api_fail (call, CW_OK, "%s: at most %u nudge%s a day, quiet %02u:%02u-%02u:%02u "
                        "(%s)%s", person->name, budget, budget == 1 ? "" : "s", start / 60,
                        start % 60, end / 60, end % 60, body->time_zone,
                        r->set_quiet || r->set_budget ? " (saved)" : "");
}

/*  ---------------------------------------------------------------------------------------
 *  Export and erasure (called from cw_api_consent.c) */

int
cw_api_coach_export (cw_api_call_t *call, const uint8_t *user_id, char **lines, size_t *len)
{
    *lines = NULL;
    *len = 0;
    s_engine_t e;
    int rc = s_engine_open (call, &e);
    if (rc != CW_OK)
        return rc;
    typedef struct {
        char *buf;
        size_t len, cap;
        int rc;
    } s_out_t;
    s_out_t out = { NULL, 0, 0, CW_OK };
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2 (cw_store_sqlite (call->store),
                             "SELECT body, state FROM nudges WHERE user_id = ?1"
                             " ORDER BY created_ms, rowid", -1, &st, NULL) == SQLITE_OK
             ? CW_OK : CW_EIO;
    if (rc == CW_OK) {
        sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
        cw_nudge_t n;
        while (out.rc == CW_OK && sqlite3_step (st) == SQLITE_ROW) {
            const void *body = sqlite3_column_blob (st, 0);
            int body_len = sqlite3_column_bytes (st, 0);
            if (!body || body_len <= 0
                || cw_nudge_unpack (body, (size_t) body_len, &n) != CW_OK)
                continue;
            n.state = (cw_nudge_state_t) sqlite3_column_int (st, 1);
            cw_json_t *json = NULL;
            if (cw_json_new (&json, 0) != CW_OK) {
                out.rc = CW_ENOMEM;
                break;
            }
            cw_json_object_begin (json, NULL);
            cw_json_string (json, "type", "nudge");
            cw_nudge_json (&n, json, "nudge");
            cw_json_object_end (json);
            size_t n_text = 0;
            const char *text = cw_json_text (json, &n_text);
            if (!text)
                out.rc = CW_ENOMEM;
            else if (out.len + n_text + 2 > S_EXPORT_MAX)
                out.rc = CW_ETOOBIG;
            else {
                if (out.len + n_text + 2 > out.cap) {
                    size_t cap = out.cap ? out.cap : 4096;
                    while (cap < out.len + n_text + 2)
                        cap *= 2;
                    char *grown = realloc (out.buf, cap);
                    if (!grown)
                        out.rc = CW_ENOMEM;
                    else {
                        out.buf = grown;
                        out.cap = cap;
                    }
                }
                if (out.rc == CW_OK) {
                    memcpy (out.buf + out.len, text, n_text);
                    out.len += n_text;
                    out.buf [out.len++] = '\n';
                    out.buf [out.len] = 0;
                }
            }
            cw_json_destroy (&json);
        }
        sqlite3_finalize (st);
    }
    s_engine_close (&e);
    if (rc == CW_OK)
        rc = out.rc;
    if (rc != CW_OK) {
        free (out.buf);
        return rc;
    }
    *lines = out.buf;
    *len = out.len;
    return CW_OK;
}

int
cw_api_coach_erase (cw_api_call_t *call, const uint8_t *user_id, uint64_t *nudges,
                    uint64_t *plans, uint64_t *decisions)
{
    s_engine_t e;
    int rc = s_engine_open (call, &e);
    if (rc != CW_OK)
        return rc;
    rc = cw_nudges_erase_user (e.nudges, user_id, nudges);
    if (rc == CW_OK)
        rc = cw_plans_erase_user (e.plans, user_id, plans);
    if (rc == CW_OK)
        rc = cw_arbiter_erase_user (e.arbiter, user_id, decisions);
    if (rc == CW_OK) {
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2 (cw_store_sqlite (call->store),
                                 "DELETE FROM coach_clients WHERE user_id = ?1", -1, &st, NULL)
                     == SQLITE_OK ? CW_OK : CW_EIO;
        if (rc == CW_OK) {
            sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
            rc = sqlite3_step (st) == SQLITE_DONE ? CW_OK : CW_EIO;
            sqlite3_finalize (st);
        }
    }
    s_engine_close (&e);
    return rc;
}
