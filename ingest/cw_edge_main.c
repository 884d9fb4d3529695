/*  cw_edge_main.c - cw-edge, an edge collector on the command line: import recordings or
 *  simulate them, seal and queue each batch, send it to the gateway and report what happened;
 *  receive nudges, list them with their disclosure, and report the person's reactions.
 *
 *  Commands are a table (name, handler, usage, help); `cw-edge COMMAND --help` prints the entry.
 */
#include "coachwire/cw_error.h"
#include "coachwire/cw_import.h"
#include "coachwire/cw_json.h"
#include "coachwire/cw_nudge.h"
#include "coachwire/edge.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*  Exit codes, as documented in --help. */
enum {
    EXIT_OK = 0,
    EXIT_USAGE = 1,
    EXIT_SETUP = 2,
    EXIT_INPUT = 3,
    EXIT_TIMEOUT = 4,
    EXIT_REJECTED = 5,
    EXIT_DROPPED = 6
};

#define S_MAX_FILES 64   /* per-file import summaries kept for the report */

typedef struct {
    const char *path;
    int rc;
    cw_import_summary_t summary;
} s_file_t;

typedef struct {
    const char *cred_path;          /* --cred */
    char queue_path [PATH_MAX];     /* --queue, default <cred>.queue */
    bool json;                      /* --json: the summary as one JSON object on stdout */
    bool quiet;                     /* --quiet: no progress, no text summary on success */
    double timeout_s;               /* --timeout: how long to wait for acks at the end */
    const char *command;            /* the command being run, for the report */
    cw_edge_t *edge;
    cw_edge_stats_t before;         /* counters when the command started */
    bool progress;                  /* show progress on stderr */
    const char *progress_name;
    int progress_pct;               /* last percentage shown */
    int input_errors;               /* files that could not be imported */
    int publish_rc;                 /* first publish error other than a full queue */
    uint64_t batches;               /* batches produced by importers or the simulator */
    uint64_t samples;
    uint64_t skipped;
    bool flushed;                   /* the final flush emptied the queue */
    bool sent_anything;             /* a flush was attempted */
    s_file_t files [S_MAX_FILES];
    size_t file_count;
} s_app_t;

typedef int (s_handler_fn) (s_app_t *app, int argc, char **argv);

typedef struct {
    const char *name;
    s_handler_fn *handler;
    const char *usage;
    const char *help;
} s_command_t;

static int s_cmd_import (s_app_t *app, int argc, char **argv);
static int s_cmd_simulate (s_app_t *app, int argc, char **argv);
static int s_cmd_flush (s_app_t *app, int argc, char **argv);
static int s_cmd_status (s_app_t *app, int argc, char **argv);
static int s_cmd_nudges (s_app_t *app, int argc, char **argv);
static int s_cmd_feedback (s_app_t *app, int argc, char **argv);

static const s_command_t s_commands [] = {
    { "import", s_cmd_import, "import FILE...",
      "Imports recordings (FIT activity, phone accelerometer CSV, foot IMU CSV, food diary\n"
      "CSV; the format is chosen by content), seals and queues each batch, sends them and\n"
      "waits up to --timeout for the acks." },
    { "simulate", s_cmd_simulate, "simulate run|diet [OPTIONS]",
      "Generates data, then seals, queues and sends it like import.\n"
      "  simulate run   100 Hz pocket IMU, heart rate, pace and running dynamics:\n"
      "    --duration S (600)  --cadence SPM (170)  --cadence-end SPM (= --cadence)\n"
      "    --oscillation MM (80)  --contact MS (250)  --balance PCT (50)\n"
      "    --speed M_S (3.0)  --hr BPM (150)  --seed N (0)\n"
      "  simulate diet  meals for a number of days:\n"
      "    --days N (7)  --energy KCAL (2200)  --protein G (90)  --sugar G (50)  --seed N (0)" },
    { "flush", s_cmd_flush, "flush",
      "Sends what is queued (from earlier runs or while offline) and waits up to --timeout\n"
      "for the acks." },
    { "status", s_cmd_status, "status",
      "Shows the queue (frames waiting, bytes) and the lifetime counters. Does not connect." },
    { "nudges", s_cmd_nudges, "nudges [--wait S] [--json]",
      "Takes what the service holds for this device's person for up to S seconds (default 2;\n"
      "each nudge is stored and acknowledged as it lands), then lists every nudge stored on\n"
      "this device with its disclosure in full: the message, why (rule, metric, observed\n"
      "against target, window) and every field used with its purpose, grant, policy version,\n"
      "window and samples." },
    { "feedback", s_cmd_feedback, "feedback NUDGE_ID opened|dismissed|helpful",
      "Reports how the person took a nudge; the service counts it per rule (cwctl coach\n"
      "effectiveness). Waits up to --timeout for the connection to send it." },
    { NULL, NULL, NULL, NULL }
};

