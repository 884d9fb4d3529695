/*  test_ingest.c - real recordings through the whole ingest path on 127.0.0.1: importer ->
 *  edge library (seal, SQLite queue, DEALER + CURVE) -> gateway -> store. Every frame is
 *  acknowledged, and what is stored opens under the person's key to the very bytes sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_gateway.h"
#include "coachwire/cw_import.h"
#include "coachwire/cw_keyring.h"
#include "coachwire/edge.h"

#define S_MAX_BATCHES 20000

typedef struct {
    cw_edge_t *edge;
    uint8_t *sent [S_MAX_BATCHES];     /* packed batches in publish order */
    size_t sent_len [S_MAX_BATCHES];
    size_t count;
    size_t matched;
    uint8_t *key;
} s_run_t;

static int
s_sink (void *ctx, const Coachwire__SensorBatch *batch)
{
    s_run_t *run = ctx;
    assert_true (run->count < S_MAX_BATCHES);
    size_t len = coachwire__sensor_batch__get_packed_size (batch);
    uint8_t *buf = malloc (len + 1);
    coachwire__sensor_batch__pack (batch, buf);
    run->sent [run->count] = buf;
    run->sent_len [run->count++] = len;
    int rc = cw_edge_publish_batch (run->edge, batch);
    /* keep the queue moving during long imports */
    if (rc == CW_OK && run->count % 64 == 0)
        rc = cw_edge_pump (run->edge, 0);
    return rc == CW_ETIMEOUT ? CW_OK : rc;
}

/*  Stored frames come back in arrival order; a device's frames of one stream arrive in
 *  sequence order, so match each stored frame against the sent batch of that stream. */
static int
s_check (void *ctx, const cw_stored_frame_t *fr)
{
    s_run_t *run = ctx;
    uint8_t *plain = malloc (fr->sealed_len);
    size_t n = 0;
    assert_int_equal (cw_stored_open (plain, &n, run->key, fr->device_id, fr->user_id,
                                      fr->stream, fr->sequence, fr->sealed, fr->sealed_len),
                      CW_OK);
    /* sequence k of a stream is the k-th sent batch of that stream */
    uint64_t k = 0;
    for (size_t i = 0; i < run->count; i++) {
        Coachwire__SensorBatch *b = coachwire__sensor_batch__unpack (NULL, run->sent_len [i],
                                                                     run->sent [i]);
        uint16_t stream = cw_batch_stream (b);
        coachwire__sensor_batch__free_unpacked (b, NULL);
        if (stream == fr->stream && ++k == fr->sequence) {
            assert_int_equal (n, run->sent_len [i]);
            assert_memory_equal (plain, run->sent [i], n);
            run->matched++;
            break;
        }
    }
    free (plain);
    return CW_OK;
}

static void
s_import_through_gateway (const char *file, size_t min_batches)
{
    harness_t *h = harness_new (false);
    uint8_t user [CW_ID_BYTES];
    harness_add_person (h, "ana", user);
    harness_grant (h, user, "*", "retention");
    cw_cred_t *cred = harness_enroll_device (h, user);
    char cred_path [256], queue_path [256], data_path [512];
    snprintf (cred_path, sizeof cred_path, "%s/phone.cred", harness_dir (h));
    snprintf (queue_path, sizeof queue_path, "%s/phone.queue", harness_dir (h));
    snprintf (data_path, sizeof data_path, "%s/%s", CW_TEST_DATA, file);
    assert_int_equal (cw_cred_save (cred, cred_path), CW_OK);

    s_run_t *run = calloc (1, sizeof *run);
    assert_int_equal (cw_edge_new (&run->edge, cred_path, queue_path, NULL), CW_OK);
    cw_import_summary_t summary;
    assert_int_equal (cw_import_file (data_path, NULL, s_sink, run, &summary), CW_OK);
    assert_true (run->count >= min_batches);
    assert_int_equal (cw_edge_flush (run->edge, 60000), CW_OK);
    cw_edge_stats_t stats;
    assert_int_equal (cw_edge_stats (run->edge, &stats), CW_OK);
    assert_int_equal (stats.acked, run->count);
    assert_int_equal (stats.rejected, 0);
    assert_int_equal (stats.dropped, 0);
    assert_int_equal (stats.queued, 0);
    printf ("%s: %zu batches, %llu samples, all acknowledged\n", file, run->count,
            (unsigned long long) summary.samples);

    /* What is stored opens, under the person's key, to exactly what was sent. */
    cw_keyring_t *kr = NULL;
    assert_int_equal (cw_keyring_load (&kr, harness_dir (h)), CW_OK);
    uint8_t wrapped [CW_WRAPPED_KEY_BYTES];
    assert_int_equal (cw_store_person_key_get (harness_store (h), user, wrapped), CW_OK);
    run->key = sodium_malloc (32);
    assert_int_equal (cw_keyring_person_key_unwrap (kr, user, wrapped, run->key), CW_OK);
    assert_int_equal (cw_store_frame_each (harness_store (h), user, 0, 0, s_check, run), CW_OK);
    assert_int_equal (run->matched, run->count);

    sodium_free (run->key);
    cw_keyring_destroy (&kr);
    cw_edge_destroy (&run->edge);
    for (size_t i = 0; i < run->count; i++)
        free (run->sent [i]);
    free (run);
    cw_cred_destroy (&cred);
    harness_destroy (&h);
}

static void
test_fit_run (void **state)
{
    (void) state;
    s_import_through_gateway ("activity-small-fenix2-run.fit", 40);
}

static void
test_phone_accelerometer (void **state)
{
    (void) state;
    s_import_through_gateway ("user1_frontpocket_1506422223341.csv", 150);
}

static void
test_food_diary (void **state)
{
    (void) state;
    s_import_through_gateway ("food_demo_diary.csv", 14);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_fit_run),
        cmocka_unit_test (test_phone_accelerometer),
        cmocka_unit_test (test_food_diary),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
