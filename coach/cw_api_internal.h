/*  cw_api_internal.h - the api actor's command table, for the files that add commands and
 *  for the fuzz target. Not installed.
 *
 *  Adding a command: a field in ApiRequest's oneof (api.proto), a check function (syntax
 *  only: no store, no caller; the fuzz target runs it on every input), a handler, and one row
 *  in s_commands (cw_api.c). Handlers in other files declare themselves here.
 */
#ifndef CW_API_INTERNAL_H_INCLUDED
#define CW_API_INTERNAL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_server.h"
#include "coachwire/cw_store.h"

#define CW_API_DECODE_BUDGET (16u * CW_API_MAX_MSG_BYTES)  /* decoded request, at most */
#define CW_API_LIST_MAX 100000u                            /* rows in one list reply */
#define CW_API_REASON_MAX 256u

/*  Role bits: which principal kinds may call a command. */
#define CW_ROLE(kind) (1u << (unsigned) (kind))
#define CW_ROLE_DEVICE CW_ROLE (CW_PRINCIPAL_DEVICE)
#define CW_ROLE_USER CW_ROLE (CW_PRINCIPAL_USER)
#define CW_ROLE_COACH CW_ROLE (CW_PRINCIPAL_COACH)
#define CW_ROLE_OPERATOR CW_ROLE (CW_PRINCIPAL_OPERATOR)

typedef struct _cw_api_arena_t cw_api_arena_t;
typedef struct _cw_api_consent_t cw_api_consent_t;

/*  One request being served: what a handler may use. */
typedef struct {
    cw_store_t *store;                  /* the actor's own store */
    const cw_server_config_t *config;
    const cw_principal_t *caller;       /* authenticated, unrevoked, role checked */
    void *control;                      /* PUSH to CW_GATEWAY_CONTROL_ENDPOINT */
    cw_api_arena_t *arena;              /* reply memory, wiped and freed after sending */
    cw_api_consent_t **consent;         /* the actor's consent, ledger and access log (opened
                                           on first use by cw_api_consent_get) */
    Coachwire__ApiReply *reply;         /* the handler sets the body */
    char reason [CW_API_REASON_MAX];    /* the reply's sentence (cw_strerror when empty) */
} cw_api_call_t;

/*  Checks a request's arguments (syntax only). Returns CW_OK or an error with a reason. */
typedef int (*cw_api_check_fn) (const Coachwire__ApiRequest *req, char *reason,
                                size_t reason_size);
/*  Serves a checked request. Returns CW_OK (reply body set) or an error (reason set). */
typedef int (*cw_api_handler_fn) (cw_api_call_t *call, const Coachwire__ApiRequest *req);

typedef struct {
    Coachwire__ApiRequest__BodyCase body;   /* the oneof case that selects it */
    const char *name;                       /* "user_add": logs and errors */
    cw_api_check_fn check;                  /* may be NULL: no arguments */
    cw_api_handler_fn handler;
    unsigned roles;                         /* CW_ROLE_* bits allowed to call it */
    const char *refusal;                    /* the sentence for other kinds (NULL: generic) */
} cw_api_command_t;

/*  The row for body, or NULL when no command has it. */
const cw_api_command_t *cw_api_command_find (Coachwire__ApiRequest__BodyCase body);

/*  Decodes an ApiRequest under CW_API_MAX_MSG_BYTES / CW_API_DECODE_BUDGET. Returns CW_OK,
 *  CW_ETOOBIG, CW_EDECODE or CW_ENOMEM; free with cw_api_request_free. */
int cw_api_request_decode (const uint8_t *data, size_t size, Coachwire__ApiRequest **out)
    CW_MUST_CHECK;
void cw_api_request_free (Coachwire__ApiRequest **req_p);

/*  Decode is done; finds the command and runs its check: CW_OK or CW_EREQUEST / the check's
 *  error, with a reason. What the actor does before it looks at the caller and the store. */
int cw_api_request_check (const Coachwire__ApiRequest *req, char *reason, size_t reason_size)
    CW_MUST_CHECK;

/*  Reply memory for handlers: zeroed, freed (and wiped) after the reply is sent. NULL when
 *  out of memory. */
void *cw_api_alloc (cw_api_call_t *call, size_t size);
char *cw_api_strdup (cw_api_call_t *call, const char *text);
/*  len bytes as lowercase hex in reply memory; NULL when out of memory. */
char *cw_api_hex (cw_api_call_t *call, const uint8_t *bytes, size_t len);
/*  Sets the reply's sentence (printf style) and returns rc, for `return cw_api_fail (...)`. */
int cw_api_fail (cw_api_call_t *call, int rc, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

/*  Writes a check's reason (printf style; reason may be NULL) and returns rc. */
int cw_api_reason (char *reason, size_t reason_size, int rc, const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));

/*  Argument checks shared by commands. Each returns CW_OK or CW_EINVAL with a reason. */
int cw_api_check_name (const char *what, const char *name, char *reason, size_t reason_size);
int cw_api_check_label (const char *label, char *reason, size_t reason_size);
int cw_api_check_time_zone (const char *zone, char *reason, size_t reason_size);
int cw_api_check_id_hex (const char *what, const char *hex, char *reason, size_t reason_size);
/*  An optional person's name: empty or absent passes. */
int cw_api_check_user (const char *user, char *reason, size_t reason_size);

/*  Rows of a list reply (pointers into reply memory), gathered in a malloc'd array of at
 *  most max items. Start with { call, NULL, 0, 0, max, CW_OK }. */
typedef struct {
    cw_api_call_t *call;
    void **items;           /* malloc'd, grows */
    size_t count;
    size_t cap;
    size_t max;             /* more is CW_ETOOBIG */
    int rc;                 /* first failure: CW_ENOMEM (also a NULL item) or CW_ETOOBIG */
} cw_api_list_t;