static const char s_exit_help [] =
    "Exit codes:\n"
    "  0  everything sent was acknowledged (status: the queue could be read)\n"
    "  1  usage: unknown command or option, or a bad value\n"
    "  2  setup: the credential or the queue could not be opened\n"
    "  3  input: a file could not be imported (missing, unreadable, unknown format)\n"
    "  4  timeout: frames were still unacknowledged when --timeout ran out (they stay queued)\n"
    "  5  rejected: the gateway refused at least one frame (the summary gives code and reason)\n"
    "  6  dropped: the queue was full and at least one batch was not stored\n"
    "When several apply, the first of 5, 6, 3, 4 wins.\n";

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: cw-edge [--cred FILE] [--queue PATH] [--json] [--quiet] [--timeout S]"
             " COMMAND [ARGS]\n\n"
             "  --cred FILE    device credential (default: $CW_EDGE_CRED or ./device.cred)\n"
             "  --queue PATH   on-device queue (default: <cred path>.queue)\n"
             "  --json         print the summary as one JSON object on stdout\n"
             "  --quiet        no progress and no text summary unless something failed\n"
             "  --timeout S    seconds to wait for acknowledgements (default 30)\n\n"
             "Commands (cw-edge COMMAND --help for each):\n");
    for (const s_command_t *c = s_commands; c->name; c++)
        fprintf (out, "  cw-edge %s\n", c->usage);
    fprintf (out, "\n%s", s_exit_help);
}

static void
s_command_help (const s_command_t *c, FILE *out)
{
    fprintf (out, "usage: cw-edge [global options] %s\n\n%s\n\n%s", c->usage, c->help,
             s_exit_help);
}

static bool
s_is_help (const char *arg)
{
    return strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0;
}

/*  -------------------------------------------------------------------------------------------
 *  Parsing numbers (no atoi: every value is checked for range and trailing junk)
 */

