/*  cwctl.c - the command line for operators, people and coaches.
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
#include "coachwire/cw_ledger.h"
#include "coachwire/cw_nudge.h"

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

/*  A command option: with value, --name VALUE or --name=VALUE; with flag only, --name; with
 *  both, --name alone or --name=VALUE (an optional value). */
typedef struct {
    const char *name;               /* without the dashes */
    const char **value;             /* set when given (NULL: a flag) */
    bool *flag;                     /* set to true when given (NULL: takes a value) */
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

/*  Starts a command's JSON object: {"ok":true,"command":...}. Returns S_EXIT_OK, or
 *  S_EXIT_REFUSED when out of memory (*json is NULL then, and writing to it does nothing). */
static int
s_json_begin (s_ctl_t *ctl, cw_json_t **json)
{
    int status = cw_json_new (json, 0) == CW_OK ? S_EXIT_OK : S_EXIT_REFUSED;
    cw_json_object_begin (*json, NULL);
    cw_json_bool (*json, "ok", true);
    cw_json_string (*json, "command", ctl->command_name);
    return status;
}

/*  Closes the object, prints it when status is S_EXIT_OK, frees it. Returns the status. */
static int
s_json_end (s_ctl_t *ctl, cw_json_t **json, int status)
{
    cw_json_object_end (*json);
    if (status == S_EXIT_OK)
        status = s_json_print (ctl, *json);
    cw_json_destroy (json);
    return status;
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

/*  An empty table of columns, with the heading row head (NULL: none). */
static void
s_table_begin (s_table_t *table, size_t columns, const char *const *head)
{
    memset (table, 0, sizeof *table);
    table->columns = columns;
    for (size_t k = 0; head && k < columns; k++)
        s_table_cell (table, head [k]);
}

/*  Prints and frees the table. Returns status, or S_EXIT_REFUSED (printed) when status was
 *  S_EXIT_OK and the table ran out of memory. */
static int
s_table_end (s_ctl_t *ctl, s_table_t *table, int status)
{
    if (s_table_print (table) != CW_OK && status == S_EXIT_OK)
        status = s_fail (ctl, S_EXIT_REFUSED, CW_ENOMEM, "out of memory");
    return status;
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
            if (option->flag) {
                *option->flag = true;
                if (eq && !option->value)
                    return s_usage_error (ctl, "option '--%s' takes no value", option->name);
                if (eq)
                    *option->value = eq + 1;
                continue;
            }
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
        if (s_json_begin (ctl, &json) != S_EXIT_OK)
            return s_fail (ctl, S_EXIT_REFUSED, CW_ENOMEM, "out of memory");
        cw_json_string (json, "kind", what);
        cw_json_string (json, "id", c->id);
        cw_json_string (json, "name", name);
        cw_json_string (json, "credential", path);
        cw_json_string (json, "message", reply->error);
        return s_json_end (ctl, &json, S_EXIT_OK);
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
    const s_option_t options [] = { { "locale", &locale, NULL }, { "tz", &zone, NULL },
                                    { "out", &out, NULL } };
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
    const s_option_t options [] = { { "label", &label, NULL }, { "out", &out, NULL } };
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
        status = s_json_begin (ctl, &json);
        cw_json_string (json, "device_id", positional [0]);
        cw_json_string (json, "message", reply->error);
        status = s_json_end (ctl, &json, status);
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
    const s_option_t options [] = { { "user", &user, NULL } };
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
        status = s_json_begin (ctl, &json);
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
        status = s_json_end (ctl, &json, status);
    }
    else {
        const char *head [] = { "DEVICE_ID", "USER", "LABEL", "STATE", "ENROLLED", "LAST_SEEN",
                                "FRAMES" };
        s_table_t table;
        s_table_begin (&table, 7, head);
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
        status = s_table_end (ctl, &table, status);
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
        status = s_json_begin (ctl, &json);
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
        status = s_json_end (ctl, &json, status);
    }
    else {
        const char *head [] = { "USER_ID", "NAME", "LOCALE", "TIME_ZONE", "CREATED" };
        s_table_t table;
        s_table_begin (&table, 5, head);
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
        status = s_table_end (ctl, &table, status);
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
        status = s_json_begin (ctl, &json);
        cw_json_uint (json, "uptime_ms", uptime);
        cw_json_object_begin (json, "counters");
        for (size_t i = 0; i < n; i++)
            cw_json_uint (json, stats->counters [i]->name, stats->counters [i]->value);
        cw_json_object_end (json);
        status = s_json_end (ctl, &json, status);
    }
    else {
        uint64_t s = uptime / 1000;
        printf ("uptime  %llud %02lluh %02llum %02llus\n\n", (unsigned long long) (s / 86400),
                (unsigned long long) (s / 3600 % 24), (unsigned long long) (s / 60 % 60),
                (unsigned long long) (s % 60));
        const char *head [] = { "COUNTER", "VALUE" };
        s_table_t table;
        s_table_begin (&table, 2, head);
        for (size_t i = 0; i < n; i++) {
            char value [24];
            snprintf (value, sizeof value, "%llu",
                      (unsigned long long) stats->counters [i]->value);
            s_table_cell (&table, stats->counters [i]->name);
            s_table_cell (&table, value);
        }
        status = s_table_end (ctl, &table, status);
    }
    cw_client_reply_free (&reply);
    return status;
}

/*  ---------------------------------------------------------------------------------------
 *  A person's consent and data (issue 3). With a person's credential (or, for consent, a
 *  device's): the service knows whose consent it is from the key. */

#define S_DAY_MS (24ull * 3600 * 1000)
#define S_EXPORT_PAGE 500u

/*  Parses a whole number of days (1 .. 36500). */
static bool
s_parse_days (const char *text, uint64_t *days)
{
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull (text, &end, 10);
    if (errno || end == text || *end || text [0] == '-' || n == 0 || n > 36500)
        return false;
    *days = n;
    return true;
}

/*  --since: DAYS (that many days ago), YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS[Z] (UTC). */
static bool
s_parse_since (const char *text, uint64_t *ms)
{
    uint64_t days = 0;
    if (s_parse_days (text, &days)) {
        uint64_t now = (uint64_t) time (NULL) * 1000u;
        *ms = now > days * S_DAY_MS ? now - days * S_DAY_MS : 0;
        return true;
    }
    struct tm tm;
    memset (&tm, 0, sizeof tm);
    int n = 0, year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    size_t len = strlen (text);
    if (len == 10 && sscanf (text, "%4d-%2d-%2d%n", &year, &month, &day, &n) == 3 && n == 10)
        ;
    else if ((len == 19 || (len == 20 && text [19] == 'Z'))
             && sscanf (text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                        &second, &n) == 6 && n == 19)
        ;
    else
        return false;
    if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23
        || minute > 59 || second > 60)
        return false;
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    time_t t = timegm (&tm);
    if (t < 0)
        return false;
    *ms = (uint64_t) t * 1000u;
    return true;
}

/*  Opens path for writing, refusing to overwrite (mode 0600: it holds personal data). */
static int
s_open_out (s_ctl_t *ctl, const char *path, FILE **out)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return s_fail (ctl, S_EXIT_REFUSED, CW_EEXIST, "%s exists already: cwctl does not "
                       "overwrite it", path);
    if (fd < 0)
        return s_fail (ctl, S_EXIT_REFUSED, CW_EIO, "cannot create %s: %s", path,
                       strerror (errno));
    *out = fdopen (fd, "w");
    if (!*out) {
        close (fd);
        return s_fail (ctl, S_EXIT_REFUSED, CW_EIO, "cannot write %s", path);
    }
    return S_EXIT_OK;
}

