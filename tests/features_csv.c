/*  features_csv.c - see features_csv.h. Lines are at most 4 KiB; files at most 1 M rows. */
#include "features_csv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_LINE_MAX 4096
#define S_ROWS_MAX 1000000

void
csv_free (double **cols, size_t n_cols)
{
    if (!cols)
        return;
    for (size_t c = 0; c < n_cols; c++)
        free (cols [c]);
    free (cols);
}

int
csv_read (const char *path, size_t skip_rows, size_t n_cols, double ***cols_out,
          size_t *n_rows)
{
    int rc = -1;
    size_t cap = 1024, rows = 0;
    double **cols = calloc (n_cols, sizeof *cols);
    FILE *f = fopen (path, "r");
    if (!cols || !f)
        goto done;
    for (size_t c = 0; c < n_cols; c++)
        if (!(cols [c] = malloc (cap * sizeof (double))))
            goto done;
    char line [S_LINE_MAX];
    size_t line_no = 0;
    while (fgets (line, sizeof line, f)) {
        if (line_no++ < skip_rows)
            continue;
        if (rows == cap) {
            if (cap >= S_ROWS_MAX)
                goto done;
            cap *= 2;
            for (size_t c = 0; c < n_cols; c++) {
                double *grown = realloc (cols [c], cap * sizeof (double));
                if (!grown)
                    goto done;
                cols [c] = grown;
            }
        }
        const char *p = line;
        for (size_t c = 0; c < n_cols; c++) {
            char *end = NULL;
            double v = (p && *p)? strtod (p, &end): NAN;
            if (!p || end == p || (end && *end != ',' && *end != '\n' && *end != '\r'
                                   && *end != '\0'))
                v = NAN;
            cols [c][rows] = v;
            p = p? strchr (p, ','): NULL;
            if (p)
                p++;
        }
        rows++;
    }
    *cols_out = cols;
    *n_rows = rows;
    cols = NULL;
    rc = 0;
done:
    if (f)
        fclose (f);
    csv_free (cols, n_cols);
    return rc;
}
