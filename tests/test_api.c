/*  test_api.c - the api actor and client, in process: ZAP + api actor on 127.0.0.1.
 *
 *  Negative cases first: an unknown key gets no answer, a person may not add users, garbage
 *  and over-size requests are refused while the actor serves on, bad arguments get a clear
 *  code. Then the operator's commands end to end: user add, device enroll, list, revoke,
 *  stats. Doubles as the usage example of cw_client and cw_api.
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
#include <unistd.h>
#include <zmq.h>

#include "coachwire/cw_api.h"
#include "coachwire/cw_client.h"
#include "coachwire/cw_cred.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_keyring.h"
#include "coachwire/cw_pb.h"
#include "coachwire/cw_server.h"
#include "coachwire/cw_store.h"
#include "coachwire/cw_zap.h"

#define S_TIMEOUT_MS 5000
#define S_SHORT_MS 600

static struct {
    char dir [64];
    cw_keyring_t *keyring;
    cw_store_t *store;                  /* the test's own connection, to check results */
    cw_server_config_t config;
    cw_zap_t *zap;
    cw_api_t *api;
    void *control;                      /* PULL standing in for the gateway's control socket */
    cw_cred_t *operator_cred;
    cw_client_t *operator_client;
    char ben_device [2 * CW_ID_BYTES + 1];
} s;

/*  A credential for a principal added straight into the store (no api involved). */
static cw_cred_t *
s_principal_cred (cw_principal_kind_t kind, const char *name, bool enroll)
{
    cw_principal_t p;
    memset (&p, 0, sizeof p);
    p.kind = kind;
    snprintf (p.name, sizeof p.name, "%s", name);
    snprintf (p.locale, sizeof p.locale, "en");
    snprintf (p.time_zone, sizeof p.time_zone, "UTC");
    uint8_t secret [32];
    crypto_box_keypair (p.public_key, secret);
    if (enroll)
        assert_int_equal (cw_store_principal_add (s.store, &p), CW_OK);
    else
        randombytes_buf (p.id, sizeof p.id);
    cw_cred_t *cred = NULL;
    assert_int_equal (cw_cred_new (&cred, (cw_cred_kind_t) kind, p.id, name, p.public_key,
                                   secret, cw_keyring_server_public (s.keyring), "",
                                   cw_api_endpoint (s.api)), CW_OK);
    sodium_memzero (secret, sizeof secret);
    return cred;
}

static cw_client_t *
s_client (const cw_cred_t *cred)
{
    cw_client_t *client = NULL;
    assert_int_equal (cw_client_new (&client, cred, cw_api_endpoint (s.api)), CW_OK);
    return client;
}

/*  One call; asserts the transport worked and returns the reply's code. */
static int
s_call (cw_client_t *client, Coachwire__ApiRequest *req, Coachwire__ApiReply **reply)
{
    int rc = cw_client_call (client, req, reply, S_TIMEOUT_MS);
    if (rc != CW_OK)
        fprintf (stderr, "call failed: %s: %s\n", cw_errname (rc), cw_client_hint (client));
    assert_int_equal (rc, CW_OK);
    assert_non_null (*reply);
    assert_int_equal ((*reply)->request_id, req->request_id);
    assert_non_null ((*reply)->error);
    assert_true (strlen ((*reply)->error) > 0);     /* always a sentence */
    return (*reply)->code;
}

static int
s_user_add (cw_client_t *client, const char *name, const char *locale, const char *zone,
            Coachwire__ApiReply **reply)
{
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__UserAddRequest body = COACHWIRE__USER_ADD_REQUEST__INIT;
    body.name = (char *) name;
    body.locale = (char *) locale;
    body.time_zone = (char *) zone;
    req.body_case = COACHWIRE__API_REQUEST__BODY_USER_ADD;
    req.user_add = &body;
    return s_call (client, &req, reply);
}

