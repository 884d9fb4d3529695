/*  test_queue.c - the bounded on-device queue: bounds refuse and count, nothing is lost or
 *  reused across restarts. Doubles as the usage example of cw_queue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coachwire/cw_envelope.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_queue.h"

static char s_dir [] = "/tmp/cw-test-queue-XXXXXX";
static int s_case;

/*  A stand-in for sealing: header-shaped bytes with the stream and sequence written in. */
static int
s_fake_seal (void *ctx, uint16_t stream, uint64_t sequence, uint8_t *frame, size_t frame_cap,
             size_t *frame_len)
{
    (void) ctx;
    memset (frame, 0xab, frame_cap);
    frame [2] = (uint8_t) (stream >> 8);
    frame [3] = (uint8_t) stream;
    memcpy (frame + 4, &sequence, sizeof sequence);
    *frame_len = frame_cap;
    return CW_OK;
}

static int
s_failing_seal (void *ctx, uint16_t stream, uint64_t sequence, uint8_t *frame,
                size_t frame_cap, size_t *frame_len)
{
    (void) ctx, (void) stream, (void) sequence, (void) frame, (void) frame_cap, (void) frame_len;
    return CW_EAUTH;
}

static void
s_path (char *buf, size_t size)
{
    snprintf (buf, size, "%s/q%d.db", s_dir, ++s_case);
}

static int
s_push (cw_queue_t *q, uint16_t stream, size_t len, uint64_t *seq)
{
    return cw_queue_push (q, stream, len, s_fake_seal, NULL, seq);
}

static void
test_full_by_frames_refuses_and_counts_drop (void **state)
{
    (void) state;
    char path [256];
    s_path (path, sizeof path);
    cw_queue_t *q = NULL;
    assert_int_equal (cw_queue_open (&q, path, 3, 0), CW_OK);
    uint64_t seq = 0;
    for (int i = 0; i < 3; i++)
        assert_int_equal (s_push (q, 2, 100, &seq), CW_OK);
    assert_int_equal (seq, 3);
    assert_int_equal (s_push (q, 2, 100, &seq), CW_ENOSPC);
    assert_int_equal (s_push (q, 5, 100, &seq), CW_ENOSPC);
    cw_queue_counters_t c;
    assert_int_equal (cw_queue_counters (q, &c), CW_OK);
    assert_int_equal (c.value [CW_QUEUE_DROPPED], 2);
    uint64_t frames = 0, bytes = 0;
    assert_int_equal (cw_queue_size (q, &frames, &bytes), CW_OK);
    assert_int_equal (frames, 3);
    assert_int_equal (bytes, 300);
    /*  A refused push does not consume a sequence: nothing with it was stored or sent. */
    uint64_t next = 0;
    assert_int_equal (cw_queue_next_sequence (q, 2, &next), CW_OK);
    assert_int_equal (next, 4);
    /*  Room again after an ack. */
    assert_int_equal (cw_queue_ack (q, 2, 1, 0, NULL), CW_OK);
    assert_int_equal (s_push (q, 2, 100, &seq), CW_OK);
    assert_int_equal (seq, 4);
    cw_queue_destroy (&q);
    cw_queue_destroy (&q);      /* safe twice */
    assert_null (q);
}

static void
test_full_by_bytes_refuses (void **state)
{
    (void) state;
    char path [256];
    s_path (path, sizeof path);
    cw_queue_t *q = NULL;
    assert_int_equal (cw_queue_open (&q, path, 0, 1000), CW_OK);
    assert_int_equal (s_push (q, 1, 600, NULL), CW_OK);
    assert_int_equal (s_push (q, 1, 401, NULL), CW_ENOSPC);
    assert_int_equal (s_push (q, 1, 400, NULL), CW_OK);     /* exactly at the bound */
    assert_int_equal (s_push (q, 1, CW_FRAME_OVERHEAD, NULL), CW_ENOSPC);
    cw_queue_counters_t c;
    assert_int_equal (cw_queue_counters (q, &c), CW_OK);
    assert_int_equal (c.value [CW_QUEUE_DROPPED], 2);
    cw_queue_destroy (&q);
}

static void
test_bad_arguments_refused (void **state)
{
    (void) state;
    char path [256];
    s_path (path, sizeof path);
    cw_queue_t *q = NULL;
    assert_int_equal (cw_queue_open (&q, NULL, 0, 0), CW_EINVAL);
    assert_int_equal (cw_queue_open (&q, path, 0, 0), CW_OK);
    assert_int_equal (s_push (q, 0, 100, NULL), CW_EINVAL);
    assert_int_equal (s_push (q, 7, 100, NULL), CW_EINVAL);
    assert_int_equal (s_push (q, 1, 10, NULL), CW_EINVAL);     /* shorter than a frame */
    assert_int_equal (s_push (q, 1, CW_FRAME_MAX_BYTES + 1, NULL), CW_ETOOBIG);
    /*  A failing seal stores nothing and consumes no sequence. */
    assert_int_equal (cw_queue_push (q, 1, 100, s_failing_seal, NULL, NULL), CW_EAUTH);
    uint64_t frames = 1, next = 0;
    assert_int_equal (cw_queue_size (q, &frames, NULL), CW_OK);
    assert_int_equal (frames, 0);
    assert_int_equal (cw_queue_next_sequence (q, 1, &next), CW_OK);
    assert_int_equal (next, 1);
    cw_queue_destroy (&q);
}

