/*  cw_coach.c - the coach actor (see include/coachwire/cw_coach.h). */
#include "coachwire/cw_coach.h"
#include "coachwire/cw_access_log.h"
#include "coachwire/cw_actor.h"
#include "coachwire/cw_arbiter.h"
#include "coachwire/cw_catalog.h"
#include "coachwire/cw_consent.h"
#include "coachwire/cw_device_cache.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_gateway.h"
#include "coachwire/cw_keyring.h"
#include "coachwire/cw_localtime.h"
#include "coachwire/cw_nudge.h"
#include "coachwire/cw_plan.h"
#include "coachwire/cw_rules.h"
#include "coachwire/cw_store.h"
#include "coachwire/cw_strip.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_FRAMES_PER_TICK 256
#define S_TICK_MIN_US 10000u        /* ticks at most 100 times a second */
#define S_BYTES_PER_TICK (8u * 1024u * 1024u)  /* copied out of the store per tick, at most */
#define S_DAILY_EVERY_MS 1000
#define S_MAX_RULES 64
#define S_PROGRESSION_WINDOWS 20    /* minutes of running a progression rests on */

extern const unsigned char cw_rules_default_text [];
extern const unsigned long cw_rules_default_size;
extern const unsigned char cw_plan_default_text [];
extern const unsigned long cw_plan_default_size;

struct _cw_coach_t {
    cw_actor_t *actor;
};

/*  A goal's live feature aggregated per minute, for progress. */
typedef struct {
    uint64_t window_start;
    double sum;
    uint32_t n;
} s_minute_t;

/*  A sent nudge waiting for its proximal outcome: the rule's metric over the window after it,
 *  against the window that triggered it. */
typedef struct {
    bool used;
    uint8_t id [CW_ID_BYTES];
    cw_goal_type_t goal;
    uint64_t from_ms, until_ms;         /* the window after the nudge */
    double before;                      /* the metric over the window that triggered it */
    double sum;
    uint32_t n;
} s_outcome_t;

#define S_OUTCOMES 4                    /* awaiting per person; the oldest gives way */

/*  What the engine keeps per person. The data key lives in `keys` (sodium arena). */
typedef struct {
    bool loaded;
    char locale [CW_LOCALE_MAX + 1];
    char time_zone [CW_TZ_MAX + 1];
    cw_plan_t *plan;                    /* active plan, or the default */
    uint64_t plan_start;
    uint64_t coaching_mask;             /* fields granted for coaching */
    uint64_t retention_mask;            /* fields the person lets us keep after processing */
    cw_rule_track_t tracks [S_MAX_RULES];
    s_minute_t minutes [CW_GOAL_WEEKLY_DISTANCE + 8];
    int32_t today;                      /* local yyyymmdd of the totals below */
    double energy_kcal, protein_g, sugar_g;
    uint32_t meal_samples;
    s_outcome_t outcomes [S_OUTCOMES];
} s_person_t;

/*  A frame copied out of the store: the coach writes (decisions, nudges, progress) only after
 *  its read of the frames has finished, or SQLite would refuse the write (a WAL read snapshot
 *  cannot become a write transaction once the gateway has committed after it). */
typedef struct {
    int64_t row;
    uint8_t device_id [CW_ID_BYTES];
    uint8_t user_id [CW_ID_BYTES];
    uint16_t stream;
    uint64_t sequence;
    uint8_t *sealed;
    size_t sealed_len;
} s_copied_t;

/*  A retention change decided while reading: the stored copy replaced (sealed) or deleted
 *  (sealed NULL). Written in one transaction at the end of the tick, and only when there are
 *  any: the coach must not hold the write lock (or fsync) when it has nothing to write. */
typedef struct {
    int64_t row;
    uint8_t *sealed;
    size_t sealed_len;
} s_rewrite_t;

typedef struct {
    const cw_server_config_t *config;
    s_copied_t batch [S_FRAMES_PER_TICK];
    size_t batch_count;
    size_t batch_bytes;
    void *control;
    void *gateway;                      /* PUSH to the gateway's control socket */
    cw_store_t *store;
    cw_consent_t *consent;
    cw_arbiter_t *arbiter;
    cw_nudges_t *nudges;
    cw_plans_t *plans;
    cw_access_log_t *access;
    cw_rules_t *rules;
    cw_plan_t *default_plan;
    cw_device_cache_t *keys;            /* person id -> data key (reuses the device table) */
    s_person_t *people;                 /* indexed by the cache entry's key_slot */
    size_t people_cap;
    int64_t cursor;                     /* last frame row processed */
    int64_t read_error_at;              /* the cursor when reading last failed (logged once) */
    uint64_t stream_fields [CW_STREAM_MAX + 1];  /* non-structural catalog bits per stream */
    uint8_t *packed;                    /* sodium: a batch re-packed for retention */
    uint8_t *plain;                     /* sodium: the frame being read (one, reused) */
    uint64_t kept, trimmed, deleted;    /* retention, since start (logged) */
    s_rewrite_t *rewrites;              /* retention changes of this tick, written together */
    size_t rewrite_count, rewrite_cap;
    uint64_t cursor_saved_ms;           /* the cursor reaches the store at most once a second */
    int64_t cursor_saved;
    bool in_tx;                         /* inside one of our write transactions (s_begin) */
    cw_nudge_t *deferred;               /* nudges made in it: delivered after its commit */
    size_t deferred_count, deferred_cap;
    uint64_t last_daily_ms;
} s_coach_t;

const char *
cw_coach_default_rules (size_t *len)
{
    if (len)
        *len = (size_t) cw_rules_default_size;
    return (const char *) cw_rules_default_text;
}

const char *
cw_coach_default_plan (size_t *len)
{
    if (len)
        *len = (size_t) cw_plan_default_size;
    return (const char *) cw_plan_default_text;
}

/*  The arbiter's consent callback: the consent module, purpose by name. */
static int
s_consent_check (void *ctx, const uint8_t *user_id, const char *field, const char *purpose,
                 uint64_t now_ms, uint8_t grant_id [CW_ID_BYTES], uint32_t *policy_version)
{
    s_coach_t *self = ctx;
    cw_purpose_t p;
    if (cw_purpose_parse (purpose, &p) != CW_OK)
        return CW_EINVAL;
    return cw_consent_check (self->consent, user_id, field, p, now_ms, grant_id,
                             policy_version);
}

