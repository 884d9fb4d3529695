/*  test_segments.c - payload segment files (cw_segments) and the store's use of them:
 *  a row never commits before its payload is on disk, a rolled-back group leaves nothing a
 *  later one trips on, deleted and replaced payloads are wiped only once the deletion commits,
 *  a missing segment is a clear error, and a schema 1 database (payloads in rows) still reads.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "coachwire/cw_error.h"
#include "coachwire/cw_segments.h"
#include "coachwire/cw_store.h"
#include "test_dir.h"

#include <fcntl.h>
#include <stdbool.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NOW 1700000000000ull

typedef struct {
    char dir [64];
    char seg_dir [96];
    char db [96];
} fixture_t;

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    if (!f)
        return -1;
    if (test_dir_make (f->dir, sizeof f->dir, f->db, sizeof f->db, "segments") != 0)
        return -1;
    snprintf (f->seg_dir, sizeof f->seg_dir, "%s/seg", f->dir);
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    test_dir_remove (f->dir);
    free (f);
    return 0;
}

static void
s_seg_path (const char *dir, uint32_t segment, char *path, size_t size)
{
    snprintf (path, size, "%s/%08x.seg", dir, segment);
}

/* ---- cw_segments ----------------------------------------------------------------------- */

static void
test_bad_calls_refused (void **state)
{
    fixture_t *f = *state;
    cw_segments_t *s = NULL;
    uint32_t seg = 0;
    uint64_t off = 0;
    uint8_t b [4];
    assert_int_equal (cw_segments_open (NULL, f->seg_dir), CW_EINVAL);
    assert_int_equal (cw_segments_open (&s, ""), CW_EINVAL);
    assert_int_not_equal (cw_segments_open (&s, "/nonexistent/dir/seg"), CW_OK);
    assert_null (s);
    assert_int_equal (cw_segments_open (&s, f->seg_dir), CW_OK);
    assert_int_equal (cw_segments_add (s, NULL, 4, &seg, &off), CW_EINVAL);
    assert_int_equal (cw_segments_add (s, b, CW_SEGMENT_PAYLOAD_MAX + 1, &seg, &off),
                      CW_EINVAL);
    assert_int_equal (cw_segments_add (s, b, 4, NULL, &off), CW_EINVAL);
    assert_int_equal (cw_segments_pending (s), 0);
    assert_int_equal (cw_segments_read (s, 1, UINT64_MAX - 2, 4, b), CW_EINVAL);
    assert_int_equal (cw_segments_flush (s), CW_OK);        /* nothing buffered */
    cw_segments_destroy (&s);
    cw_segments_destroy (&s);
    assert_null (s);
}

static void
test_missing_or_cut_segment_is_a_clear_error (void **state)
{
    fixture_t *f = *state;
    cw_segments_t *s = NULL;
    uint8_t b [64];
    assert_int_equal (cw_segments_open (&s, f->seg_dir), CW_OK);
    assert_int_equal (cw_segments_read (s, 7, 0, 16, b), CW_EIO);
    assert_non_null (strstr (cw_segments_error (s), "00000007.seg"));
    uint32_t seg = 0;
    uint64_t off = 0;
    assert_int_equal (cw_segments_add (s, (const uint8_t *) "0123456789", 10, &seg, &off),
                      CW_OK);
    assert_int_equal (cw_segments_flush (s), CW_OK);
    /* past the end of what was written: cut short */
    assert_int_equal (cw_segments_read (s, seg, off, 11, b), CW_EIO);
    assert_non_null (strstr (cw_segments_error (s), "read"));
    /* wiping what is not there is not an error: nothing left to wipe */
    assert_int_equal (cw_segments_wipe (s, 9, 0, 10), CW_OK);
    cw_segments_destroy (&s);
}

static void
test_unwritable_segment_refused_and_nothing_kept (void **state)
{
    fixture_t *f = *state;
    /* a directory where the first segment file should be: it cannot be opened for writing */
    assert_int_equal (mkdir (f->seg_dir, 0700), 0);
    char path [PATH_MAX];
    s_seg_path (f->seg_dir, 1, path, sizeof path);
    assert_int_equal (mkdir (path, 0700), 0);
    cw_segments_t *s = NULL;
    assert_int_equal (cw_segments_open (&s, f->seg_dir), CW_OK);
    uint32_t seg = 0;
    uint64_t off = 0;
    assert_int_equal (cw_segments_add (s, (const uint8_t *) "abc", 3, &seg, &off), CW_EIO);
    assert_non_null (strstr (cw_segments_error (s), "00000001.seg"));
    assert_int_equal (cw_segments_pending (s), 0);
    cw_segments_destroy (&s);
}