/*  Prints {"ok":true,"command":..,"message":..} or the message. */
static int
s_print_message (s_ctl_t *ctl, const char *message)
{
    if (!ctl->json) {
        printf ("%s\n", message);
        return S_EXIT_OK;
    }
    cw_json_t *json = NULL;
    if (s_json_begin (ctl, &json) != S_EXIT_OK)
        return s_fail (ctl, S_EXIT_REFUSED, CW_ENOMEM, "out of memory");
    cw_json_string (json, "message", message);
    return s_json_end (ctl, &json, S_EXIT_OK);
}

/*  A reply that is only its sentence. */
static int
s_print_reply (s_ctl_t *ctl, const Coachwire__ApiReply *reply)
{
    return s_print_message (ctl, reply->error);
}

/*  Sends req and prints the reply with print. Returns an exit status (printed on failure). */
static int
s_call_print (s_ctl_t *ctl, Coachwire__ApiRequest *req,
              int (*print) (s_ctl_t *ctl, const Coachwire__ApiReply *reply))
{
    Coachwire__ApiReply *reply = NULL;
    int status = s_call (ctl, req, &reply);
    if (status != S_EXIT_OK)
        return status;
    status = print (ctl, reply);
    cw_client_reply_free (&reply);
    return status;
}

static int
s_consent_change (s_ctl_t *ctl, int argc, char **argv, bool grant)
{
    const char *expires = NULL, *user = NULL;
    const s_option_t options [] = { { "user", &user, NULL }, { "expires", &expires, NULL } };
    const char *positional [2] = { NULL, NULL };
    int status = s_parse (ctl, argc, argv, options, grant ? 2 : 1, positional, 2, 2);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    uint64_t days = 0;
    if (expires && !s_parse_days (expires, &days))
        return s_usage_error (ctl, "--expires takes a number of days (1 to 36500)");
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__ConsentChangeRequest body = COACHWIRE__CONSENT_CHANGE_REQUEST__INIT;
    body.pattern = (char *) positional [0];
    body.purpose = (char *) positional [1];
    body.user = (char *) (user ? user : "");
    body.expires_ms = days ? (uint64_t) time (NULL) * 1000u + days * S_DAY_MS : 0;
    req.body_case = grant ? COACHWIRE__API_REQUEST__BODY_CONSENT_GRANT
                          : COACHWIRE__API_REQUEST__BODY_CONSENT_REVOKE;
    if (grant)
        req.consent_grant = &body;
    else
        req.consent_revoke = &body;
    Coachwire__ApiReply *reply = NULL;
    if ((status = s_call (ctl, &req, &reply)) != S_EXIT_OK)
        return status;
    const Coachwire__ConsentChangeReply *c =
        reply->body_case == COACHWIRE__API_REPLY__BODY_CONSENT_CHANGE ? reply->consent_change
                                                                      : NULL;
    if (!c) {
        cw_client_reply_free (&reply);
        return s_fail (ctl, S_EXIT_REFUSED, CW_EDECODE, "the reply holds no receipt");
    }
    if (ctl->json) {
        cw_json_t *json = NULL;
        status = s_json_begin (ctl, &json);
        cw_json_string (json, "pattern", c->pattern);
        cw_json_string (json, "purpose", c->purpose);
        cw_json_uint (json, "fields", c->fields);
        cw_json_uint (json, "changed", c->changed);
        cw_json_bool (json, "recorded", c->recorded);
        cw_json_uint (json, "position", c->position);
        cw_json_uint (json, "policy_version", c->policy_version);
        cw_json_uint (json, "expires_ms", body.expires_ms);
        cw_json_string (json, "receipt", c->receipt);
        cw_json_string (json, "public_key", c->public_key);
        cw_json_string (json, "message", reply->error);
        status = s_json_end (ctl, &json, status);
    }
    else {
        printf ("%s\n", reply->error);
        if (c->recorded)
            printf ("receipt %llu (policy %u), signed by %s\n",
                    (unsigned long long) c->position, c->policy_version, c->public_key);
    }
    cw_client_reply_free (&reply);
    return status;
}

static int
s_consent_grant (s_ctl_t *ctl, int argc, char **argv)
{
    return s_consent_change (ctl, argc, argv, true);
}

static int
s_consent_revoke (s_ctl_t *ctl, int argc, char **argv)
{
    return s_consent_change (ctl, argc, argv, false);
}

static int
s_consent_show (s_ctl_t *ctl, int argc, char **argv)
{
    const char *user = NULL, *field = NULL;
    bool policy = false;
    const s_option_t options [] = { { "policy", NULL, &policy }, { "user", &user, NULL },
                                    { "field", &field, NULL } };
    int status = s_parse (ctl, argc, argv, options, 3, NULL, 0, 0);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__ConsentShowRequest body = COACHWIRE__CONSENT_SHOW_REQUEST__INIT;
    body.user = (char *) (user ? user : "");
    body.pattern = (char *) (field ? field : "");
    req.body_case = COACHWIRE__API_REQUEST__BODY_CONSENT_SHOW;
    req.consent_show = &body;
    Coachwire__ApiReply *reply = NULL;
    if ((status = s_call (ctl, &req, &reply)) != S_EXIT_OK)
        return status;
    const Coachwire__ConsentShowReply *show =
        reply->body_case == COACHWIRE__API_REPLY__BODY_CONSENT_SHOW ? reply->consent_show : NULL;
    size_t n = show ? show->n_states : 0;
    if (ctl->json) {
        cw_json_t *json = NULL;
        status = s_json_begin (ctl, &json);
        cw_json_uint (json, "policy_version", show ? show->policy_version : 0);
        if (policy)
            cw_json_string (json, "policy_text", show ? show->policy_text : "");
        cw_json_array_begin (json, "consent");
        for (size_t i = 0; i < n; i++) {
            const Coachwire__ConsentState *st = show->states [i];
            cw_json_object_begin (json, NULL);
            cw_json_string (json, "field", st->field);
            cw_json_string (json, "purpose", st->purpose);
            cw_json_bool (json, "granted", st->granted);
            cw_json_string (json, "grant_id", st->grant_id);
            cw_json_uint (json, "policy_version", st->policy_version);
            cw_json_uint (json, "granted_ms", st->granted_ms);
            cw_json_uint (json, "expires_ms", st->expires_ms);
            cw_json_object_end (json);
        }
        cw_json_array_end (json);
        status = s_json_end (ctl, &json, status);
    }
    else {
        if (policy && show) {
            printf ("policy version %u\n\n", show->policy_version);
            for (const char *c = show->policy_text; c && *c; c++)
                putchar (((unsigned char) *c < 0x20 && *c != '\n') || *c == 0x7f ? '?' : *c);
            printf ("\n\n");
        }
        const char *head [] = { "FIELD", "PURPOSE", "STATE", "EXPIRES", "GRANT (POLICY)" };
        s_table_t table;
        s_table_begin (&table, 5, head);
        for (size_t i = 0; i < n; i++) {
            const Coachwire__ConsentState *st = show->states [i];
            char expires [32], grant [64];
            if (st->granted && st->expires_ms)
                s_time_text (expires, sizeof expires, st->expires_ms);
            else
                snprintf (expires, sizeof expires, st->granted ? "until withdrawn" : "-");
            if (st->granted)
                snprintf (grant, sizeof grant, "%.32s (%u)", st->grant_id, st->policy_version);
            else
                snprintf (grant, sizeof grant, "-");
            s_table_cell (&table, st->field);
            s_table_cell (&table, st->purpose);
            s_table_cell (&table, st->granted ? "granted" : "-");
            s_table_cell (&table, expires);
            s_table_cell (&table, grant);
        }
        status = s_table_end (ctl, &table, status);
        if (status == S_EXIT_OK && show)
            printf ("\npolicy version %u in force (cwctl consent show --policy shows its "
                    "text)\n", show->policy_version);
    }
    cw_client_reply_free (&reply);
    return status;
}

