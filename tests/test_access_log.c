/*  test_access_log.c - every read of personal data is logged per use and per field, and the
 *  person lists theirs since a time, with a limit. */
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

#include "coachwire/cw_access_log.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_store.h"
#include "test_dir.h"

#define NOW 1714550400000ull

typedef struct {
    char dir [64];
    char path [96];
    cw_store_t *store;
    cw_access_log_t *log;
    uint8_t ana [CW_ID_BYTES];
    uint8_t ben [CW_ID_BYTES];
    uint8_t coach [CW_ID_BYTES];
} fixture_t;

typedef struct {
    size_t n;
    uint64_t ts [16];
    char fields [16][128];
    char grants [16][128];
    char what [16][16];
    cw_access_actor_t actor [16];
    uint8_t actor_id [16][CW_ID_BYTES];
} seen_t;

static int
s_collect (void *ctx, const cw_access_record_t *rec)
{
    seen_t *s = ctx;
    if (s->n >= 16)
        return -1;
    s->ts [s->n] = rec->ts_ms;
    snprintf (s->fields [s->n], sizeof s->fields [0], "%s", rec->fields);
    snprintf (s->grants [s->n], sizeof s->grants [0], "%s", rec->grant_ids);
    snprintf (s->what [s->n], sizeof s->what [0], "%s", rec->what_name);
    s->actor [s->n] = rec->actor;
    memcpy (s->actor_id [s->n], rec->actor_id, CW_ID_BYTES);
    s->n++;
    return 0;
}

static int
setup (void **state)
{
    if (sodium_init () < 0)
        return -1;
    fixture_t *f = calloc (1, sizeof *f);
    if (!f)
        return -1;
    if (test_dir_make (f->dir, sizeof f->dir, f->path, sizeof f->path, "access") != 0)
        return -1;
    randombytes_buf (f->ana, sizeof f->ana);
    randombytes_buf (f->ben, sizeof f->ben);
    randombytes_buf (f->coach, sizeof f->coach);
    if (cw_store_open (&f->store, f->path, true) != CW_OK
        || cw_access_log_open (&f->log, f->store) != CW_OK)
        return -1;
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    cw_access_log_destroy (&f->log);
    cw_access_log_destroy (&f->log);
    cw_store_destroy (&f->store);
    test_dir_remove (f->dir);
    free (f);
    return 0;
}

