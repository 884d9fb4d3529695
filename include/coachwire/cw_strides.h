/*  cw_strides.h - strides, stride time and ground contact time from a foot-mounted gyroscope.
 *
 *  One object per foot pod. Feed the angular-rate arrays of each ImuBatch (mdeg/s) in order.
 *  The foot rotates mostly about one axis (pitch, in the sagittal plane); we take the
 *  principal axis of the angular rate's second moment over the last seconds (the axis with
 *  most variance, also when the pod is mounted askew) rather than trusting a mounting
 *  convention, and project onto it.
 *
 *  On that signal one stride has three lobes: the long swing lobe (the foot swings forward),
 *  and, on the other side of zero, a dip at heel strike and one at toe-off; in mid-stance the
 *  foot is still. The swing lobe is the one with the largest area of its own sign (the foot
 *  turns through its widest angle in swing), which fixes the sign without a convention.
 *  A stride runs from one mid-swing peak to the next; its contact time runs from the heel
 *  strike dip after the first (initial contact, IC) to the toe-off dip before the second
 *  (terminal contact, TC), as in Rampp et al., IEEE TBME 2015.
 */
#ifndef CW_STRIDES_H_INCLUDED
#define CW_STRIDES_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"
#include "cw_features.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  Strides the summary's medians are taken over. */
#define CW_STRIDES_WINDOW 32

typedef struct {
    double start;               /* mid-swing peak opening the stride, s since the first sample */
    double stride_time_ms;      /* to the next mid-swing peak of the same foot */
    double contact_time_ms;     /* IC to TC; 0 when the stance could not be delimited */
} cw_stride_t;

typedef struct {
    uint64_t strides;           /* strides counted so far */
    cw_metric_t stride_time;    /* median over the window, ms */
    cw_metric_t contact_time;   /* median over the window, ms */
    cw_metric_t cadence;        /* steps/min of both feet: 2 strides' worth per stride time */
} cw_strides_summary_t;

typedef struct _cw_strides_t cw_strides_t;

/*  Called for each stride when its closing swing peak is known (about a stride late). */
typedef void (cw_stride_fn) (void *arg, const cw_stride_t *stride);

/*  New detector, or NULL when the rate is outside CW_IMU_RATE_MIN..MAX_MHZ, the placement is
 *  not a known ImuPlacement, or memory ran out. Any placement is accepted (the confidence
 *  says what it is worth); the method is meant for CW_PLACEMENT_FOOT_LEFT/RIGHT. */
CW_EXPORT cw_strides_t *cw_strides_new (uint32_t sample_rate_mhz, cw_placement_t placement);

/*  Frees and sets *self_p to NULL; safe on NULL and twice. */
CW_EXPORT void cw_strides_destroy (cw_strides_t **self_p);

/*  Feeds n samples of angular rate in mdeg/s. CW_EINVAL on NULL self or arrays with n > 0. */
CW_EXPORT int cw_strides_feed (cw_strides_t *self, const int32_t *gx, const int32_t *gy,
                               const int32_t *gz, size_t n);

/*  Registers fn (NULL to remove) to hear each stride. */
CW_EXPORT void cw_strides_set_handler (cw_strides_t *self, cw_stride_fn *fn, void *arg);

/*  Strides counted so far. */
CW_EXPORT uint64_t cw_strides_total (const cw_strides_t *self);

/*  Count and medians of the last CW_STRIDES_WINDOW strides. CW_EINVAL on NULL. */
CW_EXPORT int cw_strides_summary (const cw_strides_t *self, cw_strides_summary_t *out);

/*  Left foot's share of ground contact time, percent (median contact of each foot's window):
 *  the stance time balance of running watches. CW_EINVAL on NULL; CW_EEMPTY when either foot
 *  has no stride with a contact time yet. */
CW_EXPORT int cw_strides_balance (const cw_strides_t *left, const cw_strides_t *right,
                                  cw_metric_t *out);

#ifdef __cplusplus
}
#endif

#endif