/*  Adds item; false (and nothing more is added) once anything has failed. */
bool cw_api_list_push (cw_api_list_t *list, void *item);
/*  Moves the items into reply memory and frees the array; returns them (NULL when empty or
 *  on failure: list->rc says which). */
void **cw_api_list_finish (cw_api_list_t *list);

/*  Makes a key pair, adds principal p with its public key in a transaction (inside, when
 *  not NULL, runs in it too), and puts the credential for kind into the reply. The secret
 *  key lives only in sodium memory. Returns CW_OK or an error with a reason. */
int cw_api_issue (cw_api_call_t *call, cw_principal_t *p, cw_cred_kind_t kind,
                  const char *cred_name,
                  int (*inside) (cw_api_call_t *call, const cw_principal_t *p));

/*  ---------------------------------------------------------------------------------------
 *  A person's consent and data (cw_api_consent.c): checks, handlers and the actor's state. */

/*  Frees what cw_api_consent_get opened and sets *self_p to NULL; safe on NULL. */
void cw_api_consent_destroy (cw_api_consent_t **self_p);

int cw_api_consent_change_check (const Coachwire__ApiRequest *req, char *reason,
                                 size_t reason_size);
int cw_api_consent_show_check (const Coachwire__ApiRequest *req, char *reason,
                               size_t reason_size);
int cw_api_consent_receipts_check (const Coachwire__ApiRequest *req, char *reason,
                                   size_t reason_size);
int cw_api_access_log_check (const Coachwire__ApiRequest *req, char *reason,
                             size_t reason_size);
int cw_api_data_export_check (const Coachwire__ApiRequest *req, char *reason,
                              size_t reason_size);
int cw_api_data_erase_check (const Coachwire__ApiRequest *req, char *reason,
                             size_t reason_size);

int cw_api_consent_grant (cw_api_call_t *call, const Coachwire__ApiRequest *req);
int cw_api_consent_revoke (cw_api_call_t *call, const Coachwire__ApiRequest *req);
int cw_api_consent_show (cw_api_call_t *call, const Coachwire__ApiRequest *req);
int cw_api_consent_receipts (cw_api_call_t *call, const Coachwire__ApiRequest *req);
int cw_api_access_log (cw_api_call_t *call, const Coachwire__ApiRequest *req);
int cw_api_data_export (cw_api_call_t *call, const Coachwire__ApiRequest *req);
int cw_api_data_erase (cw_api_call_t *call, const Coachwire__ApiRequest *req);

/*  ---------------------------------------------------------------------------------------
 *  Coaches and the person's nudges (cw_api_coach.c). */

int cw_api_coach_add_check (const Coachwire__ApiRequest *req, char *reason, size_t reason_size);
int cw_api_coach_link_check (const Coachwire__ApiRequest *req, char *reason,
                             size_t reason_size);
int cw_api_plan_show_check (const Coachwire__ApiRequest *req, char *reason, size_t reason_size);
int cw_api_plan_set_check (const Coachwire__ApiRequest *req, char *reason, size_t reason_size);
int cw_api_plan_review_check (const Coachwire__ApiRequest *req, char *reason,
                              size_t reason_size);
int cw_api_progress_check (const Coachwire__ApiRequest *req, char *reason, size_t reason_size);
int cw_api_nudges_check (const Coachwire__ApiRequest *req, char *reason, size_t reason_size);
int cw_api_effectiveness_check (const Coachwire__ApiRequest *req, char *reason,
                                size_t reason_size);
int cw_api_settings_check (const Coachwire__ApiRequest *req, char *reason, size_t reason_size);

int cw_api_coach_add (cw_api_call_t *call, const Coachwire__ApiRequest *req);
int cw_api_coach_accept (cw_api_call_t *call, const Coachwire__ApiRequest *req);
int cw_api_coach_remove (cw_api_call_t *call, const Coachwire__ApiRequest *req);
int cw_api_clients (cw_api_call_t *call, const Coachwire__ApiRequest *req);
int cw_api_plan_show (cw_api_call_t *call, const Coachwire__ApiRequest *req);
int cw_api_plan_set (cw_api_call_t *call, const Coachwire__ApiRequest *req);
int cw_api_plan_review (cw_api_call_t *call, const Coachwire__ApiRequest *req);
int cw_api_progress (cw_api_call_t *call, const Coachwire__ApiRequest *req);
int cw_api_nudges (cw_api_call_t *call, const Coachwire__ApiRequest *req);
int cw_api_effectiveness (cw_api_call_t *call, const Coachwire__ApiRequest *req);
int cw_api_settings (cw_api_call_t *call, const Coachwire__ApiRequest *req);

/*  For data export: the person's nudges (every state) as JSON lines {"type":"nudge",
 *  "nudge":{...}} into *lines (malloc'd, NUL-terminated; free it), *len bytes. */
int cw_api_coach_export (cw_api_call_t *call, const uint8_t *user_id, char **lines,
                         size_t *len) CW_MUST_CHECK;
/*  For data erase, inside its transaction: deletes the person's nudges (with feedback and
 *  outcomes), plans (goals, progress), arbiter decisions and settings, and coach links.
 *  Counts (may be NULL) of nudges, plan versions and decisions deleted. */
int cw_api_coach_erase (cw_api_call_t *call, const uint8_t *user_id, uint64_t *nudges,
                        uint64_t *plans, uint64_t *decisions) CW_MUST_CHECK;

/*  Sends one control message to the gateway ("consent" || id, "revoke" || id); logs on
 *  failure (the store stays the truth). */
void cw_api_control_send (cw_api_call_t *call, const char *verb, const uint8_t *id);

#endif
