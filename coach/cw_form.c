/*  cw_form.c - running form per step from a body-worn accelerometer (see cw_form.h).
 *
 *  Samples are kept in a ring long enough to reach back to a step that cw_steps reports late
 *  (it holds the first steps of a bout until the bout is confirmed), and analysed in double
 *  precision: integration accumulates error, and this runs once per step, not per sample.
 */
#include "coachwire/cw_form.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_steps.h"

#include "cw_features_int.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define S_GRAVITY 9.80665
/*  Specific force along the vertical above which the foot is taken to be on the ground. */
#define S_CONTACT_SHARE 0.25
/*  The ring reaches back over a confirmed bout's held steps plus the longest step. */
#define S_RING_S ((CW_STEPS_BOUT_MIN + 1) * 60.0 / CW_CADENCE_MIN_SPM + 1.0)
/*  Samples fed to the step detector at once, so that a step it reports is still in the ring. */
#define S_CHUNK_S 1.0

typedef struct {
    double interval;            /* samples since the previous step */
    double contact;             /* samples in contact */
    double oscillation;         /* metres peak to peak */
    int parity;                 /* 0 or 1: alternate steps of the bout */
} s_step_t;

struct _cw_form_t {
    double rate_hz;
    cw_placement_t placement;
    cw_steps_t *steps;          /* the step detector feeding us step times */
    float *ring [3];            /* acceleration m/s^2 per axis, index = sample % ring_len */
    size_t ring_len;
    uint64_t samples;           /* samples written to the ring */
    double last_step;           /* time of the previous step in the bout, < 0 if none */
    int parity;                 /* parity of the next step */
    double *work;               /* per-step scratch: vertical force, velocity, position */
    s_step_t window [CW_FORM_WINDOW];   /* ring of the last analysed steps */
    size_t n_window, window_next;
};

static void s_on_step (void *arg, double t);

cw_form_t *
cw_form_new (uint32_t sample_rate_mhz, cw_placement_t placement)
{
    if (placement == CW_PLACEMENT_FOOT_LEFT || placement == CW_PLACEMENT_FOOT_RIGHT)
        return NULL;
    cw_steps_t *steps = cw_steps_new (sample_rate_mhz, placement);
    if (!steps)
        return NULL;
    cw_form_t *self = calloc (1, sizeof *self);
    if (!self) {
        cw_steps_destroy (&steps);
        return NULL;
    }
    self->steps = steps;
    self->rate_hz = sample_rate_mhz / 1000.0;
    self->placement = placement;
    self->ring_len = (size_t) ceil (S_RING_S * self->rate_hz);
    self->last_step = -1.0;
    bool ok = true;
    for (int a = 0; a < 3; a++)
        ok = ok && (self->ring [a] = calloc (self->ring_len, sizeof (float)));
    //  A step lasts at most 60/40 s: scratch for three series of that length.
    size_t step_max = (size_t) ceil (self->rate_hz * 60.0 / CW_CADENCE_MIN_SPM) + 2;
    ok = ok && (self->work = calloc (3 * step_max, sizeof (double)));
    if (!ok) {
        cw_form_destroy (&self);
        return NULL;
    }
    cw_steps_set_handler (self->steps, s_on_step, self);
    return self;
}

void
cw_form_destroy (cw_form_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_form_t *self = *self_p;
    cw_steps_destroy (&self->steps);
    for (int a = 0; a < 3; a++)
        free (self->ring [a]);
    free (self->work);
    free (self);
    *self_p = NULL;
}

//  Analyses the samples [from, to) as one step. False when the data cannot be a step (no
//  gravity: the phone was falling or thrown).
static bool
s_analyse (cw_form_t *self, uint64_t from, uint64_t to, s_step_t *step)
{
    size_t n = (size_t) (to - from);
    double g [3] = { 0, 0, 0 };
    for (uint64_t k = from; k < to; k++)
        for (int a = 0; a < 3; a++)
            g [a] += self->ring [a][k % self->ring_len];
    for (int a = 0; a < 3; a++)
        g [a] /= (double) n;
    double g_norm = sqrt (g [0] * g [0] + g [1] * g [1] + g [2] * g [2]);
    if (!(g_norm > 0.3 * S_GRAVITY) || !isfinite (g_norm))
        return false;
    double *force = self->work, *vel = self->work + n, *pos = self->work + 2 * n;
    double dt = 1.0 / self->rate_hz;
    size_t contact = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t) ((from + i) % self->ring_len);
        force [i] = (self->ring [0][k] * g [0] + self->ring [1][k] * g [1]
                     + self->ring [2][k] * g [2]) / g_norm;
        contact += force [i] > S_CONTACT_SHARE * g_norm? 1u: 0u;
    }
    //  Vertical acceleration has zero mean over the step by construction (g is the mean), so
    //  the velocity returns to its start; its mean is the unknown constant of integration.
    double v = 0.0, v_sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        v += (force [i] - g_norm) * dt;
        vel [i] = v;
        v_sum += v;
    }
    double v_mean = v_sum / (double) n, p = 0.0;
    for (size_t i = 0; i < n; i++) {
        p += (vel [i] - v_mean) * dt;
        pos [i] = p;
    }
    //  What drift remains (from the sampling of a step that does not end on a sample) is
    //  removed as a straight line from the first to the last position.
    double slope = n > 1? (pos [n - 1] - pos [0]) / (double) (n - 1): 0.0;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double z = pos [i] - slope * (double) i;
        lo = z < lo? z: lo;
        hi = z > hi? z: hi;
    }
    step->oscillation = hi - lo;
    step->contact = (double) contact;
    return isfinite (step->oscillation);
}

