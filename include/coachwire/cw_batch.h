/*  cw_batch.h - decoding and validating a SensorBatch that arrived from outside.
 *
 *  Decoding goes through a size-capped allocator: a frame of n bytes may not make protobuf-c
 *  allocate more than CW_BATCH_ALLOC_FACTOR * n + CW_BATCH_ALLOC_SLACK bytes, so a huge
 *  repeated count or a nested length cannot turn a small frame into a large allocation.
 */
#ifndef CW_BATCH_H_INCLUDED
#define CW_BATCH_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "coachwire.pb-c.h"
#include "cw_export.h"
#include "cw_pb.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_BATCH_ALLOC_FACTOR 16u
#define CW_BATCH_ALLOC_SLACK (64u * 1024u)
#define CW_BATCH_EPOCH_MIN_MS 946684800000ull           /* 2000-01-01: recordings are older
                                                           than days offline, never this old */
#define CW_BATCH_FUTURE_MS (10ull * 60 * 1000)          /* clock skew allowed */
#define CW_BATCH_SPAN_MS (26ull * 3600 * 1000)          /* longest span of one batch */
#define CW_BATCH_MAX_SAMPLES 100000u                    /* per array */
#define CW_REASON_MAX 160

/*  Decodes len bytes. Returns CW_OK and *out (free with cw_batch_free using the same
 *  allocator), or CW_EDECODE / CW_ETOOBIG with a reason. */
CW_EXPORT int cw_batch_decode (cw_pb_alloc_t *alloc, const uint8_t *data, size_t len,
                               Coachwire__SensorBatch **out, char *reason, size_t reason_size)
    CW_MUST_CHECK;
CW_EXPORT void cw_batch_free (cw_pb_alloc_t *alloc, Coachwire__SensorBatch **batch_p);

/*  Checks the batch against the stream it was sealed for, its shape (equal array lengths),
 *  physical ranges and time (CW_BATCH_EPOCH_MIN_MS .. now_ms + CW_BATCH_FUTURE_MS).
 *  Returns CW_OK or CW_ESTREAM, CW_EEMPTY, CW_ESHAPE, CW_ERANGE, CW_ETIME, CW_ETOOBIG with a
 *  reason naming the field. */
CW_EXPORT int cw_batch_validate (const Coachwire__SensorBatch *batch, uint16_t stream,
                                 uint64_t now_ms, char *reason, size_t reason_size)
    CW_MUST_CHECK;

/*  cw_batch_decode + cw_batch_validate, keeping nothing: the full path's verdict alone. */
CW_EXPORT int cw_batch_check (const uint8_t *data, size_t len, uint16_t stream,
                              uint64_t now_ms, char *reason, size_t reason_size) CW_MUST_CHECK;

/*  The commonest frame without protobuf-c: true only when data is an IMU batch (stream
 *  COACHWIRE__SENSOR_BATCH__BODY_IMU) in the plain encoding every client produces (each
 *  field once, only known fields, packed arrays, varints no longer than their values need
 *  plus slack) and it passes every check of cw_batch_validate; such bytes carry no unknown
 *  field and need no decoding to be stored. false decides nothing: the caller decodes and
 *  validates as usual, which also words the refusal. It never accepts what the full path
 *  refuses (fuzz_batch_fast compares the two on every input). */
CW_EXPORT bool cw_batch_imu_accept_fast (const uint8_t *data, size_t len, uint16_t stream,
                                         uint64_t now_ms) CW_MUST_CHECK;

/*  Number of samples (or meal entries) in a batch. */
CW_EXPORT size_t cw_batch_samples (const Coachwire__SensorBatch *batch);

#ifdef __cplusplus
}
#endif

#endif
