/*  test_strip.c - the consent filter: each field of each stream stripped in turn is gone after
 *  pack/unpack and everything else is intact; nothing granted leaves nothing; a marker value
 *  is absent from the packed bytes; unknown wire fields never survive. Runs every case with
 *  the gateway's capped allocator (which also proves nothing leaks: its budget returns to
 *  zero) and with protobuf-c's default allocator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coachwire/cw_batch.h"
#include "coachwire/cw_catalog.h"
#include "coachwire/cw_error.h"
#include "coachwire/cw_strip.h"

#define START_MS 1714550400000ull

static void *
s_member (const ProtobufCMessage *m, unsigned offset)
{
    return (char *) m + offset;
}

static size_t
s_scalar_size (ProtobufCType type)
{
    switch (type) {
        case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
        case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64: case PROTOBUF_C_TYPE_DOUBLE:
            return 8;
        default:
            return 4;
    }
}

static void
s_put_scalar (void *dst, ProtobufCType type, unsigned k)
{
    if (s_scalar_size (type) == 8) {
        uint64_t v = START_MS + k;
        memcpy (dst, &v, 8);
    }
    else if (type == PROTOBUF_C_TYPE_SINT32 || type == PROTOBUF_C_TYPE_INT32) {
        int32_t v = -(int32_t) (300 + k);
        memcpy (dst, &v, 4);
    }
    else {
        uint32_t v = 300 + k;
        memcpy (dst, &v, 4);
    }
}

/*  Fills every field of m (malloc'd, so free_unpacked with the default allocator frees it):
 *  3 values per array, 2 elements per repeated message, non-zero scalars, non-empty text. */
static void
s_fill (ProtobufCMessage *m, unsigned *seed)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields [i];
        void *dst = s_member (m, fd->offset);
        char text [32];
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = fd->type == PROTOBUF_C_TYPE_MESSAGE ? 2 : 3;
            *(size_t *) s_member (m, fd->quantifier_offset) = n;
            if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
                const ProtobufCMessageDescriptor *sd = fd->descriptor;
                ProtobufCMessage **arr = calloc (n, sizeof *arr);
                for (size_t k = 0; k < n; k++) {
                    arr [k] = calloc (1, sd->sizeof_message);
                    sd->message_init (arr [k]);
                    s_fill (arr [k], seed);
                }
                *(void **) dst = arr;
            }
            else if (fd->type == PROTOBUF_C_TYPE_STRING) {
                char **arr = calloc (n, sizeof *arr);
                for (size_t k = 0; k < n; k++) {
                    snprintf (text, sizeof text, "text %u", (*seed)++);
                    arr [k] = strdup (text);
                }
                *(void **) dst = arr;
            }
            else {
                unsigned char *arr = calloc (n, s_scalar_size (fd->type));
                for (size_t k = 0; k < n; k++)
                    s_put_scalar (arr + k * s_scalar_size (fd->type), fd->type, (*seed)++);
                *(void **) dst = arr;
            }
        }
        else if (fd->type == PROTOBUF_C_TYPE_STRING) {
            snprintf (text, sizeof text, "text %u", (*seed)++);
            *(char **) dst = strdup (text);
        }
        else if (fd->type != PROTOBUF_C_TYPE_MESSAGE && fd->type != PROTOBUF_C_TYPE_BYTES)
            s_put_scalar (dst, fd->type, (*seed)++);
    }
}

/*  A SensorBatch of stream with every field filled, packed into *out (caller frees). */
static size_t
s_full_batch (uint16_t stream, uint8_t **out)
{
    Coachwire__SensorBatch batch = COACHWIRE__SENSOR_BATCH__INIT;
    const ProtobufCFieldDescriptor *fd
        = protobuf_c_message_descriptor_get_field (&coachwire__sensor_batch__descriptor, stream);
    assert_non_null (fd);
    const ProtobufCMessageDescriptor *sd = fd->descriptor;
    ProtobufCMessage *sub = calloc (1, sd->sizeof_message);
    sd->message_init (sub);
    unsigned seed = 1;
    s_fill (sub, &seed);
    *(ProtobufCMessage **) s_member (&batch.base, fd->offset) = sub;
    batch.body_case = (Coachwire__SensorBatch__BodyCase) stream;
    size_t len = coachwire__sensor_batch__get_packed_size (&batch);
    *out = malloc (len);
    assert_int_equal (coachwire__sensor_batch__pack (&batch, *out), len);
    protobuf_c_message_free_unpacked (sub, NULL);
    return len;
}