static int
s_simple (cw_client_t *client, Coachwire__ApiRequest__BodyCase which, const char *arg,
          Coachwire__ApiReply **reply)
{
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__StatsRequest stats = COACHWIRE__STATS_REQUEST__INIT;
    Coachwire__UserListRequest users = COACHWIRE__USER_LIST_REQUEST__INIT;
    Coachwire__DeviceListRequest devices = COACHWIRE__DEVICE_LIST_REQUEST__INIT;
    Coachwire__DeviceRevokeRequest revoke = COACHWIRE__DEVICE_REVOKE_REQUEST__INIT;
    Coachwire__DeviceEnrollRequest enroll = COACHWIRE__DEVICE_ENROLL_REQUEST__INIT;
    req.body_case = which;
    switch (which) {
        case COACHWIRE__API_REQUEST__BODY_STATS: req.stats = &stats; break;
        case COACHWIRE__API_REQUEST__BODY_USER_LIST: req.user_list = &users; break;
        case COACHWIRE__API_REQUEST__BODY_DEVICE_LIST:
            devices.user = (char *) (arg ? arg : "");
            req.device_list = &devices;
            break;
        case COACHWIRE__API_REQUEST__BODY_DEVICE_REVOKE:
            revoke.device_id = (char *) arg;
            req.device_revoke = &revoke;
            break;
        case COACHWIRE__API_REQUEST__BODY_DEVICE_ENROLL:
            enroll.user = (char *) arg;
            enroll.label = (char *) "phone";
            req.device_enroll = &enroll;
            break;
        default: break;
    }
    return s_call (client, &req, reply);
}

