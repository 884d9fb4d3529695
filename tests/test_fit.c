/*  test_fit.c - the FIT decoder: malformed files first (truncated, bad CRC, impossible
 *  definitions), then crafted corner cases (endianness, developer fields, compressed
 *  timestamps, invalid values), then two real files against golden values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coachwire/cw_error.h"
#include "coachwire/cw_fit.h"
#include "coachwire/cw_import.h"

/*  --- helpers --------------------------------------------------------------------------- */

static uint8_t *
s_load (const char *name, size_t *len)
{
    char path [512];
    snprintf (path, sizeof path, "%s/%s", CW_TEST_DATA, name);
    FILE *f = fopen (path, "rb");
    assert_non_null (f);
    fseek (f, 0, SEEK_END);
    long size = ftell (f);
    assert_true (size > 0);
    fseek (f, 0, SEEK_SET);
    uint8_t *buf = malloc ((size_t) size);
    assert_non_null (buf);
    assert_int_equal (fread (buf, 1, (size_t) size, f), (size_t) size);
    fclose (f);
    *len = (size_t) size;
    return buf;
}

#define MAX_RECORDS 4000
typedef struct {
    size_t count;
    cw_fit_record_t r [MAX_RECORDS];
    size_t rr_count;
    uint16_t rr [20000];
    size_t hrv_calls;
} records_t;

static int
s_on_record (void *ctx, const cw_fit_record_t *r)
{
    records_t *rec = ctx;
    if (rec->count < MAX_RECORDS)
        rec->r [rec->count++] = *r;
    return 0;
}

static int
s_on_hrv (void *ctx, uint32_t ts, const uint16_t *rr, size_t n)
{
    records_t *rec = ctx;
    (void) ts;
    rec->hrv_calls++;
    for (size_t i = 0; i < n && rec->rr_count < 20000; i++)
        rec->rr [rec->rr_count++] = rr [i];
    return 0;
}

static int
s_decode (const uint8_t *data, size_t len, records_t *rec)
{
    cw_fit_t *fit = cw_fit_new ();
    assert_non_null (fit);
    cw_fit_handlers_t h = { s_on_record, s_on_hrv, rec };
    int rc = cw_fit_decode (fit, data, len, rec ? &h : NULL);
    cw_fit_destroy (&fit);
    assert_null (fit);
    cw_fit_destroy (&fit);      /* twice is safe */
    return rc;
}

static size_t s_sink_calls;

static int
s_count_sink (void *ctx, const Coachwire__SensorBatch *batch)
{
    (void) ctx;
    (void) batch;
    s_sink_calls++;
    return 0;
}

/*  A FIT file under construction: 14-byte header, body, CRC. */
typedef struct {
    uint8_t buf [8192];
    size_t len;
} fitb_t;

static void
fb_begin (fitb_t *b)
{
    memset (b, 0, sizeof *b);
    b->len = 14;
}

static void
fb_u8 (fitb_t *b, unsigned v)
{
    assert_true (b->len < sizeof b->buf);
    b->buf [b->len++] = (uint8_t) v;
}

static void
fb_le (fitb_t *b, uint64_t v, int size)
{
    for (int i = 0; i < size; i++)
        fb_u8 (b, i < 8 ? (unsigned) (v >> (8 * i)) & 0xFF : 0);
}

static void
fb_be (fitb_t *b, uint64_t v, int size)
{
    for (int i = size - 1; i >= 0; i--)
        fb_u8 (b, i < 8 ? (unsigned) (v >> (8 * i)) & 0xFF : 0);
}

/*  Definition message: fields as (num, size, base) triples. */
static void
fb_def (fitb_t *b, unsigned local, int big_endian, unsigned global, size_t n,
        const uint8_t (*fields) [3])
{
    fb_u8 (b, 0x40 | local);
    fb_u8 (b, 0);
    fb_u8 (b, big_endian ? 1 : 0);
    if (big_endian)
        fb_be (b, global, 2);
    else
        fb_le (b, global, 2);
    fb_u8 (b, (unsigned) n);
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            fb_u8 (b, fields [i][k]);
}

