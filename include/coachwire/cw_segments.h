/*  cw_segments.h - stored frame payloads, in append-only segment files beside the database.
 *
 *  Why not in SQLite: a payload kept in a table is written twice (into the WAL by the commit,
 *  then into the database by the checkpointer), and at full load every new WAL page also made
 *  the kernel zero the rest of it: together half of the service's CPU per frame. A segment
 *  file takes each payload once, with one write for a whole group commit, synced before the
 *  commit that indexes it; the database keeps (segment, offset, length) in the frame's row.
 *
 *  Layout: DIR/NNNNNNNN.seg (segment number in 8 hex digits), each grown to about
 *  CW_SEGMENT_BYTES before the next is started. Bytes that no committed row points to (a
 *  group that failed, a crash before its commit) are never read and never in the way: the
 *  next group is written after them. A payload that is deleted or replaced is wiped where it
 *  lies (a hole punched, or zeros written), as SQLite's secure_delete does for its pages.
 *
 *  One writer at a time: between the first cw_segments_add of a group and cw_segments_flush
 *  (or _discard) the caller holds the database's write lock, which is what makes the append
 *  position (the active segment's size, read at that first add) its own. Readers need no
 *  lock: they only read what a committed row points to. One cw_segments_t per store
 *  connection, like the connection itself not shared between threads.
 */
#ifndef CW_SEGMENTS_H_INCLUDED
#define CW_SEGMENTS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "cw_export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CW_SEGMENT_BYTES (64u << 20)        /* a segment is started over after this size */
#define CW_SEGMENT_PAYLOAD_MAX (16u << 20)  /* no stored payload is larger */

typedef struct _cw_segments_t cw_segments_t;

/*  Opens the segment directory dir, creating it (mode 0700) when missing. No file is opened
 *  until the first add or read. */
CW_EXPORT int cw_segments_open (cw_segments_t **out, const char *dir) CW_MUST_CHECK;
/*  Forgets what is buffered, closes the files. Safe on NULL and twice. */
CW_EXPORT void cw_segments_destroy (cw_segments_t **self_p);

/*  Buffers len bytes for the next flush and says where they will lie. The first add after a
 *  flush or discard finds the append position (the caller holds the database's write lock). */
CW_EXPORT int cw_segments_add (cw_segments_t *self, const uint8_t *data, size_t len,
                               uint32_t *segment, uint64_t *offset) CW_MUST_CHECK;
/*  Where the next cw_segments_add will put its bytes (finding the append position first, as
 *  that add would): for a caller that must know it before deciding to add. */
CW_EXPORT int cw_segments_next (cw_segments_t *self, uint32_t *segment, uint64_t *offset)
    CW_MUST_CHECK;
/*  Writes what was added since the last flush and syncs it (and the directory, after a new
 *  segment file). Nothing buffered: CW_OK at once. On failure (CW_ENOSPC when the disk is
 *  full, CW_EIO) the buffered bytes are dropped: the caller rolls back the rows that pointed
 *  to them. */
CW_EXPORT int cw_segments_flush (cw_segments_t *self) CW_MUST_CHECK;
/*  Drops what was added since the last flush (the transaction rolled back). */
CW_EXPORT void cw_segments_discard (cw_segments_t *self);
/*  Bytes added and not yet flushed. */
CW_EXPORT size_t cw_segments_pending (const cw_segments_t *self);

/*  Reads len bytes at (segment, offset) into out. CW_EIO when they are not all there (a
 *  missing or cut segment file). */
CW_EXPORT int cw_segments_read (cw_segments_t *self, uint32_t segment, uint64_t offset,
                                size_t len, uint8_t *out) CW_MUST_CHECK;
/*  The size of segment's file in *size; CW_ENOENT when there is no such file. */
CW_EXPORT int cw_segments_size (cw_segments_t *self, uint32_t segment, uint64_t *size)
    CW_MUST_CHECK;
/*  Overwrites len bytes at (segment, offset): a hole punched where the file system can, zeros
 *  written where it cannot. A missing segment file is CW_OK (nothing left to wipe). */
CW_EXPORT int cw_segments_wipe (cw_segments_t *self, uint32_t segment, uint64_t offset,
                                size_t len) CW_MUST_CHECK;

/*  The last failure in words ("segment 00000003.seg: No space left on device"), "" if none. */
CW_EXPORT const char *cw_segments_error (const cw_segments_t *self);

#ifdef __cplusplus
}
#endif

#endif
