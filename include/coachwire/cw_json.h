/*  cw_json.h - a tiny JSON writer: one document, built in order, into a capped buffer.
 *
 *  Errors are sticky (like a stream): write the whole document, then check cw_json_text,
 *  which returns NULL when anything went wrong (out of memory, over the cap, a value without
 *  a key inside an object, unbalanced nesting). Strings are escaped; bytes that are not valid
 *  UTF-8 become U+FFFD, so the output is always valid JSON.
 *
 *      cw_json_t *json = NULL;
 *      if (cw_json_new (&json, 0) == CW_OK) {
 *          cw_json_object_begin (json, NULL);
 *          cw_json_string (json, "name", "ana");
 *          cw_json_uint (json, "frames", 42);
 *          cw_json_object_end (json);
 *          const char *text = cw_json_text (json, NULL);   // {"name":"ana","frames":42}
 *      }
 *      cw_json_destroy (&json);
 */
#ifndef CW_JSON_H_INCLUDED
#define CW_JSON_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_JSON_MAX_DEPTH 32
#define CW_JSON_DEFAULT_MAX (64u * 1024u * 1024u)

typedef struct _cw_json_t cw_json_t;

/*  Creates a writer whose text may grow to max_bytes (0: CW_JSON_DEFAULT_MAX). */
CW_EXPORT int cw_json_new (cw_json_t **out, size_t max_bytes) CW_MUST_CHECK;
CW_EXPORT void cw_json_destroy (cw_json_t **self_p);

/*  key is the member name inside an object and must be NULL elsewhere (top level, arrays). */
CW_EXPORT void cw_json_object_begin (cw_json_t *self, const char *key);
CW_EXPORT void cw_json_object_end (cw_json_t *self);
CW_EXPORT void cw_json_array_begin (cw_json_t *self, const char *key);
CW_EXPORT void cw_json_array_end (cw_json_t *self);
/*  value NULL writes null. */
CW_EXPORT void cw_json_string (cw_json_t *self, const char *key, const char *value);
CW_EXPORT void cw_json_uint (cw_json_t *self, const char *key, uint64_t value);
CW_EXPORT void cw_json_int (cw_json_t *self, const char *key, int64_t value);
CW_EXPORT void cw_json_bool (cw_json_t *self, const char *key, bool value);
CW_EXPORT void cw_json_null (cw_json_t *self, const char *key);

/*  CW_OK, or the first error: CW_ENOMEM, CW_ETOOBIG (over max_bytes), CW_ESTATE (misuse). */
CW_EXPORT int cw_json_error (const cw_json_t *self);
/*  The finished document (NUL-terminated; *len without the NUL), or NULL while nesting is
 *  open, before any value, or after an error. Valid until the next call on self. */
CW_EXPORT const char *cw_json_text (const cw_json_t *self, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
