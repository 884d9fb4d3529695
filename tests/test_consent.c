/*  test_consent.c - the grant model: nothing by default, groups expand through the catalog,
 *  revoke is as easy as grant, expiry is honoured, bad requests write nothing, and every
 *  change is one signed receipt. Doubles as the usage example of cw_consent.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coachwire/cw_catalog.h"
#include "coachwire/cw_consent.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_ledger.h"
#include "coachwire/cw_store.h"
#include "test_dir.h"

#define NOW 1714550400000ull    /* 2024-05-01T08:00:00Z */

typedef struct {
    char dir [64];
    char path [96];
    cw_store_t *store;
    cw_consent_t *consent;
    cw_ledger_t *ledger;
    uint8_t pk [crypto_sign_PUBLICKEYBYTES];
    uint8_t sk [crypto_sign_SECRETKEYBYTES];
    uint8_t ana [CW_ID_BYTES];
    uint8_t ben [CW_ID_BYTES];
} fixture_t;

static int
setup (void **state)
{
    if (sodium_init () < 0)
        return -1;
    fixture_t *f = calloc (1, sizeof *f);
    if (!f)
        return -1;
    if (test_dir_make (f->dir, sizeof f->dir, f->path, sizeof f->path, "consent") != 0)
        return -1;
    crypto_sign_keypair (f->pk, f->sk);
    randombytes_buf (f->ana, sizeof f->ana);
    randombytes_buf (f->ben, sizeof f->ben);
    if (cw_store_open (&f->store, f->path, true) != CW_OK
        || cw_consent_open (&f->consent, f->store) != CW_OK
        || cw_ledger_open (&f->ledger, f->store, f->sk) != CW_OK)
        return -1;
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    cw_ledger_destroy (&f->ledger);
    cw_ledger_destroy (&f->ledger);
    cw_consent_destroy (&f->consent);
    cw_consent_destroy (&f->consent);
    cw_store_destroy (&f->store);
    test_dir_remove (f->dir);
    free (f);
    return 0;
}

