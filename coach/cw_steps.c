/*  cw_steps.c - streaming step detector (see cw_steps.h for the method).
 *
 *  Speed matters: the engine runs this over every phone's accelerometer. Samples go through in
 *  blocks: first a branch-free pass that the compiler vectorises (int32 -> float magnitude),
 *  then one scalar pass with three independent one- or two-pole recursions and a single,
 *  rarely taken branch per threshold crossing. All state is float: the signal needs 24 bits
 *  of mantissa at most and float halves the memory traffic.
 */
#include "coachwire/cw_steps.h"
#include "coachwire/cw_error.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

/*  Samples per block of the vectorised magnitude pass: fits the stack and L1. */
#define S_BLOCK 512
/*  Below this mean absolute level (m/s^2, after filtering) a signal is sensor noise or a phone
 *  lying still: the threshold never drops under it. Walking moves a pocket by several m/s^2. */
#define S_NOISE_FLOOR 0.35f
/*  Low-pass corner: passes the step fundamental up to 180 steps/min within 3 dB and still half
 *  of it at 240/min (the threshold is relative, so that is enough), while it removes the
 *  heel-strike harmonics at twice the step rate that make one walking step look like two. */
#define S_LOWPASS_HZ 3.0
/*  Gravity tracker time constant: slower than the slowest step (40/min = 1.5 s period / 2). */
#define S_GRAVITY_TAU_S 1.0
/*  Level (mean |signal|) time constant: a few steps, so the threshold follows a change of
 *  pace within seconds. */
#define S_LEVEL_TAU_S 2.0
/*  Threshold as a share of the mean absolute level: a sinusoid's peak is 1.57 times its mean
 *  absolute value, so 0.5 sits at a third of the peak, well clear of noise and of the dip
 *  between the two humps a walking step often shows. */
#define S_THRESHOLD_SHARE 0.5f

struct _cw_steps_t {
    double rate_hz;             /* sample rate */
    cw_placement_t placement;   /* where the sensor sits: sets the confidence */
    float k_gravity;            /* one-pole gain of the gravity (magnitude mean) tracker */
    float k_level;              /* one-pole gain of the mean absolute level */
    float b0, b1, b2, a1, a2;   /* Butterworth low-pass, direct form II transposed */
    float gravity;              /* current estimate of the magnitude's mean, m/s^2 */
    float z1, z2;               /* low-pass state */
    float level;                /* mean |filtered signal| */
    float prev;                 /* previous filtered sample, for crossing interpolation */
    float armed;                /* 1 once the signal went below -threshold since the last step */
    bool started;               /* false until the first sample sets gravity */
    uint64_t samples;           /* samples fed */
    double refractory;          /* samples: shortest interval between two steps */
    double bout_gap;            /* samples: longest interval between two steps of one bout */
    double last_candidate;      /* time of the previous accepted candidate, < 0 if none */
    double pending [CW_STEPS_BOUT_MIN];  /* candidates waiting for a bout to open */
    size_t n_pending;
    bool in_bout;               /* a bout is open: each candidate counts at once */
    double recent [CW_STEPS_CADENCE_WINDOW];  /* ring of the bout's last counted step times */
    size_t n_recent;            /* valid entries (up to the window) */
    size_t recent_next;         /* next slot to write */
    uint64_t total;             /* steps counted */
    cw_step_fn *fn;             /* step handler, or NULL */
    void *fn_arg;
};

