/*  cw_committer.c - group commits on their own thread (see cw_committer.h). */
#include "coachwire/cw_committer.h"
#include "coachwire/cw_actor.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_store.h"

#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define S_WAL_RESTART_FRAMES 4096   /* 16 MiB of WAL: then start it over (each restart
                                       stops the commits for a few ms; 8x this made each
                                       one cost more and helped nothing) ... */
#define S_WAL_RESIDUE_FRAMES 512    /* ... once the checkpointer has copied all but this */
#define S_WAL_MAX_FRAMES 131072     /* 512 MiB: the writer copies it, however long it takes */
#define S_CHECKPOINT_MS 50          /* short and often: each one's fsync delays commits less */

struct _cw_committer_t {
    cw_actor_t *actor;
    cw_actor_t *checkpointer;   /* PASSIVE checkpoints on a third connection */
    atomic_int wal_backfilled;  /* WAL frames the checkpointer has copied, as it last saw */
    char *db_path;
    char *commit_seq_path;
    bool out;                   /* a group is with the thread */
};

/*  The thread's own state. */
typedef struct {
    cw_store_t *store;
    uint64_t commit_seq;        /* commits of frames so far, also in meta "commit_seq" */
    int commit_seq_fd;          /* DATA_DIR/commit_seq: the same number, outside SQLite */
    /* our own counters, written with the next group that carries the gateway's (every
     * quarter second): one more page in every commit would cost more than the frames */
    uint64_t accepted, duplicates, commits, commit_ns;
} s_thread_t;

int
cw_commit_group_new (cw_commit_group_t **out, size_t frame_max, size_t seen_max)
{
    if (!out || frame_max == 0)
        return CW_EINVAL;
    cw_commit_group_t *self = calloc (1, sizeof *self);
    if (self) {
        self->frames = calloc (frame_max, sizeof *self->frames);
        self->seen = seen_max ? calloc (seen_max, sizeof *self->seen) : NULL;
    }
    if (!self || !self->frames || (seen_max && !self->seen)) {
        if (self) {
            free (self->frames);
            free (self->seen);
        }
        free (self);
        return CW_ENOMEM;
    }
    self->frame_max = frame_max;
    self->seen_max = seen_max;
    *out = self;
    return CW_OK;
}

int
cw_commit_group_count (cw_commit_group_t *self, const char *name, uint64_t value)
{
    if (!self || !name || strlen (name) >= CW_COMMIT_NAME_MAX)
        return CW_EINVAL;
    if (value == 0)
        return CW_OK;
    if (self->counter_count == CW_COMMIT_COUNTERS_MAX)
        return CW_ENOSPC;
    cw_commit_counter_t *c = &self->counters [self->counter_count++];
    snprintf (c->name, sizeof c->name, "%s", name);
    c->value = value;
    return CW_OK;
}

void
cw_commit_group_reset (cw_commit_group_t *self)
{
    if (!self)
        return;
    for (size_t i = 0; i < self->frame_count; i++) {
        free (self->frames [i].sealed);
        self->frames [i].sealed = NULL;
    }
    self->frame_count = self->counter_count = self->seen_count = 0;
    self->flush = false;
    self->rc = CW_OK;
    self->accepted = self->duplicates = 0;
    self->error [0] = '\0';
}

void
cw_commit_group_destroy (cw_commit_group_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_commit_group_reset (*self_p);
    free ((*self_p)->frames);
    free ((*self_p)->seen);
    free (*self_p);
    *self_p = NULL;
}

/*  One transaction: the frames (a dedup row each, and the payload when there is one), the
 *  devices' last-seen, the counters, and the commit count. Nothing of it on failure. */
