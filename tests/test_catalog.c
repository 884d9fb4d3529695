/*  test_catalog.c - no field of the sensor data can go undisclosed: every leaf reachable from
 *  SensorBatch has exactly one catalog entry, and every entry names a real field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "coachwire.pb-c.h"
#include "coachwire/cw_catalog.h"

static int s_leaves;

static void
s_walk (const ProtobufCMessageDescriptor *desc, int depth)
{
    assert_true (depth < 8);
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &desc->fields [i];
        if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
            s_walk (fd->descriptor, depth + 1);
            continue;
        }
        s_leaves++;
        const cw_catalog_entry_t *e = cw_catalog_find_proto (desc->name, fd->id);
        if (!e)
            fail_msg ("field %s.%s (%u) has no catalog entry", desc->name, fd->name, fd->id);
        assert_non_null (e->unit);
        assert_true (strlen (e->description) > 5);
        assert_true (e->sensitivity >= CW_SENSITIVITY_LOW
                     && e->sensitivity <= CW_SENSITIVITY_HIGH);
    }
}

static void
test_every_leaf_field_is_catalogued (void **state)
{
    (void) state;
    s_leaves = 0;
    s_walk (&coachwire__sensor_batch__descriptor, 0);
    assert_true (s_leaves > 30);
}

static const ProtobufCMessageDescriptor *
s_message_by_name (const ProtobufCMessageDescriptor *root, const char *name, int depth)
{
    if (strcmp (root->name, name) == 0)
        return root;
    if (depth > 8)
        return NULL;
    for (unsigned i = 0; i < root->n_fields; i++)
        if (root->fields [i].type == PROTOBUF_C_TYPE_MESSAGE) {
            const ProtobufCMessageDescriptor *d
                = s_message_by_name (root->fields [i].descriptor, name, depth + 1);
            if (d)
                return d;
        }
    return NULL;
}

static void
test_every_entry_names_a_real_field_once (void **state)
{
    (void) state;
    size_t n = 0;
    const cw_catalog_entry_t *all = cw_catalog_entries (&n);
    for (size_t i = 0; i < n; i++) {
        const ProtobufCMessageDescriptor *d
            = s_message_by_name (&coachwire__sensor_batch__descriptor, all [i].message, 0);
        if (!d)
            fail_msg ("%s names unknown message %s", all [i].name, all [i].message);
        assert_non_null (all [i].proto_fields [0]);
        for (size_t f = 0; f < CW_CATALOG_MAX_PROTO_FIELDS && all [i].proto_fields [f]; f++) {
            assert_non_null (protobuf_c_message_descriptor_get_field (d, all [i].proto_fields [f]));
            assert_ptr_equal (cw_catalog_find_proto (all [i].message, all [i].proto_fields [f]),
                              &all [i]);
        }
        assert_ptr_equal (cw_catalog_find (all [i].name), &all [i]);
        /* the name's group is the stream's name */
        const char *group = cw_stream_name (all [i].stream);
        assert_non_null (group);
        assert_int_equal (strncmp (all [i].name, group, strlen (group)), 0);
        assert_int_equal (all [i].name [strlen (group)], '.');
        assert_true (strlen (all [i].name) < CW_FIELD_NAME_MAX);
    }
}

static void
test_patterns (void **state)
{
    (void) state;
    assert_false (cw_catalog_matches ("running.*", "heart_rate.bpm"));
    assert_false (cw_catalog_matches ("running", "running.cadence"));
    assert_false (cw_catalog_matches ("running.cad", "running.cadence"));
    assert_false (cw_catalog_matches (NULL, "running.cadence"));
    assert_true (cw_catalog_matches ("running.*", "running.cadence"));
    assert_true (cw_catalog_matches ("running.cadence", "running.cadence"));
    assert_true (cw_catalog_matches ("*", "meal.items"));
    assert_null (cw_catalog_find ("heart_rate"));
    assert_null (cw_stream_name (0));
    assert_null (cw_stream_name (7));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_patterns),
        cmocka_unit_test (test_every_entry_names_a_real_field_once),
        cmocka_unit_test (test_every_leaf_field_is_catalogued),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
