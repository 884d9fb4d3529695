/*  test_edge_publish.c - an app that built its batch with its own copy of the generated code
 *  (the shared edge library keeps ours private) can still publish it; a message that is not a
 *  SensorBatch is refused. Regression: cw-edge aborted on a descriptor assertion. */
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

#include "coachwire.pb-c.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_error.h"
#include "coachwire/edge.h"

static void
test_foreign_descriptor_copy_and_wrong_message (void **state)
{
    (void) state;
    char dir [] = "/tmp/cw_test_publish_XXXXXX";
    assert_non_null (mkdtemp (dir));
    uint8_t pk [32], sk [32], srv [32], srv_sk [32], id [16];
    crypto_box_keypair (pk, sk);
    crypto_box_keypair (srv, srv_sk);
    randombytes_buf (id, sizeof id);
    cw_cred_t *cred = NULL;
    assert_int_equal (cw_cred_new (&cred, CW_CRED_DEVICE, id, "ana", pk, sk, srv,
                                   "tcp://127.0.0.1:9", ""), CW_OK);
    char cred_path [128], queue_path [128];
    snprintf (cred_path, sizeof cred_path, "%s/d.cred", dir);
    snprintf (queue_path, sizeof queue_path, "%s/d.queue", dir);
    assert_int_equal (cw_cred_save (cred, cred_path), CW_OK);
    cw_edge_t *edge = NULL;
    assert_int_equal (cw_edge_new (&edge, cred_path, queue_path, NULL), CW_OK);

    uint32_t deltas [2] = { 0, 1000 }, bpm [2] = { 120, 121 };
    Coachwire__HeartRateBatch hr = COACHWIRE__HEART_RATE_BATCH__INIT;
    hr.start_time_ms = 1700000000000ull;
    hr.n_time_delta_ms = hr.n_bpm = 2;
    hr.time_delta_ms = deltas;
    hr.bpm = bpm;
    Coachwire__SensorBatch batch = COACHWIRE__SENSOR_BATCH__INIT;
    batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE;
    batch.heart_rate = &hr;
    /* not a SensorBatch at all */
    assert_int_equal (cw_edge_publish_batch (edge, (Coachwire__SensorBatch *) &hr), CW_EINVAL);
    /* the same schema from another copy of the generated code */
    ProtobufCMessageDescriptor copy = coachwire__sensor_batch__descriptor;
    batch.base.descriptor = &copy;
    assert_int_equal (cw_edge_publish_batch (edge, &batch), CW_OK);
    cw_edge_stats_t stats;
    assert_int_equal (cw_edge_stats (edge, &stats), CW_OK);
    assert_int_equal (stats.queued, 1);

    cw_edge_destroy (&edge);
    cw_cred_destroy (&cred);
    char cmd [96];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal (system (cmd), 0);
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_foreign_descriptor_copy_and_wrong_message),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
