/*  cw_fit.c - a small, strict Garmin FIT decoder (records and hrv only).
 *
 *  A FIT file is a header, a stream of messages and a CRC. Each message starts with a one-byte
 *  header: a definition message describes the layout of one of 16 local message types; a data
 *  message (normal or with a compressed timestamp) carries values laid out by the definition
 *  currently bound to its local type. We keep the 16 definitions in fixed tables, check every
 *  length against the data region before reading it, and decode only the fields we import.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coachwire/cw_error.h"
#include "coachwire/cw_fit.h"

#define S_LOCAL_TYPES 16
#define S_MAX_FIELDS 255
#define S_GLOBAL_RECORD 20
#define S_GLOBAL_HRV 78
#define S_FIELD_TIMESTAMP 253

typedef struct {
    uint8_t num;            /* field definition number in the global profile */
    uint8_t size;           /* bytes in each data message */
    uint8_t base;           /* base type byte as written (endian bit + number) */
} s_field_t;

typedef struct {
    bool defined;           /* a definition message has bound this local type */
    bool big_endian;        /* architecture byte 1 */
    uint16_t global;        /* global message number */
    uint16_t field_count;   /* entries used in fields */
    uint32_t size;          /* bytes of one data message, developer fields included */
    s_field_t fields [S_MAX_FIELDS];
} s_definition_t;

struct _cw_fit_t {
    s_definition_t defs [S_LOCAL_TYPES];
    uint32_t last_timestamp;    /* reference for compressed timestamps */
    bool have_timestamp;        /* last_timestamp has been set by this file */
    cw_fit_stats_t stats;
    char error [160];
};

/*  Base types by number (low 5 bits of the base type byte): size and the invalid pattern. */
typedef struct {
    uint8_t size;
    bool is_signed;
    bool is_integer;        /* floats, strings and bytes are never read as numbers here */
    uint64_t invalid;
} s_base_type_t;

static const s_base_type_t s_base_types [] = {
    /*  0 enum    */ { 1, false, true,  0xFFu },
    /*  1 sint8   */ { 1, true,  true,  0x7Fu },
    /*  2 uint8   */ { 1, false, true,  0xFFu },
    /*  3 sint16  */ { 2, true,  true,  0x7FFFu },
    /*  4 uint16  */ { 2, false, true,  0xFFFFu },
    /*  5 sint32  */ { 4, true,  true,  0x7FFFFFFFu },
    /*  6 uint32  */ { 4, false, true,  0xFFFFFFFFu },
    /*  7 string  */ { 1, false, false, 0x00u },
    /*  8 float32 */ { 4, false, false, 0xFFFFFFFFu },
    /*  9 float64 */ { 8, false, false, UINT64_MAX },
    /* 10 uint8z  */ { 1, false, true,  0x00u },
    /* 11 uint16z */ { 2, false, true,  0x00u },
    /* 12 uint32z */ { 4, false, true,  0x00u },
    /* 13 byte    */ { 1, false, false, 0xFFu },
    /* 14 sint64  */ { 8, true,  true,  0x7FFFFFFFFFFFFFFFu },
    /* 15 uint64  */ { 8, false, true,  UINT64_MAX },
    /* 16 uint64z */ { 8, false, true,  0x00u },
};
#define S_BASE_TYPES (sizeof s_base_types / sizeof s_base_types [0])

static const uint16_t s_crc_table [16] = {
    0x0000, 0xCC01, 0xD801, 0x1400, 0xF001, 0x3C00, 0x2800, 0xE401,
    0xA001, 0x6C00, 0x7800, 0xB401, 0x5000, 0x9C01, 0x8801, 0x4400
};

