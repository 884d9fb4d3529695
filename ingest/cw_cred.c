/*  cw_cred.c - credential files (see cw_cred.h for the format). */
#include "coachwire/cw_cred.h"
#include "coachwire/cw_error.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

struct _cw_cred_t {
    cw_cred_kind_t kind;                    /* what the key may do */
    uint8_t id [CW_CRED_ID_BYTES];          /* device or principal id */
    char id_hex [2 * CW_CRED_ID_BYTES + 1]; /* id as text, for logs and commands */
    char name [CW_CRED_TEXT_MAX];           /* person / coach / operator name */
    uint8_t public_key [32];
    uint8_t *secret_key;                    /* sodium_malloc'd, NULL when public only */
    uint8_t server_key [32];                /* pinned service key */
    char endpoint [CW_CRED_TEXT_MAX];       /* gateway endpoint */
    char api_endpoint [CW_CRED_TEXT_MAX];   /* api endpoint */
};

static const char *s_kind_names [] = { "?", "device", "user", "coach", "operator" };

const char *
cw_cred_kind_name (cw_cred_kind_t kind)
{
    return kind >= CW_CRED_DEVICE && kind <= CW_CRED_OPERATOR ? s_kind_names [kind] : "?";
}

void
cw_hex_encode (char *out, const uint8_t *bytes, size_t len)
{
    sodium_bin2hex (out, 2 * len + 1, bytes, len);
}

int
cw_hex_decode (uint8_t *bytes, size_t len, const char *text)
{
    size_t got = 0;
    const char *end = NULL;
    if (!text || strlen (text) != 2 * len)
        return CW_EINVAL;
    if (sodium_hex2bin (bytes, len, text, 2 * len, NULL, &got, &end) != 0 || got != len)
        return CW_EINVAL;
    return CW_OK;
}

void
cw_key_to_z85 (char *out, const uint8_t *key)
{
    zmq_z85_encode (out, key, 32);
}

int
cw_key_from_z85 (uint8_t *key, const char *text)
{
    if (!text || strlen (text) != 40)
        return CW_EINVAL;
    return zmq_z85_decode (key, text) ? CW_OK : CW_EINVAL;
}

static cw_cred_t *
s_alloc (void)
{
    cw_cred_t *self = calloc (1, sizeof *self);
    return self;
}

void
cw_cred_destroy (cw_cred_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_cred_t *self = *self_p;
    if (self->secret_key)
        sodium_free (self->secret_key);   /* sodium_free wipes before freeing */
    sodium_memzero (self, sizeof *self);
    free (self);
    *self_p = NULL;
}

static int
s_set_text (char *dst, const char *src)
{
    if (!src)
        src = "";
    size_t n = strlen (src);
    if (n >= CW_CRED_TEXT_MAX)
        return CW_EINVAL;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) src [i] < 0x20 || src [i] == 0x7f)
            return CW_EINVAL;     /* no control characters: the file is line based */
    memcpy (dst, src, n + 1);
    return CW_OK;
}

int
cw_cred_new (cw_cred_t **out, cw_cred_kind_t kind, const uint8_t *id, const char *name,
             const uint8_t *public_key, const uint8_t *secret_key, const uint8_t *server_key,
             const char *endpoint, const char *api_endpoint)
{
    if (!out || !id || !public_key || !server_key || kind < CW_CRED_DEVICE
        || kind > CW_CRED_OPERATOR)
        return CW_EINVAL;
    *out = NULL;
    cw_cred_t *self = s_alloc ();
    if (!self)
        return CW_ENOMEM;
    int rc = CW_OK;
    self->kind = kind;
    memcpy (self->id, id, CW_CRED_ID_BYTES);
    cw_hex_encode (self->id_hex, id, CW_CRED_ID_BYTES);
    memcpy (self->public_key, public_key, 32);
    memcpy (self->server_key, server_key, 32);
    if ((rc = s_set_text (self->name, name)) != CW_OK
        || (rc = s_set_text (self->endpoint, endpoint)) != CW_OK
        || (rc = s_set_text (self->api_endpoint, api_endpoint)) != CW_OK)
        goto done;
    if (secret_key) {
        self->secret_key = sodium_malloc (32);
        if (!self->secret_key) {
            rc = CW_ENOMEM;
            goto done;
        }
        memcpy (self->secret_key, secret_key, 32);
    }
done:
    if (rc != CW_OK)
        cw_cred_destroy (&self);
    *out = self;
    return rc;
}

static void
s_error (char *errbuf, size_t size, int line, const char *reason)
{
    if (errbuf && size)
        snprintf (errbuf, size, "line %d: %s", line, reason);
}

/*  Trims spaces and tabs on both ends, in place; returns the new start. */
static char *
s_trim (char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen (s);
    while (n && (s [n - 1] == ' ' || s [n - 1] == '\t' || s [n - 1] == '\r'))
        s [--n] = 0;
    return s;
}