/*  Reads a whole file of receipts (at most CW_LEDGER_EXPORT_MAX bytes). */
static int
s_read_receipts (s_ctl_t *ctl, const char *path, char **text, size_t *len)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return s_fail (ctl, S_EXIT_REFUSED, CW_ENOENT, "cannot read %s: %s", path,
                       strerror (errno));
    size_t cap = 64 * 1024, n = 0;
    char *buf = malloc (cap + 1);
    while (buf) {
        size_t got = fread (buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        if (cap >= CW_LEDGER_EXPORT_MAX) {
            free (buf);
            fclose (f);
            return s_fail (ctl, S_EXIT_REFUSED, CW_ETOOBIG, "%s is larger than %u bytes", path,
                           (unsigned) CW_LEDGER_EXPORT_MAX);
        }
        cap *= 2;
        char *grown = realloc (buf, cap + 1);
        if (!grown)
            free (buf);
        buf = grown;
    }
    bool failed = ferror (f) != 0;
    fclose (f);
    if (!buf)
        return s_fail (ctl, S_EXIT_REFUSED, CW_ENOMEM, "out of memory reading %s", path);
    if (failed) {
        free (buf);
        return s_fail (ctl, S_EXIT_REFUSED, CW_EIO, "cannot read %s", path);
    }
    buf [n] = 0;
    *text = buf;
    *len = n;
    return S_EXIT_OK;
}

/*  Runs the offline verifier and reports. key may be NULL (integrity only). */
static int
s_verify_report (s_ctl_t *ctl, const char *text, size_t len, const uint8_t *key,
                 const char *key_hex)
{
    size_t entries = 0, bad = 0;
    char reason [256] = "";
    int rc = cw_ledger_verify_jsonl (text, len, key, &entries, &bad, reason, sizeof reason);
    if (rc != CW_OK)
        return s_fail (ctl, S_EXIT_REFUSED, rc, "receipt at position %zu is bad: %s (%zu "
                       "receipt%s before it verified)", bad, reason, entries,
                       entries == 1 ? "" : "s");
    if (ctl->json) {
        cw_json_t *json = NULL;
        if (s_json_begin (ctl, &json) != S_EXIT_OK)
            return s_fail (ctl, S_EXIT_REFUSED, CW_ENOMEM, "out of memory");
        cw_json_bool (json, "verified", true);
        cw_json_uint (json, "receipts", entries);
        cw_json_string (json, "public_key", key_hex ? key_hex : "");
        cw_json_bool (json, "signer_pinned", key != NULL);
        return s_json_end (ctl, &json, S_EXIT_OK);
    }
    printf ("verified %zu receipt%s", entries, entries == 1 ? "" : "s");
    if (key)
        printf (" signed by %s\n", key_hex);
    else
        printf (" (chain and signatures intact; give --key HEX to pin the service's signing "
                "key)\n");
    return S_EXIT_OK;
}

static int
s_consent_receipts (s_ctl_t *ctl, int argc, char **argv)
{
    const char *out = NULL, *file = NULL, *key_hex = NULL, *user = NULL;
    bool verify = false;
    const s_option_t options [] = { { "out", &out, NULL }, { "verify", &file, &verify },
                                    { "key", &key_hex, NULL }, { "user", &user, NULL } };
    const char *positional [1] = { NULL };
    int status = s_parse (ctl, argc, argv, options, 4, positional, 0, 1);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    if (positional [0]) {
        if (!verify || file)
            return s_usage_error (ctl, "unexpected argument '%s'", positional [0]);
        file = positional [0];
    }
    uint8_t key [CW_LEDGER_PUBLIC_KEY_BYTES];
    if (key_hex && (strlen (key_hex) != 2 * sizeof key
                    || cw_hex_decode (key, sizeof key, key_hex) != CW_OK))
        return s_usage_error (ctl, "--key takes the service's public key: 64 hex characters");
    if (file) {         /* fully offline: no credential, no service */
        if (out)
            return s_usage_error (ctl, "--out goes with fetching, not with --verify FILE");
        char *text = NULL;
        size_t len = 0;
        if ((status = s_read_receipts (ctl, file, &text, &len)) != S_EXIT_OK)
            return status;
        status = s_verify_report (ctl, text, len, key_hex ? key : NULL, key_hex);
        free (text);
        return status;
    }
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__ConsentReceiptsRequest body = COACHWIRE__CONSENT_RECEIPTS_REQUEST__INIT;
    body.user = (char *) (user ? user : "");
    req.body_case = COACHWIRE__API_REQUEST__BODY_CONSENT_RECEIPTS;
    req.consent_receipts = &body;
    Coachwire__ApiReply *reply = NULL;
    if ((status = s_call (ctl, &req, &reply)) != S_EXIT_OK)
        return status;
    const Coachwire__ConsentReceiptsReply *r =
        reply->body_case == COACHWIRE__API_REPLY__BODY_CONSENT_RECEIPTS ? reply->consent_receipts
                                                                        : NULL;
    if (!r || !r->receipts || !r->public_key) {
        cw_client_reply_free (&reply);
        return s_fail (ctl, S_EXIT_REFUSED, CW_EDECODE, "the reply holds no receipts");
    }
    size_t len = strlen (r->receipts);
    if (out) {
        FILE *f = NULL;
        if ((status = s_open_out (ctl, out, &f)) != S_EXIT_OK) {
            cw_client_reply_free (&reply);
            return status;
        }
        bool ok = fwrite (r->receipts, 1, len, f) == len;
        ok = fclose (f) == 0 && ok;
        if (!ok) {
            cw_client_reply_free (&reply);
            return s_fail (ctl, S_EXIT_REFUSED, CW_EIO, "cannot write %s", out);
        }
    }
    if (verify) {
        /* The key given by hand wins; otherwise the one the service states now. */
        uint8_t fetched [CW_LEDGER_PUBLIC_KEY_BYTES];
        const char *hex = key_hex ? key_hex : r->public_key;
        bool have = key_hex || (strlen (r->public_key) == 2 * sizeof fetched
                                && cw_hex_decode (fetched, sizeof fetched, r->public_key)
                                       == CW_OK);
        status = s_verify_report (ctl, r->receipts, len, key_hex ? key : have ? fetched : NULL,
                                  hex);
    }
    else if (out)
        status = s_print_message (ctl, reply->error);
    else if (ctl->json) {
        cw_json_t *json = NULL;
        status = s_json_begin (ctl, &json);
        cw_json_uint (json, "count", r->count);
        cw_json_string (json, "public_key", r->public_key);
        cw_json_string (json, "receipts", r->receipts);
        status = s_json_end (ctl, &json, status);
    }
    else
        fwrite (r->receipts, 1, len, stdout);
    if (out && !ctl->json)
        fprintf (stderr, "%llu receipts written to %s; service public key %s\n",
                 (unsigned long long) r->count, out, r->public_key);
    cw_client_reply_free (&reply);
    return status;
}

