/*  coachwired.c - the Coachwire service: `init` a data directory, `run` every actor.
 *
 *  run starts, in this order, the ZAP handler (it must exist before any CURVE socket binds),
 *  the gateway and the api actor, all in one process sharing one ZeroMQ context and one
 *  SQLite database. SIGTERM or SIGINT stops them in reverse order; the gateway commits and
 *  acks what it holds before it exits.
 */
#include "coachwire/cw_api.h"
#include "coachwire/cw_coach.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_gateway.h"
#include "coachwire/cw_keyring.h"
#include "coachwire/cw_server.h"
#include "coachwire/cw_store.h"
#include "coachwire/cw_zap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define S_DEFAULT_GATEWAY "tcp://127.0.0.1:7470"
#define S_DEFAULT_API "tcp://127.0.0.1:7471"

static const char s_usage [] =
    "usage: coachwired init DIR [--endpoint EP] [--api-endpoint EP] [--operator NAME]\n"
    "       coachwired run DIR [--listen EP] [--api-listen EP] [--public-endpoint EP]\n"
    "                          [--public-api-endpoint EP] [--commit-frames N] [--commit-ms MS]\n"
    "                          [--rules FILE]\n"
    "\n"
    "init  creates DIR (mode 0700) with the service keys (DIR/keys, files 0600), the database\n"
    "      and an operator credential DIR/operator.cred; move that file off the host and\n"
    "      use it with cwctl --cred. --endpoint/--api-endpoint are what credentials tell\n"
    "      devices and cwctl (default " S_DEFAULT_GATEWAY " and " S_DEFAULT_API ").\n"
    "run   serves devices on --listen (default: the init endpoint) and cwctl on --api-listen.\n"
    "      A port of * picks a free one. The bound endpoints are written to DIR/endpoints.\n"
    "      Logs go to stderr. SIGTERM or SIGINT: commit what is in flight, then exit.\n"
    "      --commit-frames N  group commit at most N frames (default 256)\n"
    "      --commit-ms MS     let a group wait up to MS ms for more frames: fewer, larger\n"
    "                         commits on a slow disk, acks later (default 0: commit as\n"
    "                         soon as nothing more is queued)\n"
    "      --rules FILE       coaching rules (default: the built-in coach/rules.default)\n"
    "\n"
    "exit status: 0 ok, 1 failure (the message says why), 2 usage.\n";

static int
s_usage_error (const char *what)
{
    fprintf (stderr, "coachwired: %s\n%s", what, s_usage);
    return 2;
}

/*  Replaces a port of "*" or "0" by a free port, so the endpoint is known before binding
 *  (credentials issued by the api must name it). */
static int
s_resolve_port (char *endpoint, size_t size)
{
    char *colon = strrchr (endpoint, ':');
    if (strncmp (endpoint, "tcp://", 6) != 0 || !colon
        || (strcmp (colon + 1, "*") != 0 && strcmp (colon + 1, "0") != 0))
        return CW_OK;
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0 };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || bind (fd, (struct sockaddr *) &addr, sizeof addr) != 0
        || getsockname (fd, (struct sockaddr *) &addr, &len) != 0) {
        if (fd >= 0)
            close (fd);
        return CW_EIO;
    }
    close (fd);
    snprintf (colon + 1, size - (size_t) (colon + 1 - endpoint), "%u", ntohs (addr.sin_port));
    return CW_OK;
}

/*  What a client should connect to for a bind endpoint: a wildcard host becomes 127.0.0.1. */
static void
s_public_of (char *out, size_t size, const char *bind)
{
    const char *hosts [] = { "tcp://*:", "tcp://0.0.0.0:" };
    for (size_t i = 0; i < 2; i++)
        if (strncmp (bind, hosts [i], strlen (hosts [i])) == 0) {
            snprintf (out, size, "tcp://127.0.0.1:%s", bind + strlen (hosts [i]));
            return;
        }
    snprintf (out, size, "%s", bind);
}

