/*  cw_strip.c - the consent filter over protobuf-c descriptors (see cw_strip.h).
 *
 *  Freeing follows protobuf_c_message_free_unpacked exactly, so that a stripped message can
 *  still be freed by it: repeated arrays and their elements through the allocator, strings
 *  unless they are the descriptor's default (the shared protobuf_c_empty_string), bytes
 *  unless they are the default's data, sub-messages with free_unpacked.
 */
#include "coachwire/cw_strip.h"
#include "coachwire/cw_catalog.h"
#include "coachwire/cw_error.h"

#include <stdlib.h>
#include <string.h>

#define S_MAX_DEPTH 8

static void
s_free (ProtobufCAllocator *alloc, void *ptr)
{
    if (!ptr)
        return;
    if (alloc)
        alloc->free (alloc->allocator_data, ptr);
    else
        free (ptr);     /* protobuf-c's default allocator is malloc/free */
}

static void *
s_member (ProtobufCMessage *msg, unsigned offset)
{
    return (char *) msg + offset;
}

static size_t
s_scalar_size (ProtobufCType type)
{
    switch (type) {
        case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
            return sizeof (uint64_t);
        case PROTOBUF_C_TYPE_DOUBLE:
            return sizeof (double);
        case PROTOBUF_C_TYPE_FLOAT:
            return sizeof (float);
        case PROTOBUF_C_TYPE_BOOL:
            return sizeof (protobuf_c_boolean);
        case PROTOBUF_C_TYPE_ENUM:
            return sizeof (int);
        default:
            return sizeof (uint32_t);
    }
}