static int64_t
s_rows (fixture_t *f)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal (sqlite3_prepare_v2 (cw_store_sqlite (f->store),
                                          "SELECT COUNT (*) FROM access_log", -1, &st, NULL),
                      SQLITE_OK);
    assert_int_equal (sqlite3_step (st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64 (st, 0);
    sqlite3_finalize (st);
    return n;
}

static void
test_bad_appends_write_nothing (void **state)
{
    fixture_t *f = *state;
    const char *good [] = { "heart_rate.bpm" };
    const char *bad [] = { "heart_rate.bpm", "heart_rate" };
    cw_access_t a = { .user_id = f->ana, .ts_ms = NOW, .actor = CW_ACCESS_ENGINE,
                      .purpose = "coaching", .fields = good, .n_fields = 1,
                      .what = CW_ACCESS_DECISION };
    cw_access_t t = a;
    t.fields = bad;
    t.n_fields = 2;
    assert_int_equal (cw_access_log_append (f->log, &t), CW_EINVAL);
    t = a;
    t.purpose = "marketing";
    assert_int_equal (cw_access_log_append (f->log, &t), CW_EINVAL);
    t.purpose = "any";
    assert_int_equal (cw_access_log_append (f->log, &t), CW_EINVAL);
    t = a;
    t.actor = (cw_access_actor_t) 9;
    assert_int_equal (cw_access_log_append (f->log, &t), CW_EINVAL);
    t = a;
    t.what = (cw_access_what_t) 0;
    assert_int_equal (cw_access_log_append (f->log, &t), CW_EINVAL);
    t = a;
    t.user_id = NULL;
    assert_int_equal (cw_access_log_append (f->log, &t), CW_EINVAL);
    t = a;
    t.n_grant_ids = 1;              /* grant_ids NULL */
    assert_int_equal (cw_access_log_append (f->log, &t), CW_EINVAL);
    t = a;
    t.n_fields = CW_ACCESS_MAX_FIELDS + 1;
    assert_int_equal (cw_access_log_append (f->log, &t), CW_EINVAL);
    char *long_detail = malloc (CW_ACCESS_DETAIL_MAX + 2);
    memset (long_detail, 'x', CW_ACCESS_DETAIL_MAX + 1);
    long_detail [CW_ACCESS_DETAIL_MAX + 1] = 0;
    t = a;
    t.detail = long_detail;
    assert_int_equal (cw_access_log_append (f->log, &t), CW_EINVAL);
    free (long_detail);
    assert_int_equal (cw_access_log_append (f->log, NULL), CW_EINVAL);
    assert_int_equal (s_rows (f), 0);
    seen_t seen = { 0 };
    assert_int_equal (cw_access_log_list (f->log, f->ana, 0, 0, s_collect, &seen), CW_OK);
    assert_int_equal (seen.n, 0);
    assert_null (cw_access_actor_name ((cw_access_actor_t) 0));
    assert_null (cw_access_what_name ((cw_access_what_t) 4));
}

static void
test_append_list_since_limit (void **state)
{
    fixture_t *f = *state;
    const char *fields [] = { "heart_rate.bpm", "running.cadence" };
    uint8_t grants [2 * CW_ID_BYTES];
    memset (grants, 0xab, CW_ID_BYTES);
    memset (grants + CW_ID_BYTES, 0x01, CW_ID_BYTES);
    for (uint64_t i = 0; i < 5; i++) {
        cw_access_t a = { .user_id = f->ana, .ts_ms = NOW + i * 1000,
                          .actor = i == 3 ? CW_ACCESS_COACH : CW_ACCESS_ENGINE,
                          .actor_id = i == 3 ? f->coach : NULL,
                          .purpose = i == 3 ? "coach_review" : "coaching", .fields = fields,
                          .n_fields = 2, .grant_ids = grants, .n_grant_ids = 2,
                          .what = i == 3 ? CW_ACCESS_COACH_VIEW : CW_ACCESS_DECISION,
                          .detail = "nudge: easy day" };
        assert_int_equal (cw_access_log_append (f->log, &a), CW_OK);
    }
    cw_access_t other = { .user_id = f->ben, .ts_ms = NOW, .actor = CW_ACCESS_PERSON,
                          .actor_id = f->ben, .what = CW_ACCESS_EXPORT };
    assert_int_equal (cw_access_log_append (f->log, &other), CW_OK);

    seen_t seen = { 0 };
    assert_int_equal (cw_access_log_list (f->log, f->ana, 0, 0, s_collect, &seen), CW_OK);
    assert_int_equal (seen.n, 5);
    assert_string_equal (seen.fields [0], "heart_rate.bpm,running.cadence");
    assert_string_equal (seen.grants [0], "abababababababababababababababab,"
                                          "01010101010101010101010101010101");
    assert_string_equal (seen.what [3], "coach_view");
    assert_int_equal (seen.actor [3], CW_ACCESS_COACH);
    assert_memory_equal (seen.actor_id [3], f->coach, CW_ID_BYTES);
    assert_int_equal (seen.actor [0], CW_ACCESS_ENGINE);

    memset (&seen, 0, sizeof seen);
    assert_int_equal (cw_access_log_list (f->log, f->ana, NOW + 2000, 0, s_collect, &seen),
                      CW_OK);
    assert_int_equal (seen.n, 3);
    assert_int_equal (seen.ts [0], NOW + 2000);

    memset (&seen, 0, sizeof seen);
    assert_int_equal (cw_access_log_list (f->log, f->ana, NOW + 1000, 2, s_collect, &seen),
                      CW_OK);
    assert_int_equal (seen.n, 2);
    assert_int_equal (seen.ts [1], NOW + 2000);

    memset (&seen, 0, sizeof seen);
    assert_int_equal (cw_access_log_list (f->log, f->ben, 0, 0, s_collect, &seen), CW_OK);
    assert_int_equal (seen.n, 1);
    assert_string_equal (seen.what [0], "export");
    assert_string_equal (seen.fields [0], "");

    uint64_t deleted = 0;
    assert_int_equal (cw_access_log_erase (f->log, f->ana, &deleted), CW_OK);
    assert_int_equal (deleted, 5);
    assert_int_equal (s_rows (f), 1);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_bad_appends_write_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown (test_append_list_since_limit, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
