/*  test_api_consent.c - a person's consent and data through the api actor, in process
 *  (harness: ZAP + gateway + api on 127.0.0.1).
 *
 *  Negative first: a coach, the operator, a device of another person and another person are
 *  each refused (CW_EDENIED, with a sentence) when they try to change or read a person's
 *  consent or data; bad arguments are refused. Then the person (and their own device, and
 *  the edge library) grant and revoke with signed receipts that verify, and any edit,
 *  removal or reordering of the fetched receipts is caught at its position; export pages
 *  through everything; erasure of one field rewrites stored frames; erasure of everything
 *  shreds the data key first and leaves receipts that still verify.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "coachwire/cw_catalog.h"
#include "coachwire/cw_client.h"
#include "coachwire/cw_consent.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_gateway.h"
#include "coachwire/cw_keyring.h"
#include "coachwire/cw_ledger.h"
#include "coachwire/cw_store.h"
#include "coachwire/edge.h"

#define S_TIMEOUT_MS 5000

static cw_client_t *
s_client (harness_t *h, const cw_cred_t *cred)
{
    cw_client_t *client = NULL;
    assert_int_equal (cw_client_new (&client, cred, harness_api (h)), CW_OK);
    return client;
}

/*  One call; the transport must work; returns the service's code. */
static int
s_call (cw_client_t *client, Coachwire__ApiRequest *req, Coachwire__ApiReply **reply)
{
    int rc = cw_client_call (client, req, reply, S_TIMEOUT_MS);
    if (rc != CW_OK)
        fprintf (stderr, "call failed: %s: %s\n", cw_errname (rc), cw_client_hint (client));
    assert_int_equal (rc, CW_OK);
    assert_non_null ((*reply)->error);
    assert_true (strlen ((*reply)->error) > 0);
    return (*reply)->code;
}

static int
s_change (cw_client_t *client, bool grant, const char *pattern, const char *purpose,
          const char *user, Coachwire__ApiReply **reply)
{
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__ConsentChangeRequest body = COACHWIRE__CONSENT_CHANGE_REQUEST__INIT;
    body.pattern = (char *) pattern;
    body.purpose = (char *) purpose;
    body.user = (char *) (user ? user : "");
    req.body_case = grant ? COACHWIRE__API_REQUEST__BODY_CONSENT_GRANT
                          : COACHWIRE__API_REQUEST__BODY_CONSENT_REVOKE;
    if (grant)
        req.consent_grant = &body;
    else
        req.consent_revoke = &body;
    return s_call (client, &req, reply);
}

/*  Grants or revokes and expects it to work; frees the reply. */
static void
s_change_ok (cw_client_t *client, bool grant, const char *pattern, const char *purpose)
{
    Coachwire__ApiReply *reply = NULL;
    int rc = s_change (client, grant, pattern, purpose, NULL, &reply);
    if (rc != CW_OK)
        fprintf (stderr, "%s %s %s: %s\n", grant ? "grant" : "revoke", pattern, purpose,
                 reply->error);
    assert_int_equal (rc, CW_OK);
    assert_int_equal (reply->body_case, COACHWIRE__API_REPLY__BODY_CONSENT_CHANGE);
    cw_client_reply_free (&reply);
}

/*  Any command by its case, with user (may be NULL); returns the code. */
static int
s_simple (cw_client_t *client, Coachwire__ApiRequest__BodyCase which, const char *user,
          Coachwire__ApiReply **reply)
{
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__ConsentShowRequest show = COACHWIRE__CONSENT_SHOW_REQUEST__INIT;
    Coachwire__ConsentReceiptsRequest receipts = COACHWIRE__CONSENT_RECEIPTS_REQUEST__INIT;
    Coachwire__AccessLogRequest log = COACHWIRE__ACCESS_LOG_REQUEST__INIT;
    Coachwire__DataExportRequest export = COACHWIRE__DATA_EXPORT_REQUEST__INIT;
    Coachwire__DataEraseRequest erase = COACHWIRE__DATA_ERASE_REQUEST__INIT;
    char *u = (char *) (user ? user : "");
    req.body_case = which;
    switch (which) {
        case COACHWIRE__API_REQUEST__BODY_CONSENT_SHOW:
            show.user = u;
            req.consent_show = &show;
            break;
        case COACHWIRE__API_REQUEST__BODY_CONSENT_RECEIPTS:
            receipts.user = u;
            req.consent_receipts = &receipts;
            break;
        case COACHWIRE__API_REQUEST__BODY_ACCESS_LOG:
            log.user = u;
            req.access_log = &log;
            break;
        case COACHWIRE__API_REQUEST__BODY_DATA_EXPORT:
            export.user = u;
            req.data_export = &export;
            break;
        case COACHWIRE__API_REQUEST__BODY_DATA_ERASE:
            erase.user = u;
            req.data_erase = &erase;
            break;
        default: break;
    }
    return s_call (client, &req, reply);
}