/*  A bare CURVE DEALER with the operator's keys, to send bytes no client would. */
static void *
s_raw_dealer (void *ctx)
{
    void *dealer = zmq_socket (ctx, ZMQ_DEALER);
    assert_non_null (dealer);
    int zero = 0;
    zmq_setsockopt (dealer, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal (zmq_setsockopt (dealer, ZMQ_CURVE_SERVERKEY,
                                      cw_cred_server_key (s.operator_cred), 32), 0);
    assert_int_equal (zmq_setsockopt (dealer, ZMQ_CURVE_PUBLICKEY,
                                      cw_cred_public_key (s.operator_cred), 32), 0);
    assert_int_equal (zmq_setsockopt (dealer, ZMQ_CURVE_SECRETKEY,
                                      cw_cred_secret_key (s.operator_cred), 32), 0);
    assert_int_equal (zmq_connect (dealer, cw_api_endpoint (s.api)), 0);
    return dealer;
}

/*  Receives and decodes one reply on a raw dealer; NULL when none came in timeout_ms. */
static Coachwire__ApiReply *
s_raw_reply (void *dealer, int timeout_ms)
{
    zmq_pollitem_t item = { dealer, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll (&item, 1, timeout_ms) <= 0)
        return NULL;
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    assert_true (zmq_msg_recv (&msg, dealer, 0) >= 0);
    ProtobufCMessage *decoded = NULL;
    assert_int_equal (cw_pb_unpack (&coachwire__api_reply__descriptor,
                                    zmq_msg_data (&msg), zmq_msg_size (&msg),
                                    CW_CLIENT_REPLY_MAX_BYTES, CW_CLIENT_DECODE_BUDGET,
                                    &decoded), CW_OK);
    zmq_msg_close (&msg);
    return (Coachwire__ApiReply *) decoded;
}

static int
s_setup (void **state)
{
    (void) state;
    if (sodium_init () < 0)
        return -1;
    snprintf (s.dir, sizeof s.dir, "/tmp/cw_test_api_XXXXXX");
    if (!mkdtemp (s.dir))
        return -1;
    if (cw_keyring_create (s.dir) != CW_OK || cw_keyring_load (&s.keyring, s.dir) != CW_OK)
        return -1;
    cw_server_config_t *config = &s.config;
    config->zmq_ctx = zmq_ctx_new ();
    snprintf (config->data_dir, sizeof config->data_dir, "%s", s.dir);
    snprintf (config->db_path, sizeof config->db_path, "%s/coachwire.db", s.dir);
    config->keyring = s.keyring;
    snprintf (config->api_bind, sizeof config->api_bind, "tcp://127.0.0.1:*");
    snprintf (config->gateway_public, sizeof config->gateway_public, "tcp://gw.example:7470");
    snprintf (config->api_public, sizeof config->api_public, "tcp://api.example:7471");
    config->start_ms = cw_now_ms ();
    if (cw_store_open (&s.store, config->db_path, true) != CW_OK)
        return -1;
    /* The gateway's control socket, so that revocations can be seen arriving. */
    s.control = zmq_socket (config->zmq_ctx, ZMQ_PULL);
    if (!s.control || zmq_bind (s.control, CW_GATEWAY_CONTROL_ENDPOINT) != 0)
        return -1;
    if (cw_zap_start (&s.zap, config) != CW_OK || cw_api_start (&s.api, config) != CW_OK)
        return -1;
    if (strncmp (cw_api_endpoint (s.api), "tcp://127.0.0.1:", 16) != 0)
        return -1;
    /* The operator, as `coachwired init` would make them, through a credential file. */
    cw_cred_t *made = s_principal_cred (CW_PRINCIPAL_OPERATOR, "root", true);
    char path [128];
    snprintf (path, sizeof path, "%s/operator.cred", s.dir);
    if (cw_cred_save (made, path) != CW_OK
        || cw_cred_load (path, &s.operator_cred, NULL, 0) != CW_OK)
        return -1;
    cw_cred_destroy (&made);
    s.operator_client = s_client (s.operator_cred);
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    cw_client_destroy (&s.operator_client);
    cw_cred_destroy (&s.operator_cred);
    cw_api_destroy (&s.api);
    cw_api_destroy (&s.api);        /* twice is safe */
    cw_zap_destroy (&s.zap);
    if (s.control)
        zmq_close (s.control);
    if (s.config.zmq_ctx)
        zmq_ctx_term (s.config.zmq_ctx);
    cw_store_destroy (&s.store);
    cw_keyring_destroy (&s.keyring);
    char command [128];
    snprintf (command, sizeof command, "rm -rf '%s'", s.dir);
    if (system (command) != 0)
        return -1;
    return 0;
}

/*  The capped decoder refuses what would blow up in memory, and garbage, cleanly. */
static void
test_pb_budget (void **state)
{
    (void) state;
    Coachwire__ApiReply reply = COACHWIRE__API_REPLY__INIT;
    Coachwire__DeviceListReply list = COACHWIRE__DEVICE_LIST_REPLY__INIT;
    Coachwire__DeviceInfo info = COACHWIRE__DEVICE_INFO__INIT;
    Coachwire__DeviceInfo *infos [200];
    for (size_t i = 0; i < 200; i++)
        infos [i] = &info;
    list.devices = infos;
    list.n_devices = 200;
    reply.body_case = COACHWIRE__API_REPLY__BODY_DEVICE_LIST;
    reply.device_list = &list;
    uint8_t packed [4096];
    size_t n = protobuf_c_message_pack (&reply.base, packed);
    assert_true (n < sizeof packed);
    ProtobufCMessage *msg = NULL;
    /* 200 empty devices: ~400 bytes on the wire, far more decoded. */
    assert_int_equal (cw_pb_unpack (&coachwire__api_reply__descriptor, packed, n, n, 4096,
                                    &msg), CW_ETOOBIG);
    assert_null (msg);
    assert_int_equal (cw_pb_unpack (&coachwire__api_reply__descriptor, packed, n, n - 1,
                                    1u << 20, &msg), CW_ETOOBIG);
    assert_int_equal (cw_pb_unpack (&coachwire__api_reply__descriptor, packed, n, n, 1u << 20,
                                    &msg), CW_OK);
    assert_int_equal (((Coachwire__ApiReply *) msg)->device_list->n_devices, 200);
    cw_pb_free (&msg);
    assert_null (msg);
    cw_pb_free (&msg);
    const uint8_t garbage [] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    assert_int_equal (cw_pb_unpack (&coachwire__api_reply__descriptor, garbage,
                                    sizeof garbage, 64, 4096, &msg), CW_EDECODE);
}

/*  A key the service never enrolled is refused in the handshake: no answer at all. */
static void
test_unknown_key_gets_no_answer (void **state)
{
    (void) state;
    cw_cred_t *stranger = s_principal_cred (CW_PRINCIPAL_OPERATOR, "mallory", false);
    cw_client_t *client = s_client (stranger);
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__StatsRequest body = COACHWIRE__STATS_REQUEST__INIT;
    req.body_case = COACHWIRE__API_REQUEST__BODY_STATS;
    req.stats = &body;
    Coachwire__ApiReply *reply = NULL;
    assert_int_equal (cw_client_call (client, &req, &reply, S_SHORT_MS), CW_ETIMEOUT);
    assert_null (reply);
    assert_non_null (strstr (cw_client_hint (client), "no answer from tcp://127.0.0.1:"));
    printf ("# hint: %s\n", cw_client_hint (client));
    cw_client_destroy (&client);
    cw_client_destroy (&client);
    cw_cred_destroy (&stranger);

    /* Nobody listening: the hint says so. */
    assert_int_equal (cw_client_new (&client, s.operator_cred, "tcp://127.0.0.1:1"), CW_OK);
    req.request_id = 0;
    assert_int_equal (cw_client_call (client, &req, &reply, 300), CW_ETIMEOUT);
    assert_non_null (strstr (cw_client_hint (client), "could not connect"));
    cw_client_destroy (&client);
    assert_int_equal (cw_client_new (&client, s.operator_cred, "nonsense://x"), CW_EIO);
    assert_null (client);
}

/*  A person's key is admitted by ZAP, but may not run operator commands. */
static void
test_person_may_not_add_users (void **state)
{
    (void) state;
    cw_cred_t *person = s_principal_cred (CW_PRINCIPAL_USER, "pat", true);
    cw_client_t *client = s_client (person);
    Coachwire__ApiReply *reply = NULL;
    assert_int_equal (s_user_add (client, "eve", "en", "UTC", &reply), CW_EDENIED);
    assert_int_equal (reply->body_case, COACHWIRE__API_REPLY__BODY__NOT_SET);
    printf ("# %s\n", reply->error);
    cw_client_reply_free (&reply);
    assert_int_equal (s_simple (client, COACHWIRE__API_REQUEST__BODY_STATS, NULL, &reply),
                      CW_EDENIED);
    cw_client_reply_free (&reply);
    cw_client_destroy (&client);
    cw_cred_destroy (&person);
    cw_principal_t p;
    assert_int_equal (cw_store_principal_by_name (s.store, CW_PRINCIPAL_USER, "eve", &p),
                      CW_ENOENT);
}

/*  Garbage, a request without a command and a multipart request are answered with
 *  CW_EREQUEST, and the actor serves the next client as if nothing happened. */
static void
test_malformed_request (void **state)
{
    (void) state;
    void *ctx = zmq_ctx_new ();
    void *dealer = s_raw_dealer (ctx);
    const uint8_t garbage [] = { 0xff, 0xff, 0xff, 0xff, 0x07, 0x00, 0x13, 0x37 };
    assert_int_equal (zmq_send (dealer, garbage, sizeof garbage, 0), (int) sizeof garbage);
    Coachwire__ApiReply *reply = s_raw_reply (dealer, S_TIMEOUT_MS);
    assert_non_null (reply);
    assert_int_equal (reply->code, CW_EREQUEST);
    assert_int_equal (reply->request_id, 0);
    printf ("# %s\n", reply->error);
    cw_client_reply_free (&reply);

    /* A valid message naming no command (request_id 7 only). */
    const uint8_t no_command [] = { 0x08, 0x07 };
    assert_int_equal (zmq_send (dealer, no_command, sizeof no_command, 0), 2);
    reply = s_raw_reply (dealer, S_TIMEOUT_MS);
    assert_non_null (reply);
    assert_int_equal (reply->code, CW_EREQUEST);
    assert_int_equal (reply->request_id, 7);
    cw_client_reply_free (&reply);

    /* Two frames. */
    assert_int_equal (zmq_send (dealer, no_command, sizeof no_command, ZMQ_SNDMORE), 2);
    assert_int_equal (zmq_send (dealer, no_command, sizeof no_command, 0), 2);
    reply = s_raw_reply (dealer, S_TIMEOUT_MS);
    assert_non_null (reply);
    assert_int_equal (reply->code, CW_EREQUEST);
    cw_client_reply_free (&reply);

    /* An empty frame. */
    assert_int_equal (zmq_send (dealer, "", 0, 0), 0);
    reply = s_raw_reply (dealer, S_TIMEOUT_MS);
    assert_non_null (reply);
    assert_int_equal (reply->code, CW_EREQUEST);
    cw_client_reply_free (&reply);
    zmq_close (dealer);
    zmq_ctx_term (ctx);

    assert_int_equal (s_simple (s.operator_client, COACHWIRE__API_REQUEST__BODY_STATS, NULL,
                                &reply), CW_OK);
    cw_client_reply_free (&reply);
}

/*  Larger than CW_API_MAX_MSG_BYTES: the client will not send it, and raw bytes that big are
 *  dropped by the server socket (the connection with it); others are served on. */
static void
test_oversize_request_refused (void **state)
{
    (void) state;
    size_t big = CW_API_MAX_MSG_BYTES + 1;
    char *name = malloc (big);
    assert_non_null (name);
    memset (name, 'a', big - 1);
    name [big - 1] = 0;
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__UserAddRequest body = COACHWIRE__USER_ADD_REQUEST__INIT;
    body.name = name;
    req.body_case = COACHWIRE__API_REQUEST__BODY_USER_ADD;
    req.user_add = &body;
    Coachwire__ApiReply *reply = NULL;
    assert_int_equal (cw_client_call (s.operator_client, &req, &reply, S_TIMEOUT_MS),
                      CW_ETOOBIG);
    assert_null (reply);

    void *ctx = zmq_ctx_new ();
    void *dealer = s_raw_dealer (ctx);
    assert_int_equal (zmq_send (dealer, name, big, 0), (int) big);
    assert_null (s_raw_reply (dealer, S_SHORT_MS));
    zmq_close (dealer);
    zmq_ctx_term (ctx);
    free (name);

    /* A long but legal request from the same key still works: name too long -> CW_EINVAL. */
    char long_name [CW_NAME_MAX + 2];
    memset (long_name, 'b', sizeof long_name - 1);
    long_name [sizeof long_name - 1] = 0;
    assert_int_equal (s_user_add (s.operator_client, long_name, "", "", &reply), CW_EINVAL);
    cw_client_reply_free (&reply);
}

static void
test_enroll_unknown_person (void **state)
{
    (void) state;
    Coachwire__ApiReply *reply = NULL;
    assert_int_equal (s_simple (s.operator_client, COACHWIRE__API_REQUEST__BODY_DEVICE_ENROLL,
                                "nobody", &reply), CW_ENOENT);
    assert_non_null (strstr (reply->error, "nobody"));
    cw_client_reply_free (&reply);
    assert_int_equal (s_simple (s.operator_client, COACHWIRE__API_REQUEST__BODY_DEVICE_LIST,
                                "nobody", &reply), CW_ENOENT);
    cw_client_reply_free (&reply);
}

static void
test_bad_arguments (void **state)
{
    (void) state;
    const char *zones [] = { "Mars/Olympus_Mons", "../../../etc/passwd", "/etc/passwd",
                             "Asia/../Asia/Tokyo", "zone.tab", "Asia", "Asia/Tokyo\n" };
    Coachwire__ApiReply *reply = NULL;
    for (size_t i = 0; i < sizeof zones / sizeof zones [0]; i++) {
        assert_int_equal (s_user_add (s.operator_client, "zoe", "en", zones [i], &reply),
                          CW_EINVAL);
        cw_client_reply_free (&reply);
    }
    const char *names [] = { "", " zoe", "zoe ", "zo\ne", "zo\x7f", "\xff\xfe", "zo\xc2\x85" };
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++) {
        assert_int_equal (s_user_add (s.operator_client, names [i], "", "", &reply), CW_EINVAL);
        cw_client_reply_free (&reply);
    }
    assert_int_equal (s_user_add (s.operator_client, "zoe", "fr", "", &reply), CW_EINVAL);
    printf ("# %s\n", reply->error);
    cw_client_reply_free (&reply);
    const char *ids [] = { "", "00", "zz000000000000000000000000000000",
                           "000000000000000000000000000000000" };
    for (size_t i = 0; i < sizeof ids / sizeof ids [0]; i++) {
        assert_int_equal (s_simple (s.operator_client, COACHWIRE__API_REQUEST__BODY_DEVICE_REVOKE,
                                    ids [i], &reply), CW_EINVAL);
        cw_client_reply_free (&reply);
    }
    assert_int_equal (s_simple (s.operator_client, COACHWIRE__API_REQUEST__BODY_DEVICE_REVOKE,
                                "00112233445566778899aabbccddeeff", &reply), CW_ENOENT);
    cw_client_reply_free (&reply);
    cw_principal_t p;
    assert_int_equal (cw_store_principal_by_name (s.store, CW_PRINCIPAL_USER, "zoe", &p),
                      CW_ENOENT);
}

