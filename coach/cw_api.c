/*  cw_api.c - the api actor (see cw_api.h): a ROUTER, a command table, one store.
 *
 *  Each request goes through the same steps, and any step can answer with an error and move
 *  on to the next request: decode (capped), find the command, find the caller (User-Id from
 *  ZAP -> store), check the caller's role, check the arguments, run the handler. New
 *  commands are new rows in s_commands; the handlers below are the operator's commands.
 */
#include "coachwire/cw_api.h"
#include "coachwire/cw_actor.h"
#include "coachwire/cw_client.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_keyring.h"
#include "coachwire/cw_pb.h"
#include "coachwire/cw_store.h"
#include "cw_api_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define S_ZONEINFO_DIR "/usr/share/zoneinfo/"
#define S_ARENA_MAX (64u * 1024u * 1024u)     /* reply memory for one request */
#define S_REVOKE_VERB "revoke"
#define S_CONSENT_REFUSAL \
    "only the person (or a device of theirs) may see or change their consent; %s %s key may " \
    "not"
#define S_COACH_REFUSAL \
    "only a coach the person accepted may do this; %s %s key may not"
#define S_COACH_VIEW_REFUSAL \
    "only the person, or a coach they accepted, may see this; %s %s key may not"
#define S_DATA_REFUSAL \
    "only the person, with their own credential, may export or erase their data; %s %s key " \
    "may not"

/*  ---------------------------------------------------------------------------------------
 *  Reply memory: every block is wiped when the reply has gone (credentials pass through). */

typedef struct _s_block_t {
    struct _s_block_t *next;
    size_t size;
} s_block_t;

struct _cw_api_arena_t {
    s_block_t *blocks;      /* newest first */
    size_t used;            /* bytes handed out, at most S_ARENA_MAX */
};

/*  16 bytes of header keep the blocks aligned as malloc's. */
#define S_BLOCK_HEADER 16u
_Static_assert (sizeof (s_block_t) <= S_BLOCK_HEADER, "block header fits");

void *
cw_api_alloc (cw_api_call_t *call, size_t size)
{
    cw_api_arena_t *arena = call->arena;
    if (size > S_ARENA_MAX || arena->used > S_ARENA_MAX - size)
        return NULL;
    uint8_t *raw = calloc (1, S_BLOCK_HEADER + size);
    if (!raw)
        return NULL;
    s_block_t *block = (s_block_t *) (void *) raw;
    block->size = size;
    block->next = arena->blocks;
    arena->blocks = block;
    arena->used += size;
    return raw + S_BLOCK_HEADER;
}

char *
cw_api_strdup (cw_api_call_t *call, const char *text)
{
    size_t n = strlen (text);
    char *copy = cw_api_alloc (call, n + 1);
    if (copy)
        memcpy (copy, text, n + 1);
    return copy;
}

char *
cw_api_hex (cw_api_call_t *call, const uint8_t *bytes, size_t len)
{
    char *hex = cw_api_alloc (call, 2 * len + 1);
    if (hex)
        cw_hex_encode (hex, bytes, len);
    return hex;
}

static void
s_arena_reset (cw_api_arena_t *arena)
{
    while (arena->blocks) {
        s_block_t *block = arena->blocks;
        arena->blocks = block->next;
        sodium_memzero ((uint8_t *) block + S_BLOCK_HEADER, block->size);
        free (block);
    }
    arena->used = 0;
}

int
cw_api_fail (cw_api_call_t *call, int rc, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (call->reason, sizeof call->reason, format, args);
    va_end (args);
    return rc;
}

/*  ---------------------------------------------------------------------------------------
 *  Argument checks (syntax only: the fuzz target runs them on anything). */

int
cw_api_reason (char *reason, size_t size, int rc, const char *format, ...)
{
    if (reason && size) {
        va_list args;
        va_start (args, format);
        vsnprintf (reason, size, format, args);
        va_end (args);
    }
    return rc;
}

/*  True when s is valid UTF-8 without control characters (C0, DEL, C1). */
static bool
s_printable_utf8 (const char *text)
{
    const unsigned char *s = (const unsigned char *) text;
    while (*s) {
        unsigned char c = *s;
        if (c < 0x20 || c == 0x7f)
            return false;
        size_t need;
        uint32_t cp;
        if (c < 0x80) {
            s++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 2;
            cp = c & 0x1fu;
        }
        else if (c >= 0xe0 && c <= 0xef) {
            need = 3;
            cp = c & 0x0fu;
        }
        else if (c >= 0xf0 && c <= 0xf4) {
            need = 4;
            cp = c & 0x07u;
        }
        else
            return false;
        for (size_t i = 1; i < need; i++) {
            if ((s [i] & 0xc0) != 0x80)     /* also stops at the NUL */
                return false;
            cp = (cp << 6) | (s [i] & 0x3fu);
        }
        if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff))
            || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
            return false;
        s += need;
    }
    return true;
}

static int
s_check_text (const char *what, const char *text, size_t min, size_t max, char *reason,
              size_t reason_size)
{
    size_t n = text ? strlen (text) : 0;
    if (n < min || n > max)
        return cw_api_reason (reason, reason_size, CW_EINVAL, "%s must be %zu to %zu bytes long",
                              what, min, max);
    if (!s_printable_utf8 (text))
        return cw_api_reason (reason, reason_size, CW_EINVAL,
                              "%s must be UTF-8 text without control characters", what);
    if (n && (text [0] == ' ' || text [n - 1] == ' '))
        return cw_api_reason (reason, reason_size, CW_EINVAL,
                              "%s must not begin or end with a space", what);
    return CW_OK;
}

int
cw_api_check_name (const char *what, const char *name, char *reason, size_t reason_size)
{
    return s_check_text (what, name, 1, CW_NAME_MAX, reason, reason_size);
}

