/*  test_committer.c - group commits on their own thread: a group comes back committed with
 *  each frame's duplicate flag final (within a group, across groups, after a week), with the
 *  counters and last-seen that rode along and the commit count in the database and in its
 *  file; a group that cannot commit comes back with an error and leaves nothing behind. */
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
#include <zmq.h>

#include "coachwire/cw_committer.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_store.h"
#include "test_dir.h"

#define NOW 1714550400000ull    /* 2024-05-01T08:00:00Z */

typedef struct {
    char dir [64];
    char path [96];
    char seq_path [96];
    void *ctx;
    cw_store_t *store;          /* the test's own connection, to look */
    cw_committer_t *committer;
    cw_commit_group_t *group;
    uint8_t device [CW_ID_BYTES];
    uint8_t person [CW_ID_BYTES];
} fixture_t;

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    if (!f)
        return -1;
    if (test_dir_make (f->dir, sizeof f->dir, f->path, sizeof f->path, "committer") != 0)
        return -1;
    snprintf (f->seq_path, sizeof f->seq_path, "%s/commit_seq", f->dir);
    randombytes_buf (f->device, sizeof f->device);
    randombytes_buf (f->person, sizeof f->person);
    f->ctx = zmq_ctx_new ();
    uint8_t wrapped [CW_WRAPPED_KEY_BYTES] = { 1 };  /* frames are kept while it exists */
    if (!f->ctx || cw_store_open (&f->store, f->path, true) != CW_OK
        || cw_store_person_key_put (f->store, f->person, wrapped) != CW_OK
        || cw_committer_new (&f->committer, f->ctx, f->path, f->seq_path) != CW_OK
        || cw_commit_group_new (&f->group, 8, 4) != CW_OK)
        return -1;
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    cw_committer_destroy (&f->committer);
    cw_committer_destroy (&f->committer);
    cw_commit_group_destroy (&f->group);
    cw_commit_group_destroy (&f->group);
    cw_store_destroy (&f->store);
    zmq_ctx_term (f->ctx);
    test_dir_remove (f->dir);
    free (f);
    return 0;
}

static void
s_add (fixture_t *f, uint64_t sequence, const char *payload)
{
    cw_commit_group_t *g = f->group;
    assert_true (g->frame_count < g->frame_max);
    cw_commit_frame_t *fr = &g->frames [g->frame_count++];
    memset (fr, 0, sizeof *fr);
    fr->routing_id [0] = 7;
    fr->routing_id_len = 1;
    memcpy (fr->device_id, f->device, CW_ID_BYTES);
    memcpy (fr->user_id, f->person, CW_ID_BYTES);
    fr->stream = 1;
    fr->sequence = sequence;
    if (payload) {
        fr->sealed_len = strlen (payload);
        fr->sealed = malloc (fr->sealed_len);
        assert_non_null (fr->sealed);
        memcpy (fr->sealed, payload, fr->sealed_len);
    }
}

/*  Submits the group and waits for it back. */
static cw_commit_group_t *
s_round (fixture_t *f)
{
    f->group->now_ms = NOW;
    assert_int_equal (cw_committer_submit (f->committer, f->group), CW_OK);
    /* one group at a time */
    assert_int_equal (cw_committer_submit (f->committer, f->group), CW_EBUSY);
    zmq_pollitem_t item = { cw_committer_pipe (f->committer), 0, ZMQ_POLLIN, 0 };
    assert_int_equal (zmq_poll (&item, 1, 10000), 1);
    cw_commit_group_t *g = cw_committer_take (f->committer);
    assert_ptr_equal (g, f->group);
    return g;
}

typedef struct {
    uint64_t accepted, duplicates, commits, rejected;
} counts_t;

static void
s_count (void *ctx, const char *name, uint64_t value)
{
    counts_t *c = ctx;
    if (strcmp (name, "frames_accepted") == 0)
        c->accepted = value;
    else if (strcmp (name, "frames_duplicate") == 0)
        c->duplicates = value;
    else if (strcmp (name, "commits") == 0)
        c->commits = value;
    else if (strcmp (name, "rejected.CW_EFRAME") == 0)
        c->rejected = value;
}

static int
s_frame_counter (void *ctx, const cw_stored_frame_t *fr)
{
    (void) fr;
    (*(int *) ctx)++;
    return 0;
}

static int
s_stored (fixture_t *f)
{
    int n = 0;
    assert_int_equal (cw_store_frame_each (f->store, NULL, 0, 0, s_frame_counter, &n), CW_OK);
    return n;
}