static void
test_user_add (void **state)
{
    (void) state;
    Coachwire__ApiReply *reply = NULL;
    assert_int_equal (s_user_add (s.operator_client, "ben", "ja", "Asia/Tokyo", &reply), CW_OK);
    assert_int_equal (reply->body_case, COACHWIRE__API_REPLY__BODY_CREDENTIAL);
    const char *text = reply->credential->text;
    cw_cred_t *cred = NULL;
    char err [128] = "";
    assert_int_equal (cw_cred_parse (text, strlen (text), &cred, err, sizeof err), CW_OK);
    assert_int_equal (cw_cred_kind (cred), CW_CRED_USER);
    assert_string_equal (cw_cred_name (cred), "ben");
    assert_string_equal (cw_cred_id_hex (cred), reply->credential->id);
    assert_string_equal (cw_cred_endpoint (cred), s.config.gateway_public);
    assert_string_equal (cw_cred_api_endpoint (cred), s.config.api_public);
    assert_int_equal (sodium_memcmp (cw_cred_server_key (cred),
                                     cw_keyring_server_public (s.keyring), 32), 0);
    cw_principal_t p;
    assert_int_equal (cw_store_principal_by_id (s.store, cw_cred_id (cred), &p), CW_OK);
    assert_int_equal (p.kind, CW_PRINCIPAL_USER);
    assert_string_equal (p.name, "ben");
    assert_string_equal (p.locale, "ja");
    assert_string_equal (p.time_zone, "Asia/Tokyo");
    assert_memory_equal (p.public_key, cw_cred_public_key (cred), 32);
    uint8_t wrapped [CW_WRAPPED_KEY_BYTES];
    assert_int_equal (cw_store_person_key_get (s.store, p.id, wrapped), CW_OK);
    uint8_t *key = sodium_malloc (32);
    assert_int_equal (cw_keyring_person_key_unwrap (s.keyring, p.id, wrapped, key), CW_OK);
    sodium_free (key);
    cw_client_reply_free (&reply);
    cw_cred_destroy (&cred);

    /* Defaults, and a duplicate. */
    assert_int_equal (s_user_add (s.operator_client, "carla", "", "", &reply), CW_OK);
    cw_client_reply_free (&reply);
    assert_int_equal (cw_store_principal_by_name (s.store, CW_PRINCIPAL_USER, "carla", &p),
                      CW_OK);
    assert_string_equal (p.locale, "en");
    assert_string_equal (p.time_zone, "UTC");
    assert_int_equal (s_user_add (s.operator_client, "ben", "en", "UTC", &reply), CW_EEXIST);
    printf ("# %s\n", reply->error);
    cw_client_reply_free (&reply);

    assert_int_equal (s_simple (s.operator_client, COACHWIRE__API_REQUEST__BODY_USER_LIST, NULL,
                                &reply), CW_OK);
    assert_int_equal (reply->body_case, COACHWIRE__API_REPLY__BODY_USER_LIST);
    bool found = false;
    for (size_t i = 0; i < reply->user_list->n_users; i++)
        if (strcmp (reply->user_list->users [i]->name, "ben") == 0) {
            found = true;
            assert_string_equal (reply->user_list->users [i]->time_zone, "Asia/Tokyo");
        }
    assert_true (found);
    cw_client_reply_free (&reply);
}