static const Coachwire__ApiRequest__BodyCase s_reads [] = {
    COACHWIRE__API_REQUEST__BODY_CONSENT_SHOW, COACHWIRE__API_REQUEST__BODY_CONSENT_RECEIPTS,
    COACHWIRE__API_REQUEST__BODY_ACCESS_LOG, COACHWIRE__API_REQUEST__BODY_DATA_EXPORT,
    COACHWIRE__API_REQUEST__BODY_DATA_ERASE,
};

/*  Every command by client (naming user) is refused with CW_EDENIED and a sentence that
 *  contains expect; the person's consent and data are untouched. */
static void
s_all_refused (cw_client_t *client, const char *user, const char *expect)
{
    Coachwire__ApiReply *reply = NULL;
    for (int grant = 0; grant < 2; grant++) {
        assert_int_equal (s_change (client, grant, "heart_rate.*", "coaching", user, &reply),
                          CW_EDENIED);
        if (!strstr (reply->error, expect))
            fprintf (stderr, "refusal: %s\n", reply->error);
        assert_non_null (strstr (reply->error, expect));
        assert_int_equal (reply->body_case, COACHWIRE__API_REPLY__BODY__NOT_SET);
        cw_client_reply_free (&reply);
    }
    for (size_t i = 0; i < sizeof s_reads / sizeof s_reads [0]; i++) {
        assert_int_equal (s_simple (client, s_reads [i], user, &reply), CW_EDENIED);
        assert_int_equal (reply->body_case, COACHWIRE__API_REPLY__BODY__NOT_SET);
        cw_client_reply_free (&reply);
    }
}

/*  Sends n heart-rate frames (bpm, rr) from a device and waits for every ack. */
static void
s_send_frames (device_t *dev, uint64_t first_seq, size_t n, uint32_t bpm)
{
    for (size_t i = 0; i < n; i++) {
        Coachwire__SensorBatch *b = batch_heart_rate_rr (cw_now_ms () - 60000, 4, bpm, 800);
        device_send_batch (dev, b, 2, first_seq + i);
        batch_free (b);
    }
    for (size_t acked = 0; acked < n;) {
        Coachwire__Downlink *d = device_recv (dev, S_TIMEOUT_MS);
        assert_non_null (d);
        if (d->body_case == COACHWIRE__DOWNLINK__BODY_ERROR)
            fprintf (stderr, "frame refused: %s\n", d->error->reason);
        assert_int_equal (d->body_case, COACHWIRE__DOWNLINK__BODY_ACK);
        acked++;
        coachwire__downlink__free_unpacked (d, NULL);
    }
}

typedef struct {
    size_t frames;
    size_t opened;
    size_t with_bpm;
    size_t with_rr;
} s_count_t;

static void
s_count_frame (void *ctx, const cw_stored_frame_t *f, const Coachwire__SensorBatch *b)
{
    (void) f;
    s_count_t *c = ctx;
    c->frames++;
    if (!b)
        return;
    c->opened++;
    if (b->body_case == COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE) {
        c->with_bpm += b->heart_rate->n_bpm > 0;
        c->with_rr += b->heart_rate->n_rr_interval_ms > 0;
    }
}

static s_count_t
s_count (harness_t *h, const uint8_t *user)
{
    s_count_t c = { 0, 0, 0, 0 };
    harness_stored_each (h, user, 0, s_count_frame, &c);
    return c;
}

/*  Fetches the person's receipts: text (malloc'd) and the service's public key. */
static char *
s_receipts (cw_client_t *client, uint8_t *public_key, uint64_t *count)
{
    Coachwire__ApiReply *reply = NULL;
    assert_int_equal (s_simple (client, COACHWIRE__API_REQUEST__BODY_CONSENT_RECEIPTS, NULL,
                                &reply), CW_OK);
    assert_int_equal (reply->body_case, COACHWIRE__API_REPLY__BODY_CONSENT_RECEIPTS);
    assert_int_equal (cw_hex_decode (public_key, CW_LEDGER_PUBLIC_KEY_BYTES,
                                     reply->consent_receipts->public_key), CW_OK);
    char *text = strdup (reply->consent_receipts->receipts);
    if (count)
        *count = reply->consent_receipts->count;
    cw_client_reply_free (&reply);
    return text;
}

/*  ---------------------------------------------------------------------------------------
 *  Negative: roles and arguments */

