/*  cw_zap.h - the ZAP handler: admits only enrolled, unrevoked keys, before any payload.
 *
 *  Runs as a thread bound to inproc://zeromq.zap.01 in the service's ZeroMQ context. For each
 *  CURVE handshake it looks the client key up in the store:
 *      domain "gateway": only device keys;  domain "api": person, coach, operator, device keys.
 *  Admitted: status 200 with User-Id = the principal id as 32 hex chars (the only identity the
 *  actors trust). Refused: 400, counted as zap_refused.<reason>. Anything but CURVE: 400.
 */
#ifndef CW_ZAP_H_INCLUDED
#define CW_ZAP_H_INCLUDED

#include "cw_export.h"
#include "cw_server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _cw_zap_t cw_zap_t;

/*  Binds the ZAP endpoint in config->zmq_ctx and starts the thread. Must run before any CURVE
 *  server socket binds. */
CW_EXPORT int cw_zap_start (cw_zap_t **out, const cw_server_config_t *config) CW_MUST_CHECK;
/*  Stops and joins the thread; safe on NULL. */
CW_EXPORT void cw_zap_destroy (cw_zap_t **self_p);

#ifdef __cplusplus
}
#endif

#endif