static void
test_not_a_database_refused (void **state)
{
    (void) state;
    char path [256];
    s_path (path, sizeof path);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    for (int i = 0; i < 200; i++)
        fputs ("this is not an SQLite database at all. ", f);
    fclose (f);
    cw_queue_t *q = NULL;
    assert_int_equal (cw_queue_open (&q, path, 0, 0), CW_EIO);
    assert_null (q);
}

static void
test_reopen_keeps_frames_and_sequences (void **state)
{
    (void) state;
    char path [256];
    s_path (path, sizeof path);
    cw_queue_t *q = NULL;
    assert_int_equal (cw_queue_open (&q, path, 0, 0), CW_OK);
    for (int i = 0; i < 5; i++)
        assert_int_equal (s_push (q, 1, 64, NULL), CW_OK);
    assert_int_equal (s_push (q, 4, 64, NULL), CW_OK);
    cw_queue_destroy (&q);

    assert_int_equal (cw_queue_open (&q, path, 0, 0), CW_OK);
    uint64_t frames = 0;
    assert_int_equal (cw_queue_size (q, &frames, NULL), CW_OK);
    assert_int_equal (frames, 6);
    cw_queue_frame_t due [10];
    size_t n = 0;
    assert_int_equal (cw_queue_due (q, 1000000, 5000, due, 10, &n), CW_OK);
    assert_int_equal (n, 6);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal (due [i].stream, 1);
        assert_int_equal (due [i].sequence, i + 1);
        assert_int_equal (due [i].frame_len, 64);
        assert_int_equal (due [i].frame [3], 1);
    }
    assert_int_equal (due [5].stream, 4);
    assert_int_equal (due [5].sequence, 1);
    cw_queue_frames_free (due, n);
    uint64_t seq = 0;
    assert_int_equal (s_push (q, 1, 64, &seq), CW_OK);
    assert_int_equal (seq, 6);
    cw_queue_destroy (&q);
}

static void
test_sequence_never_reused_after_ack_and_restart (void **state)
{
    (void) state;
    char path [256];
    s_path (path, sizeof path);
    cw_queue_t *q = NULL;
    assert_int_equal (cw_queue_open (&q, path, 0, 0), CW_OK);
    uint64_t seq = 0;
    assert_int_equal (s_push (q, 3, 64, &seq), CW_OK);
    assert_int_equal (s_push (q, 3, 64, &seq), CW_OK);
    assert_int_equal (seq, 2);
    int found = 0;
    assert_int_equal (cw_queue_ack (q, 3, 1, 0, &found), CW_OK);
    assert_true (found);
    assert_int_equal (cw_queue_reject (q, 3, 2, CW_ERANGE, "bpm out of range", &found), CW_OK);
    assert_true (found);
    uint64_t frames = 9;
    assert_int_equal (cw_queue_size (q, &frames, NULL), CW_OK);
    assert_int_equal (frames, 0);   /* the queue is empty: nothing left to derive a number from */
    cw_queue_destroy (&q);

    assert_int_equal (cw_queue_open (&q, path, 0, 0), CW_OK);
    assert_int_equal (s_push (q, 3, 64, &seq), CW_OK);
    assert_int_equal (seq, 3);
    cw_queue_counters_t c;
    assert_int_equal (cw_queue_counters (q, &c), CW_OK);
    assert_int_equal (c.value [CW_QUEUE_ACKED], 1);
    assert_int_equal (c.value [CW_QUEUE_REJECTED], 1);
    cw_queue_reject_count_t kinds [4];
    size_t nk = 0;
    assert_int_equal (cw_queue_rejected_codes (q, kinds, 4, &nk), CW_OK);
    assert_int_equal (nk, 1);
    assert_int_equal (kinds [0].code, CW_ERANGE);
    assert_string_equal (kinds [0].last_reason, "bpm out of range");
    cw_queue_destroy (&q);
}