uint16_t
cw_fit_crc16 (uint16_t crc, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint16_t tmp = s_crc_table [crc & 0xF];
        crc = (uint16_t) ((crc >> 4) & 0x0FFF);
        crc = (uint16_t) (crc ^ tmp ^ s_crc_table [data [i] & 0xF]);
        tmp = s_crc_table [crc & 0xF];
        crc = (uint16_t) ((crc >> 4) & 0x0FFF);
        crc = (uint16_t) (crc ^ tmp ^ s_crc_table [(data [i] >> 4) & 0xF]);
    }
    return crc;
}

int32_t
cw_fit_semicircles_to_e7 (int32_t semicircles)
{
    /*  deg = sc * 180 / 2^31, so e7 = sc * 1.8e9 / 2^31; |sc * 1.8e9| < 2^62 fits in int64.
     *  Round half away from zero (C division truncates toward zero). */
    int64_t n = (int64_t) semicircles * 1800000000;
    int64_t half = (int64_t) 1 << 30;
    int64_t q = (n >= 0 ? n + half : n - half) / ((int64_t) 1 << 31);
    return (int32_t) q;
}

int
cw_fit_is_fit (const uint8_t *data, size_t len)
{
    if (!data || len < 12)
        return 0;
    if (data [0] != 12 && data [0] != 14)
        return 0;
    return memcmp (data + 8, ".FIT", 4) == 0;
}

cw_fit_t *
cw_fit_new (void)
{
    return calloc (1, sizeof (cw_fit_t));
}

