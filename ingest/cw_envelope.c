/*  cw_envelope.c - seal and open frames (XChaCha20-Poly1305-IETF, see cw_envelope.h). */
#include "coachwire/cw_envelope.h"
#include "coachwire/cw_error.h"

#include <sodium.h>
#include <stdbool.h>
#include <string.h>

static const char s_payload_context [] = "coachwire-payload-v1";

int
cw_payload_key_derive (uint8_t *key, const uint8_t *own_secret, const uint8_t *peer_public,
                       const uint8_t *device_public, const uint8_t *server_public,
                       const uint8_t *device_id)
{
    if (!key || !own_secret || !peer_public || !device_public || !server_public || !device_id)
        return CW_EINVAL;
    uint8_t *shared = sodium_malloc (crypto_scalarmult_BYTES);
    if (!shared)
        return CW_ENOMEM;
    int rc = CW_OK;
    if (crypto_scalarmult (shared, own_secret, peer_public) != 0) {
        rc = CW_EAUTH;
        goto done;
    }
    crypto_generichash_state state;
    crypto_generichash_init (&state, shared, crypto_scalarmult_BYTES, CW_KEY_BYTES);
    crypto_generichash_update (&state, (const uint8_t *) s_payload_context,
                               sizeof s_payload_context - 1);
    crypto_generichash_update (&state, device_public, CW_KEY_BYTES);
    crypto_generichash_update (&state, server_public, CW_KEY_BYTES);
    crypto_generichash_update (&state, device_id, CW_DEVICE_ID_BYTES);
    crypto_generichash_final (&state, key, CW_KEY_BYTES);
    sodium_memzero (&state, sizeof state);
done:
    sodium_free (shared);
    return rc;
}

static void
s_put_header (uint8_t *out, const cw_frame_header_t *h)
{
    out [0] = h->version;
    out [1] = h->kind;
    out [2] = (uint8_t) (h->stream >> 8);
    out [3] = (uint8_t) h->stream;
    for (int i = 0; i < 8; i++)
        out [4 + i] = (uint8_t) (h->sequence >> (56 - 8 * i));
}

void
cw_envelope_ad (uint8_t *ad, const cw_frame_header_t *header, const uint8_t *device_id)
{
    s_put_header (ad, header);
    memcpy (ad + CW_FRAME_HEADER_BYTES, device_id, CW_DEVICE_ID_BYTES);
}

/*  Whether stream is valid for kind. */
static bool
s_stream_ok (uint8_t kind, uint16_t stream)
{
    if (kind == CW_FRAME_KIND_BATCH)
        return stream >= CW_STREAM_MIN && stream <= CW_STREAM_MAX;
    return kind == CW_FRAME_KIND_NUDGE_ACK && stream <= 3;
}

int
cw_envelope_seal (uint8_t *frame, size_t frame_cap, size_t *frame_len, const uint8_t *key,
                  const uint8_t *device_id, uint16_t stream, uint64_t sequence,
                  const uint8_t *plain, size_t plain_len)
{
    return cw_envelope_seal_kind (frame, frame_cap, frame_len, key, device_id,
                                  CW_FRAME_KIND_BATCH, stream, sequence, plain, plain_len);
}

int
cw_envelope_seal_kind (uint8_t *frame, size_t frame_cap, size_t *frame_len, const uint8_t *key,
                       const uint8_t *device_id, uint8_t kind, uint16_t stream,
                       uint64_t sequence, const uint8_t *plain, size_t plain_len)
{
    if (!frame || !frame_len || !key || !device_id || (!plain && plain_len))
        return CW_EINVAL;
    if (!s_stream_ok (kind, stream) || sequence == 0 || sequence > INT64_MAX)
        return CW_EINVAL;
    if (plain_len > CW_PAYLOAD_MAX_BYTES)
        return CW_ETOOBIG;
    size_t total = plain_len + CW_FRAME_OVERHEAD;
    if (frame_cap < total)
        return CW_EINVAL;

    cw_frame_header_t h = { CW_PROTOCOL_VERSION, kind, stream, sequence };
    uint8_t ad [CW_AD_BYTES];
    cw_envelope_ad (ad, &h, device_id);
    memcpy (frame, ad, CW_FRAME_HEADER_BYTES);
    uint8_t *nonce = frame + CW_FRAME_HEADER_BYTES;
    randombytes_buf (nonce, CW_FRAME_NONCE_BYTES);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt (nonce + CW_FRAME_NONCE_BYTES, &clen, plain,
                                                plain_len, ad, sizeof ad, NULL, nonce, key);
    *frame_len = CW_FRAME_HEADER_BYTES + CW_FRAME_NONCE_BYTES + (size_t) clen;
    return CW_OK;
}

int
cw_envelope_peek (cw_frame_header_t *header, const uint8_t *frame, size_t frame_len)
{
    if (!header || (!frame && frame_len))
        return CW_EINVAL;
    memset (header, 0, sizeof *header);
    if (frame_len < CW_FRAME_HEADER_BYTES)
        return CW_EFRAME;
    header->version = frame [0];
    header->kind = frame [1];
    header->stream = (uint16_t) ((frame [2] << 8) | frame [3]);
    for (int i = 0; i < 8; i++)
        header->sequence = (header->sequence << 8) | frame [4 + i];
    if (header->version != CW_PROTOCOL_VERSION)
        return CW_EVERSION;
    if (header->kind != CW_FRAME_KIND_BATCH && header->kind != CW_FRAME_KIND_NUDGE_ACK)
        return CW_EFRAME;
    if (frame_len > CW_FRAME_MAX_BYTES)
        return CW_ETOOBIG;
    if (frame_len < CW_FRAME_OVERHEAD)
        return CW_EFRAME;
    if (!s_stream_ok (header->kind, header->stream))
        return CW_ESTREAM;
    if (header->sequence == 0 || header->sequence > INT64_MAX)
        return CW_EFRAME;       /* stores keep sequences as signed 64-bit integers */
    return CW_OK;
}

int
cw_envelope_open (uint8_t *plain, size_t plain_cap, size_t *plain_len,
                  cw_frame_header_t *header, const uint8_t *key, const uint8_t *device_id,
                  const uint8_t *frame, size_t frame_len)
{
    if (!plain_len || !key || !device_id || !header)
        return CW_EINVAL;
    *plain_len = 0;
    int rc = cw_envelope_peek (header, frame, frame_len);
    if (rc != CW_OK)
        return rc;
    size_t need = frame_len - CW_FRAME_OVERHEAD;
    if (!plain || plain_cap < need)
        return CW_EINVAL;
    uint8_t ad [CW_AD_BYTES];
    cw_envelope_ad (ad, header, device_id);
    const uint8_t *nonce = frame + CW_FRAME_HEADER_BYTES;
    const uint8_t *cipher = nonce + CW_FRAME_NONCE_BYTES;
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt (plain, &mlen, NULL, cipher,
                                                    frame_len - CW_FRAME_HEADER_BYTES
                                                        - CW_FRAME_NONCE_BYTES,
                                                    ad, sizeof ad, nonce, key) != 0) {
        sodium_memzero (plain, need);
        return CW_EAUTH;
    }
    *plain_len = (size_t) mlen;
    return CW_OK;
}