static int
s_access_log (s_ctl_t *ctl, int argc, char **argv)
{
    const char *since = NULL, *user = NULL;
    const s_option_t options [] = { { "since", &since, NULL }, { "user", &user, NULL } };
    int status = s_parse (ctl, argc, argv, options, 2, NULL, 0, 0);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    uint64_t since_ms = 0;
    if (since && !s_parse_since (since, &since_ms))
        return s_usage_error (ctl, "--since takes days (7) or a UTC date (2024-05-01 or "
                             "2024-05-01T12:00:00Z)");
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__AccessLogRequest body = COACHWIRE__ACCESS_LOG_REQUEST__INIT;
    body.user = (char *) (user ? user : "");
    body.since_ms = since_ms;
    req.body_case = COACHWIRE__API_REQUEST__BODY_ACCESS_LOG;
    req.access_log = &body;
    Coachwire__ApiReply *reply = NULL;
    if ((status = s_call (ctl, &req, &reply)) != S_EXIT_OK)
        return status;
    const Coachwire__AccessLogReply *log =
        reply->body_case == COACHWIRE__API_REPLY__BODY_ACCESS_LOG ? reply->access_log : NULL;
    size_t n = log ? log->n_entries : 0;
    if (ctl->json) {
        cw_json_t *json = NULL;
        status = s_json_begin (ctl, &json);
        cw_json_array_begin (json, "entries");
        for (size_t i = 0; i < n; i++) {
            const Coachwire__AccessEntry *e = log->entries [i];
            cw_json_object_begin (json, NULL);
            cw_json_uint (json, "ts_ms", e->ts_ms);
            cw_json_string (json, "actor", e->actor);
            cw_json_string (json, "actor_id", e->actor_id);
            cw_json_string (json, "what", e->what);
            cw_json_string (json, "purpose", e->purpose);
            cw_json_string (json, "fields", e->fields);
            cw_json_string (json, "grant_ids", e->grant_ids);
            cw_json_string (json, "detail", e->detail);
            cw_json_object_end (json);
        }
        cw_json_array_end (json);
        status = s_json_end (ctl, &json, status);
    }
    else {
        const char *head [] = { "WHEN", "WHO", "WHAT", "PURPOSE", "FIELDS", "DETAIL" };
        s_table_t table;
        s_table_begin (&table, 6, head);
        for (size_t i = 0; i < n; i++) {
            const Coachwire__AccessEntry *e = log->entries [i];
            char when [32];
            s_time_text (when, sizeof when, e->ts_ms);
            s_table_cell (&table, when);
            s_table_cell (&table, e->actor);
            s_table_cell (&table, e->what);
            s_table_cell (&table, *e->purpose ? e->purpose : "-");
            s_table_cell (&table, e->fields);
            s_table_cell (&table, e->detail);
        }
        status = s_table_end (ctl, &table, status);
    }
    cw_client_reply_free (&reply);
    return status;
}

static int
s_data_export (s_ctl_t *ctl, int argc, char **argv)
{
    const char *out = NULL, *user = NULL;
    const s_option_t options [] = { { "out", &out, NULL }, { "user", &user, NULL } };
    int status = s_parse (ctl, argc, argv, options, 2, NULL, 0, 0);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    if ((status = s_connect (ctl)) != S_EXIT_OK)
        return status;
    FILE *f = stdout;
    if (out && (status = s_open_out (ctl, out, &f)) != S_EXIT_OK)
        return status;
    int64_t after = 0;
    uint64_t readings = 0, unreadable = 0, pages = 0;
    bool done = false;
    while (!done && status == S_EXIT_OK) {
        Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
        Coachwire__DataExportRequest body = COACHWIRE__DATA_EXPORT_REQUEST__INIT;
        body.user = (char *) (user ? user : "");
        body.after_row = after;
        body.limit = S_EXPORT_PAGE;
        req.body_case = COACHWIRE__API_REQUEST__BODY_DATA_EXPORT;
        req.data_export = &body;
        Coachwire__ApiReply *reply = NULL;
        if ((status = s_call (ctl, &req, &reply)) != S_EXIT_OK)
            break;
        const Coachwire__DataExportReply *page =
            reply->body_case == COACHWIRE__API_REPLY__BODY_DATA_EXPORT ? reply->data_export
                                                                       : NULL;
        if (!page || !page->lines || (!page->done && page->next_row <= after)) {
            cw_client_reply_free (&reply);
            status = s_fail (ctl, S_EXIT_REFUSED, CW_EDECODE, "the reply holds no export page");
            break;
        }
        size_t len = strlen (page->lines);
        if (fwrite (page->lines, 1, len, f) != len)
            status = s_fail (ctl, S_EXIT_REFUSED, CW_EIO, "cannot write the export");
        readings += page->readings;
        unreadable += page->unreadable;
        pages++;
        done = page->done;
        after = page->next_row;
        cw_client_reply_free (&reply);
    }
    if (out) {
        if (fclose (f) != 0 && status == S_EXIT_OK)
            status = s_fail (ctl, S_EXIT_REFUSED, CW_EIO, "cannot write %s", out);
        if (status == S_EXIT_OK) {
            char message [256];
            snprintf (message, sizeof message, "exported %llu readings (%llu unreadable) and "
                      "your consent history and access log to %s",
                      (unsigned long long) readings, (unsigned long long) unreadable, out);
            status = s_print_message (ctl, message);
        }
    }
    else
        fflush (stdout);
    return status;
}

static int
s_data_erase (s_ctl_t *ctl, int argc, char **argv)
{
    const char *field = NULL, *user = NULL;
    bool yes = false;
    const s_option_t options [] = { { "field", &field, NULL }, { "yes", NULL, &yes },
                                    { "user", &user, NULL } };
    int status = s_parse (ctl, argc, argv, options, 3, NULL, 0, 0);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    if (!yes)
        return s_usage_error (ctl, "erasure cannot be undone: add --yes to erase %s",
                              field ? field : "all your data");
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__DataEraseRequest body = COACHWIRE__DATA_ERASE_REQUEST__INIT;
    body.user = (char *) (user ? user : "");
    body.field = (char *) (field ? field : "");
    req.body_case = COACHWIRE__API_REQUEST__BODY_DATA_ERASE;
    req.data_erase = &body;
    Coachwire__ApiReply *reply = NULL;
    if ((status = s_call (ctl, &req, &reply)) != S_EXIT_OK)
        return status;
    const Coachwire__DataEraseReply *e =
        reply->body_case == COACHWIRE__API_REPLY__BODY_DATA_ERASE ? reply->data_erase : NULL;
    if (ctl->json && e) {
        cw_json_t *json = NULL;
        status = s_json_begin (ctl, &json);
        cw_json_string (json, "field", e->field);
        cw_json_uint (json, "frames_deleted", e->frames_deleted);
        cw_json_uint (json, "frames_rewritten", e->frames_rewritten);
        cw_json_uint (json, "access_rows_deleted", e->access_rows_deleted);
        cw_json_uint (json, "devices_revoked", e->devices_revoked);
        cw_json_uint (json, "grants_withdrawn", e->grants_withdrawn);
        cw_json_string (json, "receipt", e->receipt);
        cw_json_string (json, "message", reply->error);
        status = s_json_end (ctl, &json, status);
    }
    else
        status = s_print_message (ctl, reply->error);
    cw_client_reply_free (&reply);
    return status;
}

/*  ---------------------------------------------------------------------------------------
 *  Coaches and the person's nudges (issue 4). An operator adds coaches; a person accepts or
 *  removes one, sees their nudges and sets their quiet hours; a coach sees their clients'
 *  plans, progress and nudges (only what each shared for coach_review). */

#define S_CHART_WIDTH 40
#define S_PLAN_FILE_MAX (64u * 1024u)

static int
s_coach_add (s_ctl_t *ctl, int argc, char **argv)
{
    const char *out = NULL;
    const s_option_t options [] = { { "out", &out, NULL } };
    const char *positional [1] = { NULL };
    int status = s_parse (ctl, argc, argv, options, 1, positional, 1, 1);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    if ((status = s_connect (ctl)) != S_EXIT_OK
        || (status = s_out_check (ctl, out)) != S_EXIT_OK)
        return status;
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__CoachAddRequest body = COACHWIRE__COACH_ADD_REQUEST__INIT;
    body.name = (char *) positional [0];
    req.body_case = COACHWIRE__API_REQUEST__BODY_COACH_ADD;
    req.coach_add = &body;
    Coachwire__ApiReply *reply = NULL;
    if ((status = s_call (ctl, &req, &reply)) != S_EXIT_OK)
        return status;
    status = s_credential_out (ctl, reply, out, "coach", positional [0]);
    cw_client_reply_free (&reply);
    return status;
}

