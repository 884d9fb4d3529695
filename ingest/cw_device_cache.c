/*  cw_device_cache.c - open-addressing table of devices, keys in one sodium arena. */
#include "coachwire/cw_device_cache.h"
#include "coachwire/cw_error.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define S_KEY_PAIR_BYTES 64u    /* payload key | person key */

struct _cw_device_cache_t {
    cw_device_entry_t *entries;     /* dense, in insertion order */
    size_t count;
    size_t capacity;
    uint32_t *index;                /* open addressing: entry number + 1, 0 = empty */
    size_t index_size;              /* power of two, >= 2 * capacity */
    uint8_t *keys;                  /* sodium_malloc'd, capacity * S_KEY_PAIR_BYTES */
};

static size_t
s_hash (const uint8_t *id, size_t mask)
{
    uint64_t h;
    memcpy (&h, id, sizeof h);      /* ids are random: their bytes are a fine hash */
    return (size_t) h & mask;
}

static int
s_grow (cw_device_cache_t *self)
{
    size_t capacity = self->capacity ? self->capacity * 2 : 64;
    size_t index_size = capacity * 2;
    cw_device_entry_t *entries = realloc (self->entries, capacity * sizeof *entries);
    if (!entries)
        return CW_ENOMEM;
    self->entries = entries;
    uint32_t *index = calloc (index_size, sizeof *index);
    uint8_t *keys = sodium_malloc (capacity * S_KEY_PAIR_BYTES);
    if (!index || !keys) {
        free (index);
        if (keys)
            sodium_free (keys);
        return CW_ENOMEM;
    }
    if (self->keys) {
        memcpy (keys, self->keys, self->count * S_KEY_PAIR_BYTES);
        sodium_free (self->keys);       /* wipes the old copy */
    }
    for (size_t i = 0; i < self->count; i++) {
        size_t slot = s_hash (self->entries [i].device_id, index_size - 1);
        while (index [slot])
            slot = (slot + 1) & (index_size - 1);
        index [slot] = (uint32_t) i + 1;
    }
    free (self->index);
    self->index = index;
    self->index_size = index_size;
    self->keys = keys;
    self->capacity = capacity;
    return CW_OK;
}

int
cw_device_cache_new (cw_device_cache_t **out)
{
    if (!out)
        return CW_EINVAL;
    *out = calloc (1, sizeof **out);
    if (!*out)
        return CW_ENOMEM;
    if (s_grow (*out) != CW_OK) {
        cw_device_cache_destroy (out);
        return CW_ENOMEM;
    }
    return CW_OK;
}

void
cw_device_cache_destroy (cw_device_cache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_device_cache_t *self = *self_p;
    if (self->keys)
        sodium_free (self->keys);
    free (self->entries);
    free (self->index);
    free (self);
    *self_p = NULL;
}

/*  Entry number for id (any validity), or -1. */
static long
s_find (const cw_device_cache_t *self, const uint8_t *id)
{
    size_t mask = self->index_size - 1;
    for (size_t slot = s_hash (id, mask);; slot = (slot + 1) & mask) {
        uint32_t e = self->index [slot];
        if (!e)
            return -1;
        if (memcmp (self->entries [e - 1].device_id, id, CW_ID_BYTES) == 0)
            return (long) e - 1;
    }
}

cw_device_entry_t *
cw_device_cache_get (cw_device_cache_t *self, const uint8_t *device_id)
{
    long e = s_find (self, device_id);
    return e >= 0 && self->entries [e].valid ? &self->entries [e] : NULL;
}

cw_device_entry_t *
cw_device_cache_put (cw_device_cache_t *self, const uint8_t *device_id, const uint8_t *user_id,
                     const uint8_t *payload_key, const uint8_t *person_key)
{
    long e = s_find (self, device_id);
    if (e < 0) {
        if (self->count == self->capacity && s_grow (self) != CW_OK)
            return NULL;
        e = (long) self->count++;
        cw_device_entry_t *n = &self->entries [e];
        memset (n, 0, sizeof *n);
        memcpy (n->device_id, device_id, CW_ID_BYTES);
        n->key_slot = (uint32_t) e;
        size_t mask = self->index_size - 1;
        size_t slot = s_hash (device_id, mask);
        while (self->index [slot])
            slot = (slot + 1) & mask;
        self->index [slot] = (uint32_t) e + 1;
    }
    cw_device_entry_t *entry = &self->entries [e];
    memcpy (entry->user_id, user_id, CW_ID_BYTES);
    uint8_t *k = self->keys + (size_t) entry->key_slot * S_KEY_PAIR_BYTES;
    memcpy (k, payload_key, 32);
    memcpy (k + 32, person_key, 32);
    entry->valid = true;
    return entry;
}

void
cw_device_cache_remove (cw_device_cache_t *self, const uint8_t *device_id)
{
    long e = s_find (self, device_id);
    if (e < 0)
        return;
    self->entries [e].valid = false;
    sodium_memzero (self->keys + (size_t) self->entries [e].key_slot * S_KEY_PAIR_BYTES,
                    S_KEY_PAIR_BYTES);
}

const uint8_t *
cw_device_cache_payload_key (const cw_device_cache_t *self, const cw_device_entry_t *entry)
{
    return self->keys + (size_t) entry->key_slot * S_KEY_PAIR_BYTES;
}

const uint8_t *
cw_device_cache_person_key (const cw_device_cache_t *self, const cw_device_entry_t *entry)
{
    return self->keys + (size_t) entry->key_slot * S_KEY_PAIR_BYTES + 32;
}

void
cw_device_cache_each (cw_device_cache_t *self, void (*fn) (void *ctx, cw_device_entry_t *entry),
                      void *ctx)
{
    for (size_t i = 0; i < self->count; i++)
        if (self->entries [i].valid)
            fn (ctx, &self->entries [i]);
}

size_t
cw_device_cache_size (const cw_device_cache_t *self)
{
    return self->count;
}

const uint8_t *
cw_device_cache_id_at (const cw_device_cache_t *self, size_t slot)
{
    /* entries are dense and never move slots: slot i is entry i */
    return slot < self->count && self->entries [slot].valid ? self->entries [slot].device_id
                                                             : NULL;
}