static void
test_payloads_round_trip_in_one_write (void **state)
{
    fixture_t *f = *state;
    cw_segments_t *s = NULL;
    assert_int_equal (cw_segments_open (&s, f->seg_dir), CW_OK);
    const char *p [] = { "first payload", "", "the third, longer than the others" };
    uint32_t seg [3];
    uint64_t off [3];
    for (int i = 0; i < 3; i++)
        assert_int_equal (cw_segments_add (s, (const uint8_t *) p [i], strlen (p [i]), &seg [i],
                                           &off [i]), CW_OK);
    assert_int_equal (seg [0], 1);
    assert_int_equal (seg [2], 1);
    assert_int_equal (off [0], 0);
    assert_int_equal (off [2], strlen (p [0]));
    assert_int_equal (cw_segments_pending (s), strlen (p [0]) + strlen (p [2]));
    assert_int_equal (cw_segments_flush (s), CW_OK);
    assert_int_equal (cw_segments_pending (s), 0);
    /* read back by another instance, as another store connection would */
    cw_segments_t *r = NULL;
    assert_int_equal (cw_segments_open (&r, f->seg_dir), CW_OK);
    for (int i = 0; i < 3; i++) {
        uint8_t b [64] = { 0 };
        assert_int_equal (cw_segments_read (r, seg [i], off [i], strlen (p [i]), b), CW_OK);
        assert_memory_equal (b, p [i], strlen (p [i]));
    }
    cw_segments_destroy (&r);
    cw_segments_destroy (&s);
}

static void
test_discarded_and_orphaned_bytes_are_skipped (void **state)
{
    fixture_t *f = *state;
    cw_segments_t *s = NULL;
    uint32_t seg = 0;
    uint64_t off = 0;
    assert_int_equal (cw_segments_open (&s, f->seg_dir), CW_OK);
    assert_int_equal (cw_segments_add (s, (const uint8_t *) "rolled back", 11, &seg, &off),
                      CW_OK);
    cw_segments_discard (s);
    assert_int_equal (cw_segments_add (s, (const uint8_t *) "kept", 4, &seg, &off), CW_OK);
    assert_int_equal (off, 0);      /* a discarded group never reached the file */
    assert_int_equal (cw_segments_flush (s), CW_OK);
    /* a group written but never committed (a crash between the two): the next one goes after
     * it, whoever writes it */
    assert_int_equal (cw_segments_add (s, (const uint8_t *) "orphan", 6, &seg, &off), CW_OK);
    assert_int_equal (cw_segments_flush (s), CW_OK);
    cw_segments_t *t = NULL;
    assert_int_equal (cw_segments_open (&t, f->seg_dir), CW_OK);
    assert_int_equal (cw_segments_add (t, (const uint8_t *) "next", 4, &seg, &off), CW_OK);
    assert_int_equal (seg, 1);
    assert_int_equal (off, 10);
    assert_int_equal (cw_segments_flush (t), CW_OK);
    uint8_t b [4];
    assert_int_equal (cw_segments_read (s, 1, 0, 4, b), CW_OK);
    assert_memory_equal (b, "kept", 4);
    cw_segments_destroy (&t);
    cw_segments_destroy (&s);
}

static void
test_full_segment_starts_the_next_for_every_writer (void **state)
{
    fixture_t *f = *state;
    cw_segments_t *a = NULL, *b = NULL;
    uint32_t seg = 0;
    uint64_t off = 0;
    assert_int_equal (cw_segments_open (&a, f->seg_dir), CW_OK);
    assert_int_equal (cw_segments_open (&b, f->seg_dir), CW_OK);
    assert_int_equal (cw_segments_add (a, (const uint8_t *) "a1", 2, &seg, &off), CW_OK);
    assert_int_equal (cw_segments_flush (a), CW_OK);
    /* segment 1 reaches its size (sparse: the test need not write 64 MiB) */
    char path [PATH_MAX];
    s_seg_path (f->seg_dir, 1, path, sizeof path);
    assert_int_equal (truncate (path, CW_SEGMENT_BYTES), 0);
    assert_int_equal (cw_segments_add (b, (const uint8_t *) "b1", 2, &seg, &off), CW_OK);
    assert_int_equal (seg, 2);
    assert_int_equal (off, 0);
    assert_int_equal (cw_segments_flush (b), CW_OK);
    /* a, which wrote to segment 1 last, follows b into segment 2 */
    assert_int_equal (cw_segments_add (a, (const uint8_t *) "a2", 2, &seg, &off), CW_OK);
    assert_int_equal (seg, 2);
    assert_int_equal (off, 2);
    assert_int_equal (cw_segments_flush (a), CW_OK);
    uint8_t buf [4];
    assert_int_equal (cw_segments_read (b, 2, 0, 4, buf), CW_OK);
    assert_memory_equal (buf, "b1a2", 4);
    cw_segments_destroy (&a);
    cw_segments_destroy (&b);
}