static void
test_others_refused (void **state)
{
    (void) state;
    harness_t *h = harness_new (true);
    uint8_t ana [CW_ID_BYTES], ben [CW_ID_BYTES];
    cw_cred_t *ana_cred = harness_principal (h, CW_PRINCIPAL_USER, "ana", NULL, ana);
    cw_cred_t *ben_cred = harness_principal (h, CW_PRINCIPAL_USER, "ben", NULL, ben);
    cw_cred_t *ben_phone = harness_principal (h, CW_PRINCIPAL_DEVICE, "phone", ben, NULL);
    cw_cred_t *coach = harness_principal (h, CW_PRINCIPAL_COACH, "carla", NULL, NULL);
    cw_cred_t *op = harness_principal (h, CW_PRINCIPAL_OPERATOR, "ops", NULL, NULL);

    cw_client_t *client = s_client (h, coach);
    s_all_refused (client, "ana", "only the person");
    s_all_refused (client, NULL, "a coach key may not");
    cw_client_destroy (&client);

    client = s_client (h, op);
    s_all_refused (client, "ana", "an operator key may not");
    cw_client_destroy (&client);

    /* Ben's phone names Ana: refused with a sentence saying whose device it is. */
    client = s_client (h, ben_phone);
    Coachwire__ApiReply *reply = NULL;
    for (int grant = 0; grant < 2; grant++) {
        assert_int_equal (s_change (client, grant, "*", "coaching", "ana", &reply), CW_EDENIED);
        assert_non_null (strstr (reply->error, "this device belongs to ben"));
        cw_client_reply_free (&reply);
    }
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal (s_simple (client, s_reads [i], "ana", &reply), CW_EDENIED);
        cw_client_reply_free (&reply);
    }
    /* A device may not export or erase even its own person's data. */
    assert_int_equal (s_simple (client, COACHWIRE__API_REQUEST__BODY_DATA_EXPORT, NULL, &reply),
                      CW_EDENIED);
    assert_non_null (strstr (reply->error, "own credential"));
    cw_client_reply_free (&reply);
    assert_int_equal (s_simple (client, COACHWIRE__API_REQUEST__BODY_DATA_ERASE, NULL, &reply),
                      CW_EDENIED);
    cw_client_reply_free (&reply);
    cw_client_destroy (&client);

    /* Ben himself naming Ana: refused. */
    client = s_client (h, ben_cred);
    s_all_refused (client, "ana", "you are ben");
    cw_client_destroy (&client);

    /* Nothing of Ana's changed: no grant, no receipt. */
    client = s_client (h, ana_cred);
    uint8_t key [CW_LEDGER_PUBLIC_KEY_BYTES];
    uint64_t count = 99;
    char *text = s_receipts (client, key, &count);
    assert_int_equal (count, 0);
    assert_string_equal (text, "");
    free (text);
    /* The person herself (naming herself too) and her own device succeed. */
    assert_int_equal (s_change (client, true, "heart_rate.*", "coaching", "ana", &reply), CW_OK);
    cw_client_reply_free (&reply);
    cw_client_destroy (&client);
    cw_cred_t *ana_phone = harness_principal (h, CW_PRINCIPAL_DEVICE, "phone", ana, NULL);
    client = s_client (h, ana_phone);
    assert_int_equal (s_change (client, false, "heart_rate.bpm", "coaching", NULL, &reply),
                      CW_OK);
    assert_true (reply->consent_change->recorded);
    cw_client_reply_free (&reply);
    assert_int_equal (s_simple (client, COACHWIRE__API_REQUEST__BODY_CONSENT_SHOW, NULL, &reply),
                      CW_OK);
    cw_client_reply_free (&reply);
    cw_client_destroy (&client);

    cw_cred_destroy (&ana_phone);
    cw_cred_destroy (&op);
    cw_cred_destroy (&coach);
    cw_cred_destroy (&ben_phone);
    cw_cred_destroy (&ben_cred);
    cw_cred_destroy (&ana_cred);
    harness_destroy (&h);
}

