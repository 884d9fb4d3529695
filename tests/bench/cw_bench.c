/*  cw_bench.c - cw-bench: one binary, one subcommand per subsystem measured.
 *
 *  Usage: cw-bench SUBCOMMAND [ARGS...]; cw-bench --help lists them. Subcommands are a table,
 *  so adding one is a line here and a function in its own file. */
#include "cw_bench.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run) (int argc, char **argv);
    const char *summary;
} s_command_t;

static const s_command_t s_commands [] = {
    { "features", cw_bench_features, "IMU feature extraction speed" },
    { "ingest", cw_bench_ingest, "ingest pipeline vs raw CURVE: throughput, ack latency, CPU" },
    { "connections", cw_bench_connections,
      "N paced devices: ack latency, memory per connection; storm, restart, soak" },
    { "nudge", cw_bench_nudge, "frame-to-nudge latency of the coaching engine under load" },
};

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: cw-bench SUBCOMMAND [ARGS...]\n\nsubcommands:\n");
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands [0]; i++)
        fprintf (out, "  %-12s %s\n", s_commands [i].name, s_commands [i].summary);
    fprintf (out, "\n'cw-bench SUBCOMMAND --help' for a subcommand's options.\n");
}

int
main (int argc, char **argv)
{
    if (argc < 2 || strcmp (argv [1], "--help") == 0 || strcmp (argv [1], "-h") == 0) {
        s_usage (argc < 2? stderr: stdout);
        return argc < 2? 2: 0;
    }
    for (size_t i = 0; i < sizeof s_commands / sizeof s_commands [0]; i++)
        if (strcmp (argv [1], s_commands [i].name) == 0)
            return s_commands [i].run (argc - 1, argv + 1);
    fprintf (stderr, "cw-bench: unknown subcommand '%s'\n", argv [1]);
    s_usage (stderr);
    return 2;
}
