/*  cw_engine_internal.h - helpers shared by the engine's classes (plan, rules, arbiter,
 *  nudge): the line reader and word splitter of the plan and rules parsers, numbers and
 *  durations, and small SQLite wrappers. Not a public API.
 */
#ifndef CW_ENGINE_INTERNAL_H_INCLUDED
#define CW_ENGINE_INTERNAL_H_INCLUDED

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coachwire/cw_plan.h"

#define CW_ENGINE_MAX_WORDS 16

/*  A line reader over text [0, len). */
typedef struct {
    const char *text;
    size_t len;
    size_t pos;
    uint32_t lineno;                /* number of the line last returned */
    char line [CW_PLAN_LINE_MAX + 1];   /* the line, without its end (\n or \r\n) */
} cw_lines_t;

void cw_lines_init (cw_lines_t *self, const char *text, size_t len);
/*  1: a line is in self->line; 0: end of text; CW_ETOOBIG: the line is longer than
 *  CW_PLAN_LINE_MAX; CW_EINVAL: the line holds a NUL or a control character other than tab. */
int cw_lines_next (cw_lines_t *self);

/*  Splits line in place at blanks into at most max words; rest [i] (may be NULL) points at
 *  word i in `original` (the unsplit line) so that a caller can take "the rest of the line".
 *  Returns the number of words, or -1 when there are more than max. A line whose first word
 *  starts with '#' has 0 words. */
int cw_words_split (char *line, const char *original, char **words, const char **rest,
                    int max);

/*  A finite decimal number taking the whole word. */
bool cw_parse_number (const char *word, double *out);
/*  An unsigned integer 0 .. max taking the whole word (no sign, no blanks). */
bool cw_parse_uint (const char *word, uint64_t max, uint64_t *out);
/*  A duration: a whole number with a unit s, m (minutes), h or d ("60s", "10m", "2h"), at
 *  least 1 s and at most 30 days. */
bool cw_parse_duration (const char *word, uint64_t *ms);
/*  A local time of day HH:MM (00:00 .. 23:59) as minutes. */
bool cw_parse_clock (const char *word, uint32_t *minute);

/*  Fills err (may be NULL) with a line number and a printf-style reason. */
void cw_parse_fail (cw_parse_error_t *err, uint32_t line, const char *fmt, ...)
    __attribute__((format (printf, 3, 4)));

/*  Whole-file checks shared by the parsers: size cap. Returns CW_OK or CW_ETOOBIG (err set). */
int cw_parse_check_size (size_t len, cw_parse_error_t *err);

/*  SQLite: maps a result code to CW_OK / CW_EBUSY / CW_EIO. */
int cw_sql_rc (int sqlite_rc);
/*  Runs statements without results. */
int cw_sql_exec (sqlite3 *db, const char *sql);
/*  Prepares one statement; the caller finalizes. */
int cw_sql_prepare (sqlite3 *db, const char *sql, sqlite3_stmt **st);
/*  Steps a statement expected to end with DONE, then finalizes it. */
int cw_sql_step_done (sqlite3_stmt *st);
/*  A savepoint (joins an open transaction, or starts one): begin, then release or roll back. */
int cw_sql_savepoint (sqlite3 *db, const char *name);
int cw_sql_release (sqlite3 *db, const char *name);
void cw_sql_rollback_to (sqlite3 *db, const char *name);
/*  Erasure of a person: runs each statement of sql (one parameter, ?1 = user_id) inside the
 *  savepoint name, all or nothing. *deleted (may be NULL) gets the rows the last statement
 *  removed (each module lists its main table last). */
int cw_sql_erase_user (sqlite3 *db, const char *name, const char *const *sql, size_t n,
                       const uint8_t *user_id, uint64_t *deleted);

/*  Formats a duration in ms for people: "45 s", "2 min", "1 h 30 min" (en), "45秒", "2分",
 *  "1時間30分" (ja). */
void cw_format_duration (uint64_t ms, bool japanese, char *buf, size_t size);

#endif
