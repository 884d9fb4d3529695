/*  test_ledger.c - the consent ledger: appended receipts export as JSON lines that the offline
 *  verifier accepts, and every tampering (an edited byte, a changed hash, a removed entry, two
 *  swapped entries, another key, a truncated line) is caught with its position named. */
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

#include "coachwire/cw_error.h"
#include "coachwire/cw_ledger.h"
#include "coachwire/cw_store.h"
#include "test_dir.h"

#define NOW 1714550400000ull
#define MAX_LINES 16

typedef struct {
    char dir [64];
    char path [96];
    cw_store_t *store;
    cw_ledger_t *ledger;
    uint8_t pk [crypto_sign_PUBLICKEYBYTES];
    uint8_t sk [crypto_sign_SECRETKEYBYTES];
    uint8_t ana [CW_ID_BYTES];
    uint8_t ben [CW_ID_BYTES];
    char *text;                 /* ana's export */
    size_t len;
} fixture_t;

static void
s_append (fixture_t *f, const uint8_t *user, cw_ledger_kind_t kind, const char *field,
          uint64_t ts, uint64_t expected_position)
{
    const char *purposes [] = { "coaching", "retention" };
    const char *fields [] = { field, "heart_rate.time" };
    uint8_t ids [2 * CW_ID_BYTES];
    randombytes_buf (ids, sizeof ids);
    cw_receipt_t r = { .kind = kind, .ts_ms = ts, .policy_version = 1, .purposes = purposes,
                       .n_purposes = kind <= CW_LEDGER_REVOKE ? 2 : 0, .fields = fields,
                       .n_fields = 2, .grant_ids = ids, .n_grant_ids = 2,
                       .expires_ms = kind == CW_LEDGER_GRANT ? ts + 1000 : 0,
                       .note = kind == CW_LEDGER_ERASE ? "erase \"all\"\n\xc3\xa9" : NULL };
    cw_ledger_entry_t e;
    assert_int_equal (cw_store_begin (f->store), CW_OK);
    assert_int_equal (cw_ledger_append (f->ledger, user, &r, &e), CW_OK);
    assert_int_equal (cw_store_commit (f->store), CW_OK);
    assert_int_equal (e.position, expected_position);
}

static int
setup (void **state)
{
    if (sodium_init () < 0)
        return -1;
    fixture_t *f = calloc (1, sizeof *f);
    if (!f)
        return -1;
    if (test_dir_make (f->dir, sizeof f->dir, f->path, sizeof f->path, "ledger") != 0)
        return -1;
    crypto_sign_keypair (f->pk, f->sk);
    randombytes_buf (f->ana, sizeof f->ana);
    randombytes_buf (f->ben, sizeof f->ben);
    if (cw_store_open (&f->store, f->path, true) != CW_OK
        || cw_ledger_open (&f->ledger, f->store, f->sk) != CW_OK)
        return -1;
    /* two people, interleaved */
    s_append (f, f->ana, CW_LEDGER_GRANT, "heart_rate.bpm", NOW, 0);
    s_append (f, f->ben, CW_LEDGER_GRANT, "running.power", NOW + 1, 0);
    s_append (f, f->ana, CW_LEDGER_REVOKE, "heart_rate.bpm", NOW + 2, 1);
    s_append (f, f->ana, CW_LEDGER_GRANT, "meal.items", NOW + 3, 2);
    s_append (f, f->ben, CW_LEDGER_REVOKE, "running.power", NOW + 4, 1);
    s_append (f, f->ana, CW_LEDGER_EXPORT, "meal.items", NOW + 5, 3);
    s_append (f, f->ana, CW_LEDGER_ERASE, "meal.items", NOW + 6, 4);
    if (cw_ledger_export (f->ledger, f->ana, &f->text, &f->len) != CW_OK)
        return -1;
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    free (f->text);
    cw_ledger_destroy (&f->ledger);
    cw_ledger_destroy (&f->ledger);
    cw_store_destroy (&f->store);
    test_dir_remove (f->dir);
    free (f);
    return 0;
}