void
cw_fit_destroy (cw_fit_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

const cw_fit_stats_t *
cw_fit_stats (const cw_fit_t *self)
{
    return &self->stats;
}

const char *
cw_fit_error (const cw_fit_t *self)
{
    return self->error;
}

static int
s_fail (cw_fit_t *self, size_t offset, const char *reason)
{
    snprintf (self->error, sizeof self->error, "FIT offset %zu: %s", offset, reason);
    return CW_EDECODE;
}

static uint64_t
s_read_uint (const uint8_t *p, size_t size, bool big_endian)
{
    uint64_t v = 0;
    for (size_t i = 0; i < size; i++) {
        size_t k = big_endian ? i : size - 1 - i;
        v = (v << 8) | p [k];
    }
    return v;
}

/*  Reads one scalar integer field. Returns false when the field is not an integer base type,
 *  its size is not exactly one value of that type (arrays and odd sizes are not scalars),
 *  or it holds the type's invalid value. */
static bool
s_scalar (const s_field_t *field, const uint8_t *p, bool big_endian, int64_t *value)
{
    size_t type = field->base & 0x1Fu;
    if (type >= S_BASE_TYPES)
        return false;
    const s_base_type_t *bt = &s_base_types [type];
    if (!bt->is_integer || field->size != bt->size)
        return false;
    uint64_t raw = s_read_uint (p, bt->size, big_endian);
    if (raw == bt->invalid)
        return false;
    if (bt->is_signed) {
        /*  Sign-extend from the type's width. */
        unsigned bits = 8u * bt->size;
        if (bits < 64 && (raw >> (bits - 1)) & 1u)
            raw |= ~(uint64_t) 0 << bits;
        *value = (int64_t) raw;
    }
    else {
        if (raw > (uint64_t) INT64_MAX)
            return false;
        *value = (int64_t) raw;
    }
    return true;
}

static bool
s_fits_u (int64_t v, uint64_t max)
{
    return v >= 0 && (uint64_t) v <= max;
}

/*  Applies one field of a record message to r. Values that do not fit their field are absent. */
static void
s_record_field (cw_fit_record_t *r, uint8_t num, int64_t v, uint32_t *enh_alt, bool *has_enh_alt,
                uint32_t *enh_speed, bool *has_enh_speed)
{
    switch (num) {
        case 0:
            if (v >= INT32_MIN && v <= INT32_MAX) {
                r->position_lat = (int32_t) v;
                r->present |= CW_FIT_HAS_POSITION;  /* confirmed below with field 1 */
            }
            break;
        case 1:
            if (v >= INT32_MIN && v <= INT32_MAX) {
                r->position_long = (int32_t) v;
                r->present |= CW_FIT_HAS_POSITION << 16;  /* scratch bit, merged below */
            }
            break;
        case 2:
            if (s_fits_u (v, UINT16_MAX)) {
                r->altitude = (uint32_t) v;
                r->present |= CW_FIT_HAS_ALTITUDE;
            }
            break;
        case 3:
            if (s_fits_u (v, UINT8_MAX)) {
                r->heart_rate = (uint8_t) v;
                r->present |= CW_FIT_HAS_HEART_RATE;
            }
            break;
        case 4:
            if (s_fits_u (v, UINT8_MAX)) {
                r->cadence = (uint8_t) v;
                r->present |= CW_FIT_HAS_CADENCE;
            }
            break;
        case 5:
            if (s_fits_u (v, UINT32_MAX)) {
                r->distance = (uint32_t) v;
                r->present |= CW_FIT_HAS_DISTANCE;
            }
            break;
        case 6:
            if (s_fits_u (v, UINT16_MAX)) {
                r->speed = (uint32_t) v;
                r->present |= CW_FIT_HAS_SPEED;
            }
            break;
        case 7:
            if (s_fits_u (v, UINT16_MAX)) {
                r->power = (uint16_t) v;
                r->present |= CW_FIT_HAS_POWER;
            }
            break;
        case 39:
            if (s_fits_u (v, UINT16_MAX)) {
                r->vertical_oscillation = (uint16_t) v;
                r->present |= CW_FIT_HAS_VERTICAL_OSCILLATION;
            }
            break;
        case 40:
            if (s_fits_u (v, UINT16_MAX)) {
                r->stance_time_percent = (uint16_t) v;
                r->present |= CW_FIT_HAS_STANCE_TIME_PERCENT;
            }
            break;
        case 41:
            if (s_fits_u (v, UINT16_MAX)) {
                r->stance_time = (uint16_t) v;
                r->present |= CW_FIT_HAS_STANCE_TIME;
            }
            break;
        case 53:
            if (s_fits_u (v, UINT8_MAX)) {
                r->fractional_cadence = (uint8_t) v;
                r->present |= CW_FIT_HAS_FRACTIONAL_CADENCE;
            }
            break;
        case 73:
            if (s_fits_u (v, UINT32_MAX)) {
                *enh_speed = (uint32_t) v;
                *has_enh_speed = true;
            }
            break;
        case 78:
            if (s_fits_u (v, UINT32_MAX)) {
                *enh_alt = (uint32_t) v;
                *has_enh_alt = true;
            }
            break;
        case 83:
            if (s_fits_u (v, UINT16_MAX)) {
                r->vertical_ratio = (uint16_t) v;
                r->present |= CW_FIT_HAS_VERTICAL_RATIO;
            }
            break;
        case 84:
            if (s_fits_u (v, UINT16_MAX)) {
                r->stance_time_balance = (uint16_t) v;
                r->present |= CW_FIT_HAS_STANCE_TIME_BALANCE;
            }
            break;
        case 85:
            if (s_fits_u (v, UINT16_MAX)) {
                r->step_length = (uint16_t) v;
                r->present |= CW_FIT_HAS_STEP_LENGTH;
            }
            break;
        default:
            break;
    }
}

/*  Parses a definition message whose record header byte is hdr; *pos is just after it. */
static int
s_definition (cw_fit_t *self, uint8_t hdr, const uint8_t *data, size_t *pos, size_t end)
{
    size_t at = *pos;
    if (end - at < 5)
        return s_fail (self, at, "truncated definition message");
    uint8_t arch = data [at + 1];
    if (arch > 1)
        return s_fail (self, at, "unknown architecture in definition");
    s_definition_t *def = &self->defs [hdr & 0x0F];
    /*  Invalidate first: a definition that fails half way must not leave a stale layout. */
    def->defined = false;
    def->big_endian = arch == 1;
    def->global = (uint16_t) s_read_uint (data + at + 2, 2, def->big_endian);
    size_t count = data [at + 4];
    at += 5;
    if ((end - at) / 3 < count)
        return s_fail (self, at, "definition field list runs past the data");
    uint32_t size = 0;
    for (size_t i = 0; i < count; i++, at += 3) {
        s_field_t *f = &def->fields [i];
        f->num = data [at];
        f->size = data [at + 1];
        f->base = data [at + 2];
        if (f->size == 0)
            return s_fail (self, at, "field of size 0 in definition");
        size += f->size;
    }
    def->field_count = (uint16_t) count;
    if (hdr & 0x20) {
        /*  Developer fields: we do not decode them, but their bytes are in every message. */
        if (end - at < 1)
            return s_fail (self, at, "truncated developer field count");
        size_t dev_count = data [at++];
        if ((end - at) / 3 < dev_count)
            return s_fail (self, at, "developer field list runs past the data");
        for (size_t i = 0; i < dev_count; i++, at += 3)
            size += data [at + 1];
    }
    def->size = size;
    def->defined = true;
    self->stats.definitions++;
    *pos = at;
    return CW_OK;
}

/*  Decodes a data message of local type local at *pos. compressed_ts is the timestamp from a
 *  compressed header, or -1. */
static int
s_data (cw_fit_t *self, unsigned local, int64_t compressed_ts, const uint8_t *data, size_t *pos,
        size_t end, const cw_fit_handlers_t *handlers)
{
    size_t at = *pos;
    const s_definition_t *def = &self->defs [local];
    if (!def->defined) {
        char reason [64];
        snprintf (reason, sizeof reason, "data message for undefined local type %u", local);
        return s_fail (self, at, reason);
    }
    if (end - at < def->size)
        return s_fail (self, at, "truncated data message");
    *pos = at + def->size;
    self->stats.messages++;

    cw_fit_record_t r;
    memset (&r, 0, sizeof r);
    uint32_t enh_alt = 0, enh_speed = 0;
    bool has_enh_alt = false, has_enh_speed = false;
    uint16_t rr [CW_FIT_MAX_HRV_VALUES];
    size_t rr_count = 0;
    if (compressed_ts >= 0) {
        r.timestamp = (uint32_t) compressed_ts;
        r.present |= CW_FIT_HAS_TIME;
    }
    const uint8_t *p = data + at;
    for (size_t i = 0; i < def->field_count; i++) {
        const s_field_t *f = &def->fields [i];
        int64_t v;
        if (f->num == S_FIELD_TIMESTAMP) {
            /*  A timestamp in any message is the reference for later compressed ones. */
            if (s_scalar (f, p, def->big_endian, &v) && s_fits_u (v, UINT32_MAX)) {
                self->last_timestamp = (uint32_t) v;
                self->have_timestamp = true;
                r.timestamp = (uint32_t) v;
                r.present |= CW_FIT_HAS_TIME;
            }
        }
        else
        if (def->global == S_GLOBAL_RECORD) {
            if (s_scalar (f, p, def->big_endian, &v))
                s_record_field (&r, f->num, v, &enh_alt, &has_enh_alt, &enh_speed,
                                &has_enh_speed);
        }
        else
        if (def->global == S_GLOBAL_HRV && f->num == 0) {
            /*  An array of uint16; a size that is not whole values is not an array of them. */
            if ((f->base & 0x1Fu) == 4 && f->size % 2 == 0) {
                for (size_t k = 0; k + 1 < f->size && rr_count < CW_FIT_MAX_HRV_VALUES; k += 2) {
                    uint16_t t = (uint16_t) s_read_uint (p + k, 2, def->big_endian);
                    if (t != 0xFFFF)
                        rr [rr_count++] = t;
                }
            }
        }
        p += f->size;
    }

    if (def->global == S_GLOBAL_RECORD) {
        /*  Position needs both halves; scratch bit 17 marked the longitude. */
        uint32_t both = CW_FIT_HAS_POSITION | (CW_FIT_HAS_POSITION << 16);
        bool has_position = (r.present & both) == both;
        r.present &= ~both;
        if (has_position)
            r.present |= CW_FIT_HAS_POSITION;
        if (has_enh_alt) {
            r.altitude = enh_alt;
            r.present |= CW_FIT_HAS_ALTITUDE;
        }
        if (has_enh_speed) {
            r.speed = enh_speed;
            r.present |= CW_FIT_HAS_SPEED;
        }
        if (!(r.present & CW_FIT_HAS_TIME)) {
            self->stats.skipped++;
            return CW_OK;
        }
        self->stats.records++;
        if (handlers && handlers->on_record) {
            int rc = handlers->on_record (handlers->ctx, &r);
            if (rc != 0)
                return rc;
        }
    }
    else
    if (def->global == S_GLOBAL_HRV) {
        self->stats.hrv++;
        if (handlers && handlers->on_hrv && rr_count > 0) {
            int rc = handlers->on_hrv (handlers->ctx,
                                       self->have_timestamp ? self->last_timestamp : 0, rr,
                                       rr_count);
            if (rc != 0)
                return rc;
        }
    }
    return CW_OK;
}

int
cw_fit_decode (cw_fit_t *self, const uint8_t *data, size_t len,
               const cw_fit_handlers_t *handlers)
{
    if (!self || (!data && len > 0))
        return CW_EINVAL;
    memset (self->defs, 0, sizeof self->defs);
    memset (&self->stats, 0, sizeof self->stats);
    self->error [0] = 0;
    self->last_timestamp = 0;
    self->have_timestamp = false;

    if (!cw_fit_is_fit (data, len))
        return s_fail (self, 0, "not a FIT file header");
    size_t header_size = data [0];
    if (len < header_size)
        return s_fail (self, 0, "truncated header");
    if ((data [1] >> 4) > 2)
        return s_fail (self, 1, "unsupported FIT protocol version");
    uint64_t data_size = s_read_uint (data + 4, 4, false);
    if ((uint64_t) header_size + data_size + 2 > (uint64_t) len)
        return s_fail (self, len, "file shorter than its header says (truncated)");
    size_t end = header_size + (size_t) data_size;

    bool check_file_crc = true;
    if (header_size == 14) {
        uint16_t header_crc = (uint16_t) s_read_uint (data + 12, 2, false);
        if (header_crc == 0)
            check_file_crc = false;   /* the writer computes no CRCs */
        else
        if (header_crc != cw_fit_crc16 (0, data, 12))
            return s_fail (self, 12, "header CRC mismatch");
    }
    if (check_file_crc) {
        uint16_t file_crc = (uint16_t) s_read_uint (data + end, 2, false);
        if (file_crc != cw_fit_crc16 (0, data, end))
            return s_fail (self, end, "file CRC mismatch");
    }

    size_t pos = header_size;
    while (pos < end) {
        uint8_t hdr = data [pos++];
        int rc;
        if (hdr & 0x80) {
            /*  Compressed timestamp header: 5-bit offset from the last full timestamp. */
            unsigned local = (hdr >> 5) & 0x03u;
            int64_t ts = -1;
            if (self->have_timestamp) {
                uint32_t offset = hdr & 0x1Fu;
                uint32_t last = self->last_timestamp;
                uint32_t t = last + ((offset - (last & 0x1Fu)) & 0x1Fu);
                self->last_timestamp = t;
                ts = t;
            }
            rc = s_data (self, local, ts, data, &pos, end, handlers);
        }
        else
        if (hdr & 0x40)
            rc = s_definition (self, hdr, data, &pos, end);
        else
            rc = s_data (self, hdr & 0x0Fu, -1, data, &pos, end, handlers);
        if (rc != CW_OK)
            return rc;
    }
    return CW_OK;
}
