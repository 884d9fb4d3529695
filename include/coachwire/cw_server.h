/*  cw_server.h - what coachwired hands each actor: where things are and the keys.
 *
 *  Actors (gateway, api, ZAP handler) are threads that share nothing mutable: each opens its
 *  own cw_store_t on db_path, reads this config (immutable after start) and talks to the
 *  others only through inproc ZeroMQ sockets in zmq_ctx.
 *
 *  Control messages (PUSH -> the gateway's PULL at CW_GATEWAY_CONTROL_ENDPOINT), one frame:
 *      "revoke" (6 bytes) || device id (16 bytes)   drop the device from caches, refuse frames
 *      "consent" (7 bytes) || person id (16 bytes)  reload the person's grants before the
 *                                                   next frame (sent before the api replies);
 *                                                   forwarded to the coach actor
 *      "nudge" (5) || person id (16) || nudge id (16) || packed coachwire.Nudge
 *                                                   deliver to the person's connected devices
 */
#ifndef CW_SERVER_H_INCLUDED
#define CW_SERVER_H_INCLUDED

#include <stdint.h>

#include "cw_keyring.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_ENDPOINT_MAX 256
#define CW_GATEWAY_CONTROL_ENDPOINT "inproc://cw-gateway-control"
#define CW_COACH_CONTROL_ENDPOINT "inproc://cw-coach-control"
#define CW_ZAP_DOMAIN_GATEWAY "gateway"     /* admits enrolled, unrevoked device keys */
#define CW_ZAP_DOMAIN_API "api"             /* admits person, coach, operator and device keys */
#define CW_API_MAX_MSG_BYTES (64u * 1024u)  /* api requests larger than this are refused */

typedef struct {
    void *zmq_ctx;                                  /* shared ZeroMQ context */
    char data_dir [CW_ENDPOINT_MAX];
    char db_path [CW_ENDPOINT_MAX + 32];
    const cw_keyring_t *keyring;                    /* owned by coachwired, read-only here */
    char gateway_bind [CW_ENDPOINT_MAX];            /* where the gateway ROUTER binds */
    char api_bind [CW_ENDPOINT_MAX];                /* where the api ROUTER binds */
    char gateway_public [CW_ENDPOINT_MAX];          /* what credentials tell devices */
    char api_public [CW_ENDPOINT_MAX];              /* what credentials tell cwctl */
    uint32_t commit_max_frames;                     /* group commit: at most this many */
    uint32_t commit_max_ms;                         /* a group not full waits this long
                                                       for more (0: none) */
    uint64_t start_ms;                              /* service start, for uptime */
    char rules_path [CW_ENDPOINT_MAX];              /* coaching rules file; "" = built in */
} cw_server_config_t;

#ifdef __cplusplus
}
#endif

#endif