/*  Splits a copy of text into lines (without '\n'). Returns the count. */
static size_t
s_lines (const char *text, char lines [MAX_LINES][8192])
{
    size_t n = 0;
    const char *p = text;
    while (*p && n < MAX_LINES) {
        const char *nl = strchr (p, '\n');
        assert_non_null (nl);
        size_t len = (size_t) (nl - p);
        assert_true (len < 8192);
        memcpy (lines [n], p, len);
        lines [n][len] = 0;
        n++;
        p = nl + 1;
    }
    return n;
}

/*  Joins lines in the given order (order [i] = index into lines; -1 ends). Caller frees. */
static char *
s_join (char lines [MAX_LINES][8192], const int *order)
{
    char *out = calloc (1, MAX_LINES * 8193);
    assert_non_null (out);
    size_t used = 0;
    for (size_t i = 0; order [i] >= 0; i++) {
        size_t n = strlen (lines [order [i]]);
        memcpy (out + used, lines [order [i]], n);
        out [used + n] = '\n';
        used += n + 1;
    }
    return out;
}

/*  Expects the verifier to refuse text with rc at bad_position, reason mentioning it. */
static void
s_expect_bad (fixture_t *f, const char *text, int rc, size_t position)
{
    size_t entries = 99, bad = 99;
    char reason [CW_LEDGER_REASON_MAX];
    assert_int_equal (cw_ledger_verify_jsonl (text, strlen (text), f->pk, &entries, &bad,
                                              reason, sizeof reason), rc);
    assert_int_equal (bad, position);
    assert_int_equal (entries, position);
    char named [32];
    snprintf (named, sizeof named, "position %zu", position);
    if (!strstr (reason, named))
        fail_msg ("reason does not name %s: %s", named, reason);
}

/* ---- negative first ------------------------------------------------------------------- */

static void
test_flipped_body_byte_caught (void **state)
{
    fixture_t *f = *state;
    char lines [MAX_LINES][8192];
    assert_int_equal (s_lines (f->text, lines), 5);
    char *state_at = strstr (lines [2], "\\\"state\\\":\\\"granted");
    assert_non_null (state_at);
    state_at [strlen ("\\\"state\\\":\\\"")] = 'G';     /* one byte of the body */
    char *t = s_join (lines, (int []) { 0, 1, 2, 3, 4, -1 });
    s_expect_bad (f, t, CW_EAUTH, 2);
    free (t);
    /* a byte in a number (the timestamp) of the first entry */
    assert_int_equal (s_lines (f->text, lines), 5);
    char *ms = strstr (lines [0], "timestamp_ms\\\":");
    assert_non_null (ms);
    ms += strlen ("timestamp_ms\\\":");
    *ms = *ms == '1' ? '2' : '1';
    t = s_join (lines, (int []) { 0, 1, 2, 3, 4, -1 });
    s_expect_bad (f, t, CW_EAUTH, 0);
    free (t);
}

static void
test_changed_hash_caught (void **state)
{
    fixture_t *f = *state;
    char lines [MAX_LINES][8192];
    s_lines (f->text, lines);
    char *h = strstr (lines [3], "\"hash\":\"");
    assert_non_null (h);
    h += strlen ("\"hash\":\"");
    *h = *h == '0' ? '1' : '0';
    char *t = s_join (lines, (int []) { 0, 1, 2, 3, 4, -1 });
    s_expect_bad (f, t, CW_EAUTH, 3);
    free (t);
    /* and a changed signature */
    s_lines (f->text, lines);
    char *sig = strstr (lines [4], "\"signature\":\"");
    sig += strlen ("\"signature\":\"") + 10;
    *sig = *sig == 'a' ? 'b' : 'a';
    t = s_join (lines, (int []) { 0, 1, 2, 3, 4, -1 });
    s_expect_bad (f, t, CW_EAUTH, 4);
    free (t);
}