static int64_t
s_count (fixture_t *f, const char *sql)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal (sqlite3_prepare_v2 (cw_store_sqlite (f->store), sql, -1, &st, NULL),
                      SQLITE_OK);
    assert_int_equal (sqlite3_step (st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64 (st, 0);
    sqlite3_finalize (st);
    return n;
}

static bool
s_granted (fixture_t *f, const uint8_t *user, const char *field, cw_purpose_t purpose,
           uint64_t now)
{
    int rc = cw_consent_check (f->consent, user, field, purpose, now, NULL, NULL);
    assert_true (rc == CW_OK || rc == CW_ECONSENT);
    return rc == CW_OK;
}

static void
s_count_granted (void *ctx, const cw_consent_state_t *state)
{
    size_t *n = ctx;
    n [0]++;
    if (state->granted)
        n [1]++;
}

/* ---- negative first ------------------------------------------------------------------- */

static void
test_default_nothing_granted (void **state)
{
    fixture_t *f = *state;
    size_t count = 0;
    const cw_catalog_entry_t *all = cw_catalog_entries (&count);
    for (size_t i = 0; i < count; i++)
        for (int p = 0; p <= CW_PURPOSE_COUNT; p++) {
            uint8_t id [CW_ID_BYTES] = { 1 };
            assert_int_equal (cw_consent_check (f->consent, f->ana, all [i].name,
                                                (cw_purpose_t) p, NOW, id, NULL),
                              CW_ECONSENT);
        }
    uint64_t mask = 1, until = 1, gen = 1;
    assert_int_equal (cw_consent_mask (f->consent, f->ana, CW_PURPOSE_ANY, NOW, &mask, &until),
                      CW_OK);
    assert_int_equal (mask, 0);
    assert_int_equal (until, 0);
    assert_int_equal (cw_consent_generation (f->consent, f->ana, &gen), CW_OK);
    assert_int_equal (gen, 0);
    size_t n [2] = { 0, 0 };
    assert_int_equal (cw_consent_each (f->consent, f->ana, NULL, CW_PURPOSE_ANY, NOW,
                                       s_count_granted, n), CW_OK);
    assert_int_equal (n [0], count * CW_PURPOSE_COUNT);
    assert_int_equal (n [1], 0);
}

static void
test_bad_requests_write_nothing (void **state)
{
    fixture_t *f = *state;
    cw_consent_change_t c;
    const char *bad [] = { "heart_rate", "heart_rate.", "nope.*", "running.*x", "", "**",
                           "heart_rate.bpm ", "HEART_RATE.BPM" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ana, bad [i],
                                            CW_PURPOSE_COACHING, 0, NOW, &c), CW_EINVAL);
        assert_int_equal (cw_consent_revoke (f->consent, f->ledger, f->ana, bad [i],
                                             CW_PURPOSE_COACHING, NOW, &c), CW_EINVAL);
    }
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ana, NULL,
                                        CW_PURPOSE_COACHING, 0, NOW, &c), CW_EINVAL);
    /* ANY is not a purpose one can grant; out-of-range values are refused */
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ana, "*", CW_PURPOSE_ANY, 0,
                                        NOW, &c), CW_EINVAL);
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ana, "*", (cw_purpose_t) 4,
                                        0, NOW, &c), CW_EINVAL);
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ana, "*", (cw_purpose_t) -1,
                                        0, NOW, &c), CW_EINVAL);
    assert_int_equal (cw_consent_revoke (f->consent, f->ledger, f->ana, "*", (cw_purpose_t) 4,
                                         NOW, &c), CW_EINVAL);
    /* an expiry in the past (or now) */
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ana, "*", CW_PURPOSE_COACHING,
                                        NOW, NOW, &c), CW_EINVAL);
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ana, "*", CW_PURPOSE_COACHING,
                                        NOW - 1, NOW, &c), CW_EINVAL);
    /* missing pieces */
    assert_int_equal (cw_consent_grant (f->consent, NULL, f->ana, "*", CW_PURPOSE_COACHING, 0,
                                        NOW, &c), CW_EINVAL);
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, NULL, "*", CW_PURPOSE_COACHING,
                                        0, NOW, &c), CW_EINVAL);
    assert_int_equal (cw_consent_check (f->consent, f->ana, "heart_rate", CW_PURPOSE_COACHING,
                                        NOW, NULL, NULL), CW_EINVAL);
    assert_int_equal (cw_consent_check (f->consent, f->ana, "heart_rate.bpm", (cw_purpose_t) 7,
                                        NOW, NULL, NULL), CW_EINVAL);
    uint64_t mask = 0;
    assert_int_equal (cw_consent_mask (f->consent, f->ana, (cw_purpose_t) 9, NOW, &mask, NULL),
                      CW_EINVAL);
    cw_purpose_t p;
    assert_int_equal (cw_purpose_parse ("marketing", &p), CW_EINVAL);
    assert_int_equal (cw_purpose_parse (NULL, &p), CW_EINVAL);
    assert_null (cw_purpose_name ((cw_purpose_t) 4));

    assert_int_equal (s_count (f, "SELECT COUNT (*) FROM grants"), 0);
    assert_int_equal (s_count (f, "SELECT COUNT (*) FROM ledger"), 0);
    assert_int_equal (s_count (f, "SELECT COUNT (*) FROM consent_generation"), 0);
}

/* ---- the model ------------------------------------------------------------------------ */