int
cw_api_check_label (const char *label, char *reason, size_t reason_size)
{
    return s_check_text ("label", label, 0, CW_LABEL_MAX, reason, reason_size);
}

int
cw_api_check_time_zone (const char *zone, char *reason, size_t reason_size)
{
    size_t n = zone ? strlen (zone) : 0;
    if (n == 0)
        return CW_OK;       /* UTC */
    int rc = CW_EINVAL;
    if (n > CW_TZ_MAX)
        return cw_api_reason (reason, reason_size, rc, "time zone is longer than %u bytes",
                              (unsigned) CW_TZ_MAX);
    /* An IANA name ("Asia/Tokyo", "Etc/GMT+9"): no absolute path, no '.' components. */
    bool ok = zone [0] != '/' && zone [n - 1] != '/' && !strstr (zone, "..")
              && !strstr (zone, "//") && zone [0] != '.' && !strstr (zone, "/.");
    for (size_t i = 0; ok && i < n; i++) {
        char c = zone [i];
        ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
             || c == '/' || c == '_' || c == '-' || c == '+' || c == '.';
    }
    if (!ok)
        return cw_api_reason (reason, reason_size, rc,
                              "time zone must be an IANA name such as Asia/Tokyo");
    char path [sizeof S_ZONEINFO_DIR + CW_TZ_MAX];
    snprintf (path, sizeof path, "%s%s", S_ZONEINFO_DIR, zone);
    int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    char magic [4] = { 0 };
    bool found = fd >= 0 && read (fd, magic, sizeof magic) == (ssize_t) sizeof magic
                 && memcmp (magic, "TZif", 4) == 0;
    if (fd >= 0)
        close (fd);
    if (!found)
        return cw_api_reason (reason, reason_size, rc, "unknown time zone '%s' (see %s)", zone,
                              S_ZONEINFO_DIR);
    return CW_OK;
}

int
cw_api_check_id_hex (const char *what, const char *hex, char *reason, size_t reason_size)
{
    uint8_t id [CW_ID_BYTES];
    if (!hex || strlen (hex) != 2 * CW_ID_BYTES || cw_hex_decode (id, CW_ID_BYTES, hex) != CW_OK)
        return cw_api_reason (reason, reason_size, CW_EINVAL, "%s must be %u hex characters", what,
                              (unsigned) (2 * CW_ID_BYTES));
    return CW_OK;
}

int
cw_api_check_user (const char *user, char *reason, size_t reason_size)
{
    if (!user || !*user)
        return CW_OK;
    return cw_api_check_name ("user", user, reason, reason_size);
}

static int
s_user_add_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    const Coachwire__UserAddRequest *r = req->user_add;
    if (!r)
        return cw_api_reason (reason, size, CW_EREQUEST, "user_add without its arguments");
    int rc = cw_api_check_name ("name", r->name, reason, size);
    if (rc != CW_OK)
        return rc;
    const char *locale = r->locale ? r->locale : "";
    if (*locale && strcmp (locale, "en") != 0 && strcmp (locale, "ja") != 0)
        return cw_api_reason (reason, size, CW_EINVAL, "locale must be en or ja");
    return cw_api_check_time_zone (r->time_zone, reason, size);
}

static int
s_device_enroll_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    const Coachwire__DeviceEnrollRequest *r = req->device_enroll;
    if (!r)
        return cw_api_reason (reason, size, CW_EREQUEST, "device_enroll without its arguments");
    int rc = cw_api_check_name ("user", r->user, reason, size);
    if (rc == CW_OK)
        rc = cw_api_check_label (r->label, reason, size);
    return rc;
}

static int
s_device_revoke_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    const Coachwire__DeviceRevokeRequest *r = req->device_revoke;
    if (!r)
        return cw_api_reason (reason, size, CW_EREQUEST, "device_revoke without its arguments");
    return cw_api_check_id_hex ("device id", r->device_id, reason, size);
}

static int
s_device_list_check (const Coachwire__ApiRequest *req, char *reason, size_t size)
{
    const Coachwire__DeviceListRequest *r = req->device_list;
    if (!r)
        return cw_api_reason (reason, size, CW_EREQUEST, "device_list without its arguments");
    if (r->user && *r->user)
        return cw_api_check_name ("user", r->user, reason, size);
    return CW_OK;
}

/*  ---------------------------------------------------------------------------------------
 *  Handlers */

/*  Formats cred into the reply as a CredentialReply (text through sodium memory). */
static int
s_reply_credential (cw_api_call_t *call, const cw_cred_t *cred)
{
    char *text = sodium_malloc (CW_CRED_MAX_BYTES);
    if (!text)
        return cw_api_fail (call, CW_ENOMEM, "out of memory formatting the credential");
    size_t len = 0;
    int rc = cw_cred_format (cred, text, CW_CRED_MAX_BYTES, &len);
    Coachwire__CredentialReply *body = cw_api_alloc (call, sizeof *body);
    char *copy = NULL;
    char *id = NULL;
    if (rc == CW_OK && body) {
        copy = cw_api_strdup (call, text);
        id = cw_api_strdup (call, cw_cred_id_hex (cred));
    }
    sodium_free (text);
    if (rc != CW_OK)
        return cw_api_fail (call, CW_EINTERNAL, "the credential could not be formatted");
    if (!body || !copy || !id)
        return cw_api_fail (call, CW_ENOMEM, "out of memory formatting the credential");
    coachwire__credential_reply__init (body);
    body->id = id;
    body->text = copy;
    call->reply->body_case = COACHWIRE__API_REPLY__BODY_CREDENTIAL;
    call->reply->credential = body;
    return CW_OK;
}

