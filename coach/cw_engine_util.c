/*  cw_engine_util.c - parsing and SQLite helpers shared by the engine (cw_engine_internal.h). */
#include "cw_engine_internal.h"

#include "coachwire/cw_error.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
cw_lines_init (cw_lines_t *self, const char *text, size_t len)
{
    memset (self, 0, sizeof *self);
    self->text = text;
    self->len = len;
}

int
cw_lines_next (cw_lines_t *self)
{
    if (self->pos >= self->len)
        return 0;
    self->lineno++;
    size_t start = self->pos, end = start;
    while (end < self->len && self->text [end] != '\n')
        end++;
    self->pos = end < self->len ? end + 1 : end;
    size_t n = end - start;
    if (n > 0 && self->text [start + n - 1] == '\r')
        n--;
    if (n > CW_PLAN_LINE_MAX)
        return CW_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) self->text [start + i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return CW_EINVAL;
    }
    memcpy (self->line, self->text + start, n);
    self->line [n] = '\0';
    return 1;
}

int
cw_words_split (char *line, const char *original, char **words, const char **rest, int max)
{
    int n = 0;
    char *p = line;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        if (n == 0 && *p == '#')
            return 0;
        if (n == max)
            return -1;
        words [n] = p;
        if (rest)
            rest [n] = original + (p - line);
        n++;
        while (*p && *p != ' ' && *p != '\t')
            p++;
        if (*p)
            *p++ = '\0';
    }
    return n;
}

bool
cw_parse_number (const char *word, double *out)
{
    if (!word || !*word)
        return false;
    //  Plain decimals only: no hex, no "inf", no "nan", no leading blank.
    for (const char *c = word; *c; c++)
        if (!((*c >= '0' && *c <= '9') || *c == '.' || *c == '-' || *c == '+'))
            return false;
    char *end = NULL;
    errno = 0;
    double v = strtod (word, &end);
    if (errno != 0 || !end || *end != '\0' || end == word || !isfinite (v))
        return false;
    *out = v;
    return true;
}

