/*  test_api_coach.c - coaches and the person's nudges through the api actor, with the coach
 *  actor and the gateway running (harness, 127.0.0.1).
 *
 *  Negative first: a coach the person has not accepted, the operator, a device and another
 *  coach are refused; a broken plan file is refused with its line. Then: what a coach sees
 *  of progress and nudges is only what the person shares for coach_review, and appears once
 *  they grant it; every coach view is in the person's access log; a plan set by the coach
 *  changes what the engine nudges about; the engine's progression proposal is reviewed and
 *  approved; feedback shows in effectiveness; the edge library stores a delivered nudge,
 *  acknowledges it (acked in the service's store) and sends feedback; data erase removes
 *  nudges and plans.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"
#include "coachwire/cw_access_log.h"
#include "coachwire/cw_arbiter.h"
#include "coachwire/cw_client.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_nudge.h"
#include "coachwire/cw_plan.h"
#include "coachwire/edge.h"

#define S_TIMEOUT_MS 5000

typedef struct {
    harness_t *h;
    uint8_t ana_id [CW_ID_BYTES];
    cw_cred_t *ana_cred, *kai_cred, *lee_cred, *op_cred, *phone_cred;
    cw_client_t *ana, *kai, *lee, *op;
} fixture_t;

static cw_client_t *
s_client (harness_t *h, const cw_cred_t *cred)
{
    cw_client_t *client = NULL;
    assert_int_equal (cw_client_new (&client, cred, harness_api (h)), CW_OK);
    return client;
}

static int
setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    f->h = harness_new (true);
    f->ana_cred = harness_principal (f->h, CW_PRINCIPAL_USER, "ana", NULL, f->ana_id);
    f->kai_cred = harness_principal (f->h, CW_PRINCIPAL_COACH, "kai", NULL, NULL);
    f->lee_cred = harness_principal (f->h, CW_PRINCIPAL_COACH, "lee", NULL, NULL);
    f->op_cred = harness_principal (f->h, CW_PRINCIPAL_OPERATOR, "op", NULL, NULL);
    f->phone_cred = harness_principal (f->h, CW_PRINCIPAL_DEVICE, "phone", f->ana_id, NULL);
    f->ana = s_client (f->h, f->ana_cred);
    f->kai = s_client (f->h, f->kai_cred);
    f->lee = s_client (f->h, f->lee_cred);
    f->op = s_client (f->h, f->op_cred);
    *state = f;
    return 0;
}

static int
teardown (void **state)
{
    fixture_t *f = *state;
    cw_client_destroy (&f->ana);
    cw_client_destroy (&f->kai);
    cw_client_destroy (&f->lee);
    cw_client_destroy (&f->op);
    cw_cred_destroy (&f->ana_cred);
    cw_cred_destroy (&f->kai_cred);
    cw_cred_destroy (&f->lee_cred);
    cw_cred_destroy (&f->op_cred);
    cw_cred_destroy (&f->phone_cred);
    harness_destroy (&f->h);
    free (f);
    return 0;
}

/*  One call; the transport must work; returns the service's code (reply kept in *reply). */
static int
s_call (cw_client_t *client, Coachwire__ApiRequest *req, Coachwire__ApiReply **reply)
{
    assert_int_equal (cw_client_call (client, req, reply, S_TIMEOUT_MS), CW_OK);
    assert_non_null ((*reply)->error);
    return (*reply)->code;
}

/*  Sends req and frees the reply; returns the code. */
static int
s_code (cw_client_t *client, Coachwire__ApiRequest *req)
{
    Coachwire__ApiReply *reply = NULL;
    int rc = s_call (client, req, &reply);
    cw_client_reply_free (&reply);
    return rc;
}

static int
s_accept (cw_client_t *client, const char *coach, bool accept)
{
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__CoachLinkRequest body = COACHWIRE__COACH_LINK_REQUEST__INIT;
    body.coach = (char *) coach;
    req.body_case = accept ? COACHWIRE__API_REQUEST__BODY_COACH_ACCEPT
                           : COACHWIRE__API_REQUEST__BODY_COACH_REMOVE;
    if (accept)
        req.coach_accept = &body;
    else
        req.coach_remove = &body;
    return s_code (client, &req);
}

