/*  features_csv.h - a small numeric CSV reader for the feature tests (real recordings). */
#ifndef FEATURES_CSV_H_INCLUDED
#define FEATURES_CSV_H_INCLUDED

#include <stddef.h>

/*  Reads path, skipping skip_rows header lines, into *cols: an array of n_cols columns of
 *  *n_rows doubles each (a field that is not a number reads as NaN; missing fields too).
 *  Returns 0 or -1. Free with csv_free (cols, n_cols). */
int csv_read (const char *path, size_t skip_rows, size_t n_cols, double ***cols, size_t *n_rows);
void csv_free (double **cols, size_t n_cols);

#endif