static bool
s_has_data (const ProtobufCMessage *m, const ProtobufCFieldDescriptor *fd)
{
    void *p = s_member (m, fd->offset);
    if (fd->label == PROTOBUF_C_LABEL_REPEATED)
        return *(size_t *) s_member (m, fd->quantifier_offset) > 0;
    if (fd->type == PROTOBUF_C_TYPE_STRING)
        return *(char **) p && **(char **) p;
    if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(void **) p != NULL;
    static const unsigned char zero [8];
    return memcmp (p, zero, s_scalar_size (fd->type)) != 0;
}

/*  got equals want except that every field of entry `gone` (NULL: none) must be empty. */
static void
s_compare (const ProtobufCMessage *want, const ProtobufCMessage *got,
           const cw_catalog_entry_t *gone)
{
    const ProtobufCMessageDescriptor *d = want->descriptor;
    assert_ptr_equal (got->descriptor, d);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields [i];
        if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
            && *(uint32_t *) s_member (want, fd->quantifier_offset) != fd->id)
            continue;
        const cw_catalog_entry_t *e = cw_catalog_find_proto (d->name, fd->id);
        if (e && e == gone) {
            if (s_has_data (got, fd))
                fail_msg ("%s.%s still carries data after stripping %s", d->name, fd->name,
                          gone->name);
            continue;
        }
        void *a = s_member (want, fd->offset);
        void *b = s_member (got, fd->offset);
        if (fd->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t na = *(size_t *) s_member (want, fd->quantifier_offset);
            size_t nb = *(size_t *) s_member (got, fd->quantifier_offset);
            if (na != nb)
                fail_msg ("%s.%s: %zu values, expected %zu", d->name, fd->name, nb, na);
            for (size_t k = 0; k < na; k++) {
                if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
                    s_compare ((*(ProtobufCMessage ***) a) [k], (*(ProtobufCMessage ***) b) [k],
                               gone);
                else if (fd->type == PROTOBUF_C_TYPE_STRING)
                    assert_string_equal ((*(char ***) a) [k], (*(char ***) b) [k]);
                else
                    assert_memory_equal (*(char **) a + k * s_scalar_size (fd->type),
                                         *(char **) b + k * s_scalar_size (fd->type),
                                         s_scalar_size (fd->type));
            }
        }
        else if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
            assert_true ((*(void **) a == NULL) == (*(void **) b == NULL));
            if (*(void **) a)
                s_compare (*(ProtobufCMessage **) a, *(ProtobufCMessage **) b, gone);
        }
        else if (fd->type == PROTOBUF_C_TYPE_STRING)
            assert_string_equal (*(char **) a, *(char **) b);
        else if (memcmp (a, b, s_scalar_size (fd->type)) != 0)
            fail_msg ("%s.%s changed though %s was stripped", d->name, fd->name,
                      gone ? gone->name : "nothing");
    }
}

/*  Unpack (capped or default allocator), strip, pack; returns the packed bytes. */
static uint8_t *
s_strip_bytes (const uint8_t *data, size_t len, uint64_t keep, bool capped,
               cw_strip_result_t *r, size_t *out_len)
{
    cw_pb_alloc_t alloc;
    cw_pb_alloc_init (&alloc, 1u << 20);
    ProtobufCAllocator *a = capped ? &alloc.base : NULL;
    Coachwire__SensorBatch *b = coachwire__sensor_batch__unpack (a, len, data);
    assert_non_null (b);
    assert_int_equal (cw_strip_batch (b, keep, a, r), CW_OK);
    *out_len = coachwire__sensor_batch__get_packed_size (b);
    uint8_t *out = malloc (*out_len + 1);
    assert_int_equal (coachwire__sensor_batch__pack (b, out), *out_len);
    coachwire__sensor_batch__free_unpacked (b, a);
    if (capped)
        assert_int_equal (alloc.used, 0);   /* everything strip freed was ours, and once */
    return out;
}