int
cw_cred_parse (const char *text, size_t len, cw_cred_t **out, char *errbuf, size_t errbuf_size)
{
    if (!out || (!text && len))
        return CW_EINVAL;
    *out = NULL;
    if (len > CW_CRED_MAX_BYTES) {
        s_error (errbuf, errbuf_size, 0, "credential file too large");
        return CW_ECRED;
    }
    /* A private, NUL-terminated copy: it holds the secret key text, so it is sodium memory. */
    char *copy = sodium_malloc (len + 1);
    cw_cred_t *self = s_alloc ();
    if (!copy || !self) {
        if (copy)
            sodium_free (copy);
        free (self);
        s_error (errbuf, errbuf_size, 0, "out of memory");
        return CW_ENOMEM;
    }
    memcpy (copy, text, len);
    copy [len] = 0;
    int rc = CW_OK;
    int line_no = 0;
    unsigned seen = 0;   /* bit per key, to find missing and repeated keys */
    enum { K_KIND = 1, K_ID = 2, K_NAME = 4, K_PUB = 8, K_SEC = 16, K_SRV = 32, K_EP = 64,
           K_API = 128 };

    if (memchr (copy, 0, len)) {
        s_error (errbuf, errbuf_size, 0, "credential file contains a NUL byte");
        rc = CW_ECRED;
        goto done;
    }
    char *cursor = copy;
    while (cursor && *cursor) {
        line_no++;
        char *line = cursor;
        char *nl = strchr (cursor, '\n');
        if (nl) {
            *nl = 0;
            cursor = nl + 1;
        }
        else
            cursor = NULL;
        line = s_trim (line);
        if (*line == 0 || *line == '#')
            continue;
        char *eq = strchr (line, '=');
        if (!eq) {
            s_error (errbuf, errbuf_size, line_no, "expected 'key = value'");
            rc = CW_ECRED;
            goto done;
        }
        *eq = 0;
        char *key = s_trim (line);
        char *value = s_trim (eq + 1);
        unsigned bit = 0;
        int bad = 0;
        if (strcmp (key, "kind") == 0) {
            bit = K_KIND;
            self->kind = 0;
            for (int k = CW_CRED_DEVICE; k <= CW_CRED_OPERATOR; k++)
                if (strcmp (value, s_kind_names [k]) == 0)
                    self->kind = (cw_cred_kind_t) k;
            bad = self->kind == 0;
        }
        else if (strcmp (key, "id") == 0) {
            bit = K_ID;
            bad = cw_hex_decode (self->id, CW_CRED_ID_BYTES, value) != CW_OK;
            if (!bad)
                cw_hex_encode (self->id_hex, self->id, CW_CRED_ID_BYTES);
        }
        else if (strcmp (key, "name") == 0) {
            bit = K_NAME;
            bad = s_set_text (self->name, value) != CW_OK;
        }
        else if (strcmp (key, "public_key") == 0) {
            bit = K_PUB;
            bad = cw_key_from_z85 (self->public_key, value) != CW_OK;
        }
        else if (strcmp (key, "secret_key") == 0) {
            bit = K_SEC;
            if (!self->secret_key)
                self->secret_key = sodium_malloc (32);
            if (!self->secret_key) {
                s_error (errbuf, errbuf_size, line_no, "out of memory");
                rc = CW_ENOMEM;
                goto done;
            }
            bad = cw_key_from_z85 (self->secret_key, value) != CW_OK;
        }
        else if (strcmp (key, "server_key") == 0) {
            bit = K_SRV;
            bad = cw_key_from_z85 (self->server_key, value) != CW_OK;
        }
        else if (strcmp (key, "endpoint") == 0) {
            bit = K_EP;
            bad = s_set_text (self->endpoint, value) != CW_OK;
        }
        else if (strcmp (key, "api_endpoint") == 0) {
            bit = K_API;
            bad = s_set_text (self->api_endpoint, value) != CW_OK;
        }
        else {
            s_error (errbuf, errbuf_size, line_no, "unknown key");
            rc = CW_ECRED;
            goto done;
        }
        if (seen & bit) {
            s_error (errbuf, errbuf_size, line_no, "key given twice");
            rc = CW_ECRED;
            goto done;
        }
        if (bad) {
            s_error (errbuf, errbuf_size, line_no, "malformed value");
            rc = CW_ECRED;
            goto done;
        }
        seen |= bit;
    }
    unsigned required = K_KIND | K_ID | K_PUB | K_SEC | K_SRV;
    if ((seen & required) != required) {
        s_error (errbuf, errbuf_size, line_no,
                 "missing one of kind, id, public_key, secret_key, server_key");
        rc = CW_ECRED;
        goto done;
    }
    /* The public key must match the secret one: catches a file pasted together wrongly. */
    uint8_t derived [32];
    crypto_scalarmult_base (derived, self->secret_key);
    if (sodium_memcmp (derived, self->public_key, 32) != 0) {
        s_error (errbuf, errbuf_size, line_no, "public_key does not match secret_key");
        rc = CW_ECRED;
    }
    sodium_memzero (derived, sizeof derived);
done:
    sodium_free (copy);
    if (rc != CW_OK)
        cw_cred_destroy (&self);
    *out = self;
    return rc;
}

