/*  cw_pb.c - protobuf decoding under a memory budget (see cw_pb.h). */
#include "coachwire/cw_pb.h"
#include "coachwire/cw_error.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/*  Each block carries its size in front so that free can wipe it and give back its budget.
 *  16 bytes keep the returned pointer aligned as malloc's own. */
#define S_HEADER 16u
_Static_assert (S_HEADER >= sizeof (size_t), "header holds a size_t");

static void *
s_alloc (void *data, size_t size)
{
    cw_pb_alloc_t *budget = (cw_pb_alloc_t *) data;
    if (!budget)
        return NULL;        /* only decodes allocate */
    if (size > budget->cap || budget->cap - budget->used < size + S_HEADER) {
        budget->refused = true;
        return NULL;
    }
    uint8_t *block = malloc (size + S_HEADER);
    if (!block) {
        budget->oom = true;
        return NULL;
    }
    memcpy (block, &size, sizeof size);
    budget->used += size + S_HEADER;
    return block + S_HEADER;
}

static void
s_free (void *data, void *pointer)
{
    if (!pointer)
        return;
    uint8_t *block = (uint8_t *) pointer - S_HEADER;
    size_t size = 0;
    memcpy (&size, block, sizeof size);
    sodium_memzero (pointer, size);
    cw_pb_alloc_t *budget = (cw_pb_alloc_t *) data;
    if (budget && budget->used >= size + S_HEADER)
        budget->used -= size + S_HEADER;
    free (block);
}

void
cw_pb_alloc_init (cw_pb_alloc_t *self, size_t cap)
{
    self->base.alloc = s_alloc;
    self->base.free = s_free;
    self->base.allocator_data = self;
    self->used = 0;
    self->cap = cap;
    self->refused = false;
    self->oom = false;
}

int
cw_pb_unpack (const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len,
              size_t max_len, size_t budget, ProtobufCMessage **out)
{
    if (!desc || !out || (!data && len))
        return CW_EINVAL;
    *out = NULL;
    if (len > max_len)
        return CW_ETOOBIG;
    cw_pb_alloc_t state;
    cw_pb_alloc_init (&state, budget);
    static const uint8_t empty [1] = { 0 };
    ProtobufCMessage *msg = protobuf_c_message_unpack (desc, &state.base, len,
                                                       data ? data : empty);
    if (!msg)
        return state.refused ? CW_ETOOBIG : state.oom ? CW_ENOMEM : CW_EDECODE;
    *out = msg;
    return CW_OK;
}

void
cw_pb_free (ProtobufCMessage **msg_p)
{
    if (!msg_p || !*msg_p)
        return;
    ProtobufCAllocator allocator = { s_alloc, s_free, NULL };
    protobuf_c_message_free_unpacked (*msg_p, &allocator);
    *msg_p = NULL;
}
