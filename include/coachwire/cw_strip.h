/*  cw_strip.h - the consent filter: clears every field of a decoded SensorBatch that no grant
 *  covers, before anything is stored.
 *
 *  Driven by the protobuf-c descriptors and the field catalog (message name + field number ->
 *  entry), so a new stream or field needs no code here, only its catalog line. Per field:
 *  repeated -> n = 0 and the array freed; string -> freed and set back to the proto3 empty
 *  string; bytes -> freed and emptied; sub-message -> freed; scalar -> 0. Repeated messages
 *  (MealBatch.entries) are filtered per element, and elements left with nothing are removed.
 *  Unknown fields (wire data no descriptor names) are always dropped: nothing undisclosed
 *  survives a strip. A field the catalog does not know is cleared (fail closed).
 *
 *  Structural fields (timing) ignore their own bit: they stay while at least one
 *  non-structural field of the same message still carries data, and are cleared otherwise.
 *
 *      uint64_t keep = 0;      // cw_consent_mask (consent, user, CW_PURPOSE_ANY, now, &keep, ..)
 *      cw_strip_result_t r;
 *      rc = cw_strip_batch (batch, keep, &alloc.base, &r);
 *      if (rc == CW_OK && r.empty) { store nothing; ack }
 *
 *  The allocator must be the one the batch was unpacked with (NULL: protobuf-c's default,
 *  malloc/free); the batch stays valid for pack and free_unpacked with it afterwards.
 */
#ifndef CW_STRIP_H_INCLUDED
#define CW_STRIP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "coachwire.pb-c.h"
#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t stripped_mask;     /* catalog bits of fields that carried data and were cleared */
    size_t stripped;            /* number of bits in stripped_mask */
    uint64_t kept_mask;         /* catalog bits of non-structural fields still carrying data */
    size_t unknown_dropped;     /* unknown wire fields and uncatalogued fields cleared */
    bool empty;                 /* nothing left: store nothing (still ack the frame) */
} cw_strip_result_t;

/*  Clears, in place, every field of batch whose catalog index is not set in keep_mask (and
 *  structural fields as above). CW_EINVAL for a NULL batch or out; CW_ESTREAM when the batch
 *  carries no stream. Never allocates. */
CW_EXPORT int cw_strip_batch (Coachwire__SensorBatch *batch, uint64_t keep_mask,
                              ProtobufCAllocator *alloc, cw_strip_result_t *out) CW_MUST_CHECK;

/*  The same for any message reachable from SensorBatch (the walk starts at message), for
 *  callers that hold a bare ImuBatch or MealEntry. */
CW_EXPORT int cw_strip_message (ProtobufCMessage *message, uint64_t keep_mask,
                                ProtobufCAllocator *alloc, cw_strip_result_t *out)
    CW_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