int
cw_cred_load (const char *path, cw_cred_t **out, char *errbuf, size_t errbuf_size)
{
    if (!path || !out)
        return CW_EINVAL;
    *out = NULL;
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        s_error (errbuf, errbuf_size, 0, strerror (errno));
        return errno == ENOENT ? CW_ENOENT : CW_EIO;
    }
    struct stat st;
    int rc = CW_OK;
    char *buf = NULL;
    if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode)) {
        s_error (errbuf, errbuf_size, 0, "not a regular file");
        rc = CW_ECRED;
        goto done;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        s_error (errbuf, errbuf_size, 0, "readable by group or others: run chmod 600 on it");
        rc = CW_ECRED;
        goto done;
    }
    if (st.st_size > (off_t) CW_CRED_MAX_BYTES) {
        s_error (errbuf, errbuf_size, 0, "credential file too large");
        rc = CW_ECRED;
        goto done;
    }
    buf = sodium_malloc (CW_CRED_MAX_BYTES);
    if (!buf) {
        rc = CW_ENOMEM;
        goto done;
    }
    size_t have = 0;
    while (have < CW_CRED_MAX_BYTES) {
        ssize_t n = read (fd, buf + have, CW_CRED_MAX_BYTES - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = CW_EIO;
            goto done;
        }
        if (n == 0)
            break;
        have += (size_t) n;
    }
    rc = cw_cred_parse (buf, have, out, errbuf, errbuf_size);
done:
    if (buf)
        sodium_free (buf);
    close (fd);
    return rc;
}

int
cw_cred_format (const cw_cred_t *self, char *buf, size_t size, size_t *len)
{
    if (!self || !buf || !size)
        return CW_EINVAL;
    char pub [41], srv [41], sec [41] = "";
    cw_key_to_z85 (pub, self->public_key);
    cw_key_to_z85 (srv, self->server_key);
    if (self->secret_key)
        cw_key_to_z85 (sec, self->secret_key);
    int n = snprintf (buf, size,
                      "# Coachwire %s credential. Keep it secret: it proves who you are.\n"
                      "kind = %s\nid = %s\nname = %s\npublic_key = %s\n%s%s%s"
                      "server_key = %s\nendpoint = %s\napi_endpoint = %s\n",
                      cw_cred_kind_name (self->kind), cw_cred_kind_name (self->kind),
                      self->id_hex, self->name, pub, self->secret_key ? "secret_key = " : "",
                      sec, self->secret_key ? "\n" : "", srv, self->endpoint,
                      self->api_endpoint);
    sodium_memzero (sec, sizeof sec);
    if (n < 0 || (size_t) n >= size) {
        sodium_memzero (buf, size);
        return CW_ETOOBIG;
    }
    if (len)
        *len = (size_t) n;
    return CW_OK;
}

int
cw_cred_save (const cw_cred_t *self, const char *path)
{
    if (!self || !path)
        return CW_EINVAL;
    char *text = sodium_malloc (CW_CRED_MAX_BYTES);
    if (!text)
        return CW_ENOMEM;
    size_t n = 0;
    int rc = cw_cred_format (self, text, CW_CRED_MAX_BYTES, &n);
    if (rc == CW_OK)
        rc = cw_cred_write_text (path, text, n);
    sodium_free (text);
    return rc;
}

int
cw_cred_write_text (const char *path, const char *text, size_t len)
{
    if (!path || (!text && len))
        return CW_EINVAL;
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? CW_EEXIST : CW_EIO;
    int rc = CW_OK;
    if (write (fd, text, len) != (ssize_t) len || fsync (fd) != 0)
        rc = CW_EIO;
    if (close (fd) != 0 && rc == CW_OK)
        rc = CW_EIO;
    if (rc != CW_OK)
        unlink (path);
    return rc;
}

cw_cred_kind_t cw_cred_kind (const cw_cred_t *self) { return self->kind; }
const uint8_t *cw_cred_id (const cw_cred_t *self) { return self->id; }
const char *cw_cred_id_hex (const cw_cred_t *self) { return self->id_hex; }
const char *cw_cred_name (const cw_cred_t *self) { return self->name; }
const uint8_t *cw_cred_public_key (const cw_cred_t *self) { return self->public_key; }
const uint8_t *cw_cred_secret_key (const cw_cred_t *self) { return self->secret_key; }
const uint8_t *cw_cred_server_key (const cw_cred_t *self) { return self->server_key; }
const char *cw_cred_endpoint (const cw_cred_t *self) { return self->endpoint; }
const char *cw_cred_api_endpoint (const cw_cred_t *self) { return self->api_endpoint; }
