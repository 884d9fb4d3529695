/*  bench_service.c - the real service under a bench: child processes, data directory,
 *  enrollment, DEALERs and /proc readings (see bench_service.h). */
#include "bench_service.h"

#include "coachwire/cw_envelope.h"
#include "coachwire/cw_error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

volatile sig_atomic_t bench_service_interrupted;

static void
s_on_signal (int sig)
{
    (void) sig;
    bench_service_interrupted = 1;
}

void
bench_service_signals (void)
{
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);
}

uint64_t
bench_service_mono_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

void
bench_service_sleep_until (uint64_t t_ns)
{
    struct timespec ts = { .tv_sec = (time_t) (t_ns / 1000000000u),
                           .tv_nsec = (long) (t_ns % 1000000000u) };
    while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR
           && !bench_service_interrupted)
        ;
}

int
bench_service_parse_long (const char *text, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi)
        return CW_EINVAL;
    *out = v;
    return CW_OK;
}

void
bench_service_machine (long *cpus, double *loadavg)
{
    *cpus = sysconf (_SC_NPROCESSORS_ONLN);
    FILE *la = fopen ("/proc/loadavg", "r");
    if (la) {
        if (fscanf (la, "%lf", loadavg) != 1)
            *loadavg = 0;
        fclose (la);
    }
}

/* ---- child processes and files -------------------------------------------------------- */

pid_t
bench_service_spawn (char *const argv [], int in_fd, int out_fd, int err_fd)
{
    pid_t pid = fork ();
    if (pid != 0)
        return pid;
    prctl (PR_SET_PDEATHSIG, SIGTERM);
    if ((in_fd >= 0 && dup2 (in_fd, 0) < 0) || (out_fd >= 0 && dup2 (out_fd, 1) < 0)
        || (err_fd >= 0 && dup2 (err_fd, 2) < 0))
        _exit (127);
    execv (argv [0], argv);
    _exit (127);
}

int
bench_service_wait (pid_t pid, int timeout_ms)
{
    for (int waited = 0;; waited += 10) {
        int status = 0;
        pid_t r = waitpid (pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0)
            return 0;
        if (waited >= timeout_ms)
            return -1;
        usleep (10000);
    }
}

int
bench_service_stop_child (const char *name, pid_t pid, int timeout_ms)
{
    kill (pid, SIGTERM);
    int status = bench_service_wait (pid, timeout_ms);
    if (status == -1) {
        fprintf (stderr, "%s: pid %d ignored SIGTERM for %d s; killing it\n", name, (int) pid,
                 timeout_ms / 1000);
        kill (pid, SIGKILL);
        status = bench_service_wait (pid, 5000);
    }
    return status;
}

static int
s_unlink_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove (path);
}