static int
s_progress (cw_client_t *client, const char *user, Coachwire__ApiReply **reply)
{
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__ProgressRequest body = COACHWIRE__PROGRESS_REQUEST__INIT;
    body.user = (char *) user;
    body.goal = (char *) "cadence";
    req.body_case = COACHWIRE__API_REQUEST__BODY_PROGRESS;
    req.progress = &body;
    return s_call (client, &req, reply);
}

static int
s_nudges (cw_client_t *client, const char *user, Coachwire__ApiReply **reply)
{
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__NudgesRequest body = COACHWIRE__NUDGES_REQUEST__INIT;
    body.user = (char *) user;
    body.held = true;
    req.body_case = COACHWIRE__API_REQUEST__BODY_NUDGES;
    req.nudges = &body;
    return s_call (client, &req, reply);
}

static int
s_plan_set (cw_client_t *client, const char *user, const char *text, bool propose,
            Coachwire__ApiReply **reply)
{
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__PlanSetRequest body = COACHWIRE__PLAN_SET_REQUEST__INIT;
    body.user = (char *) user;
    body.text = (char *) text;
    body.propose = propose;
    req.body_case = COACHWIRE__API_REQUEST__BODY_PLAN_SET;
    req.plan_set = &body;
    return s_call (client, &req, reply);
}

/*  A stored nudge of the person that used running.cadence, as the engine makes them. */
static void
s_put_nudge (fixture_t *f, uint8_t *id_out)
{
    cw_nudges_t *nudges = NULL;
    assert_int_equal (cw_nudges_open (&nudges, harness_store (f->h)), CW_OK);
    cw_nudge_t n;
    memset (&n, 0, sizeof n);
    randombytes_buf (n.id, CW_ID_BYTES);
    memcpy (n.user_id, f->ana_id, CW_ID_BYTES);
    snprintf (n.rule, sizeof n.rule, "cadence_low");
    n.created_ms = cw_now_ms ();
    n.expires_ms = n.created_ms + 3600000;
    snprintf (n.locale, sizeof n.locale, "en");
    snprintf (n.message, sizeof n.message, "Your cadence was 150 spm");
    snprintf (n.why.goal, sizeof n.why.goal, "cadence");
    n.why.observed = 150;
    n.n_uses = 1;
    snprintf (n.uses [0].field, sizeof n.uses [0].field, "running.cadence");
    snprintf (n.uses [0].purpose, sizeof n.uses [0].purpose, "coaching");
    n.uses [0].samples = 60;
    assert_int_equal (cw_nudges_put (nudges, &n), CW_OK);
    if (id_out)
        memcpy (id_out, n.id, CW_ID_BYTES);
    cw_nudges_destroy (&nudges);
}

static void
test_others_refused (void **state)
{
    fixture_t *f = *state;
    Coachwire__ApiReply *reply = NULL;
    /* kai has not been accepted: nothing of ana's, and the same for a name that is nobody */
    assert_int_equal (s_progress (f->kai, "ana", &reply), CW_EDENIED);
    assert_non_null (strstr (reply->error, "has not accepted you"));
    cw_client_reply_free (&reply);
    assert_int_equal (s_progress (f->kai, "nobody", &reply), CW_EDENIED);
    cw_client_reply_free (&reply);
    assert_int_equal (s_nudges (f->kai, "ana", &reply), CW_EDENIED);
    cw_client_reply_free (&reply);
    /* the operator and a device are refused by role; a person may not add a coach */
    assert_int_equal (s_nudges (f->op, "ana", &reply), CW_EDENIED);
    assert_non_null (strstr (reply->error, "an operator key may not"));
    cw_client_reply_free (&reply);
    assert_int_equal (s_plan_set (f->ana, "ana", "goal cadence range 160 170 spm\n", false,
                                  &reply), CW_EDENIED);
    cw_client_reply_free (&reply);
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__CoachAddRequest add = COACHWIRE__COACH_ADD_REQUEST__INIT;
    add.name = (char *) "eve";
    req.body_case = COACHWIRE__API_REQUEST__BODY_COACH_ADD;
    req.coach_add = &add;
    assert_int_equal (s_code (f->ana, &req), CW_EDENIED);
    assert_int_equal (s_code (f->op, &req), CW_OK);
    assert_int_equal (s_code (f->op, &req), CW_EEXIST);
    /* a coach cannot accept for someone; an unknown coach cannot be accepted */
    assert_int_equal (s_accept (f->kai, "kai", true), CW_EDENIED);
    assert_int_equal (s_accept (f->ana, "nobody", true), CW_ENOENT);
    /* ana accepts kai: lee is still refused, and a person may not name another */
    assert_int_equal (s_accept (f->ana, "kai", true), CW_OK);
    assert_int_equal (s_progress (f->lee, "ana", &reply), CW_EDENIED);
    cw_client_reply_free (&reply);
    assert_int_equal (s_progress (f->kai, "ana", &reply), CW_OK);
    cw_client_reply_free (&reply);
    /* removed: refused again */
    assert_int_equal (s_accept (f->ana, "kai", false), CW_OK);
    assert_int_equal (s_progress (f->kai, "ana", &reply), CW_EDENIED);
    cw_client_reply_free (&reply);
}