/*  Whether the field is this message's selected oneof member (or not in a oneof at all). */
static bool
s_selected (ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
    if (!(fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return true;
    return *(uint32_t *) s_member (msg, fd->quantifier_offset) == fd->id;
}

static bool
s_has_data (ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd)
{
    void *m = s_member (msg, fd->offset);
    if (fd->label == PROTOBUF_C_LABEL_REPEATED)
        return *(size_t *) s_member (msg, fd->quantifier_offset) > 0;
    switch (fd->type) {
        case PROTOBUF_C_TYPE_STRING: {
            const char *s = *(char **) m;
            return s && *s;
        }
        case PROTOBUF_C_TYPE_BYTES:
            return ((ProtobufCBinaryData *) m)->len > 0;
        case PROTOBUF_C_TYPE_MESSAGE:
            return *(ProtobufCMessage **) m != NULL;
        default: {
            if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && !(fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
                && fd->quantifier_offset
                && *(protobuf_c_boolean *) s_member (msg, fd->quantifier_offset))
                return true;
            const unsigned char *b = m;
            for (size_t i = 0; i < s_scalar_size (fd->type); i++)
                if (b [i])
                    return true;
            return false;
        }
    }
}

/*  Clears one field, freeing what it owns. */
static void
s_clear (ProtobufCMessage *msg, const ProtobufCFieldDescriptor *fd, ProtobufCAllocator *alloc)
{
    void *m = s_member (msg, fd->offset);
    if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t *n = s_member (msg, fd->quantifier_offset);
        void **arr = m;
        if (*arr) {
            for (size_t i = 0; i < *n; i++) {
                if (fd->type == PROTOBUF_C_TYPE_STRING)
                    s_free (alloc, ((char **) *arr) [i]);
                else if (fd->type == PROTOBUF_C_TYPE_BYTES)
                    s_free (alloc, ((ProtobufCBinaryData *) *arr) [i].data);
                else if (fd->type == PROTOBUF_C_TYPE_MESSAGE && ((ProtobufCMessage **) *arr) [i])
                    protobuf_c_message_free_unpacked (((ProtobufCMessage **) *arr) [i], alloc);
            }
            s_free (alloc, *arr);
        }
        *arr = NULL;
        *n = 0;
        return;
    }
    switch (fd->type) {
        case PROTOBUF_C_TYPE_STRING: {
            char **s = m;
            if (*s && *s != (const char *) fd->default_value && *s != protobuf_c_empty_string)
                s_free (alloc, *s);
            /* free_unpacked skips exactly the default; proto3's default is the empty string */
            *s = fd->default_value ? (char *) fd->default_value : NULL;
            break;
        }
        case PROTOBUF_C_TYPE_BYTES: {
            ProtobufCBinaryData *b = m;
            const ProtobufCBinaryData *def = fd->default_value;
            if (b->data && (!def || def->data != b->data))
                s_free (alloc, b->data);
            b->data = NULL;
            b->len = 0;
            break;
        }
        case PROTOBUF_C_TYPE_MESSAGE: {
            ProtobufCMessage **sub = m;
            if (*sub && *sub != fd->default_value)
                protobuf_c_message_free_unpacked (*sub, alloc);
            *sub = NULL;
            break;
        }
        default:
            memset (m, 0, s_scalar_size (fd->type));
            break;
    }
    if (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *) s_member (msg, fd->quantifier_offset) = 0;
    else if (fd->label == PROTOBUF_C_LABEL_OPTIONAL && fd->quantifier_offset
             && fd->type != PROTOBUF_C_TYPE_STRING && fd->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *) s_member (msg, fd->quantifier_offset) = 0;
}

static void
s_drop_unknown (ProtobufCMessage *msg, ProtobufCAllocator *alloc, cw_strip_result_t *res)
{
    if (msg->n_unknown_fields == 0 && !msg->unknown_fields)
        return;
    for (unsigned i = 0; i < msg->n_unknown_fields; i++)
        s_free (alloc, msg->unknown_fields [i].data);
    s_free (alloc, msg->unknown_fields);
    res->unknown_dropped += msg->n_unknown_fields;
    msg->unknown_fields = NULL;
    msg->n_unknown_fields = 0;
}

static void
s_mark_stripped (const cw_catalog_entry_t *e, cw_strip_result_t *res)
{
    int idx = cw_catalog_index (e);
    if (idx >= 0 && idx < 64)
        res->stripped_mask |= 1ull << idx;
}

/*  Strips msg; returns whether any non-structural data is left in it (or below it). */
static bool
s_strip (ProtobufCMessage *msg, uint64_t keep, ProtobufCAllocator *alloc,
         cw_strip_result_t *res, int depth)
{
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    bool left = false;
    s_drop_unknown (msg, alloc, res);
    if (depth >= S_MAX_DEPTH)
        return false;
    /* pass 1: everything but structural fields */
    for (unsigned f = 0; f < desc->n_fields; f++) {
        const ProtobufCFieldDescriptor *fd = &desc->fields [f];
        if (!s_selected (msg, fd))
            continue;
        const cw_catalog_entry_t *e = cw_catalog_find_proto (desc->name, fd->id);
        if (!e && fd->type == PROTOBUF_C_TYPE_MESSAGE) {
            /* a container (SensorBatch.body, MealBatch.entries): filter what is inside */
            void *m = s_member (msg, fd->offset);
            if (fd->label != PROTOBUF_C_LABEL_REPEATED) {
                ProtobufCMessage *sub = *(ProtobufCMessage **) m;
                if (sub && s_strip (sub, keep, alloc, res, depth + 1))
                    left = true;
                continue;
            }
            size_t *n = s_member (msg, fd->quantifier_offset);
            ProtobufCMessage **arr = *(ProtobufCMessage ***) m;
            size_t kept = 0;
            for (size_t i = 0; i < *n; i++) {
                if (arr [i] && s_strip (arr [i], keep, alloc, res, depth + 1))
                    arr [kept++] = arr [i];
                else if (arr [i])
                    protobuf_c_message_free_unpacked (arr [i], alloc);
            }
            *n = kept;
            if (kept == 0) {
                s_free (alloc, arr);
                *(ProtobufCMessage ***) m = NULL;
            }
            else
                left = true;
            continue;
        }
        if (!e) {
            if (s_has_data (msg, fd))
                res->unknown_dropped++;
            s_clear (msg, fd, alloc);       /* undisclosable: fail closed */
            continue;
        }
        if (e->structural)
            continue;
        int idx = cw_catalog_index (e);
        bool has = s_has_data (msg, fd);
        if (idx >= 0 && idx < 64 && (keep >> idx & 1u)) {
            if (has) {
                left = true;
                res->kept_mask |= 1ull << idx;
            }
        }
        else {
            if (has)
                s_mark_stripped (e, res);
            s_clear (msg, fd, alloc);
        }
    }
    /* pass 2: timing stays only with something it gives meaning to */
    if (!left)
        for (unsigned f = 0; f < desc->n_fields; f++) {
            const ProtobufCFieldDescriptor *fd = &desc->fields [f];
            const cw_catalog_entry_t *e = cw_catalog_find_proto (desc->name, fd->id);
            if (!e || !e->structural || !s_selected (msg, fd))
                continue;
            if (s_has_data (msg, fd))
                s_mark_stripped (e, res);
            s_clear (msg, fd, alloc);
        }
    return left;
}

static size_t
s_popcount (uint64_t v)
{
    size_t n = 0;
    for (; v; v &= v - 1)
        n++;
    return n;
}

int
cw_strip_message (ProtobufCMessage *message, uint64_t keep_mask, ProtobufCAllocator *alloc,
                  cw_strip_result_t *out)
{
    if (!message || !out || !message->descriptor)
        return CW_EINVAL;
    memset (out, 0, sizeof *out);
    bool left = s_strip (message, keep_mask, alloc, out, 0);
    out->stripped = s_popcount (out->stripped_mask);
    out->empty = !left;
    return CW_OK;
}

int
cw_strip_batch (Coachwire__SensorBatch *batch, uint64_t keep_mask, ProtobufCAllocator *alloc,
                cw_strip_result_t *out)
{
    if (!batch || !out || batch->base.descriptor != &coachwire__sensor_batch__descriptor)
        return CW_EINVAL;
    memset (out, 0, sizeof *out);
    if (batch->body_case == COACHWIRE__SENSOR_BATCH__BODY__NOT_SET)
        return CW_ESTREAM;
    return cw_strip_message (&batch->base, keep_mask, alloc, out);
}
