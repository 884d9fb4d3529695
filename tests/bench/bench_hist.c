/*  bench_hist.c - the benches' log-linear latency histogram (see bench_hist.h). */
#include "bench_hist.h"

#include <math.h>
#include <stddef.h>

#define S_MAX_US ((1ull << 40) - 1)

static size_t
s_index (uint64_t us)
{
    if (us > S_MAX_US)
        us = S_MAX_US;
    if (us < 2 * BENCH_HIST_SUB)
        return (size_t) us;
    unsigned top = 63u - (unsigned) __builtin_clzll (us);
    unsigned shift = top - 7u;
    return (size_t) (shift + 1u) * BENCH_HIST_SUB + (size_t) ((us >> shift) - BENCH_HIST_SUB);
}

/*  The middle of bucket idx, in microseconds. */
static double
s_value (size_t idx)
{
    if (idx < 2 * BENCH_HIST_SUB)
        return (double) idx;
    unsigned shift = (unsigned) (idx / BENCH_HIST_SUB) - 1u;
    uint64_t low = (uint64_t) (idx % BENCH_HIST_SUB + BENCH_HIST_SUB) << shift;
    return (double) low + (double) (1ull << shift) / 2.0;
}

void
bench_hist_add (bench_hist_t *self, uint64_t us)
{
    self->counts [s_index (us)]++;
    self->total++;
    if (us > self->max_us)
        self->max_us = us;
}

void
bench_hist_merge (bench_hist_t *self, const bench_hist_t *from)
{
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++)
        self->counts [i] += from->counts [i];
    self->total += from->total;
    if (from->max_us > self->max_us)
        self->max_us = from->max_us;
}

double
bench_hist_quantile_ms (const bench_hist_t *self, double q)
{
    if (self->total == 0)
        return 0.0;
    uint64_t rank = (uint64_t) ceil (q * (double) self->total);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += self->counts [i];
        if (seen >= rank) {
            double v = s_value (i);
            return (v > (double) self->max_us ? (double) self->max_us : v) / 1000.0;
        }
    }
    return (double) self->max_us / 1000.0;
}