static void
test_removed_entry_caught (void **state)
{
    fixture_t *f = *state;
    char lines [MAX_LINES][8192];
    s_lines (f->text, lines);
    char *t = s_join (lines, (int []) { 0, 1, 3, 4, -1 });
    s_expect_bad (f, t, CW_EAUTH, 2);
    free (t);
    t = s_join (lines, (int []) { 1, 2, 3, 4, -1 });
    s_expect_bad (f, t, CW_EAUTH, 0);
    free (t);
    /* removed and renumbered: the chain still breaks there */
    char *pos = strstr (lines [3], "\"position\":3");
    assert_non_null (pos);
    pos [strlen ("\"position\":")] = '2';
    t = s_join (lines, (int []) { 0, 1, 3, -1 });
    s_expect_bad (f, t, CW_EAUTH, 2);
    free (t);
}

static void
test_swapped_entries_caught (void **state)
{
    fixture_t *f = *state;
    char lines [MAX_LINES][8192];
    s_lines (f->text, lines);
    char *t = s_join (lines, (int []) { 0, 2, 1, 3, 4, -1 });
    s_expect_bad (f, t, CW_EAUTH, 1);
    free (t);
    t = s_join (lines, (int []) { 0, 1, 2, 4, 3, -1 });
    s_expect_bad (f, t, CW_EAUTH, 3);
    free (t);
}

