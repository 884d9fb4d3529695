/*  cw_fit.h - a small, strict Garmin FIT decoder for activity files.
 *
 *  It decodes only what Coachwire imports: `record` messages (global 20) and `hrv` messages
 *  (global 78). Every other message is walked over by its definition and ignored. The decoder
 *  never allocates from a size read from the file: definitions live in fixed tables sized by
 *  the format's own limits (16 local types, 255 fields, 255 developer fields).
 *
 *  Values are kept in the file's own fixed-point units so that callers (and the golden test)
 *  can compare them exactly; the importer converts them to the batch units.
 */
#ifndef CW_FIT_H_INCLUDED
#define CW_FIT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_FIT_EPOCH_UNIX_S 631065600u  /* 1989-12-31 00:00:00 UTC as a Unix time */
#define CW_FIT_MAX_HRV_VALUES 255u      /* an hrv field holds at most 255 bytes of uint16 */

/*  Bits of cw_fit_record_t.present: which fields the record carried with a valid value. */
#define CW_FIT_HAS_TIME                 (1u << 0)
#define CW_FIT_HAS_POSITION             (1u << 1)   /* both lat and long */
#define CW_FIT_HAS_ALTITUDE             (1u << 2)   /* altitude or enhanced_altitude */
#define CW_FIT_HAS_HEART_RATE           (1u << 3)
#define CW_FIT_HAS_CADENCE              (1u << 4)
#define CW_FIT_HAS_FRACTIONAL_CADENCE   (1u << 5)
#define CW_FIT_HAS_DISTANCE             (1u << 6)
#define CW_FIT_HAS_SPEED                (1u << 7)   /* speed or enhanced_speed */
#define CW_FIT_HAS_POWER                (1u << 8)
#define CW_FIT_HAS_VERTICAL_OSCILLATION (1u << 9)
#define CW_FIT_HAS_STANCE_TIME_PERCENT  (1u << 10)
#define CW_FIT_HAS_STANCE_TIME          (1u << 11)
#define CW_FIT_HAS_VERTICAL_RATIO       (1u << 12)
#define CW_FIT_HAS_STANCE_TIME_BALANCE  (1u << 13)
#define CW_FIT_HAS_STEP_LENGTH          (1u << 14)

/*  One record message, in FIT units. A field is meaningful only when its bit is in present. */
typedef struct {
    uint32_t present;                   /* CW_FIT_HAS_* bits */
    uint32_t timestamp;                 /* s since the FIT epoch (field 253 or compressed) */
    int32_t position_lat;               /* semicircles (field 0) */
    int32_t position_long;              /* semicircles (field 1) */
    uint32_t altitude;                  /* (m + 500) x 5 (field 2, or 78 when present) */
    uint8_t heart_rate;                 /* bpm (field 3) */
    uint8_t cadence;                    /* rpm; strides/min when running (field 4) */
    uint8_t fractional_cadence;         /* 1/128 rpm (field 53) */
    uint32_t distance;                  /* cm (field 5) */
    uint32_t speed;                     /* mm/s (field 6, or 73 when present) */
    uint16_t power;                     /* W (field 7) */
    uint16_t vertical_oscillation;      /* 0.1 mm (field 39) */
    uint16_t stance_time_percent;       /* 0.01 % (field 40) */
    uint16_t stance_time;               /* 0.1 ms (field 41) */
    uint16_t vertical_ratio;            /* 0.01 % (field 83) */
    uint16_t stance_time_balance;       /* 0.01 %, left share (field 84) */
    uint16_t step_length;               /* 0.1 mm (field 85) */
} cw_fit_record_t;

/*  Called for each record message. A non-zero return stops decoding and is returned. */
typedef int (*cw_fit_record_fn) (void *ctx, const cw_fit_record_t *record);

/*  Called for each hrv message with its valid beat-to-beat intervals in 1/1000 s (invalid
 *  entries dropped), and the last timestamp seen before it (0 if none). */
typedef int (*cw_fit_hrv_fn) (void *ctx, uint32_t last_timestamp, const uint16_t *rr_ms,
                              size_t count);

typedef struct {
    cw_fit_record_fn on_record;         /* may be NULL */
    cw_fit_hrv_fn on_hrv;               /* may be NULL */
    void *ctx;
} cw_fit_handlers_t;

typedef struct {
    uint64_t messages;                  /* data messages walked, of any type */
    uint64_t definitions;               /* definition messages */
    uint64_t records;                   /* record messages handed to on_record */
    uint64_t hrv;                       /* hrv messages handed to on_hrv */
    uint64_t skipped;                   /* records without any usable timestamp */
} cw_fit_stats_t;

typedef struct _cw_fit_t cw_fit_t;

/*  Creates a decoder. Returns NULL when out of memory. */
CW_EXPORT cw_fit_t *cw_fit_new (void);

/*  Destroys the decoder and sets *self_p to NULL; safe on NULL and twice. */
CW_EXPORT void cw_fit_destroy (cw_fit_t **self_p);

/*  Decodes one FIT file from memory, calling handlers (which may be NULL, to validate only).
 *  The header and file CRCs are checked before any handler is called; a 14-byte header whose
 *  CRC is 0 (a writer that does not compute CRCs) waives the file CRC check too.
 *  Returns CW_OK, CW_EDECODE (not FIT, truncated, bad CRC or a malformed message, with a
 *  reason in cw_fit_error) or a handler's non-zero return. Handlers may have been called
 *  before a structural error is found: validate first (handlers NULL) to avoid that. */
CW_EXPORT int cw_fit_decode (cw_fit_t *self, const uint8_t *data, size_t len,
                             const cw_fit_handlers_t *handlers) CW_MUST_CHECK;

/*  Counters of the last decode. */
CW_EXPORT const cw_fit_stats_t *cw_fit_stats (const cw_fit_t *self);

/*  Why the last decode failed, "" after a success. Never NULL. */
CW_EXPORT const char *cw_fit_error (const cw_fit_t *self);

/*  True when data starts with a FIT file header (size 12 or 14 and ".FIT" at byte 8). */
CW_EXPORT int cw_fit_is_fit (const uint8_t *data, size_t len);

/*  FIT's CRC-16 over len bytes, continuing from crc (start with 0). */
CW_EXPORT uint16_t cw_fit_crc16 (uint16_t crc, const uint8_t *data, size_t len);

/*  Semicircles to degrees x 1e7, rounded. */
CW_EXPORT int32_t cw_fit_semicircles_to_e7 (int32_t semicircles);

#ifdef __cplusplus
}
#endif

#endif