static void
test_bad_arguments (void **state)
{
    (void) state;
    harness_t *h = harness_new (true);
    cw_cred_t *cred = harness_principal (h, CW_PRINCIPAL_USER, "ana", NULL, NULL);
    cw_client_t *client = s_client (h, cred);
    Coachwire__ApiReply *reply = NULL;
    const struct {
        bool grant;
        const char *pattern;
        const char *purpose;
    } bad [] = {
        { true, "heart_rate.nope", "coaching" }, { true, "nope.*", "coaching" },
        { true, "", "coaching" }, { true, "heart_rate.bpm", "any" },
        { true, "heart_rate.bpm", "marketing" }, { false, "heart_rate.bpm", "" },
        { false, "x\x01y", "coaching" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        assert_int_equal (s_change (client, bad [i].grant, bad [i].pattern, bad [i].purpose,
                                    NULL, &reply), CW_EINVAL);
        cw_client_reply_free (&reply);
    }
    /* An expiry in the past. */
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__ConsentChangeRequest body = COACHWIRE__CONSENT_CHANGE_REQUEST__INIT;
    body.pattern = (char *) "heart_rate.bpm";
    body.purpose = (char *) "coaching";
    body.expires_ms = 1000;
    req.body_case = COACHWIRE__API_REQUEST__BODY_CONSENT_GRANT;
    req.consent_grant = &body;
    assert_int_equal (s_call (client, &req, &reply), CW_EINVAL);
    assert_non_null (strstr (reply->error, "past"));
    cw_client_reply_free (&reply);
    /* Erasing a structural field or an unknown one. */
    Coachwire__DataEraseRequest erase = COACHWIRE__DATA_ERASE_REQUEST__INIT;
    erase.field = (char *) "heart_rate.time";
    req.body_case = COACHWIRE__API_REQUEST__BODY_DATA_ERASE;
    req.data_erase = &erase;
    assert_int_equal (s_call (client, &req, &reply), CW_EINVAL);
    cw_client_reply_free (&reply);
    erase.field = (char *) "running.*";
    assert_int_equal (s_call (client, &req, &reply), CW_EINVAL);
    cw_client_reply_free (&reply);
    /* A negative export cursor. */
    Coachwire__DataExportRequest export = COACHWIRE__DATA_EXPORT_REQUEST__INIT;
    export.after_row = -5;
    req.body_case = COACHWIRE__API_REQUEST__BODY_DATA_EXPORT;
    req.data_export = &export;
    assert_int_equal (s_call (client, &req, &reply), CW_EINVAL);
    cw_client_reply_free (&reply);
    /* The ledger is still empty: nothing refused was recorded. */
    uint8_t key [CW_LEDGER_PUBLIC_KEY_BYTES];
    uint64_t count = 1;
    free (s_receipts (client, key, &count));
    assert_int_equal (count, 0);
    cw_client_destroy (&client);
    cw_cred_destroy (&cred);
    harness_destroy (&h);
}

/*  ---------------------------------------------------------------------------------------
 *  Receipts */

/*  Copies text with lines a and b swapped (0-based); drop: line a removed instead. */
static char *
s_lines_edit (const char *text, size_t a, size_t b, bool drop)
{
    const char *lines [64];
    size_t lens [64], n = 0;
    for (const char *p = text; *p && n < 64;) {
        const char *end = strchr (p, '\n');
        lines [n] = p;
        lens [n] = end ? (size_t) (end - p) + 1 : strlen (p);
        p += lens [n++];
    }
    char *out = calloc (1, strlen (text) + 1);
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = i;
        if (drop && i == a)
            continue;
        if (!drop && i == a)
            k = b;
        else if (!drop && i == b)
            k = a;
        memcpy (out + at, lines [k], lens [k]);
        at += lens [k];
    }
    return out;
}

static void
test_receipts_verify_and_tamper (void **state)
{
    (void) state;
    harness_t *h = harness_new (true);
    cw_cred_t *cred = harness_principal (h, CW_PRINCIPAL_USER, "ana", NULL, NULL);
    cw_client_t *client = s_client (h, cred);
    s_change_ok (client, true, "running.*", "coaching");
    s_change_ok (client, true, "heart_rate.*", "coaching");
    s_change_ok (client, true, "heart_rate.bpm", "coach_review");
    s_change_ok (client, false, "heart_rate.bpm", "any");
    s_change_ok (client, true, "meal.energy", "retention");

    /* The change reply carries the same signed line the ledger holds. */
    Coachwire__ApiReply *reply = NULL;
    assert_int_equal (s_change (client, false, "running.*", "coaching", NULL, &reply), CW_OK);
    char *last = strdup (reply->consent_change->receipt);
    assert_true (reply->consent_change->recorded);
    assert_int_equal (reply->consent_change->position, 5);
    cw_client_reply_free (&reply);
    /* Withdrawing again changes nothing and records nothing. */
    assert_int_equal (s_change (client, false, "running.*", "coaching", NULL, &reply), CW_OK);
    assert_false (reply->consent_change->recorded);
    assert_string_equal (reply->consent_change->receipt, "");
    cw_client_reply_free (&reply);

    uint8_t key [CW_LEDGER_PUBLIC_KEY_BYTES];
    uint64_t count = 0;
    char *text = s_receipts (client, key, &count);
    assert_int_equal (count, 6);
    assert_memory_equal (key, cw_keyring_signing_public (harness_keyring (h)), sizeof key);
    assert_non_null (strstr (text, last));
    size_t entries = 0, bad = 99;
    char reason [256];
    assert_int_equal (cw_ledger_verify_jsonl (text, strlen (text), key, &entries, &bad, reason,
                                              sizeof reason), CW_OK);
    assert_int_equal (entries, 6);

    /* A byte flipped inside entry 3's body. */
    char *flipped = strdup (text);
    const char *p = flipped;
    for (int i = 0; i < 3; i++)
        p = strchr (p, '\n') + 1;
    char *body = strstr ((char *) p, "withdrawn");
    assert_non_null (body);
    body [0] = 'W';
    assert_int_not_equal (cw_ledger_verify_jsonl (flipped, strlen (flipped), key, &entries, &bad,
                                                  reason, sizeof reason), CW_OK);
    assert_int_equal (bad, 3);
    assert_int_equal (entries, 3);
    /* Entry 2 dropped. */
    char *dropped = s_lines_edit (text, 2, 0, true);
    assert_int_not_equal (cw_ledger_verify_jsonl (dropped, strlen (dropped), key, &entries, &bad,
                                                  reason, sizeof reason), CW_OK);
    assert_int_equal (bad, 2);
    /* Entries 1 and 4 swapped. */
    char *swapped = s_lines_edit (text, 1, 4, false);
    assert_int_not_equal (cw_ledger_verify_jsonl (swapped, strlen (swapped), key, &entries, &bad,
                                                  reason, sizeof reason), CW_OK);
    assert_int_equal (bad, 1);
    /* Another key (not the service's): the first line fails. */
    uint8_t other [CW_LEDGER_PUBLIC_KEY_BYTES];
    memcpy (other, key, sizeof other);
    other [0] ^= 1;
    assert_int_equal (cw_ledger_verify_jsonl (text, strlen (text), other, &entries, &bad, reason,
                                              sizeof reason), CW_EAUTH);
    assert_int_equal (bad, 0);

    free (swapped);
    free (dropped);
    free (flipped);
    free (text);
    free (last);
    cw_client_destroy (&client);
    cw_cred_destroy (&cred);
    harness_destroy (&h);
}