static void
test_bad_calls_refused (void **state)
{
    fixture_t *f = *state;
    cw_committer_t *c = NULL;
    cw_commit_group_t *g = NULL;
    assert_int_equal (cw_committer_new (NULL, f->ctx, f->path, NULL), CW_EINVAL);
    assert_int_equal (cw_committer_new (&c, NULL, f->path, NULL), CW_EINVAL);
    assert_int_equal (cw_committer_new (&c, f->ctx, NULL, NULL), CW_EINVAL);
    assert_int_not_equal (cw_committer_new (&c, f->ctx, "/nonexistent/dir/cw.db", NULL), CW_OK);
    assert_null (c);
    assert_int_equal (cw_commit_group_new (&g, 0, 0), CW_EINVAL);
    assert_int_equal (cw_committer_submit (f->committer, NULL), CW_EINVAL);
    assert_null (cw_committer_take (f->committer));     /* nothing out: no wait */
    char long_name [CW_COMMIT_NAME_MAX + 1];
    memset (long_name, 'x', sizeof long_name - 1);
    long_name [sizeof long_name - 1] = '\0';
    assert_int_equal (cw_commit_group_count (f->group, long_name, 1), CW_EINVAL);
    for (int i = 0; i < CW_COMMIT_COUNTERS_MAX; i++)
        assert_int_equal (cw_commit_group_count (f->group, "rejected.CW_EFRAME", 1), CW_OK);
    assert_int_equal (cw_commit_group_count (f->group, "rejected.CW_EFRAME", 1), CW_ENOSPC);
    assert_int_equal (cw_commit_group_count (f->group, "zero", 0), CW_OK);   /* nothing */
    assert_int_equal (f->group->counter_count, CW_COMMIT_COUNTERS_MAX);
}

static void
test_duplicates_found_within_and_across_groups (void **state)
{
    fixture_t *f = *state;
    s_add (f, 1, "one");
    s_add (f, 2, "two");
    s_add (f, 2, "two again");      /* a resend inside the same group */
    s_add (f, 3, NULL);             /* nothing granted: remembered for dedup only */
    cw_commit_group_t *g = s_round (f);
    assert_int_equal (g->rc, CW_OK);
    assert_int_equal (g->accepted, 3);
    assert_int_equal (g->duplicates, 1);
    assert_false (g->frames [1].duplicate);
    assert_true (g->frames [2].duplicate);
    cw_commit_group_reset (g);
    assert_int_equal (g->frame_count, 0);
    /* the committer's own counters wait for a group that carries the gateway's */
    counts_t c = { 0 };
    assert_int_equal (cw_store_counter_each (f->store, s_count, &c), CW_OK);
    assert_int_equal (c.accepted, 0);
    /* the next group: a resend of each, and something new; the counters ride along */
    s_add (f, 1, "one");
    s_add (f, 3, NULL);
    s_add (f, 4, "four");
    f->group->flush = true;
    g = s_round (f);
    assert_int_equal (g->rc, CW_OK);
    assert_true (g->frames [0].duplicate);
    assert_true (g->frames [1].duplicate);
    assert_false (g->frames [2].duplicate);
    cw_commit_group_reset (g);
    assert_int_equal (s_stored (f), 3);                 /* 1, 2, 4: stored once each */
    assert_int_equal (cw_store_counter_each (f->store, s_count, &c), CW_OK);
    assert_int_equal (c.accepted, 4);
    assert_int_equal (c.duplicates, 3);
    assert_int_equal (c.commits, 2);
    /* the commit count, in the database and in its file */
    char text [24];
    assert_int_equal (cw_store_meta_get (f->store, "commit_seq", text, sizeof text), CW_OK);
    assert_string_equal (text, "2");
    FILE *fp = fopen (f->seq_path, "r");
    assert_non_null (fp);
    unsigned long long n = 0;
    assert_int_equal (fscanf (fp, "%llu", &n), 1);
    fclose (fp);
    assert_int_equal (n, 2);
}

static void
test_counters_and_last_seen_ride_along (void **state)
{
    fixture_t *f = *state;
    cw_commit_group_t *g = f->group;
    assert_int_equal (cw_commit_group_count (g, "rejected.CW_EFRAME", 5), CW_OK);
    memcpy (g->seen [0].device_id, f->device, CW_ID_BYTES);
    g->seen [0].frames = 2;
    g->seen_count = 1;
    g->flush = true;
    g = s_round (f);    /* no frames: counters only, no commit counted */
    assert_int_equal (g->rc, CW_OK);
    cw_commit_group_reset (g);
    counts_t c = { 0 };
    assert_int_equal (cw_store_counter_each (f->store, s_count, &c), CW_OK);
    assert_int_equal (c.rejected, 5);
    assert_int_equal (c.commits, 0);
}

static void
test_failed_commit_leaves_nothing (void **state)
{
    fixture_t *f = *state;
    /* a sequence past INT64_MAX cannot be stored: the whole group must come back refused,
     * the frame before it included */
    s_add (f, 10, "ten");
    s_add (f, (uint64_t) INT64_MAX + 1u, "bad");
    assert_int_equal (cw_commit_group_count (f->group, "rejected.CW_EFRAME", 9), CW_OK);
    f->group->flush = true;
    cw_commit_group_t *g = s_round (f);
    assert_int_not_equal (g->rc, CW_OK);
    assert_int_equal (g->accepted, 0);
    cw_commit_group_reset (g);
    assert_int_equal (s_stored (f), 0);
    counts_t c = { 0 };
    assert_int_equal (cw_store_counter_each (f->store, s_count, &c), CW_OK);
    assert_int_equal (c.rejected, 0);
    assert_int_equal (c.commits, 0);
    /* and the committer carries on: the good frame alone commits */
    s_add (f, 10, "ten");
    g = s_round (f);
    assert_int_equal (g->rc, CW_OK);
    assert_false (g->frames [0].duplicate);
    cw_commit_group_reset (g);
    assert_int_equal (s_stored (f), 1);
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_bad_calls_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_failed_commit_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown (test_duplicates_found_within_and_across_groups, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_counters_and_last_seen_ride_along, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