static void
test_broken_plan_refused_with_line (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_accept (f->ana, "kai", true), CW_OK);
    Coachwire__ApiReply *reply = NULL;
    assert_int_equal (s_plan_set (f->kai, "ana", "# mine\ngoal cadence range 165 175 spm\n"
                                  "goal cadence range 150 160 spm\n", false, &reply),
                      CW_EINVAL);
    assert_non_null (strstr (reply->error, "line 3"));
    cw_client_reply_free (&reply);
    assert_int_equal (s_plan_set (f->kai, "ana", "goal pace max 5 min\n", false, &reply),
                      CW_EINVAL);
    assert_non_null (strstr (reply->error, "line 1"));
    cw_client_reply_free (&reply);
}

static int s_coach_views;

static int
s_count_views (void *ctx, const cw_access_record_t *r)
{
    (void) ctx;
    if (r->what == CW_ACCESS_COACH_VIEW) {
        s_coach_views++;
        assert_string_equal (r->actor_name, "coach");
        assert_string_equal (r->purpose, "coach_review");
    }
    return CW_OK;
}

static void
test_coach_sees_only_coach_review (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_accept (f->ana, "kai", true), CW_OK);
    harness_grant (f->h, f->ana_id, "running.*", "coaching");
    /* progress rows and a nudge as the engine leaves them */
    cw_plans_t *plans = NULL;
    cw_plan_t *plan = NULL;
    const char *text = "goal cadence range 165 180 spm\n";
    assert_int_equal (cw_plans_open (&plans, harness_store (f->h)), CW_OK);
    assert_int_equal (cw_plan_parse (text, strlen (text), &plan, NULL), CW_OK);
    uint32_t version = 0;
    assert_int_equal (cw_plans_put (plans, f->ana_id, plan, CW_PLAN_ACTIVE, cw_now_ms (),
                                    &version), CW_OK);
    cw_plan_destroy (&plan);
    uint64_t t = cw_now_ms () - 600000;
    for (int i = 0; i < 5; i++)
        assert_int_equal (cw_plans_progress_add (plans, f->ana_id, version, CW_GOAL_CADENCE,
                                                 t + (uint64_t) i * 60000,
                                                 t + (uint64_t) (i + 1) * 60000,
                                                 i < 3 ? 170.0 : 150.0, NULL), CW_OK);
    cw_plans_destroy (&plans);
    s_put_nudge (f, NULL);

    /* not shared for coach_review: no points, no cadence in the nudge */
    Coachwire__ApiReply *reply = NULL;
    assert_int_equal (s_progress (f->kai, "ana", &reply), CW_OK);
    assert_int_equal (reply->progress->n_goals, 1);
    assert_true (reply->progress->goals [0]->hidden);
    assert_int_equal (reply->progress->goals [0]->n_points, 0);
    cw_client_reply_free (&reply);
    assert_int_equal (s_nudges (f->kai, "ana", &reply), CW_OK);
    assert_int_equal (reply->nudges->n_nudges, 1);
    Coachwire__NudgeEntry *e = reply->nudges->nudges [0];
    assert_int_equal (e->n_hidden, 1);
    assert_string_equal (e->hidden [0], "running.cadence");
    cw_nudge_t n;
    assert_int_equal (cw_nudge_unpack (e->body.data, e->body.len, &n), CW_OK);
    assert_int_equal (n.n_uses, 0);
    assert_null (strstr (n.message, "150"));
    assert_true (n.why.observed == 0);
    char *shown = NULL;
    assert_int_equal (cw_nudge_text_redacted (&n, (const char *const *) e->hidden, e->n_hidden,
                                              &shown), CW_OK);
    assert_non_null (strstr (shown, "running.cadence  hidden: not shared with your coach"));
    free (shown);
    cw_client_reply_free (&reply);
    /* the person sees their own in full */
    assert_int_equal (s_nudges (f->ana, "", &reply), CW_OK);
    assert_int_equal (reply->nudges->nudges [0]->n_hidden, 0);
    cw_client_reply_free (&reply);

    /* shared: present */
    harness_grant (f->h, f->ana_id, "running.cadence", "coach_review");
    assert_int_equal (s_progress (f->kai, "ana", &reply), CW_OK);
    assert_false (reply->progress->goals [0]->hidden);
    assert_int_equal (reply->progress->goals [0]->n_points, 5);
    assert_int_equal (reply->progress->goals [0]->met, 3);
    assert_int_equal (reply->progress->goals [0]->missed, 2);
    cw_client_reply_free (&reply);
    assert_int_equal (s_nudges (f->kai, "ana", &reply), CW_OK);
    e = reply->nudges->nudges [0];
    assert_int_equal (e->n_hidden, 0);
    assert_int_equal (cw_nudge_unpack (e->body.data, e->body.len, &n), CW_OK);
    assert_int_equal (n.n_uses, 1);
    assert_non_null (strstr (n.message, "150"));
    cw_client_reply_free (&reply);

    /* each of the four coach views is in ana's access log */
    cw_access_log_t *log = NULL;
    assert_int_equal (cw_access_log_open (&log, harness_store (f->h)), CW_OK);
    s_coach_views = 0;
    assert_int_equal (cw_access_log_list (log, f->ana_id, 0, 0, s_count_views, NULL), CW_OK);
    assert_int_equal (s_coach_views, 4);
    cw_access_log_destroy (&log);
}

