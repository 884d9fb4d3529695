/*  bench_features.c - how fast the step detector eats IMU samples, on one core.
 *
 *  A synthetic 100 Hz run (pocket phone, 170 steps/min, noise) is generated once, then fed
 *  in wire-sized batches (1,000 samples, as an ImuBatch would carry), timed with the thread's
 *  own CPU clock so other load on the machine does not count. A plain sum over the same
 *  samples, timed the same way, is the baseline: the ratio says how far we are from merely
 *  reading the memory. Target: 50 million samples (x, y, z) per second per core at -O2. */
#include "cw_bench.h"

#include "coachwire/cw_steps.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_TARGET 50e6
#define S_BATCH 1000

static double
s_cpu_seconds (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static int32_t
s_noise (uint64_t *state)
{
    //  xorshift64: reproducible, cheap, good enough for sensor noise
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (int32_t) (*state % 401u) - 200;    // +-0.2 m/s^2
}

int
cw_bench_features (int argc, char **argv)
{
    size_t samples = 4000000;
    int passes = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv [i], "--help") == 0) {
            printf ("usage: cw-bench features [--samples N] [--passes P]\n"
                    "  step extraction over N synthetic samples (default 4000000), P times\n");
            return 0;
        }
        if (i + 1 < argc && strcmp (argv [i], "--samples") == 0)
            samples = (size_t) strtoull (argv [++i], NULL, 10);
        else
        if (i + 1 < argc && strcmp (argv [i], "--passes") == 0)
            passes = (int) strtol (argv [++i], NULL, 10);
        else {
            fprintf (stderr, "cw-bench features: unknown argument '%s'\n", argv [i]);
            return 2;
        }
    }
    if (samples < S_BATCH || samples > 100000000 || passes < 1 || passes > 100) {
        fprintf (stderr, "cw-bench features: samples 1000..1e8, passes 1..100\n");
        return 2;
    }
    int rc = 1;
    int32_t *ax = malloc (samples * sizeof *ax);
    int32_t *ay = malloc (samples * sizeof *ay);
    int32_t *az = malloc (samples * sizeof *az);
    if (!ax || !ay || !az)
        goto done;
    uint64_t rng = 0x9e3779b97f4a7c15u;
    const double fs = 100.0, step_hz = 170.0 / 60.0, two_pi = 6.283185307179586;
    for (size_t i = 0; i < samples; i++) {
        double t = (double) i / fs;
        double up = 9806.65 + 6000.0 * sin (two_pi * step_hz * t)
                  + 1500.0 * sin (2.0 * two_pi * step_hz * t + 0.7);
        double fwd = 2000.0 * sin (two_pi * step_hz * t + 1.3);
        //  Phone tilted: gravity spread over the three axes.
        ax [i] = (int32_t) lrint (0.6 * up + 0.8 * fwd) + s_noise (&rng);
        ay [i] = (int32_t) lrint (0.8 * up - 0.6 * fwd) + s_noise (&rng);
        az [i] = (int32_t) lrint (0.3 * fwd) + s_noise (&rng);
    }

    //  Baseline: read and add every coordinate once.
    volatile int64_t sink = 0;
    double t0 = s_cpu_seconds ();
    for (int p = 0; p < passes; p++) {
        int64_t sum = 0;
        for (size_t i = 0; i < samples; i++)
            sum += (int64_t) ax [i] + ay [i] + az [i];
        sink += sum;
    }
    double base_s = s_cpu_seconds () - t0;

    uint64_t steps = 0;
    double steps_s = 0.0;
    for (int p = 0; p < passes; p++) {
        cw_steps_t *det = cw_steps_new (100000, CW_PLACEMENT_POCKET);
        if (!det)
            goto done;
        t0 = s_cpu_seconds ();
        for (size_t i = 0; i < samples; i += S_BATCH) {
            size_t n = samples - i < S_BATCH? samples - i: S_BATCH;
            cw_steps_feed (det, ax + i, ay + i, az + i, n);
        }
        steps_s += s_cpu_seconds () - t0;
        steps = cw_steps_total (det);
        cw_steps_destroy (&det);
    }
    double total = (double) samples * passes;
    double rate = total / steps_s, base_rate = total / base_s;
    double expected = (double) samples / fs * step_hz;
    printf ("features: %zu samples x %d passes (synthetic 100 Hz run, 170 steps/min)\n",
            samples, passes);
    printf ("  step extraction  %8.1f M samples/s/core  (%.3f s CPU; %llu steps, expected %.0f)\n",
            rate / 1e6, steps_s, (unsigned long long) steps, expected);
    printf ("  baseline (sum)   %8.1f M samples/s/core  (%.3f s CPU)\n", base_rate / 1e6, base_s);
    printf ("  ratio            %8.1f x slower than the plain sum\n", base_rate / rate);
    printf ("  target           %8.1f M samples/s/core: %s\n", S_TARGET / 1e6,
            rate >= S_TARGET? "met": "NOT met");
    (void) sink;
    rc = 0;
done:
    free (ax);
    free (ay);
    free (az);
    return rc;
}