static int
s_init (int argc, char **argv)
{
    static const struct option options [] = {
        { "endpoint", required_argument, NULL, 'e' },
        { "api-endpoint", required_argument, NULL, 'a' },
        { "operator", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 } };
    const char *endpoint = S_DEFAULT_GATEWAY, *api = S_DEFAULT_API, *operator_name = "operator";
    int c;
    while ((c = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
            case 'e': endpoint = optarg; break;
            case 'a': api = optarg; break;
            case 'o': operator_name = optarg; break;
            case 'h': fputs (s_usage, stdout); return 0;
            default: return s_usage_error ("init: unknown option");
        }
    }
    if (optind + 1 != argc)
        return s_usage_error ("init: give exactly one DIR");
    const char *dir = argv [optind];
    if (strlen (dir) > CW_ENDPOINT_MAX - 64 || strlen (endpoint) >= CW_ENDPOINT_MAX
        || strlen (api) >= CW_ENDPOINT_MAX)
        return s_usage_error ("init: path or endpoint too long");
    if (mkdir (dir, 0700) != 0 && errno != EEXIST) {
        fprintf (stderr, "coachwired: init: cannot create %s: %s\n", dir, strerror (errno));
        return 1;
    }
    char path [PATH_MAX];
    cw_store_t *store = NULL;
    cw_keyring_t *keyring = NULL;
    cw_cred_t *cred = NULL;
    uint8_t *secret = sodium_malloc (32);
    int rc = secret ? CW_OK : CW_ENOMEM;
    snprintf (path, sizeof path, "%s/coachwire.db", dir);
    if (rc == CW_OK && (rc = cw_keyring_create (dir)) != CW_OK) {
        fprintf (stderr, "coachwired: init: %s/keys: %s\n", dir, cw_strerror (rc));
        goto done;
    }
    if (rc == CW_OK)
        rc = cw_keyring_load (&keyring, dir);
    if (rc == CW_OK && (rc = cw_store_open (&store, path, true)) != CW_OK) {
        fprintf (stderr, "coachwired: init: %s: %s\n", path, cw_strerror (rc));
        goto done;
    }
    cw_principal_t op;
    memset (&op, 0, sizeof op);
    op.kind = CW_PRINCIPAL_OPERATOR;
    snprintf (op.name, sizeof op.name, "%s", operator_name);
    if (rc == CW_OK) {
        crypto_box_keypair (op.public_key, secret);
        rc = cw_store_principal_add (store, &op);
    }
    if (rc == CW_OK)
        rc = cw_store_meta_set (store, "gateway_endpoint", endpoint);
    if (rc == CW_OK)
        rc = cw_store_meta_set (store, "api_endpoint", api);
    if (rc == CW_OK)
        rc = cw_cred_new (&cred, CW_CRED_OPERATOR, op.id, op.name, op.public_key, secret,
                          cw_keyring_server_public (keyring), endpoint, api);
    snprintf (path, sizeof path, "%s/operator.cred", dir);
    if (rc == CW_OK)
        rc = cw_cred_save (cred, path);
    if (rc != CW_OK)
        fprintf (stderr, "coachwired: init: %s\n", cw_strerror (rc));
    else
        printf ("initialised %s\n  database      %s/coachwire.db\n  service keys  %s/keys/\n"
                "  operator      %s (keep it off this host: see deploy/OPERATIONS.md)\n"
                "next: coachwired run %s\n", dir, dir, dir, path, dir);
done:
    if (secret)
        sodium_free (secret);
    cw_cred_destroy (&cred);
    cw_store_destroy (&store);
    cw_keyring_destroy (&keyring);
    return rc == CW_OK ? 0 : 1;
}

static int
s_write_endpoints (const cw_server_config_t *config)
{
    char path [PATH_MAX], tmp [PATH_MAX];
    snprintf (path, sizeof path, "%s/endpoints", config->data_dir);
    snprintf (tmp, sizeof tmp, "%s/endpoints.tmp", config->data_dir);
    FILE *f = fopen (tmp, "w");
    if (!f)
        return CW_EIO;
    fprintf (f, "gateway=%s\napi=%s\n", config->gateway_public, config->api_public);
    if (fclose (f) != 0 || rename (tmp, path) != 0)
        return CW_EIO;
    return CW_OK;
}

/*  The gateway counts its commits in the database and in DIR/commit_seq. A database behind
 *  the file has lost commits that were acknowledged (its WAL damaged or cut): refuse to serve
 *  it rather than serve less than we promised. */