/*  Opens a write transaction for a step that may write (a decision, a nudge, progress, a
 *  plan). IMMEDIATE: taking the write lock first means the engine's own savepoints nest in it
 *  and never find their read snapshot overtaken by a gateway commit (SQLite would refuse that
 *  write without waiting). Returns whether we opened it. */
static bool
s_begin (s_coach_t *self)
{
    if (cw_store_in_transaction (self->store) || cw_store_begin (self->store) != CW_OK)
        return false;
    self->in_tx = true;
    self->deferred_count = 0;
    return true;
}

static void s_deliver (s_coach_t *self, const cw_nudge_t *nudge);

/*  Commits what s_begin opened, then hands the nudges made in it to the gateway: only once
 *  they are stored can it mark them delivered. */
static void
s_end (s_coach_t *self, bool began)
{
    if (!began)
        return;
    self->in_tx = false;
    if (cw_store_commit (self->store) != CW_OK) {
        fprintf (stderr, "coachwired: coach: commit: %s\n", cw_store_errmsg (self->store));
        cw_store_rollback (self->store);
        self->deferred_count = 0;
        return;
    }
    for (size_t i = 0; i < self->deferred_count; i++)
        s_deliver (self, &self->deferred [i]);
    self->deferred_count = 0;
}

/*  Loads the person's active plan. Someone without one starts on the default plan, stored
 *  as their version 1 so that progress has a plan to count against and a coach something
 *  to review and replace. */
static void
s_load_plan (s_coach_t *self, const uint8_t *user_id, s_person_t *person)
{
    cw_plan_destroy (&person->plan);
    if (cw_plans_active (self->plans, user_id, &person->plan) != CW_OK || !person->plan) {
        size_t len = 0;
        const char *text = cw_coach_default_plan (&len);
        cw_plan_t *plan = NULL;
        cw_parse_error_t err;
        uint32_t version = 0;
        bool began = s_begin (self);
        int rc = cw_plan_parse (text, len, &plan, &err);
        if (rc == CW_OK)
            rc = cw_plans_put (self->plans, user_id, plan, CW_PLAN_ACTIVE, cw_now_ms (), &version);
        s_end (self, began);
        if (rc != CW_OK)
            fprintf (stderr, "coachwired: coach: default plan: %s\n",
                     cw_store_errmsg (self->store));
        cw_plan_destroy (&plan);
        person->plan = NULL;
        if (cw_plans_active (self->plans, user_id, &person->plan) != CW_OK)
            person->plan = NULL;
    }
    person->plan_start = person->plan ? cw_plan_start (person->plan) : 0;
}

static const cw_plan_t *
s_plan (s_coach_t *self, const s_person_t *person)
{
    return person->plan ? person->plan : self->default_plan;
}

/*  The person's grants for coaching (what the engine may read) and retention (what may be
 *  kept once it has). On failure, nothing: the safe side. */
static void
s_load_masks (s_coach_t *self, const uint8_t *user_id, s_person_t *person)
{
    uint64_t now = cw_now_ms ();
    if (cw_consent_mask (self->consent, user_id, CW_PURPOSE_COACHING, now,
                         &person->coaching_mask, NULL) != CW_OK)
        person->coaching_mask = 0;
    if (cw_consent_mask (self->consent, user_id, CW_PURPOSE_RETENTION, now,
                         &person->retention_mask, NULL) != CW_OK)
        person->retention_mask = 0;
}

/*  Finds or loads a person: their locale, zone, data key, plan and coaching grants. NULL when
 *  the person is unknown or erased (no key: nothing of theirs can be read). */
static s_person_t *
s_person (s_coach_t *self, const uint8_t *user_id, const uint8_t **key)
{
    cw_device_entry_t *e = cw_device_cache_get (self->keys, user_id);
    if (!e) {
        cw_principal_t p;
        uint8_t wrapped [CW_WRAPPED_KEY_BYTES];
        if (cw_store_principal_by_id (self->store, user_id, &p) != CW_OK
            || cw_store_person_key_get (self->store, user_id, wrapped) != CW_OK)
            return NULL;
        uint8_t *k = sodium_malloc (32);
        if (!k)
            return NULL;
        if (cw_keyring_person_key_unwrap (self->config->keyring, user_id, wrapped, k) == CW_OK)
            e = cw_device_cache_put (self->keys, user_id, user_id, k, k);
        sodium_free (k);
        if (!e)
            return NULL;
        if (e->key_slot >= self->people_cap) {
            size_t cap = self->people_cap ? self->people_cap * 2 : 64;
            while (cap <= e->key_slot)
                cap *= 2;
            s_person_t *grown = realloc (self->people, cap * sizeof *grown);
            if (!grown)
                return NULL;
            memset (grown + self->people_cap, 0, (cap - self->people_cap) * sizeof *grown);
            self->people = grown;
            self->people_cap = cap;
        }
        s_person_t *person = &self->people [e->key_slot];
        cw_plan_destroy (&person->plan);
        memset (person, 0, sizeof *person);
        snprintf (person->locale, sizeof person->locale, "%s", p.locale);
        snprintf (person->time_zone, sizeof person->time_zone, "%s",
                  p.time_zone [0] ? p.time_zone : "UTC");
        s_load_plan (self, user_id, person);
        s_load_masks (self, user_id, person);
        person->loaded = true;
    }
    *key = cw_device_cache_person_key (self->keys, e);
    return &self->people [e->key_slot];
}

