/*  harness.h - test harness: a service in a temporary directory, started in-process on
 *  127.0.0.1 with free ports (ZAP handler, gateway, optionally the api actor), and helpers
 *  to enroll people and devices straight into its store and talk to it as a device would.
 */
#ifndef CW_TEST_HARNESS_H_INCLUDED
#define CW_TEST_HARNESS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coachwire.pb-c.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_keyring.h"
#include "coachwire/cw_server.h"
#include "coachwire/cw_store.h"

typedef struct harness_t harness_t;

/*  A temporary data dir with keys and a database; starts zap, gateway and coach (+ api if
 *  with_api). */
harness_t *harness_new (bool with_api);
void harness_destroy (harness_t **self_p);
const char *harness_dir (harness_t *self);
const char *harness_gateway (harness_t *self);
const char *harness_api (harness_t *self);
cw_store_t *harness_store (harness_t *self);        /* the test thread's own connection */
const cw_server_config_t *harness_config (harness_t *self);
void harness_stop (harness_t *self);                /* stops actors, keeps the directory */
void harness_start (harness_t *self);               /* starts them again on the same ports */
cw_server_config_t *harness_config_edit (harness_t *self);  /* between stop and start */

/*  Adds a person (with a data key) and returns their id. */
void harness_add_person (harness_t *self, const char *name, uint8_t *user_id);
/*  Grants pattern ("*", "running.*", a field) for purpose ("coaching", "coach_review",
 *  "retention") as the person would, and tells the running gateway. */
void harness_grant (harness_t *self, const uint8_t *user_id, const char *pattern,
                    const char *purpose);
/*  Grants (grant true) or withdraws pattern for purpose, and tells the gateway. */
void harness_consent (harness_t *self, const uint8_t *user_id, const char *pattern,
                      const char *purpose, bool grant);
/*  Enrolls a device for the person; returns its credential (destroy it). */
cw_cred_t *harness_enroll_device (harness_t *self, const uint8_t *user_id);
/*  A credential with fresh keys that the service has never seen. */
cw_cred_t *harness_stranger (harness_t *self);

/*  A raw device connection (DEALER + CURVE) for crafting frames. */
typedef struct device_t device_t;
device_t *device_connect (harness_t *self, const cw_cred_t *cred);
void device_destroy (device_t **self_p);
/*  Sends raw bytes as one message. */
void device_send_raw (device_t *self, const uint8_t *data, size_t len);
/*  Packs and seals batch as (stream, sequence) and sends it. */
void device_send_batch (device_t *self, const Coachwire__SensorBatch *batch, uint16_t stream,
                        uint64_t sequence);
/*  Seals arbitrary plaintext bytes. */
void device_send_plain (device_t *self, const uint8_t *plain, size_t len, uint16_t stream,
                        uint64_t sequence);
/*  Receives one Downlink within timeout_ms; NULL on timeout. Free with
 *  coachwire__downlink__free_unpacked (d, NULL). */
Coachwire__Downlink *device_recv (device_t *self, int timeout_ms);
const uint8_t *device_payload_key (device_t *self);

/*  A small valid heart-rate batch starting at start_ms with n samples of bpm. */
Coachwire__SensorBatch *batch_heart_rate (uint64_t start_ms, size_t n, uint32_t bpm);
void batch_free (Coachwire__SensorBatch *batch);

/*  A principal of kind added straight into the store, with its credential (destroy it): a
 *  person (with a data key), a device (owner = a person's id), a coach or an operator. id_out
 *  (may be NULL) gets the principal's id. */
cw_cred_t *harness_principal (harness_t *self, cw_principal_kind_t kind, const char *name,
                              const uint8_t *owner, uint8_t *id_out);
const cw_keyring_t *harness_keyring (harness_t *self);

/*  Calls fn for each stored frame of user with row > after_row, opened with the person's
 *  data key and decoded (batch NULL when it could not be opened or decoded). Returns the
 *  number of frames visited. */
typedef void (*harness_frame_fn) (void *ctx, const cw_stored_frame_t *frame,
                                  const Coachwire__SensorBatch *batch);
size_t harness_stored_each (harness_t *self, const uint8_t *user_id, int64_t after_row,
                            harness_frame_fn fn, void *ctx);

/*  A heart-rate batch of n samples of bpm with n rr intervals of rr_ms. */
Coachwire__SensorBatch *batch_heart_rate_rr (uint64_t start_ms, size_t n, uint32_t bpm,
                                             uint32_t rr_ms);

/*  Reads a file into a malloc'd buffer; returns NULL if missing. */
uint8_t *harness_read_file (const char *path, size_t *len);

#endif