static uint64_t
s_stream_mask (uint16_t stream, bool structural_only)
{
    size_t count = 0;
    const cw_catalog_entry_t *all = cw_catalog_entries (&count);
    uint64_t m = 0;
    for (size_t i = 0; i < count; i++)
        if (all [i].stream == stream && (!structural_only || all [i].structural))
            m |= 1ull << i;
    return m;
}

static bool
s_contains (const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp (hay + i, needle, m) == 0)
            return true;
    return false;
}

/* ---- negative first ------------------------------------------------------------------- */

static void
test_bad_arguments (void **state)
{
    (void) state;
    cw_strip_result_t r;
    Coachwire__SensorBatch b = COACHWIRE__SENSOR_BATCH__INIT;
    assert_int_equal (cw_strip_batch (NULL, 0, NULL, &r), CW_EINVAL);
    assert_int_equal (cw_strip_batch (&b, 0, NULL, NULL), CW_EINVAL);
    assert_int_equal (cw_strip_batch (&b, 0, NULL, &r), CW_ESTREAM);
    Coachwire__HeartRateBatch hr = COACHWIRE__HEART_RATE_BATCH__INIT;
    assert_int_equal (cw_strip_batch ((Coachwire__SensorBatch *) (void *) &hr, 0, NULL, &r),
                      CW_EINVAL);
}

static void
test_nothing_granted_leaves_nothing (void **state)
{
    (void) state;
    for (uint16_t stream = 1; stream <= 6; stream++)
        for (int capped = 0; capped < 2; capped++) {
            uint8_t *data = NULL;
            size_t len = s_full_batch (stream, &data);
            cw_strip_result_t r;
            size_t out_len = 0;
            uint8_t *out = s_strip_bytes (data, len, 0, capped, &r, &out_len);
            assert_true (r.empty);
            assert_int_equal (r.kept_mask, 0);
            assert_int_equal (r.stripped_mask, s_stream_mask (stream, false));
            assert_int_equal (out_len, 2);  /* the stream's tag and an empty message */
            assert_int_equal (out [0], (uint8_t) (stream << 3 | 2));
            assert_int_equal (out [1], 0);
            free (out);
            free (data);
        }
}

static void
test_each_field_stripped_alone (void **state)
{
    (void) state;
    size_t count = 0;
    const cw_catalog_entry_t *all = cw_catalog_entries (&count);
    for (size_t i = 0; i < count; i++)
        for (int capped = 0; capped < 2; capped++) {
            uint8_t *data = NULL;
            size_t len = s_full_batch (all [i].stream, &data);
            cw_strip_result_t r;
            size_t out_len = 0;
            uint8_t *out = s_strip_bytes (data, len, ~(1ull << i), capped, &r, &out_len);
            uint64_t others = s_stream_mask (all [i].stream, false)
                              & ~s_stream_mask (all [i].stream, true) & ~(1ull << i);
            if (!all [i].structural && !others) {
                /* the stream's only field (weight): nothing is left, timing goes too */
                assert_true (r.empty);
                assert_int_equal (out_len, 2);
                free (out);
                free (data);
                continue;
            }
            assert_false (r.empty);
            Coachwire__SensorBatch *want = coachwire__sensor_batch__unpack (NULL, len, data);
            Coachwire__SensorBatch *got = coachwire__sensor_batch__unpack (NULL, out_len, out);
            assert_non_null (want);
            assert_non_null (got);
            if (all [i].structural) {
                /* timing is kept while anything it gives meaning to is kept */
                assert_int_equal (r.stripped_mask, 0);
                s_compare (&want->base, &got->base, NULL);
            }
            else {
                assert_int_equal (r.stripped_mask, 1ull << i);
                assert_int_equal (r.stripped, 1);
                s_compare (&want->base, &got->base, &all [i]);
            }
            coachwire__sensor_batch__free_unpacked (want, NULL);
            coachwire__sensor_batch__free_unpacked (got, NULL);
            free (out);
            free (data);
        }
}

static void
test_timing_alone_is_not_kept (void **state)
{
    (void) state;
    for (uint16_t stream = 1; stream <= 6; stream++) {
        uint8_t *data = NULL;
        size_t len = s_full_batch (stream, &data);
        cw_strip_result_t r;
        size_t out_len = 0;
        uint8_t *out = s_strip_bytes (data, len, s_stream_mask (stream, true), true, &r,
                                      &out_len);
        assert_true (r.empty);
        assert_int_equal (out_len, 2);
        free (out);
        free (data);
    }
}

