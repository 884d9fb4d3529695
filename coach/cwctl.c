/*  cwctl.c - the command line for operators (and later people and coaches).
 *
 *      cwctl --cred FILE [--api ENDPOINT] [--json] [--timeout S] COMMAND ...
 *
 *  Each command is a row in s_commands (words, handler, usage, help). A handler parses its
 *  own arguments, makes one ApiRequest, and prints the reply as an aligned table, or with
 *  --json as one JSON object. Exit status: 0 done, 1 refused (by the service, or locally:
 *  an output file exists, the credential is unusable), 2 usage, 3 no answer (connection).
 */
#include "coachwire/cw_client.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_json.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_EXIT_OK 0
#define S_EXIT_REFUSED 1
#define S_EXIT_USAGE 2
#define S_EXIT_CONNECT 3
#define S_HELP_SHOWN (-1)            /* parse result: --help was printed */
#define S_DEFAULT_TIMEOUT_MS 5000
#define S_MAX_POSITIONAL 4
#define S_ERRBUF 256

typedef struct _s_command_t s_command_t;

/*  What every command needs: the global options and, once connected, the client. */
typedef struct {
    const char *cred_path;          /* --cred or $CW_CRED */
    const char *api;                /* --api, NULL: the credential's api_endpoint */
    bool json;                      /* --json */
    int timeout_ms;                 /* --timeout */
    const s_command_t *command;     /* the command being run */
    char command_name [32];         /* "user add", for messages */
    cw_client_t *client;
} s_ctl_t;

typedef int (*s_run_fn) (s_ctl_t *ctl, int argc, char **argv);

struct _s_command_t {
    const char *words [3];          /* "user", "add", NULL */
    s_run_fn run;
    const char *usage;              /* arguments after the words */
    const char *help;               /* one line */
};

/*  A command option that takes a value: --name VALUE or --name=VALUE. */
typedef struct {
    const char *name;               /* without the dashes */
    const char **value;             /* set when given */
} s_option_t;

/*  ---------------------------------------------------------------------------------------
 *  Output */

/*  Prints "cwctl: <command>: <sentence> (CW_EXXX)" on stderr (and, with --json, the same as
 *  a JSON object on stdout). Returns status for `return s_fail (...)`. */