/*  Writes the decision to the access log: exactly the fields, grants and window it used. */
static void
s_log_decision (s_coach_t *self, const uint8_t *user_id, const cw_rule_t *rule,
                const cw_decision_t *d, uint64_t now)
{
    if (d->n_uses == 0)
        return;     /* a rule that did not run read nothing */
    const char *fields [CW_RULE_MAX_FIELDS];
    uint8_t grants [CW_RULE_MAX_FIELDS * CW_ID_BYTES];
    for (size_t i = 0; i < d->n_uses; i++) {
        fields [i] = d->uses [i].field;
        memcpy (grants + i * CW_ID_BYTES, d->uses [i].grant_id, CW_ID_BYTES);
    }
    char detail [256];
    snprintf (detail, sizeof detail, "rule %s: %s%s%s", rule->id,
              d->sent ? "nudge sent" : "held back", d->sent ? "" : ": ",
              d->sent ? "" : d->reason);
    cw_access_t a = {
        .user_id = user_id, .ts_ms = now, .actor = CW_ACCESS_ENGINE, .purpose = "coaching",
        .fields = fields, .n_fields = d->n_uses, .grant_ids = grants,
        .n_grant_ids = d->n_uses, .what = CW_ACCESS_DECISION, .detail = detail,
    };
    if (cw_access_log_append (self->access, &a) != CW_OK)
        fprintf (stderr, "coachwired: coach: access log: %s\n", cw_store_errmsg (self->store));
}

/*  Hands a stored nudge to the gateway for the person's connected devices. */
static void
s_deliver (s_coach_t *self, const cw_nudge_t *nudge)
{
    uint8_t *body = NULL;
    size_t len = 0;
    if (cw_nudge_pack (nudge, &body, &len) != CW_OK)
        return;
    size_t total = 5 + 2 * CW_ID_BYTES + len;
    uint8_t *msg = malloc (total);
    if (msg) {
        memcpy (msg, "nudge", 5);
        memcpy (msg + 5, nudge->user_id, CW_ID_BYTES);
        memcpy (msg + 5 + CW_ID_BYTES, nudge->id, CW_ID_BYTES);
        memcpy (msg + 5 + 2 * CW_ID_BYTES, body, len);
        zmq_send (self->gateway, msg, total, ZMQ_DONTWAIT);
        free (msg);
    }
    free (body);
}

/*  A rule fired: the arbiter decides; the decision is logged; a sent nudge is stored and
 *  delivered. */
static void
s_fired (s_coach_t *self, const uint8_t *user_id, s_person_t *person, const cw_rule_t *rule,
         const cw_rule_fire_t *fire, uint64_t now)
{
    if (fire->window_end_ms + CW_COACH_NUDGE_HORIZON_MS < now)
        return;     /* history: progress only */
    cw_candidate_t cand = { .rule = rule, .user_id = user_id, .time_zone = person->time_zone,
                            .fire = *fire, .now_ms = now };
    cw_decision_t d;
    if (cw_arbiter_decide (self->arbiter, &cand, &d) != CW_OK)
        return;
    s_log_decision (self, user_id, rule, &d, now);
    if (!d.sent)
        return;
    cw_nudge_t nudge;
    if (cw_nudge_build (&nudge, &cand, &d, person->locale, 0) != CW_OK
        || cw_nudges_put (self->nudges, &nudge) != CW_OK)
        return;
    if (rule->trigger != CW_TRIGGER_DAILY_TOTAL_BY) {
        /* Did it help? Watch the same metric over the window after it. */
        s_outcome_t *o = &person->outcomes [0];
        for (size_t i = 0; i < S_OUTCOMES; i++)
            if (!person->outcomes [i].used || person->outcomes [i].from_ms < o->from_ms)
                o = &person->outcomes [i];
        *o = (s_outcome_t) { .used = true, .goal = rule->goal,
                             .from_ms = fire->window_end_ms,
                             .until_ms = fire->window_end_ms + CW_OUTCOME_WINDOW_MS,
                             .before = fire->observed };
        memcpy (o->id, nudge.id, CW_ID_BYTES);
    }
    if (!self->in_tx) {
        s_deliver (self, &nudge);
        return;
    }
    if (self->deferred_count == self->deferred_cap) {
        size_t cap = self->deferred_cap ? self->deferred_cap * 2 : 8;
        cw_nudge_t *grown = realloc (self->deferred, cap * sizeof *grown);
        if (!grown)
            return;     /* stays pending: delivered when a device of the person shows up */
        self->deferred = grown;
        self->deferred_cap = cap;
    }
    self->deferred [self->deferred_count++] = nudge;
}

