/*  cw_actor.h - a thread with a pipe, after CZMQ's zactor.
 *
 *  cw_actor_new starts fn in a new thread with one end of an inproc PAIR pipe and waits until
 *  fn calls cw_actor_ready (pipe, rc). fn then runs its poll loop, including the pipe, and
 *  returns when it reads CW_ACTOR_TERM on it. cw_actor_destroy sends CW_ACTOR_TERM and joins.
 */
#ifndef CW_ACTOR_H_INCLUDED
#define CW_ACTOR_H_INCLUDED

#include <stddef.h>

#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_ACTOR_TERM "$TERM"

typedef struct _cw_actor_t cw_actor_t;
typedef void (*cw_actor_fn) (void *pipe, void *args);

/*  Returns the rc fn passed to cw_actor_ready; on failure the thread is joined and *out NULL. */
CW_EXPORT int cw_actor_new (cw_actor_t **out, void *zmq_ctx, cw_actor_fn fn, void *args)
    CW_MUST_CHECK;
CW_EXPORT void cw_actor_destroy (cw_actor_t **self_p);
/*  Called once by fn: CW_OK when it is serving, an error when it could not start (then fn
 *  returns at once). */
CW_EXPORT void cw_actor_ready (void *pipe, int rc);
/*  Sends a message to the actor (from its owner's thread). */
CW_EXPORT int cw_actor_send (cw_actor_t *self, const void *data, size_t len);
/*  The owner's end of the pipe: poll it for what the actor sends back. */
CW_EXPORT void *cw_actor_pipe (cw_actor_t *self);
/*  True when the message just read from the pipe is CW_ACTOR_TERM. */
CW_EXPORT int cw_actor_is_term (const void *data, size_t len);
/*  Lowers the calling thread's CPU priority (nice +10) and names it: for work that may wait
 *  (analysis, checkpoints) so that it never delays the threads an ack waits for. Lowering is
 *  always allowed, so this needs no privilege. */
CW_EXPORT void cw_actor_background (const char *name);

#ifdef __cplusplus
}
#endif

#endif