static bool
s_parse_double (const char *text, double min, double max, double *out)
{
    if (!text || !*text)
        return false;
    char *end = NULL;
    errno = 0;
    double v = strtod (text, &end);
    if (errno || *end || !isfinite (v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool
s_parse_u32 (const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
    if (!text || !*text || *text == '-')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull (text, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = (uint32_t) v;
    return true;
}

/*  A table of "--name VALUE" options for the simulate subcommands. */
typedef struct {
    const char *name;
    bool is_double;
    double min, max;
    void *target;       /* double * or uint32_t * */
} s_option_t;

/*  Parses argv against options. Accepts "--name VALUE" and "--name=VALUE". */
static int
s_parse_options (const char *cmd, const s_option_t *options, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        const char *arg = argv [i];
        const char *value = NULL;
        const s_option_t *o = NULL;
        for (const s_option_t *p = options; p->name; p++) {
            size_t n = strlen (p->name);
            if (strncmp (arg, p->name, n) == 0 && (arg [n] == '\0' || arg [n] == '=')) {
                o = p;
                value = arg [n] == '=' ? arg + n + 1 : (i + 1 < argc ? argv [++i] : NULL);
                break;
            }
        }
        if (!o) {
            fprintf (stderr, "cw-edge %s: unknown option '%s' (try --help)\n", cmd, arg);
            return EXIT_USAGE;
        }
        bool ok;
        if (o->is_double)
            ok = s_parse_double (value, o->min, o->max, o->target);
        else
            ok = s_parse_u32 (value, (uint32_t) o->min, (uint32_t) o->max, o->target);
        if (!ok) {
            fprintf (stderr, "cw-edge %s: %s needs a number from %g to %g\n", cmd, o->name,
                     o->min, o->max);
            return EXIT_USAGE;
        }
    }
    return EXIT_OK;
}

/*  -------------------------------------------------------------------------------------------
 *  Edge handle, sink, progress
 */

static int
s_open_edge (s_app_t *app)
{
    int rc = cw_edge_new (&app->edge, app->cred_path, app->queue_path, NULL);
    if (rc != CW_OK) {
        fprintf (stderr, "cw-edge: cannot start with credential %s and queue %s: %s\n",
                 app->cred_path, app->queue_path, cw_strerror (rc));
        return EXIT_SETUP;
    }
    if (cw_edge_stats (app->edge, &app->before) != CW_OK) {
        fprintf (stderr, "cw-edge: cannot read the queue %s\n", app->queue_path);
        return EXIT_SETUP;
    }
    return EXIT_OK;
}

/*  Seals and queues one batch, then gives the network a turn so a long import streams out
 *  instead of piling up in the queue. A full queue is counted (dropped) and the import goes
 *  on: the summary and the exit code say so. */
static int
s_sink (void *ctx, const Coachwire__SensorBatch *batch)
{
    s_app_t *app = ctx;
    int rc = cw_edge_publish_batch (app->edge, batch);
    if (rc != CW_OK && rc != CW_ENOSPC) {
        if (app->publish_rc == CW_OK)
            app->publish_rc = rc;
        if (rc == CW_EIO || rc == CW_ENOMEM)
            return rc;      /* the queue itself is failing: stop */
    }
    rc = cw_edge_pump (app->edge, 0);
    return rc == CW_EIO || rc == CW_ENOMEM ? rc : CW_OK;
}

static void
s_progress (void *ctx, uint64_t done, uint64_t total)
{
    s_app_t *app = ctx;
    if (!app->progress || total == 0)
        return;
    int pct = (int) (done >= total ? 100 : done * 100 / total);
    if (pct == app->progress_pct)
        return;
    app->progress_pct = pct;
    cw_edge_stats_t s;
    uint64_t acked = cw_edge_stats (app->edge, &s) == CW_OK ? s.acked - app->before.acked : 0;
    fprintf (stderr, "\r%s: %3d%%  acked %" PRIu64 "   ", app->progress_name, pct, acked);
    fflush (stderr);
}

static void
s_progress_end (s_app_t *app)
{
    if (app->progress && app->progress_pct >= 0)
        fputc ('\n', stderr);
    app->progress_pct = -1;
}

/*  Waits for the acks of everything queued. */
static void
s_final_flush (s_app_t *app)
{
    int ms = app->timeout_s * 1000.0 > (double) INT_MAX ? INT_MAX
                                                        : (int) (app->timeout_s * 1000.0);
    if (app->progress)
        fprintf (stderr, "waiting up to %g s for acknowledgements...\n", app->timeout_s);
    app->sent_anything = true;
    int rc = cw_edge_flush (app->edge, ms);
    app->flushed = rc == CW_OK;
    if (rc != CW_OK && rc != CW_ETIMEOUT)
        fprintf (stderr, "cw-edge: %s\n", cw_strerror (rc));
}

/*  -------------------------------------------------------------------------------------------
 *  Report
 */

static void
s_json_string (FILE *out, const char *s)
{
    fputc ('"', out);
    for (const unsigned char *p = (const unsigned char *) s; p && *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf (out, "\\%c", *p);
        else if (*p == '\n')
            fputs ("\\n", out);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf (out, "\\u%04x", *p);
        else
            fputc (*p, out);
    }
    fputc ('"', out);
}

/*  Count for code in a stats snapshot (0 when absent). */
static uint64_t
s_code_count (const cw_edge_stats_t *s, int code)
{
    for (size_t i = 0; i < s->reject_kinds; i++)
        if (s->rejected_by_code [i].code == code)
            return s->rejected_by_code [i].count;
    return 0;
}

static int
s_exit_code (const s_app_t *app, const cw_edge_stats_t *now)
{
    if (now->rejected > app->before.rejected)
        return EXIT_REJECTED;
    if (now->dropped > app->before.dropped)
        return EXIT_DROPPED;
    if (app->input_errors || app->publish_rc != CW_OK)
        return EXIT_INPUT;
    if (app->sent_anything && !app->flushed)
        return EXIT_TIMEOUT;
    return EXIT_OK;
}

/*  Prints the summary of this run (counter differences) and returns the exit code. */
static int
s_report (s_app_t *app)
{
    cw_edge_stats_t now;
    if (cw_edge_stats (app->edge, &now) != CW_OK) {
        fprintf (stderr, "cw-edge: cannot read the queue %s\n", app->queue_path);
        return EXIT_SETUP;
    }
    const cw_edge_stats_t *b = &app->before;
    int exit_code = s_exit_code (app, &now);
    uint64_t sent = now.sent - b->sent, resent = now.resent - b->resent;
    uint64_t acked = now.acked - b->acked, dups = now.duplicates - b->duplicates;
    uint64_t rejected = now.rejected - b->rejected, dropped = now.dropped - b->dropped;
    uint64_t garbage = now.garbage - b->garbage, backoffs = now.backoffs - b->backoffs;

    if (app->json) {
        FILE *o = stdout;
        fprintf (o, "{\"command\":");
        s_json_string (o, app->command);
        fprintf (o, ",\"device\":");
        s_json_string (o, cw_edge_device_id (app->edge));
        fprintf (o, ",\"batches\":%" PRIu64 ",\"samples\":%" PRIu64 ",\"skipped\":%" PRIu64,
                 app->batches, app->samples, app->skipped);
        fprintf (o, ",\"sent\":%" PRIu64 ",\"resent\":%" PRIu64 ",\"acked\":%" PRIu64
                    ",\"duplicates\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"dropped\":%" PRIu64
                    ",\"garbage\":%" PRIu64 ",\"backoffs\":%" PRIu64 ",\"queued\":%" PRIu64
                    ",\"queued_bytes\":%" PRIu64 ",\"handshake_failures\":%" PRIu64,
                 sent, resent, acked, dups, rejected, dropped, garbage, backoffs, now.queued,
                 now.queued_bytes, now.handshake_failures);
        fprintf (o, ",\"rejected_by_code\":[");
        bool first = true;
        for (size_t i = 0; i < now.reject_kinds; i++) {
            const cw_edge_reject_count_t *k = &now.rejected_by_code [i];
            bool lifetime = strcmp (app->command, "status") == 0;
            uint64_t n = lifetime ? k->count : k->count - s_code_count (b, k->code);
            if (n == 0)
                continue;
            fprintf (o, "%s{\"code\":%d,\"name\":", first ? "" : ",", k->code);
            s_json_string (o, cw_errname (k->code));
            fprintf (o, ",\"count\":%" PRIu64 ",\"reason\":", n);
            s_json_string (o, k->last_reason);
            fputc ('}', o);
            first = false;
        }
        fprintf (o, "],\"files\":[");
        for (size_t i = 0; i < app->file_count; i++) {
            const s_file_t *f = &app->files [i];
            fprintf (o, "%s{\"path\":", i ? "," : "");
            s_json_string (o, f->path);
            fprintf (o, ",\"format\":");
            s_json_string (o, cw_format_name (f->summary.format));
            fprintf (o, ",\"result\":");
            s_json_string (o, cw_errname (f->rc));
            fprintf (o, ",\"batches\":%" PRIu64 ",\"samples\":%" PRIu64 ",\"skipped\":%" PRIu64
                        ",\"first_error\":",
                     f->summary.batches, f->summary.samples, f->summary.skipped);
            s_json_string (o, f->summary.first_error);
            fputc ('}', o);
        }
        fprintf (o, "],\"exit\":%d}\n", exit_code);
        return exit_code;
    }

    if (app->quiet && exit_code == EXIT_OK)
        return exit_code;
    FILE *o = stdout;
    bool lifetime = strcmp (app->command, "status") == 0;
    if (lifetime)
        fprintf (o, "queue %s: %" PRIu64 " frames (%" PRIu64 " bytes) waiting\n"
                    "lifetime: ", app->queue_path, now.queued, now.queued_bytes);
    else if (app->batches)
        fprintf (o, "batches %" PRIu64 " (samples %" PRIu64 ", rows skipped %" PRIu64 ")\n",
                 app->batches, app->samples, app->skipped);
    fprintf (o, "sent %" PRIu64 ", acked %" PRIu64 " (duplicates %" PRIu64 "), rejected %" PRIu64
                ", dropped %" PRIu64 ", resent %" PRIu64,
             sent, acked, dups, rejected, dropped, resent);
    if (garbage || backoffs)
        fprintf (o, ", garbage downlinks %" PRIu64 ", backoffs %" PRIu64, garbage, backoffs);
    fputc ('\n', o);
    for (size_t i = 0; i < now.reject_kinds; i++) {
        const cw_edge_reject_count_t *k = &now.rejected_by_code [i];
        uint64_t n = lifetime ? k->count : k->count - s_code_count (b, k->code);
        if (n)
            fprintf (o, "  rejected %" PRIu64 " x %s (%s): %s\n", n, cw_errname (k->code),
                     cw_strerror (k->code), k->last_reason [0] ? k->last_reason : "-");
    }
    if (!lifetime && now.queued)
        fprintf (o, "%" PRIu64 " frames still queued (cw-edge flush sends them)\n", now.queued);
    if (exit_code == EXIT_TIMEOUT && now.handshake_failures)
        fprintf (o, "the gateway refused %" PRIu64 " handshakes: is server_key in %s right?\n",
                 now.handshake_failures, app->cred_path);
    if (dropped)
        fprintf (o, "the queue was full: %" PRIu64 " batches were not stored\n", dropped);
    return exit_code;
}

/*  -------------------------------------------------------------------------------------------
 *  Commands
 */

static int
s_cmd_import (s_app_t *app, int argc, char **argv)
{
    if (argc == 0) {
        fprintf (stderr, "cw-edge import: name at least one FILE (try --help)\n");
        return EXIT_USAGE;
    }
    for (int i = 0; i < argc; i++) {
        if (argv [i][0] == '-' && argv [i][1] != '\0') {
            fprintf (stderr, "cw-edge import: unknown option '%s' (try --help)\n", argv [i]);
            return EXIT_USAGE;
        }
    }
    int rc = s_open_edge (app);
    if (rc != EXIT_OK)
        return rc;
    for (int i = 0; i < argc; i++) {
        cw_import_summary_t summary;
        memset (&summary, 0, sizeof summary);
        cw_import_options_t options;
        memset (&options, 0, sizeof options);
        options.progress = s_progress;
        options.progress_ctx = app;
        app->progress_name = argv [i];
        app->progress_pct = -1;
        int irc = cw_import_file (argv [i], &options, s_sink, app, &summary);
        s_progress_end (app);
        if (app->file_count < S_MAX_FILES) {
            s_file_t *f = &app->files [app->file_count++];
            f->path = argv [i];
            f->rc = irc;
            f->summary = summary;
        }
        app->batches += summary.batches;
        app->samples += summary.samples;
        app->skipped += summary.skipped;
        if (irc != CW_OK) {
            app->input_errors++;
            fprintf (stderr, "cw-edge: %s: %s\n", argv [i],
                     irc == CW_EDECODE ? "not a recording cw-edge can read (unknown format or"
                                         " corrupt); nothing was sent from it"
                                       : cw_strerror (irc));
            if (irc == CW_EIO && app->publish_rc == CW_EIO)
                break;      /* the queue is failing, not the file */
        }
        else if (!app->quiet && !app->json && summary.skipped)
            fprintf (stderr, "cw-edge: %s: skipped %" PRIu64 " invalid rows (first: %s)\n",
                     argv [i], summary.skipped, summary.first_error);
    }
    s_final_flush (app);
    return s_report (app);
}

static int
s_sim_run (s_app_t *app, int argc, char **argv)
{
    cw_sim_run_options_t o;
    memset (&o, 0, sizeof o);
    o.duration_s = 600;
    o.cadence_spm = 170;
    o.vertical_oscillation_mm = 80;
    o.contact_time_ms = 250;
    o.balance_left_pct = 50;
    o.speed_m_s = 3.0;
    o.heart_rate_bpm = 150;
    const s_option_t options [] = {
        { "--duration", false, 1, 7 * 86400, &o.duration_s },
        { "--cadence", true, 60, 260, &o.cadence_spm },
        { "--cadence-end", true, 60, 260, &o.cadence_end_spm },
        { "--oscillation", true, 10, 200, &o.vertical_oscillation_mm },
        { "--contact", true, 50, 600, &o.contact_time_ms },
        { "--balance", true, 30, 70, &o.balance_left_pct },
        { "--speed", true, 0.5, 12, &o.speed_m_s },
        { "--hr", true, 30, 240, &o.heart_rate_bpm },
        { "--seed", false, 0, UINT32_MAX, &o.seed },
        { NULL, false, 0, 0, NULL }
    };
    app->command = "simulate run";
    int rc = s_parse_options ("simulate run", options, argc, argv);
    if (rc != EXIT_OK || (rc = s_open_edge (app)) != EXIT_OK)
        return rc;
    cw_import_summary_t summary;
    memset (&summary, 0, sizeof summary);
    if (app->progress)
        fprintf (stderr, "simulating a %" PRIu32 " s run...\n", o.duration_s);
    int src = cw_simulate_run (&o, s_sink, app, &summary);
    app->batches = summary.batches;
    app->samples = summary.samples;
    if (src != CW_OK) {
        app->input_errors++;
        fprintf (stderr, "cw-edge simulate run: %s\n", cw_strerror (src));
    }
    s_final_flush (app);
    return s_report (app);
}

static int
s_sim_diet (s_app_t *app, int argc, char **argv)
{
    cw_sim_diet_options_t o;
    memset (&o, 0, sizeof o);
    o.days = 7;
    o.energy_kcal = 2200;
    o.protein_g = 90;
    o.sugar_g = 50;
    const s_option_t options [] = {
        { "--days", false, 1, 3650, &o.days },
        { "--energy", true, 500, 8000, &o.energy_kcal },
        { "--protein", true, 0, 500, &o.protein_g },
        { "--sugar", true, 0, 500, &o.sugar_g },
        { "--seed", false, 0, UINT32_MAX, &o.seed },
        { NULL, false, 0, 0, NULL }
    };
    app->command = "simulate diet";
    int rc = s_parse_options ("simulate diet", options, argc, argv);
    if (rc != EXIT_OK || (rc = s_open_edge (app)) != EXIT_OK)
        return rc;
    cw_import_summary_t summary;
    memset (&summary, 0, sizeof summary);
    int src = cw_simulate_diet (&o, s_sink, app, &summary);
    app->batches = summary.batches;
    app->samples = summary.samples;
    if (src != CW_OK) {
        app->input_errors++;
        fprintf (stderr, "cw-edge simulate diet: %s\n", cw_strerror (src));
    }
    s_final_flush (app);
    return s_report (app);
}

static const s_command_t s_simulations [] = {
    { "run", s_sim_run, "simulate run", "" },
    { "diet", s_sim_diet, "simulate diet", "" },
    { NULL, NULL, NULL, NULL }
};

static int
s_cmd_simulate (s_app_t *app, int argc, char **argv)
{
    if (argc == 0) {
        fprintf (stderr, "cw-edge simulate: say what: run or diet (try --help)\n");
        return EXIT_USAGE;
    }
    for (const s_command_t *c = s_simulations; c->name; c++) {
        if (strcmp (argv [0], c->name) == 0) {
            for (int i = 1; i < argc; i++) {
                if (s_is_help (argv [i])) {
                    s_command_help (&s_commands [1], stdout);
                    return EXIT_OK;
                }
            }
            return c->handler (app, argc - 1, argv + 1);
        }
    }
    fprintf (stderr, "cw-edge simulate: unknown simulation '%s' (run or diet)\n", argv [0]);
    return EXIT_USAGE;
}

static int
s_cmd_flush (s_app_t *app, int argc, char **argv)
{
    if (argc > 0) {
        fprintf (stderr, "cw-edge flush: unexpected argument '%s'\n", argv [0]);
        return EXIT_USAGE;
    }
    int rc = s_open_edge (app);
    if (rc != EXIT_OK)
        return rc;
    s_final_flush (app);
    return s_report (app);
}

static int
s_cmd_status (s_app_t *app, int argc, char **argv)
{
    if (argc > 0) {
        fprintf (stderr, "cw-edge status: unexpected argument '%s'\n", argv [0]);
        return EXIT_USAGE;
    }
    int rc = s_open_edge (app);
    if (rc != EXIT_OK)
        return rc;
    /*  Lifetime counters: report against zero. */
    memset (&app->before, 0, sizeof app->before);
    return s_report (app);
}

/*  -------------------------------------------------------------------------------------------
 *  Nudges: receive, list with their disclosure, report the person's reaction
 */

typedef struct {
    bool json;
    cw_json_t *out;                 /* --json */
    size_t count;
    int rc;
} s_list_t;

static const char *s_reaction_names [] = { "received", "opened", "dismissed", "helpful" };

static int
s_list_nudge (void *ctx, const cw_edge_nudge_t *n)
{
    s_list_t *l = ctx;
    cw_nudge_t nudge;
    l->count++;
    if (cw_nudge_unpack (n->body, n->body_len, &nudge) != CW_OK) {
        if (!l->json)
            printf ("\nnudge %s: stored, but its body could not be read\n", n->id);
        return 0;
    }
    nudge.state = n->acked ? CW_NUDGE_ACKED : CW_NUDGE_DELIVERED;
    if (l->json) {
        cw_json_object_begin (l->out, NULL);
        cw_json_string (l->out, "id", n->id);
        cw_json_int (l->out, "received_ms", n->received_ms);
        cw_json_bool (l->out, "acked", n->acked != 0);
        cw_json_array_begin (l->out, "feedback");
        for (int r = 1; r <= CW_EDGE_REACTION_HELPFUL; r++)
            if (n->feedback & (1u << r))
                cw_json_string (l->out, NULL, s_reaction_names [r]);
        cw_json_array_end (l->out);
        cw_nudge_json (&nudge, l->out, "nudge");
        cw_json_object_end (l->out);
        return 0;
    }
    char *text = NULL;
    if (cw_nudge_text (&nudge, &text) != CW_OK) {
        l->rc = CW_ENOMEM;
        return CW_ENOMEM;
    }
    for (char *c = text; *c; c++)
        if (((unsigned char) *c < 0x20 && *c != '\n') || *c == 0x7f)
            *c = '?';
    printf ("\n%s", text);
    free (text);
    char reactions [64] = "";
    for (int r = 1; r <= CW_EDGE_REACTION_HELPFUL; r++)
        if (n->feedback & (1u << r)) {
            size_t used = strlen (reactions);
            snprintf (reactions + used, sizeof reactions - used, "%s%s%s", used ? ", " : "",
                      s_reaction_names [r], n->feedback_sent & (1u << r) ? "" : " (not sent yet)");
        }
    printf ("  on this device: receipt %s; feedback: %s\n", n->acked ? "sent" : "not sent yet",
            reactions [0] ? reactions : "none");
    return 0;
}

static int
s_cmd_nudges (s_app_t *app, int argc, char **argv)
{
    double wait_s = 2;
    for (int i = 0; i < argc; i++) {
        if (strcmp (argv [i], "--json") == 0)
            app->json = true;
        else if (strcmp (argv [i], "--wait") == 0 && i + 1 < argc) {
            if (!s_parse_double (argv [++i], 0, 3600, &wait_s)) {
                fprintf (stderr, "cw-edge nudges: --wait needs seconds from 0 to 3600\n");
                return EXIT_USAGE;
            }
        }
        else {
            fprintf (stderr, "cw-edge nudges: unexpected argument '%s' (try --help)\n",
                     argv [i]);
            return EXIT_USAGE;
        }
    }
    int rc = s_open_edge (app);
    if (rc != EXIT_OK)
        return rc;
    /*  Say hello, so that what waited for the person while no device was online comes now;
     *  then take whatever arrives for wait_s, acknowledging each nudge as it lands. */
    if (wait_s > 0 && cw_edge_announce (app->edge) == CW_OK) {
        int64_t left_ms = (int64_t) (wait_s * 1000.0);
        while (left_ms > 0) {
            int step = left_ms > 100 ? 100 : (int) left_ms;
            if ((rc = cw_edge_pump (app->edge, step)) != CW_OK) {
                fprintf (stderr, "cw-edge nudges: %s\n", cw_strerror (rc));
                return EXIT_SETUP;
            }
            left_ms -= step;
        }
    }
    s_list_t list = { app->json, NULL, 0, CW_OK };
    if (app->json && cw_json_new (&list.out, 0) != CW_OK)
        return EXIT_SETUP;
    if (app->json) {
        cw_json_object_begin (list.out, NULL);
        cw_json_string (list.out, "command", "nudges");
        cw_json_array_begin (list.out, "nudges");
    }
    rc = cw_edge_nudges_each (app->edge, s_list_nudge, &list);
    if (app->json) {
        cw_json_array_end (list.out);
        cw_json_uint (list.out, "count", list.count);
        cw_json_object_end (list.out);
        const char *text = cw_json_text (list.out, NULL);
        if (text)
            printf ("%s\n", text);
        else
            rc = CW_ENOMEM;
        cw_json_destroy (&list.out);
    }
    else
        printf ("\n%zu nudge%s on this device\n", list.count, list.count == 1 ? "" : "s");
    if (rc != CW_OK) {
        fprintf (stderr, "cw-edge nudges: the stored nudges could not be read: %s\n",
                 cw_strerror (rc));
        return EXIT_SETUP;
    }
    return EXIT_OK;
}

typedef struct {
    const char *id;
    int reaction;
    bool sent;
} s_sent_t;

static int
s_feedback_sent (void *ctx, const cw_edge_nudge_t *n)
{
    s_sent_t *s = ctx;
    if (strcmp (n->id, s->id) == 0 && (n->feedback_sent & (1u << s->reaction)))
        s->sent = true;
    return 0;
}

static int
s_cmd_feedback (s_app_t *app, int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "cw-edge feedback: give NUDGE_ID and opened, dismissed or helpful\n");
        return EXIT_USAGE;
    }
    int reaction = 0;
    for (int r = 1; r <= CW_EDGE_REACTION_HELPFUL; r++)
        if (strcmp (argv [1], s_reaction_names [r]) == 0)
            reaction = r;
    if (!reaction) {
        fprintf (stderr, "cw-edge feedback: '%s' is not a reaction: opened, dismissed or "
                 "helpful\n", argv [1]);
        return EXIT_USAGE;
    }
    char id [33];
    size_t n = strlen (argv [0]);
    for (size_t i = 0; i < n && i < 32; i++)
        id [i] = argv [0][i] >= 'A' && argv [0][i] <= 'F' ? (char) (argv [0][i] - 'A' + 'a')
                                                          : argv [0][i];
    id [n < 32 ? n : 32] = 0;
    int rc = s_open_edge (app);
    if (rc != EXIT_OK)
        return rc;
    rc = cw_edge_nudge_feedback (app->edge, argv [0], reaction);
    if (rc == CW_EINVAL || rc == CW_ENOENT) {
        fprintf (stderr, "cw-edge feedback: %s: %s\n", argv [0],
                 rc == CW_EINVAL ? "not a nudge id (32 hex characters)"
                                 : "no such nudge on this device (cw-edge nudges lists them)");
        return EXIT_INPUT;
    }
    if (rc != CW_OK) {
        fprintf (stderr, "cw-edge feedback: %s\n", cw_strerror (rc));
        return EXIT_SETUP;
    }
    s_sent_t s = { id, reaction, false };
    int64_t left_ms = (int64_t) (app->timeout_s * 1000.0);
    while (!s.sent) {
        if (cw_edge_nudges_each (app->edge, s_feedback_sent, &s) != CW_OK || s.sent
            || left_ms <= 0)
            break;
        if ((rc = cw_edge_pump (app->edge, 100)) != CW_OK)
            break;
        left_ms -= 100;
    }
    /*  Give ZeroMQ a moment to write the frame before the socket closes. */
    if (s.sent) {
        int settle = cw_edge_pump (app->edge, 200);
        (void) settle;      /* it went out; what the pump reads after does not change that */
    }
    if (!s.sent) {
        fprintf (stderr, "cw-edge feedback: recorded on this device; not sent yet (offline): it "
                 "goes out with the next cw-edge command that connects\n");
        return EXIT_TIMEOUT;
    }
    if (!app->quiet)
        printf ("%s: %s sent\n", id, s_reaction_names [reaction]);
    return EXIT_OK;
}

/*  -------------------------------------------------------------------------------------------
 *  main
 */

int
main (int argc, char **argv)
{
    s_app_t app;
    memset (&app, 0, sizeof app);
    app.timeout_s = 30;
    app.progress_pct = -1;
    app.cred_path = getenv ("CW_EDGE_CRED");
    if (!app.cred_path || !*app.cred_path)
        app.cred_path = "device.cred";
    const char *queue = NULL;

    int i = 1;
    for (; i < argc && argv [i][0] == '-'; i++) {
        const char *arg = argv [i];
        if (s_is_help (arg)) {
            s_usage (stdout);
            return EXIT_OK;
        }
        else if (strcmp (arg, "--json") == 0)
            app.json = true;
        else if (strcmp (arg, "--quiet") == 0 || strcmp (arg, "-q") == 0)
            app.quiet = true;
        else if (strcmp (arg, "--cred") == 0 || strcmp (arg, "--queue") == 0
                 || strcmp (arg, "--timeout") == 0) {
            if (i + 1 >= argc) {
                fprintf (stderr, "cw-edge: %s needs a value\n", arg);
                return EXIT_USAGE;
            }
            const char *value = argv [++i];
            if (strcmp (arg, "--cred") == 0)
                app.cred_path = value;
            else if (strcmp (arg, "--queue") == 0)
                queue = value;
            else if (!s_parse_double (value, 0, 86400.0 * 7, &app.timeout_s)) {
                fprintf (stderr, "cw-edge: --timeout needs seconds from 0 to 604800\n");
                return EXIT_USAGE;
            }
        }
        else {
            fprintf (stderr, "cw-edge: unknown option '%s' (try --help)\n", arg);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        s_usage (stderr);
        return EXIT_USAGE;
    }
    int n = queue ? snprintf (app.queue_path, sizeof app.queue_path, "%s", queue)
                  : snprintf (app.queue_path, sizeof app.queue_path, "%s.queue", app.cred_path);
    if (n < 0 || (size_t) n >= sizeof app.queue_path) {
        fprintf (stderr, "cw-edge: queue path too long\n");
        return EXIT_USAGE;
    }
    app.progress = !app.quiet && isatty (STDERR_FILENO);

    const s_command_t *command = NULL;
    for (const s_command_t *c = s_commands; c->name; c++)
        if (strcmp (argv [i], c->name) == 0)
            command = c;
    if (!command) {
        fprintf (stderr, "cw-edge: unknown command '%s' (try --help)\n", argv [i]);
        return EXIT_USAGE;
    }
    /*  "cw-edge simulate run --help" is handled by simulate itself, to reach its options. */
    if (command->handler != s_cmd_simulate || i + 1 >= argc || s_is_help (argv [i + 1])) {
        for (int k = i + 1; k < argc; k++) {
            if (s_is_help (argv [k])) {
                s_command_help (command, stdout);
                return EXIT_OK;
            }
        }
    }
    app.command = command->name;
    int rc = command->handler (&app, argc - i - 1, argv + i + 1);
    cw_edge_destroy (&app.edge);
    return rc;
}
