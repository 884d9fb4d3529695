/*  cw_dynamics.c - window statistics of device-measured running dynamics (see cw_dynamics.h).
 *
 *  Readings live in a fixed ring (CW_DYNAMICS_MAX_READINGS); a query copies a field's
 *  non-zero values out and sorts them; zeros need no sorting, they come first. Queries are rare (once per coaching
 *  decision), readings arrive at ~1 Hz: no incremental order statistics needed.
 */
#include "coachwire/cw_dynamics.h"
#include "coachwire/cw_error.h"

#include "cw_features_int.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t time_ms;
    uint32_t values [CW_DYN_FIELDS];
    uint32_t present;                   /* bit f set: the device sent field f */
} s_reading_t;

struct _cw_dynamics_t {
    uint32_t window_ms;
    s_reading_t *ring;          /* CW_DYNAMICS_MAX_READINGS readings, oldest at head */
    size_t head, count;
    double *scratch;            /* for the median */
};

cw_dynamics_t *
cw_dynamics_new (uint32_t window_ms)
{
    if (window_ms == 0 || window_ms > CW_DYNAMICS_WINDOW_MAX_MS)
        return NULL;
    cw_dynamics_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->window_ms = window_ms;
    self->ring = calloc (CW_DYNAMICS_MAX_READINGS, sizeof *self->ring);
    self->scratch = calloc (CW_DYNAMICS_MAX_READINGS, sizeof *self->scratch);
    if (!self->ring || !self->scratch)
        cw_dynamics_destroy (&self);
    return self;
}

void
cw_dynamics_destroy (cw_dynamics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->ring);
    free ((*self_p)->scratch);
    free (*self_p);
    *self_p = NULL;
}

int
cw_dynamics_feed (cw_dynamics_t *self, const cw_dyn_batch_t *batch)
{
    if (!self || !batch || (batch->n > 0 && !batch->time_delta_ms))
        return CW_EINVAL;
    for (int f = 0; f < CW_DYN_FIELDS; f++)
        if (batch->values [f] && batch->counts [f] != batch->n)
            return CW_ESHAPE;
    uint64_t t = batch->start_time_ms;
    for (size_t i = 0; i < batch->n; i++) {
        t += batch->time_delta_ms [i];
        s_reading_t r = { .time_ms = t };
        for (int f = 0; f < CW_DYN_FIELDS; f++)
            if (batch->values [f]) {
                r.values [f] = batch->values [f][i];
                r.present |= 1u << f;
            }
        if (self->count == CW_DYNAMICS_MAX_READINGS) {
            self->head = (self->head + 1) % CW_DYNAMICS_MAX_READINGS;
            self->count--;
        }
        self->ring [(self->head + self->count) % CW_DYNAMICS_MAX_READINGS] = r;
        self->count++;
    }
    //  Drop what fell out of the window behind the newest reading. Readings are in arrival
    //  order; a device whose clock jumps back only shortens its own window.
    if (self->count > 0) {
        size_t newest = (self->head + self->count - 1) % CW_DYNAMICS_MAX_READINGS;
        uint64_t now = self->ring [newest].time_ms;
        while (self->count > 1
               && self->ring [self->head].time_ms + self->window_ms < now) {
            self->head = (self->head + 1) % CW_DYNAMICS_MAX_READINGS;
            self->count--;
        }
    }
    return CW_OK;
}

int
cw_dynamics_stat (const cw_dynamics_t *self, cw_dyn_field_t field, cw_dyn_stat_t *out)
{
    if (!self || !out || (int) field < 0 || field >= CW_DYN_FIELDS)
        return CW_EINVAL;
    size_t n = 0, zeros = 0;
    double sum = 0.0;
    for (size_t i = 0; i < self->count; i++) {
        const s_reading_t *r = &self->ring [(self->head + i) % CW_DYNAMICS_MAX_READINGS];
        if (!(r->present & (1u << field)))
            continue;
        sum += r->values [field];
        if (r->values [field] == 0)
            zeros++;
        else
            self->scratch [n++] = r->values [field];
    }
    *out = (cw_dyn_stat_t) { .note = "no reading from the device in the window" };
    if (n + zeros == 0)
        return CW_OK;
    out->moving_median = cw_features_median (self->scratch, n);
    //  All readings: the zeros sort first, so the median is read off the sorted non-zero
    //  values shifted by the number of zeros.
    size_t total = n + zeros;
    double lo = (total - 1) / 2 < zeros? 0.0: self->scratch [(total - 1) / 2 - zeros];
    double hi = total / 2 < zeros? 0.0: self->scratch [total / 2 - zeros];
    out->median = total % 2? hi: (lo + hi) / 2.0;
    out->mean = sum / (double) total;
    out->samples = (uint32_t) total;
    out->zeros = (uint32_t) zeros;
    out->confidence = 1.0;
    out->note = "as measured by the device";
    return CW_OK;
}

int
cw_dynamics_cadence (const cw_dynamics_t *self, cw_metric_t *out)
{
    if (!out)
        return CW_EINVAL;
    cw_dyn_stat_t stat;
    int rc = cw_dynamics_stat (self, CW_DYN_CADENCE, &stat);
    if (rc != CW_OK)
        return rc;
    *out = (cw_metric_t) { stat.median / 10.0, stat.confidence, stat.samples, stat.note };
    return CW_OK;
}