static void
test_marker_value_absent_from_packed_bytes (void **state)
{
    (void) state;
    uint32_t deltas [] = { 0, 1000, 1000, 1000 };
    uint32_t bpm [] = { 150, 187, 160, 155 };
    uint32_t rr [] = { 800, 790, 810 };
    Coachwire__HeartRateBatch hr = COACHWIRE__HEART_RATE_BATCH__INIT;
    hr.start_time_ms = START_MS;
    hr.n_time_delta_ms = 4;
    hr.time_delta_ms = deltas;
    hr.n_bpm = 4;
    hr.bpm = bpm;
    hr.n_rr_interval_ms = 3;
    hr.rr_interval_ms = rr;
    Coachwire__SensorBatch b = COACHWIRE__SENSOR_BATCH__INIT;
    b.body_case = COACHWIRE__SENSOR_BATCH__BODY_HEART_RATE;
    b.heart_rate = &hr;
    uint8_t data [256];
    size_t len = coachwire__sensor_batch__pack (&b, data);
    const uint8_t marker [] = { 0xbb, 0x01 };      /* varint 187 */
    assert_true (s_contains (data, len, marker, sizeof marker));
    int bit = cw_catalog_index (cw_catalog_find ("heart_rate.bpm"));
    for (int capped = 0; capped < 2; capped++) {
        cw_strip_result_t r;
        size_t out_len = 0;
        uint8_t *out = s_strip_bytes (data, len, ~(1ull << bit), capped, &r, &out_len);
        assert_false (s_contains (out, out_len, marker, sizeof marker));
        Coachwire__SensorBatch *got = coachwire__sensor_batch__unpack (NULL, out_len, out);
        assert_int_equal (got->heart_rate->n_bpm, 0);
        assert_int_equal (got->heart_rate->n_rr_interval_ms, 3);
        assert_int_equal (got->heart_rate->n_time_delta_ms, 4);
        assert_int_equal (got->heart_rate->start_time_ms, START_MS);
        coachwire__sensor_batch__free_unpacked (got, NULL);
        free (out);
        /* and with rr not granted either, the timing goes too */
        int rr_bit = cw_catalog_index (cw_catalog_find ("heart_rate.rr_interval"));
        out = s_strip_bytes (data, len, ~(1ull << bit | 1ull << rr_bit), capped, &r, &out_len);
        assert_true (r.empty);
        assert_int_equal (out_len, 2);
        free (out);
    }
}

static void
test_unknown_wire_fields_never_survive (void **state)
{
    (void) state;
    uint32_t w [] = { 70500 };
    uint32_t d [] = { 0 };
    Coachwire__BodyWeightBatch wb = COACHWIRE__BODY_WEIGHT_BATCH__INIT;
    wb.start_time_ms = START_MS;
    wb.n_time_delta_ms = 1;
    wb.time_delta_ms = d;
    wb.n_weight_g = 1;
    wb.weight_g = w;
    uint8_t inner [128];
    size_t n = coachwire__body_weight_batch__pack (&wb, inner);
    /* field 15 (bytes "SECRET") smuggled inside the weight batch, field 14 outside */
    const uint8_t smuggled [] = { 15 << 3 | 2, 6, 'S', 'E', 'C', 'R', 'E', 'T' };
    memcpy (inner + n, smuggled, sizeof smuggled);
    n += sizeof smuggled;
    uint8_t data [256];
    size_t len = 0;
    data [len++] = 6 << 3 | 2;
    data [len++] = (uint8_t) n;
    memcpy (data + len, inner, n);
    len += n;
    const uint8_t outer [] = { 14 << 3 | 0, 0x2a };
    memcpy (data + len, outer, sizeof outer);
    len += sizeof outer;
    for (int capped = 0; capped < 2; capped++) {
        cw_strip_result_t r;
        size_t out_len = 0;
        uint8_t *out = s_strip_bytes (data, len, UINT64_MAX, capped, &r, &out_len);
        assert_int_equal (r.unknown_dropped, 2);
        assert_false (r.empty);
        assert_false (s_contains (out, out_len, (const uint8_t *) "SECRET", 6));
        assert_int_equal (out_len, len - sizeof smuggled - sizeof outer);
        free (out);
    }
}