static int
s_coach_link (s_ctl_t *ctl, int argc, char **argv, bool accept)
{
    const char *positional [1] = { NULL };
    int status = s_parse (ctl, argc, argv, NULL, 0, positional, 1, 1);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__CoachLinkRequest body = COACHWIRE__COACH_LINK_REQUEST__INIT;
    body.coach = (char *) positional [0];
    req.body_case = accept ? COACHWIRE__API_REQUEST__BODY_COACH_ACCEPT
                           : COACHWIRE__API_REQUEST__BODY_COACH_REMOVE;
    if (accept)
        req.coach_accept = &body;
    else
        req.coach_remove = &body;
    return s_call_print (ctl, &req, s_print_reply);
}

static int
s_coach_accept (s_ctl_t *ctl, int argc, char **argv)
{
    return s_coach_link (ctl, argc, argv, true);
}

static int
s_coach_remove (s_ctl_t *ctl, int argc, char **argv)
{
    return s_coach_link (ctl, argc, argv, false);
}

static int
s_clients (s_ctl_t *ctl, int argc, char **argv)
{
    int status = s_parse (ctl, argc, argv, NULL, 0, NULL, 0, 0);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__ClientsRequest body = COACHWIRE__CLIENTS_REQUEST__INIT;
    req.body_case = COACHWIRE__API_REQUEST__BODY_CLIENTS;
    req.clients = &body;
    Coachwire__ApiReply *reply = NULL;
    if ((status = s_call (ctl, &req, &reply)) != S_EXIT_OK)
        return status;
    const Coachwire__ClientsReply *c =
        reply->body_case == COACHWIRE__API_REPLY__BODY_CLIENTS ? reply->clients : NULL;
    size_t n = c ? c->n_clients : 0;
    if (ctl->json) {
        cw_json_t *json = NULL;
        status = s_json_begin (ctl, &json);
        cw_json_array_begin (json, "clients");
        for (size_t i = 0; i < n; i++) {
            cw_json_object_begin (json, NULL);
            cw_json_string (json, "user_id", c->clients [i]->user_id);
            cw_json_string (json, "name", c->clients [i]->name);
            cw_json_string (json, "time_zone", c->clients [i]->time_zone);
            cw_json_uint (json, "accepted_ms", c->clients [i]->accepted_ms);
            cw_json_object_end (json);
        }
        cw_json_array_end (json);
        status = s_json_end (ctl, &json, status);
    }
    else {
        const char *head [] = { "NAME", "USER_ID", "TIME_ZONE", "ACCEPTED" };
        s_table_t table;
        s_table_begin (&table, 4, head);
        for (size_t i = 0; i < n; i++) {
            char when [32];
            s_time_text (when, sizeof when, c->clients [i]->accepted_ms);
            s_table_cell (&table, c->clients [i]->name);
            s_table_cell (&table, c->clients [i]->user_id);
            s_table_cell (&table, c->clients [i]->time_zone);
            s_table_cell (&table, when);
        }
        status = s_table_end (ctl, &table, status);
    }
    cw_client_reply_free (&reply);
    return status;
}

/*  Prints a PlanShowReply: each version with its state and its text. */
static int
s_plans_print (s_ctl_t *ctl, const Coachwire__ApiReply *reply)
{
    const Coachwire__PlanShowReply *p =
        reply->body_case == COACHWIRE__API_REPLY__BODY_PLANS ? reply->plans : NULL;
    size_t n = p ? p->n_plans : 0;
    if (ctl->json) {
        cw_json_t *json = NULL;
        int status = s_json_begin (ctl, &json);
        cw_json_string (json, "message", reply->error);
        cw_json_string (json, "user", p && p->user ? p->user : "");
        cw_json_uint (json, "changed_version", p ? p->changed_version : 0);
        cw_json_array_begin (json, "plans");
        for (size_t i = 0; i < n; i++) {
            const Coachwire__PlanInfo *v = p->plans [i];
            cw_json_object_begin (json, NULL);
            cw_json_uint (json, "version", v->version);
            cw_json_string (json, "state", v->state);
            cw_json_string (json, "reason", v->reason);
            cw_json_uint (json, "start_ms", v->start_ms);
            cw_json_uint (json, "created_ms", v->created_ms);
            cw_json_string (json, "text", v->text);
            cw_json_object_end (json);
        }
        cw_json_array_end (json);
        return s_json_end (ctl, &json, status);
    }
    printf ("%s\n", reply->error);
    for (size_t i = 0; i < n; i++) {
        const Coachwire__PlanInfo *v = p->plans [i];
        char created [32], start [32];
        s_time_text (created, sizeof created, v->created_ms);
        s_time_text (start, sizeof start, v->start_ms);
        printf ("\nversion %u  %s%s%s%s  created %s  start %s\n", v->version, v->state,
                *v->reason ? " (" : "", v->reason, *v->reason ? ")" : "", created, start);
        for (const char *line = v->text; line && *line;) {
            const char *end = strchr (line, '\n');
            int len = (int) (end ? (size_t) (end - line) : strlen (line));
            printf ("    %.*s\n", len, line);
            line = end ? end + 1 : line + len;
        }
    }
    return S_EXIT_OK;
}

/*  Parses a whole number 1 .. max. */
static bool
s_parse_count (const char *text, unsigned long max, uint32_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long n = strtoul (text, &end, 10);
    if (errno || end == text || *end || text [0] == '-' || n == 0 || n > max)
        return false;
    *out = (uint32_t) n;
    return true;
}

static int
s_plan_show (s_ctl_t *ctl, int argc, char **argv)
{
    const char *version = NULL;
    const s_option_t options [] = { { "version", &version, NULL } };
    const char *positional [1] = { NULL };
    int status = s_parse (ctl, argc, argv, options, 1, positional, 0, 1);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__PlanShowRequest body = COACHWIRE__PLAN_SHOW_REQUEST__INIT;
    body.user = (char *) (positional [0] ? positional [0] : "");
    if (version && !s_parse_count (version, 1000000, &body.version))
        return s_usage_error (ctl, "--version takes a version number");
    req.body_case = COACHWIRE__API_REQUEST__BODY_PLAN_SHOW;
    req.plan_show = &body;
    return s_call_print (ctl, &req, s_plans_print);
}

static int
s_plan_set (s_ctl_t *ctl, int argc, char **argv)
{
    bool propose = false;
    const s_option_t options [] = { { "propose", NULL, &propose } };
    const char *positional [2] = { NULL, NULL };
    int status = s_parse (ctl, argc, argv, options, 1, positional, 2, 2);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    const char *path = positional [1];
    FILE *f = fopen (path, "rb");
    if (!f)
        return s_fail (ctl, S_EXIT_REFUSED, CW_ENOENT, "cannot read the plan file %s: %s", path,
                       strerror (errno));
    char *text = malloc (S_PLAN_FILE_MAX + 2);
    size_t len = text ? fread (text, 1, S_PLAN_FILE_MAX + 1, f) : 0;
    bool failed = !text || ferror (f);
    fclose (f);
    if (failed) {
        free (text);
        return s_fail (ctl, S_EXIT_REFUSED, CW_EIO, "cannot read the plan file %s", path);
    }
    if (len > S_PLAN_FILE_MAX) {
        free (text);
        return s_fail (ctl, S_EXIT_REFUSED, CW_ETOOBIG, "the plan file %s is larger than %u "
                       "bytes", path, (unsigned) S_PLAN_FILE_MAX);
    }
    text [len] = 0;
    if (memchr (text, 0, len)) {
        uint32_t line = 1;
        for (const char *c = text; *c; c++)
            line += *c == '\n';
        free (text);
        return s_fail (ctl, S_EXIT_REFUSED, CW_EINVAL, "the plan was refused: line %u: a NUL "
                       "byte (not a text file?)", line);
    }
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__PlanSetRequest body = COACHWIRE__PLAN_SET_REQUEST__INIT;
    body.user = (char *) positional [0];
    body.text = text;
    body.propose = propose;
    req.body_case = COACHWIRE__API_REQUEST__BODY_PLAN_SET;
    req.plan_set = &body;
    status = s_call_print (ctl, &req, s_plans_print);
    free (text);
    return status;
}