/*  Writes header and CRC; header_crc 0 means "no CRCs" and the file CRC is left 0 too. */
static size_t
fb_finish (fitb_t *b, int with_crc)
{
    size_t data_size = b->len - 14;
    b->buf [0] = 14;
    b->buf [1] = 0x20;
    b->buf [2] = 0x2D;
    b->buf [3] = 0x08;
    for (int i = 0; i < 4; i++)
        b->buf [4 + i] = (uint8_t) (data_size >> (8 * i));
    memcpy (b->buf + 8, ".FIT", 4);
    uint16_t hcrc = with_crc ? cw_fit_crc16 (0, b->buf, 12) : 0;
    b->buf [12] = (uint8_t) hcrc;
    b->buf [13] = (uint8_t) (hcrc >> 8);
    uint16_t fcrc = with_crc ? cw_fit_crc16 (0, b->buf, b->len) : 0;
    fb_le (b, fcrc, 2);
    return b->len;
}

static const uint8_t s_rec_fields [][3] = {
    { 253, 4, 0x86 },   /* timestamp uint32 */
    { 3, 1, 0x02 },     /* heart_rate uint8 */
    { 6, 2, 0x84 },     /* speed uint16 */
};

/*  --- negative tests -------------------------------------------------------------------- */

static void
test_truncated_every_length (void **state)
{
    (void) state;
    size_t len;
    uint8_t *data = s_load ("garmin-fenix-5-run.fit", &len);
    for (size_t n = 0; n < len; n++) {
        /*  A fresh copy of exactly n bytes so that ASan sees any overread. */
        uint8_t *cut = malloc (n ? n : 1);
        memcpy (cut, data, n);
        assert_int_equal (s_decode (cut, n, NULL), CW_EDECODE);
        if (n < 1200) {
            s_sink_calls = 0;
            cw_import_summary_t sum;
            assert_int_equal (cw_import_buffer (cut, n, NULL, NULL, s_count_sink, NULL, &sum),
                              CW_EDECODE);
            assert_int_equal (s_sink_calls, 0);
        }
        free (cut);
    }
    assert_int_equal (s_decode (data, len, NULL), CW_OK);
    free (data);
}

static void
test_bad_crc (void **state)
{
    (void) state;
    size_t len;
    uint8_t *data = s_load ("garmin-fenix-5-run.fit", &len);
    /*  One flipped bit in a record, in the file CRC, in the header CRC. */
    size_t spots [] = { 100, len / 2, len - 3, len - 1, 12 };
    for (size_t i = 0; i < sizeof spots / sizeof spots [0]; i++) {
        data [spots [i]] ^= 0x10;
        cw_fit_t *fit = cw_fit_new ();
        assert_int_equal (cw_fit_decode (fit, data, len, NULL), CW_EDECODE);
        assert_non_null (strstr (cw_fit_error (fit), "CRC"));
        cw_fit_destroy (&fit);
        s_sink_calls = 0;
        cw_import_summary_t sum;
        assert_int_equal (cw_import_buffer (data, len, NULL, NULL, s_count_sink, NULL, &sum),
                          CW_EDECODE);
        assert_int_equal (s_sink_calls, 0);
        assert_non_null (strstr (sum.first_error, "CRC"));
        data [spots [i]] ^= 0x10;
    }
    free (data);
}

static void
test_not_fit (void **state)
{
    (void) state;
    uint8_t junk [64];
    memset (junk, 0xAB, sizeof junk);
    assert_int_equal (s_decode (junk, sizeof junk, NULL), CW_EDECODE);
    assert_int_equal (s_decode (NULL, 0, NULL), CW_EDECODE);
    /*  Header size other than 12 or 14. */
    fitb_t b;
    fb_begin (&b);
    size_t n = fb_finish (&b, 1);
    b.buf [0] = 13;
    assert_int_equal (s_decode (b.buf, n, NULL), CW_EDECODE);
    /*  Empty but valid file: decodes, and the importer finds no samples. */
    fb_begin (&b);
    n = fb_finish (&b, 1);
    assert_int_equal (s_decode (b.buf, n, NULL), CW_OK);
    cw_import_summary_t sum;
    s_sink_calls = 0;
    assert_int_equal (cw_import_buffer (b.buf, n, NULL, NULL, s_count_sink, NULL, &sum),
                      CW_EDECODE);
    assert_int_equal (s_sink_calls, 0);
}

