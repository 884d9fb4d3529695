/*  cw_features_int.h - helpers shared by the feature classes; not part of the public API. */
#ifndef CW_FEATURES_INT_H_INCLUDED
#define CW_FEATURES_INT_H_INCLUDED

#include <stddef.h>

/*  Median of v [0..n), which is reordered; 0 when n == 0. NaN-free input assumed. */
double cw_features_median (double *v, size_t n);

#endif
