/*  bench_hist.h - a log-linear latency histogram of microseconds for the benches: exact below
 *  256, then 128 sub-buckets per power of two (under 0.8 % error), up to 2^40 us. Fixed size
 *  (34 KB), no allocation: zero it to empty it. */
#ifndef BENCH_HIST_H_INCLUDED
#define BENCH_HIST_H_INCLUDED

#include <stdint.h>

#define BENCH_HIST_SUB 128u
#define BENCH_HIST_BUCKETS (34u * BENCH_HIST_SUB)

typedef struct {
    uint64_t counts [BENCH_HIST_BUCKETS];
    uint64_t total;             /* values added */
    uint64_t max_us;            /* the largest value added, exact */
} bench_hist_t;

/*  Counts one value (clamped to 2^40 - 1 us). */
void bench_hist_add (bench_hist_t *self, uint64_t us);

/*  Adds every count of from to self. */
void bench_hist_merge (bench_hist_t *self, const bench_hist_t *from);

/*  The q-quantile (0 < q <= 1) in milliseconds, never above the maximum; 0 when empty. */
double bench_hist_quantile_ms (const bench_hist_t *self, double q);

#endif