static void
s_commit (s_thread_t *self, cw_commit_group_t *g)
{
    uint64_t t0 = cw_thread_cpu_ns ();
    g->accepted = g->duplicates = 0;
    g->error [0] = '\0';
    int rc = cw_store_begin (self->store);
    for (size_t i = 0; rc == CW_OK && i < g->frame_count; i++) {
        cw_commit_frame_t *f = &g->frames [i];
        if (!f->duplicate)
            rc = cw_store_frame_put (self->store, f->device_id, f->user_id, f->stream,
                                     f->sequence, g->now_ms, f->sealed, f->sealed_len,
                                     &f->duplicate);
        if (rc == CW_OK && f->duplicate)
            g->duplicates++;
        else if (rc == CW_OK)
            g->accepted++;
    }
    for (size_t i = 0; rc == CW_OK && i < g->seen_count; i++)
        rc = cw_store_device_seen (self->store, g->seen [i].device_id, g->now_ms,
                                   g->seen [i].frames);
    for (size_t i = 0; rc == CW_OK && i < g->counter_count; i++)
        rc = cw_store_counter_add (self->store, g->counters [i].name, g->counters [i].value);
    /* ours ride with the gateway's: this group's included, so that they never disagree
     * with the frames stored */
    bool flush = g->flush;
    uint64_t accepted = self->accepted + g->accepted;
    uint64_t duplicates = self->duplicates + g->duplicates;
    uint64_t commits = self->commits + (g->frame_count ? 1 : 0);
    if (rc == CW_OK && flush && accepted)
        rc = cw_store_counter_add (self->store, "frames_accepted", accepted);
    if (rc == CW_OK && flush && duplicates)
        rc = cw_store_counter_add (self->store, "frames_duplicate", duplicates);
    if (rc == CW_OK && flush && commits)
        rc = cw_store_counter_add (self->store, "commits", commits);
    uint64_t commit_ns = self->commit_ns + cw_thread_cpu_ns () - t0;
    if (rc == CW_OK && flush)
        rc = cw_store_counter_add (self->store, "stage_ns.commit", commit_ns);
    char seq_text [24] = "";
    if (rc == CW_OK && g->frame_count) {
        snprintf (seq_text, sizeof seq_text, "%llu", (unsigned long long) self->commit_seq + 1);
        rc = cw_store_meta_set (self->store, "commit_seq", seq_text);
    }
    if (rc == CW_OK)
        rc = cw_store_commit (self->store);
    if (rc != CW_OK) {
        snprintf (g->error, sizeof g->error, "%s", cw_store_errmsg (self->store));
        cw_store_rollback (self->store);
        g->accepted = g->duplicates = 0;
    }
    else {
        if (flush)
            self->accepted = self->duplicates = self->commits = self->commit_ns = 0;
        else {
            self->accepted = accepted;
            self->duplicates = duplicates;
            self->commits = commits;
            self->commit_ns = commit_ns;
        }
    }
    if (rc == CW_OK && g->frame_count) {
        /* Outside SQLite too, after the commit: at start a database whose count is behind
         * this file lost commits we acknowledged (a damaged or cut WAL), and is refused. No
         * fsync: the page cache survives our own crash; after a power loss the file can only
         * be older than the database, never a false alarm. */
        self->commit_seq++;
        if (self->commit_seq_fd >= 0) {
            char line [32];
            int n = snprintf (line, sizeof line, "%-20s\n", seq_text);
            if (pwrite (self->commit_seq_fd, line, (size_t) n, 0) != n)
                fprintf (stderr, "coachwired: committer: commit_seq: %s\n", strerror (errno));
        }
    }
    g->rc = rc;
}

static void
s_committer_actor (void *pipe, void *args)
{
    cw_committer_t *owner = args;
    s_thread_t self = { .commit_seq_fd = -1 };
    int rc = cw_store_open (&self.store, owner->db_path, false);
    if (rc == CW_OK)
        rc = cw_store_autocheckpoint (self.store, false);   /* the checkpointer's work */
    char text [24];
    if (rc == CW_OK && cw_store_meta_get (self.store, "commit_seq", text, sizeof text) == CW_OK)
        self.commit_seq = strtoull (text, NULL, 10);
    if (rc == CW_OK && owner->commit_seq_path)
        self.commit_seq_fd = open (owner->commit_seq_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    cw_actor_ready (pipe, rc);
    /* Not cw_actor_background: the acks of every device wait for this thread. */
    pthread_setname_np (pthread_self (), "cw-commit");
    while (rc == CW_OK) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        int n = zmq_msg_recv (&msg, pipe, 0);
        cw_commit_group_t *g = NULL;
        bool term = n < 0 || cw_actor_is_term (zmq_msg_data (&msg), (size_t) n);
        if (!term && n == (int) sizeof g)
            memcpy (&g, zmq_msg_data (&msg), sizeof g);
        zmq_msg_close (&msg);
        if (term)
            break;
        if (!g)
            continue;
        s_commit (&self, g);
        if (zmq_send (pipe, &g, sizeof g, 0) != (int) sizeof g)
            break;
        /* The checkpointer copies the WAL into the database without blocking us, but under
         * a steady load it never finishes (we keep appending), and a WAL that only grows
         * makes each commit allocate new blocks. So when it is long, and the checkpointer
         * has copied nearly all of it, we copy the rest between two commits (no waiting:
         * if the checkpointer is busy, after the next commit) and the next commit starts
         * the WAL over. */
        int wal = cw_store_wal_frames (self.store);
        bool caught_up = wal - atomic_load (&owner->wal_backfilled) < S_WAL_RESIDUE_FRAMES;
        /* Past S_WAL_MAX_FRAMES the load is more than the checkpointer can copy: then we
         * copy it ourselves, and the time that takes slows the commits (and the acks) down
         * to what the disk can hold, rather than letting the WAL fill it. */
        if (wal > S_WAL_RESTART_FRAMES && (caught_up || wal > S_WAL_MAX_FRAMES)
            && cw_store_checkpoint (self.store, caught_up ? CW_CHECKPOINT_CATCH_UP
                                                          : CW_CHECKPOINT_FORCE, NULL, NULL)
               != CW_OK)
            fprintf (stderr, "coachwired: committer: checkpoint: %s\n",
                     cw_store_errmsg (self.store));
    }
    cw_store_destroy (&self.store);
    if (self.commit_seq_fd >= 0)
        close (self.commit_seq_fd);
}