static void
test_grant_group_covers_exactly_the_group (void **state)
{
    fixture_t *f = *state;
    cw_consent_change_t c;
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ana, "running.*",
                                        CW_PURPOSE_COACHING, 0, NOW, &c), CW_OK);
    size_t count = 0;
    const cw_catalog_entry_t *all = cw_catalog_entries (&count);
    size_t running = 0;
    uint64_t expect = 0;
    for (size_t i = 0; i < count; i++) {
        bool in = strncmp (all [i].name, "running.", 8) == 0;
        if (in) {
            running++;
            expect |= 1ull << cw_catalog_index (&all [i]);
        }
        assert_int_equal (s_granted (f, f->ana, all [i].name, CW_PURPOSE_COACHING, NOW), in);
        assert_int_equal (s_granted (f, f->ana, all [i].name, CW_PURPOSE_ANY, NOW), in);
        assert_false (s_granted (f, f->ana, all [i].name, CW_PURPOSE_COACH_REVIEW, NOW));
        assert_false (s_granted (f, f->ana, all [i].name, CW_PURPOSE_RETENTION, NOW));
        assert_false (s_granted (f, f->ben, all [i].name, CW_PURPOSE_COACHING, NOW));
    }
    assert_int_equal (c.fields, running);
    assert_int_equal (c.changed, running);
    assert_true (c.recorded);
    assert_int_equal (c.receipt.position, 0);
    assert_int_equal (c.policy_version, 1);
    assert_int_equal (c.generation, 1);
    assert_int_equal (s_count (f, "SELECT COUNT (*) FROM grants"), (int64_t) running);
    assert_int_equal (s_count (f, "SELECT COUNT (*) FROM ledger"), 1);

    uint64_t mask = 0;
    assert_int_equal (cw_consent_mask (f->consent, f->ana, CW_PURPOSE_COACHING, NOW, &mask,
                                       NULL), CW_OK);
    assert_int_equal (mask, expect);
    assert_int_equal (cw_consent_mask (f->consent, f->ana, CW_PURPOSE_ANY, NOW, &mask, NULL),
                      CW_OK);
    assert_int_equal (mask, expect);
    assert_int_equal (cw_consent_mask (f->consent, f->ana, CW_PURPOSE_RETENTION, NOW, &mask,
                                       NULL), CW_OK);
    assert_int_equal (mask, 0);

    /* the grant id of check is the one show lists, under policy 1 */
    uint8_t id [CW_ID_BYTES];
    uint32_t policy = 0;
    assert_int_equal (cw_consent_check (f->consent, f->ana, "running.power",
                                        CW_PURPOSE_COACHING, NOW, id, &policy), CW_OK);
    assert_int_equal (policy, 1);
    assert_int_equal (s_count (f, "SELECT COUNT (*) FROM grants WHERE field = 'running.power'"
                                  " AND withdrawn_ms = 0"), 1);

    /* the change's receipt verifies offline and names every field */
    char *line = NULL;
    size_t len = 0;
    assert_int_equal (cw_ledger_line (f->ledger, f->ana, 0, &line, &len), CW_OK);
    size_t entries = 0, bad = 0;
    char reason [CW_LEDGER_REASON_MAX];
    assert_int_equal (cw_ledger_verify_jsonl (line, len, f->pk, &entries, &bad, reason,
                                              sizeof reason), CW_OK);
    assert_int_equal (entries, 1);
    assert_non_null (strstr (line, "running.cadence"));
    assert_non_null (strstr (line, "granted"));
    assert_null (strstr (line, "heart_rate"));
    free (line);
}

static void
test_revoke_one_field (void **state)
{
    fixture_t *f = *state;
    cw_consent_change_t c;
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ana, "running.*",
                                        CW_PURPOSE_COACHING, 0, NOW, &c), CW_OK);
    uint8_t before [CW_ID_BYTES], after [CW_ID_BYTES];
    assert_int_equal (cw_consent_check (f->consent, f->ana, "running.power",
                                        CW_PURPOSE_COACHING, NOW, before, NULL), CW_OK);
    assert_int_equal (cw_consent_revoke (f->consent, f->ledger, f->ana, "running.cadence",
                                         CW_PURPOSE_COACHING, NOW + 10, &c), CW_OK);
    assert_int_equal (c.fields, 1);
    assert_int_equal (c.changed, 1);
    assert_true (c.recorded);
    assert_int_equal (c.receipt.position, 1);
    assert_int_equal (c.generation, 2);
    assert_false (s_granted (f, f->ana, "running.cadence", CW_PURPOSE_COACHING, NOW + 10));
    assert_false (s_granted (f, f->ana, "running.cadence", CW_PURPOSE_ANY, NOW + 10));
    assert_true (s_granted (f, f->ana, "running.power", CW_PURPOSE_COACHING, NOW + 10));
    assert_int_equal (cw_consent_check (f->consent, f->ana, "running.power",
                                        CW_PURPOSE_COACHING, NOW + 10, after, NULL), CW_OK);
    assert_memory_equal (before, after, CW_ID_BYTES);   /* the others are untouched */

    uint64_t mask = 0;
    assert_int_equal (cw_consent_mask (f->consent, f->ana, CW_PURPOSE_ANY, NOW + 10, &mask,
                                       NULL), CW_OK);
    int cadence = cw_catalog_index (cw_catalog_find ("running.cadence"));
    assert_int_equal (mask >> cadence & 1u, 0);
    assert_int_equal (mask >> cw_catalog_index (cw_catalog_find ("running.power")) & 1u, 1);

    /* withdrawing again: nothing to do, no receipt, no new generation */
    assert_int_equal (cw_consent_revoke (f->consent, f->ledger, f->ana, "running.cadence",
                                         CW_PURPOSE_COACHING, NOW + 20, &c), CW_OK);
    assert_int_equal (c.changed, 0);
    assert_false (c.recorded);
    assert_int_equal (c.generation, 2);
    assert_int_equal (s_count (f, "SELECT COUNT (*) FROM ledger"), 2);

    /* granted again: a new grant id, the old row stays as history */
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ana, "running.cadence",
                                        CW_PURPOSE_COACHING, 0, NOW + 30, &c), CW_OK);
    assert_true (s_granted (f, f->ana, "running.cadence", CW_PURPOSE_COACHING, NOW + 30));
    assert_int_equal (s_count (f, "SELECT COUNT (*) FROM grants WHERE field ="
                                  " 'running.cadence'"), 2);
}