static void
test_device_enroll_list_revoke (void **state)
{
    (void) state;
    Coachwire__ApiReply *reply = NULL;
    assert_int_equal (s_simple (s.operator_client, COACHWIRE__API_REQUEST__BODY_DEVICE_ENROLL,
                                "ben", &reply), CW_OK);
    assert_int_equal (reply->body_case, COACHWIRE__API_REPLY__BODY_CREDENTIAL);
    cw_cred_t *device = NULL;
    assert_int_equal (cw_cred_parse (reply->credential->text, strlen (reply->credential->text),
                                     &device, NULL, 0), CW_OK);
    assert_int_equal (cw_cred_kind (device), CW_CRED_DEVICE);
    assert_string_equal (cw_cred_name (device), "ben");
    snprintf (s.ben_device, sizeof s.ben_device, "%s", cw_cred_id_hex (device));
    cw_client_reply_free (&reply);

    assert_int_equal (s_simple (s.operator_client, COACHWIRE__API_REQUEST__BODY_DEVICE_LIST,
                                "ben", &reply), CW_OK);
    assert_int_equal (reply->device_list->n_devices, 1);
    Coachwire__DeviceInfo *info = reply->device_list->devices [0];
    assert_string_equal (info->device_id, s.ben_device);
    assert_string_equal (info->user, "ben");
    assert_string_equal (info->label, "phone");
    assert_false (info->revoked);
    assert_true (info->enrolled_ms > 0);
    cw_client_reply_free (&reply);
    assert_int_equal (s_simple (s.operator_client, COACHWIRE__API_REQUEST__BODY_DEVICE_LIST,
                                "carla", &reply), CW_OK);
    assert_int_equal (reply->device_list->n_devices, 0);
    cw_client_reply_free (&reply);

    /* The device's key gets into the api (ZAP admits devices) but not to operator commands. */
    cw_client_t *as_device = s_client (device);
    assert_int_equal (s_simple (as_device, COACHWIRE__API_REQUEST__BODY_STATS, NULL, &reply),
                      CW_EDENIED);
    cw_client_reply_free (&reply);

    assert_int_equal (s_simple (s.operator_client, COACHWIRE__API_REQUEST__BODY_DEVICE_REVOKE,
                                s.ben_device, &reply), CW_OK);
    assert_int_equal (reply->body_case, COACHWIRE__API_REPLY__BODY_EMPTY);
    cw_client_reply_free (&reply);
    /* The gateway hears of it at once. */
    uint8_t message [64];
    zmq_pollitem_t item = { s.control, 0, ZMQ_POLLIN, 0 };
    assert_int_equal (zmq_poll (&item, 1, S_TIMEOUT_MS), 1);
    assert_int_equal (zmq_recv (s.control, message, sizeof message, 0), 6 + CW_ID_BYTES);
    assert_memory_equal (message, "revoke", 6);
    assert_memory_equal (message + 6, cw_cred_id (device), CW_ID_BYTES);

    /* Its still-open connection: the api checks the store on every request. */
    assert_int_equal (s_simple (as_device, COACHWIRE__API_REQUEST__BODY_STATS, NULL, &reply),
                      CW_EREVOKED);
    cw_client_reply_free (&reply);
    cw_client_destroy (&as_device);
    /* A new connection with the revoked key is refused in the handshake. */
    as_device = s_client (device);
    Coachwire__ApiRequest req = COACHWIRE__API_REQUEST__INIT;
    Coachwire__StatsRequest stats = COACHWIRE__STATS_REQUEST__INIT;
    req.body_case = COACHWIRE__API_REQUEST__BODY_STATS;
    req.stats = &stats;
    assert_int_equal (cw_client_call (as_device, &req, &reply, S_SHORT_MS), CW_ETIMEOUT);
    cw_client_destroy (&as_device);
    cw_cred_destroy (&device);

    assert_int_equal (s_simple (s.operator_client, COACHWIRE__API_REQUEST__BODY_DEVICE_LIST,
                                NULL, &reply), CW_OK);
    bool found = false;
    for (size_t i = 0; i < reply->device_list->n_devices; i++) {
        info = reply->device_list->devices [i];
        if (strcmp (info->device_id, s.ben_device) == 0) {
            found = true;
            assert_true (info->revoked);
            assert_true (info->revoked_ms >= info->enrolled_ms);
        }
    }
    assert_true (found);
    cw_client_reply_free (&reply);

    assert_int_equal (s_simple (s.operator_client, COACHWIRE__API_REQUEST__BODY_DEVICE_REVOKE,
                                s.ben_device, &reply), CW_ESTATE);
    cw_client_reply_free (&reply);
}

