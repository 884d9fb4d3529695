/*  bench_service.h - the real service under a bench: `coachwired init` and `coachwired run`
 *  as child processes on 127.0.0.1 in a data directory of their own, devices enrolled straight
 *  into its store, CURVE DEALERs connected as phones, and its CPU and memory read from /proc.
 *  Shared by cw-bench ingest, nudge and connections; every message starts with the bench's
 *  name. Also the benches' clock, sleep and signal handling. */
#ifndef BENCH_SERVICE_H_INCLUDED
#define BENCH_SERVICE_H_INCLUDED

#include "coachwire/cw_consent.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_keyring.h"
#include "coachwire/cw_ledger.h"
#include "coachwire/cw_server.h"
#include "coachwire/cw_store.h"

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*  One service under test. Zero it, set name, then locate, make_dir, init, (enroll), start;
 *  end stops it and removes the directory. */
typedef struct {
    const char *name;               /* "cw-bench ingest": the prefix of every message */
    char coachwired [PATH_MAX];     /* the service binary */
    char dir [PATH_MAX];            /* its data directory */
    bool dir_made;                  /* dir was made by make_dir */
    bool tmpfs;                     /* dir is on tmpfs (fsync is free) */
    char gateway [CW_ENDPOINT_MAX]; /* where devices connect, from DIR/endpoints */
    pid_t pid;                      /* `coachwired run`; 0 when not running */
} bench_service_t;

/*  Set by SIGINT and SIGTERM once bench_service_signals has run. */
extern volatile sig_atomic_t bench_service_interrupted;

/*  Catches SIGINT and SIGTERM (see bench_service_interrupted) and ignores SIGPIPE. */
void bench_service_signals (void);

/*  CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_service_mono_ns (void);

/*  Sleeps until t_ns on CLOCK_MONOTONIC, or until interrupted. */
void bench_service_sleep_until (uint64_t t_ns);

/*  A decimal integer in lo..hi into *out: CW_OK, or CW_EINVAL. */
int bench_service_parse_long (const char *text, long lo, long hi, long *out);

/*  CPUs online and the 1-minute load average (0 if unknown). */
void bench_service_machine (long *cpus, double *loadavg);

/*  Starts argv [0] with the given descriptors as stdin, stdout, stderr (-1: keep ours). The
 *  child gets SIGTERM if we die. Only async-signal-safe calls between fork and exec. */
pid_t bench_service_spawn (char *const argv [], int in_fd, int out_fd, int err_fd);

/*  Waits up to timeout_ms for pid: its wait status, or -1 if it is still running. */
int bench_service_wait (pid_t pid, int timeout_ms);

/*  SIGTERM, then up to timeout_ms, then SIGKILL (saying so, after name). The wait status. */
int bench_service_stop_child (const char *name, pid_t pid, int timeout_ms);

/*  Removes dir and everything below it: 0, or -1. */
int bench_service_remove_tree (const char *dir);

/*  Prints the last 4 KB of DIR/coachwired.log on stderr, for a failure message. */
void bench_service_log_tail (const bench_service_t *self);

/*  self->coachwired: given, or coach/coachwired of the build tree of this binary. */
int bench_service_locate (bench_service_t *self, const char *given);

/*  self->dir: keep (a new directory, kept afterwards), or a fresh TMPDIR/PREFIX_XXXXXX. */
int bench_service_make_dir (bench_service_t *self, const char *keep, const char *prefix);

/*  Runs `coachwired init DIR`; on failure prints its output. */
int bench_service_init (const bench_service_t *self);

/*  Starts `coachwired run DIR` on free loopback ports with the NULL-terminated extra
 *  arguments (may be NULL), output to DIR/coachwired.log, and waits up to startup_ms for
 *  DIR/endpoints (self->gateway). */
int bench_service_start (bench_service_t *self, char *const extra [], int startup_ms);

/*  Stops the service (a problem is CW_EIO, with its log) and removes the directory unless
 *  keep; says where a kept directory is unless quiet. */
int bench_service_end (bench_service_t *self, bool keep, bool quiet);

/*  CPU of the whole process and of its libzmq I/O ("ZMQbg/IO/..."), gateway ("cw-gateway")
 *  and coach ("cw-coach") threads, from /proc/PID/task. */
typedef struct {
    uint64_t total_ns, io_ns, gateway_ns, coach_ns;
} bench_service_cpu_t;

int bench_service_proc_cpu (pid_t pid, bench_service_cpu_t *out);

/*  utime + stime in clock ticks from a /proc stat file; false if it cannot be read. */
bool bench_service_stat_ticks (const char *path, uint64_t *ticks);

/*  A "Name: N kB" field of /proc/PID/status (field "VmHWM", "VmRSS"); 0 if unknown. */
uint64_t bench_service_status_kib (pid_t pid, const char *field);

/*  Enrollment straight into the store, before the service runs, in one transaction. */
typedef struct {
    cw_keyring_t *keyring;
    cw_store_t *store;
    cw_consent_t *consent;          /* with consent only */
    cw_ledger_t *ledger;            /* with consent only */
    bool in_tx;
} bench_service_enroll_t;

/*  Loads the keyring and opens the store (and with_consent, consent and the ledger). */
int bench_service_enroll_open (const bench_service_t *self, bench_service_enroll_t *e,
                               bool with_consent);

/*  Begins the transaction. */
int bench_service_enroll_begin (bench_service_enroll_t *e);

/*  Adds a person called name with a fresh key pair (its secret in secret) and a data key. */
int bench_service_enroll_person (bench_service_enroll_t *e, cw_principal_t *person,
                                 const char *name, uint8_t *secret);

/*  Adds person's device called name with a fresh key pair (its secret in secret). */
int bench_service_enroll_device (bench_service_enroll_t *e, cw_principal_t *device,
                                 const cw_principal_t *person, const char *name,
                                 uint8_t *secret);

/*  The device's credential and its payload key (CW_KEY_BYTES, sodium memory: the caller
 *  frees both, even on failure). */
int bench_service_enroll_cred (bench_service_enroll_t *e, const cw_principal_t *device,
                               const cw_principal_t *person, const uint8_t *secret,
                               cw_cred_t **cred, uint8_t **payload_key);

/*  Commits when rc is CW_OK, else rolls back saying "NAME: WHAT: error"; closes all. */
int bench_service_enroll_end (const bench_service_t *self, bench_service_enroll_t *e, int rc,
                              const char *what);

/*  A DEALER with no linger and the CURVE keys (32 bytes each); NULL on failure. */
void *bench_service_dealer (void *ctx, const uint8_t *server_key, const uint8_t *public_key,
                            const uint8_t *secret_key);

/*  A DEALER with cred's keys connected to the gateway in *sock. */
int bench_service_connect (const bench_service_t *self, void *ctx, const cw_cred_t *cred,
                           void **sock);

/*  The same connected to endpoint instead: a stand-in that holds the service's keys. */
int bench_service_connect_to (const bench_service_t *self, void *ctx, const cw_cred_t *cred,
                              const char *endpoint, void **sock);

#endif