/*  Running dynamics at cadence spm for `seconds`, ending now, like test_coach.c. */
static void
s_run (device_t *dev, uint64_t *seq, uint32_t seconds, uint32_t cadence_spm)
{
    uint64_t start = cw_now_ms () - (uint64_t) seconds * 1000;
    for (uint32_t s = 0; s < seconds; s += 10) {
        Coachwire__RunningDynamicsBatch r = COACHWIRE__RUNNING_DYNAMICS_BATCH__INIT;
        uint32_t deltas [10], cad [10];
        for (int i = 0; i < 10; i++) {
            deltas [i] = i ? 1000 : 0;
            cad [i] = cadence_spm * 10;
        }
        r.start_time_ms = start + (uint64_t) s * 1000;
        r.n_time_delta_ms = r.n_cadence_spm_x10 = 10;
        r.time_delta_ms = deltas;
        r.cadence_spm_x10 = cad;
        Coachwire__SensorBatch b = COACHWIRE__SENSOR_BATCH__INIT;
        b.body_case = COACHWIRE__SENSOR_BATCH__BODY_RUNNING;
        b.running = &r;
        device_send_batch (dev, &b, 4, ++*seq);
    }
}

static Coachwire__Downlink *
s_wait_nudge (device_t *dev, int timeout_ms)
{
    uint64_t until = cw_now_ms () + (uint64_t) timeout_ms;
    while (cw_now_ms () < until) {
        Coachwire__Downlink *d = device_recv (dev, (int) (until - cw_now_ms ()) + 1);
        if (!d)
            return NULL;
        if (d->body_case == COACHWIRE__DOWNLINK__BODY_NUDGE)
            return d;
        coachwire__downlink__free_unpacked (d, NULL);
    }
    return NULL;
}

