/*  cw_api.h - the api actor: answers ApiRequests from cwctl and the edge library.
 *
 *  A thread with its own store, a ROUTER (CURVE server, ZAP domain "api") on config->api_bind
 *  and a PUSH to the gateway's control socket. Each request is one frame, a packed ApiRequest;
 *  each reply one frame, a packed ApiReply with the same request_id, a code and a sentence.
 *  The caller is who the ZAP handler says (User-Id), never what the request claims. Requests
 *  are dispatched through a table of (command, handler, roles); a bad request is answered
 *  with CW_EREQUEST and the actor serves on.
 */
#ifndef CW_API_H_INCLUDED
#define CW_API_H_INCLUDED

#include "cw_export.h"
#include "cw_server.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _cw_api_t cw_api_t;

/*  Starts the actor and returns once it serves (or could not start). config is copied;
 *  config->keyring and config->zmq_ctx must outlive the actor, and the ZAP handler must run
 *  already. Returns CW_OK, CW_EINVAL, CW_ENOMEM, CW_EIO (store cannot open, endpoint cannot
 *  bind: see stderr). */
CW_EXPORT int cw_api_start (cw_api_t **out, const cw_server_config_t *config) CW_MUST_CHECK;

/*  Stops the actor (in-flight request answered first), joins it, sets *self_p to NULL; safe
 *  on NULL and twice. */
CW_EXPORT void cw_api_destroy (cw_api_t **self_p);

/*  The endpoint actually bound ("tcp://127.0.0.1:40123" when api_bind asked for port *). */
CW_EXPORT const char *cw_api_endpoint (const cw_api_t *self);

#ifdef __cplusplus
}
#endif

#endif