static void
test_revoke_everything_in_one_call (void **state)
{
    fixture_t *f = *state;
    cw_consent_change_t c;
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ana, "*",
                                        CW_PURPOSE_COACHING, 0, NOW, &c), CW_OK);
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ana, "heart_rate.*",
                                        CW_PURPOSE_RETENTION, 0, NOW, &c), CW_OK);
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ben, "*",
                                        CW_PURPOSE_COACHING, 0, NOW, &c), CW_OK);
    assert_int_equal (cw_consent_revoke (f->consent, f->ledger, f->ana, "*", CW_PURPOSE_ANY,
                                         NOW + 1, &c), CW_OK);
    size_t count = 0;
    cw_catalog_entries (&count);
    assert_int_equal (c.changed, count + 3);
    uint64_t mask = 1;
    assert_int_equal (cw_consent_mask (f->consent, f->ana, CW_PURPOSE_ANY, NOW + 1, &mask,
                                       NULL), CW_OK);
    assert_int_equal (mask, 0);
    /* ben's consent is his own */
    assert_int_equal (cw_consent_mask (f->consent, f->ben, CW_PURPOSE_COACHING, NOW + 1, &mask,
                                       NULL), CW_OK);
    assert_int_equal (mask, count == 64 ? UINT64_MAX : (1ull << count) - 1);
}

static void
test_expiry (void **state)
{
    fixture_t *f = *state;
    cw_consent_change_t c;
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ana, "heart_rate.bpm",
                                        CW_PURPOSE_COACH_REVIEW, NOW + 1000, NOW, &c), CW_OK);
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ana, "heart_rate.time",
                                        CW_PURPOSE_COACH_REVIEW, NOW + 5000, NOW, &c), CW_OK);
    assert_true (s_granted (f, f->ana, "heart_rate.bpm", CW_PURPOSE_COACH_REVIEW, NOW));
    assert_true (s_granted (f, f->ana, "heart_rate.bpm", CW_PURPOSE_COACH_REVIEW, NOW + 999));
    assert_false (s_granted (f, f->ana, "heart_rate.bpm", CW_PURPOSE_COACH_REVIEW, NOW + 1000));
    uint64_t mask = 0, until = 0;
    assert_int_equal (cw_consent_mask (f->consent, f->ana, CW_PURPOSE_COACH_REVIEW, NOW, &mask,
                                       &until), CW_OK);
    assert_int_equal (until, NOW + 1000);
    assert_int_equal (mask, 1ull << cw_catalog_index (cw_catalog_find ("heart_rate.bpm"))
                            | 1ull << cw_catalog_index (cw_catalog_find ("heart_rate.time")));
    assert_int_equal (cw_consent_mask (f->consent, f->ana, CW_PURPOSE_COACH_REVIEW, NOW + 1000,
                                       &mask, &until), CW_OK);
    assert_int_equal (mask, 1ull << cw_catalog_index (cw_catalog_find ("heart_rate.time")));
    assert_int_equal (until, NOW + 5000);
    size_t n [2] = { 0, 0 };
    assert_int_equal (cw_consent_each (f->consent, f->ana, "heart_rate.*",
                                       CW_PURPOSE_COACH_REVIEW, NOW + 1000, s_count_granted, n),
                      CW_OK);
    assert_int_equal (n [0], 3);
    assert_int_equal (n [1], 1);
}

