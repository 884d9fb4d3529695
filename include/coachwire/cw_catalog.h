/*  cw_catalog.h - the field catalog: every leaf of the sensor data, by a stable dotted name.
 *
 *  Consent, the gateway's stripping, the engine's reads and every disclosure speak in these
 *  names. tests/test_catalog.c walks the protobuf-c descriptors and fails if any leaf field of
 *  a SensorBatch lacks an entry, so no field can be collected without being disclosable.
 */
#ifndef CW_CATALOG_H_INCLUDED
#define CW_CATALOG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_CATALOG_MAX_PROTO_FIELDS 4
#define CW_FIELD_NAME_MAX 48

typedef enum {
    CW_SENSITIVITY_LOW = 1,     /* says little about the person on its own */
    CW_SENSITIVITY_MEDIUM = 2,  /* behaviour or habits */
    CW_SENSITIVITY_HIGH = 3     /* health (special category) or location */
} cw_sensitivity_t;

typedef struct {
    const char *name;           /* "heart_rate.bpm" */
    uint16_t stream;            /* SensorBatch oneof case that carries it */
    const char *message;        /* protobuf message holding the field: "coachwire.HeartRateBatch" */
    uint32_t proto_fields [CW_CATALOG_MAX_PROTO_FIELDS];  /* field numbers, 0-terminated */
    const char *unit;
    const char *description;
    cw_sensitivity_t sensitivity;
    bool structural;            /* timing that gives other fields meaning: kept while any
                                   other field of its batch is kept, never used alone */
} cw_catalog_entry_t;

/*  All entries, in a stable order; *count is set. Never NULL. */
CW_EXPORT const cw_catalog_entry_t *cw_catalog_entries (size_t *count);

/*  The entry named exactly name, or NULL. */
CW_EXPORT const cw_catalog_entry_t *cw_catalog_find (const char *name);

/*  The entry covering (message full name, field number), or NULL. */
CW_EXPORT const cw_catalog_entry_t *cw_catalog_find_proto (const char *message,
                                                           uint32_t field_number);

/*  True when name matches pattern: an exact name, "group.*" for every field of a group, or
 *  "*" for all. */
CW_EXPORT bool cw_catalog_matches (const char *pattern, const char *name);

/*  Index of the entry in cw_catalog_entries, or -1. */
CW_EXPORT int cw_catalog_index (const cw_catalog_entry_t *entry);

/*  Name of a stream (1 "imu" ... 6 "weight"), or NULL when out of range. */
CW_EXPORT const char *cw_stream_name (uint16_t stream);

#ifdef __cplusplus
}
#endif

#endif