static void
test_huge_field_count (void **state)
{
    (void) state;
    fitb_t b;
    fb_begin (&b);
    /*  Claims 255 fields but only two follow. */
    fb_u8 (&b, 0x40);
    fb_u8 (&b, 0);
    fb_u8 (&b, 0);
    fb_le (&b, 20, 2);
    fb_u8 (&b, 255);
    fb_u8 (&b, 253); fb_u8 (&b, 4); fb_u8 (&b, 0x86);
    fb_u8 (&b, 3); fb_u8 (&b, 1); fb_u8 (&b, 0x02);
    size_t n = fb_finish (&b, 1);
    assert_int_equal (s_decode (b.buf, n, NULL), CW_EDECODE);

    /*  255 fields of 255 bytes is a legal definition (65 kB messages); its data message is
     *  missing, so the file is truncated. */
    fb_begin (&b);
    fb_u8 (&b, 0x40);
    fb_u8 (&b, 0);
    fb_u8 (&b, 0);
    fb_le (&b, 20, 2);
    fb_u8 (&b, 255);
    for (int i = 0; i < 255; i++) {
        fb_u8 (&b, (unsigned) i);
        fb_u8 (&b, 255);
        fb_u8 (&b, 0x0D);
    }
    fb_u8 (&b, 0x00);
    fb_le (&b, 0, 16);
    n = fb_finish (&b, 1);
    assert_int_equal (s_decode (b.buf, n, NULL), CW_EDECODE);

    /*  Developer field list that runs past the data. */
    fb_begin (&b);
    fb_u8 (&b, 0x60);
    fb_u8 (&b, 0);
    fb_u8 (&b, 0);
    fb_le (&b, 20, 2);
    fb_u8 (&b, 0);
    fb_u8 (&b, 200);
    n = fb_finish (&b, 1);
    assert_int_equal (s_decode (b.buf, n, NULL), CW_EDECODE);
}

static void
test_undefined_local_type (void **state)
{
    (void) state;
    fitb_t b;
    fb_begin (&b);
    fb_def (&b, 0, 0, 20, 3, s_rec_fields);
    fb_u8 (&b, 0x05);           /* data for local type 5: never defined */
    fb_le (&b, 1000, 4);
    fb_u8 (&b, 120);
    fb_le (&b, 3000, 2);
    size_t n = fb_finish (&b, 1);
    cw_fit_t *fit = cw_fit_new ();
    assert_int_equal (cw_fit_decode (fit, b.buf, n, NULL), CW_EDECODE);
    assert_non_null (strstr (cw_fit_error (fit), "undefined local type 5"));
    cw_fit_destroy (&fit);

    /*  Compressed-timestamp header naming an undefined local type (3). */
    fb_begin (&b);
    fb_def (&b, 0, 0, 20, 3, s_rec_fields);
    fb_u8 (&b, 0x00);
    fb_le (&b, 1000, 4);
    fb_u8 (&b, 120);
    fb_le (&b, 3000, 2);
    fb_u8 (&b, 0x80 | (3 << 5) | 9);
    n = fb_finish (&b, 1);
    assert_int_equal (s_decode (b.buf, n, NULL), CW_EDECODE);

    /*  Unknown architecture byte. */
    fb_begin (&b);
    fb_def (&b, 0, 0, 20, 3, s_rec_fields);
    b.buf [14 + 2] = 7;
    n = fb_finish (&b, 1);
    assert_int_equal (s_decode (b.buf, n, NULL), CW_EDECODE);
}

static void
test_field_size_not_multiple (void **state)
{
    (void) state;
    fitb_t b;
    fb_begin (&b);
    /*  heart_rate declared uint16 of 3 bytes; hrv time uint16 array of 5 bytes. */
    static const uint8_t odd [][3] = { { 253, 4, 0x86 }, { 3, 3, 0x84 }, { 6, 2, 0x84 } };
    fb_def (&b, 0, 0, 20, 3, odd);
    fb_u8 (&b, 0x00);
    fb_le (&b, 1000, 4);
    fb_le (&b, 0x787878, 3);
    fb_le (&b, 3000, 2);
    static const uint8_t hrv [][3] = { { 0, 5, 0x84 } };
    fb_def (&b, 1, 0, 78, 1, hrv);
    fb_u8 (&b, 0x01);
    fb_le (&b, 0x0102030405ull, 5);
    size_t n = fb_finish (&b, 1);
    records_t *rec = calloc (1, sizeof *rec);
    assert_int_equal (s_decode (b.buf, n, rec), CW_OK);
    assert_int_equal (rec->count, 1);
    assert_false (rec->r [0].present & CW_FIT_HAS_HEART_RATE);    /* skipped, not misread */
    assert_true (rec->r [0].present & CW_FIT_HAS_SPEED);          /* the next field is intact */
    assert_int_equal (rec->r [0].speed, 3000);
    assert_int_equal (rec->rr_count, 0);
    free (rec);

    /*  A field of size 0 is refused. */
    fb_begin (&b);
    static const uint8_t zero [][3] = { { 253, 0, 0x86 } };
    fb_def (&b, 0, 0, 20, 1, zero);
    n = fb_finish (&b, 1);
    assert_int_equal (s_decode (b.buf, n, NULL), CW_EDECODE);
}