static void
test_plan_set_changes_the_targets (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_accept (f->ana, "kai", true), CW_OK);
    harness_grant (f->h, f->ana_id, "running.*", "coaching");
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__SettingsRequest settings = COACHWIRE__SETTINGS_REQUEST__INIT;
    settings.set_quiet = true;      /* no quiet hours: the outcome must not depend on when */
    req.body_case = COACHWIRE__API_REQUEST__BODY_SETTINGS;
    req.settings = &settings;
    assert_int_equal (s_code (f->ana, &req), CW_OK);
    Coachwire__ApiReply *reply = NULL;
    assert_int_equal (s_plan_set (f->kai, "ana", "goal cadence range 140 150 spm\n", false,
                                  &reply), CW_OK);
    assert_int_equal (reply->plans->changed_version, reply->plans->plans [0]->version);
    assert_string_equal (reply->plans->plans [0]->state, "active");
    cw_client_reply_free (&reply);
    zmq_poll (NULL, 0, 200);        /* the coach actor reloads */
    device_t *dev = device_connect (f->h, f->phone_cred);
    uint64_t seq = 0;
    s_run (dev, &seq, 120, 150);    /* low for the default plan, fine for this one */
    Coachwire__Downlink *d = s_wait_nudge (dev, 2000);
    if (d) {
        cw_nudge_t n;
        assert_int_equal (cw_nudge_unpack (d->nudge->body.data, d->nudge->body.len, &n), CW_OK);
        assert_string_not_equal (n.rule, "cadence_low");
        coachwire__downlink__free_unpacked (d, NULL);
    }
    /* and the same run below the new band is nudged */
    s_run (dev, &seq, 120, 130);
    d = s_wait_nudge (dev, 3000);
    if (!d)
        fail_msg ("no nudge below the coach's band");
    cw_nudge_t n;
    assert_int_equal (cw_nudge_unpack (d->nudge->body.data, d->nudge->body.len, &n), CW_OK);
    assert_string_equal (n.rule, "cadence_low");
    assert_true (n.why.target_lo > 139.9 && n.why.target_lo < 140.1);
    coachwire__downlink__free_unpacked (d, NULL);
    device_destroy (&dev);
}

static void
test_progression_reviewed_and_approved (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_accept (f->ana, "kai", true), CW_OK);
    Coachwire__ApiReply *reply = NULL;
    assert_int_equal (s_plan_set (f->kai, "ana", "goal cadence range 160 170 spm\n", false,
                                  &reply), CW_OK);
    uint32_t v1 = reply->plans->changed_version;
    cw_client_reply_free (&reply);
    /* the evidence: every window met; the engine proposes */
    cw_plans_t *plans = NULL;
    assert_int_equal (cw_plans_open (&plans, harness_store (f->h)), CW_OK);
    uint64_t t = cw_now_ms () - 600000;
    for (int i = 0; i < 5; i++)
        assert_int_equal (cw_plans_progress_add (plans, f->ana_id, v1, CW_GOAL_CADENCE,
                                                 t + (uint64_t) i * 60000,
                                                 t + (uint64_t) (i + 1) * 60000, 165, NULL),
                          CW_OK);
    bool proposed = false;
    uint32_t v2 = 0;
    assert_int_equal (cw_plans_propose_progression (plans, f->ana_id, CW_GOAL_CADENCE, 5,
                                                    cw_now_ms (), &proposed, &v2), CW_OK);
    assert_true (proposed);
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__PlanReviewRequest review = COACHWIRE__PLAN_REVIEW_REQUEST__INIT;
    review.user = (char *) "ana";
    req.body_case = COACHWIRE__API_REQUEST__BODY_PLAN_REVIEW;
    req.plan_review = &review;
    assert_int_equal (s_call (f->kai, &req, &reply), CW_OK);
    assert_int_equal (reply->plans->n_plans, 1);
    assert_int_equal (reply->plans->plans [0]->version, v2);
    assert_string_equal (reply->plans->plans [0]->state, "proposed");
    cw_client_reply_free (&reply);
    /* approving the active one is refused; approving the proposal activates it */
    review.approve = v1;
    assert_int_equal (s_call (f->kai, &req, &reply), CW_ESTATE);
    cw_client_reply_free (&reply);
    review.approve = v2;
    assert_int_equal (s_call (f->kai, &req, &reply), CW_OK);
    assert_int_equal (reply->plans->n_plans, 0);
    cw_client_reply_free (&reply);
    cw_plan_t *active = NULL;
    assert_int_equal (cw_plans_active (plans, f->ana_id, &active), CW_OK);
    assert_int_equal (cw_plan_version (active), v2);
    assert_true (cw_plan_goal_of (active, CW_GOAL_CADENCE)->lo > 160);
    cw_plan_destroy (&active);
    cw_plans_destroy (&plans);
}

