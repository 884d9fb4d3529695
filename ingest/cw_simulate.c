/*  cw_simulate.c - simulated running and diet, for demos, load tests and the engine's tests.
 *
 *  Everything is generated from a seed with our own PRNG, so the same options give the same
 *  batches on every run. Nothing here reads the clock except to default a start time of 0.
 *
 *  Running model (phone in a trouser pocket, y axis along the thigh, taken as vertical):
 *  - steps alternate left/right at the cadence, which may drift linearly over the run;
 *  - vertical specific force = g + a sinusoid at the step frequency whose displacement has
 *    peak-to-peak = vertical oscillation, + a contact-shaped half-sine (duration = that foot's
 *    contact time, set by the balance) and a short heel-strike spike, both with their mean
 *    over the step removed so that the mean stays g;
 *  - forward: braking then propulsion during contact; lateral: sway at half the step rate;
 *  - Gaussian noise on every axis.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coachwire/cw_error.h"
#include "coachwire/cw_import.h"

#define S_G 9.80665
#define S_PI 3.14159265358979323846
#define S_MAX_RATE_HZ 1000u
#define S_MAX_DURATION_S (7u * 86400u)
#define S_IMPACT_S 0.03             /* heel-strike spike duration */

/*  xorshift64*: small, fast, and the same on every platform. */
typedef struct {
    uint64_t state;
} s_rng_t;

static void
s_rng_seed (s_rng_t *rng, uint32_t seed)
{
    /*  splitmix64 of the seed, so that seeds 0, 1, 2 start far apart (and never at 0). */
    uint64_t z = (uint64_t) seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    rng->state = z ? z : 0x2545F4914F6CDD1Dull;
}

