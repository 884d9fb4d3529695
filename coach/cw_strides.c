/*  cw_strides.c - stride detection on a foot pod's gyroscope (see cw_strides.h for the method).
 *
 *  Per sample: update the angular rate's second-moment matrix, project onto its principal
 *  axis, low-pass, and track lobes (runs of one sign outside a dead band). Per lobe: keep a
 *  decaying maximum of lobe areas for each sign; a lobe of the larger sign with at least half
 *  that area is a swing. Per swing: the stretch since the previous swing is one stride, read
 *  back from a ring buffer of the projected signal to find heel strike and toe-off.
 */
#include "coachwire/cw_strides.h"
#include "coachwire/cw_error.h"

#include "cw_features_int.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/*  Angular rate (deg/s) a lobe must exceed: body sway and sensor noise stay within a few
 *  deg/s, while even a slow walk swings the foot at 150 deg/s and more. */
#define S_DEAD_BAND 40.0f
/*  The gait signal lives below ~5 Hz; the corner removes impact ringing, not timing. */
#define S_LOWPASS_HZ 6.0
/*  Time constant of the second moment, s: several strides, so the axis is steady. */
#define S_AXIS_TAU_S 4.0
/*  Samples between two power-iteration steps of the principal axis. */
#define S_AXIS_EVERY 32
/*  A swing lobe has at least this share of the recent largest one. */
#define S_SWING_SHARE 0.5
/*  Per lobe decay of the largest recent lobe area: forgets over a few strides. */
#define S_AREA_DECAY 0.9
/*  Stride time range: two steps at 240 and at 40 steps/min. */
#define S_STRIDE_MIN_S (2.0 * 60.0 / CW_CADENCE_MAX_SPM)
#define S_STRIDE_MAX_S (2.0 * 60.0 / CW_CADENCE_MIN_SPM)
/*  Ring buffer span: the longest stride plus the delay until its closing lobe ends. */
#define S_RING_S (S_STRIDE_MAX_S + 1.0)

struct _cw_strides_t {
    double rate_hz;             /* sample rate */
    cw_placement_t placement;
    float k_moment;             /* one-pole gain of the second moment */
    double m [6];               /* second moment xx, yy, zz, xy, xz, yz of the rate (deg/s)^2 */
    float axis [3];             /* current principal axis (unit) */
    bool axis_set;              /* false until the axis was first estimated */
    float b0, b1, b2, a1, a2;   /* Butterworth low-pass */
    float z1, z2;
    float *ring;                /* projected, filtered rate; index = sample % ring_len */
    size_t ring_len;
    uint64_t samples;           /* samples fed */
    int lobe_sign;              /* sign of the open lobe: +1, -1, or 0 when none is open */
    double lobe_area;           /* deg (sum of rate x dt beyond zero) */
    double lobe_moment;         /* sum of rate x sample index beyond zero, for the centroid */
    double area_max [2];        /* decaying largest lobe area: [0] negative, [1] positive */
    int swing_sign;             /* sign of the last swing lobe, 0 if none */
    uint64_t swing_at;          /* sample of the last swing's centroid */
    bool have_swing;
    uint64_t total;             /* strides counted */
    cw_stride_t window [CW_STRIDES_WINDOW];  /* ring of the last strides */
    size_t n_window, window_next;
    cw_stride_fn *fn;
    void *fn_arg;
};