static void
test_show_and_access_log (void **state)
{
    (void) state;
    harness_t *h = harness_new (true);
    cw_cred_t *cred = harness_principal (h, CW_PRINCIPAL_USER, "ana", NULL, NULL);
    cw_client_t *client = s_client (h, cred);
    s_change_ok (client, true, "running.*", "coaching");
    Coachwire__ApiReply *reply = NULL;
    assert_int_equal (s_simple (client, COACHWIRE__API_REQUEST__BODY_CONSENT_SHOW, NULL, &reply),
                      CW_OK);
    const Coachwire__ConsentShowReply *show = reply->consent_show;
    size_t catalog = 0;
    cw_catalog_entries (&catalog);
    assert_int_equal (show->n_states, catalog * CW_PURPOSE_COUNT);
    assert_true (show->policy_version >= 1);
    assert_true (strlen (show->policy_text) > 0);
    size_t granted = 0;
    for (size_t i = 0; i < show->n_states; i++) {
        const Coachwire__ConsentState *st = show->states [i];
        bool want = strncmp (st->field, "running.", 8) == 0
                    && strcmp (st->purpose, "coaching") == 0;
        assert_int_equal (st->granted ? 1 : 0, want ? 1 : 0);
        if (st->granted) {
            granted++;
            assert_int_equal (strlen (st->grant_id), 32);
            assert_int_equal (st->policy_version, show->policy_version);
        }
    }
    assert_true (granted > 0);
    cw_client_reply_free (&reply);

    /* The access log is empty until the export, which is logged. */
    assert_int_equal (s_simple (client, COACHWIRE__API_REQUEST__BODY_ACCESS_LOG, NULL, &reply),
                      CW_OK);
    assert_int_equal (reply->access_log->n_entries, 0);
    cw_client_reply_free (&reply);
    assert_int_equal (s_simple (client, COACHWIRE__API_REQUEST__BODY_DATA_EXPORT, NULL, &reply),
                      CW_OK);
    assert_true (reply->data_export->done);
    cw_client_reply_free (&reply);
    assert_int_equal (s_simple (client, COACHWIRE__API_REQUEST__BODY_ACCESS_LOG, NULL, &reply),
                      CW_OK);
    assert_int_equal (reply->access_log->n_entries, 1);
    assert_string_equal (reply->access_log->entries [0]->what, "export");
    assert_string_equal (reply->access_log->entries [0]->actor, "person");
    cw_client_reply_free (&reply);
    cw_client_destroy (&client);
    cw_cred_destroy (&cred);
    harness_destroy (&h);
}

/*  ---------------------------------------------------------------------------------------
 *  Export and erasure */