static uint64_t
s_rng_next (s_rng_t *rng)
{
    uint64_t x = rng->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng->state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/*  Uniform in [0, 1). */
static double
s_uniform (s_rng_t *rng)
{
    return (double) (s_rng_next (rng) >> 11) * (1.0 / 9007199254740992.0);
}

/*  Standard normal; a sum of four uniforms is close enough for sensor noise and needs no libm
 *  call whose last bit might differ between platforms. */
static double
s_gauss (s_rng_t *rng)
{
    double s = 0;
    for (int i = 0; i < 4; i++)
        s += s_uniform (rng);
    return (s - 2.0) * 1.7320508075688772;     /* variance of the sum is 4/12 */
}

static uint64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static int
s_emit (cw_batch_sink_fn sink, void *sink_ctx, cw_import_summary_t *summary,
        const Coachwire__SensorBatch *batch, size_t samples)
{
    int rc = sink (sink_ctx, batch);
    if (rc != 0)
        return rc;
    summary->batches++;
    summary->samples += samples;
    return CW_OK;
}

static bool
s_in (double v, double lo, double hi)
{
    return v >= lo && v <= hi;      /* false for NaN */
}

static uint32_t
s_u32 (double v, double lo, double hi)
{
    if (!(v >= lo))
        v = lo;
    if (v > hi)
        v = hi;
    return (uint32_t) lround (v);
}

/*  Half-sine pulse of the given duration at time u into the step; 0 outside it. */
static double
s_half_sine (double u, double duration)
{
    return u >= 0 && u < duration ? sin (S_PI * u / duration) : 0;
}

int
cw_simulate_run (const cw_sim_run_options_t *options, cw_batch_sink_fn sink, void *sink_ctx,
                 cw_import_summary_t *summary)
{
    cw_import_summary_t scratch;
    if (!summary)
        summary = &scratch;
    memset (summary, 0, sizeof *summary);
    if (!sink)
        return CW_EINVAL;

    cw_sim_run_options_t o;
    memset (&o, 0, sizeof o);
    if (options)
        o = *options;
    if (!o.duration_s)
        o.duration_s = 600;
    if (!o.start_time_ms)      /* a run that has just ended: its last sample is now */
        o.start_time_ms = s_now_ms () - (uint64_t) o.duration_s * 1000u;
    if (o.cadence_spm == 0)
        o.cadence_spm = 170;
    if (o.cadence_end_spm == 0)
        o.cadence_end_spm = o.cadence_spm;
    if (o.vertical_oscillation_mm == 0)
        o.vertical_oscillation_mm = 80;
    if (o.contact_time_ms == 0)
        o.contact_time_ms = 250;
    if (o.balance_left_pct == 0)
        o.balance_left_pct = 50;
    if (o.speed_m_s == 0)
        o.speed_m_s = 3.0;
    if (o.heart_rate_bpm == 0)
        o.heart_rate_bpm = 150;
    if (!o.sample_rate_hz)
        o.sample_rate_hz = 100;
    if (o.duration_s > S_MAX_DURATION_S || o.sample_rate_hz < 10
    || o.sample_rate_hz > S_MAX_RATE_HZ || o.sample_rate_hz > CW_IMPORT_MAX_BATCH_SAMPLES
    || !s_in (o.cadence_spm, 60, 260) || !s_in (o.cadence_end_spm, 60, 260)
    || !s_in (o.vertical_oscillation_mm, 10, 300) || !s_in (o.contact_time_ms, 80, 800)
    || !s_in (o.balance_left_pct, 30, 70) || !s_in (o.speed_m_s, 0.5, 12)
    || !s_in (o.heart_rate_bpm, 40, 220))
        return CW_EINVAL;

    int rc = CW_OK;
    const uint32_t rate = o.sample_rate_hz;
    int32_t (*acc) [CW_IMPORT_MAX_BATCH_SAMPLES] = calloc (3, sizeof *acc);
    if (!acc)
        return CW_ENOMEM;
    s_rng_t rng;
    s_rng_seed (&rng, o.seed);

    double phase = 0;               /* steps taken, fractional */
    double distance_m = 0;
    const double T = (double) o.duration_s;
    for (uint32_t sec = 0; sec < o.duration_s; sec++) {
        uint64_t t0_ms = o.start_time_ms + (uint64_t) sec * 1000u;
        double cadence = 0;
        for (uint32_t i = 0; i < rate; i++) {
            double t = sec + (double) i / rate;
            cadence = o.cadence_spm + (o.cadence_end_spm - o.cadence_spm) * t / T;
            double f = cadence / 60.0;              /* steps per second */
            double Ts = 1.0 / f;
            phase += f / rate;
            double in_step = phase - floor (phase);
            bool left = ((uint64_t) phase) % 2 == 0;
            double share = (left ? o.balance_left_pct : 100 - o.balance_left_pct) / 50.0;
            double tc = fmin (o.contact_time_ms / 1000.0 * share, 0.8 * Ts);
            double u = in_step * Ts;                /* seconds since this foot struck */

            /*  Zero-mean contact and impact shapes: each minus its average over the step. */
            double contact = s_half_sine (u, tc) - 2.0 * tc / (S_PI * Ts);
            double impact = s_half_sine (u, S_IMPACT_S) - 2.0 * S_IMPACT_S / (S_PI * Ts);
            double A = o.vertical_oscillation_mm / 2000.0;   /* amplitude, m */
            double w = 2 * S_PI * f;
            /*  Lowest (largest upward force) at mid-stance. */
            double osc = A * w * w * cos (w * (u - tc / 2));
            double vertical = S_G + osc + 0.8 * S_G * contact
                            + 1.5 * S_G * (o.speed_m_s / 3.0) * impact;
            double forward = -0.3 * S_G * sin (2 * S_PI * u / tc) * (u < tc ? 1 : 0);
            double lateral = 0.15 * S_G * sin (S_PI * phase);

            acc [0][i] = (int32_t) lround ((forward + 0.15 * s_gauss (&rng)) * 1000);
            acc [1][i] = (int32_t) lround ((vertical + 0.15 * s_gauss (&rng)) * 1000);
            acc [2][i] = (int32_t) lround ((lateral + 0.15 * s_gauss (&rng)) * 1000);
        }
        Coachwire__ImuBatch imu = COACHWIRE__IMU_BATCH__INIT;
        imu.start_time_ms = t0_ms;
        imu.sample_rate_mhz = rate * 1000u;
        imu.placement = COACHWIRE__IMU_PLACEMENT__IMU_PLACEMENT_POCKET;
        imu.n_accel_x_mm_s2 = imu.n_accel_y_mm_s2 = imu.n_accel_z_mm_s2 = rate;
        imu.accel_x_mm_s2 = acc [0];
        imu.accel_y_mm_s2 = acc [1];
        imu.accel_z_mm_s2 = acc [2];
        Coachwire__SensorBatch batch = COACHWIRE__SENSOR_BATCH__INIT;
        batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_IMU;
        batch.imu = &imu;
        rc = s_emit (sink, sink_ctx, summary, &batch, rate);
        if (rc != CW_OK)
            goto done;

        /*  Once a second, at the start of the second: heart rate, location, dynamics. */
        double t = (double) sec;
        cadence = o.cadence_spm + (o.cadence_end_spm - o.cadence_spm) * t / T;
        uint32_t delta = 0;

        /*  Heart rate climbs from 60 % of the target over the first minutes, and follows
         *  the cadence drift a little. */
        double hr = o.heart_rate_bpm * (1 - 0.4 * exp (-t / 90.0))
                  + 0.3 * (cadence - o.cadence_spm) + 1.5 * s_gauss (&rng);
        uint32_t bpm = s_u32 (hr, 40, 230);
        Coachwire__HeartRateBatch hrb = COACHWIRE__HEART_RATE_BATCH__INIT;
        hrb.start_time_ms = t0_ms;
        hrb.n_time_delta_ms = hrb.n_bpm = 1;
        hrb.time_delta_ms = &delta;
        hrb.bpm = &bpm;
        batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE;
        batch.heart_rate = &hrb;
        rc = s_emit (sink, sink_ctx, summary, &batch, 1);
        if (rc != CW_OK)
            goto done;

        double speed = o.speed_m_s * (1 + 0.02 * s_gauss (&rng));
        uint32_t speed_mm_s = s_u32 (speed * 1000, 0, 20000);
        uint32_t distance_cm = s_u32 (distance_m * 100, 0, 4e9);
        distance_m += speed_mm_s / 1000.0;
        Coachwire__LocationBatch loc = COACHWIRE__LOCATION_BATCH__INIT;
        loc.start_time_ms = t0_ms;
        loc.n_time_delta_ms = loc.n_speed_mm_s = loc.n_distance_cm = 1;
        loc.time_delta_ms = &delta;
        loc.speed_mm_s = &speed_mm_s;
        loc.distance_cm = &distance_cm;
        batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_LOCATION;
        batch.location = &loc;
        rc = s_emit (sink, sink_ctx, summary, &batch, 1);
        if (rc != CW_OK)
            goto done;

        double step_mm = o.speed_m_s * 60.0 / cadence * 1000.0;
        uint32_t cadence_x10 = s_u32 (cadence * 10, 0, 4000);
        uint32_t vo_x10 = s_u32 ((o.vertical_oscillation_mm + 1.0 * s_gauss (&rng)) * 10,
                                 0, 5000);
        uint32_t stance_x10 = s_u32 ((o.contact_time_ms + 3.0 * s_gauss (&rng)) * 10, 0, 20000);
        uint32_t balance_x100 = s_u32 ((o.balance_left_pct + 0.3 * s_gauss (&rng)) * 100,
                                       0, 10000);
        uint32_t step_length_mm = s_u32 (step_mm, 0, 5000);
        uint32_t ratio_x100 = s_u32 (vo_x10 / 10.0 / step_mm * 100 * 100, 0, 10000);
        Coachwire__RunningDynamicsBatch run = COACHWIRE__RUNNING_DYNAMICS_BATCH__INIT;
        run.start_time_ms = t0_ms;
        run.n_time_delta_ms = run.n_cadence_spm_x10 = run.n_vertical_oscillation_mm_x10 = 1;
        run.n_stance_time_ms_x10 = run.n_stance_balance_left_pct_x100 = 1;
        run.n_step_length_mm = run.n_vertical_ratio_pct_x100 = 1;
        run.time_delta_ms = &delta;
        run.cadence_spm_x10 = &cadence_x10;
        run.vertical_oscillation_mm_x10 = &vo_x10;
        run.stance_time_ms_x10 = &stance_x10;
        run.stance_balance_left_pct_x100 = &balance_x100;
        run.step_length_mm = &step_length_mm;
        run.vertical_ratio_pct_x100 = &ratio_x100;
        batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_RUNNING;
        batch.running = &run;
        rc = s_emit (sink, sink_ctx, summary, &batch, 1);
        if (rc != CW_OK)
            goto done;
    }
done:
    free (acc);
    return rc;
}

/*  Diet: one entry per meal, four meals a day. */
typedef struct {
    uint32_t kind;
    int hour, minute;               /* UTC, jittered by up to +-20 min */
    double energy_share, protein_share, sugar_share;
    const char *items [4];
} s_sim_meal_t;

static const s_sim_meal_t s_sim_meals [4] = {
    { COACHWIRE__MEAL_KIND__MEAL_KIND_BREAKFAST, 8, 0, 0.25, 0.20, 0.30,
      { "Oatmeal with berries", "Scrambled eggs on toast", "Greek yogurt and granola",
        "Banana pancakes" } },
    { COACHWIRE__MEAL_KIND__MEAL_KIND_LUNCH, 12, 30, 0.30, 0.35, 0.15,
      { "Chicken salad wrap", "Lentil soup with bread", "Tuna pasta salad", "Veggie burrito" } },
    { COACHWIRE__MEAL_KIND__MEAL_KIND_SNACK, 15, 30, 0.10, 0.05, 0.35,
      { "Apple and peanut butter", "Energy bar", "Trail mix", "Fruit smoothie" } },
    { COACHWIRE__MEAL_KIND__MEAL_KIND_DINNER, 19, 0, 0.35, 0.40, 0.20,
      { "Salmon with rice and greens", "Beef stir-fry with noodles", "Bean chili",
        "Roast chicken with potatoes" } },
};

typedef enum { S_ENERGY, S_PROTEIN, S_SUGAR } s_nutrient_t;

static double
s_share (const s_sim_meal_t *meal, s_nutrient_t which)
{
    return which == S_ENERGY ? meal->energy_share
         : which == S_PROTEIN ? meal->protein_share : meal->sugar_share;
}

/*  Splits a daily total over the four meals by their shares, each share jittered by up to
 *  +-jitter and the split normalised so that the meals add up to the total. */
static void
s_split_day (s_rng_t *rng, double total, s_nutrient_t which, double jitter, double out [4])
{
    double w [4], sum = 0;
    for (int k = 0; k < 4; k++) {
        w [k] = s_share (&s_sim_meals [k], which) * (1 + jitter * (2 * s_uniform (rng) - 1));
        sum += w [k];
    }
    for (int k = 0; k < 4; k++)
        out [k] = total * w [k] / sum;
}

int
cw_simulate_diet (const cw_sim_diet_options_t *options, cw_batch_sink_fn sink, void *sink_ctx,
                  cw_import_summary_t *summary)
{
    cw_import_summary_t scratch;
    if (!summary)
        summary = &scratch;
    memset (summary, 0, sizeof *summary);
    if (!sink)
        return CW_EINVAL;
    cw_sim_diet_options_t o;
    memset (&o, 0, sizeof o);
    if (options)
        o = *options;
    if (!o.days)
        o.days = 7;
    if (o.energy_kcal == 0)
        o.energy_kcal = 2200;
    if (o.protein_g == 0)
        o.protein_g = 90;
    if (o.sugar_g == 0)
        o.sugar_g = 50;
    if (o.days > 366 || !s_in (o.energy_kcal, 500, 10000) || !s_in (o.protein_g, 1, 500)
    || !s_in (o.sugar_g, 1, 500))
        return CW_EINVAL;
    if (!o.start_time_ms) {
        uint64_t today = s_now_ms () / 86400000u * 86400000u;
        o.start_time_ms = today - (uint64_t) o.days * 86400000u;
    }

    s_rng_t rng;
    s_rng_seed (&rng, o.seed);
    for (uint32_t day = 0; day < o.days; day++) {
        uint64_t midnight = o.start_time_ms + (uint64_t) day * 86400000u;
        /*  Days vary by up to +-4 % around the targets; meals split each day's total. */
        double energy [4], protein [4], sugar [4];
        s_split_day (&rng, o.energy_kcal * (1 + 0.04 * (2 * s_uniform (&rng) - 1)),
                     S_ENERGY, 0.15, energy);
        s_split_day (&rng, o.protein_g * (1 + 0.04 * (2 * s_uniform (&rng) - 1)),
                     S_PROTEIN, 0.15, protein);
        s_split_day (&rng, o.sugar_g * (1 + 0.04 * (2 * s_uniform (&rng) - 1)),
                     S_SUGAR, 0.15, sugar);

        Coachwire__MealEntry entries [4];
        Coachwire__MealEntry *ptrs [4];
        char amounts [4][32];
        for (int k = 0; k < 4; k++) {
            const s_sim_meal_t *meal = &s_sim_meals [k];
            Coachwire__MealEntry *e = &entries [k];
            coachwire__meal_entry__init (e);
            ptrs [k] = e;
            int jitter_min = (int) (s_uniform (&rng) * 41) - 20;
            int64_t minute = meal->hour * 60 + meal->minute + jitter_min;
            e->time_ms = midnight + (uint64_t) minute * 60000u;
            e->meal = meal->kind;
            e->item = (char *) meal->items [s_rng_next (&rng) % 4];
            snprintf (amounts [k], sizeof amounts [k], "%.1f serving(s)",
                      0.5 + 0.5 * (double) (s_rng_next (&rng) % 4));
            e->amount = amounts [k];
            /*  Fat carries 30 % of the energy; carbohydrate the rest after protein. */
            double fat_g = energy [k] * 0.30 / 9.0;
            double carb_g = fmax ((energy [k] - 4 * protein [k] - 9 * fat_g) / 4.0, sugar [k]);
            e->energy_kcal = s_u32 (energy [k], 0, 20000);
            e->protein_mg = s_u32 (protein [k] * 1000, 0, 2e9);
            e->sugar_mg = s_u32 (sugar [k] * 1000, 0, 2e9);
            e->fat_mg = s_u32 (fat_g * 1000, 0, 2e9);
            e->carbohydrate_mg = s_u32 (carb_g * 1000, 0, 2e9);
            e->sodium_mg = s_u32 (energy [k] * 0.9, 0, 2e9);
            e->fibre_mg = s_u32 (energy [k] * 14.0, 0, 2e9);    /* 14 g per 1000 kcal */
        }
        Coachwire__MealBatch mb = COACHWIRE__MEAL_BATCH__INIT;
        mb.n_entries = 4;
        mb.entries = ptrs;
        Coachwire__SensorBatch batch = COACHWIRE__SENSOR_BATCH__INIT;
        batch.body_case = COACHWIRE__SENSOR_BATCH__BODY_MEAL;
        batch.meal = &mb;
        int rc = s_emit (sink, sink_ctx, summary, &batch, 4);
        if (rc != CW_OK)
            return rc;
    }
    return CW_OK;
}