cw_strides_t *
cw_strides_new (uint32_t sample_rate_mhz, cw_placement_t placement)
{
    if (sample_rate_mhz < CW_IMU_RATE_MIN_MHZ || sample_rate_mhz > CW_IMU_RATE_MAX_MHZ)
        return NULL;
    if ((int) placement < 0 || placement > CW_PLACEMENT_MAX)
        return NULL;
    cw_strides_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    double fs = sample_rate_mhz / 1000.0;
    self->rate_hz = fs;
    self->placement = placement;
    self->ring_len = (size_t) ceil (S_RING_S * fs) + 1;
    self->ring = calloc (self->ring_len, sizeof *self->ring);
    if (!self->ring) {
        free (self);
        return NULL;
    }
    self->k_moment = (float) (1.0 - exp (-1.0 / (fs * S_AXIS_TAU_S)));
    double fc = S_LOWPASS_HZ < 0.45 * fs? S_LOWPASS_HZ: 0.45 * fs;
    double k = tan (M_PI * fc / fs);
    double norm = 1.0 / (1.0 + M_SQRT2 * k + k * k);
    self->b0 = (float) (k * k * norm);
    self->b1 = (float) (2.0 * k * k * norm);
    self->b2 = self->b0;
    self->a1 = (float) (2.0 * (k * k - 1.0) * norm);
    self->a2 = (float) ((1.0 - M_SQRT2 * k + k * k) * norm);
    return self;
}

void
cw_strides_destroy (cw_strides_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->ring);
    free (*self_p);
    *self_p = NULL;
}

void
cw_strides_set_handler (cw_strides_t *self, cw_stride_fn *fn, void *arg)
{
    if (!self)
        return;
    self->fn = fn;
    self->fn_arg = arg;
}

//  One power-iteration step towards the principal axis of the second moment. The sign of
//  the axis is kept continuous (a flip would swap the lobes' signs mid-stream).
static void
s_update_axis (cw_strides_t *self)
{
    const double *m = self->m;
    double trace = m [0] + m [1] + m [2];
    if (!(trace > 1.0))
        return;     // at rest: no axis to speak of, keep the previous one
    double u [3];
    if (!self->axis_set) {
        //  Start from the coordinate axis with most variance: right already for a pod
        //  mounted square, and never orthogonal to the answer.
        int best = m [1] > m [0]? 1: 0;
        best = m [2] > m [best]? 2: best;
        u [0] = best == 0; u [1] = best == 1; u [2] = best == 2;
    }
    else
        for (int i = 0; i < 3; i++)
            u [i] = self->axis [i];
    double v [3] = {
        m [0] * u [0] + m [3] * u [1] + m [4] * u [2],
        m [3] * u [0] + m [1] * u [1] + m [5] * u [2],
        m [4] * u [0] + m [5] * u [1] + m [2] * u [2] };
    double len = sqrt (v [0] * v [0] + v [1] * v [1] + v [2] * v [2]);
    if (!(len > 0.0) || !isfinite (len))
        return;
    double dot = v [0] * u [0] + v [1] * u [1] + v [2] * u [2];
    double sign = dot < 0? -1.0: 1.0;
    for (int i = 0; i < 3; i++)
        self->axis [i] = (float) (sign * v [i] / len);
    self->axis_set = true;
}

//  The signal between swing peaks from and to, oriented so that swing is positive, dips
//  below zero just after the first peak (heel strike) and just before the second (toe-off).
//  A dip is a run below minus half the dead band; mid-stance, where the foot is still,
//  separates the two. When they merge (running, no still phase) the run's halves are taken.
//  Returns the contact time in samples, or 0 when the stance cannot be delimited.
static double
s_contact_samples (const cw_strides_t *self, uint64_t from, uint64_t to, int sign)
{
    const float *r = self->ring;
    const size_t len = self->ring_len;
    const float level = -0.5f * S_DEAD_BAND;
    #define S_AT(k) ((float) sign * r [(k) % len])
    uint64_t k = from;
    while (k < to && S_AT (k) >= level)
        k++;
    uint64_t first_start = k;
    while (k < to && S_AT (k) < level)
        k++;
    uint64_t first_end = k;            // one past the first dip
    k = to;
    while (k > first_start && S_AT (k) >= level)
        k--;
    uint64_t last_end = k + 1;         // one past the last dip
    while (k > first_start && S_AT (k) < level)
        k--;
    uint64_t last_start = S_AT (k) < level? k: k + 1;
    if (first_start >= to || last_end <= first_start)
        return 0.0;
    if (last_start < first_end) {      // one dip: heel strike in its first half, toe-off later
        uint64_t mid = first_start + (first_end - first_start) / 2;
        first_end = mid;
        last_start = mid;
    }
    uint64_t ic = first_start, tc = last_start;
    for (k = first_start; k < first_end; k++)
        if (S_AT (k) < S_AT (ic))
            ic = k;
    for (k = last_start; k < last_end; k++)
        if (S_AT (k) < S_AT (tc))
            tc = k;
    #undef S_AT
    return tc > ic? (double) (tc - ic): 0.0;
}