static int
s_fail (s_ctl_t *ctl, int status, int rc, const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
s_fail (s_ctl_t *ctl, int status, int rc, const char *format, ...)
{
    char sentence [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (sentence, sizeof sentence, format, args);
    va_end (args);
    const char *name = ctl->command_name [0] ? ctl->command_name : "cwctl";
    fprintf (stderr, "cwctl: %s%s%s (%s)\n", ctl->command_name, ctl->command_name [0] ? ": " : "",
             sentence, cw_errname (rc));
    if (ctl->json) {
        cw_json_t *json = NULL;
        if (cw_json_new (&json, 0) == CW_OK) {
            cw_json_object_begin (json, NULL);
            cw_json_bool (json, "ok", false);
            cw_json_string (json, "command", name);
            cw_json_string (json, "code", cw_errname (rc));
            cw_json_string (json, "error", sentence);
            cw_json_int (json, "exit", status);
            cw_json_object_end (json);
            const char *text = cw_json_text (json, NULL);
            if (text)
                printf ("%s\n", text);
        }
        cw_json_destroy (&json);
    }
    return status;
}

static int
s_usage_error (s_ctl_t *ctl, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static int
s_usage_error (s_ctl_t *ctl, const char *format, ...)
{
    char sentence [512];
    va_list args;
    va_start (args, format);
    vsnprintf (sentence, sizeof sentence, format, args);
    va_end (args);
    if (ctl->command)
        return s_fail (ctl, S_EXIT_USAGE, CW_EINVAL, "%s; usage: cwctl %s %s", sentence,
                       ctl->command_name, ctl->command->usage);
    return s_fail (ctl, S_EXIT_USAGE, CW_EINVAL, "%s; see cwctl --help", sentence);
}

/*  Prints the finished JSON document, or fails. */
static int
s_json_print (s_ctl_t *ctl, cw_json_t *json)
{
    const char *text = cw_json_text (json, NULL);
    if (!text)
        return s_fail (ctl, S_EXIT_REFUSED, cw_json_error (json),
                       "the reply could not be written as JSON");
    printf ("%s\n", text);
    return S_EXIT_OK;
}

/*  An aligned text table: add cells row by row, then print. Cells are copied, with control
 *  characters shown as '?' so that nothing from the wire can steer the terminal. */
typedef struct {
    size_t columns;
    size_t count;                   /* cells so far */
    size_t cap;
    char **cells;
    bool failed;
} s_table_t;

static void
s_table_cell (s_table_t *table, const char *text)
{
    if (table->failed)
        return;
    if (table->count == table->cap) {
        size_t cap = table->cap ? 2 * table->cap : 64;
        char **grown = realloc (table->cells, cap * sizeof *grown);
        if (!grown) {
            table->failed = true;
            return;
        }
        table->cells = grown;
        table->cap = cap;
    }
    char *copy = strdup (text ? text : "");
    if (!copy) {
        table->failed = true;
        return;
    }
    for (char *c = copy; *c; c++)
        if ((unsigned char) *c < 0x20 || *c == 0x7f)
            *c = '?';
    table->cells [table->count++] = copy;
}

/*  Display width of UTF-8 text: code points (good enough for names and labels). */
static size_t
s_width (const char *text)
{
    size_t width = 0;
    for (const unsigned char *s = (const unsigned char *) text; *s; s++)
        if ((*s & 0xc0) != 0x80)
            width++;
    return width;
}

static int
s_table_print (s_table_t *table)
{
    int rc = table->failed ? CW_ENOMEM : CW_OK;
    if (rc == CW_OK && table->columns) {
        size_t widths [16] = { 0 };
        for (size_t i = 0; i < table->count; i++) {
            size_t w = s_width (table->cells [i]);
            size_t column = i % table->columns;
            if (column < 16 && w > widths [column])
                widths [column] = w;
        }
        for (size_t i = 0; i < table->count; i++) {
            size_t column = i % table->columns;
            bool last = column + 1 == table->columns || i + 1 == table->count;
            fputs (table->cells [i], stdout);
            if (last)
                fputc ('\n', stdout);
            else
                for (size_t pad = s_width (table->cells [i]); pad < widths [column] + 2; pad++)
                    fputc (' ', stdout);
        }
    }
    for (size_t i = 0; i < table->count; i++)
        free (table->cells [i]);
    free (table->cells);
    table->cells = NULL;
    table->count = table->cap = 0;
    return rc;
}

/*  "2024-05-01 12:00:00Z", or "-" for 0. */
static void
s_time_text (char *out, size_t size, uint64_t ms)
{
    if (!ms) {
        snprintf (out, size, "-");
        return;
    }
    time_t seconds = (time_t) (ms / 1000);
    struct tm tm;
    if (!gmtime_r (&seconds, &tm) || strftime (out, size, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
        snprintf (out, size, "%llu", (unsigned long long) ms);
}

/*  ---------------------------------------------------------------------------------------
 *  Arguments, connection, call */

static void
s_command_help (const s_command_t *command, FILE *out)
{
    fprintf (out, "usage: cwctl [--cred FILE] [--api ENDPOINT] [--json] [--timeout S] %s",
             command->words [0]);
    for (size_t i = 1; i < 3 && command->words [i]; i++)
        fprintf (out, " %s", command->words [i]);
    fprintf (out, " %s\n\n%s\n", command->usage, command->help);
}

/*  Parses a command's arguments: options (each takes a value), --help, and between
 *  min_positional and max_positional positional arguments. Returns S_EXIT_OK, S_HELP_SHOWN
 *  or S_EXIT_USAGE (printed). */
static int
s_parse (s_ctl_t *ctl, int argc, char **argv, const s_option_t *options, size_t n_options,
         const char **positional, size_t min_positional, size_t max_positional)
{
    size_t count = 0;
    bool options_done = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv [i];
        if (!options_done && (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0)) {
            s_command_help (ctl->command, stdout);
            return S_HELP_SHOWN;
        }
        if (!options_done && strcmp (arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (!options_done && arg [0] == '-' && arg [1] != 0) {
            if (arg [1] != '-')
                return s_usage_error (ctl, "unknown option '%s'", arg);
            const char *name = arg + 2;
            const char *eq = strchr (name, '=');
            size_t name_len = eq ? (size_t) (eq - name) : strlen (name);
            const s_option_t *option = NULL;
            for (size_t k = 0; k < n_options; k++)
                if (strlen (options [k].name) == name_len
                    && strncmp (options [k].name, name, name_len) == 0)
                    option = &options [k];
            if (!option)
                return s_usage_error (ctl, "unknown option '%s'", arg);
            if (eq)
                *option->value = eq + 1;
            else if (i + 1 < argc)
                *option->value = argv [++i];
            else
                return s_usage_error (ctl, "option '--%s' needs a value", option->name);
            continue;
        }
        if (count == max_positional)
            return s_usage_error (ctl, "unexpected argument '%s'", arg);
        positional [count++] = arg;
    }
    if (count < min_positional)
        return s_usage_error (ctl, "missing argument");
    return S_EXIT_OK;
}

/*  Loads the credential and makes the client. Returns an exit status (printed on failure). */
static int
s_connect (s_ctl_t *ctl)
{
    if (!ctl->cred_path || !*ctl->cred_path)
        return s_usage_error (ctl, "no credential: give --cred FILE or set CW_CRED");
    cw_cred_t *cred = NULL;
    char errbuf [S_ERRBUF] = "";
    int rc = cw_cred_load (ctl->cred_path, &cred, errbuf, sizeof errbuf);
    if (rc == CW_ENOENT)
        return s_fail (ctl, S_EXIT_REFUSED, rc, "the credential %s does not exist",
                       ctl->cred_path);
    /* "line 0: " means the file as a whole: say just the reason. */
    const char *why = strncmp (errbuf, "line 0: ", 8) == 0 ? errbuf + 8 : errbuf;
    if (rc != CW_OK)
        return s_fail (ctl, S_EXIT_REFUSED, rc, "cannot use the credential %s: %s",
                       ctl->cred_path, *why ? why : cw_strerror (rc));
    if (!ctl->api && !*cw_cred_api_endpoint (cred)) {
        cw_cred_destroy (&cred);
        return s_usage_error (ctl, "the credential %s names no api_endpoint: give --api",
                              ctl->cred_path);
    }
    rc = cw_client_new (&ctl->client, cred, ctl->api);
    const char *endpoint = ctl->api ? ctl->api : cw_cred_api_endpoint (cred);
    int status = S_EXIT_OK;
    if (rc == CW_EIO)
        status = s_fail (ctl, S_EXIT_CONNECT, rc, "cannot connect to '%s': not a valid "
                         "ZeroMQ endpoint (tcp://HOST:PORT)", endpoint);
    else if (rc != CW_OK)
        status = s_fail (ctl, S_EXIT_CONNECT, rc, "cannot make the api client: %s",
                         cw_strerror (rc));
    cw_cred_destroy (&cred);
    return status;
}

/*  Connects if needed, sends req and receives the reply. Returns S_EXIT_OK with *reply set,
 *  or an exit status (printed): 3 for no answer, 1 for a refusal (the service's sentence). */
static int
s_call (s_ctl_t *ctl, Coachwire__ApiRequest *req, Coachwire__ApiReply **reply)
{
    int status = ctl->client ? S_EXIT_OK : s_connect (ctl);
    if (status != S_EXIT_OK)
        return status;
    int rc = cw_client_call (ctl->client, req, reply, ctl->timeout_ms);
    if (rc == CW_ETIMEOUT)
        return s_fail (ctl, S_EXIT_CONNECT, rc, "%s", cw_client_hint (ctl->client));
    if (rc != CW_OK)
        return s_fail (ctl, rc == CW_ETOOBIG ? S_EXIT_USAGE : S_EXIT_CONNECT, rc, "%s",
                       *cw_client_hint (ctl->client) ? cw_client_hint (ctl->client)
                                                     : cw_strerror (rc));
    if ((*reply)->code != CW_OK) {
        status = s_fail (ctl, S_EXIT_REFUSED, (*reply)->code, "%s",
                         (*reply)->error && *(*reply)->error ? (*reply)->error
                                                             : cw_strerror ((*reply)->code));
        cw_client_reply_free (reply);
        return status;
    }
    return S_EXIT_OK;
}

/*  Refuses early when the credential file to write cannot be created, so that the service
 *  does not make a key whose credential then has nowhere to go. */
static int
s_out_check (s_ctl_t *ctl, const char *path)
{
    if (!path || !*path)
        return s_usage_error (ctl, "--out FILE is required (the new credential goes there)");
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return s_fail (ctl, S_EXIT_REFUSED, CW_EEXIST,
                       "%s exists already; cwctl never overwrites a credential: choose "
                       "another --out or move the old file away", path);
    if (fd < 0)
        return s_fail (ctl, S_EXIT_REFUSED, CW_EIO, "cannot create %s: %s", path,
                       strerror (errno));
    close (fd);
    unlink (path);
    return S_EXIT_OK;
}

/*  Writes a CredentialReply's text to path and reports. */
static int
s_credential_out (s_ctl_t *ctl, const Coachwire__ApiReply *reply, const char *path,
                  const char *what, const char *name)
{
    const Coachwire__CredentialReply *c = reply->body_case == COACHWIRE__API_REPLY__BODY_CREDENTIAL
                                              ? reply->credential : NULL;
    if (!c || !c->text || !c->id)
        return s_fail (ctl, S_EXIT_REFUSED, CW_EDECODE, "the reply holds no credential");
    int rc = cw_cred_write_text (path, c->text, strlen (c->text));
    if (rc != CW_OK)
        return s_fail (ctl, S_EXIT_REFUSED, rc,
                       "the %s %s was made but its credential could not be written to %s "
                       "(%s); revoke it and try again", what, c->id, path, cw_strerror (rc));
    if (ctl->json) {
        cw_json_t *json = NULL;
        if (cw_json_new (&json, 0) != CW_OK)
            return s_fail (ctl, S_EXIT_REFUSED, CW_ENOMEM, "out of memory");
        cw_json_object_begin (json, NULL);
        cw_json_bool (json, "ok", true);
        cw_json_string (json, "command", ctl->command_name);
        cw_json_string (json, "kind", what);
        cw_json_string (json, "id", c->id);
        cw_json_string (json, "name", name);
        cw_json_string (json, "credential", path);
        cw_json_string (json, "message", reply->error);
        cw_json_object_end (json);
        int status = s_json_print (ctl, json);
        cw_json_destroy (&json);
        return status;
    }
    printf ("%s\nid          %s\ncredential  %s (mode 0600; it holds a secret key)\n",
            reply->error, c->id, path);
    return S_EXIT_OK;
}

/*  ---------------------------------------------------------------------------------------
 *  Commands */

static int
s_user_add (s_ctl_t *ctl, int argc, char **argv)
{
    const char *name = NULL, *locale = NULL, *zone = NULL, *out = NULL;
    const s_option_t options [] = { { "locale", &locale }, { "tz", &zone }, { "out", &out } };
    const char *positional [1] = { NULL };
    int status = s_parse (ctl, argc, argv, options, 3, positional, 1, 1);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    name = positional [0];
    if (locale && strcmp (locale, "en") != 0 && strcmp (locale, "ja") != 0)
        return s_usage_error (ctl, "--locale must be en or ja");
    if ((status = s_connect (ctl)) != S_EXIT_OK
        || (status = s_out_check (ctl, out)) != S_EXIT_OK)
        return status;
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__UserAddRequest body = COACHWIRE__USER_ADD_REQUEST__INIT;
    body.name = (char *) name;
    body.locale = (char *) (locale ? locale : "");
    body.time_zone = (char *) (zone ? zone : "");
    req.body_case = COACHWIRE__API_REQUEST__BODY_USER_ADD;
    req.user_add = &body;
    Coachwire__ApiReply *reply = NULL;
    if ((status = s_call (ctl, &req, &reply)) != S_EXIT_OK)
        return status;
    status = s_credential_out (ctl, reply, out, "user", name);
    cw_client_reply_free (&reply);
    return status;
}

static int
s_device_enroll (s_ctl_t *ctl, int argc, char **argv)
{
    const char *label = NULL, *out = NULL;
    const s_option_t options [] = { { "label", &label }, { "out", &out } };
    const char *positional [1] = { NULL };
    int status = s_parse (ctl, argc, argv, options, 2, positional, 1, 1);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    if ((status = s_connect (ctl)) != S_EXIT_OK
        || (status = s_out_check (ctl, out)) != S_EXIT_OK)
        return status;
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__DeviceEnrollRequest body = COACHWIRE__DEVICE_ENROLL_REQUEST__INIT;
    body.user = (char *) positional [0];
    body.label = (char *) (label ? label : "");
    req.body_case = COACHWIRE__API_REQUEST__BODY_DEVICE_ENROLL;
    req.device_enroll = &body;
    Coachwire__ApiReply *reply = NULL;
    if ((status = s_call (ctl, &req, &reply)) != S_EXIT_OK)
        return status;
    status = s_credential_out (ctl, reply, out, "device", positional [0]);
    cw_client_reply_free (&reply);
    return status;
}

static int
s_device_revoke (s_ctl_t *ctl, int argc, char **argv)
{
    const char *positional [1] = { NULL };
    int status = s_parse (ctl, argc, argv, NULL, 0, positional, 1, 1);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__DeviceRevokeRequest body = COACHWIRE__DEVICE_REVOKE_REQUEST__INIT;
    body.device_id = (char *) positional [0];
    req.body_case = COACHWIRE__API_REQUEST__BODY_DEVICE_REVOKE;
    req.device_revoke = &body;
    Coachwire__ApiReply *reply = NULL;
    if ((status = s_call (ctl, &req, &reply)) != S_EXIT_OK)
        return status;
    if (ctl->json) {
        cw_json_t *json = NULL;
        status = cw_json_new (&json, 0) == CW_OK ? S_EXIT_OK : S_EXIT_REFUSED;
        cw_json_object_begin (json, NULL);
        cw_json_bool (json, "ok", true);
        cw_json_string (json, "command", ctl->command_name);
        cw_json_string (json, "device_id", positional [0]);
        cw_json_string (json, "message", reply->error);
        cw_json_object_end (json);
        if (status == S_EXIT_OK)
            status = s_json_print (ctl, json);
        cw_json_destroy (&json);
    }
    else
        printf ("%s\n", reply->error);
    cw_client_reply_free (&reply);
    return status;
}

static int
s_device_list (s_ctl_t *ctl, int argc, char **argv)
{
    const char *user = NULL;
    const s_option_t options [] = { { "user", &user } };
    int status = s_parse (ctl, argc, argv, options, 1, NULL, 0, 0);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__DeviceListRequest body = COACHWIRE__DEVICE_LIST_REQUEST__INIT;
    body.user = (char *) (user ? user : "");
    req.body_case = COACHWIRE__API_REQUEST__BODY_DEVICE_LIST;
    req.device_list = &body;
    Coachwire__ApiReply *reply = NULL;
    if ((status = s_call (ctl, &req, &reply)) != S_EXIT_OK)
        return status;
    const Coachwire__DeviceListReply *list =
        reply->body_case == COACHWIRE__API_REPLY__BODY_DEVICE_LIST ? reply->device_list : NULL;
    size_t n = list ? list->n_devices : 0;
    if (ctl->json) {
        cw_json_t *json = NULL;
        status = cw_json_new (&json, 0) == CW_OK ? S_EXIT_OK : S_EXIT_REFUSED;
        cw_json_object_begin (json, NULL);
        cw_json_bool (json, "ok", true);
        cw_json_string (json, "command", ctl->command_name);
        cw_json_array_begin (json, "devices");
        for (size_t i = 0; i < n; i++) {
            const Coachwire__DeviceInfo *d = list->devices [i];
            cw_json_object_begin (json, NULL);
            cw_json_string (json, "device_id", d->device_id);
            cw_json_string (json, "user", d->user);
            cw_json_string (json, "label", d->label);
            cw_json_bool (json, "revoked", d->revoked);
            cw_json_uint (json, "enrolled_ms", d->enrolled_ms);
            cw_json_uint (json, "revoked_ms", d->revoked_ms);
            cw_json_uint (json, "last_seen_ms", d->last_seen_ms);
            cw_json_uint (json, "frames", d->frames);
            cw_json_object_end (json);
        }
        cw_json_array_end (json);
        cw_json_object_end (json);
        if (status == S_EXIT_OK)
            status = s_json_print (ctl, json);
        cw_json_destroy (&json);
    }
    else {
        s_table_t table = { 7, 0, 0, NULL, false };
        const char *head [] = { "DEVICE_ID", "USER", "LABEL", "STATE", "ENROLLED", "LAST_SEEN",
                                "FRAMES" };
        for (size_t k = 0; k < 7; k++)
            s_table_cell (&table, head [k]);
        for (size_t i = 0; i < n; i++) {
            const Coachwire__DeviceInfo *d = list->devices [i];
            char enrolled [32], seen [32], frames [24];
            s_time_text (enrolled, sizeof enrolled, d->enrolled_ms);
            s_time_text (seen, sizeof seen, d->last_seen_ms);
            snprintf (frames, sizeof frames, "%llu", (unsigned long long) d->frames);
            s_table_cell (&table, d->device_id);
            s_table_cell (&table, d->user);
            s_table_cell (&table, d->label);
            s_table_cell (&table, d->revoked ? "revoked" : "active");
            s_table_cell (&table, enrolled);
            s_table_cell (&table, seen);
            s_table_cell (&table, frames);
        }
        if (s_table_print (&table) != CW_OK)
            status = s_fail (ctl, S_EXIT_REFUSED, CW_ENOMEM, "out of memory");
    }
    cw_client_reply_free (&reply);
    return status;
}

static int
s_user_list (s_ctl_t *ctl, int argc, char **argv)
{
    int status = s_parse (ctl, argc, argv, NULL, 0, NULL, 0, 0);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__UserListRequest body = COACHWIRE__USER_LIST_REQUEST__INIT;
    req.body_case = COACHWIRE__API_REQUEST__BODY_USER_LIST;
    req.user_list = &body;
    Coachwire__ApiReply *reply = NULL;
    if ((status = s_call (ctl, &req, &reply)) != S_EXIT_OK)
        return status;
    const Coachwire__UserListReply *list =
        reply->body_case == COACHWIRE__API_REPLY__BODY_USER_LIST ? reply->user_list : NULL;
    size_t n = list ? list->n_users : 0;
    if (ctl->json) {
        cw_json_t *json = NULL;
        status = cw_json_new (&json, 0) == CW_OK ? S_EXIT_OK : S_EXIT_REFUSED;
        cw_json_object_begin (json, NULL);
        cw_json_bool (json, "ok", true);
        cw_json_string (json, "command", ctl->command_name);
        cw_json_array_begin (json, "users");
        for (size_t i = 0; i < n; i++) {
            const Coachwire__UserInfo *u = list->users [i];
            cw_json_object_begin (json, NULL);
            cw_json_string (json, "user_id", u->user_id);
            cw_json_string (json, "name", u->name);
            cw_json_string (json, "locale", u->locale);
            cw_json_string (json, "time_zone", u->time_zone);
            cw_json_uint (json, "created_ms", u->created_ms);
            cw_json_object_end (json);
        }
        cw_json_array_end (json);
        cw_json_object_end (json);
        if (status == S_EXIT_OK)
            status = s_json_print (ctl, json);
        cw_json_destroy (&json);
    }
    else {
        s_table_t table = { 5, 0, 0, NULL, false };
        const char *head [] = { "USER_ID", "NAME", "LOCALE", "TIME_ZONE", "CREATED" };
        for (size_t k = 0; k < 5; k++)
            s_table_cell (&table, head [k]);
        for (size_t i = 0; i < n; i++) {
            const Coachwire__UserInfo *u = list->users [i];
            char created [32];
            s_time_text (created, sizeof created, u->created_ms);
            s_table_cell (&table, u->user_id);
            s_table_cell (&table, u->name);
            s_table_cell (&table, u->locale);
            s_table_cell (&table, u->time_zone);
            s_table_cell (&table, created);
        }
        if (s_table_print (&table) != CW_OK)
            status = s_fail (ctl, S_EXIT_REFUSED, CW_ENOMEM, "out of memory");
    }
    cw_client_reply_free (&reply);
    return status;
}

static int
s_stats (s_ctl_t *ctl, int argc, char **argv)
{
    int status = s_parse (ctl, argc, argv, NULL, 0, NULL, 0, 0);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__StatsRequest body = COACHWIRE__STATS_REQUEST__INIT;
    req.body_case = COACHWIRE__API_REQUEST__BODY_STATS;
    req.stats = &body;
    Coachwire__ApiReply *reply = NULL;
    if ((status = s_call (ctl, &req, &reply)) != S_EXIT_OK)
        return status;
    const Coachwire__StatsReply *stats =
        reply->body_case == COACHWIRE__API_REPLY__BODY_STATS ? reply->stats : NULL;
    size_t n = stats ? stats->n_counters : 0;
    uint64_t uptime = stats ? stats->uptime_ms : 0;
    if (ctl->json) {
        cw_json_t *json = NULL;
        status = cw_json_new (&json, 0) == CW_OK ? S_EXIT_OK : S_EXIT_REFUSED;
        cw_json_object_begin (json, NULL);
        cw_json_bool (json, "ok", true);
        cw_json_string (json, "command", ctl->command_name);
        cw_json_uint (json, "uptime_ms", uptime);
        cw_json_object_begin (json, "counters");
        for (size_t i = 0; i < n; i++)
            cw_json_uint (json, stats->counters [i]->name, stats->counters [i]->value);
        cw_json_object_end (json);
        cw_json_object_end (json);
        if (status == S_EXIT_OK)
            status = s_json_print (ctl, json);
        cw_json_destroy (&json);
    }
    else {
        uint64_t s = uptime / 1000;
        printf ("uptime  %llud %02lluh %02llum %02llus\n\n", (unsigned long long) (s / 86400),
                (unsigned long long) (s / 3600 % 24), (unsigned long long) (s / 60 % 60),
                (unsigned long long) (s % 60));
        s_table_t table = { 2, 0, 0, NULL, false };
        s_table_cell (&table, "COUNTER");
        s_table_cell (&table, "VALUE");
        for (size_t i = 0; i < n; i++) {
            char value [24];
            snprintf (value, sizeof value, "%llu",
                      (unsigned long long) stats->counters [i]->value);
            s_table_cell (&table, stats->counters [i]->name);
            s_table_cell (&table, value);
        }
        if (s_table_print (&table) != CW_OK)
            status = s_fail (ctl, S_EXIT_REFUSED, CW_ENOMEM, "out of memory");
    }
    cw_client_reply_free (&reply);
    return status;
}

static const s_command_t s_commands [] = {
    { { "user", "add", NULL }, s_user_add, "NAME [--locale en|ja] [--tz ZONE] --out FILE",
      "Adds a person and writes their credential to FILE (mode 0600; never overwritten).\n"
      "  --locale en|ja   language of their nudges (default en)\n"
      "  --tz ZONE        IANA time zone such as Asia/Tokyo (default UTC)\n"
      "  --out FILE       where the new credential goes" },
    { { "user", "list", NULL }, s_user_list, "", "Lists the people." },
    { { "device", "enroll", NULL }, s_device_enroll, "USER --out FILE [--label L]",
      "Enrolls a new device for the person USER and writes the device credential to FILE.\n"
      "  --label L        what the device is (\"phone\", \"watch\")\n"
      "  --out FILE       where the device credential goes (mode 0600; never overwritten)" },
    { { "device", "revoke", NULL }, s_device_revoke, "DEVICE_ID",
      "Revokes a device: its key is refused from now on, its live connection at once." },
    { { "device", "list", NULL }, s_device_list, "[--user NAME]",
      "Lists devices (of one person with --user)." },
    { { "stats", NULL, NULL }, s_stats, "", "Shows the service's counters and uptime." },
};
#define S_COMMANDS (sizeof s_commands / sizeof s_commands [0])

static void
s_tool_help (FILE *out)
{
    fprintf (out,
             "usage: cwctl [--cred FILE] [--api ENDPOINT] [--json] [--timeout S] COMMAND ...\n"
             "\n"
             "  --cred FILE      your credential (default: $CW_CRED)\n"
             "  --api ENDPOINT   the api endpoint (default: api_endpoint in the credential)\n"
             "  --json           print one JSON object instead of text\n"
             "  --timeout S      seconds to wait for the service (default 5)\n"
             "\ncommands:\n");
    for (size_t i = 0; i < S_COMMANDS; i++) {
        char words [32];
        snprintf (words, sizeof words, "%s%s%s", s_commands [i].words [0],
                  s_commands [i].words [1] ? " " : "",
                  s_commands [i].words [1] ? s_commands [i].words [1] : "");
        if (*s_commands [i].usage)
            fprintf (out, "  %-16s %s\n", words, s_commands [i].usage);
        else
            fprintf (out, "  %s\n", words);
    }
    fprintf (out, "\n'cwctl COMMAND --help' tells more. Exit status: 0 done, 1 refused, "
                  "2 usage, 3 no answer.\n");
}

/*  Number of argv words the command's words match (0 when they do not). */
static int
s_match (const s_command_t *command, int argc, char **argv)
{
    int n = 0;
    for (; n < 3 && command->words [n]; n++)
        if (n >= argc || strcmp (argv [n], command->words [n]) != 0)
            return 0;
    return n;
}

int
main (int argc, char **argv)
{
    s_ctl_t ctl;
    memset (&ctl, 0, sizeof ctl);
    if (sodium_init () < 0) {
        fprintf (stderr, "cwctl: libsodium could not start\n");
        return S_EXIT_REFUSED;
    }
    ctl.cred_path = getenv ("CW_CRED");
    ctl.timeout_ms = S_DEFAULT_TIMEOUT_MS;
    int i = 1;
    for (; i < argc && argv [i][0] == '-'; i++) {
        const char *arg = argv [i];
        const char *value = NULL;
        const char *eq = strchr (arg, '=');
        size_t name_len = eq ? (size_t) (eq - arg) : strlen (arg);
        bool takes_value = (name_len == 6 && strncmp (arg, "--cred", 6) == 0)
                           || (name_len == 5 && strncmp (arg, "--api", 5) == 0)
                           || (name_len == 9 && strncmp (arg, "--timeout", 9) == 0);
        if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0) {
            s_tool_help (stdout);
            return S_EXIT_OK;
        }
        if (strcmp (arg, "--json") == 0) {
            ctl.json = true;
            continue;
        }
        if (!takes_value)
            return s_usage_error (&ctl, "unknown option '%s'", arg);
        if (eq)
            value = eq + 1;
        else if (i + 1 < argc)
            value = argv [++i];
        else
            return s_usage_error (&ctl, "option '%.*s' needs a value", (int) name_len, arg);
        if (arg [2] == 'c')
            ctl.cred_path = value;
        else if (arg [2] == 'a')
            ctl.api = value;
        else {
            char *end = NULL;
            errno = 0;
            double seconds = strtod (value, &end);
            if (errno || end == value || *end || !isfinite (seconds) || seconds <= 0
                || seconds > 3600)
                return s_usage_error (&ctl, "--timeout takes seconds, more than 0 and at "
                                            "most 3600");
            ctl.timeout_ms = (int) (seconds * 1000.0 + 0.5);
            if (ctl.timeout_ms < 1)
                ctl.timeout_ms = 1;
        }
    }
    if (i == argc) {
        s_tool_help (stderr);
        return S_EXIT_USAGE;
    }
    for (size_t k = 0; k < S_COMMANDS; k++) {
        int words = s_match (&s_commands [k], argc - i, argv + i);
        if (!words)
            continue;
        ctl.command = &s_commands [k];
        snprintf (ctl.command_name, sizeof ctl.command_name, "%s%s%s",
                  s_commands [k].words [0], words > 1 ? " " : "",
                  words > 1 ? s_commands [k].words [1] : "");
        int status = s_commands [k].run (&ctl, argc - i - words, argv + i + words);
        cw_client_destroy (&ctl.client);
        return status;
    }
    /* A known first word with a wrong second one: name what the group has. */
    char group [128] = "";
    for (size_t k = 0; k < S_COMMANDS; k++)
        if (strcmp (argv [i], s_commands [k].words [0]) == 0 && s_commands [k].words [1]) {
            size_t used = strlen (group);
            snprintf (group + used, sizeof group - used, "%s%s", used ? ", " : "",
                      s_commands [k].words [1]);
        }
    if (group [0])
        return s_usage_error (&ctl, "unknown command '%s %s'; '%s' takes: %s", argv [i],
                              i + 1 < argc ? argv [i + 1] : "", argv [i], group);
    return s_usage_error (&ctl, "unknown command '%s'", argv [i]);
}
