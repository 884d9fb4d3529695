/*  cw_client.h - the api client: one CURVE-authenticated DEALER to the api actor.
 *
 *  Used by cwctl and by the edge library (a phone app toggling consent). The service key is
 *  pinned from the credential; the credential's own key pair proves who asks, so a request
 *  never names its caller. Wire: the DEALER sends one frame, a packed ApiRequest, and receives
 *  one frame, a packed ApiReply carrying the same request_id (api.proto).
 *
 *      cw_client_t *client = NULL;
 *      int rc = cw_client_new (&client, cred, NULL);
 *      Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
 *      Coachwire__StatsRequest stats = COACHWIRE__STATS_REQUEST__INIT;
 *      req.body_case = COACHWIRE__API_REQUEST__BODY_STATS;
 *      req.stats = &stats;
 *      Coachwire__ApiReply *reply = NULL;
 *      rc = cw_client_call (client, &req, &reply, 5000);
 *      ... reply->code, reply->error, reply->stats ...
 *      cw_client_reply_free (&reply);
 *      cw_client_destroy (&client);
 */
#ifndef CW_CLIENT_H_INCLUDED
#define CW_CLIENT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "cw_cred.h"
#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_CLIENT_REPLY_MAX_BYTES (16u * 1024u * 1024u)   /* larger replies are dropped */
#define CW_CLIENT_DECODE_BUDGET (4u * CW_CLIENT_REPLY_MAX_BYTES) /* decoded reply, at most */
#define CW_CLIENT_HINT_MAX 512u

typedef struct _cw_client_t cw_client_t;

/*  Creates a client for cred (which must hold a secret key) and connects (asynchronously) to
 *  endpoint_override, or to the credential's api_endpoint when it is NULL. The credential is
 *  copied: the caller may destroy it afterwards. Returns CW_OK, CW_EINVAL (no endpoint, no
 *  secret key), CW_ENOMEM, or CW_EIO when ZeroMQ refuses the socket or endpoint. */
CW_EXPORT int cw_client_new (cw_client_t **out, const cw_cred_t *cred,
                             const char *endpoint_override) CW_MUST_CHECK;

/*  Closes the socket (pending requests are dropped) and sets *self_p to NULL; safe twice. */
CW_EXPORT void cw_client_destroy (cw_client_t **self_p);

/*  Sends req (its request_id is assigned here) and waits up to timeout_ms for the reply with
 *  the same id; replies to earlier, abandoned calls are skipped. On CW_OK *reply holds the
 *  decoded reply (free with cw_client_reply_free) whose own code says whether the service
 *  did it. Returns CW_ETIMEOUT when no reply came (cw_client_hint says what to check: the
 *  endpoint, the service, or a key the service refused), CW_ETOOBIG when the request exceeds
 *  CW_API_MAX_MSG_BYTES, CW_EDECODE when the reply is not an ApiReply, CW_EINVAL, CW_ENOMEM,
 *  CW_EIO. */
CW_EXPORT int cw_client_call (cw_client_t *self, Coachwire__ApiRequest *req,
                              Coachwire__ApiReply **reply, int timeout_ms) CW_MUST_CHECK;

/*  Wipes and frees a reply from cw_client_call, sets *reply_p to NULL; safe on NULL. */
CW_EXPORT void cw_client_reply_free (Coachwire__ApiReply **reply_p);

/*  A sentence about the last failed call, for people ("no answer from tcp://...: ..."); ""
 *  after a successful call. Never NULL. */
CW_EXPORT const char *cw_client_hint (const cw_client_t *self);

/*  The endpoint this client connects to. */
CW_EXPORT const char *cw_client_endpoint (const cw_client_t *self);

#ifdef __cplusplus
}
#endif

#endif