static void
s_stride (cw_strides_t *self, uint64_t from, uint64_t to, int sign)
{
    cw_stride_t stride = {
        .start = (double) from / self->rate_hz,
        .stride_time_ms = 1000.0 * (double) (to - from) / self->rate_hz,
        .contact_time_ms = 1000.0 * s_contact_samples (self, from, to, sign) / self->rate_hz
    };
    self->total++;
    self->window [self->window_next] = stride;
    self->window_next = (self->window_next + 1) % CW_STRIDES_WINDOW;
    if (self->n_window < CW_STRIDES_WINDOW)
        self->n_window++;
    if (self->fn)
        self->fn (self->fn_arg, &stride);
}

//  A lobe has closed. Decides whether it was a swing and, if so, whether it closes a stride.
static void
s_lobe (cw_strides_t *self)
{
    int side = self->lobe_sign > 0;
    double *area_max = &self->area_max [side];
    *area_max = fmax (self->lobe_area, *area_max * S_AREA_DECAY);
    int swing_side = self->area_max [1] > self->area_max [0];
    if (side != swing_side || self->lobe_area < S_SWING_SHARE * self->area_max [swing_side])
        return;
    //  The lobe's centroid dates the swing: a swing's peak is broad and often double, its
    //  centroid is stable from stride to stride.
    uint64_t at = (uint64_t) llround (self->lobe_moment / (self->lobe_area * self->rate_hz));
    if (self->have_swing && self->swing_sign == self->lobe_sign) {
        double gap_s = (double) (at - self->swing_at) / self->rate_hz;
        if (gap_s < S_STRIDE_MIN_S)
            return;     // a second swing lobe within one stride: keep the first
        if (gap_s <= S_STRIDE_MAX_S)
            s_stride (self, self->swing_at, at, self->lobe_sign);
    }
    self->have_swing = true;
    self->swing_sign = self->lobe_sign;
    self->swing_at = at;
}

int
cw_strides_feed (cw_strides_t *self, const int32_t *gx, const int32_t *gy, const int32_t *gz,
                 size_t n)
{
    if (!self || (n > 0 && (!gx || !gy || !gz)))
        return CW_EINVAL;
    const float km = self->k_moment;
    for (size_t i = 0; i < n; i++) {
        double x = gx [i] * 1e-3, y = gy [i] * 1e-3, z = gz [i] * 1e-3;
        double p [6] = { x * x, y * y, z * z, x * y, x * z, y * z };
        for (int j = 0; j < 6; j++)
            self->m [j] += km * (p [j] - self->m [j]);
        if (self->samples % S_AXIS_EVERY == 0 || !self->axis_set)
            s_update_axis (self);
        float s = (float) (self->axis [0] * x + self->axis [1] * y + self->axis [2] * z);
        float f = self->b0 * s + self->z1;
        self->z1 = self->b1 * s - self->a1 * f + self->z2;
        self->z2 = self->b2 * s - self->a2 * f;
        self->ring [self->samples % self->ring_len] = f;

        //  A lobe opens beyond the dead band and closes when the rate falls back to half of
        //  it: mid-stance, where the foot is still, separates heel strike from toe-off.
        float along = (float) self->lobe_sign * f;
        if (self->lobe_sign != 0 && along < 0.5f * S_DEAD_BAND) {
            s_lobe (self);
            self->lobe_sign = 0;
        }
        if (self->lobe_sign == 0 && fabsf (f) > S_DEAD_BAND) {
            self->lobe_sign = f > 0.0f? 1: -1;
            self->lobe_area = 0.0;
            self->lobe_moment = 0.0;
        }
        along = (float) self->lobe_sign * f;
        if (self->lobe_sign != 0) {
            self->lobe_area += along / self->rate_hz;
            self->lobe_moment += (double) along * (double) self->samples;
        }
        self->samples++;
    }
    return CW_OK;
}