int
cw_api_issue (cw_api_call_t *call, cw_principal_t *p, cw_cred_kind_t kind, const char *cred_name,
              int (*inside) (cw_api_call_t *call, const cw_principal_t *p))
{
    const cw_server_config_t *config = call->config;
    uint8_t *secret = sodium_malloc (32);
    cw_cred_t *cred = NULL;
    if (!secret)
        return cw_api_fail (call, CW_ENOMEM, "out of memory making a key");
    crypto_box_keypair (p->public_key, secret);
    int rc = cw_store_begin (call->store);
    if (rc != CW_OK) {
        rc = cw_api_fail (call, CW_EBUSY, "the store is busy: %s",
                          cw_store_errmsg (call->store));
        goto done;
    }
    rc = cw_store_principal_add (call->store, p);
    if (rc == CW_OK && inside)
        rc = inside (call, p);
    if (rc == CW_OK)
        rc = cw_store_commit (call->store);
    if (rc != CW_OK) {
        cw_store_rollback (call->store);
        if (rc == CW_EEXIST)
            rc = cw_api_fail (call, rc, "a %s named '%s' exists already",
                              cw_cred_kind_name ((cw_cred_kind_t) p->kind), p->name);
        else if (call->reason [0] == 0)
            rc = cw_api_fail (call, rc, "the store refused it: %s",
                              cw_store_errmsg (call->store));
        goto done;
    }
    rc = cw_cred_new (&cred, kind, p->id, cred_name, p->public_key, secret,
                      cw_keyring_server_public (config->keyring), config->gateway_public,
                      config->api_public);
    if (rc != CW_OK) {
        rc = cw_api_fail (call, CW_EINTERNAL, "the credential could not be made: %s",
                          cw_strerror (rc));
        goto done;
    }
    rc = s_reply_credential (call, cred);
done:
    cw_cred_destroy (&cred);
    sodium_free (secret);
    return rc;
}

/*  Inside user_add's transaction: the person's data key, wrapped by the master key. */
static int
s_person_key (cw_api_call_t *call, const cw_principal_t *p)
{
    uint8_t *key = sodium_malloc (32);
    uint8_t wrapped [CW_WRAPPED_KEY_BYTES];
    if (!key)
        return cw_api_fail (call, CW_ENOMEM, "out of memory making the data key");
    int rc = cw_keyring_person_key_new (call->config->keyring, p->id, key, wrapped);
    sodium_free (key);      /* only its wrapped form is kept */
    if (rc != CW_OK)
        return cw_api_fail (call, rc, "the person's data key could not be made");
    rc = cw_store_person_key_put (call->store, p->id, wrapped);
    if (rc != CW_OK)
        return cw_api_fail (call, rc, "the person's data key could not be stored: %s",
                            cw_store_errmsg (call->store));
    return CW_OK;
}

/*  Inside device_enroll's transaction: a person whose data was erased has no data key any
 *  more, so a device enrolled afterwards starts a new one (what was erased stays unreadable:
 *  the old key is gone). */
static int
s_owner_key (cw_api_call_t *call, const cw_principal_t *device)
{
    uint8_t wrapped [CW_WRAPPED_KEY_BYTES];
    int rc = cw_store_person_key_get (call->store, device->owner_id, wrapped);
    if (rc == CW_OK)
        return CW_OK;
    if (rc != CW_ENOENT)
        return cw_api_fail (call, rc, "the person's data key could not be read: %s",
                            cw_store_errmsg (call->store));
    cw_principal_t owner;
    memset (&owner, 0, sizeof owner);
    memcpy (owner.id, device->owner_id, CW_ID_BYTES);
    return s_person_key (call, &owner);
}

static int
s_user_add (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    const Coachwire__UserAddRequest *r = req->user_add;
    cw_principal_t p;
    memset (&p, 0, sizeof p);
    p.kind = CW_PRINCIPAL_USER;
    snprintf (p.name, sizeof p.name, "%s", r->name);
    snprintf (p.locale, sizeof p.locale, "%s", r->locale && *r->locale ? r->locale : "en");
    snprintf (p.time_zone, sizeof p.time_zone, "%s",
              r->time_zone && *r->time_zone ? r->time_zone : "UTC");
    int rc = cw_api_issue (call, &p, CW_CRED_USER, p.name, s_person_key);
    if (rc == CW_OK)
        cw_api_fail (call, CW_OK, "added user %s (%s, %s)", p.name, p.locale, p.time_zone);
    return rc;
}

/*  Finds the person named name: CW_ENOENT and CW_EREVOKED come with a reason. */
static int
s_person_by_name (cw_api_call_t *call, const char *name, cw_principal_t *person)
{
    int rc = cw_store_principal_by_name (call->store, CW_PRINCIPAL_USER, name, person);
    if (rc == CW_ENOENT)
        return cw_api_fail (call, rc, "no user named '%s'", name);
    if (rc != CW_OK)
        return cw_api_fail (call, rc, "the store could not be read: %s",
                            cw_store_errmsg (call->store));
    return CW_OK;
}

static int
s_device_enroll (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    const Coachwire__DeviceEnrollRequest *r = req->device_enroll;
    cw_principal_t person;
    int rc = s_person_by_name (call, r->user, &person);
    if (rc != CW_OK)
        return rc;
    if (person.revoked_ms)
        return cw_api_fail (call, CW_EREVOKED, "user '%s' has been revoked", person.name);
    cw_principal_t p;
    memset (&p, 0, sizeof p);
    p.kind = CW_PRINCIPAL_DEVICE;
    snprintf (p.name, sizeof p.name, "%s", r->label && *r->label ? r->label : "device");
    memcpy (p.owner_id, person.id, CW_ID_BYTES);
    rc = cw_api_issue (call, &p, CW_CRED_DEVICE, person.name, s_owner_key);
    if (rc == CW_OK) {
        char hex [2 * CW_ID_BYTES + 1];
        cw_hex_encode (hex, p.id, CW_ID_BYTES);
        cw_api_fail (call, CW_OK, "enrolled device %s (%s) for %s", hex, p.name, person.name);
    }
    return rc;
}