static void
test_stats (void **state)
{
    (void) state;
    cw_principal_t op;
    assert_int_equal (cw_store_principal_by_name (s.store, CW_PRINCIPAL_OPERATOR, "root", &op),
                      CW_OK);
    assert_int_equal (cw_store_begin (s.store), CW_OK);
    assert_int_equal (cw_store_counter_add (s.store, "frames_accepted", 42), CW_OK);
    assert_int_equal (cw_store_commit (s.store), CW_OK);
    Coachwire__ApiReply *reply = NULL;
    assert_int_equal (s_simple (s.operator_client, COACHWIRE__API_REQUEST__BODY_STATS, NULL,
                                &reply), CW_OK);
    assert_int_equal (reply->body_case, COACHWIRE__API_REPLY__BODY_STATS);
    bool found = false;
    for (size_t i = 0; i < reply->stats->n_counters; i++)
        if (strcmp (reply->stats->counters [i]->name, "frames_accepted") == 0) {
            found = true;
            assert_true (reply->stats->counters [i]->value >= 42);
        }
    assert_true (found);
    assert_true (reply->stats->uptime_ms < 10u * 60u * 1000u);
    cw_client_reply_free (&reply);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_pb_budget),
        cmocka_unit_test (test_unknown_key_gets_no_answer),
        cmocka_unit_test (test_person_may_not_add_users),
        cmocka_unit_test (test_malformed_request),
        cmocka_unit_test (test_oversize_request_refused),
        cmocka_unit_test (test_enroll_unknown_person),
        cmocka_unit_test (test_bad_arguments),
        cmocka_unit_test (test_user_add),
        cmocka_unit_test (test_device_enroll_list_revoke),
        cmocka_unit_test (test_stats),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