/*  A running-dynamics field of sample i in the goal's unit. */
static double
s_running_value (const Coachwire__RunningDynamicsBatch *b, const char *field, size_t i,
                 bool *present)
{
    static const struct {
        const char *field;
        size_t n_offset, v_offset;
        double scale;
    } table [] = {
#define S_ROW(name, member, scale) \
        { name, offsetof (Coachwire__RunningDynamicsBatch, n_##member), \
          offsetof (Coachwire__RunningDynamicsBatch, member), scale }
        S_ROW ("running.cadence", cadence_spm_x10, 0.1),
        S_ROW ("running.vertical_oscillation", vertical_oscillation_mm_x10, 0.1),
        S_ROW ("running.stance_time", stance_time_ms_x10, 0.1),
        S_ROW ("running.stance_balance", stance_balance_left_pct_x100, 0.01),
        S_ROW ("running.step_length", step_length_mm, 1.0),
        S_ROW ("running.vertical_ratio", vertical_ratio_pct_x100, 0.01),
        S_ROW ("running.power", power_w, 1.0),
#undef S_ROW
    };
    *present = false;
    for (size_t t = 0; t < sizeof table / sizeof table [0]; t++) {
        if (strcmp (table [t].field, field) != 0)
            continue;
        size_t n = *(const size_t *) ((const char *) b + table [t].n_offset);
        const uint32_t *v = *(uint32_t *const *) ((const char *) b + table [t].v_offset);
        if (i >= n || !v)
            return 0;
        *present = true;
        return v [i] * table [t].scale;
    }
    return 0;
}

/*  The running field a live rule's goal is measured from, if the batch carries it. */
static const char *
s_goal_field (const cw_rule_t *rule)
{
    const cw_goal_type_info_t *info = cw_goal_type_info (rule->goal);
    for (size_t f = 0; info && f < CW_GOAL_MAX_FIELDS && info->fields [f]; f++)
        if (strncmp (info->fields [f], "running.", 8) == 0 && cw_rule_reads (rule,
                                                                           info->fields [f]))
            return info->fields [f];
    return NULL;
}

static void
s_progress_minute (s_coach_t *self, const uint8_t *user_id, s_person_t *person,
                   cw_goal_type_t goal, uint64_t t, double value)
{
    if ((size_t) goal >= sizeof person->minutes / sizeof person->minutes [0])
        return;
    s_minute_t *m = &person->minutes [goal];
    uint64_t start = t - t % 60000;
    if (m->n && start != m->window_start) {
        cw_progress_t row;
        uint32_t version = person->plan ? cw_plan_version (person->plan) : 0;
        int rc = cw_plans_progress_add (self->plans, user_id, version, goal, m->window_start,
                                        m->window_start + 60000, m->sum / m->n, &row);
        if (rc != CW_OK)
            fprintf (stderr, "coachwired: coach: progress (plan %u, goal %d): %s\n", version,
                     (int) goal, cw_strerror (rc));
        /* Evidence of a goal met again and again: propose the next step for the coach to
         * approve or reject (cwctl plan review). Nothing changes until they do. */
        bool proposed = false;
        uint32_t proposal = 0;
        if (rc == CW_OK && cw_plans_propose_progression (self->plans, user_id, goal,
                                                         S_PROGRESSION_WINDOWS, cw_now_ms (),
                                                         &proposed, &proposal) == CW_OK
            && proposed)
            fprintf (stderr, "coachwired: coach: proposed plan version %u (goal %d met in %u%% "
                     "of the last %d minutes)\n", proposal, (int) goal,
                     CW_PROGRESSION_MET_PERCENT, S_PROGRESSION_WINDOWS);
        m->n = 0;
        m->sum = 0;
    }
    if (m->n == 0)
        m->window_start = start;
    m->sum += value;
    m->n++;
}

/*  Feeds a reading of goal's metric to the nudges waiting for their outcome; one whose window
 *  after has passed gets its outcome recorded (cwctl coach effectiveness shows them). */
static void
s_outcome_feed (s_coach_t *self, s_person_t *person, cw_goal_type_t goal, uint64_t t,
                double value)
{
    for (size_t i = 0; i < S_OUTCOMES; i++) {
        s_outcome_t *o = &person->outcomes [i];
        if (!o->used || o->goal != goal || t <= o->from_ms)
            continue;
        if (t <= o->until_ms) {
            o->sum += value;
            o->n++;
            continue;
        }
        if (o->n && cw_nudges_outcome (self->nudges, o->id, o->before, o->sum / o->n,
                                       cw_now_ms ()) != CW_OK)
            fprintf (stderr, "coachwired: coach: outcome: %s\n", cw_store_errmsg (self->store));
        o->used = false;
    }
}

static void
s_running (s_coach_t *self, const uint8_t *user_id, s_person_t *person,
           const Coachwire__RunningDynamicsBatch *b, uint64_t now)
{
    const cw_plan_t *plan = s_plan (self, person);
    size_t n_rules = cw_rules_count (self->rules);
    for (size_t r = 0; r < n_rules && r < S_MAX_RULES; r++) {
        const cw_rule_t *rule = cw_rules_get (self->rules, r);
        if (rule->trigger == CW_TRIGGER_DAILY_TOTAL_BY)
            continue;
        const char *field = s_goal_field (rule);
        const cw_goal_t *goal = cw_plan_goal_of (plan, rule->goal);
        if (!field || !goal)
            continue;
        /* Consent first: a rule whose fields are not all granted for coaching does not run. */
        cw_decision_t gate;
        if (cw_arbiter_gate (self->arbiter, rule, user_id, now, &gate) != CW_OK || !gate.sent) {
            memset (&person->tracks [r], 0, sizeof person->tracks [r]);
            continue;
        }
        uint64_t t = b->start_time_ms;
        for (size_t i = 0; i < b->n_time_delta_ms; i++) {
            t += b->time_delta_ms [i];
            bool present;
            double value = s_running_value (b, field, i, &present);
            if (!present || value <= 0)
                continue;   /* 0 is how watches say "not running" */
            double lo = 0, hi = 0;
            cw_goal_target_at (goal, person->plan_start, t, &lo, &hi);
            uint64_t span = i + 1 < b->n_time_delta_ms && b->time_delta_ms [i + 1]
                                ? b->time_delta_ms [i + 1] : 1000;
            cw_observation_t obs = { .time_ms = t + span, .span_ms = span, .value = value,
                                     .confidence = 1.0, .samples = 1 };
            cw_rule_fire_t fire;
            bool fired = false;
            if (cw_rule_feed (rule, lo, hi, &person->tracks [r], &obs, &fire, &fired) == CW_OK
                && fired)
                s_fired (self, user_id, person, rule, &fire, now);
        }
    }
    /* progress per goal, one row per minute of running */
    size_t n_goals = cw_plan_goal_count (plan);
    for (size_t g = 0; g < n_goals; g++) {
        const cw_goal_t *goal = cw_plan_goal (plan, g);
        const cw_goal_type_info_t *info = cw_goal_type_info (goal->type);
        for (size_t f = 0; info && f < CW_GOAL_MAX_FIELDS && info->fields [f]; f++) {
            const cw_catalog_entry_t *e = cw_catalog_find (info->fields [f]);
            if (!e || e->stream != 4)
                continue;
            uint64_t t = b->start_time_ms;
            for (size_t i = 0; i < b->n_time_delta_ms; i++) {
                t += b->time_delta_ms [i];
                bool present;
                double value = s_running_value (b, info->fields [f], i, &present);
                if (present && value > 0) {
                    s_progress_minute (self, user_id, person, goal->type, t, value);
                    s_outcome_feed (self, person, goal->type, t, value);
                }
            }
        }
    }
}

/*  Daily totals: today's (local) feed the daily rules; every day's becomes progress. */
static void
s_meals (s_coach_t *self, const uint8_t *user_id, s_person_t *person,
         const Coachwire__MealBatch *b, uint64_t now)
{
    cw_local_t today;
    if (cw_local_time (person->time_zone, now, &today) != CW_OK)
        return;
    int32_t day = 0;
    uint64_t day_start = 0;
    double energy = 0, protein = 0, sugar = 0;
    const cw_plan_t *plan = s_plan (self, person);
    uint32_t version = person->plan ? cw_plan_version (person->plan) : 0;
    for (size_t i = 0; i <= b->n_entries; i++) {
        cw_local_t local = { 0, 0, 0 };
        if (i < b->n_entries && cw_local_time (person->time_zone, b->entries [i]->time_ms, &local)
            != CW_OK)
            continue;
        if (day && (i == b->n_entries || local.date != day)) {
            const struct { cw_goal_type_t goal; double value; } totals [] = {
                { CW_GOAL_DAILY_ENERGY, energy }, { CW_GOAL_DAILY_PROTEIN, protein },
                { CW_GOAL_DAILY_SUGAR, sugar } };
            for (size_t k = 0; k < 3; k++) {
                cw_progress_t row;
                if (cw_plan_goal_of (plan, totals [k].goal)
                    && cw_plans_progress_add (self->plans, user_id, version, totals [k].goal,
                                              day_start, day_start + 86400000ull,
                                              totals [k].value, &row) != CW_OK)
                    fprintf (stderr, "coachwired: coach: progress: %s\n",
                             cw_store_errmsg (self->store));
            }
            energy = protein = sugar = 0;
        }
        if (i == b->n_entries)
            break;
        day = local.date;
        day_start = local.day_start_ms;
        const Coachwire__MealEntry *e = b->entries [i];
        energy += e->energy_kcal;
        protein += e->protein_mg / 1000.0;
        sugar += e->sugar_mg / 1000.0;
        if (local.date == today.date) {
            if (person->today != today.date) {
                person->today = today.date;
                person->energy_kcal = person->protein_g = person->sugar_g = 0;
                person->meal_samples = 0;
            }
            person->energy_kcal += e->energy_kcal;
            person->protein_g += e->protein_mg / 1000.0;
            person->sugar_g += e->sugar_mg / 1000.0;
            person->meal_samples++;
        }
    }
}

/*  Checks the daily rules of everyone with meals logged today. */
static void
s_daily (s_coach_t *self, uint64_t now)
{
    size_t n_rules = cw_rules_count (self->rules);
    for (size_t slot = 0; slot < self->people_cap; slot++) {
        s_person_t *person = &self->people [slot];
        if (!person->loaded || !person->meal_samples)
            continue;
        cw_local_t local;
        if (cw_local_time (person->time_zone, now, &local) != CW_OK || local.date != person->today)
            continue;
        const uint8_t *user_id = cw_device_cache_id_at (self->keys, slot);
        if (!user_id)
            continue;
        const cw_plan_t *plan = s_plan (self, person);
        bool began = s_begin (self);
        for (size_t r = 0; r < n_rules; r++) {
            const cw_rule_t *rule = cw_rules_get (self->rules, r);
            const cw_goal_t *goal = cw_plan_goal_of (plan, rule->goal);
            if (rule->trigger != CW_TRIGGER_DAILY_TOTAL_BY || !goal)
                continue;
            cw_decision_t gate;
            if (cw_arbiter_gate (self->arbiter, rule, user_id, now, &gate) != CW_OK
                || !gate.sent)
                continue;
            double total = rule->goal == CW_GOAL_DAILY_ENERGY ? person->energy_kcal
                         : rule->goal == CW_GOAL_DAILY_PROTEIN ? person->protein_g
                         : rule->goal == CW_GOAL_DAILY_SUGAR ? person->sugar_g : -1;
            if (total < 0)
                continue;
            double lo = 0, hi = 0;
            cw_goal_target_at (goal, person->plan_start, now, &lo, &hi);
            cw_rule_fire_t fire;
            bool fired = false;
            if (cw_rule_check_daily (rule, lo, hi, total, person->meal_samples, &local, now,
                                     &fire, &fired) == CW_OK && fired)
                s_fired (self, user_id, person, rule, &fire, now);
        }
        s_end (self, began);
    }
}

/*  cw_store_frame_each_lazy callback: copies the frames this tick will process (a payload is
 *  read from its segment only when this tick uses it). */
static int
s_copy_frame (void *ctx, const cw_stored_frame_t *fr)
{
    s_coach_t *self = ctx;
    if (self->batch_count == S_FRAMES_PER_TICK || self->batch_bytes > S_BYTES_PER_TICK)
        return CW_ENOSPC;   /* the rest next tick */
    s_copied_t *c = &self->batch [self->batch_count];
    c->row = fr->row;
    c->sealed = NULL;
    c->sealed_len = 0;
    /* A known person's frame that the rules do not read and retention keeps whole is only
     * passed over: no copy (the reading happens in s_frame, after this SELECT is done). */
    cw_device_entry_t *known = cw_device_cache_get (self->keys, fr->user_id);
    if (known) {
        const s_person_t *p = &self->people [known->key_slot];
        uint64_t fields = self->stream_fields [fr->stream < CW_STREAM_MIN
                                               || fr->stream > CW_STREAM_MAX ? 0 : fr->stream];
        bool read = (fr->stream == 4 || fr->stream == 5) && (p->coaching_mask & fields);
        bool trim = (p->retention_mask & fields) != fields;
        if (!read && !trim) {
            c->row = fr->row;
            c->sealed = NULL;
            c->sealed_len = 0;
            self->batch_count++;
            self->kept++;
            return CW_OK;
        }
    }
    if (fr->sealed_len >= CW_STORED_OVERHEAD
        && fr->sealed_len <= CW_PAYLOAD_MAX_BYTES + CW_STORED_OVERHEAD) {
        const uint8_t *sealed = NULL;
        int rc = cw_store_frame_payload (self->store, fr, &sealed);
        if (rc != CW_OK)
            return rc;      /* stops the tick here; said once by s_tick */
        c->sealed = malloc (fr->sealed_len);
        if (!c->sealed)
            return CW_ENOSPC;
        memcpy (c->sealed, sealed, fr->sealed_len);
        c->sealed_len = fr->sealed_len;
    }
    memcpy (c->device_id, fr->device_id, CW_ID_BYTES);
    memcpy (c->user_id, fr->user_id, CW_ID_BYTES);
    c->stream = fr->stream;
    c->sequence = fr->sequence;
    self->batch_count++;
    self->batch_bytes += fr->sealed_len;
    return CW_OK;
}

/*  Raw readings outlive processing only under `retention`: once the engine has read a frame,
 *  what the person did not grant for retention is removed from the stored copy (the row is
 *  deleted when nothing is left). plain holds the frame's original bytes. */
static void
s_retain (s_coach_t *self, const cw_stored_frame_t *fr, s_person_t *person, const uint8_t *key,
          const uint8_t *plain, size_t len)
{
    Coachwire__SensorBatch *b = coachwire__sensor_batch__unpack (NULL, len, plain);
    cw_strip_result_t res;
    int rc = b ? cw_strip_batch (b, person->retention_mask, NULL, &res) : CW_EDECODE;
    uint8_t *sealed = NULL;
    size_t sealed_len = 0;
    if (rc == CW_OK && !res.empty) {
        size_t n = coachwire__sensor_batch__pack (b, self->packed);
        sealed = malloc (n + CW_STORED_OVERHEAD);
        if (sealed) {
            cw_stored_seal (sealed, key, fr->device_id, fr->user_id, fr->stream, fr->sequence,
                            self->packed, n);
            sealed_len = n + CW_STORED_OVERHEAD;
        }
        sodium_memzero (self->packed, n);
        if (!sealed)
            rc = CW_ENOMEM;     /* kept as it is for now: nothing is lost, retried on restart */
    }
    if (b)
        coachwire__sensor_batch__free_unpacked (b, NULL);
    if (rc != CW_OK && rc != CW_EDECODE)
        return;
    if (self->rewrite_count == self->rewrite_cap) {
        size_t cap = self->rewrite_cap ? self->rewrite_cap * 2 : 64;
        s_rewrite_t *grown = realloc (self->rewrites, cap * sizeof *grown);
        if (!grown) {
            free (sealed);
            return;
        }
        self->rewrites = grown;
        self->rewrite_cap = cap;
    }
    self->rewrites [self->rewrite_count++] = (s_rewrite_t) { fr->row, sealed, sealed_len };
}

/*  Saves the cursor: with force, now (inside the caller's transaction); else at most once a
 *  second. After a crash the engine reads again what came after the saved cursor; its rules
 *  see the same windows again and the arbiter's de-duplication holds the repeats back. */
static int
s_save_cursor (s_coach_t *self, bool force)
{
    uint64_t now = cw_now_ms ();
    if (self->cursor == self->cursor_saved || (!force && now - self->cursor_saved_ms < 1000))
        return CW_OK;
    char text [32];
    snprintf (text, sizeof text, "%lld", (long long) self->cursor);
    int rc = cw_store_meta_set (self->store, "coach.cursor", text);
    if (rc == CW_OK) {
        self->cursor_saved = self->cursor;
        self->cursor_saved_ms = now;
    }
    else
        fprintf (stderr, "coachwired: coach: cursor: %s\n", cw_store_errmsg (self->store));
    return rc;
}

/*  Writes the tick's retention changes in one transaction (one fsync). If it fails, nothing
 *  is lost: the copies stay as they are, larger than they should be, and the next start's
 *  pass over them (the cursor is behind) tries again. */
static void
s_apply_rewrites (s_coach_t *self)
{
    if (self->rewrite_count == 0)
        return;
    int rc = cw_store_begin (self->store);
    for (size_t i = 0; rc == CW_OK && i < self->rewrite_count; i++) {
        s_rewrite_t *w = &self->rewrites [i];
        rc = w->sealed ? cw_store_frame_update (self->store, w->row, w->sealed, w->sealed_len)
                       : cw_store_frame_delete (self->store, w->row);
        if (rc == CW_ENOENT)
            rc = CW_OK;     /* erased meanwhile */
        if (w->sealed)
            self->trimmed++;
        else
            self->deleted++;
    }
    if (rc == CW_OK)
        rc = s_save_cursor (self, true);
    if (rc == CW_OK)
        rc = cw_store_commit (self->store);
    if (rc != CW_OK) {
        cw_store_rollback (self->store);
        fprintf (stderr, "coachwired: coach: retention: %s\n", cw_strerror (rc));
    }
    for (size_t i = 0; i < self->rewrite_count; i++)
        free (self->rewrites [i].sealed);
    self->rewrite_count = 0;
}

/*  Processes one copied frame: the engine's rules read running dynamics and meals; then the
 *  stored copy is cut down to what the person lets us retain. */
static int
s_frame (void *ctx, const cw_stored_frame_t *fr)
{
    s_coach_t *self = ctx;
    self->cursor = fr->row;
    if (!fr->sealed)
        return CW_OK;
    const uint8_t *key = NULL;
    s_person_t *person = s_person (self, fr->user_id, &key);
    if (!person)
        return CW_OK;       /* unknown or erased: nothing of theirs can be read */
    /* Open only what the rules may read or what retention must cut: most frames (raw IMU
     * that the person keeps) need neither, and are not even decrypted here. */
    uint64_t fields = self->stream_fields [fr->stream];
    bool read = (fr->stream == 4 || fr->stream == 5) && (person->coaching_mask & fields);
    bool trim = (person->retention_mask & fields) != fields;
    if (!read && !trim) {
        self->kept++;
        return CW_OK;
    }
    uint8_t *plain = self->plain;
    size_t n = 0;
    Coachwire__SensorBatch *b = NULL;
    if (fr->sealed_len - CW_STORED_OVERHEAD <= CW_PAYLOAD_MAX_BYTES
        && cw_stored_open (plain, &n, key, fr->device_id, fr->user_id, fr->stream, fr->sequence,
                           fr->sealed, fr->sealed_len) == CW_OK) {
        if (read)
            b = coachwire__sensor_batch__unpack (NULL, n, plain);
        if (trim)
            s_retain (self, fr, person, key, plain, n);
        else
            self->kept++;
    }
    sodium_memzero (plain, n);
    if (!b)
        return CW_OK;
    /* The engine reads a field only under `coaching`: everything else is gone from here on. */
    cw_strip_result_t res;
    uint64_t now = cw_now_ms ();
    if (cw_strip_batch (b, person->coaching_mask, NULL, &res) == CW_OK && !res.empty) {
        bool began = s_begin (self);
        if (b->body_case == COACHWIRE__SENSOR_BATCH__BODY_RUNNING)
            s_running (self, fr->user_id, person, b->running, now);
        else if (b->body_case == COACHWIRE__SENSOR_BATCH__BODY_MEAL)
            s_meals (self, fr->user_id, person, b->meal, now);
        s_end (self, began);
    }
    coachwire__sensor_batch__free_unpacked (b, NULL);
    return CW_OK;
}

/*  A consent change: reload the mask, withdraw pending nudges that used a field no longer
 *  granted for coaching, and forget rule progress on it. */
static void
s_consent_changed (s_coach_t *self, const uint8_t *user_id)
{
    cw_device_entry_t *e = cw_device_cache_get (self->keys, user_id);
    if (!e)
        return;
    s_person_t *person = &self->people [e->key_slot];
    uint8_t wrapped [CW_WRAPPED_KEY_BYTES];
    if (cw_store_person_key_get (self->store, user_id, wrapped) == CW_ENOENT) {
        /* erased: forget the key and everything held in memory about them */
        cw_plan_destroy (&person->plan);
        memset (person, 0, sizeof *person);
        cw_device_cache_remove (self->keys, user_id);
        return;
    }
    uint64_t mask = 0, now = cw_now_ms ();
    if (cw_consent_mask (self->consent, user_id, CW_PURPOSE_COACHING, now, &mask, NULL)
        != CW_OK)
        mask = 0;
    uint64_t lost = person->coaching_mask & ~mask;
    s_load_masks (self, user_id, person);
    size_t n_fields = 0;
    const cw_catalog_entry_t *fields = cw_catalog_entries (&n_fields);
    for (size_t i = 0; i < n_fields && i < 64; i++) {
        if (!(lost & (1ull << i)))
            continue;
        size_t dropped = 0;
        if (cw_nudges_withdraw_field (self->nudges, user_id, fields [i].name, now, &dropped)
            == CW_OK && dropped)
            fprintf (stderr, "coachwired: coach: %zu pending nudges withdrawn with %s\n",
                     dropped, fields [i].name);
        for (size_t r = 0; r < cw_rules_count (self->rules) && r < S_MAX_RULES; r++)
            if (cw_rule_reads (cw_rules_get (self->rules, r), fields [i].name))
                memset (&person->tracks [r], 0, sizeof person->tracks [r]);
    }
}

static void
s_handle_control (s_coach_t *self)
{
    uint8_t buf [64];
    int n = zmq_recv (self->control, buf, sizeof buf, 0);
    /* drain: a burst of "tick" wake-ups needs one tick, not one each */
    int events = 0;
    size_t len = sizeof events;
    while (n == 4 && memcmp (buf, "tick", 4) == 0
           && zmq_getsockopt (self->control, ZMQ_EVENTS, &events, &len) == 0
           && (events & ZMQ_POLLIN))
        n = zmq_recv (self->control, buf, sizeof buf, 0);
    if (n == 7 + (int) CW_ID_BYTES && memcmp (buf, "consent", 7) == 0)
        s_consent_changed (self, buf + 7);
    else if (n == 4 + (int) CW_ID_BYTES && memcmp (buf, "plan", 4) == 0) {
        cw_device_entry_t *e = cw_device_cache_get (self->keys, buf + 4);
        if (e)
            s_load_plan (self, buf + 4, &self->people [e->key_slot]);
    }
}

/*  Returns true when the tick read a full batch: there is more waiting. */
static bool
s_tick (s_coach_t *self)
{
    self->batch_count = self->batch_bytes = 0;
    int rc = cw_store_frame_each_lazy (self->store, NULL, self->cursor, S_FRAMES_PER_TICK,
                                       s_copy_frame, self);
    /* A frame that cannot be read (a damaged or missing segment file) stops the coach at it
     * until an operator restores the file: said once per place, not at every tick. */
    if (rc != CW_OK && rc != CW_ENOSPC && self->read_error_at != self->cursor + 1) {
        fprintf (stderr, "coachwired: coach: reading frames after row %lld: %s\n",
                 (long long) self->cursor, cw_store_errmsg (self->store));
        self->read_error_at = self->cursor + 1;
    }
    self->rewrite_count = 0;
    for (size_t i = 0; i < self->batch_count; i++) {
        s_copied_t *c = &self->batch [i];
        cw_stored_frame_t fr = { .row = c->row, .device_id = c->device_id,
                                 .user_id = c->user_id, .stream = c->stream,
                                 .sequence = c->sequence, .sealed = c->sealed,
                                 .sealed_len = c->sealed_len };
        s_frame (self, &fr);
        free (c->sealed);
        c->sealed = NULL;
    }
    s_apply_rewrites (self);
    (void) s_save_cursor (self, false);
    bool more = self->batch_count == S_FRAMES_PER_TICK || rc == CW_ENOSPC;
    uint64_t now = cw_now_ms ();
    if (now - self->last_daily_ms >= S_DAILY_EVERY_MS) {
        self->last_daily_ms = now;
        s_daily (self, now);
        size_t expired = 0;
        if (cw_nudges_expire (self->nudges, now, &expired) != CW_OK)
            fprintf (stderr, "coachwired: coach: expiry: %s\n", cw_store_errmsg (self->store));
    }
    return more;
}

static int
s_setup (s_coach_t *self)
{
    const cw_server_config_t *c = self->config;
    int zero = 0;
    self->control = zmq_socket (c->zmq_ctx, ZMQ_PULL);
    self->gateway = zmq_socket (c->zmq_ctx, ZMQ_PUSH);
    if (!self->control || !self->gateway)
        return CW_EIO;
    zmq_setsockopt (self->control, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt (self->gateway, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind (self->control, CW_COACH_CONTROL_ENDPOINT) != 0
        || zmq_connect (self->gateway, CW_GATEWAY_CONTROL_ENDPOINT) != 0)
        return CW_EIO;
    int rc = cw_store_open (&self->store, c->db_path, false);
    if (rc == CW_OK)
        rc = cw_consent_open (&self->consent, self->store);
    if (rc == CW_OK)
        rc = cw_arbiter_open (&self->arbiter, self->store, s_consent_check, self);
    if (rc == CW_OK)
        rc = cw_nudges_open (&self->nudges, self->store);
    if (rc == CW_OK)
        rc = cw_plans_open (&self->plans, self->store);
    if (rc == CW_OK)
        rc = cw_access_log_open (&self->access, self->store);
    if (rc == CW_OK)
        rc = cw_device_cache_new (&self->keys);
    cw_parse_error_t err = { 0, "" };
    if (rc == CW_OK) {
        if (c->rules_path [0])
            rc = cw_rules_load (c->rules_path, &self->rules, &err);
        else {
            size_t len = 0;
            const char *text = cw_coach_default_rules (&len);
            rc = cw_rules_parse (text, len, &self->rules, &err);
        }
        if (rc != CW_OK)
            fprintf (stderr, "coachwired: rules %s: line %u: %s\n",
                     c->rules_path [0] ? c->rules_path : "(built in)", err.line, err.reason);
    }
    if (rc == CW_OK) {
        size_t len = 0;
        const char *text = cw_coach_default_plan (&len);
        rc = cw_plan_parse (text, len, &self->default_plan, &err);
        if (rc != CW_OK)
            fprintf (stderr, "coachwired: default plan: line %u: %s\n", err.line, err.reason);
    }
    size_t n_fields = 0;
    const cw_catalog_entry_t *fields = cw_catalog_entries (&n_fields);
    for (size_t i = 0; i < n_fields && i < 64; i++)
        if (!fields [i].structural && fields [i].stream <= CW_STREAM_MAX)
            self->stream_fields [fields [i].stream] |= 1ull << i;
    self->packed = sodium_malloc (CW_PAYLOAD_MAX_BYTES);
    self->plain = sodium_malloc (CW_PAYLOAD_MAX_BYTES);
    if (rc == CW_OK && (!self->packed || !self->plain))
        rc = CW_ENOMEM;
    char cursor [32];
    if (rc == CW_OK && cw_store_meta_get (self->store, "coach.cursor", cursor, sizeof cursor)
        == CW_OK)
        self->cursor = strtoll (cursor, NULL, 10);
    return rc;
}

static void
s_teardown (s_coach_t *self)
{
    if (self->store)
        (void) s_save_cursor (self, true);
    for (size_t i = 0; i < self->people_cap; i++)
        cw_plan_destroy (&self->people [i].plan);
    free (self->people);
    for (size_t i = 0; i < self->rewrite_count; i++)
        free (self->rewrites [i].sealed);
    free (self->rewrites);
    free (self->deferred);
    if (self->packed)
        sodium_free (self->packed);
    if (self->plain)
        sodium_free (self->plain);
    cw_plan_destroy (&self->default_plan);
    cw_rules_destroy (&self->rules);
    cw_device_cache_destroy (&self->keys);
    cw_access_log_destroy (&self->access);
    cw_plans_destroy (&self->plans);
    cw_nudges_destroy (&self->nudges);
    cw_arbiter_destroy (&self->arbiter);
    cw_consent_destroy (&self->consent);
    cw_store_destroy (&self->store);
    zmq_close (self->control);
    zmq_close (self->gateway);
}

static void
s_coach_actor (void *pipe, void *args)
{
    s_coach_t self;
    memset (&self, 0, sizeof self);
    self.config = args;
    cw_actor_background ("cw-coach");
    int rc = s_setup (&self);
    cw_actor_ready (pipe, rc);
    if (rc != CW_OK) {
        s_teardown (&self);
        return;
    }
    bool more = false, due = false;
    uint64_t last_tick_us = 0;
    while (true) {
        zmq_pollitem_t items [] = { { pipe, 0, ZMQ_POLLIN, 0 },
                                    { self.control, 0, ZMQ_POLLIN, 0 } };
        /* The gateway wakes us after each commit ("tick"); the timeout only drives the daily
         * checks and expiry. A full batch means more is waiting: no sleep then. Ticks are
         * at least S_TICK_MIN_US apart: at a thousand commits a second, a tick for each
         * spent more on reading than on the frames, and took the write lock from the
         * commits as often. */
        long timeout = more ? 0 : CW_COACH_TICK_MS;
        uint64_t now = cw_mono_us ();
        if (due) {
            uint64_t next = last_tick_us + S_TICK_MIN_US;
            long wait = next > now ? (long) ((next - now + 999u) / 1000u) : 0;
            if (wait < timeout)
                timeout = wait;
        }
        if (zmq_poll (items, 2, timeout) < 0)
            break;
        if (items [0].revents & ZMQ_POLLIN) {
            char buf [16];
            int n = zmq_recv (pipe, buf, sizeof buf, 0);
            if (n >= 0 && cw_actor_is_term (buf, (size_t) n))
                break;
        }
        if (items [1].revents & ZMQ_POLLIN)
            s_handle_control (&self);
        due = true;
        now = cw_mono_us ();
        if (more || now - last_tick_us >= S_TICK_MIN_US) {
            more = s_tick (&self);
            last_tick_us = now;
            due = false;
        }
    }
    s_teardown (&self);
}

int
cw_coach_start (cw_coach_t **out, const cw_server_config_t *config)
{
    if (!out || !config)
        return CW_EINVAL;
    *out = NULL;
    cw_coach_t *self = calloc (1, sizeof *self);
    if (!self)
        return CW_ENOMEM;
    int rc = cw_actor_new (&self->actor, config->zmq_ctx, s_coach_actor, (void *) config);
    if (rc != CW_OK) {
        free (self);
        return rc;
    }
    *out = self;
    return CW_OK;
}

void
cw_coach_destroy (cw_coach_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_actor_destroy (&(*self_p)->actor);
    free (*self_p);
    *self_p = NULL;
}