/*  PASSIVE checkpoints every S_CHECKPOINT_MS: they never block the commits. */
static void
s_checkpoint_actor (void *pipe, void *args)
{
    cw_committer_t *owner = args;
    cw_store_t *store = NULL;
    int rc = cw_store_open (&store, owner->db_path, false);
    cw_actor_ready (pipe, rc);
    if (rc != CW_OK)
        return;
    pthread_setname_np (pthread_self (), "cw-checkpoint");
    while (true) {
        zmq_pollitem_t item = { pipe, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, S_CHECKPOINT_MS) < 0)
            break;
        if (item.revents & ZMQ_POLLIN) {
            char buf [16];
            int n = zmq_recv (pipe, buf, sizeof buf, 0);
            if (n >= 0 && cw_actor_is_term (buf, (size_t) n))
                break;
        }
        int backfilled = 0;
        if (cw_store_checkpoint (store, CW_CHECKPOINT_PASSIVE, NULL, &backfilled) == CW_OK)
            atomic_store (&owner->wal_backfilled, backfilled);
        else
            fprintf (stderr, "coachwired: checkpoint: %s\n", cw_store_errmsg (store));
    }
    cw_store_destroy (&store);
}

int
cw_committer_new (cw_committer_t **out, void *zmq_ctx, const char *db_path,
                  const char *commit_seq_path)
{
    if (!out || !zmq_ctx || !db_path)
        return CW_EINVAL;
    *out = NULL;
    cw_committer_t *self = calloc (1, sizeof *self);
    if (!self)
        return CW_ENOMEM;
    self->db_path = strdup (db_path);
    self->commit_seq_path = commit_seq_path ? strdup (commit_seq_path) : NULL;
    int rc = self->db_path && (!commit_seq_path || self->commit_seq_path) ? CW_OK : CW_ENOMEM;
    if (rc == CW_OK)
        rc = cw_actor_new (&self->actor, zmq_ctx, s_committer_actor, self);
    if (rc == CW_OK)
        rc = cw_actor_new (&self->checkpointer, zmq_ctx, s_checkpoint_actor, self);
    if (rc != CW_OK) {
        cw_actor_destroy (&self->actor);
        free (self->db_path);
        free (self->commit_seq_path);
        free (self);
        return rc;
    }
    *out = self;
    return CW_OK;
}

void *
cw_committer_pipe (cw_committer_t *self)
{
    return self ? cw_actor_pipe (self->actor) : NULL;
}

int
cw_committer_submit (cw_committer_t *self, cw_commit_group_t *group)
{
    if (!self || !group)
        return CW_EINVAL;
    if (self->out)
        return CW_EBUSY;
    int rc = cw_actor_send (self->actor, &group, sizeof group);
    if (rc == CW_OK)
        self->out = true;
    return rc;
}

cw_commit_group_t *
cw_committer_take (cw_committer_t *self)
{
    if (!self || !self->out)
        return NULL;
    cw_commit_group_t *g = NULL;
    if (zmq_recv (cw_actor_pipe (self->actor), &g, sizeof g, 0) != (int) sizeof g)
        return NULL;
    self->out = false;
    return g;
}

void
cw_committer_destroy (cw_committer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_committer_t *self = *self_p;
    (void) cw_committer_take (self);
    cw_actor_destroy (&self->actor);
    cw_actor_destroy (&self->checkpointer);
    free (self->db_path);
    free (self->commit_seq_path);
    free (self);
    *self_p = NULL;
}
