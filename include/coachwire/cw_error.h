/*  cw_error.h - the single error enum of Coachwire and its sentences.
 *
 *  Every function that can fail returns CW_OK (0) or a negative CW_E* code. The same codes
 *  travel on the wire (FrameError.code, ApiReply.code), so their values never change: add new
 *  codes at the end of their group.
 */
#ifndef CW_ERROR_H_INCLUDED
#define CW_ERROR_H_INCLUDED

#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CW_OK = 0,
    /* programmer and local environment */
    CW_EINVAL = -1,         /* an argument was out of its documented range */
    CW_ENOMEM = -2,         /* an allocation failed */
    CW_EIO = -3,            /* a file or database operation failed */
    CW_ENOENT = -4,         /* a named file, person, device or record does not exist */
    CW_EEXIST = -5,         /* the thing to be created exists already */
    CW_ETIMEOUT = -6,       /* the peer did not answer in time */
    CW_ENOSPC = -7,         /* the disk or a bounded queue is full */
    CW_ECRED = -8,          /* a credential file is missing a key, malformed or unsafe */
    CW_ESTATE = -9,         /* the call is not valid in the object's current state */
    /* frame envelope (wire) */
    CW_EVERSION = -20,      /* protocol version not supported */
    CW_EFRAME = -21,        /* frame shorter than its header or of an unknown kind */
    CW_ETOOBIG = -22,       /* frame or field larger than its limit */
    CW_EAUTH = -23,         /* AEAD open failed: wrong key, tampered bytes or wrong associated data */
    CW_EREPLAY = -24,       /* reserved: sequence already seen (duplicates are acked, not refused) */
    CW_ESTREAM = -25,       /* unknown stream, or the batch does not match the stream it was sealed for */
    /* payload (wire) */
    CW_EDECODE = -30,       /* protobuf could not be decoded */
    CW_ERANGE = -31,        /* a value is out of its physical range (or NaN) */
    CW_ETIME = -32,         /* a timestamp is too far in the future or the past */
    CW_ESHAPE = -33,        /* per-sample arrays have different lengths */
    CW_EEMPTY = -34,        /* the batch holds no samples */
    /* authorization (wire) */
    CW_EDENIED = -40,       /* the authenticated key may not do this */
    CW_EREVOKED = -41,      /* the device or key has been revoked */
    CW_EUNKNOWNKEY = -42,   /* the key is not enrolled */
    CW_ECONSENT = -43,      /* no consent grant covers this use */
    /* service */
    CW_EBUSY = -50,         /* the service is overloaded or storage is failing: back off */
    CW_EREQUEST = -51,      /* the api request is malformed or names an unknown command */
    CW_EINTERNAL = -52      /* an invariant failed inside the service (a bug: please report) */
} cw_rc_t;

/*  Returns a sentence a user can act on for any rc, never NULL. */
CW_EXPORT const char *cw_strerror (int rc);

/*  Returns the short symbolic name ("CW_EAUTH"), for logs and --json output, never NULL. */
CW_EXPORT const char *cw_errname (int rc);

#ifdef __cplusplus
}
#endif

#endif