static int
s_plan_review (s_ctl_t *ctl, int argc, char **argv)
{
    const char *approve = NULL, *reject = NULL;
    const s_option_t options [] = { { "approve", &approve, NULL }, { "reject", &reject, NULL } };
    const char *positional [1] = { NULL };
    int status = s_parse (ctl, argc, argv, options, 2, positional, 1, 1);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__PlanReviewRequest body = COACHWIRE__PLAN_REVIEW_REQUEST__INIT;
    body.user = (char *) positional [0];
    if (approve && reject)
        return s_usage_error (ctl, "give --approve or --reject, not both");
    if ((approve && !s_parse_count (approve, 1000000, &body.approve))
        || (reject && !s_parse_count (reject, 1000000, &body.reject)))
        return s_usage_error (ctl, "--approve and --reject take a version number");
    req.body_case = COACHWIRE__API_REQUEST__BODY_PLAN_REVIEW;
    req.plan_review = &body;
    return s_call_print (ctl, &req, s_plans_print);
}

/*  Column of value on a chart spanning [lo, hi] over S_CHART_WIDTH columns. */
static int
s_chart_column (double value, double lo, double hi)
{
    if (!(hi > lo) || !isfinite (value))
        return 0;
    double at = (value - lo) / (hi - lo) * (S_CHART_WIDTH - 1);
    if (at < 0)
        at = 0;
    if (at > S_CHART_WIDTH - 1)
        at = S_CHART_WIDTH - 1;
    return (int) (at + 0.5);
}

/*  One goal as a text chart: a line per window, the value as a bar of '#', the target band
 *  between '[' and ']' (a minimum only '[', a maximum only ']'), then met or MISSED. */
static void
s_chart (const Coachwire__GoalProgress *g)
{
    printf ("\n%s (%s, %s %s; from %s)\n", g->goal, g->metric, g->kind, g->unit, g->fields);
    if (g->hidden) {
        printf ("  hidden: not shared with your coach\n");
        return;
    }
    if (!g->n_points) {
        printf ("  no progress recorded yet\n");
        return;
    }
    bool min = strcmp (g->kind, "min") == 0, max = strcmp (g->kind, "max") == 0;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < g->n_points; i++) {
        const Coachwire__ProgressPoint *p = g->points [i];
        double values [3] = { p->observed, max ? p->observed : p->target_low,
                              min ? p->observed : p->target_high };
        for (int k = 0; k < 3; k++) {
            if (isfinite (values [k]) && values [k] < lo)
                lo = values [k];
            if (isfinite (values [k]) && values [k] > hi)
                hi = values [k];
        }
    }
    double pad = (hi - lo) * 0.1 + 1e-9;
    lo = lo - pad > 0 || lo < 0 ? lo - pad : 0;
    hi += pad;
    printf ("  %-17s  %9s  %-*.*s  %s\n", "WINDOW (UTC)", "VALUE", S_CHART_WIDTH, S_CHART_WIDTH,
            "", "");
    for (size_t i = 0; i < g->n_points; i++) {
        const Coachwire__ProgressPoint *p = g->points [i];
        char bar [S_CHART_WIDTH + 1];
        int v = s_chart_column (p->observed, lo, hi);
        int a = max ? -1 : s_chart_column (p->target_low, lo, hi);
        int b = min ? -1 : s_chart_column (p->target_high, lo, hi);
        for (int c = 0; c < S_CHART_WIDTH; c++)
            bar [c] = c <= v ? '#' : (a >= 0 && c > a && (b < 0 || c < b)) ? '.' : ' ';
        if (a >= 0)
            bar [a] = '[';
        if (b >= 0)
            bar [b] = ']';
        bar [S_CHART_WIDTH] = 0;
        char when [32];
        s_time_text (when, sizeof when, p->window_start_ms);
        if (strlen (when) > 17)
            when [16] = 'Z', when [17] = 0;   /* minutes are enough */
        printf ("  %-17s  %9.1f  |%s|  %s\n", when, p->observed, bar,
                p->met ? "met" : "MISSED");
    }
    const Coachwire__ProgressPoint *last = g->points [g->n_points - 1];
    if (min)
        printf ("  target: at least %.1f %s", last->target_low, g->unit);
    else if (max)
        printf ("  target: at most %.1f %s", last->target_high, g->unit);
    else
        printf ("  target: %.1f .. %.1f %s", last->target_low, last->target_high, g->unit);
    printf ("  ('[' .. ']' on the bars)   met %u, missed %u of %zu windows\n", g->met, g->missed,
            g->n_points);
}

static int
s_progress (s_ctl_t *ctl, int argc, char **argv)
{
    const char *goal = NULL, *since = NULL, *limit = NULL;
    const s_option_t options [] = { { "goal", &goal, NULL }, { "since", &since, NULL },
                                    { "limit", &limit, NULL } };
    const char *positional [1] = { NULL };
    int status = s_parse (ctl, argc, argv, options, 3, positional, 0, 1);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__ProgressRequest body = COACHWIRE__PROGRESS_REQUEST__INIT;
    body.user = (char *) (positional [0] ? positional [0] : "");
    body.goal = (char *) (goal ? goal : "");
    if (since && !s_parse_since (since, &body.since_ms))
        return s_usage_error (ctl, "--since takes days (7) or a UTC date (2024-05-01)");
    if (limit && !s_parse_count (limit, 10000, &body.limit))
        return s_usage_error (ctl, "--limit takes a number of windows, 1 .. 10000");
    req.body_case = COACHWIRE__API_REQUEST__BODY_PROGRESS;
    req.progress = &body;
    Coachwire__ApiReply *reply = NULL;
    if ((status = s_call (ctl, &req, &reply)) != S_EXIT_OK)
        return status;
    const Coachwire__ProgressReply *p =
        reply->body_case == COACHWIRE__API_REPLY__BODY_PROGRESS ? reply->progress : NULL;
    size_t n = p ? p->n_goals : 0;
    if (ctl->json) {
        cw_json_t *json = NULL;
        status = s_json_begin (ctl, &json);
        cw_json_string (json, "user", p && p->user ? p->user : "");
        cw_json_array_begin (json, "goals");
        for (size_t i = 0; i < n; i++) {
            const Coachwire__GoalProgress *g = p->goals [i];
            cw_json_object_begin (json, NULL);
            cw_json_string (json, "goal", g->goal);
            cw_json_string (json, "metric", g->metric);
            cw_json_string (json, "unit", g->unit);
            cw_json_string (json, "kind", g->kind);
            cw_json_string (json, "fields", g->fields);
            cw_json_bool (json, "hidden", g->hidden);
            cw_json_uint (json, "met", g->met);
            cw_json_uint (json, "missed", g->missed);
            cw_json_array_begin (json, "points");
            for (size_t k = 0; k < g->n_points; k++) {
                const Coachwire__ProgressPoint *pt = g->points [k];
                char num [48];
                cw_json_object_begin (json, NULL);
                cw_json_uint (json, "window_start_ms", pt->window_start_ms);
                cw_json_uint (json, "window_end_ms", pt->window_end_ms);
                snprintf (num, sizeof num, "%.6g", pt->observed);
                cw_json_string (json, "observed", num);
                snprintf (num, sizeof num, "%.6g", pt->target_low);
                cw_json_string (json, "target_low", num);
                snprintf (num, sizeof num, "%.6g", pt->target_high);
                cw_json_string (json, "target_high", num);
                cw_json_bool (json, "met", pt->met);
                cw_json_object_end (json);
            }
            cw_json_array_end (json);
            cw_json_object_end (json);
        }
        cw_json_array_end (json);
        status = s_json_end (ctl, &json, status);
    }
    else {
        printf ("%s\n", reply->error);
        for (size_t i = 0; i < n; i++)
            s_chart (p->goals [i]);
    }
    cw_client_reply_free (&reply);
    return status;
}