/*  --- crafted corner cases -------------------------------------------------------------- */

static void
test_endianness_devfields_invalid (void **state)
{
    (void) state;
    fitb_t b;
    fb_begin (&b);
    /*  Big-endian record with a developer field (4 bytes) after the normal fields. */
    fb_u8 (&b, 0x40 | 0x20 | 2);
    fb_u8 (&b, 0);
    fb_u8 (&b, 1);
    fb_be (&b, 20, 2);
    fb_u8 (&b, 5);
    const uint8_t f [][3] = { { 253, 4, 0x86 }, { 0, 4, 0x85 }, { 1, 4, 0x85 },
                              { 3, 1, 0x02 }, { 2, 2, 0x84 } };
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 3; k++)
            fb_u8 (&b, f [i][k]);
    fb_u8 (&b, 1);              /* one developer field */
    fb_u8 (&b, 0);
    fb_u8 (&b, 4);
    fb_u8 (&b, 0);
    fb_u8 (&b, 0x02);
    fb_be (&b, 900000000, 4);
    fb_be (&b, (uint32_t) -536870912, 4);     /* -45 degrees */
    fb_be (&b, 268435456, 4);                  /* +22.5 degrees */
    fb_u8 (&b, 0xFF);                          /* heart rate invalid */
    fb_be (&b, 2600, 2);                       /* 20 m */
    fb_be (&b, 0xDEADBEEF, 4);                 /* developer bytes */
    /*  A second record whose timestamp is compressed: offset 5 past 900000000 & 31. */
    uint32_t base = 900000000u;
    unsigned off = (base + 40) & 31u;
    fb_u8 (&b, 0x80 | (2 << 5) | off);
    fb_be (&b, 0xFFFFFFFF, 4);                 /* timestamp field invalid: compressed wins */
    fb_be (&b, 0x7FFFFFFF, 4);                 /* lat invalid */
    fb_be (&b, 0, 4);
    fb_u8 (&b, 150);
    fb_be (&b, 0xFFFF, 2);                     /* altitude invalid */
    fb_be (&b, 1, 4);
    size_t n = fb_finish (&b, 1);

    records_t *rec = calloc (1, sizeof *rec);
    assert_int_equal (s_decode (b.buf, n, rec), CW_OK);
    assert_int_equal (rec->count, 2);
    const cw_fit_record_t *r = &rec->r [0];
    assert_int_equal (r->timestamp, base);
    assert_true (r->present & CW_FIT_HAS_POSITION);
    assert_int_equal (cw_fit_semicircles_to_e7 (r->position_lat), -450000000);
    assert_int_equal (cw_fit_semicircles_to_e7 (r->position_long), 225000000);
    assert_false (r->present & CW_FIT_HAS_HEART_RATE);
    assert_true (r->present & CW_FIT_HAS_ALTITUDE);
    assert_int_equal (r->altitude, 2600);
    r = &rec->r [1];
    /*  The 5-bit offset rolled over: base + 8 (900000000 & 31 = 0 -> base + off). */
    assert_int_equal (r->timestamp, base + ((off - (base & 31u)) & 31u));
    assert_false (r->present & CW_FIT_HAS_POSITION);
    assert_false (r->present & CW_FIT_HAS_ALTITUDE);
    assert_int_equal (r->heart_rate, 150);
    free (rec);
}

static void
test_header_crc_zero_waives (void **state)
{
    (void) state;
    fitb_t b;
    fb_begin (&b);
    fb_def (&b, 0, 0, 20, 3, s_rec_fields);
    fb_u8 (&b, 0x00);
    fb_le (&b, 1000, 4);
    fb_u8 (&b, 120);
    fb_le (&b, 3000, 2);
    size_t n = fb_finish (&b, 0);
    records_t *rec = calloc (1, sizeof *rec);
    assert_int_equal (s_decode (b.buf, n, rec), CW_OK);
    assert_int_equal (rec->count, 1);
    assert_int_equal (rec->r [0].heart_rate, 120);
    free (rec);
}