static int
s_reply_empty (cw_api_call_t *call)
{
    Coachwire__Empty *empty = cw_api_alloc (call, sizeof *empty);
    if (!empty)
        return cw_api_fail (call, CW_ENOMEM, "out of memory");
    coachwire__empty__init (empty);
    call->reply->body_case = COACHWIRE__API_REPLY__BODY_EMPTY;
    call->reply->empty = empty;
    return CW_OK;
}

static int
s_device_revoke (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    const char *hex = req->device_revoke->device_id;
    uint8_t id [CW_ID_BYTES];
    if (cw_hex_decode (id, CW_ID_BYTES, hex) != CW_OK)
        return cw_api_fail (call, CW_EINVAL, "device id must be 32 hex characters");
    cw_principal_t device;
    int rc = cw_store_principal_by_id (call->store, id, &device);
    if (rc == CW_ENOENT || (rc == CW_OK && device.kind != CW_PRINCIPAL_DEVICE))
        return cw_api_fail (call, CW_ENOENT, "no device with id %s", hex);
    if (rc == CW_OK)
        rc = cw_store_principal_revoke (call->store, id);
    if (rc == CW_ESTATE)
        return cw_api_fail (call, rc, "device %s is revoked already", hex);
    if (rc != CW_OK)
        return cw_api_fail (call, rc, "the store refused it: %s",
                            cw_store_errmsg (call->store));
    /* The store is the truth; the message only makes the gateway drop a live connection's
     * cached key at once instead of at its next look-up. */
    cw_api_control_send (call, S_REVOKE_VERB, id);
    cw_api_fail (call, CW_OK, "revoked device %s (%s of %s)", hex, device.name,
                 device.owner_name);
    return s_reply_empty (call);
}

void
cw_api_control_send (cw_api_call_t *call, const char *verb, const uint8_t *id)
{
    uint8_t message [16 + CW_ID_BYTES];
    size_t n = strlen (verb);
    if (n > 16 || !call->control)
        return;
    memcpy (message, verb, n);
    memcpy (message + n, id, CW_ID_BYTES);
    if (zmq_send (call->control, message, n + CW_ID_BYTES, ZMQ_DONTWAIT)
        != (int) (n + CW_ID_BYTES)) {
        char hex [2 * CW_ID_BYTES + 1];
        cw_hex_encode (hex, id, CW_ID_BYTES);
        fprintf (stderr, "cw_api: could not send '%s %s' to the gateway: %s\n", verb, hex,
                 zmq_strerror (zmq_errno ()));
    }
}

bool
cw_api_list_push (cw_api_list_t *list, void *item)
{
    if (list->rc != CW_OK)
        return false;
    if (!item) {
        list->rc = CW_ENOMEM;
        return false;
    }
    if (list->count == list->max) {
        list->rc = CW_ETOOBIG;
        return false;
    }
    if (list->count == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 64;
        void **grown = realloc (list->items, cap * sizeof *grown);
        if (!grown) {
            list->rc = CW_ENOMEM;
            return false;
        }
        list->items = grown;
        list->cap = cap;
    }
    list->items [list->count++] = item;
    return true;
}

void **
cw_api_list_finish (cw_api_list_t *list)
{
    void **array = NULL;
    if (list->rc == CW_OK && list->count) {
        array = cw_api_alloc (list->call, list->count * sizeof *array);
        if (array)
            memcpy (array, list->items, list->count * sizeof *array);
        else
            list->rc = CW_ENOMEM;
    }
    free (list->items);
    list->items = NULL;
    return array;
}

static void
s_device_row (void *ctx, const cw_principal_t *p)
{
    cw_api_list_t *rows = ctx;
    if (rows->rc != CW_OK)
        return;
    Coachwire__DeviceInfo *info = cw_api_alloc (rows->call, sizeof *info);
    char hex [2 * CW_ID_BYTES + 1];
    cw_hex_encode (hex, p->id, CW_ID_BYTES);
    if (info) {
        coachwire__device_info__init (info);
        info->device_id = cw_api_strdup (rows->call, hex);
        info->user = cw_api_strdup (rows->call, p->owner_name);
        info->label = cw_api_strdup (rows->call, p->name);
        info->revoked = p->revoked_ms != 0;
        info->enrolled_ms = p->created_ms;
        info->revoked_ms = p->revoked_ms;
        info->last_seen_ms = p->last_seen_ms;
        info->frames = p->frames;
        if (!info->device_id || !info->user || !info->label)
            info = NULL;
    }
    cw_api_list_push (rows, info);
}

static int
s_list_failed (cw_api_call_t *call, int rc)
{
    if (rc == CW_ETOOBIG)
        return cw_api_fail (call, rc, "more than %u rows: narrow the request",
                            (unsigned) CW_API_LIST_MAX);
    if (rc == CW_ENOMEM)
        return cw_api_fail (call, rc, "out of memory building the list");
    return cw_api_fail (call, rc, "the store could not be read: %s",
                        cw_store_errmsg (call->store));
}

static int
s_device_list (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    const char *user = req->device_list->user;
    cw_principal_t person;
    const uint8_t *owner = NULL;
    if (user && *user) {
        int rc = s_person_by_name (call, user, &person);
        if (rc != CW_OK)
            return rc;
        owner = person.id;
    }
    Coachwire__DeviceListReply *body = cw_api_alloc (call, sizeof *body);
    if (!body)
        return cw_api_fail (call, CW_ENOMEM, "out of memory");
    coachwire__device_list_reply__init (body);
    cw_api_list_t rows = { call, NULL, 0, 0, CW_API_LIST_MAX, CW_OK };
    int rc = cw_store_principal_list (call->store, CW_PRINCIPAL_DEVICE, owner, s_device_row,
                                      &rows);
    if (rc == CW_OK)
        rc = rows.rc;
    size_t count = rows.count;
    body->devices = (Coachwire__DeviceInfo **) cw_api_list_finish (&rows);
    if (rc == CW_OK)
        rc = rows.rc;
    if (rc != CW_OK)
        return s_list_failed (call, rc);
    body->n_devices = count;
    call->reply->body_case = COACHWIRE__API_REPLY__BODY_DEVICE_LIST;
    call->reply->device_list = body;
    return cw_api_fail (call, CW_OK, "%zu device%s", count, count == 1 ? "" : "s");
}