static void
test_wipe_leaves_zeros_and_the_neighbours (void **state)
{
    fixture_t *f = *state;
    cw_segments_t *s = NULL;
    uint32_t seg [3];
    uint64_t off [3];
    uint8_t payload [3][5000];
    assert_int_equal (cw_segments_open (&s, f->seg_dir), CW_OK);
    for (int i = 0; i < 3; i++) {
        memset (payload [i], 'a' + i, sizeof payload [i]);
        assert_int_equal (cw_segments_add (s, payload [i], sizeof payload [i], &seg [i], &off [i]),
                          CW_OK);
    }
    assert_int_equal (cw_segments_flush (s), CW_OK);
    assert_int_equal (cw_segments_wipe (s, seg [1], off [1], sizeof payload [1]), CW_OK);
    uint8_t b [5000], zeros [5000] = { 0 };
    assert_int_equal (cw_segments_read (s, seg [1], off [1], sizeof b, b), CW_OK);
    assert_memory_equal (b, zeros, sizeof b);
    assert_int_equal (cw_segments_read (s, seg [0], off [0], sizeof b, b), CW_OK);
    assert_memory_equal (b, payload [0], sizeof b);
    assert_int_equal (cw_segments_read (s, seg [2], off [2], sizeof b, b), CW_OK);
    assert_memory_equal (b, payload [2], sizeof b);
    cw_segments_destroy (&s);
}

/* ---- the store ------------------------------------------------------------------------- */

static const uint8_t s_device [CW_ID_BYTES] = { 1, 2, 3 };
static const uint8_t s_person [CW_ID_BYTES] = { 9, 8, 7 };

typedef struct {
    int count;
    char payloads [8][64];
    int64_t rows [8];
} seen_t;

static int
s_collect (void *ctx, const cw_stored_frame_t *fr)
{
    seen_t *s = ctx;
    if (s->count < 8) {
        snprintf (s->payloads [s->count], sizeof s->payloads [0], "%.*s", (int) fr->sealed_len,
                  (const char *) fr->sealed);
        s->rows [s->count] = fr->row;
    }
    s->count++;
    return CW_OK;
}

static seen_t
s_stored (cw_store_t *store)
{
    seen_t s = { 0 };
    assert_int_equal (cw_store_frame_each (store, NULL, 0, 0, s_collect, &s), CW_OK);
    return s;
}

static void
s_put (cw_store_t *store, uint64_t sequence, const char *payload)
{
    bool dup = true;
    assert_int_equal (cw_store_frame_put (store, s_device, s_person, 1, sequence, NOW,
                                          (const uint8_t *) payload, strlen (payload), &dup),
                      CW_OK);
    assert_false (dup);
}

/*  A new store in which s_person has a data key (frames of a person without one are not
 *  kept: erased). */
static cw_store_t *
s_store_new (fixture_t *f)
{
    cw_store_t *store = NULL;
    assert_int_equal (cw_store_open (&store, f->db, true), CW_OK);
    uint8_t wrapped [CW_WRAPPED_KEY_BYTES] = { 1 };
    assert_int_equal (cw_store_person_key_put (store, s_person, wrapped), CW_OK);
    return store;
}

/*  The bytes of the store's first segment at offset, len. */
static void
s_raw (fixture_t *f, uint64_t offset, size_t len, uint8_t *out)
{
    char dir [128];
    snprintf (dir, sizeof dir, "%s-segments", f->db);
    cw_segments_t *s = NULL;
    assert_int_equal (cw_segments_open (&s, dir), CW_OK);
    assert_int_equal (cw_segments_read (s, 1, offset, len, out), CW_OK);
    cw_segments_destroy (&s);
}

