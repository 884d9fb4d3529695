/*  test_dir.c - temporary directories for the tests (see test_dir.h). */
#include "test_dir.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int
test_dir_make (char *dir, size_t dir_size, char *db, size_t db_size, const char *name)
{
    int n = snprintf (dir, dir_size, "/tmp/cw-%s-XXXXXX", name);
    if (n < 0 || (size_t) n >= dir_size || !mkdtemp (dir))
        return -1;
    if (!db)
        return 0;
    n = snprintf (db, db_size, "%s/cw.db", dir);
    return n < 0 || (size_t) n >= db_size ? -1 : 0;
}

static int
s_remove (const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void) st;
    (void) type;
    (void) ftw;
    if (remove (path) != 0)
        fprintf (stderr, "test_dir: could not remove %s\n", path);
    return 0;
}

void
test_dir_remove (const char *dir)
{
    if (dir && *dir)
        nftw (dir, s_remove, 16, FTW_DEPTH | FTW_PHYS);
}