int
bench_service_remove_tree (const char *dir)
{
    return nftw (dir, s_unlink_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void
bench_service_log_tail (const bench_service_t *self)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%.*s/coachwired.log", PATH_MAX - 32, self->dir);
    FILE *f = fopen (path, "r");
    if (!f)
        return;
    char buf [4096];
    fseek (f, 0, SEEK_END);
    long size = ftell (f);
    fseek (f, size > (long) sizeof buf - 1 ? size - (long) sizeof buf + 1 : 0, SEEK_SET);
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    buf [n] = '\0';
    fclose (f);
    fprintf (stderr, "--- %s (end) ---\n%s--- end of log ---\n", path, buf);
}

/*  DIR/../coach/coachwired next to this binary (<build>/tests/cw-bench). */
int
bench_service_locate (bench_service_t *self, const char *given)
{
    if (given)
        snprintf (self->coachwired, sizeof self->coachwired, "%s", given);
    else {
        char exe [PATH_MAX];
        ssize_t n = readlink ("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0)
            return CW_EIO;
        exe [n] = '\0';
        char *slash = strrchr (exe, '/');
        if (slash)
            *slash = '\0';
        snprintf (self->coachwired, sizeof self->coachwired, "%.*s/../coach/coachwired",
                  PATH_MAX - 32, exe);
    }
    if (access (self->coachwired, X_OK) != 0) {
        fprintf (stderr, "%s: no coachwired at %s (build it, or --coachwired PATH)\n",
                 self->name, self->coachwired);
        return CW_ENOENT;
    }
    return CW_OK;
}

int
bench_service_make_dir (bench_service_t *self, const char *keep, const char *prefix)
{
    if (keep) {
        if (strlen (keep) >= CW_ENDPOINT_MAX - 64) {
            fprintf (stderr, "%s: --keep path too long\n", self->name);
            return CW_EINVAL;
        }
        if (mkdir (keep, 0700) != 0) {
            fprintf (stderr, "%s: --keep %s: %s (give a new directory)\n", self->name, keep,
                     strerror (errno));
            return CW_EEXIST;
        }
        snprintf (self->dir, sizeof self->dir, "%s", keep);
    }
    else {
        const char *tmp = getenv ("TMPDIR");
        snprintf (self->dir, sizeof self->dir, "%.128s/%.64s_XXXXXX", tmp && *tmp ? tmp : "/tmp",
                  prefix);
        if (!mkdtemp (self->dir)) {
            fprintf (stderr, "%s: mkdtemp %s: %s\n", self->name, self->dir, strerror (errno));
            return CW_EIO;
        }
    }
    self->dir_made = true;
    struct statfs fs;
    self->tmpfs = statfs (self->dir, &fs) == 0 && fs.f_type == 0x01021994;   /* TMPFS_MAGIC */
    return CW_OK;
}

/* ---- the service ---------------------------------------------------------------------- */

int
bench_service_init (const bench_service_t *self)
{
    char *argv [] = { (char *) self->coachwired, (char *) "init", (char *) self->dir, NULL };
    char log [PATH_MAX + 32];
    snprintf (log, sizeof log, "%s.init.log", self->dir);
    int fd = open (log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return CW_EIO;
    pid_t pid = bench_service_spawn (argv, -1, fd, fd);
    close (fd);
    int status = pid > 0 ? bench_service_wait (pid, 30000) : 0;
    if (pid > 0 && status == -1) {
        kill (pid, SIGKILL);
        bench_service_wait (pid, 5000);
    }
    bool ok = pid > 0 && status != -1 && WIFEXITED (status) && WEXITSTATUS (status) == 0;
    if (!ok) {
        fprintf (stderr, "%s: %s init %s failed; its output:\n", self->name, self->coachwired,
                 self->dir);
        FILE *f = fopen (log, "r");
        char line [512];
        while (f && fgets (line, sizeof line, f))
            fputs (line, stderr);
        if (f)
            fclose (f);
    }
    remove (log);
    return ok ? CW_OK : CW_EIO;
}

int
bench_service_start (bench_service_t *self, char *const extra [], int startup_ms)
{
    char *argv [16];
    int n = 0;
    argv [n++] = self->coachwired;
    argv [n++] = (char *) "run";
    argv [n++] = self->dir;
    argv [n++] = (char *) "--listen";
    argv [n++] = (char *) "tcp://127.0.0.1:*";
    argv [n++] = (char *) "--api-listen";
    argv [n++] = (char *) "tcp://127.0.0.1:*";
    for (int i = 0; extra && extra [i] && n < 15; i++)
        argv [n++] = extra [i];
    argv [n] = NULL;
    char path [PATH_MAX + 32];
    snprintf (path, sizeof path, "%s/coachwired.log", self->dir);
    int fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int null_fd = open ("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || null_fd < 0) {
        if (fd >= 0)
            close (fd);
        if (null_fd >= 0)
            close (null_fd);
        return CW_EIO;
    }
    self->pid = bench_service_spawn (argv, null_fd, fd, fd);
    close (fd);
    close (null_fd);
    if (self->pid < 0) {
        self->pid = 0;
        return CW_EIO;
    }
    snprintf (path, sizeof path, "%s/endpoints", self->dir);
    for (int waited = 0; waited < startup_ms && !bench_service_interrupted; waited += 20) {
        FILE *f = fopen (path, "r");
        if (f) {
            char line [CW_ENDPOINT_MAX + 16];
            while (fgets (line, sizeof line, f))
                if (strncmp (line, "gateway=", 8) == 0) {
                    line [strcspn (line, "\n")] = '\0';
                    snprintf (self->gateway, sizeof self->gateway, "%.*s", CW_ENDPOINT_MAX - 1,
                              line + 8);
                }
            fclose (f);
            if (self->gateway [0])
                return CW_OK;
        }
        int status = 0;
        if (waitpid (self->pid, &status, WNOHANG) == self->pid) {
            fprintf (stderr, "%s: coachwired run exited (status %d) before serving\n",
                     self->name, WIFEXITED (status) ? WEXITSTATUS (status) : -1);
            self->pid = 0;
            bench_service_log_tail (self);
            return CW_EIO;
        }
        usleep (20000);
    }
    fprintf (stderr, "%s: coachwired did not write %s within %d ms\n", self->name, path,
             startup_ms);
    bench_service_log_tail (self);
    return CW_ETIMEOUT;
}

int
bench_service_end (bench_service_t *self, bool keep, bool quiet)
{
    int rc = CW_OK;
    if (self->pid > 0) {
        int status = bench_service_stop_child (self->name, self->pid, 10000);
        if (!(WIFEXITED (status) && WEXITSTATUS (status) == 0)) {
            fprintf (stderr, "%s: coachwired did not stop cleanly\n", self->name);
            bench_service_log_tail (self);
            rc = CW_EIO;
        }
        self->pid = 0;
    }
    if (self->dir_made && !keep) {
        if (bench_service_remove_tree (self->dir) != 0)
            fprintf (stderr, "%s: could not remove %s\n", self->name, self->dir);
    }
    else
    if (self->dir_made && !quiet)
        fprintf (stderr, "%s: kept %s (service log: %s/coachwired.log)\n", self->name,
                 self->dir, self->dir);
    return rc;
}

/* ---- the service's CPU and memory, from /proc ------------------------------------------ */

bool
bench_service_stat_ticks (const char *path, uint64_t *ticks)
{
    char buf [1024];
    FILE *f = fopen (path, "r");
    if (!f)
        return false;
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf [n] = '\0';
    const char *p = strrchr (buf, ')');    /* comm may hold spaces and parentheses */
    unsigned long long utime = 0, stime = 0;
    if (!p || sscanf (p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                      &stime) != 2)
        return false;
    *ticks = (uint64_t) utime + (uint64_t) stime;
    return true;
}

int
bench_service_proc_cpu (pid_t pid, bench_service_cpu_t *out)
{
    double ns_per_tick = 1e9 / (double) sysconf (_SC_CLK_TCK);
    char path [PATH_MAX];
    uint64_t total = 0, io = 0, gateway = 0, coach = 0;
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    if (!bench_service_stat_ticks (path, &total))
        return CW_EIO;
    snprintf (path, sizeof path, "/proc/%d/task", (int) pid);
    DIR *dir = opendir (path);
    if (!dir)
        return CW_EIO;
    struct dirent *e;
    while ((e = readdir (dir)) != NULL) {
        if (e->d_name [0] == '.')
            continue;
        char comm [64] = "";
        snprintf (path, sizeof path, "/proc/%d/task/%.32s/comm", (int) pid, e->d_name);
        FILE *f = fopen (path, "r");
        if (!f)
            continue;               /* the thread ended meanwhile */
        if (!fgets (comm, sizeof comm, f))
            comm [0] = '\0';
        fclose (f);
        uint64_t t = 0;
        snprintf (path, sizeof path, "/proc/%d/task/%.32s/stat", (int) pid, e->d_name);
        if (!bench_service_stat_ticks (path, &t))
            continue;
        if (strncmp (comm, "ZMQbg/IO", 8) == 0)
            io += t;
        else
        if (strncmp (comm, "cw-gateway", 10) == 0)
            gateway += t;
        else
        if (strncmp (comm, "cw-coach", 8) == 0)
            coach += t;
    }
    closedir (dir);
    out->total_ns = (uint64_t) ((double) total * ns_per_tick);
    out->io_ns = (uint64_t) ((double) io * ns_per_tick);
    out->gateway_ns = (uint64_t) ((double) gateway * ns_per_tick);
    out->coach_ns = (uint64_t) ((double) coach * ns_per_tick);
    return CW_OK;
}

uint64_t
bench_service_status_kib (pid_t pid, const char *field)
{
    char path [64], line [256];
    size_t len = strlen (field);
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return 0;
    uint64_t kib = 0;
    while (fgets (line, sizeof line, f))
        if (strncmp (line, field, len) == 0 && line [len] == ':') {
            kib = strtoull (line + len + 1, NULL, 10);
            break;
        }
    fclose (f);
    return kib;
}

/* ---- enrollment ------------------------------------------------------------------------ */

int
bench_service_enroll_open (const bench_service_t *self, bench_service_enroll_t *e,
                           bool with_consent)
{
    memset (e, 0, sizeof *e);
    char db [PATH_MAX + 16];
    snprintf (db, sizeof db, "%s/coachwire.db", self->dir);
    int rc = cw_keyring_load (&e->keyring, self->dir);
    if (rc == CW_OK)
        rc = cw_store_open (&e->store, db, false);
    if (rc == CW_OK && with_consent)
        rc = cw_consent_open (&e->consent, e->store);
    if (rc == CW_OK && with_consent)
        rc = cw_ledger_open (&e->ledger, e->store, cw_keyring_signing_secret (e->keyring));
    return rc;
}

int
bench_service_enroll_begin (bench_service_enroll_t *e)
{
    int rc = cw_store_begin (e->store);
    e->in_tx = rc == CW_OK;
    return rc;
}

int
bench_service_enroll_person (bench_service_enroll_t *e, cw_principal_t *person,
                             const char *name, uint8_t *secret)
{
    memset (person, 0, sizeof *person);
    person->kind = CW_PRINCIPAL_USER;
    snprintf (person->name, sizeof person->name, "%s", name);
    snprintf (person->locale, sizeof person->locale, "en");
    snprintf (person->time_zone, sizeof person->time_zone, "UTC");
    crypto_box_keypair (person->public_key, secret);
    int rc = cw_store_principal_add (e->store, person);
    uint8_t key [32], wrapped [CW_WRAPPED_KEY_BYTES];
    if (rc == CW_OK)
        rc = cw_keyring_person_key_new (e->keyring, person->id, key, wrapped);
    sodium_memzero (key, sizeof key);
    if (rc == CW_OK)
        rc = cw_store_person_key_put (e->store, person->id, wrapped);
    return rc;
}

int
bench_service_enroll_device (bench_service_enroll_t *e, cw_principal_t *device,
                             const cw_principal_t *person, const char *name, uint8_t *secret)
{
    memset (device, 0, sizeof *device);
    device->kind = CW_PRINCIPAL_DEVICE;
    snprintf (device->name, sizeof device->name, "%s", name);
    memcpy (device->owner_id, person->id, CW_ID_BYTES);
    crypto_box_keypair (device->public_key, secret);
    return cw_store_principal_add (e->store, device);
}

int
bench_service_enroll_cred (bench_service_enroll_t *e, const cw_principal_t *device,
                           const cw_principal_t *person, const uint8_t *secret,
                           cw_cred_t **cred, uint8_t **payload_key)
{
    int rc = cw_cred_new (cred, CW_CRED_DEVICE, device->id, person->name, device->public_key,
                          secret, cw_keyring_server_public (e->keyring), NULL, NULL);
    if (rc == CW_OK) {
        *payload_key = sodium_malloc (CW_KEY_BYTES);
        rc = *payload_key ? CW_OK : CW_ENOMEM;
    }
    if (rc == CW_OK)
        rc = cw_payload_key_derive (*payload_key, secret, cw_cred_server_key (*cred),
                                    device->public_key, cw_cred_server_key (*cred), device->id);
    return rc;
}

int
bench_service_enroll_end (const bench_service_t *self, bench_service_enroll_t *e, int rc,
                          const char *what)
{
    if (rc == CW_OK)
        rc = cw_store_commit (e->store);
    else
    if (e->store) {
        fprintf (stderr, "%s: %s: %s (%s)\n", self->name, what, cw_strerror (rc),
                 cw_store_errmsg (e->store));
        if (e->in_tx)
            cw_store_rollback (e->store);
    }
    cw_ledger_destroy (&e->ledger);
    cw_consent_destroy (&e->consent);
    cw_store_destroy (&e->store);
    cw_keyring_destroy (&e->keyring);
    return rc;
}

/* ---- devices --------------------------------------------------------------------------- */

void *
bench_service_dealer (void *ctx, const uint8_t *server_key, const uint8_t *public_key,
                      const uint8_t *secret_key)
{
    void *sock = zmq_socket (ctx, ZMQ_DEALER);
    if (!sock)
        return NULL;
    int zero = 0;
    zmq_setsockopt (sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (sock, ZMQ_CURVE_SERVERKEY, server_key, 32);
    zmq_setsockopt (sock, ZMQ_CURVE_PUBLICKEY, public_key, 32);
    zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, secret_key, 32);
    return sock;
}

int
bench_service_connect_to (const bench_service_t *self, void *ctx, const cw_cred_t *cred,
                          const char *endpoint, void **sock)
{
    *sock = bench_service_dealer (ctx, cw_cred_server_key (cred), cw_cred_public_key (cred),
                                  cw_cred_secret_key (cred));
    if (!*sock)
        return CW_EIO;
    if (zmq_connect (*sock, endpoint) != 0) {
        fprintf (stderr, "%s: connect %s: %s\n", self->name, endpoint,
                 zmq_strerror (zmq_errno ()));
        return CW_EIO;
    }
    return CW_OK;
}

int
bench_service_connect (const bench_service_t *self, void *ctx, const cw_cred_t *cred,
                       void **sock)
{
    return bench_service_connect_to (self, ctx, cred, self->gateway, sock);
}