static void
s_user_row (void *ctx, const cw_principal_t *p)
{
    cw_api_list_t *rows = ctx;
    if (rows->rc != CW_OK)
        return;
    Coachwire__UserInfo *info = cw_api_alloc (rows->call, sizeof *info);
    char hex [2 * CW_ID_BYTES + 1];
    cw_hex_encode (hex, p->id, CW_ID_BYTES);
    if (info) {
        coachwire__user_info__init (info);
        info->user_id = cw_api_strdup (rows->call, hex);
        info->name = cw_api_strdup (rows->call, p->name);
        info->locale = cw_api_strdup (rows->call, p->locale);
        info->time_zone = cw_api_strdup (rows->call, p->time_zone);
        info->created_ms = p->created_ms;
        if (!info->user_id || !info->name || !info->locale || !info->time_zone)
            info = NULL;
    }
    cw_api_list_push (rows, info);
}

static int
s_user_list (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    (void) req;
    Coachwire__UserListReply *body = cw_api_alloc (call, sizeof *body);
    if (!body)
        return cw_api_fail (call, CW_ENOMEM, "out of memory");
    coachwire__user_list_reply__init (body);
    cw_api_list_t rows = { call, NULL, 0, 0, CW_API_LIST_MAX, CW_OK };
    int rc = cw_store_principal_list (call->store, CW_PRINCIPAL_USER, NULL, s_user_row, &rows);
    if (rc == CW_OK)
        rc = rows.rc;
    size_t count = rows.count;
    body->users = (Coachwire__UserInfo **) cw_api_list_finish (&rows);
    if (rc == CW_OK)
        rc = rows.rc;
    if (rc != CW_OK)
        return s_list_failed (call, rc);
    body->n_users = count;
    call->reply->body_case = COACHWIRE__API_REPLY__BODY_USER_LIST;
    call->reply->user_list = body;
    return cw_api_fail (call, CW_OK, "%zu user%s", count, count == 1 ? "" : "s");
}

static void
s_counter_row (void *ctx, const char *name, uint64_t value)
{
    cw_api_list_t *rows = ctx;
    if (rows->rc != CW_OK)
        return;
    Coachwire__Counter *counter = cw_api_alloc (rows->call, sizeof *counter);
    if (counter) {
        coachwire__counter__init (counter);
        counter->name = cw_api_strdup (rows->call, name);
        counter->value = value;
        if (!counter->name)
            counter = NULL;
    }
    cw_api_list_push (rows, counter);
}

static int
s_stats (cw_api_call_t *call, const Coachwire__ApiRequest *req)
{
    (void) req;
    Coachwire__StatsReply *body = cw_api_alloc (call, sizeof *body);
    if (!body)
        return cw_api_fail (call, CW_ENOMEM, "out of memory");
    coachwire__stats_reply__init (body);
    cw_api_list_t rows = { call, NULL, 0, 0, CW_API_LIST_MAX, CW_OK };
    int rc = cw_store_counter_each (call->store, s_counter_row, &rows);
    if (rc == CW_OK)
        rc = rows.rc;
    size_t count = rows.count;
    body->counters = (Coachwire__Counter **) cw_api_list_finish (&rows);
    if (rc == CW_OK)
        rc = rows.rc;
    if (rc != CW_OK)
        return s_list_failed (call, rc);
    body->n_counters = count;
    uint64_t now = cw_now_ms ();
    body->uptime_ms = now > call->config->start_ms ? now - call->config->start_ms : 0;
    call->reply->body_case = COACHWIRE__API_REPLY__BODY_STATS;
    call->reply->stats = body;
    return cw_api_fail (call, CW_OK, "%zu counters", count);
}

/*  ---------------------------------------------------------------------------------------
 *  The command table. */