static void
test_wrong_key_caught (void **state)
{
    fixture_t *f = *state;
    uint8_t other [crypto_sign_PUBLICKEYBYTES], other_sk [crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair (other, other_sk);
    size_t entries = 9, bad = 9;
    char reason [CW_LEDGER_REASON_MAX];
    assert_int_equal (cw_ledger_verify_jsonl (f->text, f->len, other, &entries, &bad, reason,
                                              sizeof reason), CW_EAUTH);
    assert_int_equal (bad, 0);
    assert_non_null (strstr (reason, "position 0"));
    /* a line re-labelled with another public key still fails its signature */
    char lines [MAX_LINES][8192];
    s_lines (f->text, lines);
    char hex [2 * crypto_sign_PUBLICKEYBYTES + 1];
    sodium_bin2hex (hex, sizeof hex, other, sizeof other);
    char *k = strstr (lines [0], "\"public_key\":\"");
    memcpy (k + strlen ("\"public_key\":\""), hex, strlen (hex));
    char *t = s_join (lines, (int []) { 0, 1, -1 });
    assert_int_equal (cw_ledger_verify_jsonl (t, strlen (t), other, &entries, &bad, reason,
                                              sizeof reason), CW_EAUTH);
    assert_int_equal (bad, 0);
    assert_non_null (strstr (reason, "signature"));
    /* without a given key: consistent keys are required */
    assert_int_equal (cw_ledger_verify_jsonl (t, strlen (t), NULL, &entries, &bad, reason,
                                              sizeof reason), CW_EAUTH);
    assert_int_equal (bad, 0);
    free (t);
}

static void
test_truncated_and_malformed_lines (void **state)
{
    fixture_t *f = *state;
    char lines [MAX_LINES][8192];
    s_lines (f->text, lines);
    size_t full = strlen (lines [4]);
    for (size_t cut = 0; cut < full; cut += 7) {
        char saved = lines [4][cut];
        lines [4][cut] = 0;
        char *t = s_join (lines, (int []) { 0, 1, 2, 3, 4, -1 });
        size_t entries = 9, bad = 9;
        char reason [CW_LEDGER_REASON_MAX];
        int rc = cw_ledger_verify_jsonl (t, strlen (t), f->pk, &entries, &bad, reason,
                                         sizeof reason);
        assert_int_equal (rc, CW_EDECODE);
        assert_int_equal (bad, 4);
        assert_int_equal (entries, 4);
        assert_non_null (strstr (reason, "position 4"));
        assert_non_null (strstr (reason, "malformed"));
        /* the same cut without a final newline (a file cut short) */
        assert_int_equal (cw_ledger_verify_jsonl (t, strlen (t) - 1, f->pk, &entries, &bad,
                                                  reason, sizeof reason),
                          cut == 0 ? CW_OK : CW_EDECODE);
        free (t);
        lines [4][cut] = saved;
    }
    const char *bad_texts [] = {
        "not json\n", "{}\n", "[]\n", "{\"position\":0}\n", "\n",
        "{\"position\":-1,\"body\":\"\",\"prev_hash\":\"\",\"hash\":\"\",\"signature\":\"\","
        "\"public_key\":\"\"}\n",
        "{\"position\":00}",
        "{\"position\":0,\"position\":0}",
        "{\"position\":0,\"body\":\"\\ud800\"}",
    };
    for (size_t i = 0; i < sizeof bad_texts / sizeof bad_texts [0]; i++) {
        size_t entries = 9, bad = 9;
        assert_int_equal (cw_ledger_verify_jsonl (bad_texts [i], strlen (bad_texts [i]), f->pk,
                                                  &entries, &bad, NULL, 0), CW_EDECODE);
        assert_int_equal (bad, 0);
    }
    /* an extra member after a valid line */
    char extra [8300];
    snprintf (extra, sizeof extra, "%.*s,\"x\":1}\n", (int) (strlen (lines [0]) - 1), lines [0]);
    assert_int_equal (cw_ledger_verify_jsonl (extra, strlen (extra), f->pk, NULL, NULL, NULL, 0),
                      CW_EDECODE);
    assert_int_equal (cw_ledger_verify_jsonl (NULL, 5, f->pk, NULL, NULL, NULL, 0), CW_EINVAL);
}

static void
test_append_needs_a_transaction_and_valid_receipt (void **state)
{
    fixture_t *f = *state;
    const char *fields [] = { "heart_rate.bpm" };
    const char *unknown [] = { "heart_rate" };
    cw_receipt_t r = { .kind = CW_LEDGER_GRANT, .ts_ms = NOW, .fields = fields, .n_fields = 1 };
    assert_int_equal (cw_ledger_append (f->ledger, f->ana, &r, NULL), CW_ESTATE);
    assert_int_equal (cw_store_begin (f->store), CW_OK);
    r.fields = unknown;
    assert_int_equal (cw_ledger_append (f->ledger, f->ana, &r, NULL), CW_EINVAL);
    r.fields = fields;
    r.kind = (cw_ledger_kind_t) 99;
    assert_int_equal (cw_ledger_append (f->ledger, f->ana, &r, NULL), CW_EINVAL);
    r.kind = CW_LEDGER_GRANT;
    r.n_purposes = 1;               /* purposes NULL */
    assert_int_equal (cw_ledger_append (f->ledger, f->ana, &r, NULL), CW_EINVAL);
    cw_store_rollback (f->store);
    uint64_t n = 0;
    assert_int_equal (cw_ledger_count (f->ledger, f->ana, &n), CW_OK);
    assert_int_equal (n, 5);
    char *line = NULL;
    size_t len = 0;
    assert_int_equal (cw_ledger_line (f->ledger, f->ana, 5, &line, &len), CW_ENOENT);
    assert_null (line);
}

/* ---- the good path -------------------------------------------------------------------- */

static void
test_export_verifies_and_people_are_independent (void **state)
{
    fixture_t *f = *state;
    size_t entries = 0, bad = 0;
    char reason [CW_LEDGER_REASON_MAX];
    assert_int_equal (cw_ledger_verify_jsonl (f->text, f->len, f->pk, &entries, &bad, reason,
                                              sizeof reason), CW_OK);
    assert_int_equal (entries, 5);
    assert_string_equal (reason, "");
    /* the verifier also takes a missing final newline, and \r\n */
    assert_int_equal (cw_ledger_verify_jsonl (f->text, f->len - 1, f->pk, &entries, NULL, NULL,
                                              0), CW_OK);
    assert_int_equal (entries, 5);
    assert_int_equal (cw_ledger_verify_jsonl (f->text, f->len, NULL, &entries, NULL, NULL, 0),
                      CW_OK);
    char *crlf = malloc (2 * f->len + 1);
    size_t crlf_len = 0;
    for (size_t i = 0; i < f->len; i++) {
        if (f->text [i] == '\n')
            crlf [crlf_len++] = '\r';
        crlf [crlf_len++] = f->text [i];
    }
    assert_int_equal (cw_ledger_verify_jsonl (crlf, crlf_len, f->pk, &entries, NULL, NULL, 0),
                      CW_OK);
    assert_int_equal (entries, 5);
    free (crlf);
    assert_int_equal (cw_ledger_verify_jsonl ("", 0, f->pk, &entries, NULL, NULL, 0), CW_OK);
    assert_int_equal (entries, 0);

    char *ben = NULL;
    size_t ben_len = 0;
    assert_int_equal (cw_ledger_export (f->ledger, f->ben, &ben, &ben_len), CW_OK);
    assert_int_equal (cw_ledger_verify_jsonl (ben, ben_len, f->pk, &entries, NULL, NULL, 0),
                      CW_OK);
    assert_int_equal (entries, 2);
    assert_non_null (strstr (ben, "running.power"));
    assert_null (strstr (ben, "heart_rate.bpm"));
    /* ben's lines appended to ana's: positions restart, caught where they join */
    size_t both_len = f->len + ben_len;
    char *both = malloc (both_len + 1);
    memcpy (both, f->text, f->len);
    memcpy (both + f->len, ben, ben_len + 1);
    assert_int_equal (cw_ledger_verify_jsonl (both, both_len, f->pk, &entries, &bad, NULL, 0),
                      CW_EAUTH);
    assert_int_equal (bad, 5);
    free (both);
    free (ben);

    /* an unknown person has an empty ledger */
    uint8_t nobody [CW_ID_BYTES] = { 0 };
    char *none = NULL;
    size_t none_len = 9;
    assert_int_equal (cw_ledger_export (f->ledger, nobody, &none, &none_len), CW_OK);
    assert_int_equal (none_len, 0);
    assert_string_equal (none, "");
    free (none);

    /* one line equals the same line of the export */
    char *line = NULL;
    size_t len = 0;
    assert_int_equal (cw_ledger_line (f->ledger, f->ana, 1, &line, &len), CW_OK);
    assert_non_null (strstr (f->text, line));
    assert_non_null (strstr (line, "\\\"state\\\":\\\"withdrawn\\\""));
    assert_non_null (strstr (line, "\\\"legal_basis\\\":\\\"consent\\\""));
    assert_non_null (strstr (line, "\\\"name\\\":\\\"Coachwire\\\""));
    assert_non_null (strstr (line, "2024-05-01T08:00:00.002Z"));
    free (line);
    assert_non_null (strstr (f->text, "\\\"state\\\":\\\"erased\\\""));
    assert_non_null (strstr (f->text, "\\\"state\\\":\\\"exported\\\""));
    assert_memory_equal (cw_ledger_public_key (f->ledger), f->pk, 32);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_flipped_body_byte_caught, setup, teardown),
        cmocka_unit_test_setup_teardown (test_changed_hash_caught, setup, teardown),
        cmocka_unit_test_setup_teardown (test_removed_entry_caught, setup, teardown),
        cmocka_unit_test_setup_teardown (test_swapped_entries_caught, setup, teardown),
        cmocka_unit_test_setup_teardown (test_wrong_key_caught, setup, teardown),
        cmocka_unit_test_setup_teardown (test_truncated_and_malformed_lines, setup, teardown),
        cmocka_unit_test_setup_teardown (test_append_needs_a_transaction_and_valid_receipt,
                                         setup, teardown),
        cmocka_unit_test_setup_teardown (test_export_verifies_and_people_are_independent,
                                         setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
