/*  test_cred.c - credential files: malformed, mismatched and unsafe files are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coachwire/cw_cred.h"
#include "coachwire/cw_error.h"

static char s_dir [] = "/tmp/cw_test_cred_XXXXXX";

static cw_cred_t *
s_make (void)
{
    uint8_t pk [32], sk [32], srv [32], srv_sk [32], id [16];
    crypto_box_keypair (pk, sk);
    crypto_box_keypair (srv, srv_sk);
    randombytes_buf (id, sizeof id);
    cw_cred_t *c = NULL;
    assert_int_equal (cw_cred_new (&c, CW_CRED_DEVICE, id, "ana", pk, sk, srv,
                                   "tcp://127.0.0.1:7470", "tcp://127.0.0.1:7471"), CW_OK);
    return c;
}

static void
test_parse_refuses_malformed (void **state)
{
    (void) state;
    const char *bad [] = {
        "kind = device\n",                                   /* missing keys */
        "kind = robot\n",                                    /* unknown kind */
        "colour = blue\n",                                   /* unknown key */
        "no equals sign here\n",
        "id = 1234\n",                                       /* short id */
        "public_key = not-z85-at-all\n",
        "kind = device\nkind = device\n",                    /* repeated */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        cw_cred_t *c = (cw_cred_t *) 1;
        char err [128] = "";
        assert_int_equal (cw_cred_parse (bad [i], strlen (bad [i]), &c, err, sizeof err),
                          CW_ECRED);
        assert_null (c);
        assert_true (strncmp (err, "line ", 5) == 0);
    }
    char nul [] = "kind = device\0\n";
    cw_cred_t *c = NULL;
    assert_int_equal (cw_cred_parse (nul, sizeof nul - 1, &c, NULL, 0), CW_ECRED);
}

static void
test_mismatched_public_key_refused (void **state)
{
    (void) state;
    cw_cred_t *a = s_make ();
    cw_cred_t *b = s_make ();
    char path_a [256], text [2048];
    snprintf (path_a, sizeof path_a, "%s/a.cred", s_dir);
    assert_int_equal (cw_cred_save (a, path_a), CW_OK);
    FILE *f = fopen (path_a, "r");
    size_t n = fread (text, 1, sizeof text - 1, f);
    fclose (f);
    text [n] = 0;
    /* Put b's public key in a's file. */
    char pk_b [41], pk_a [41];
    cw_key_to_z85 (pk_b, cw_cred_public_key (b));
    cw_key_to_z85 (pk_a, cw_cred_public_key (a));
    char *at = strstr (text, pk_a);
    assert_non_null (at);
    memcpy (at, pk_b, 40);
    cw_cred_t *c = NULL;
    char err [128];
    assert_int_equal (cw_cred_parse (text, n, &c, err, sizeof err), CW_ECRED);
    assert_non_null (strstr (err, "does not match"));
    cw_cred_destroy (&a);
    cw_cred_destroy (&b);
    unlink (path_a);
}

static void
test_world_readable_refused_and_no_overwrite (void **state)
{
    (void) state;
    cw_cred_t *a = s_make ();
    char path [256];
    snprintf (path, sizeof path, "%s/b.cred", s_dir);
    assert_int_equal (cw_cred_save (a, path), CW_OK);
    assert_int_equal (cw_cred_save (a, path), CW_EEXIST);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    chmod (path, 0644);
    cw_cred_t *c = NULL;
    char err [128];
    assert_int_equal (cw_cred_load (path, &c, err, sizeof err), CW_ECRED);
    assert_null (c);
    assert_non_null (strstr (err, "chmod 600"));
    chmod (path, 0600);
    assert_int_equal (cw_cred_load (path, &c, err, sizeof err), CW_OK);
    cw_cred_destroy (&c);
    cw_cred_destroy (&c);   /* safe twice */
    cw_cred_destroy (&a);
    unlink (path);
    assert_int_equal (cw_cred_load (path, &c, NULL, 0), CW_ENOENT);
}

static void
test_roundtrip (void **state)
{
    (void) state;
    cw_cred_t *a = s_make ();
    char path [256];
    snprintf (path, sizeof path, "%s/c.cred", s_dir);
    assert_int_equal (cw_cred_save (a, path), CW_OK);
    cw_cred_t *b = NULL;
    assert_int_equal (cw_cred_load (path, &b, NULL, 0), CW_OK);
    assert_int_equal (cw_cred_kind (b), CW_CRED_DEVICE);
    assert_string_equal (cw_cred_id_hex (a), cw_cred_id_hex (b));
    assert_string_equal (cw_cred_name (b), "ana");
    assert_memory_equal (cw_cred_public_key (a), cw_cred_public_key (b), 32);
    assert_memory_equal (cw_cred_secret_key (a), cw_cred_secret_key (b), 32);
    assert_memory_equal (cw_cred_server_key (a), cw_cred_server_key (b), 32);
    assert_string_equal (cw_cred_endpoint (b), "tcp://127.0.0.1:7470");
    assert_string_equal (cw_cred_api_endpoint (b), "tcp://127.0.0.1:7471");
    cw_cred_destroy (&a);
    cw_cred_destroy (&b);
    unlink (path);
}

int
main (void)
{
    if (sodium_init () < 0 || !mkdtemp (s_dir))
        return 1;
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_parse_refuses_malformed),
        cmocka_unit_test (test_mismatched_public_key_refused),
        cmocka_unit_test (test_world_readable_refused_and_no_overwrite),
        cmocka_unit_test (test_roundtrip),
    };
    int rc = cmocka_run_group_tests (tests, NULL, NULL);
    rmdir (s_dir);
    return rc;
}