static void
s_on_step (void *arg, double t)
{
    cw_form_t *self = arg;
    double prev = self->last_step;
    self->last_step = t;
    double interval = t - prev;
    //  A gap longer than the slowest step starts a new bout: nothing to analyse yet.
    if (prev < 0 || interval > self->rate_hz * 60.0 / CW_CADENCE_MIN_SPM) {
        self->parity = 0;
        return;
    }
    uint64_t from = (uint64_t) ceil (prev), to = (uint64_t) floor (t) + 1;
    if (to <= from + 2 || to > self->samples || self->samples - from > self->ring_len)
        return;     // too short, or no longer in the ring (cannot happen with S_RING_S)
    s_step_t step = { .interval = interval, .parity = self->parity };
    self->parity ^= 1;
    if (!s_analyse (self, from, to, &step))
        return;
    self->window [self->window_next] = step;
    self->window_next = (self->window_next + 1) % CW_FORM_WINDOW;
    if (self->n_window < CW_FORM_WINDOW)
        self->n_window++;
}

int
cw_form_feed (cw_form_t *self, const int32_t *ax, const int32_t *ay, const int32_t *az,
              size_t n)
{
    if (!self || (n > 0 && (!ax || !ay || !az)))
        return CW_EINVAL;
    size_t chunk = (size_t) ceil (S_CHUNK_S * self->rate_hz);
    for (size_t done = 0; done < n; done += chunk) {
        size_t len = n - done < chunk? n - done: chunk;
        for (size_t i = 0; i < len; i++) {
            size_t k = (size_t) ((self->samples + i) % self->ring_len);
            self->ring [0][k] = (float) ax [done + i] * 1e-3f;
            self->ring [1][k] = (float) ay [done + i] * 1e-3f;
            self->ring [2][k] = (float) az [done + i] * 1e-3f;
        }
        self->samples += len;
        int rc = cw_steps_feed (self->steps, ax + done, ay + done, az + done, len);
        if (rc != CW_OK)
            return rc;
    }
    return CW_OK;
}

//  Fills a metric from the placement's rating and the number of steps behind it: full trust
//  from 8 steps on.
static void
s_metric (cw_metric_t *m, cw_metric_kind_t kind, cw_placement_t placement, double value,
          size_t count)
{
    m->confidence = cw_metric_confidence (kind, placement, &m->note);
    m->confidence *= count >= 8? 1.0: (double) count / 8.0;
    m->value = count? value: 0.0;
    m->samples = (uint32_t) count;
    if (!count)
        m->note = "no analysed step yet";
}

int
cw_form_report (const cw_form_t *self, cw_form_report_t *out)
{
    if (!self || !out)
        return CW_EINVAL;
    memset (out, 0, sizeof *out);
    int rc = cw_steps_cadence (self->steps, &out->cadence);
    if (rc != CW_OK)
        return rc;
    out->steps = cw_steps_total (self->steps);
    double contact [CW_FORM_WINDOW], osc [CW_FORM_WINDOW];
    double time_of [2] = { 0, 0 };
    size_t count_of [2] = { 0, 0 };
    size_t n = self->n_window;
    for (size_t i = 0; i < n; i++) {
        const s_step_t *s = &self->window [i];
        contact [i] = 1000.0 * s->contact / self->rate_hz;
        osc [i] = 1000.0 * s->oscillation;
        time_of [s->parity] += s->interval;
        count_of [s->parity]++;
    }
    s_metric (&out->contact_time, CW_METRIC_CONTACT_TIME, self->placement,
              cw_features_median (contact, n), n);
    s_metric (&out->vertical_oscillation, CW_METRIC_VERTICAL_OSCILLATION, self->placement,
              cw_features_median (osc, n), n);
    //  Balance compares mean times of the two alternating sets, so an odd count is fair.
    size_t pairs = count_of [0] < count_of [1]? count_of [0]: count_of [1];
    double balance = 0.0;
    if (pairs > 0) {
        double even = time_of [0] / (double) count_of [0];
        double odd = time_of [1] / (double) count_of [1];
        balance = 100.0 * even / (even + odd);
    }
    s_metric (&out->balance, CW_METRIC_BALANCE, self->placement, balance, 2 * pairs);
    return CW_OK;
}

int
cw_form_analyse (const int32_t *ax, const int32_t *ay, const int32_t *az, size_t n,
                 uint32_t sample_rate_mhz, cw_placement_t placement, cw_form_report_t *out)
{
    if (!ax || !ay || !az || n == 0 || !out)
        return CW_EINVAL;
    cw_form_t *self = cw_form_new (sample_rate_mhz, placement);
    if (!self)
        return CW_EINVAL;   // the arguments are the likely cause; an allocation of a few KB
                            // failing is not worth telling apart here
    int rc = cw_form_feed (self, ax, ay, az, n);
    if (rc == CW_OK)
        rc = cw_form_report (self, out);
    cw_form_destroy (&self);
    return rc;
}