static int
s_check_commits (const char *dir, cw_store_t *store)
{
    char path [PATH_MAX], text [32] = "";
    snprintf (path, sizeof path, "%s/commit_seq", dir);
    FILE *f = fopen (path, "r");
    if (!f)
        return CW_OK;       /* never ran, or the operator accepted a loss */
    unsigned long long acked = 0, held = 0;
    int got = fscanf (f, "%llu", &acked);
    fclose (f);
    if (got != 1)
        return CW_OK;
    if (cw_store_meta_get (store, "commit_seq", text, sizeof text) == CW_OK)
        held = strtoull (text, NULL, 10);
    if (held >= acked)
        return CW_OK;
    fprintf (stderr, "coachwired: %s/coachwire.db holds %llu commits but %llu were acknowledged: "
             "its write-ahead log was damaged or cut, and acknowledged frames are missing.\n"
             "coachwired: it is not served. Restore the data directory from a backup; to accept "
             "the loss instead, remove %s and run again.\n", dir, held, acked, path);
    return CW_EIO;
}

static int
s_run (int argc, char **argv)
{
    static const struct option options [] = {
        { "listen", required_argument, NULL, 'l' },
        { "api-listen", required_argument, NULL, 'a' },
        { "public-endpoint", required_argument, NULL, 'p' },
        { "public-api-endpoint", required_argument, NULL, 'q' },
        { "commit-frames", required_argument, NULL, 'f' },
        { "commit-ms", required_argument, NULL, 'm' },
        { "rules", required_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 } };
    static cw_server_config_t config;
    memset (&config, 0, sizeof config);
    config.commit_max_frames = 256;
    config.commit_max_ms = 0;
    const char *listen = NULL, *api_listen = NULL, *pub = NULL, *pub_api = NULL;
    int c;
    char *end;
    while ((c = getopt_long (argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
            case 'l': listen = optarg; break;
            case 'a': api_listen = optarg; break;
            case 'p': pub = optarg; break;
            case 'q': pub_api = optarg; break;
            case 'f':
                config.commit_max_frames = (uint32_t) strtoul (optarg, &end, 10);
                if (*end || config.commit_max_frames == 0 || config.commit_max_frames > 10000)
                    return s_usage_error ("run: --commit-frames takes 1..10000");
                break;
            case 'm':
                config.commit_max_ms = (uint32_t) strtoul (optarg, &end, 10);
                if (*end || config.commit_max_ms > 1000)
                    return s_usage_error ("run: --commit-ms takes 0..1000");
                break;
            case 'r':
                if (strlen (optarg) >= sizeof config.rules_path)
                    return s_usage_error ("run: --rules path too long");
                snprintf (config.rules_path, sizeof config.rules_path, "%s", optarg);
                break;
            case 'h': fputs (s_usage, stdout); return 0;
            default: return s_usage_error ("run: unknown option");
        }
    }
    if (optind + 1 != argc)
        return s_usage_error ("run: give exactly one DIR");
    const char *dir = argv [optind];
    if (strlen (dir) > CW_ENDPOINT_MAX - 64)
        return s_usage_error ("run: DIR too long");
    snprintf (config.data_dir, sizeof config.data_dir, "%s", dir);
    snprintf (config.db_path, sizeof config.db_path, "%s/coachwire.db", dir);

    /* Block the stop signals in every thread; main waits for them with sigwait. */
    sigset_t stop;
    sigemptyset (&stop);
    sigaddset (&stop, SIGTERM);
    sigaddset (&stop, SIGINT);
    pthread_sigmask (SIG_BLOCK, &stop, NULL);
    signal (SIGPIPE, SIG_IGN);

    cw_keyring_t *keyring = NULL;
    cw_store_t *store = NULL;
    cw_zap_t *zap = NULL;
    cw_gateway_t *gateway = NULL;
    cw_api_t *api = NULL;
    cw_coach_t *coach = NULL;
    int rc = cw_keyring_load (&keyring, dir);
    if (rc != CW_OK) {
        fprintf (stderr, "coachwired: %s/keys: %s (run coachwired init %s first?)\n", dir,
                 cw_strerror (rc), dir);
        return 1;
    }
    config.keyring = keyring;
    rc = cw_store_open (&store, config.db_path, false);
    if (rc != CW_OK) {
        fprintf (stderr, "coachwired: %s: %s: the database is missing, damaged or not ours; "
                 "it is not served\n", config.db_path, cw_strerror (rc));
        cw_keyring_destroy (&keyring);
        return 1;
    }
    if (s_check_commits (dir, store) != CW_OK) {
        rc = CW_EIO;
        goto done;
    }
    if (cw_store_segments_check (store) != CW_OK) {
        fprintf (stderr, "coachwired: %s-segments: %s: stored payloads are missing, and they "
                 "are not served. Restore the segment files with the database they belong "
                 "to (deploy/OPERATIONS.md, Backups).\n", config.db_path,
                 cw_store_errmsg (store));
        rc = CW_EIO;
        goto done;
    }
    char meta [CW_ENDPOINT_MAX];
    snprintf (config.gateway_bind, sizeof config.gateway_bind, "%s",
              listen ? listen
              : cw_store_meta_get (store, "gateway_endpoint", meta, sizeof meta) == CW_OK
                  ? meta : S_DEFAULT_GATEWAY);
    snprintf (config.api_bind, sizeof config.api_bind, "%s",
              api_listen ? api_listen
              : cw_store_meta_get (store, "api_endpoint", meta, sizeof meta) == CW_OK
                  ? meta : S_DEFAULT_API);
    if (s_resolve_port (config.gateway_bind, sizeof config.gateway_bind) != CW_OK
        || s_resolve_port (config.api_bind, sizeof config.api_bind) != CW_OK) {
        fprintf (stderr, "coachwired: cannot find a free port\n");
        rc = CW_EIO;
        goto done;
    }
    if (pub)
        snprintf (config.gateway_public, sizeof config.gateway_public, "%s", pub);
    else
        s_public_of (config.gateway_public, sizeof config.gateway_public, config.gateway_bind);
    if (pub_api)
        snprintf (config.api_public, sizeof config.api_public, "%s", pub_api);
    else
        s_public_of (config.api_public, sizeof config.api_public, config.api_bind);
    config.start_ms = cw_now_ms ();
    config.zmq_ctx = zmq_ctx_new ();
    if (!config.zmq_ctx) {
        rc = CW_ENOMEM;
        goto done;
    }
    if ((rc = cw_zap_start (&zap, &config)) != CW_OK) {
        fprintf (stderr, "coachwired: ZAP handler: %s\n", cw_strerror (rc));
        goto done;
    }
    if ((rc = cw_gateway_start (&gateway, &config)) != CW_OK) {
        fprintf (stderr, "coachwired: gateway on %s: %s\n", config.gateway_bind,
                 cw_strerror (rc));
        goto done;
    }
    if ((rc = cw_coach_start (&coach, &config)) != CW_OK) {
        fprintf (stderr, "coachwired: coach: %s\n", cw_strerror (rc));
        goto done;
    }
    if ((rc = cw_api_start (&api, &config)) != CW_OK) {
        fprintf (stderr, "coachwired: api on %s: %s\n", config.api_bind, cw_strerror (rc));
        goto done;
    }
    if (s_write_endpoints (&config) != CW_OK)
        fprintf (stderr, "coachwired: warning: cannot write %s/endpoints\n", dir);
    fprintf (stderr, "coachwired: serving %s: gateway %s, api %s (pid %d)\n", dir,
             config.gateway_public, config.api_public, (int) getpid ());
    int sig = 0;
    sigwait (&stop, &sig);
    fprintf (stderr, "coachwired: %s: stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
done:
    cw_api_destroy (&api);
    cw_coach_destroy (&coach);
    cw_gateway_destroy (&gateway);
    cw_zap_destroy (&zap);
    if (config.zmq_ctx)
        zmq_ctx_term (config.zmq_ctx);
    cw_store_destroy (&store);
    cw_keyring_destroy (&keyring);
    if (rc == CW_OK)
        fprintf (stderr, "coachwired: stopped cleanly\n");
    return rc == CW_OK ? 0 : 1;
}

typedef struct {
    const char *name;
    int (*handler) (int argc, char **argv);
} s_command_t;

static const s_command_t s_commands [] = { { "init", s_init }, { "run", s_run } };

int
main (int argc, char **argv)
{
    umask (077);    /* keys, database and its WAL are the owner's alone */
    if (sodium_init () < 0) {
        fprintf (stderr, "coachwired: libsodium failed to start\n");
        return 1;
    }
    if (argc < 2)
        return s_usage_error ("give a command");
    if (strcmp (argv [1], "--help") == 0 || strcmp (argv [1], "-h") == 0
        || strcmp (argv [1], "help") == 0) {
        fputs (s_usage, stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands [0]; i++)
        if (strcmp (argv [1], s_commands [i].name) == 0)
            return s_commands [i].handler (argc - 1, argv + 1);
    return s_usage_error ("unknown command");
}