static void
test_policy (void **state)
{
    fixture_t *f = *state;
    uint32_t v = 0;
    assert_int_equal (cw_consent_policy_current (f->consent, &v), CW_OK);
    assert_int_equal (v, 1);
    char *text = NULL;
    assert_int_equal (cw_consent_policy_text (f->consent, 1, &text, NULL), CW_OK);
    assert_non_null (strstr (text, "coaching"));
    assert_non_null (strstr (text, "coach_review"));
    assert_non_null (strstr (text, "retention"));
    assert_non_null (strstr (text, "365 days"));
    free (text);
    assert_int_equal (cw_consent_policy_text (f->consent, 2, &text, NULL), CW_ENOENT);
    assert_null (text);
    assert_int_equal (cw_consent_policy_add (f->consent, "", NOW, &v), CW_EINVAL);
    assert_int_equal (cw_consent_policy_add (f->consent, "version 2 text", NOW, &v), CW_OK);
    assert_int_equal (v, 2);
    cw_consent_change_t c;
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ana, "meal.energy",
                                        CW_PURPOSE_COACHING, 0, NOW, &c), CW_OK);
    assert_int_equal (c.policy_version, 2);
    uint32_t policy = 0;
    assert_int_equal (cw_consent_check (f->consent, f->ana, "meal.energy", CW_PURPOSE_COACHING,
                                        NOW, NULL, &policy), CW_OK);
    assert_int_equal (policy, 2);
    /* reopening keeps policies and grants */
    cw_consent_destroy (&f->consent);
    assert_int_equal (cw_consent_open (&f->consent, f->store), CW_OK);
    assert_int_equal (cw_consent_policy_current (f->consent, &v), CW_OK);
    assert_int_equal (v, 2);
    assert_true (s_granted (f, f->ana, "meal.energy", CW_PURPOSE_COACHING, NOW));
}

static void
test_joins_the_callers_transaction (void **state)
{
    fixture_t *f = *state;
    cw_consent_change_t c;
    assert_int_equal (cw_store_begin (f->store), CW_OK);
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ana, "location.*",
                                        CW_PURPOSE_COACHING, 0, NOW, &c), CW_OK);
    assert_true (s_granted (f, f->ana, "location.position", CW_PURPOSE_COACHING, NOW));
    cw_store_rollback (f->store);
    /* rolled back together: grants, receipt and generation */
    assert_false (s_granted (f, f->ana, "location.position", CW_PURPOSE_COACHING, NOW));
    assert_int_equal (s_count (f, "SELECT COUNT (*) FROM ledger"), 0);
    uint64_t gen = 9;
    assert_int_equal (cw_consent_generation (f->consent, f->ana, &gen), CW_OK);
    assert_int_equal (gen, 0);
}

static void
test_ledger_of_changes_verifies (void **state)
{
    fixture_t *f = *state;
    cw_consent_change_t c;
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ana, "*",
                                        CW_PURPOSE_COACHING, 0, NOW, &c), CW_OK);
    assert_int_equal (cw_consent_revoke (f->consent, f->ledger, f->ana, "location.*",
                                         CW_PURPOSE_ANY, NOW + 1, &c), CW_OK);
    assert_int_equal (cw_consent_grant (f->consent, f->ledger, f->ana, "meal.*",
                                        CW_PURPOSE_RETENTION, NOW + 86400000, NOW + 2, &c),
                      CW_OK);
    char *text = NULL;
    size_t len = 0, entries = 0, bad = 0;
    assert_int_equal (cw_ledger_export (f->ledger, f->ana, &text, &len), CW_OK);
    assert_int_equal (cw_ledger_verify_jsonl (text, len, f->pk, &entries, &bad, NULL, 0), CW_OK);
    assert_int_equal (entries, 3);
    assert_non_null (strstr (text, "withdrawn"));
    assert_non_null (strstr (text, "2024-05-02T08:00:00.000Z"));     /* the expiry */
    free (text);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_default_nothing_granted, setup, teardown),
        cmocka_unit_test_setup_teardown (test_bad_requests_write_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown (test_grant_group_covers_exactly_the_group, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_revoke_one_field, setup, teardown),
        cmocka_unit_test_setup_teardown (test_revoke_everything_in_one_call, setup, teardown),
        cmocka_unit_test_setup_teardown (test_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown (test_policy, setup, teardown),
        cmocka_unit_test_setup_teardown (test_joins_the_callers_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown (test_ledger_of_changes_verifies, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