static void
test_compressed_rollover (void **state)
{
    (void) state;
    fitb_t b;
    fb_begin (&b);
    fb_def (&b, 1, 0, 20, 3, s_rec_fields);
    fb_u8 (&b, 0x01);
    fb_le (&b, 1000 * 32 + 30, 4);      /* low 5 bits 30 */
    fb_u8 (&b, 100);
    fb_le (&b, 1000, 2);
    static const uint8_t nots [][3] = { { 3, 1, 0x02 } };
    fb_def (&b, 2, 0, 20, 1, nots);
    unsigned offs [] = { 31, 1, 1, 4 };   /* +1, +2 (rolls over), +0, +3 */
    for (int i = 0; i < 4; i++) {
        fb_u8 (&b, 0x80 | (2 << 5) | offs [i]);
        fb_u8 (&b, 101 + (unsigned) i);
    }
    fb_u8 (&b, 0x02);       /* normal header, no timestamp: record skipped */
    fb_u8 (&b, 90);
    size_t n = fb_finish (&b, 1);
    records_t *rec = calloc (1, sizeof *rec);
    cw_fit_t *fit = cw_fit_new ();
    cw_fit_handlers_t h = { s_on_record, s_on_hrv, rec };
    assert_int_equal (cw_fit_decode (fit, b.buf, n, &h), CW_OK);
    assert_int_equal (rec->count, 5);
    uint32_t t0 = 1000 * 32 + 30;
    assert_int_equal (rec->r [1].timestamp, t0 + 1);
    assert_int_equal (rec->r [2].timestamp, t0 + 3);
    assert_int_equal (rec->r [3].timestamp, t0 + 3);
    assert_int_equal (rec->r [4].timestamp, t0 + 6);
    assert_int_equal (cw_fit_stats (fit)->skipped, 1);
    cw_fit_destroy (&fit);
    free (rec);
}

/*  --- real files ------------------------------------------------------------------------ */

static const char *const s_months [] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
                                         "Aug", "Sep", "Oct", "Nov", "Dec" };

/*  "Sun Jun 11 07:34:09 PDT 2017" to a Unix time (PDT/PST only, which is all the file has). */
static int64_t
s_golden_time (const char *s)
{
    char wd [4], mon [4], zone [4];
    int day, hh, mm, ss, year;
    assert_int_equal (sscanf (s, "%3s %3s %d %d:%d:%d %3s %d", wd, mon, &day, &hh, &mm, &ss,
                              zone, &year), 8);
    int m = 0;
    while (m < 12 && strcmp (mon, s_months [m]) != 0)
        m++;
    assert_true (m < 12);
    struct tm tm;
    memset (&tm, 0, sizeof tm);
    tm.tm_year = year - 1900;
    tm.tm_mon = m;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    int offset_h = strcmp (zone, "PDT") == 0 ? 7 : 8;
    return (int64_t) timegm (&tm) + offset_h * 3600;
}

static void
test_fenix5_golden (void **state)
{
    (void) state;
    size_t len;
    uint8_t *data = s_load ("garmin-fenix-5-run.fit", &len);
    records_t *rec = calloc (1, sizeof *rec);
    assert_int_equal (s_decode (data, len, rec), CW_OK);

    size_t glen;
    uint8_t *golden = s_load ("garmin-fenix-5-run-records.csv", &glen);
    char *text = malloc (glen + 1);
    memcpy (text, golden, glen);
    text [glen] = 0;
    size_t row = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr (line, '\n');
        if (next)
            *next++ = 0;
        if (strncmp (line, "timestamp", 9) == 0)
            continue;
        char ts [64];
        int hr, cad;
        double speed, dist, alt;
        long lat, lon;
        int temp;
        assert_int_equal (sscanf (line, "%63[^,],%d,%d,%lf,%lf,%ld,%ld,%lf,%d", ts, &hr, &cad,
                                  &speed, &dist, &lat, &lon, &alt, &temp), 9);
        assert_true (row < rec->count);
        const cw_fit_record_t *r = &rec->r [row];
        assert_int_equal ((int64_t) r->timestamp + CW_FIT_EPOCH_UNIX_S, s_golden_time (ts));
        assert_int_equal (r->heart_rate, hr);
        assert_int_equal (r->cadence, cad);
        assert_int_equal (r->speed, lround (speed * 1000));
        assert_int_equal (r->distance, lround (dist * 100));
        assert_int_equal (r->position_lat, lat);
        assert_int_equal (r->position_long, lon);
        assert_int_equal ((int64_t) r->altitude * 20 - 50000, lround (alt * 100));
        uint32_t all = CW_FIT_HAS_TIME | CW_FIT_HAS_HEART_RATE | CW_FIT_HAS_CADENCE
                     | CW_FIT_HAS_SPEED | CW_FIT_HAS_DISTANCE | CW_FIT_HAS_POSITION
                     | CW_FIT_HAS_ALTITUDE;
        assert_int_equal (r->present & all, all);
        row++;
    }
    assert_int_equal (row, 21);
    assert_int_equal (rec->count, 21);
    /*  Every running-dynamics field is in this file. */
    uint32_t dyn = CW_FIT_HAS_VERTICAL_OSCILLATION | CW_FIT_HAS_STANCE_TIME
                 | CW_FIT_HAS_STANCE_TIME_BALANCE | CW_FIT_HAS_VERTICAL_RATIO
                 | CW_FIT_HAS_STEP_LENGTH | CW_FIT_HAS_FRACTIONAL_CADENCE
                 | CW_FIT_HAS_STANCE_TIME_PERCENT;
    size_t with_dyn = 0;
    for (size_t i = 0; i < rec->count; i++)
        if ((rec->r [i].present & dyn) == dyn)
            with_dyn++;
    assert_true (with_dyn > 10);
    assert_int_equal (rec->hrv_calls, 71);
    assert_true (rec->rr_count >= 71);
    for (size_t i = 0; i < rec->rr_count; i++)
        assert_true (rec->rr [i] > 250 && rec->rr [i] < 2000);
    free (text);
    free (golden);
    free (rec);
    free (data);
}