static const cw_api_command_t s_commands [] = {
    { COACHWIRE__API_REQUEST__BODY_USER_ADD, "user_add", s_user_add_check, s_user_add,
      CW_ROLE_OPERATOR, NULL },
    { COACHWIRE__API_REQUEST__BODY_USER_LIST, "user_list", NULL, s_user_list,
      CW_ROLE_OPERATOR, NULL },
    { COACHWIRE__API_REQUEST__BODY_DEVICE_ENROLL, "device_enroll", s_device_enroll_check,
      s_device_enroll, CW_ROLE_OPERATOR, NULL },
    { COACHWIRE__API_REQUEST__BODY_DEVICE_REVOKE, "device_revoke", s_device_revoke_check,
      s_device_revoke, CW_ROLE_OPERATOR, NULL },
    { COACHWIRE__API_REQUEST__BODY_DEVICE_LIST, "device_list", s_device_list_check,
      s_device_list, CW_ROLE_OPERATOR, NULL },
    { COACHWIRE__API_REQUEST__BODY_STATS, "stats", NULL, s_stats, CW_ROLE_OPERATOR, NULL },
    /* A person's consent and data (cw_api_consent.c): the person, or their own device. */
    { COACHWIRE__API_REQUEST__BODY_CONSENT_GRANT, "consent_grant", cw_api_consent_change_check,
      cw_api_consent_grant, CW_ROLE_USER | CW_ROLE_DEVICE, S_CONSENT_REFUSAL },
    { COACHWIRE__API_REQUEST__BODY_CONSENT_REVOKE, "consent_revoke",
      cw_api_consent_change_check, cw_api_consent_revoke, CW_ROLE_USER | CW_ROLE_DEVICE,
      S_CONSENT_REFUSAL },
    { COACHWIRE__API_REQUEST__BODY_CONSENT_SHOW, "consent_show", cw_api_consent_show_check,
      cw_api_consent_show, CW_ROLE_USER | CW_ROLE_DEVICE, S_CONSENT_REFUSAL },
    { COACHWIRE__API_REQUEST__BODY_CONSENT_RECEIPTS, "consent_receipts",
      cw_api_consent_receipts_check, cw_api_consent_receipts, CW_ROLE_USER | CW_ROLE_DEVICE,
      S_CONSENT_REFUSAL },
    { COACHWIRE__API_REQUEST__BODY_ACCESS_LOG, "access_log", cw_api_access_log_check,
      cw_api_access_log, CW_ROLE_USER | CW_ROLE_DEVICE, S_CONSENT_REFUSAL },
    /* Export and erasure need the person's own key: a device (a lost phone) may not. */
    { COACHWIRE__API_REQUEST__BODY_DATA_EXPORT, "data_export", cw_api_data_export_check,
      cw_api_data_export, CW_ROLE_USER, S_DATA_REFUSAL },
    { COACHWIRE__API_REQUEST__BODY_DATA_ERASE, "data_erase", cw_api_data_erase_check,
      cw_api_data_erase, CW_ROLE_USER, S_DATA_REFUSAL },
    /* Coaches and the person's nudges (cw_api_coach.c). */
    { COACHWIRE__API_REQUEST__BODY_COACH_ADD, "coach_add", cw_api_coach_add_check,
      cw_api_coach_add, CW_ROLE_OPERATOR,
      "only an operator may add coaches; %s %s key may not" },
    { COACHWIRE__API_REQUEST__BODY_COACH_ACCEPT, "coach_accept", cw_api_coach_link_check,
      cw_api_coach_accept, CW_ROLE_USER,
      "only the person, with their own key, may accept a coach; %s %s key may not" },
    { COACHWIRE__API_REQUEST__BODY_COACH_REMOVE, "coach_remove", cw_api_coach_link_check,
      cw_api_coach_remove, CW_ROLE_USER,
      "only the person, with their own key, may remove a coach; %s %s key may not" },
    { COACHWIRE__API_REQUEST__BODY_CLIENTS, "clients", NULL, cw_api_clients, CW_ROLE_COACH,
      "only a coach has clients; %s %s key has none" },
    { COACHWIRE__API_REQUEST__BODY_PLAN_SHOW, "plan_show", cw_api_plan_show_check,
      cw_api_plan_show, CW_ROLE_COACH | CW_ROLE_USER, S_COACH_VIEW_REFUSAL },
    { COACHWIRE__API_REQUEST__BODY_PLAN_SET, "plan_set", cw_api_plan_set_check,
      cw_api_plan_set, CW_ROLE_COACH, S_COACH_REFUSAL },
    { COACHWIRE__API_REQUEST__BODY_PLAN_REVIEW, "plan_review", cw_api_plan_review_check,
      cw_api_plan_review, CW_ROLE_COACH, S_COACH_REFUSAL },
    { COACHWIRE__API_REQUEST__BODY_PROGRESS, "progress", cw_api_progress_check,
      cw_api_progress, CW_ROLE_COACH | CW_ROLE_USER, S_COACH_VIEW_REFUSAL },
    { COACHWIRE__API_REQUEST__BODY_NUDGES, "nudges", cw_api_nudges_check, cw_api_nudges,
      CW_ROLE_COACH | CW_ROLE_USER, S_COACH_VIEW_REFUSAL },
    { COACHWIRE__API_REQUEST__BODY_COACH_EFFECTIVENESS, "coach_effectiveness",
      cw_api_effectiveness_check, cw_api_effectiveness, CW_ROLE_COACH, S_COACH_REFUSAL },
    { COACHWIRE__API_REQUEST__BODY_SETTINGS, "settings", cw_api_settings_check,
      cw_api_settings, CW_ROLE_USER,
      "only the person, with their own key, may see or change their nudge settings; %s %s "
      "key may not" },
};

const cw_api_command_t *
cw_api_command_find (Coachwire__ApiRequest__BodyCase body)
{
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands [0]; i++)
        if (s_commands [i].body == body)
            return &s_commands [i];
    return NULL;
}

int
cw_api_request_decode (const uint8_t *data, size_t size, Coachwire__ApiRequest **out)
{
    if (!out)
        return CW_EINVAL;
    ProtobufCMessage *msg = NULL;
    int rc = cw_pb_unpack (&coachwire__api_request__descriptor, data, size,
                           CW_API_MAX_MSG_BYTES, CW_API_DECODE_BUDGET, &msg);
    *out = (Coachwire__ApiRequest *) msg;
    return rc;
}

void
cw_api_request_free (Coachwire__ApiRequest **req_p)
{
    if (!req_p || !*req_p)
        return;
    ProtobufCMessage *msg = &(*req_p)->base;
    cw_pb_free (&msg);
    *req_p = NULL;
}

int
cw_api_request_check (const Coachwire__ApiRequest *req, char *reason, size_t reason_size)
{
    if (!req)
        return cw_api_reason (reason, reason_size, CW_EINVAL, "no request");
    const cw_api_command_t *command = cw_api_command_find (req->body_case);
    if (!command)
        return cw_api_reason (reason, reason_size, CW_EREQUEST,
                              "the request names no command this service knows");
    return command->check ? command->check (req, reason, reason_size) : CW_OK;
}

/*  ---------------------------------------------------------------------------------------
 *  The actor. */

typedef struct {
    cw_server_config_t config;          /* copied at start */
    char endpoint [CW_ENDPOINT_MAX];    /* actually bound; written before cw_actor_ready */
    cw_store_t *store;
    void *router;                       /* CURVE server, ZAP domain "api" */
    void *control;                      /* PUSH to the gateway's control PULL */
    cw_api_arena_t arena;               /* reply memory of the request being served */
    cw_api_consent_t *consent;          /* consent, ledger, access log: opened on first use */
} s_server_t;