bool
cw_parse_uint (const char *word, uint64_t max, uint64_t *out)
{
    if (!word || !*word || strlen (word) > 19)
        return false;
    uint64_t v = 0;
    for (const char *c = word; *c; c++) {
        if (*c < '0' || *c > '9')
            return false;
        v = v * 10u + (uint64_t) (*c - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

bool
cw_parse_duration (const char *word, uint64_t *ms)
{
    static const struct { char unit; uint64_t ms; } units [] = {
        { 's', 1000u }, { 'm', 60000u }, { 'h', 3600000u }, { 'd', 86400000u } };
    size_t len = word ? strlen (word) : 0;
    if (len < 2 || len > 12)
        return false;
    char digits [16];
    memcpy (digits, word, len - 1);
    digits [len - 1] = '\0';
    uint64_t n = 0;
    if (!cw_parse_uint (digits, 1000000u, &n))
        return false;
    for (size_t i = 0; i < sizeof units / sizeof units [0]; i++)
        if (units [i].unit == word [len - 1]) {
            uint64_t v = n * units [i].ms;
            if (v < 1000u || v > 30u * 86400000u)
                return false;
            *ms = v;
            return true;
        }
    return false;
}

bool
cw_parse_clock (const char *word, uint32_t *minute)
{
    if (!word || strlen (word) != 5 || word [2] != ':')
        return false;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (word [i] < '0' || word [i] > '9'))
            return false;
    int h = (word [0] - '0') * 10 + (word [1] - '0');
    int m = (word [3] - '0') * 10 + (word [4] - '0');
    if (h > 23 || m > 59)
        return false;
    *minute = (uint32_t) (h * 60 + m);
    return true;
}

void
cw_parse_fail (cw_parse_error_t *err, uint32_t line, const char *fmt, ...)
{
    if (!err)
        return;
    err->line = line;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (err->reason, sizeof err->reason, fmt, ap);
    va_end (ap);
}

int
cw_parse_check_size (size_t len, cw_parse_error_t *err)
{
    if (len > CW_PLAN_TEXT_MAX) {
        cw_parse_fail (err, 0, "file is larger than %u bytes", (unsigned) CW_PLAN_TEXT_MAX);
        return CW_ETOOBIG;
    }
    return CW_OK;
}

int
cw_sql_rc (int r)
{
    if (r == SQLITE_OK || r == SQLITE_DONE || r == SQLITE_ROW)
        return CW_OK;
    if ((r & 0xff) == SQLITE_BUSY || (r & 0xff) == SQLITE_LOCKED)
        return CW_EBUSY;
    if ((r & 0xff) == SQLITE_NOMEM)
        return CW_ENOMEM;
    if ((r & 0xff) == SQLITE_CONSTRAINT)
        return CW_EEXIST;
    return CW_EIO;
}

int
cw_sql_exec (sqlite3 *db, const char *sql)
{
    return cw_sql_rc (sqlite3_exec (db, sql, NULL, NULL, NULL));
}

int
cw_sql_prepare (sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    *st = NULL;
    return cw_sql_rc (sqlite3_prepare_v2 (db, sql, -1, st, NULL));
}

int
cw_sql_step_done (sqlite3_stmt *st)
{
    int r = sqlite3_step (st);
    int rc = r == SQLITE_DONE ? CW_OK : cw_sql_rc (r);
    if (rc == CW_OK && r != SQLITE_DONE)
        rc = CW_EIO;
    sqlite3_finalize (st);
    return rc;
}

int
cw_sql_savepoint (sqlite3 *db, const char *name)
{
    char sql [64];
    snprintf (sql, sizeof sql, "SAVEPOINT %s", name);
    return cw_sql_exec (db, sql);
}

int
cw_sql_release (sqlite3 *db, const char *name)
{
    char sql [64];
    snprintf (sql, sizeof sql, "RELEASE %s", name);
    return cw_sql_exec (db, sql);
}

void
cw_sql_rollback_to (sqlite3 *db, const char *name)
{
    char sql [96];
    snprintf (sql, sizeof sql, "ROLLBACK TO %s; RELEASE %s", name, name);
    cw_sql_exec (db, sql);
}

int
cw_sql_erase_user (sqlite3 *db, const char *name, const char *const *sql, size_t n,
                   const uint8_t *user_id, uint64_t *deleted)
{
    if (deleted)
        *deleted = 0;
    int rc = cw_sql_savepoint (db, name);
    if (rc != CW_OK)
        return rc;
    uint64_t count = 0;
    for (size_t i = 0; rc == CW_OK && i < n; i++) {
        sqlite3_stmt *st = NULL;
        if ((rc = cw_sql_prepare (db, sql [i], &st)) != CW_OK)
            break;
        sqlite3_bind_blob (st, 1, user_id, CW_ID_BYTES, SQLITE_STATIC);
        rc = cw_sql_step_done (st);
        if (rc == CW_OK)
            count = (uint64_t) sqlite3_changes (db);
    }
    if (rc == CW_OK)
        rc = cw_sql_release (db, name);
    if (rc != CW_OK)
        cw_sql_rollback_to (db, name);
    if (rc == CW_OK && deleted)
        *deleted = count;
    return rc;
}

void
cw_format_duration (uint64_t ms, bool japanese, char *buf, size_t size)
{
    uint64_t s = (ms + 500u) / 1000u;
    if (s < 120u)
        snprintf (buf, size, japanese ? "%llu秒" : "%llu s", (unsigned long long) s);
    else if (s < 7200u && s % 60u == 0)
        snprintf (buf, size, japanese ? "%llu分" : "%llu min", (unsigned long long) (s / 60u));
    else if (s < 7200u)
        snprintf (buf, size, japanese ? "%llu分" : "%llu min",
                  (unsigned long long) ((s + 30u) / 60u));
    else {
        unsigned long long h = s / 3600u, m = (s % 3600u) / 60u;
        if (m)
            snprintf (buf, size, japanese ? "%llu時間%llu分" : "%llu h %llu min", h, m);
        else
            snprintf (buf, size, japanese ? "%llu時間" : "%llu h", h);
    }
}
