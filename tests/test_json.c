/*  test_json.c - the JSON writer: escaping, nesting, misuse and the size cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "coachwire/cw_error.h"
#include "coachwire/cw_json.h"

static void
test_document (void **state)
{
    (void) state;
    cw_json_t *json = NULL;
    assert_int_equal (cw_json_new (&json, 0), CW_OK);
    cw_json_object_begin (json, NULL);
    assert_null (cw_json_text (json, NULL));       /* not finished */
    cw_json_bool (json, "ok", true);
    cw_json_string (json, "name", "a\"b\\c\n\x01\xe3\x81\x82");
    cw_json_int (json, "code", -40);
    cw_json_uint (json, "big", UINT64_MAX);
    cw_json_string (json, "nothing", NULL);
    cw_json_array_begin (json, "list");
    cw_json_uint (json, NULL, 1);
    cw_json_object_begin (json, NULL);
    cw_json_object_end (json);
    cw_json_null (json, NULL);
    cw_json_array_end (json);
    cw_json_object_end (json);
    size_t len = 0;
    const char *text = cw_json_text (json, &len);
    assert_non_null (text);
    assert_string_equal (text, "{\"ok\":true,\"name\":\"a\\\"b\\\\c\\n\\u0001\xe3\x81\x82\","
                               "\"code\":-40,\"big\":18446744073709551615,\"nothing\":null,"
                               "\"list\":[1,{},null]}");
    assert_int_equal (len, strlen (text));
    cw_json_destroy (&json);
    cw_json_destroy (&json);
}

static void
test_invalid_utf8_replaced (void **state)
{
    (void) state;
    cw_json_t *json = NULL;
    assert_int_equal (cw_json_new (&json, 0), CW_OK);
    cw_json_string (json, NULL, "x\xff\xc0\xafy\xed\xa0\x80");
    assert_string_equal (cw_json_text (json, NULL),
                         "\"x\\ufffd\\ufffd\\ufffdy\\ufffd\\ufffd\\ufffd\"");
    cw_json_destroy (&json);
}

static void
test_misuse_and_cap (void **state)
{
    (void) state;
    cw_json_t *json = NULL;
    assert_int_equal (cw_json_new (&json, 0), CW_OK);
    cw_json_object_begin (json, NULL);
    cw_json_uint (json, NULL, 1);                   /* no key inside an object */
    cw_json_object_end (json);
    assert_int_equal (cw_json_error (json), CW_ESTATE);
    assert_null (cw_json_text (json, NULL));
    cw_json_destroy (&json);

    assert_int_equal (cw_json_new (&json, 0), CW_OK);
    cw_json_array_begin (json, NULL);
    cw_json_object_end (json);                      /* wrong closer */
    assert_int_equal (cw_json_error (json), CW_ESTATE);
    cw_json_destroy (&json);

    assert_int_equal (cw_json_new (&json, 0), CW_OK);
    cw_json_uint (json, NULL, 1);
    cw_json_uint (json, NULL, 2);                   /* two top-level values */
    assert_int_equal (cw_json_error (json), CW_ESTATE);
    cw_json_destroy (&json);

    assert_int_equal (cw_json_new (&json, 16), CW_OK);
    cw_json_string (json, NULL, "this string is longer than sixteen bytes");
    assert_int_equal (cw_json_error (json), CW_ETOOBIG);
    assert_null (cw_json_text (json, NULL));
    cw_json_destroy (&json);

    assert_int_equal (cw_json_new (&json, 0), CW_OK);
    for (int i = 0; i < CW_JSON_MAX_DEPTH + 1; i++)
        cw_json_array_begin (json, NULL);
    assert_int_equal (cw_json_error (json), CW_ESTATE);
    cw_json_destroy (&json);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_document),
        cmocka_unit_test (test_invalid_utf8_replaced),
        cmocka_unit_test (test_misuse_and_cap),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