static void
test_store_put_outside_a_transaction_refused (void **state)
{
    fixture_t *f = *state;
    cw_store_t *store = s_store_new (f);
    bool dup = false;
    assert_int_equal (cw_store_frame_put (store, s_device, s_person, 1, 1, NOW,
                                          (const uint8_t *) "x", 1, &dup), CW_EINVAL);
    assert_int_equal (s_stored (store).count, 0);
    cw_store_destroy (&store);
}

static void
test_store_rollback_keeps_nothing_and_commit_reads_back (void **state)
{
    fixture_t *f = *state;
    cw_store_t *store = s_store_new (f);
    assert_int_equal (cw_store_begin (store), CW_OK);
    s_put (store, 1, "never committed");
    cw_store_rollback (store);
    assert_int_equal (s_stored (store).count, 0);
    assert_int_equal (cw_store_begin (store), CW_OK);
    s_put (store, 1, "one");
    s_put (store, 2, "two");
    assert_int_equal (cw_store_commit (store), CW_OK);
    /* another connection reads what the rows point to */
    cw_store_t *reader = NULL;
    assert_int_equal (cw_store_open (&reader, f->db, false), CW_OK);
    seen_t s = s_stored (reader);
    assert_int_equal (s.count, 2);
    assert_string_equal (s.payloads [0], "one");
    assert_string_equal (s.payloads [1], "two");
    cw_store_destroy (&reader);
    cw_store_destroy (&store);
}

static void
test_store_wipes_only_after_the_deletion_commits (void **state)
{
    fixture_t *f = *state;
    cw_store_t *store = s_store_new (f);
    assert_int_equal (cw_store_begin (store), CW_OK);
    s_put (store, 1, "retained");
    s_put (store, 2, "erased field");
    s_put (store, 3, "deleted");
    assert_int_equal (cw_store_commit (store), CW_OK);
    seen_t s = s_stored (store);
    /* rolled back: every payload still there */
    assert_int_equal (cw_store_begin (store), CW_OK);
    assert_int_equal (cw_store_frame_delete (store, s.rows [2]), CW_OK);
    assert_int_equal (cw_store_frame_update (store, s.rows [1], (const uint8_t *) "stripped",
                                             8), CW_OK);
    cw_store_rollback (store);
    seen_t after = s_stored (store);
    assert_int_equal (after.count, 3);
    assert_string_equal (after.payloads [1], "erased field");
    assert_string_equal (after.payloads [2], "deleted");
    /* committed: the old bytes are gone from the segment, the replacement reads back */
    assert_int_equal (cw_store_begin (store), CW_OK);
    assert_int_equal (cw_store_frame_delete (store, s.rows [2]), CW_OK);
    assert_int_equal (cw_store_frame_update (store, s.rows [1], (const uint8_t *) "stripped",
                                             8), CW_OK);
    assert_int_equal (cw_store_frame_delete (store, 999), CW_ENOENT);
    assert_int_equal (cw_store_commit (store), CW_OK);
    after = s_stored (store);
    assert_int_equal (after.count, 2);
    assert_string_equal (after.payloads [0], "retained");
    assert_string_equal (after.payloads [1], "stripped");
    uint8_t raw [27], zeros [19] = { 0 };
    s_raw (f, 0, sizeof raw, raw);
    assert_memory_equal (raw, "retained", 8);
    assert_memory_equal (raw + 8, zeros, 19);       /* "erased field" + "deleted" */
    /* a person's erasure wipes all of theirs */
    uint64_t deleted = 0;
    assert_int_equal (cw_store_begin (store), CW_OK);
    assert_int_equal (cw_store_frame_delete_user (store, s_person, &deleted), CW_OK);
    assert_int_equal (cw_store_commit (store), CW_OK);
    assert_int_equal (deleted, 2);
    s_raw (f, 0, 8, raw);
    assert_memory_equal (raw, zeros, 8);
    assert_int_equal (s_stored (store).count, 0);
    cw_store_destroy (&store);
}