cw_steps_t *
cw_steps_new (uint32_t sample_rate_mhz, cw_placement_t placement)
{
    if (sample_rate_mhz < CW_IMU_RATE_MIN_MHZ || sample_rate_mhz > CW_IMU_RATE_MAX_MHZ)
        return NULL;
    if ((int) placement < 0 || placement > CW_PLACEMENT_MAX)
        return NULL;
    cw_steps_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    double fs = sample_rate_mhz / 1000.0;
    self->rate_hz = fs;
    self->placement = placement;
    self->k_gravity = (float) (1.0 - exp (-1.0 / (fs * S_GRAVITY_TAU_S)));
    self->k_level = (float) (1.0 - exp (-1.0 / (fs * S_LEVEL_TAU_S)));
    //  Bilinear Butterworth; the corner stays below Nyquist at the lowest accepted rate.
    double fc = S_LOWPASS_HZ < 0.45 * fs? S_LOWPASS_HZ: 0.45 * fs;
    double k = tan (M_PI * fc / fs);
    double norm = 1.0 / (1.0 + M_SQRT2 * k + k * k);
    self->b0 = (float) (k * k * norm);
    self->b1 = (float) (2.0 * k * k * norm);
    self->b2 = self->b0;
    self->a1 = (float) (2.0 * (k * k - 1.0) * norm);
    self->a2 = (float) ((1.0 - M_SQRT2 * k + k * k) * norm);
    self->refractory = fs * 60.0 / CW_CADENCE_MAX_SPM;
    self->bout_gap = fs * 60.0 / CW_CADENCE_MIN_SPM;
    self->last_candidate = -1.0;
    return self;
}