static void
test_export_pages (void **state)
{
    (void) state;
    harness_t *h = harness_new (true);
    uint8_t ana [CW_ID_BYTES];
    cw_cred_t *cred = harness_principal (h, CW_PRINCIPAL_USER, "ana", NULL, ana);
    cw_cred_t *phone = harness_principal (h, CW_PRINCIPAL_DEVICE, "phone", ana, NULL);
    cw_client_t *client = s_client (h, cred);
    s_change_ok (client, true, "heart_rate.*", "retention");
    device_t *dev = device_connect (h, phone);
    s_send_frames (dev, 1, 7, 142);

    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__DataExportRequest body = COACHWIRE__DATA_EXPORT_REQUEST__INIT;
    req.body_case = COACHWIRE__API_REQUEST__BODY_DATA_EXPORT;
    req.data_export = &body;
    body.limit = 3;
    size_t readings = 0, pages = 0, receipts = 0, headers = 0, access = 0, with_bpm = 0;
    bool done = false;
    while (!done) {
        Coachwire__ApiReply *reply = NULL;
        assert_int_equal (s_call (client, &req, &reply), CW_OK);
        const Coachwire__DataExportReply *page = reply->data_export;
        for (const char *p = page->lines; *p;) {
            const char *end = strchr (p, '\n');
            assert_non_null (end);          /* every line ends in a newline */
            assert_true (p [0] == '{' && end [-1] == '}');
#define S_IS(type) (strncmp (p, "{\"type\":\"" type "\"", sizeof "{\"type\":\"" type "\"" - 1) == 0)
            readings += S_IS ("reading");
            receipts += S_IS ("consent_receipt");
            headers += S_IS ("export");
            access += S_IS ("access");
            char *line = strndup (p, (size_t) (end - p));
            with_bpm += strstr (line, "\"heart_rate.bpm\":[142,142,142,142]") != NULL;
            free (line);
            p = end + 1;
        }
        assert_true (page->readings <= 3);
        done = page->done;
        body.after_row = page->next_row;
        pages++;
        cw_client_reply_free (&reply);
        assert_true (pages < 10);
    }
    assert_int_equal (readings, 7);
    assert_int_equal (with_bpm, 7);
    assert_int_equal (headers, 1);
    assert_int_equal (receipts, 2);     /* the grant and the export itself */
    assert_int_equal (access, 1);       /* the export itself */
    assert_true (pages >= 3);

    /* The export is in the ledger, which still verifies. */
    uint8_t key [CW_LEDGER_PUBLIC_KEY_BYTES];
    char *text = s_receipts (client, key, NULL);
    assert_non_null (strstr (text, "exported"));
    assert_int_equal (cw_ledger_verify_jsonl (text, strlen (text), key, NULL, NULL, NULL, 0),
                      CW_OK);
    free (text);
    device_destroy (&dev);
    cw_client_destroy (&client);
    cw_cred_destroy (&phone);
    cw_cred_destroy (&cred);
    harness_destroy (&h);
}

typedef struct {
    cw_stored_frame_t f;
    uint8_t device_id [CW_ID_BYTES];
    uint8_t user_id [CW_ID_BYTES];
    uint8_t *sealed;
} s_copy_t;

static void
s_copy_first (void *ctx, const cw_stored_frame_t *f, const Coachwire__SensorBatch *b)
{
    (void) b;
    s_copy_t *c = ctx;
    if (c->sealed)
        return;
    c->f = *f;
    memcpy (c->device_id, f->device_id, CW_ID_BYTES);
    memcpy (c->user_id, f->user_id, CW_ID_BYTES);
    c->sealed = malloc (f->sealed_len);
    memcpy (c->sealed, f->sealed, f->sealed_len);
}