static void
test_ack_of_unknown_frame_changes_nothing (void **state)
{
    (void) state;
    char path [256];
    s_path (path, sizeof path);
    cw_queue_t *q = NULL;
    assert_int_equal (cw_queue_open (&q, path, 0, 0), CW_OK);
    assert_int_equal (s_push (q, 2, 64, NULL), CW_OK);
    int found = 1;
    assert_int_equal (cw_queue_ack (q, 2, 99, 0, &found), CW_OK);
    assert_false (found);
    assert_int_equal (cw_queue_ack (q, 2, 0, 0, &found), CW_OK);
    assert_false (found);
    assert_int_equal (cw_queue_reject (q, 2, UINT64_MAX, CW_EAUTH, NULL, &found), CW_OK);
    assert_false (found);
    assert_int_equal (cw_queue_ack (q, 2, 1, 1, &found), CW_OK);
    assert_true (found);
    assert_int_equal (cw_queue_ack (q, 2, 1, 1, &found), CW_OK);     /* second ack */
    assert_false (found);
    cw_queue_counters_t c;
    assert_int_equal (cw_queue_counters (q, &c), CW_OK);
    assert_int_equal (c.value [CW_QUEUE_ACKED], 1);
    assert_int_equal (c.value [CW_QUEUE_DUPLICATES], 1);
    assert_int_equal (c.value [CW_QUEUE_REJECTED], 0);
    cw_queue_destroy (&q);
}

static void
test_due_in_flight_and_resend (void **state)
{
    (void) state;
    char path [256];
    s_path (path, sizeof path);
    cw_queue_t *q = NULL;
    assert_int_equal (cw_queue_open (&q, path, 0, 0), CW_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal (s_push (q, 1, 64, NULL), CW_OK);
    cw_queue_frame_t due [4];
    size_t n = 0;
    assert_int_equal (cw_queue_due (q, 10000, 1000, due, 2, &n), CW_OK);
    assert_int_equal (n, 2);
    assert_int_equal (cw_queue_mark_sent (q, due, n, 10000), CW_OK);
    cw_queue_frames_free (due, n);
    uint64_t in_flight = 0;
    assert_int_equal (cw_queue_in_flight (q, 10500, 1000, &in_flight), CW_OK);
    assert_int_equal (in_flight, 2);
    /*  Half a timeout later only the two never sent are due. */
    assert_int_equal (cw_queue_due (q, 10500, 1000, due, 4, &n), CW_OK);
    assert_int_equal (n, 2);
    assert_int_equal (due [0].sequence, 3);
    cw_queue_frames_free (due, n);
    /*  After the timeout the first two are due again, as resends. */
    assert_int_equal (cw_queue_in_flight (q, 11000, 1000, &in_flight), CW_OK);
    assert_int_equal (in_flight, 0);
    assert_int_equal (cw_queue_due (q, 11000, 1000, due, 4, &n), CW_OK);
    assert_int_equal (n, 4);
    assert_int_equal (due [0].attempts, 1);
    assert_int_equal (cw_queue_mark_sent (q, due, n, 11000), CW_OK);
    cw_queue_frames_free (due, n);
    cw_queue_counters_t c;
    assert_int_equal (cw_queue_counters (q, &c), CW_OK);
    assert_int_equal (c.value [CW_QUEUE_SENT], 4);
    assert_int_equal (c.value [CW_QUEUE_RESENT], 2);
    /*  A reconnect makes everything due at once. */
    assert_int_equal (cw_queue_reset_sent (q), CW_OK);
    assert_int_equal (cw_queue_due (q, 11001, 1000, due, 4, &n), CW_OK);
    assert_int_equal (n, 4);
    cw_queue_frames_free (due, n);
    /*  Grouped acks in one transaction. */
    assert_int_equal (cw_queue_begin (q), CW_OK);
    assert_int_equal (cw_queue_begin (q), CW_ESTATE);
    assert_int_equal (s_push (q, 1, 64, NULL), CW_EINVAL);    /* not inside a group */
    for (uint64_t s = 1; s <= 4; s++)
        assert_int_equal (cw_queue_ack (q, 1, s, 0, NULL), CW_OK);
    assert_int_equal (cw_queue_commit (q), CW_OK);
    uint64_t frames = 9;
    assert_int_equal (cw_queue_size (q, &frames, NULL), CW_OK);
    assert_int_equal (frames, 0);
    cw_queue_destroy (&q);
}

int
main (void)
{
    if (!mkdtemp (s_dir))
        return 1;
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_full_by_frames_refuses_and_counts_drop),
        cmocka_unit_test (test_full_by_bytes_refuses),
        cmocka_unit_test (test_bad_arguments_refused),
        cmocka_unit_test (test_not_a_database_refused),
        cmocka_unit_test (test_reopen_keeps_frames_and_sequences),
        cmocka_unit_test (test_sequence_never_reused_after_ack_and_restart),
        cmocka_unit_test (test_ack_of_unknown_frame_changes_nothing),
        cmocka_unit_test (test_due_in_flight_and_resend),
    };
    int failed = cmocka_run_group_tests (tests, NULL, NULL);
    char cmd [512];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", s_dir);
    return failed;
}