void
cw_steps_destroy (cw_steps_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

void
cw_steps_set_handler (cw_steps_t *self, cw_step_fn *fn, void *arg)
{
    if (!self)
        return;
    self->fn = fn;
    self->fn_arg = arg;
}

static void
s_count (cw_steps_t *self, double t)
{
    self->total++;
    self->recent [self->recent_next] = t;
    self->recent_next = (self->recent_next + 1) % CW_STEPS_CADENCE_WINDOW;
    if (self->n_recent < CW_STEPS_CADENCE_WINDOW)
        self->n_recent++;
    if (self->fn)
        self->fn (self->fn_arg, t);
}

//  A threshold crossing at time t (samples). Decides whether it is a step, opens and closes
//  bouts. Runs about once per step, so clarity beats speed here.
static void
s_candidate (cw_steps_t *self, double t)
{
    double gap = self->last_candidate < 0? INFINITY: t - self->last_candidate;
    if (gap < self->refractory)
        return;
    self->last_candidate = t;
    if (self->in_bout) {
        if (gap <= self->bout_gap) {
            s_count (self, t);
            return;
        }
        self->in_bout = false;
        self->n_recent = 0;
        self->n_pending = 0;
    }
    else
    if (self->n_pending > 0 && gap > self->bout_gap)
        self->n_pending = 0;
    self->pending [self->n_pending++] = t;
    if (self->n_pending == CW_STEPS_BOUT_MIN) {
        self->in_bout = true;
        self->n_recent = 0;
        for (size_t i = 0; i < self->n_pending; i++)
            s_count (self, self->pending [i]);
        self->n_pending = 0;
    }
}

//  The scalar pass over one block of magnitudes (m/s^2). Local copies of the state let the
//  compiler keep it all in registers.
static void
s_filter_block (cw_steps_t *self, const float *mag, size_t n)
{
    float gravity = self->gravity, z1 = self->z1, z2 = self->z2;
    float level = self->level, prev = self->prev, armed = self->armed;
    const float kg = self->k_gravity, kl = self->k_level;
    const float b0 = self->b0, b1 = self->b1, b2 = self->b2, a1 = self->a1, a2 = self->a2;
    if (!self->started && n > 0) {
        gravity = mag [0];
        self->started = true;
    }
    for (size_t i = 0; i < n; i++) {
        float x = mag [i] - gravity;
        gravity += kg * x;
        float y = b0 * x + z1;
        z1 = b1 * x - a1 * y + z2;
        z2 = b2 * x - a2 * y;
        level += kl * (fabsf (y) - level);
        float threshold = fmaxf (S_THRESHOLD_SHARE * level, S_NOISE_FLOOR);
        armed = y < -threshold? 1.0f: armed;
        if (armed > 0.0f && y > threshold) {
            //  Interpolate where the signal crossed the threshold between samples.
            float frac = (threshold - prev) / (y - prev);
            if (!(frac >= 0.0f && frac <= 1.0f))
                frac = 1.0f;
            armed = 0.0f;
            s_candidate (self, (double) (self->samples + i) - 1.0 + (double) frac);
        }
        prev = y;
    }
    self->gravity = gravity;
    self->z1 = z1;
    self->z2 = z2;
    self->level = level;
    self->prev = prev;
    self->armed = armed;
    self->samples += n;
}

int
cw_steps_feed (cw_steps_t *self, const int32_t *ax, const int32_t *ay, const int32_t *az,
               size_t n)
{
    if (!self || (n > 0 && (!ax || !ay || !az)))
        return CW_EINVAL;
    float mag [S_BLOCK];
    for (size_t done = 0; done < n; done += S_BLOCK) {
        size_t len = n - done < S_BLOCK? n - done: S_BLOCK;
        const int32_t *x = ax + done, *y = ay + done, *z = az + done;
        //  Branch-free and vectorised: mm/s^2 to m/s^2 and the magnitude. Float cannot
        //  overflow here: 3 x (2^31 / 1000)^2 is about 1.4e13.
        for (size_t i = 0; i < len; i++) {
            float fx = (float) x [i] * 1e-3f, fy = (float) y [i] * 1e-3f;
            float fz = (float) z [i] * 1e-3f;
            mag [i] = sqrtf (fx * fx + fy * fy + fz * fz);
        }
        s_filter_block (self, mag, len);
    }
    return CW_OK;
}

uint64_t
cw_steps_total (const cw_steps_t *self)
{
    return self? self->total: 0;
}

uint64_t
cw_steps_samples (const cw_steps_t *self)
{
    return self? self->samples: 0;
}

int
cw_steps_cadence (const cw_steps_t *self, cw_metric_t *out)
{
    if (!self || !out)
        return CW_EINVAL;
    const char *note = NULL;
    double base = cw_metric_confidence (CW_METRIC_CADENCE, self->placement, &note);
    *out = (cw_metric_t) { 0.0, 0.0, 0, note };
    if (!self->in_bout || self->n_recent < 2) {
        out->note = "not walking or running: no steps in the last 1.5 s bout";
        return CW_OK;
    }
    size_t newest = (self->recent_next + CW_STEPS_CADENCE_WINDOW - 1) % CW_STEPS_CADENCE_WINDOW;
    size_t oldest = (self->recent_next + CW_STEPS_CADENCE_WINDOW - self->n_recent)
                  % CW_STEPS_CADENCE_WINDOW;
    double newest_t = self->recent [newest];
    if ((double) self->samples - newest_t > self->bout_gap) {
        out->note = "stopped: no step for longer than the slowest plausible cadence";
        return CW_OK;
    }
    //  Mean interval from first to last: the interpolated crossing times make this finer than
    //  one sample, which a median of whole-sample intervals is not.
    double interval = (newest_t - self->recent [oldest]) / (double) (self->n_recent - 1);
    out->value = 60.0 * self->rate_hz / interval;
    out->samples = (uint32_t) self->n_recent;
    out->confidence = base * (double) (self->n_recent - 1) / (CW_STEPS_CADENCE_WINDOW - 1);
    return CW_OK;
}

int
cw_steps_count (const int32_t *ax, const int32_t *ay, const int32_t *az, size_t n,
                uint32_t sample_rate_mhz, cw_placement_t placement, uint64_t *steps,
                cw_metric_t *cadence)
{
    if (!ax || !ay || !az || n == 0 || !steps)
        return CW_EINVAL;
    cw_steps_t *self = cw_steps_new (sample_rate_mhz, placement);
    if (!self)
        return sample_rate_mhz < CW_IMU_RATE_MIN_MHZ || sample_rate_mhz > CW_IMU_RATE_MAX_MHZ
            || (int) placement < 0 || placement > CW_PLACEMENT_MAX? CW_EINVAL: CW_ENOMEM;
    int rc = cw_steps_feed (self, ax, ay, az, n);
    if (rc == CW_OK) {
        *steps = cw_steps_total (self);
        if (cadence)
            rc = cw_steps_cadence (self, cadence);
    }
    cw_steps_destroy (&self);
    return rc;
}