static void
test_store_erased_person_keeps_nothing (void **state)
{
    fixture_t *f = *state;
    cw_store_t *store = s_store_new (f);
    assert_int_equal (cw_store_begin (store), CW_OK);
    s_put (store, 1, "before the erasure");
    assert_int_equal (cw_store_commit (store), CW_OK);
    /* erased (its key and frames gone) while frame 2 waited in a group */
    uint64_t deleted = 0;
    assert_int_equal (cw_store_begin (store), CW_OK);
    assert_int_equal (cw_store_person_key_delete (store, s_person), CW_OK);
    assert_int_equal (cw_store_frame_delete_user (store, s_person, &deleted), CW_OK);
    assert_int_equal (cw_store_commit (store), CW_OK);
    assert_int_equal (cw_store_begin (store), CW_OK);
    s_put (store, 2, "sealed under the erased key");
    assert_int_equal (cw_store_commit (store), CW_OK);
    assert_int_equal (s_stored (store).count, 0);
    /* still remembered: a resend is a duplicate, not stored */
    bool dup = false;
    assert_int_equal (cw_store_begin (store), CW_OK);
    assert_int_equal (cw_store_frame_put (store, s_device, s_person, 1, 2, NOW,
                                          (const uint8_t *) "again", 5, &dup), CW_OK);
    assert_true (dup);
    assert_int_equal (cw_store_commit (store), CW_OK);
    /* and nothing of it reached the segment: only the first frame's bytes, wiped */
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s-segments/00000001.seg", f->db);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_size, strlen ("before the erasure"));
    cw_store_destroy (&store);
}

typedef struct {
    cw_store_t *store;
    bool ask;               /* read the payload, or only look at the row */
    int count, asked_rc;
    char payload [64];
} lazy_t;

static int
s_lazy (void *ctx, const cw_stored_frame_t *fr)
{
    lazy_t *l = ctx;
    assert_null (fr->sealed);       /* not read unless asked */
    assert_true (fr->sealed_len > 0);
    l->count++;
    if (l->ask) {
        const uint8_t *sealed = NULL;
        l->asked_rc = cw_store_frame_payload (l->store, fr, &sealed);
        if (l->asked_rc == CW_OK)
            snprintf (l->payload, sizeof l->payload, "%.*s", (int) fr->sealed_len,
                      (const char *) sealed);
    }
    return CW_OK;
}

static void
test_store_lazy_reads_only_when_asked (void **state)
{
    fixture_t *f = *state;
    cw_store_t *store = s_store_new (f);
    assert_int_equal (cw_store_begin (store), CW_OK);
    s_put (store, 1, "read on demand");
    assert_int_equal (cw_store_commit (store), CW_OK);
    /* outside a callback there is no frame to read */
    cw_stored_frame_t none;
    memset (&none, 0, sizeof none);
    const uint8_t *sealed = NULL;
    assert_int_equal (cw_store_frame_payload (store, &none, &sealed), CW_EINVAL);
    lazy_t l = { .store = store, .ask = true };
    assert_int_equal (cw_store_frame_each_lazy (store, NULL, 0, 0, s_lazy, &l), CW_OK);
    assert_int_equal (l.count, 1);
    assert_int_equal (l.asked_rc, CW_OK);
    assert_string_equal (l.payload, "read on demand");
    /* its segment gone: passing over the row still works, asking for it is an error */
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s-segments/00000001.seg", f->db);
    assert_int_equal (unlink (path), 0);
    cw_store_destroy (&store);
    assert_int_equal (cw_store_open (&store, f->db, false), CW_OK);
    l = (lazy_t) { .store = store, .ask = false };
    assert_int_equal (cw_store_frame_each_lazy (store, NULL, 0, 0, s_lazy, &l), CW_OK);
    assert_int_equal (l.count, 1);
    l = (lazy_t) { .store = store, .ask = true };
    assert_int_equal (cw_store_frame_each_lazy (store, NULL, 0, 0, s_lazy, &l), CW_OK);
    assert_int_equal (l.asked_rc, CW_EIO);
    assert_non_null (strstr (cw_store_errmsg (store), "00000001.seg"));
    cw_store_destroy (&store);
}

static void
test_store_segments_checked_at_start (void **state)
{
    fixture_t *f = *state;
    cw_store_t *store = s_store_new (f);
    assert_int_equal (cw_store_segments_check (store), CW_OK);     /* nothing stored yet */
    assert_int_equal (cw_store_begin (store), CW_OK);
    s_put (store, 1, "first");
    s_put (store, 2, "second");
    assert_int_equal (cw_store_commit (store), CW_OK);
    assert_int_equal (cw_store_segments_check (store), CW_OK);
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s-segments/00000001.seg", f->db);
    /* cut short: the newest frame's bytes are not all there */
    assert_int_equal (truncate (path, 8), 0);
    assert_int_equal (cw_store_segments_check (store), CW_EIO);
    assert_non_null (strstr (cw_store_errmsg (store), "cut short"));
    /* gone (a database restored without its segments) */
    assert_int_equal (unlink (path), 0);
    assert_int_equal (cw_store_segments_check (store), CW_EIO);
    assert_non_null (strstr (cw_store_errmsg (store), "00000001.seg"));
    cw_store_destroy (&store);
}

