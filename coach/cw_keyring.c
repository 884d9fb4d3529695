/*  cw_keyring.c - the service's keys on disk and in sodium memory (see cw_keyring.h). */
#include "coachwire/cw_keyring.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char s_wrap_context [] = "coachwire-person-key-v1";

struct _cw_keyring_t {
    uint8_t server_public [32];
    uint8_t signing_public [crypto_sign_PUBLICKEYBYTES];
    uint8_t *secrets;           /* sodium_malloc'd: server secret | master key | signing key */
};

#define S_SERVER_SECRET(k) ((k)->secrets)
#define S_MASTER(k) ((k)->secrets + 32)
#define S_SIGNING(k) ((k)->secrets + 64)
#define S_SECRETS_BYTES (64 + crypto_sign_SECRETKEYBYTES)

/*  Writes len bytes to a new file of mode 0600 (refuses to overwrite). */
static int
s_write_file (const char *path, const void *data, size_t len)
{
    return cw_cred_write_text (path, data, len);
}

/*  Reads exactly len bytes from a file that only its owner may read. */
static int
s_read_file (const char *path, uint8_t *out, size_t len)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? CW_ENOENT : CW_EIO;
    struct stat st;
    int rc = CW_OK;
    if (fstat (fd, &st) != 0)
        rc = CW_EIO;
    else if (st.st_mode & (S_IRWXG | S_IRWXO))
        rc = CW_ECRED;
    else if (st.st_size != (off_t) len)
        rc = CW_ECRED;
    else if (read (fd, out, len) != (ssize_t) len)
        rc = CW_EIO;
    close (fd);
    return rc;
}

static void
s_path (char *buf, size_t size, const char *dir, const char *name)
{
    snprintf (buf, size, "%s/keys/%s", dir, name);
}

int
cw_keyring_create (const char *data_dir)
{
    if (!data_dir)
        return CW_EINVAL;
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/keys", data_dir);
    if (mkdir (path, 0700) != 0)
        return errno == EEXIST ? CW_EEXIST : CW_EIO;
    uint8_t *secrets = sodium_malloc (S_SECRETS_BYTES);
    if (!secrets)
        return CW_ENOMEM;
    uint8_t pub [32], sign_pub [crypto_sign_PUBLICKEYBYTES];
    char z85 [41];
    crypto_box_keypair (pub, secrets);
    randombytes_buf (secrets + 32, 32);
    crypto_sign_keypair (sign_pub, secrets + 64);
    int rc;
    cw_key_to_z85 (z85, pub);
    s_path (path, sizeof path, data_dir, "server.public");
    if ((rc = s_write_file (path, z85, 40)) != CW_OK)
        goto done;
    chmod (path, 0644);     /* public on purpose: it goes into every credential */
    cw_key_to_z85 (z85, secrets);
    s_path (path, sizeof path, data_dir, "server.secret");
    if ((rc = s_write_file (path, z85, 40)) != CW_OK)
        goto done;
    s_path (path, sizeof path, data_dir, "master.key");
    if ((rc = s_write_file (path, secrets + 32, 32)) != CW_OK)
        goto done;
    s_path (path, sizeof path, data_dir, "signing.key");
    rc = s_write_file (path, secrets + 64, crypto_sign_SECRETKEYBYTES);
done:
    sodium_memzero (z85, sizeof z85);
    sodium_free (secrets);
    return rc;
}

void
cw_keyring_destroy (cw_keyring_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    if ((*self_p)->secrets)
        sodium_free ((*self_p)->secrets);
    free (*self_p);
    *self_p = NULL;
}

int
cw_keyring_load (cw_keyring_t **out, const char *data_dir)
{
    if (!out || !data_dir)
        return CW_EINVAL;
    *out = NULL;
    cw_keyring_t *self = calloc (1, sizeof *self);
    if (!self)
        return CW_ENOMEM;
    self->secrets = sodium_malloc (S_SECRETS_BYTES);
    char *z85 = sodium_malloc (41);
    int rc = CW_OK;
    if (!self->secrets || !z85) {
        rc = CW_ENOMEM;
        goto done;
    }
    char path [PATH_MAX];
    s_path (path, sizeof path, data_dir, "server.secret");
    if ((rc = s_read_file (path, (uint8_t *) z85, 40)) != CW_OK)
        goto done;
    z85 [40] = 0;
    if ((rc = cw_key_from_z85 (S_SERVER_SECRET (self), z85)) != CW_OK) {
        rc = CW_ECRED;
        goto done;
    }
    crypto_scalarmult_base (self->server_public, S_SERVER_SECRET (self));
    s_path (path, sizeof path, data_dir, "master.key");
    if ((rc = s_read_file (path, S_MASTER (self), 32)) != CW_OK)
        goto done;
    s_path (path, sizeof path, data_dir, "signing.key");
    if ((rc = s_read_file (path, S_SIGNING (self), crypto_sign_SECRETKEYBYTES)) != CW_OK)
        goto done;
    crypto_sign_ed25519_sk_to_pk (self->signing_public, S_SIGNING (self));
done:
    if (z85)
        sodium_free (z85);
    if (rc != CW_OK)
        cw_keyring_destroy (&self);
    *out = self;
    return rc;
}

const uint8_t *cw_keyring_server_public (const cw_keyring_t *self) { return self->server_public; }
const uint8_t *cw_keyring_server_secret (const cw_keyring_t *self) { return S_SERVER_SECRET (self); }
const uint8_t *cw_keyring_signing_public (const cw_keyring_t *self) { return self->signing_public; }
const uint8_t *cw_keyring_signing_secret (const cw_keyring_t *self) { return S_SIGNING (self); }

static void
s_wrap_ad (uint8_t *ad, const uint8_t *user_id)
{
    memcpy (ad, s_wrap_context, sizeof s_wrap_context - 1);
    memcpy (ad + sizeof s_wrap_context - 1, user_id, CW_ID_BYTES);
}

int
cw_keyring_person_key_new (const cw_keyring_t *self, const uint8_t *user_id, uint8_t *key,
                           uint8_t *wrapped)
{
    if (!self || !user_id || !key || !wrapped)
        return CW_EINVAL;
    uint8_t ad [sizeof s_wrap_context - 1 + CW_ID_BYTES];
    s_wrap_ad (ad, user_id);
    crypto_aead_xchacha20poly1305_ietf_keygen (key);
    randombytes_buf (wrapped, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt (wrapped + 24, NULL, key, 32, ad, sizeof ad,
                                                NULL, wrapped, S_MASTER (self));
    return CW_OK;
}

int
cw_keyring_person_key_unwrap (const cw_keyring_t *self, const uint8_t *user_id,
                              const uint8_t *wrapped, uint8_t *key)
{
    if (!self || !user_id || !key || !wrapped)
        return CW_EINVAL;
    uint8_t ad [sizeof s_wrap_context - 1 + CW_ID_BYTES];
    s_wrap_ad (ad, user_id);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt (key, NULL, NULL, wrapped + 24,
                                                    CW_WRAPPED_KEY_BYTES - 24, ad, sizeof ad,
                                                    wrapped, S_MASTER (self)) != 0)
        return CW_EAUTH;
    return CW_OK;
}