static void
test_meal_entries_filtered_one_by_one (void **state)
{
    (void) state;
    Coachwire__MealEntry e0 = COACHWIRE__MEAL_ENTRY__INIT;
    Coachwire__MealEntry e1 = COACHWIRE__MEAL_ENTRY__INIT;
    Coachwire__MealEntry e2 = COACHWIRE__MEAL_ENTRY__INIT;
    e0.time_ms = START_MS;
    e0.energy_kcal = 420;
    e1.time_ms = START_MS + 1;
    e1.item = (char *) "porridge";
    e1.amount = (char *) "1 bowl";
    e2.time_ms = START_MS + 2;
    e2.item = (char *) "apple";
    e2.energy_kcal = 80;
    Coachwire__MealEntry *entries [] = { &e0, &e1, &e2 };
    Coachwire__MealBatch mb = COACHWIRE__MEAL_BATCH__INIT;
    mb.n_entries = 3;
    mb.entries = entries;
    Coachwire__SensorBatch b = COACHWIRE__SENSOR_BATCH__INIT;
    b.body_case = COACHWIRE__SENSOR_BATCH__BODY_MEAL;
    b.meal = &mb;
    uint8_t data [512];
    size_t len = coachwire__sensor_batch__pack (&b, data);
    int energy = cw_catalog_index (cw_catalog_find ("meal.energy"));
    for (int capped = 0; capped < 2; capped++) {
        cw_strip_result_t r;
        size_t out_len = 0;
        uint8_t *out = s_strip_bytes (data, len, 1ull << energy, capped, &r, &out_len);
        assert_false (r.empty);
        assert_int_equal (r.stripped_mask,
                          1ull << cw_catalog_index (cw_catalog_find ("meal.items"))
                          | 1ull << cw_catalog_index (cw_catalog_find ("meal.time")));
        assert_false (s_contains (out, out_len, (const uint8_t *) "porridge", 8));
        assert_false (s_contains (out, out_len, (const uint8_t *) "apple", 5));
        Coachwire__SensorBatch *got = coachwire__sensor_batch__unpack (NULL, out_len, out);
        assert_int_equal (got->meal->n_entries, 2);   /* the entry with only text is gone */
        assert_int_equal (got->meal->entries [0]->energy_kcal, 420);
        assert_int_equal (got->meal->entries [0]->time_ms, START_MS);
        assert_int_equal (got->meal->entries [1]->energy_kcal, 80);
        assert_int_equal (got->meal->entries [1]->time_ms, START_MS + 2);
        assert_string_equal (got->meal->entries [1]->item, "");
        coachwire__sensor_batch__free_unpacked (got, NULL);
        free (out);
    }
    /* stripping in place on a batch that was never packed: strings go back to the shared
       empty string and free_unpacked of the capped allocator balances */
    cw_pb_alloc_t alloc;
    cw_pb_alloc_init (&alloc, 1u << 20);
    Coachwire__SensorBatch *u = coachwire__sensor_batch__unpack (&alloc.base, len, data);
    cw_strip_result_t r;
    int items = cw_catalog_index (cw_catalog_find ("meal.items"));
    assert_int_equal (cw_strip_batch (u, ~(1ull << items), &alloc.base, &r), CW_OK);
    assert_ptr_equal (u->meal->entries [1]->item, protobuf_c_empty_string);
    assert_ptr_equal (u->meal->entries [1]->amount, protobuf_c_empty_string);
    assert_int_equal (u->meal->n_entries, 2);
    /* a second strip of the same batch is harmless */
    assert_int_equal (cw_strip_batch (u, ~(1ull << items), &alloc.base, &r), CW_OK);
    assert_int_equal (r.stripped, 0);
    coachwire__sensor_batch__free_unpacked (u, &alloc.base);
    assert_int_equal (alloc.used, 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_bad_arguments),
        cmocka_unit_test (test_nothing_granted_leaves_nothing),
        cmocka_unit_test (test_timing_alone_is_not_kept),
        cmocka_unit_test (test_marker_value_absent_from_packed_bytes),
        cmocka_unit_test (test_unknown_wire_fields_never_survive),
        cmocka_unit_test (test_each_field_stripped_alone),
        cmocka_unit_test (test_meal_entries_filtered_one_by_one),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