struct _cw_api_t {
    cw_actor_t *actor;
    s_server_t *server;                 /* owned; the thread uses it until joined */
};

static const char *s_kind_names [] = { "?", "device", "user", "coach", "operator" };

static const char *
s_kind_name (cw_principal_kind_t kind)
{
    return kind >= CW_PRINCIPAL_DEVICE && kind <= CW_PRINCIPAL_OPERATOR ? s_kind_names [kind]
                                                                         : "?";
}

/*  Serves one decoded-or-not request into call->reply. */
static int
s_serve (s_server_t *self, cw_api_call_t *call, zmq_msg_t *body, bool multipart)
{
    if (multipart)
        return cw_api_fail (call, CW_EREQUEST, "a request must be a single frame");
    Coachwire__ApiRequest *req = NULL;
    int rc = cw_api_request_decode ((const uint8_t *) zmq_msg_data (body), zmq_msg_size (body),
                                    &req);
    if (rc == CW_ETOOBIG)
        return cw_api_fail (call, CW_EREQUEST, "the request is larger than %u bytes",
                            (unsigned) CW_API_MAX_MSG_BYTES);
    if (rc == CW_ENOMEM)
        return cw_api_fail (call, CW_EBUSY, "out of memory decoding the request");
    if (rc != CW_OK)
        return cw_api_fail (call, CW_EREQUEST, "the request is not a valid ApiRequest");
    call->reply->request_id = req->request_id;

    const cw_api_command_t *command = cw_api_command_find (req->body_case);
    cw_principal_t caller;
    const char *user_id = zmq_msg_gets (body, "User-Id");
    uint8_t id [CW_ID_BYTES];
    if (!command) {
        rc = cw_api_fail (call, CW_EREQUEST, "the request names no command this service knows");
        goto done;
    }
    if (!user_id || cw_hex_decode (id, CW_ID_BYTES, user_id) != CW_OK) {
        rc = cw_api_fail (call, CW_EDENIED, "the connection has no enrolled identity");
        goto done;
    }
    rc = cw_store_principal_by_id (self->store, id, &caller);
    if (rc == CW_ENOENT) {
        rc = cw_api_fail (call, CW_EDENIED, "this key is not enrolled");
        goto done;
    }
    if (rc != CW_OK) {
        rc = cw_api_fail (call, CW_EBUSY, "the store could not be read: %s",
                          cw_store_errmsg (self->store));
        goto done;
    }
    if (caller.revoked_ms) {
        rc = cw_api_fail (call, CW_EREVOKED, "this key was revoked");
        goto done;
    }
    if (!(command->roles & CW_ROLE (caller.kind)) && command->refusal) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        rc = cw_api_fail (call, CW_EDENIED, command->refusal,
                          caller.kind == CW_PRINCIPAL_OPERATOR ? "an" : "a",
                          s_kind_name (caller.kind));
#pragma GCC diagnostic pop
        goto done;
    }
    if (!(command->roles & CW_ROLE (caller.kind))) {
        char allowed [64] = "";
        for (int kind = CW_PRINCIPAL_DEVICE; kind <= CW_PRINCIPAL_OPERATOR; kind++)
            if (command->roles & CW_ROLE (kind)) {
                size_t used = strlen (allowed);
                snprintf (allowed + used, sizeof allowed - used, "%s%s", used ? " or " : "",
                          s_kind_name ((cw_principal_kind_t) kind));
            }
        rc = cw_api_fail (call, CW_EDENIED, "%s needs a%s %s key; this is a %s key",
                          command->name, allowed [0] == 'o' ? "n" : "", allowed,
                          s_kind_name (caller.kind));
        goto done;
    }
    if (command->check
        && (rc = command->check (req, call->reason, sizeof call->reason)) != CW_OK)
        goto done;
    call->caller = &caller;
    rc = command->handler (call, req);
    call->caller = NULL;
done:
    cw_api_request_free (&req);
    return rc;
}

/*  Packs call->reply and sends it to identity. The packed bytes may hold a secret key:
 *  sodium memory, wiped. */
