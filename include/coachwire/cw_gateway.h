/*  cw_gateway.h - the gateway actor: devices publish sealed frames, it stores and acks them.
 *
 *  ROUTER + CURVE (ZAP domain "gateway": enrolled, unrevoked devices only). Per frame:
 *  identify the device by its ZAP User-Id (never by the frame) -> open (AEAD, associated data
 *  checked) -> dedup on (device, stream, sequence), permanent -> decode (capped allocator) and
 *  validate -> re-seal under the person's data key -> group commit (cw_committer.h: its own
 *  thread, so the next group is checked while one syncs) -> ack. A bad frame gets a
 *  FrameError with a code and reason, is counted, and nothing else is disturbed. If storage
 *  fails, pending frames are not acked and their devices get a Backoff.
 */
#ifndef CW_GATEWAY_H_INCLUDED
#define CW_GATEWAY_H_INCLUDED

#include "cw_export.h"
#include "cw_server.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Frames past this size are dropped by libzmq with the connection (a memory bound); frames
 *  between CW_FRAME_MAX_BYTES and this get a CW_ETOOBIG reply. */
#define CW_GATEWAY_MAXMSGSIZE (2 * CW_FRAME_MAX_BYTES)

typedef struct _cw_gateway_t cw_gateway_t;

CW_EXPORT int cw_gateway_start (cw_gateway_t **out, const cw_server_config_t *config)
    CW_MUST_CHECK;
/*  The endpoint actually bound (resolves "tcp://127.0.0.1:*"). */
CW_EXPORT const char *cw_gateway_endpoint (const cw_gateway_t *self);
/*  Commits what is in flight (acks it), then stops and joins. Safe on NULL. */
CW_EXPORT void cw_gateway_destroy (cw_gateway_t **self_p);

/*  Re-seals plain under a person's data key for storage:
 *      sealed = nonce (24) || XChaCha20-Poly1305 (key, plain,
 *               ad = "coachwire-stored-v1" || device_id || user_id || stream (2, BE) || seq (8, BE))
 *  sealed must have room for plain_len + CW_STORED_OVERHEAD. */
#define CW_STORED_OVERHEAD 40u
CW_EXPORT void cw_stored_seal (uint8_t *sealed, const uint8_t *key, const uint8_t *device_id,
                               const uint8_t *user_id, uint16_t stream, uint64_t sequence,
                               const uint8_t *plain, size_t plain_len);
/*  Opens a stored payload; CW_EAUTH when the key is wrong (or erased) or bytes were changed. */
CW_EXPORT int cw_stored_open (uint8_t *plain, size_t *plain_len, const uint8_t *key,
                              const uint8_t *device_id, const uint8_t *user_id, uint16_t stream,
                              uint64_t sequence, const uint8_t *sealed, size_t sealed_len)
    CW_MUST_CHECK;

#ifdef __cplusplus
}
#endif

#endif