static void
test_edge_stores_acks_and_feedback_counts (void **state)
{
    fixture_t *f = *state;
    assert_int_equal (s_accept (f->ana, "kai", true), CW_OK);
    uint8_t id [CW_ID_BYTES];
    s_put_nudge (f, id);            /* pending: ana's phone is offline */
    char hex [2 * CW_ID_BYTES + 1];
    cw_hex_encode (hex, id, CW_ID_BYTES);
    char cred_path [256], queue_path [256];
    snprintf (cred_path, sizeof cred_path, "%s/phone.cred", harness_dir (f->h));
    snprintf (queue_path, sizeof queue_path, "%s/phone.queue", harness_dir (f->h));
    assert_int_equal (cw_cred_save (f->phone_cred, cred_path), CW_OK);
    cw_edge_t *edge = NULL;
    assert_int_equal (cw_edge_new (&edge, cred_path, queue_path, NULL), CW_OK);
    /* bad input first */
    assert_int_equal (cw_edge_nudge_feedback (edge, hex, 7), CW_EINVAL);
    assert_int_equal (cw_edge_nudge_feedback (edge, "xyz", 3), CW_EINVAL);
    assert_int_equal (cw_edge_nudge_feedback (edge, hex, 3), CW_ENOENT);   /* not here yet */
    /* the phone says hello; the waiting nudge arrives, is stored and acknowledged */
    assert_int_equal (cw_edge_announce (edge), CW_OK);
    cw_nudges_t *nudges = NULL;
    assert_int_equal (cw_nudges_open (&nudges, harness_store (f->h)), CW_OK);
    cw_nudge_t n;
    for (int i = 0; i < 50; i++) {
        assert_int_equal (cw_edge_pump (edge, 100), CW_OK);
        assert_int_equal (cw_nudges_get (nudges, id, &n), CW_OK);
        if (n.state == CW_NUDGE_ACKED)
            break;
    }
    assert_int_equal (n.state, CW_NUDGE_ACKED);
    assert_int_equal (cw_edge_nudge_feedback (edge, hex, CW_EDGE_REACTION_HELPFUL), CW_OK);
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__EffectivenessRequest eff = COACHWIRE__EFFECTIVENESS_REQUEST__INIT;
    eff.user = (char *) "";
    req.body_case = COACHWIRE__API_REQUEST__BODY_COACH_EFFECTIVENESS;
    req.coach_effectiveness = &eff;
    Coachwire__ApiReply *reply = NULL;
    uint64_t helpful = 0;
    for (int i = 0; i < 50 && !helpful; i++) {
        assert_int_equal (cw_edge_pump (edge, 100), CW_OK);
        assert_int_equal (s_call (f->kai, &req, &reply), CW_OK);
        assert_int_equal (reply->coach_effectiveness->people, 1);
        assert_int_equal (reply->coach_effectiveness->n_rules, 1);
        assert_string_equal (reply->coach_effectiveness->rules [0]->rule, "cadence_low");
        helpful = reply->coach_effectiveness->rules [0]->helpful;
        cw_client_reply_free (&reply);
    }
    assert_int_equal (helpful, 1);
    cw_nudges_destroy (&nudges);
    cw_edge_destroy (&edge);

    /* erasure takes the nudges and plans with it */
    Coachwire__DataEraseRequest erase = COACHWIRE__DATA_ERASE_REQUEST__INIT;
    req.body_case = COACHWIRE__API_REQUEST__BODY_DATA_ERASE;
    req.data_erase = &erase;
    assert_int_equal (s_code (f->ana, &req), CW_OK);
    assert_int_equal (cw_nudges_open (&nudges, harness_store (f->h)), CW_OK);
    assert_int_equal (cw_nudges_get (nudges, id, &n), CW_ENOENT);
    cw_nudges_destroy (&nudges);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_others_refused, setup, teardown),
        cmocka_unit_test_setup_teardown (test_broken_plan_refused_with_line, setup, teardown),
        cmocka_unit_test_setup_teardown (test_coach_sees_only_coach_review, setup, teardown),
        cmocka_unit_test_setup_teardown (test_plan_set_changes_the_targets, setup, teardown),
        cmocka_unit_test_setup_teardown (test_progression_reviewed_and_approved, setup,
                                         teardown),
        cmocka_unit_test_setup_teardown (test_edge_stores_acks_and_feedback_counts, setup,
                                         teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
