/*  cw_json.c - a tiny JSON writer (see cw_json.h). */
#include "coachwire/cw_json.h"
#include "coachwire/cw_error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _cw_json_t {
    char *buf;                              /* text so far, NUL-terminated */
    size_t len;                             /* bytes in buf, without the NUL */
    size_t cap;                             /* bytes allocated */
    size_t max;                             /* most bytes the text may have */
    int error;                              /* first error, sticky */
    int depth;                              /* open objects and arrays */
    bool in_object [CW_JSON_MAX_DEPTH];     /* per level: object (true) or array */
    bool has_items [CW_JSON_MAX_DEPTH];     /* per level: a comma is due before the next */
    bool done;                              /* the top-level value is complete */
};

int
cw_json_new (cw_json_t **out, size_t max_bytes)
{
    if (!out)
        return CW_EINVAL;
    *out = NULL;
    cw_json_t *self = calloc (1, sizeof *self);
    if (!self)
        return CW_ENOMEM;
    self->max = max_bytes ? max_bytes : CW_JSON_DEFAULT_MAX;
    self->cap = 256;
    self->buf = malloc (self->cap);
    if (!self->buf) {
        free (self);
        return CW_ENOMEM;
    }
    self->buf [0] = 0;
    *out = self;
    return CW_OK;
}

void
cw_json_destroy (cw_json_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->buf);
    free (*self_p);
    *self_p = NULL;
}

static void
s_fail (cw_json_t *self, int rc)
{
    if (self->error == CW_OK)
        self->error = rc;
}

static void
s_put (cw_json_t *self, const char *data, size_t n)
{
    if (self->error)
        return;
    if (n > self->max || self->len > self->max - n) {
        s_fail (self, CW_ETOOBIG);
        return;
    }
    if (self->len + n + 1 > self->cap) {
        size_t cap = self->cap;
        while (cap < self->len + n + 1)
            cap *= 2;
        char *grown = realloc (self->buf, cap);
        if (!grown) {
            s_fail (self, CW_ENOMEM);
            return;
        }
        self->buf = grown;
        self->cap = cap;
    }
    memcpy (self->buf + self->len, data, n);
    self->len += n;
    self->buf [self->len] = 0;
}

/*  Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when invalid. */
static size_t
s_utf8_len (const unsigned char *s, size_t n)
{
    if (s [0] < 0x80)
        return 1;
    size_t need;
    uint32_t cp;
    if (s [0] >= 0xc2 && s [0] <= 0xdf) {
        need = 2;
        cp = s [0] & 0x1fu;
    }
    else if (s [0] >= 0xe0 && s [0] <= 0xef) {
        need = 3;
        cp = s [0] & 0x0fu;
    }
    else if (s [0] >= 0xf0 && s [0] <= 0xf4) {
        need = 4;
        cp = s [0] & 0x07u;
    }
    else
        return 0;
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((s [i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s [i] & 0x3fu);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10ffff))
        || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;   /* overlong, out of range or a surrogate */
    return need;
}

static void
s_put_string (cw_json_t *self, const char *value)
{
    const unsigned char *s = (const unsigned char *) value;
    size_t n = strlen (value);
    s_put (self, "\"", 1);
    size_t i = 0;
    while (i < n && !self->error) {
        unsigned char c = s [i];
        char esc [8];
        if (c == '"' || c == '\\') {
            esc [0] = '\\';
            esc [1] = (char) c;
            s_put (self, esc, 2);
            i++;
        }
        else if (c < 0x20) {
            const char *named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t"
                              : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
            if (named)
                s_put (self, named, 2);
            else {
                snprintf (esc, sizeof esc, "\\u%04x", (unsigned) c);
                s_put (self, esc, 6);
            }
            i++;
        }
        else {
            size_t run = s_utf8_len (s + i, n - i);
            if (run == 0) {
                s_put (self, "\\ufffd", 6);
                i++;
            }
            else {
                s_put (self, value + i, run);
                i += run;
            }
        }
    }
    s_put (self, "\"", 1);
}

/*  Writes the comma and key that go before a value at the current level. */
static void
s_value_prefix (cw_json_t *self, const char *key)
{
    if (self->error)
        return;
    if (self->depth == 0) {
        if (self->done || key)
            s_fail (self, CW_ESTATE);     /* one top-level value, never keyed */
        return;
    }
    int level = self->depth - 1;
    if (self->in_object [level] != (key != NULL)) {
        s_fail (self, CW_ESTATE);
        return;
    }
    if (self->has_items [level])
        s_put (self, ",", 1);
    self->has_items [level] = true;
    if (key) {
        s_put_string (self, key);
        s_put (self, ":", 1);
    }
}

static void
s_value_done (cw_json_t *self)
{
    if (self->depth == 0)
        self->done = true;
}

static void
s_begin (cw_json_t *self, const char *key, bool object)
{
    if (!self)
        return;
    s_value_prefix (self, key);
    if (self->error)
        return;
    if (self->depth >= CW_JSON_MAX_DEPTH) {
        s_fail (self, CW_ESTATE);
        return;
    }
    s_put (self, object ? "{" : "[", 1);
    self->in_object [self->depth] = object;
    self->has_items [self->depth] = false;
    self->depth++;
}

static void
s_end (cw_json_t *self, bool object)
{
    if (!self || self->error)
        return;
    if (self->depth == 0 || self->in_object [self->depth - 1] != object) {
        s_fail (self, CW_ESTATE);
        return;
    }
    s_put (self, object ? "}" : "]", 1);
    self->depth--;
    s_value_done (self);
}

void cw_json_object_begin (cw_json_t *self, const char *key) { s_begin (self, key, true); }
void cw_json_object_end (cw_json_t *self) { s_end (self, true); }
void cw_json_array_begin (cw_json_t *self, const char *key) { s_begin (self, key, false); }
void cw_json_array_end (cw_json_t *self) { s_end (self, false); }

static void
s_scalar (cw_json_t *self, const char *key, const char *text, bool quoted)
{
    if (!self)
        return;
    s_value_prefix (self, key);
    if (quoted)
        s_put_string (self, text);
    else
        s_put (self, text, strlen (text));
    s_value_done (self);
}

void
cw_json_string (cw_json_t *self, const char *key, const char *value)
{
    s_scalar (self, key, value ? value : "null", value != NULL);
}

void
cw_json_uint (cw_json_t *self, const char *key, uint64_t value)
{
    char text [24];
    snprintf (text, sizeof text, "%" PRIu64, value);
    s_scalar (self, key, text, false);
}

void
cw_json_int (cw_json_t *self, const char *key, int64_t value)
{
    char text [24];
    snprintf (text, sizeof text, "%" PRId64, value);
    s_scalar (self, key, text, false);
}

void
cw_json_bool (cw_json_t *self, const char *key, bool value)
{
    s_scalar (self, key, value ? "true" : "false", false);
}

void
cw_json_null (cw_json_t *self, const char *key)
{
    s_scalar (self, key, "null", false);
}

int
cw_json_error (const cw_json_t *self)
{
    return self ? self->error : CW_EINVAL;
}

const char *
cw_json_text (const cw_json_t *self, size_t *len)
{
    if (!self || self->error || self->depth != 0 || !self->done)
        return NULL;
    if (len)
        *len = self->len;
    return self->buf;
}