static void
test_erase_field_then_everything (void **state)
{
    (void) state;
    harness_t *h = harness_new (true);
    uint8_t ana [CW_ID_BYTES], ben [CW_ID_BYTES];
    cw_cred_t *cred = harness_principal (h, CW_PRINCIPAL_USER, "ana", NULL, ana);
    cw_cred_t *phone = harness_principal (h, CW_PRINCIPAL_DEVICE, "phone", ana, NULL);
    cw_cred_t *ben_cred = harness_principal (h, CW_PRINCIPAL_USER, "ben", NULL, ben);
    cw_cred_t *ben_phone = harness_principal (h, CW_PRINCIPAL_DEVICE, "phone", ben, NULL);
    cw_client_t *client = s_client (h, cred);
    cw_client_t *ben_client = s_client (h, ben_cred);
    s_change_ok (client, true, "heart_rate.*", "retention");
    s_change_ok (ben_client, true, "heart_rate.*", "retention");
    device_t *dev = device_connect (h, phone);
    device_t *ben_dev = device_connect (h, ben_phone);
    s_send_frames (dev, 1, 6, 150);
    s_send_frames (ben_dev, 1, 3, 160);
    s_count_t c = s_count (h, ana);
    assert_int_equal (c.frames, 6);
    assert_int_equal (c.with_bpm, 6);
    assert_int_equal (c.with_rr, 6);

    /* Erase one field: stored frames keep rr, lose bpm; its grants are withdrawn. */
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__DataEraseRequest body = COACHWIRE__DATA_ERASE_REQUEST__INIT;
    body.field = (char *) "heart_rate.bpm";
    req.body_case = COACHWIRE__API_REQUEST__BODY_DATA_ERASE;
    req.data_erase = &body;
    Coachwire__ApiReply *reply = NULL;
    assert_int_equal (s_call (client, &req, &reply), CW_OK);
    /* The withdrawal goes out first: the coach, trimming what retention no longer covers,
     * may strip a frame it had not reached yet before the erasure gets to it. Either way
     * every stored frame ends without the field (below). */
    assert_true (reply->data_erase->frames_rewritten <= 6);
    assert_int_equal (reply->data_erase->grants_withdrawn, 1);
    assert_non_null (strstr (reply->data_erase->receipt, "erased"));
    cw_client_reply_free (&reply);
    c = s_count (h, ana);
    assert_int_equal (c.frames, 6);
    assert_int_equal (c.opened, 6);
    assert_int_equal (c.with_bpm, 0);
    assert_int_equal (c.with_rr, 6);
    /* Ben's frames are untouched. */
    c = s_count (h, ben);
    assert_int_equal (c.with_bpm, 3);

    /* A copy of a stored payload, taken before the erasure (a backup, say). */
    s_copy_t copy;
    memset (&copy, 0, sizeof copy);
    harness_stored_each (h, ana, 0, s_copy_first, &copy);
    assert_non_null (copy.sealed);

    /* Erase everything. */
    body.field = (char *) "";
    assert_int_equal (s_call (client, &req, &reply), CW_OK);
    assert_int_equal (reply->data_erase->frames_deleted, 6);
    assert_int_equal (reply->data_erase->devices_revoked, 1);
    cw_client_reply_free (&reply);

    /* The data key is gone: the copy cannot be opened any more. */
    uint8_t wrapped [CW_WRAPPED_KEY_BYTES];
    assert_int_equal (cw_store_person_key_get (harness_store (h), ana, wrapped), CW_ENOENT);
    c = s_count (h, ana);
    assert_int_equal (c.frames, 0);
    /* Nor with any key the service could make again for her. */
    uint8_t *fresh = sodium_malloc (32);
    uint8_t fresh_wrapped [CW_WRAPPED_KEY_BYTES];
    assert_int_equal (cw_keyring_person_key_new (harness_keyring (h), ana, fresh, fresh_wrapped),
                      CW_OK);
    uint8_t *plain = malloc (copy.f.sealed_len);
    size_t len = 0;
    assert_int_equal (cw_stored_open (plain, &len, fresh, copy.device_id, copy.user_id,
                                      copy.f.stream, copy.f.sequence, copy.sealed,
                                      copy.f.sealed_len), CW_EAUTH);
    sodium_free (fresh);
    free (plain);
    free (copy.sealed);
    /* Her device is revoked; Ben's data is untouched. */
    cw_principal_t p;
    assert_int_equal (cw_store_principal_by_id (harness_store (h), cw_cred_id (phone), &p), CW_OK);
    assert_true (p.revoked_ms != 0);
    c = s_count (h, ben);
    assert_int_equal (c.frames, 3);
    assert_int_equal (c.opened, 3);

    /* Her receipts remain and verify, erasure included; an export now holds no reading. */
    uint8_t key [CW_LEDGER_PUBLIC_KEY_BYTES];
    char *text = s_receipts (client, key, NULL);
    assert_non_null (strstr (text, "erased"));
    size_t entries = 0;
    assert_int_equal (cw_ledger_verify_jsonl (text, strlen (text), key, &entries, NULL, NULL, 0),
                      CW_OK);
    assert_true (entries >= 4);
    free (text);
    assert_int_equal (s_simple (client, COACHWIRE__API_REQUEST__BODY_DATA_EXPORT, NULL, &reply),
                      CW_OK);
    assert_int_equal (reply->data_export->readings, 0);
    assert_true (reply->data_export->done);
    cw_client_reply_free (&reply);

    /* She starts over: a device enrolled now gets a new data key made for her, and what it
     * sends is stored and opens under that key (the erased frames stay gone). */
    s_change_ok (client, true, "heart_rate.*", "retention");
    cw_cred_t *op = harness_principal (h, CW_PRINCIPAL_OPERATOR, "op", NULL, NULL);
    cw_client_t *op_client = s_client (h, op);
    Coachwire__ApiRequest enroll_req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__DeviceEnrollRequest enroll = COACHWIRE__DEVICE_ENROLL_REQUEST__INIT;
    enroll.user = (char *) "ana";
    enroll_req.body_case = COACHWIRE__API_REQUEST__BODY_DEVICE_ENROLL;
    enroll_req.device_enroll = &enroll;
    assert_int_equal (s_call (op_client, &enroll_req, &reply), CW_OK);
    cw_cred_t *new_phone = NULL;
    char err [128];
    assert_int_equal (cw_cred_parse (reply->credential->text, strlen (reply->credential->text),
                                     &new_phone, err, sizeof err), CW_OK);
    cw_client_reply_free (&reply);
    assert_int_equal (cw_store_person_key_get (harness_store (h), ana, wrapped), CW_OK);
    device_t *new_dev = device_connect (h, new_phone);
    s_send_frames (new_dev, 1, 2, 150);
    c = s_count (h, ana);
    assert_int_equal (c.frames, 2);
    assert_int_equal (c.opened, 2);
    device_destroy (&new_dev);
    cw_cred_destroy (&new_phone);
    cw_client_destroy (&op_client);
    cw_cred_destroy (&op);
    /* Nothing left in the access log but what came after (nothing). */
    device_destroy (&ben_dev);
    device_destroy (&dev);
    cw_client_destroy (&ben_client);
    cw_client_destroy (&client);
    cw_cred_destroy (&ben_phone);
    cw_cred_destroy (&ben_cred);
    cw_cred_destroy (&phone);
    cw_cred_destroy (&cred);
    harness_destroy (&h);
}