static int
s_nudges (s_ctl_t *ctl, int argc, char **argv)
{
    bool all = false, held = false;
    const char *limit = NULL;
    const s_option_t options [] = { { "all", NULL, &all }, { "held", NULL, &held },
                                    { "limit", &limit, NULL } };
    const char *positional [1] = { NULL };
    int status = s_parse (ctl, argc, argv, options, 3, positional, 0, 1);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__NudgesRequest body = COACHWIRE__NUDGES_REQUEST__INIT;
    body.user = (char *) (positional [0] ? positional [0] : "");
    body.all = all;
    body.held = held;
    if (limit && !s_parse_count (limit, 5000, &body.limit))
        return s_usage_error (ctl, "--limit takes a number of nudges, 1 .. 5000");
    req.body_case = COACHWIRE__API_REQUEST__BODY_NUDGES;
    req.nudges = &body;
    Coachwire__ApiReply *reply = NULL;
    if ((status = s_call (ctl, &req, &reply)) != S_EXIT_OK)
        return status;
    const Coachwire__NudgesReply *r =
        reply->body_case == COACHWIRE__API_REPLY__BODY_NUDGES ? reply->nudges : NULL;
    size_t n = r ? r->n_nudges : 0, n_held = r ? r->n_held : 0;
    cw_json_t *json = NULL;
    if (ctl->json) {
        if (s_json_begin (ctl, &json) != S_EXIT_OK)
            return s_fail (ctl, S_EXIT_REFUSED, CW_ENOMEM, "out of memory");
        cw_json_string (json, "user", r && r->user ? r->user : "");
        cw_json_array_begin (json, "nudges");
    }
    else
        printf ("%s\n", reply->error);
    for (size_t i = 0; i < n && status == S_EXIT_OK; i++) {
        const Coachwire__NudgeEntry *e = r->nudges [i];
        cw_nudge_t nudge;
        if (cw_nudge_unpack (e->body.data, e->body.len, &nudge) != CW_OK) {
            status = s_fail (ctl, S_EXIT_REFUSED, CW_EDECODE, "nudge %zu of the reply could "
                             "not be read", i + 1);
            break;
        }
        cw_nudge_state_t state = CW_NUDGE_PENDING;
        for (int s = CW_NUDGE_PENDING; s <= CW_NUDGE_WITHDRAWN; s++)
            if (e->state && strcmp (e->state, cw_nudge_state_name ((cw_nudge_state_t) s)) == 0)
                state = (cw_nudge_state_t) s;
        nudge.state = state;
        if (json) {
            cw_json_object_begin (json, NULL);
            cw_nudge_json (&nudge, json, "nudge");
            cw_json_array_begin (json, "hidden");
            for (size_t k = 0; k < e->n_hidden; k++)
                cw_json_string (json, NULL, e->hidden [k]);
            cw_json_array_end (json);
            cw_json_object_end (json);
            continue;
        }
        char *text = NULL;
        if (cw_nudge_text_redacted (&nudge, (const char *const *) e->hidden, e->n_hidden, &text)
            != CW_OK) {
            status = s_fail (ctl, S_EXIT_REFUSED, CW_ENOMEM, "out of memory");
            break;
        }
        for (char *c = text; *c; c++)
            if (((unsigned char) *c < 0x20 && *c != '\n') || *c == 0x7f)
                *c = '?';
        printf ("\n%s", text);
        free (text);
    }
    if (json) {
        cw_json_array_end (json);
        cw_json_array_begin (json, "held");
    }
    else if (held)
        printf ("\nheld back: %zu decision%s\n", n_held, n_held == 1 ? "" : "s");
    const char *head [] = { "WHEN", "RULE", "WHY", "REASON" };
    s_table_t table;
    s_table_begin (&table, 4, !json && n_held ? head : NULL);
    for (size_t i = 0; i < n_held && status == S_EXIT_OK; i++) {
        const Coachwire__HeldDecision *d = r->held [i];
        if (json) {
            cw_json_object_begin (json, NULL);
            cw_json_string (json, "rule", d->rule);
            cw_json_uint (json, "created_ms", d->created_ms);
            cw_json_string (json, "code", d->code);
            cw_json_string (json, "reason", d->reason);
            cw_json_object_end (json);
            continue;
        }
        char when [32];
        s_time_text (when, sizeof when, d->created_ms);
        s_table_cell (&table, when);
        s_table_cell (&table, d->rule);
        s_table_cell (&table, d->code);
        s_table_cell (&table, d->reason);
    }
    status = s_table_end (ctl, &table, status);
    if (json) {
        cw_json_array_end (json);
        status = s_json_end (ctl, &json, status);
    }
    cw_client_reply_free (&reply);
    return status;
}

static int
s_coach_effectiveness (s_ctl_t *ctl, int argc, char **argv)
{
    const char *positional [1] = { NULL };
    int status = s_parse (ctl, argc, argv, NULL, 0, positional, 0, 1);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__EffectivenessRequest body = COACHWIRE__EFFECTIVENESS_REQUEST__INIT;
    body.user = (char *) (positional [0] ? positional [0] : "");
    req.body_case = COACHWIRE__API_REQUEST__BODY_COACH_EFFECTIVENESS;
    req.coach_effectiveness = &body;
    Coachwire__ApiReply *reply = NULL;
    if ((status = s_call (ctl, &req, &reply)) != S_EXIT_OK)
        return status;
    const Coachwire__EffectivenessReply *r =
        reply->body_case == COACHWIRE__API_REPLY__BODY_COACH_EFFECTIVENESS
            ? reply->coach_effectiveness : NULL;
    size_t n = r ? r->n_rules : 0;
    if (ctl->json) {
        cw_json_t *json = NULL;
        status = s_json_begin (ctl, &json);
        cw_json_uint (json, "people", r ? r->people : 0);
        cw_json_array_begin (json, "rules");
        for (size_t i = 0; i < n; i++) {
            const Coachwire__RuleEffect *e = r->rules [i];
            char num [48];
            snprintf (num, sizeof num, "%.6g", e->mean_change);
            cw_json_object_begin (json, NULL);
            cw_json_string (json, "rule", e->rule);
            cw_json_uint (json, "sent", e->sent);
            cw_json_uint (json, "delivered", e->delivered);
            cw_json_uint (json, "opened", e->opened);
            cw_json_uint (json, "dismissed", e->dismissed);
            cw_json_uint (json, "helpful", e->helpful);
            cw_json_uint (json, "outcomes", e->outcomes);
            cw_json_string (json, "mean_change", num);
            cw_json_object_end (json);
        }
        cw_json_array_end (json);
        status = s_json_end (ctl, &json, status);
    }
    else {
        printf ("%s\n", reply->error);
        const char *head [] = { "RULE", "SENT", "DELIVERED", "OPENED", "DISMISSED", "HELPFUL",
                                "OUTCOMES", "MEAN_CHANGE" };
        s_table_t table;
        s_table_begin (&table, 8, head);
        for (size_t i = 0; i < n; i++) {
            const Coachwire__RuleEffect *e = r->rules [i];
            char cells [7][32];
            snprintf (cells [0], 32, "%llu", (unsigned long long) e->sent);
            snprintf (cells [1], 32, "%llu", (unsigned long long) e->delivered);
            snprintf (cells [2], 32, "%llu", (unsigned long long) e->opened);
            snprintf (cells [3], 32, "%llu", (unsigned long long) e->dismissed);
            snprintf (cells [4], 32, "%llu", (unsigned long long) e->helpful);
            snprintf (cells [5], 32, "%llu", (unsigned long long) e->outcomes);
            if (e->outcomes)
                snprintf (cells [6], 32, "%+.2f", e->mean_change);
            else
                snprintf (cells [6], 32, "-");
            s_table_cell (&table, e->rule);
            for (int k = 0; k < 7; k++)
                s_table_cell (&table, cells [k]);
        }
        status = s_table_end (ctl, &table, status);
    }
    cw_client_reply_free (&reply);
    return status;
}