uint64_t
cw_strides_total (const cw_strides_t *self)
{
    return self? self->total: 0;
}

int
cw_strides_summary (const cw_strides_t *self, cw_strides_summary_t *out)
{
    if (!self || !out)
        return CW_EINVAL;
    double times [CW_STRIDES_WINDOW], contacts [CW_STRIDES_WINDOW];
    size_t n_contacts = 0;
    for (size_t i = 0; i < self->n_window; i++) {
        times [i] = self->window [i].stride_time_ms;
        if (self->window [i].contact_time_ms > 0.0)
            contacts [n_contacts++] = self->window [i].contact_time_ms;
    }
    memset (out, 0, sizeof *out);
    out->strides = self->total;
    double fill = (double) self->n_window / CW_STRIDES_WINDOW * 4.0;
    fill = fill > 1.0? 1.0: fill;   // full confidence from a quarter window (8 strides) on
    out->stride_time.confidence
        = cw_metric_confidence (CW_METRIC_STRIDE_TIME, self->placement,
                                &out->stride_time.note) * fill;
    out->stride_time.value = cw_features_median (times, self->n_window);
    out->stride_time.samples = (uint32_t) self->n_window;
    out->cadence.confidence
        = cw_metric_confidence (CW_METRIC_CADENCE, self->placement, &out->cadence.note) * fill;
    out->cadence.value = out->stride_time.value > 0? 2.0 * 60000.0 / out->stride_time.value: 0;
    out->cadence.samples = (uint32_t) self->n_window;
    double contact_fill = (double) n_contacts / CW_STRIDES_WINDOW * 4.0;
    contact_fill = contact_fill > 1.0? 1.0: contact_fill;
    out->contact_time.confidence
        = cw_metric_confidence (CW_METRIC_CONTACT_TIME, self->placement,
                                &out->contact_time.note) * contact_fill;
    out->contact_time.value = cw_features_median (contacts, n_contacts);
    out->contact_time.samples = (uint32_t) n_contacts;
    return CW_OK;
}

int
cw_strides_balance (const cw_strides_t *left, const cw_strides_t *right, cw_metric_t *out)
{
    if (!left || !right || !out)
        return CW_EINVAL;
    cw_strides_summary_t l, r;
    cw_strides_summary (left, &l);
    cw_strides_summary (right, &r);
    *out = (cw_metric_t) { 0.0, 0.0, 0, "no contact time from one of the feet yet" };
    if (l.contact_time.samples == 0 || r.contact_time.samples == 0)
        return CW_EEMPTY;
    out->value = 100.0 * l.contact_time.value / (l.contact_time.value + r.contact_time.value);
    out->samples = l.contact_time.samples + r.contact_time.samples;
    double conf = cw_metric_confidence (CW_METRIC_BALANCE, left->placement, &out->note);
    double conf_r = cw_metric_confidence (CW_METRIC_BALANCE, right->placement, NULL);
    conf = conf < conf_r? conf: conf_r;
    //  Sides are only known when the pods say which foot they are on.
    if (left->placement != CW_PLACEMENT_FOOT_LEFT || right->placement != CW_PLACEMENT_FOOT_RIGHT) {
        conf = conf < 0.2? conf: 0.2;
        out->note = "pods not declared as left and right foot: sides may be swapped";
    }
    //  Full trust from 8 strides with a contact time on each foot.
    uint32_t fewest = l.contact_time.samples < r.contact_time.samples
                    ? l.contact_time.samples: r.contact_time.samples;
    out->confidence = conf * (fewest >= 8? 1.0: fewest / 8.0);
    return CW_OK;
}
