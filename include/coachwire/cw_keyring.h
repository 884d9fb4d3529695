/*  cw_keyring.h - the service's keys: its CURVE key pair, its Ed25519 signing key, and the
 *  master key that wraps every person's data key.
 *
 *  On disk under DATA_DIR/keys/ (directory 0700, files 0600):
 *      server.public   Z85 CURVE public key (shared with every credential)
 *      server.secret   Z85 CURVE secret key
 *      master.key      32 random bytes; wraps person data keys (XChaCha20-Poly1305,
 *                      associated data "coachwire-person-key-v1" || user id)
 *      signing.key     Ed25519 secret key (64 bytes) for consent receipts
 *  All secrets are held in sodium_malloc'd memory and wiped on destroy.
 */
#ifndef CW_KEYRING_H_INCLUDED
#define CW_KEYRING_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _cw_keyring_t cw_keyring_t;

/*  Creates DATA_DIR/keys with fresh keys. CW_EEXIST if keys are already there. */
CW_EXPORT int cw_keyring_create (const char *data_dir) CW_MUST_CHECK;
/*  Loads the keys; refuses files readable by group or others (CW_ECRED). */
CW_EXPORT int cw_keyring_load (cw_keyring_t **out, const char *data_dir) CW_MUST_CHECK;
CW_EXPORT void cw_keyring_destroy (cw_keyring_t **self_p);

CW_EXPORT const uint8_t *cw_keyring_server_public (const cw_keyring_t *self);   /* 32 */
CW_EXPORT const uint8_t *cw_keyring_server_secret (const cw_keyring_t *self);   /* 32 */
CW_EXPORT const uint8_t *cw_keyring_signing_public (const cw_keyring_t *self);  /* 32 */
CW_EXPORT const uint8_t *cw_keyring_signing_secret (const cw_keyring_t *self);  /* 64 */

/*  Makes a fresh person data key (into key, 32 bytes of sodium memory) and its wrapped form
 *  (CW_WRAPPED_KEY_BYTES) for storage. */
CW_EXPORT int cw_keyring_person_key_new (const cw_keyring_t *self, const uint8_t *user_id,
                                         uint8_t *key, uint8_t *wrapped) CW_MUST_CHECK;
/*  Unwraps a stored person key into key (32 bytes of sodium memory). CW_EAUTH when it was not
 *  wrapped by this master key for this person. */
CW_EXPORT int cw_keyring_person_key_unwrap (const cw_keyring_t *self, const uint8_t *user_id,
                                            const uint8_t *wrapped, uint8_t *key)
    CW_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