static void
s_send_reply (s_server_t *self, zmq_msg_t *identity, Coachwire__ApiReply *reply)
{
    size_t size = protobuf_c_message_get_packed_size (&reply->base);
    if (size > CW_CLIENT_REPLY_MAX_BYTES) {
        reply->code = CW_ETOOBIG;
        reply->error = (char *) "the reply would be too large: narrow the request";
        reply->body_case = COACHWIRE__API_REPLY__BODY__NOT_SET;
        size = protobuf_c_message_get_packed_size (&reply->base);
    }
    uint8_t *packed = sodium_malloc (size ? size : 1);
    if (!packed) {
        fprintf (stderr, "cw_api: out of memory for a %zu byte reply\n", size);
        return;
    }
    protobuf_c_message_pack (&reply->base, packed);
    if (zmq_send (self->router, zmq_msg_data (identity), zmq_msg_size (identity),
                  ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0
        || zmq_send (self->router, packed, size, ZMQ_DONTWAIT) < 0) {
        /* The client went away or does not read: nothing to do but move on. */
    }
    sodium_free (packed);
}

static void
s_handle (s_server_t *self)
{
    zmq_msg_t identity, body;
    zmq_msg_init (&identity);
    zmq_msg_init (&body);
    if (zmq_msg_recv (&identity, self->router, ZMQ_DONTWAIT) < 0)
        goto done;
    if (!zmq_msg_more (&identity))
        goto done;
    if (zmq_msg_recv (&body, self->router, ZMQ_DONTWAIT) < 0)
        goto done;
    bool multipart = zmq_msg_more (&body);
    bool more = multipart;
    while (more) {          /* drop the rest of a multipart request */
        zmq_msg_t extra;
        zmq_msg_init (&extra);
        more = zmq_msg_recv (&extra, self->router, ZMQ_DONTWAIT) >= 0 && zmq_msg_more (&extra);
        zmq_msg_close (&extra);
    }
    Coachwire__ApiReply reply = COACHWIRE__API_REPLY__INIT;
    cw_api_call_t call;
    memset (&call, 0, sizeof call);
    call.store = self->store;
    call.config = &self->config;
    call.control = self->control;
    call.arena = &self->arena;
    call.consent = &self->consent;
    call.reply = &reply;
    int rc = s_serve (self, &call, &body, multipart);
    reply.code = rc;
    reply.error = call.reason [0] ? call.reason : (char *) (rc ? cw_strerror (rc) : "ok");
    if (rc != CW_OK)
        reply.body_case = COACHWIRE__API_REPLY__BODY__NOT_SET;
    s_send_reply (self, &identity, &reply);
    s_arena_reset (&self->arena);
    sodium_memzero (call.reason, sizeof call.reason);
done:
    zmq_msg_close (&body);
    zmq_msg_close (&identity);
}

static int
s_setup (s_server_t *self)
{
    const cw_server_config_t *config = &self->config;
    int rc = cw_store_open (&self->store, config->db_path, false);
    if (rc != CW_OK) {
        fprintf (stderr, "cw_api: cannot open the store %s: %s\n", config->db_path,
                 cw_strerror (rc));
        return rc;
    }
    self->router = zmq_socket (config->zmq_ctx, ZMQ_ROUTER);
    self->control = zmq_socket (config->zmq_ctx, ZMQ_PUSH);
    if (!self->router || !self->control)
        return CW_EIO;
    int one = 1, zero = 0;
    int64_t max_msg = (int64_t) CW_API_MAX_MSG_BYTES;
    if (zmq_setsockopt (self->router, ZMQ_LINGER, &zero, sizeof zero) != 0
        || zmq_setsockopt (self->control, ZMQ_LINGER, &zero, sizeof zero) != 0
        || zmq_setsockopt (self->router, ZMQ_CURVE_SERVER, &one, sizeof one) != 0
        || zmq_setsockopt (self->router, ZMQ_CURVE_SECRETKEY,
                           cw_keyring_server_secret (config->keyring), 32) != 0
        || zmq_setsockopt (self->router, ZMQ_ZAP_DOMAIN, CW_ZAP_DOMAIN_API,
                           strlen (CW_ZAP_DOMAIN_API)) != 0
        || zmq_setsockopt (self->router, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg) != 0)
        return CW_EIO;
    if (zmq_bind (self->router, config->api_bind) != 0) {
        fprintf (stderr, "cw_api: cannot bind %s: %s\n", config->api_bind,
                 zmq_strerror (zmq_errno ()));
        return CW_EIO;
    }
    size_t len = sizeof self->endpoint;
    if (zmq_getsockopt (self->router, ZMQ_LAST_ENDPOINT, self->endpoint, &len) != 0)
        return CW_EIO;
    if (zmq_connect (self->control, CW_GATEWAY_CONTROL_ENDPOINT) != 0) {
        fprintf (stderr, "cw_api: cannot connect %s: %s\n", CW_GATEWAY_CONTROL_ENDPOINT,
                 zmq_strerror (zmq_errno ()));
        return CW_EIO;
    }
    return CW_OK;
}

static void
s_teardown (s_server_t *self)
{
    if (self->router)
        zmq_close (self->router);
    if (self->control)
        zmq_close (self->control);
    self->router = self->control = NULL;
    s_arena_reset (&self->arena);
    cw_api_consent_destroy (&self->consent);
    cw_store_destroy (&self->store);
}

static void
s_actor (void *pipe, void *args)
{
    s_server_t *self = args;
    int rc = s_setup (self);
    if (rc != CW_OK) {
        s_teardown (self);
        cw_actor_ready (pipe, rc);
        return;
    }
    cw_actor_ready (pipe, CW_OK);
    while (true) {
        zmq_pollitem_t items [] = {
            { pipe, 0, ZMQ_POLLIN, 0 },
            { self->router, 0, ZMQ_POLLIN, 0 },
        };
        if (zmq_poll (items, 2, -1) < 0) {
            if (zmq_errno () == EINTR)
                continue;
            fprintf (stderr, "cw_api: poll failed: %s\n", zmq_strerror (zmq_errno ()));
            break;
        }
        if (items [0].revents & ZMQ_POLLIN) {
            char command [16];
            int n = zmq_recv (pipe, command, sizeof command, 0);
            if (n < 0 || cw_actor_is_term (command, (size_t) n < sizeof command
                                                         ? (size_t) n : sizeof command))
                break;
        }
        if (items [1].revents & ZMQ_POLLIN)
            s_handle (self);
    }
    s_teardown (self);
}

int
cw_api_start (cw_api_t **out, const cw_server_config_t *config)
{
    if (!out || !config || !config->zmq_ctx || !config->keyring || !config->api_bind [0])
        return CW_EINVAL;
    *out = NULL;
    cw_api_t *self = calloc (1, sizeof *self);
    s_server_t *server = calloc (1, sizeof *server);
    if (!self || !server) {
        free (self);
        free (server);
        return CW_ENOMEM;
    }
    server->config = *config;
    if (!server->config.start_ms)
        server->config.start_ms = cw_now_ms ();
    self->server = server;
    int rc = cw_actor_new (&self->actor, config->zmq_ctx, s_actor, server);
    if (rc != CW_OK) {
        free (server);
        free (self);
        return rc;
    }
    *out = self;
    return CW_OK;
}

void
cw_api_destroy (cw_api_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_api_t *self = *self_p;
    cw_actor_destroy (&self->actor);
    free (self->server);
    free (self);
    *self_p = NULL;
}

const char *
cw_api_endpoint (const cw_api_t *self)
{
    return self ? self->server->endpoint : "";
}
