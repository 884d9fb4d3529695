/*  cw_actor.c - thread + pipe (see cw_actor.h). */
#include "coachwire/cw_actor.h"
#include "coachwire/cw_error.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zmq.h>

struct _cw_actor_t {
    pthread_t thread;
    void *pipe;             /* owner's end */
    void *child_pipe;       /* actor's end, closed by the thread wrapper */
    cw_actor_fn fn;
    void *args;
};

static atomic_uint_fast64_t s_next_id;

static void *
s_run (void *arg)
{
    cw_actor_t *self = arg;
    self->fn (self->child_pipe, self->args);
    zmq_close (self->child_pipe);
    return NULL;
}

void
cw_actor_ready (void *pipe, int rc)
{
    int32_t v = rc;
    zmq_send (pipe, &v, sizeof v, 0);
}

int
cw_actor_new (cw_actor_t **out, void *zmq_ctx, cw_actor_fn fn, void *args)
{
    if (!out || !zmq_ctx || !fn)
        return CW_EINVAL;
    *out = NULL;
    cw_actor_t *self = calloc (1, sizeof *self);
    if (!self)
        return CW_ENOMEM;
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://cw-actor-%llu",
              (unsigned long long) atomic_fetch_add (&s_next_id, 1));
    self->fn = fn;
    self->args = args;
    self->pipe = zmq_socket (zmq_ctx, ZMQ_PAIR);
    self->child_pipe = zmq_socket (zmq_ctx, ZMQ_PAIR);
    int zero = 0;
    if (!self->pipe || !self->child_pipe || zmq_bind (self->pipe, endpoint) != 0
        || zmq_connect (self->child_pipe, endpoint) != 0) {
        zmq_close (self->pipe);
        zmq_close (self->child_pipe);
        free (self);
        return CW_EIO;
    }
    zmq_setsockopt (self->pipe, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (self->child_pipe, ZMQ_LINGER, &zero, sizeof zero);
    if (pthread_create (&self->thread, NULL, s_run, self) != 0) {
        zmq_close (self->pipe);
        zmq_close (self->child_pipe);
        free (self);
        return CW_ENOMEM;
    }
    int32_t rc = CW_EINTERNAL;
    if (zmq_recv (self->pipe, &rc, sizeof rc, 0) != (int) sizeof rc)
        rc = CW_EINTERNAL;
    if (rc != CW_OK) {
        pthread_join (self->thread, NULL);
        zmq_close (self->pipe);
        free (self);
        return rc;
    }
    *out = self;
    return CW_OK;
}

int
cw_actor_send (cw_actor_t *self, const void *data, size_t len)
{
    return zmq_send (self->pipe, data, len, 0) == (int) len ? CW_OK : CW_EIO;
}

void *
cw_actor_pipe (cw_actor_t *self)
{
    return self ? self->pipe : NULL;
}

int
cw_actor_is_term (const void *data, size_t len)
{
    return len == strlen (CW_ACTOR_TERM) && memcmp (data, CW_ACTOR_TERM, len) == 0;
}

void
cw_actor_destroy (cw_actor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_actor_t *self = *self_p;
    zmq_send (self->pipe, CW_ACTOR_TERM, strlen (CW_ACTOR_TERM), 0);
    pthread_join (self->thread, NULL);
    zmq_close (self->pipe);
    free (self);
    *self_p = NULL;
}

void
cw_actor_background (const char *name)
{
    pthread_setname_np (pthread_self (), name);
    /* Linux: PRIO_PROCESS with a thread id sets that thread's nice value alone. */
    if (setpriority (PRIO_PROCESS, (id_t) gettid (), 10) != 0)
        fprintf (stderr, "coachwired: %s: cannot lower priority (ignored)\n", name);
}
