/*  cw_device_cache.h - the gateway's table of known devices and their keys.
 *
 *  Keys (the device payload key and the person's data key) live in one sodium_malloc'd arena,
 *  not one guarded allocation per device: at 20,000 devices, guard pages would cost ~300 MB.
 *  The arena is wiped when it grows and on destroy. Single-threaded: the gateway owns it.
 */
#ifndef CW_DEVICE_CACHE_H_INCLUDED
#define CW_DEVICE_CACHE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cw_envelope.h"
#include "cw_export.h"
#include "cw_store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _cw_device_cache_t cw_device_cache_t;

#define CW_DEVICE_ROUTING_ID_MAX 32

typedef struct {
    uint8_t device_id [CW_ID_BYTES];
    uint8_t user_id [CW_ID_BYTES];
    uint32_t key_slot;          /* index into the key arena */
    bool valid;                 /* false after revocation: looked up as absent */
    uint64_t frames;            /* accepted since the last flush to the store */
    uint64_t max_sequence [CW_STREAM_MAX + 1];  /* highest committed per stream: above it a
                                                   frame is new without asking the store */
    uint8_t max_loaded;         /* bit per stream: max_sequence read from the store */
    bool mask_loaded;           /* keep_mask is current (cleared by a consent change) */
    uint64_t keep_mask;         /* catalog bits the person granted for any purpose */
    uint64_t mask_valid_until;  /* ms; the earliest grant expiry, 0 = none */
    uint8_t routing_id [CW_DEVICE_ROUTING_ID_MAX];  /* its connection now, for nudges */
    uint8_t routing_id_len;     /* 0: not seen on this run of the gateway */
} cw_device_entry_t;

CW_EXPORT int cw_device_cache_new (cw_device_cache_t **out) CW_MUST_CHECK;
CW_EXPORT void cw_device_cache_destroy (cw_device_cache_t **self_p);
/*  The valid entry for device_id, or NULL. */
CW_EXPORT cw_device_entry_t *cw_device_cache_get (cw_device_cache_t *self,
                                                  const uint8_t *device_id);
/*  Inserts or replaces; copies both 32-byte keys into the arena. Returns the entry or NULL
 *  when out of memory. Pointers from earlier calls may move. */
CW_EXPORT cw_device_entry_t *cw_device_cache_put (cw_device_cache_t *self,
                                                  const uint8_t *device_id,
                                                  const uint8_t *user_id,
                                                  const uint8_t *payload_key,
                                                  const uint8_t *person_key);
/*  Marks the device absent and wipes its keys (revocation). */
CW_EXPORT void cw_device_cache_remove (cw_device_cache_t *self, const uint8_t *device_id);
CW_EXPORT const uint8_t *cw_device_cache_payload_key (const cw_device_cache_t *self,
                                                      const cw_device_entry_t *entry);
CW_EXPORT const uint8_t *cw_device_cache_person_key (const cw_device_cache_t *self,
                                                     const cw_device_entry_t *entry);
/*  Calls fn for each valid entry (for flushing per-device counters). */
CW_EXPORT void cw_device_cache_each (cw_device_cache_t *self,
                                     void (*fn) (void *ctx, cw_device_entry_t *entry),
                                     void *ctx);
CW_EXPORT size_t cw_device_cache_size (const cw_device_cache_t *self);
/*  The id of the valid entry whose key_slot is slot, or NULL. */
CW_EXPORT const uint8_t *cw_device_cache_id_at (const cw_device_cache_t *self, size_t slot);

#ifdef __cplusplus
}
#endif

#endif