static int
s_cmp_int (const void *a, const void *b)
{
    return *(const int *) a - *(const int *) b;
}

static int
s_median (int *v, size_t n)
{
    qsort (v, n, sizeof v [0], s_cmp_int);
    return v [n / 2];
}

static void
test_fenix2_counts_and_medians (void **state)
{
    (void) state;
    size_t len;
    uint8_t *data = s_load ("activity-small-fenix2-run.fit", &len);
    records_t *rec = calloc (1, sizeof *rec);
    assert_int_equal (s_decode (data, len, rec), CW_OK);
    assert_int_equal (rec->count, 2809);
    int *hr = calloc (rec->count, sizeof (int)), *cad = calloc (rec->count, sizeof (int));
    int *vo = calloc (rec->count, sizeof (int)), *st = calloc (rec->count, sizeof (int));
    size_t nh = 0, nc = 0, nv = 0, ns = 0;
    for (size_t i = 0; i < rec->count; i++) {
        const cw_fit_record_t *r = &rec->r [i];
        if (r->present & CW_FIT_HAS_HEART_RATE)
            hr [nh++] = r->heart_rate;
        if (r->present & CW_FIT_HAS_CADENCE)
            cad [nc++] = r->cadence;
        if (r->present & CW_FIT_HAS_VERTICAL_OSCILLATION)
            vo [nv++] = r->vertical_oscillation;
        if (r->present & CW_FIT_HAS_STANCE_TIME)
            st [ns++] = r->stance_time;
        assert_false (r->present & CW_FIT_HAS_STEP_LENGTH);
        assert_false (r->present & CW_FIT_HAS_STANCE_TIME_BALANCE);
    }
    assert_true (nh > 2500 && nc > 2500 && nv > 2000 && ns > 2000);
    assert_int_equal (s_median (hr, nh), 159);
    assert_int_equal (s_median (cad, nc), 83);
    assert_int_equal ((s_median (vo, nv) + 5) / 10, 111);
    assert_int_equal ((s_median (st, ns) + 5) / 10, 228);
    uint32_t span = rec->r [rec->count - 1].timestamp - rec->r [0].timestamp;
    assert_true (span >= 2800 && span <= 2860);
    assert_true (rec->r [rec->count - 1].distance > 880000
              && rec->r [rec->count - 1].distance < 920000);
    free (hr);
    free (cad);
    free (vo);
    free (st);
    free (rec);
    free (data);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_truncated_every_length),
        cmocka_unit_test (test_bad_crc),
        cmocka_unit_test (test_not_fit),
        cmocka_unit_test (test_huge_field_count),
        cmocka_unit_test (test_undefined_local_type),
        cmocka_unit_test (test_field_size_not_multiple),
        cmocka_unit_test (test_endianness_devfields_invalid),
        cmocka_unit_test (test_header_crc_zero_waives),
        cmocka_unit_test (test_compressed_rollover),
        cmocka_unit_test (test_fenix5_golden),
        cmocka_unit_test (test_fenix2_counts_and_medians),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