/*  HH:MM as minutes of the day. */
static bool
s_parse_clock (const char *text, uint32_t *minutes)
{
    if (strlen (text) != 5 || text [2] != ':')
        return false;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (text [i] < '0' || text [i] > '9'))
            return false;
    uint32_t h = (uint32_t) (text [0] - '0') * 10u + (uint32_t) (text [1] - '0');
    uint32_t m = (uint32_t) (text [3] - '0') * 10u + (uint32_t) (text [4] - '0');
    if (h > 23 || m > 59)
        return false;
    *minutes = h * 60u + m;
    return true;
}

static int
s_settings (s_ctl_t *ctl, int argc, char **argv)
{
    const char *quiet = NULL, *budget = NULL;
    const s_option_t options [] = { { "quiet", &quiet, NULL }, { "budget", &budget, NULL } };
    int status = s_parse (ctl, argc, argv, options, 2, NULL, 0, 0);
    if (status != S_EXIT_OK)
        return status == S_HELP_SHOWN ? S_EXIT_OK : status;
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__SettingsRequest body = COACHWIRE__SETTINGS_REQUEST__INIT;
    if (quiet) {
        char start [8] = "", end [8] = "";
        const char *dash = strchr (quiet, '-');
        body.set_quiet = true;
        if (strcmp (quiet, "off") == 0)
            body.quiet_start = body.quiet_end = 0;
        else if (!dash || dash - quiet != 5 || strlen (dash + 1) != 5
                 || (memcpy (start, quiet, 5), !s_parse_clock (start, &body.quiet_start))
                 || (memcpy (end, dash + 1, 5), !s_parse_clock (end, &body.quiet_end)))
            return s_usage_error (ctl, "--quiet takes HH:MM-HH:MM in your time zone, or off");
    }
    if (budget) {
        char *end = NULL;
        errno = 0;
        unsigned long n = strtoul (budget, &end, 10);
        if (errno || end == budget || *end || budget [0] == '-' || n > 100)
            return s_usage_error (ctl, "--budget takes a number of nudges a day, 0 .. 100");
        body.set_budget = true;
        body.budget = (uint32_t) n;
    }
    req.body_case = COACHWIRE__API_REQUEST__BODY_SETTINGS;
    req.settings = &body;
    return s_call_print (ctl, &req, s_print_reply);
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
    { { "consent", "grant", NULL }, s_consent_grant, "FIELD|GROUP.*|* PURPOSE [--expires DAYS]",
      "Grants one purpose on a field (heart_rate.bpm), a group (running.*) or every field (*).\n"
      "Purposes: coaching (automated analysis and nudges), coach_review (your coach may see\n"
      "it), retention (raw readings kept beyond processing). Prints the signed receipt.\n"
      "  --expires DAYS   the grant ends by itself after DAYS days" },
    { { "consent", "revoke", NULL }, s_consent_revoke, "FIELD|GROUP.*|* PURPOSE|any",
      "Withdraws one purpose (or any: every purpose) on a field, a group or every field.\n"
      "Takes effect at the gateway before this command returns." },
    { { "consent", "show", NULL }, s_consent_show, "[--policy] [--field PATTERN]",
      "Shows every field x purpose: granted or not, grant id, policy version, expiry.\n"
      "  --policy         also print the text of the policy in force" },
    { { "consent", "receipts", NULL }, s_consent_receipts,
      "[--out FILE] [--verify [FILE]] [--key HEX]",
      "Fetches your signed consent receipts (JSON lines) and the service's public key.\n"
      "  --out FILE       write them to FILE (never overwritten)\n"
      "  --verify         check the hash chain and every signature; exit 1 naming the first\n"
      "                   bad position. With FILE: offline, no service needed\n"
      "  --key HEX        the service's signing key you kept, to pin the signer" },
    { { "consent", "access-log", NULL }, s_access_log, "[--since DAYS|YYYY-MM-DD[THH:MM:SSZ]]",
      "Lists every use of your data: who, what, which fields, which purpose and grant." },
    { { "data", "export", NULL }, s_data_export, "[--out FILE]",
      "Everything held about you as JSON lines: readings, consent history, access log.\n"
      "  --out FILE       write to FILE (mode 0600, never overwritten) instead of stdout" },
    { { "data", "erase", NULL }, s_data_erase, "[--field F] --yes",
      "Erases your data: your data key is destroyed first (every stored copy becomes\n"
      "unreadable), then readings and the access log; your devices are revoked. Your\n"
      "receipts stay and still verify. With --field F only that field is removed from\n"
      "stored readings and its grants withdrawn.\n"
      "  --yes            required: erasure cannot be undone" },
    { { "nudges", NULL, NULL }, s_nudges, "[PERSON] [--all] [--held] [--limit N]",
      "Your nudges (a coach: PERSON's), each with why it was sent and every field it used\n"
      "(purpose, grant, policy version, window, samples). A coach sees only the fields the\n"
      "person shares for coach_review; the rest is marked hidden.\n"
      "  --all            also expired and withdrawn ones\n"
      "  --held           also the decisions held back (quiet hours, budget, consent...)" },
    { { "settings", NULL, NULL }, s_settings, "[--quiet HH:MM-HH:MM|off] [--budget N]",
      "Shows or sets when you get nudges: quiet hours in your time zone (default\n"
      "22:00-07:00) and at most N nudges a day (default 6)." },
    { { "coach", "add", NULL }, s_coach_add, "NAME --out FILE",
      "Operator: adds a coach and writes their credential to FILE (mode 0600)." },
    { { "coach", "accept", NULL }, s_coach_accept, "COACH",
      "Makes COACH your coach: they see your plan and what you grant for coach_review." },
    { { "coach", "remove", NULL }, s_coach_remove, "COACH",
      "COACH is no longer your coach and sees nothing of yours from now on." },
    { { "coach", "effectiveness", NULL }, s_coach_effectiveness, "[PERSON]",
      "Coach: per rule, nudges sent, delivered, opened, dismissed, marked helpful, and the\n"
      "mean change of the rule's metric after the nudge against before (all your clients,\n"
      "or PERSON)." },
    { { "clients", NULL, NULL }, s_clients, "", "Coach: the people who accepted you." },
    { { "plan", "show", NULL }, s_plan_show, "PERSON [--version N]",
      "Coach: PERSON's plan, every version newest first, with state and goals." },
    { { "plan", "set", NULL }, s_plan_set, "PERSON FILE [--propose]",
      "Coach: stores the plan file FILE (see cw_plan.h) as PERSON's next version, active at\n"
      "once (the old one retired) or, with --propose, proposed for review. A broken file is\n"
      "refused with its line and reason." },
    { { "plan", "review", NULL }, s_plan_review, "PERSON [--approve V | --reject V]",
      "Coach: the versions proposed (by the engine from the evidence, or with --propose);\n"
      "approving one makes it active, rejecting retires it." },
    { { "progress", NULL, NULL }, s_progress, "PERSON [--goal G] [--since DAYS] [--limit N]",
      "PERSON's progress per goal: a chart of the metric per window against its target\n"
      "band, and how many windows met it. Goals whose fields PERSON does not share for\n"
      "coach_review are hidden." },
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
