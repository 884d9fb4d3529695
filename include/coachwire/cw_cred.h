/*  cw_cred.h - credential files: who a key belongs to and where to connect.
 *
 *  A credential is a small text file, mode 0600, one "key = value" per line, '#' comments:
 *      kind = device | user | coach | operator
 *      id = 32 lowercase hex chars (device id for a device, principal id otherwise)
 *      name = the person's (or coach's, operator's) name; for a device, its person's name
 *      public_key = Z85 (40 chars) Curve25519 public key
 *      secret_key = Z85 (40 chars) Curve25519 secret key
 *      server_key = Z85 (40 chars) the service's Curve25519 public key (pinned)
 *      endpoint = ZeroMQ endpoint of the gateway (devices)
 *      api_endpoint = ZeroMQ endpoint of the api actor
 *  The secret key lives in sodium_malloc'd memory, guarded and wiped on destroy.
 */
#ifndef CW_CRED_H_INCLUDED
#define CW_CRED_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_CRED_MAX_BYTES   4096u  /* a credential file larger than this is refused */
#define CW_CRED_ID_BYTES    16u
#define CW_CRED_TEXT_MAX    256u   /* name and endpoints */

typedef enum {
    CW_CRED_DEVICE = 1,
    CW_CRED_USER = 2,
    CW_CRED_COACH = 3,
    CW_CRED_OPERATOR = 4
} cw_cred_kind_t;

typedef struct _cw_cred_t cw_cred_t;

/*  Parses credential text. Returns CW_OK and a new credential in *out, or CW_ECRED (with a
 *  line number and reason in errbuf when errbuf is not NULL), CW_ENOMEM. */
CW_EXPORT int cw_cred_parse (const char *text, size_t len, cw_cred_t **out, char *errbuf,
                             size_t errbuf_size) CW_MUST_CHECK;

/*  Reads and parses a credential file. Refuses (CW_ECRED) a file that group or others can
 *  read, and CW_ENOENT when it does not exist. */
CW_EXPORT int cw_cred_load (const char *path, cw_cred_t **out, char *errbuf,
                            size_t errbuf_size) CW_MUST_CHECK;

/*  Creates a credential in memory. secret_key may be NULL (public-only credential). */
CW_EXPORT int cw_cred_new (cw_cred_t **out, cw_cred_kind_t kind, const uint8_t *id,
                           const char *name, const uint8_t *public_key,
                           const uint8_t *secret_key, const uint8_t *server_key,
                           const char *endpoint, const char *api_endpoint) CW_MUST_CHECK;

/*  Writes the credential to path with mode 0600, refusing to overwrite (CW_EEXIST). */
CW_EXPORT int cw_cred_save (const cw_cred_t *self, const char *path) CW_MUST_CHECK;

/*  Formats the credential text into buf (sodium memory advised: it holds the secret key).
 *  Returns CW_OK (sets *len when len is not NULL) or CW_ETOOBIG. */
CW_EXPORT int cw_cred_format (const cw_cred_t *self, char *buf, size_t size, size_t *len)
    CW_MUST_CHECK;

/*  Writes credential text (from cw_cred_format or an api reply) to a new file with mode 0600,
 *  fsynced; CW_EEXIST if the file exists. */
CW_EXPORT int cw_cred_write_text (const char *path, const char *text, size_t len)
    CW_MUST_CHECK;

/*  Wipes and frees the credential, sets *self_p to NULL; safe on NULL. */
CW_EXPORT void cw_cred_destroy (cw_cred_t **self_p);

CW_EXPORT cw_cred_kind_t cw_cred_kind (const cw_cred_t *self);
CW_EXPORT const char *cw_cred_kind_name (cw_cred_kind_t kind);
CW_EXPORT const uint8_t *cw_cred_id (const cw_cred_t *self);          /* CW_CRED_ID_BYTES */
CW_EXPORT const char *cw_cred_id_hex (const cw_cred_t *self);        /* 32 hex chars */
CW_EXPORT const char *cw_cred_name (const cw_cred_t *self);
CW_EXPORT const uint8_t *cw_cred_public_key (const cw_cred_t *self); /* 32 bytes */
CW_EXPORT const uint8_t *cw_cred_secret_key (const cw_cred_t *self); /* 32 bytes or NULL */
CW_EXPORT const uint8_t *cw_cred_server_key (const cw_cred_t *self); /* 32 bytes */
CW_EXPORT const char *cw_cred_endpoint (const cw_cred_t *self);      /* "" when absent */
CW_EXPORT const char *cw_cred_api_endpoint (const cw_cred_t *self);  /* "" when absent */

/*  Z85 text of a 32-byte key into out (41 bytes with the NUL). */
CW_EXPORT void cw_key_to_z85 (char *out, const uint8_t *key);
/*  Z85 text (40 chars) to 32 bytes. Returns CW_OK or CW_EINVAL. */
CW_EXPORT int cw_key_from_z85 (uint8_t *key, const char *text) CW_MUST_CHECK;
/*  Lowercase hex of len bytes into out (2*len+1 bytes). */
CW_EXPORT void cw_hex_encode (char *out, const uint8_t *bytes, size_t len);
/*  Hex text of exactly 2*len chars to bytes. Returns CW_OK or CW_EINVAL. */
CW_EXPORT int cw_hex_decode (uint8_t *bytes, size_t len, const char *text) CW_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
