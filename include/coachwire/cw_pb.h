/*  cw_pb.h - protobuf decoding under a memory budget.
 *
 *  Bytes from the network never size an allocation without a cap: every decode of outside
 *  input (api requests in the actor, api replies in the client) goes through cw_pb_unpack,
 *  whose allocator refuses once the decoded message would hold more than `budget` bytes.
 *  Freed blocks are wiped first: api replies carry credential text with secret keys.
 */
#ifndef CW_PB_H_INCLUDED
#define CW_PB_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  The capped allocator itself, for callers that keep a decoded message and change it (the
 *  gateway strips fields with the same allocator). Every block is wiped when freed. base must
 *  stay the first member: it is what protobuf-c is given. */
typedef struct {
    ProtobufCAllocator base;
    size_t used;        /* bytes live, block headers included */
    size_t cap;         /* most bytes that may be live */
    bool refused;       /* an allocation was refused for the cap */
    bool oom;           /* malloc itself failed */
} cw_pb_alloc_t;

/*  Prepares self with a cap of cap live bytes (nothing live). */
CW_EXPORT void cw_pb_alloc_init (cw_pb_alloc_t *self, size_t cap);

/*  Decodes len bytes as a message of desc. Returns CW_OK and the message in *out (free it with
 *  cw_pb_free), CW_ETOOBIG when len exceeds max_len or the decoded form exceeds budget bytes,
 *  CW_EDECODE when the bytes are not such a message, CW_ENOMEM, CW_EINVAL on a bad argument. */
CW_EXPORT int cw_pb_unpack (const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                            size_t len, size_t max_len, size_t budget, ProtobufCMessage **out)
    CW_MUST_CHECK;

/*  Wipes and frees a message from cw_pb_unpack and sets *msg_p to NULL; safe on NULL. */
CW_EXPORT void cw_pb_free (ProtobufCMessage **msg_p);

#ifdef __cplusplus
}
#endif

#endif
