/*  cw_error.c - sentences and names for the CW_E* codes (a table, so none can go missing). */
#include "coachwire/cw_error.h"

#include <stddef.h>

typedef struct {
    int rc;
    const char *name;
    const char *text;
} s_error_t;

static const s_error_t s_errors [] = {
    { CW_OK, "CW_OK", "success" },
    { CW_EINVAL, "CW_EINVAL", "invalid argument" },
    { CW_ENOMEM, "CW_ENOMEM", "out of memory" },
    { CW_EIO, "CW_EIO", "file or database operation failed; check the disk and permissions" },
    { CW_ENOENT, "CW_ENOENT", "no such file, person, device or record" },
    { CW_EEXIST, "CW_EEXIST", "it exists already" },
    { CW_ETIMEOUT, "CW_ETIMEOUT", "no answer in time; check the endpoint and that the service runs" },
    { CW_ENOSPC, "CW_ENOSPC", "storage or queue is full; free space or raise the limit" },
    { CW_ECRED, "CW_ECRED", "credential file is missing a key, malformed or readable by others (chmod 600)" },
    { CW_ESTATE, "CW_ESTATE", "not valid in the current state" },
    { CW_EVERSION, "CW_EVERSION", "protocol version not supported by this service" },
    { CW_EFRAME, "CW_EFRAME", "frame is truncated or of an unknown kind" },
    { CW_ETOOBIG, "CW_ETOOBIG", "frame or field is larger than its limit" },
    { CW_EAUTH, "CW_EAUTH", "frame failed authentication: wrong key, tampered bytes or wrong associated data" },
    { CW_EREPLAY, "CW_EREPLAY", "sequence number already used" },
    { CW_ESTREAM, "CW_ESTREAM", "unknown stream, or the batch does not match its stream" },
    { CW_EDECODE, "CW_EDECODE", "payload is not a valid protobuf message" },
    { CW_ERANGE, "CW_ERANGE", "a value is out of its physical range" },
    { CW_ETIME, "CW_ETIME", "a timestamp is too far in the future or the past" },
    { CW_ESHAPE, "CW_ESHAPE", "per-sample arrays have different lengths" },
    { CW_EEMPTY, "CW_EEMPTY", "the batch holds no samples" },
    { CW_EDENIED, "CW_EDENIED", "permission denied for this key" },
    { CW_EREVOKED, "CW_EREVOKED", "the device or key has been revoked" },
    { CW_EUNKNOWNKEY, "CW_EUNKNOWNKEY", "the key is not enrolled" },
    { CW_ECONSENT, "CW_ECONSENT", "no consent grant covers this use" },
    { CW_EBUSY, "CW_EBUSY", "the service is busy or its storage is failing; retry later" },
    { CW_EREQUEST, "CW_EREQUEST", "malformed request or unknown command" },
    { CW_EINTERNAL, "CW_EINTERNAL", "internal error in the service; please report it" },
};

static const s_error_t *
s_find (int rc)
{
    for (size_t i = 0; i < sizeof s_errors / sizeof s_errors [0]; i++)
        if (s_errors [i].rc == rc)
            return &s_errors [i];
    return NULL;
}

const char *
cw_strerror (int rc)
{
    const s_error_t *e = s_find (rc);
    return e ? e->text : "unknown error code";
}

const char *
cw_errname (int rc)
{
    const s_error_t *e = s_find (rc);
    return e ? e->name : "CW_E?";
}
