/*  test_dir.h - a temporary directory per test, with the path of a database in it. */
#ifndef TEST_DIR_H_INCLUDED
#define TEST_DIR_H_INCLUDED

#include <stddef.h>

/*  Makes a new /tmp/cw-NAME-XXXXXX into dir and "DIR/cw.db" into db (may be NULL). 0 on
 *  success, -1 when the directory could not be made or a buffer is too small. */
int test_dir_make (char *dir, size_t dir_size, char *db, size_t db_size, const char *name);

/*  Removes dir and all in it (a database, its WAL, its segment files). */
void test_dir_remove (const char *dir);

#endif