/*  ---------------------------------------------------------------------------------------
 *  The edge library's switches */

static void
test_edge_consent (void **state)
{
    (void) state;
    harness_t *h = harness_new (true);
    uint8_t ana [CW_ID_BYTES], ben [CW_ID_BYTES];
    cw_cred_t *cred = harness_principal (h, CW_PRINCIPAL_USER, "ana", NULL, ana);
    cw_cred_t *phone = harness_principal (h, CW_PRINCIPAL_DEVICE, "phone", ana, NULL);
    cw_cred_t *ben_cred = harness_principal (h, CW_PRINCIPAL_USER, "ben", NULL, ben);
    char cred_path [128], queue_path [128];
    snprintf (cred_path, sizeof cred_path, "%s/phone.cred", harness_dir (h));
    snprintf (queue_path, sizeof queue_path, "%s/phone.queue", harness_dir (h));
    assert_int_equal (cw_cred_save (phone, cred_path), CW_OK);
    cw_edge_t *edge = NULL;
    assert_int_equal (cw_edge_new (&edge, cred_path, queue_path, NULL), CW_OK);

    /* Bad input first: an unknown field, a bad purpose; a too small receipt buffer. */
    char receipt [16 * 1024];
    assert_int_equal (cw_edge_consent (edge, "heart_rate.nope", "coaching", true, receipt,
                                       sizeof receipt, 0), CW_EINVAL);
    assert_true (strlen (cw_edge_api_error (edge)) > 0);
    assert_int_equal (cw_edge_consent (edge, "heart_rate.bpm", "any", true, receipt,
                                       sizeof receipt, 0), CW_EINVAL);
    char tiny [8];
    assert_int_equal (cw_edge_consent (edge, "running.*", "coaching", true, tiny, sizeof tiny,
                                       0), CW_ETOOBIG);

    assert_int_equal (cw_edge_consent (edge, "heart_rate.*", "coaching", true, receipt,
                                       sizeof receipt, 0), CW_OK);
    assert_non_null (strstr (receipt, "\"position\":1"));
    assert_int_equal (cw_edge_consent (edge, "heart_rate.*", "any", false, receipt,
                                       sizeof receipt, 0), CW_OK);
    assert_non_null (strstr (receipt, "withdrawn"));
    assert_int_equal (cw_edge_consent (edge, "heart_rate.*", "any", false, NULL, 0, 0), CW_OK);
    assert_non_null (strstr (cw_edge_api_error (edge), "nothing changed"));

    /* Ana's ledger holds the three changes, and verifies; Ben's is empty. */
    cw_client_t *client = s_client (h, cred);
    uint8_t key [CW_LEDGER_PUBLIC_KEY_BYTES];
    uint64_t count = 0;
    char *text = s_receipts (client, key, &count);
    assert_int_equal (count, 3);
    assert_int_equal (cw_ledger_verify_jsonl (text, strlen (text), key, NULL, NULL, NULL, 0),
                      CW_OK);
    free (text);
    cw_client_destroy (&client);
    client = s_client (h, ben_cred);
    free (s_receipts (client, key, &count));
    assert_int_equal (count, 0);
    cw_client_destroy (&client);

    cw_edge_destroy (&edge);
    cw_cred_destroy (&ben_cred);
    cw_cred_destroy (&phone);
    cw_cred_destroy (&cred);
    harness_destroy (&h);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_others_refused),
        cmocka_unit_test (test_bad_arguments),
        cmocka_unit_test (test_receipts_verify_and_tamper),
        cmocka_unit_test (test_show_and_access_log),
        cmocka_unit_test (test_export_pages),
        cmocka_unit_test (test_erase_field_then_everything),
        cmocka_unit_test (test_edge_consent),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
