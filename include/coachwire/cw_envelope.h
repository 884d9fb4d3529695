/*  cw_envelope.h - the sealed frame: header, per-device payload key, seal and open.
 *
 *  Wire layout of a frame (all integers big-endian), PROTOCOL.md section "Frame":
 *      offset  size  field
 *      0       1     version            CW_PROTOCOL_VERSION
 *      1       1     kind               CW_FRAME_KIND_BATCH or CW_FRAME_KIND_NUDGE_ACK
 *      2       2     stream             batch: SensorBatch oneof case (1 imu ... 6 weight);
 *                                       nudge ack: 0 received, 1 opened, 2 dismissed, 3 helpful
 *      4       8     sequence           per (device, stream), 1 .. 2^63-1, +1 per frame
 *      12      24    nonce              random, from the operating system's CSPRNG
 *      36      n+16  ciphertext || tag  XChaCha20-Poly1305-IETF of the SensorBatch bytes
 *  Associated data = frame bytes 0..11 followed by the 16-byte device id: a frame cannot be
 *  replayed under another sequence, moved into another stream or to another device.
 */
#ifndef CW_ENVELOPE_H_INCLUDED
#define CW_ENVELOPE_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_PROTOCOL_VERSION      1
#define CW_FRAME_KIND_BATCH      1     /* stream 1..6: a sealed SensorBatch */
#define CW_FRAME_KIND_NUDGE_ACK  2     /* stream 0..3 = feedback: a sealed 16-byte nudge id */
#define CW_FRAME_HEADER_BYTES    12u    /* version, kind, stream, sequence */
#define CW_FRAME_NONCE_BYTES     24u
#define CW_FRAME_TAG_BYTES       16u
#define CW_FRAME_OVERHEAD        (CW_FRAME_HEADER_BYTES + CW_FRAME_NONCE_BYTES + CW_FRAME_TAG_BYTES)
#define CW_FRAME_MAX_BYTES       (1024u * 1024u)   /* whole frame; larger ones get CW_ETOOBIG */
#define CW_PAYLOAD_MAX_BYTES     (CW_FRAME_MAX_BYTES - CW_FRAME_OVERHEAD)
#define CW_DEVICE_ID_BYTES       16u
#define CW_AD_BYTES              (CW_FRAME_HEADER_BYTES + CW_DEVICE_ID_BYTES)
#define CW_KEY_BYTES             32u    /* Curve25519 keys and symmetric keys alike */
#define CW_STREAM_MIN            1
#define CW_STREAM_MAX            6

typedef struct {
    uint8_t version;
    uint8_t kind;
    uint16_t stream;
    uint64_t sequence;
} cw_frame_header_t;

/*  Derives the symmetric payload key a device seals its frames with. Both ends compute it:
 *  the device from its Curve25519 secret and the server's public key, the server from its
 *  secret and the device's public key:
 *      shared = X25519 (own_secret, peer_public)
 *      key    = BLAKE2b-256 (key = shared,
 *                            msg = "coachwire-payload-v1" || device_public || server_public
 *                                  || device_id)
 *  key must be CW_KEY_BYTES of (sodium_malloc'd) memory. Returns CW_OK, or CW_EAUTH when the
 *  peer key is a low-order point. */
CW_EXPORT int cw_payload_key_derive (uint8_t *key, const uint8_t *own_secret,
                                     const uint8_t *peer_public, const uint8_t *device_public,
                                     const uint8_t *server_public, const uint8_t *device_id)
    CW_MUST_CHECK;

/*  Seals plain into frame (capacity frame_cap >= plain_len + CW_FRAME_OVERHEAD). Sets
 *  *frame_len. Returns CW_OK, CW_EINVAL on a bad argument, CW_ETOOBIG when the frame would
 *  exceed CW_FRAME_MAX_BYTES. */
CW_EXPORT int cw_envelope_seal (uint8_t *frame, size_t frame_cap, size_t *frame_len,
                                const uint8_t *key, const uint8_t *device_id, uint16_t stream,
                                uint64_t sequence, const uint8_t *plain, size_t plain_len)
    CW_MUST_CHECK;

/*  The same for any kind (CW_FRAME_KIND_*), with that kind's stream range. */
CW_EXPORT int cw_envelope_seal_kind (uint8_t *frame, size_t frame_cap, size_t *frame_len,
                                     const uint8_t *key, const uint8_t *device_id, uint8_t kind,
                                     uint16_t stream, uint64_t sequence, const uint8_t *plain,
                                     size_t plain_len) CW_MUST_CHECK;

/*  Parses the clear header without opening anything, so that an error reply can name the
 *  stream and sequence. Returns CW_OK, CW_EFRAME (too short, unknown kind), CW_EVERSION,
 *  CW_ETOOBIG or CW_ESTREAM (stream outside CW_STREAM_MIN..MAX). *header is filled whenever
 *  at least CW_FRAME_HEADER_BYTES were given, even on error. */
CW_EXPORT int cw_envelope_peek (cw_frame_header_t *header, const uint8_t *frame,
                                size_t frame_len) CW_MUST_CHECK;

/*  Opens frame into plain (capacity plain_cap >= frame_len - CW_FRAME_OVERHEAD), checking the
 *  tag over the associated data built from the header and device_id. Sets *plain_len and
 *  *header. Returns CW_OK or the peek errors, or CW_EAUTH. plain is zeroed on failure. */
CW_EXPORT int cw_envelope_open (uint8_t *plain, size_t plain_cap, size_t *plain_len,
                                cw_frame_header_t *header, const uint8_t *key,
                                const uint8_t *device_id, const uint8_t *frame,
                                size_t frame_len) CW_MUST_CHECK;

/*  Writes the CW_AD_BYTES of associated data for (header, device_id) into ad. */
CW_EXPORT void cw_envelope_ad (uint8_t *ad, const cw_frame_header_t *header,
                               const uint8_t *device_id);

#ifdef __cplusplus
}
#endif

#endif