static void
test_store_missing_segment_reported (void **state)
{
    fixture_t *f = *state;
    cw_store_t *store = s_store_new (f);
    assert_int_equal (cw_store_begin (store), CW_OK);
    s_put (store, 1, "one");
    assert_int_equal (cw_store_commit (store), CW_OK);
    cw_store_destroy (&store);
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s-segments/00000001.seg", f->db);
    assert_int_equal (unlink (path), 0);
    assert_int_equal (cw_store_open (&store, f->db, false), CW_OK);
    seen_t s = { 0 };
    assert_int_equal (cw_store_frame_each (store, NULL, 0, 0, s_collect, &s), CW_EIO);
    assert_int_equal (s.count, 0);
    assert_non_null (strstr (cw_store_errmsg (store), "00000001.seg"));
    cw_store_destroy (&store);
}

static void
test_store_schema_1_migrated_and_old_rows_read (void **state)
{
    fixture_t *f = *state;
    cw_store_t *store = s_store_new (f);
    cw_store_destroy (&store);
    /* turn it into what schema 1 was: payloads only in the row */
    sqlite3 *db = NULL;
    assert_int_equal (sqlite3_open (f->db, &db), SQLITE_OK);
    assert_int_equal (sqlite3_exec (db, "ALTER TABLE frames DROP COLUMN seg;"
                                        "ALTER TABLE frames DROP COLUMN seg_off;"
                                        "ALTER TABLE frames DROP COLUMN seg_len;"
                                        "UPDATE meta SET value = '1'"
                                        " WHERE key = 'schema_version';"
                                        "INSERT INTO frames (device_id, user_id, stream,"
                                        " sequence, received_ms, sealed) VALUES"
                                        " (x'01020300000000000000000000000000',"
                                        "  x'09080700000000000000000000000000', 1, 1, 0,"
                                        "  CAST ('from schema 1' AS BLOB));",
                                    NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close (db);
    assert_int_equal (cw_store_open (&store, f->db, false), CW_OK);
    assert_int_equal (cw_store_begin (store), CW_OK);
    s_put (store, 2, "in a segment");
    assert_int_equal (cw_store_commit (store), CW_OK);
    seen_t s = s_stored (store);
    assert_int_equal (s.count, 2);
    assert_string_equal (s.payloads [0], "from schema 1");
    assert_string_equal (s.payloads [1], "in a segment");
    char version [8];
    assert_int_equal (cw_store_meta_get (store, "schema_version", version, sizeof version), CW_OK);
    assert_string_equal (version, "2");
    cw_store_destroy (&store);
    /* a version we do not know is refused, not guessed at */
    assert_int_equal (sqlite3_open (f->db, &db), SQLITE_OK);
    assert_int_equal (sqlite3_exec (db, "UPDATE meta SET value = '99'"
                                        " WHERE key = 'schema_version'", NULL, NULL, NULL),
                      SQLITE_OK);
    sqlite3_close (db);
    assert_int_equal (cw_store_open (&store, f->db, false), CW_EIO);
    assert_null (store);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_bad_calls_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_missing_or_cut_segment_is_a_clear_error, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_unwritable_segment_refused_and_nothing_kept,
                                         setup, teardown),
        cmocka_unit_test_setup_teardown (test_store_put_outside_a_transaction_refused, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_store_missing_segment_reported, setup, teardown),
        cmocka_unit_test_setup_teardown (test_store_erased_person_keeps_nothing, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_store_lazy_reads_only_when_asked, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_store_segments_checked_at_start, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_payloads_round_trip_in_one_write, setup, teardown),
        cmocka_unit_test_setup_teardown (test_discarded_and_orphaned_bytes_are_skipped, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_full_segment_starts_the_next_for_every_writer,
                                         setup, teardown),
        cmocka_unit_test_setup_teardown (test_wipe_leaves_zeros_and_the_neighbours, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_store_rollback_keeps_nothing_and_commit_reads_back,
                                         setup, teardown),
        cmocka_unit_test_setup_teardown (test_store_wipes_only_after_the_deletion_commits, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_store_schema_1_migrated_and_old_rows_read, setup,
                                         teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
