/*  cw_edge_internal.h - pieces of the edge library shared with its tests and fuzz targets,
 *  not part of the public API (hidden in the shared library; use the static twin).
 */
#ifndef CW_EDGE_INTERNAL_H_INCLUDED
#define CW_EDGE_INTERNAL_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "coachwire.pb-c.h"
#include "coachwire/cw_pb.h"

#define CW_DOWNLINK_MAX_BYTES   (256u * 1024u)   /* ZMQ_MAXMSGSIZE on the device socket */
#define CW_DOWNLINK_HEAP_MAX    (1024u * 1024u)  /* heap one decoded downlink may use */

/*  Decodes one downlink message with a capped allocator (initialised by the call). Checks what
 *  the client relies on: a body is set, ack and error name a stream in range and a sequence
 *  > 0. Returns CW_OK and *out (free with cw_downlink_free and the same allocator),
 *  CW_ETOOBIG (len beyond CW_DOWNLINK_MAX_BYTES), CW_EDECODE (not a Downlink, or over the
 *  heap cap), CW_ESTREAM, CW_EFRAME. */
int cw_downlink_decode (cw_pb_alloc_t *alloc, const uint8_t *buf, size_t len,
                        Coachwire__Downlink **out);

/*  Frees a decoded downlink, sets *msg to NULL; safe on NULL. */
void cw_downlink_free (cw_pb_alloc_t *alloc, Coachwire__Downlink **msg);

#endif
