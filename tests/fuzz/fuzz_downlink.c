/*  fuzz_downlink.c - libFuzzer target: decode a Downlink exactly as the edge client does
 *  (size check, capped protobuf-c allocator, body checks), then free it. Must never crash,
 *  leak or allocate beyond the cap.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "coachwire/cw_error.h"
#include "cw_edge_internal.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    cw_pb_alloc_t alloc;
    Coachwire__Downlink *msg = NULL;
    int rc = cw_downlink_decode (&alloc, data, size, &msg);
    if (rc == CW_OK) {
        /*  Touch what the client reads. */
        volatile size_t sink = 0;
        if (msg->body_case == COACHWIRE__DOWNLINK__BODY_ERROR && msg->error->reason)
            for (const char *p = msg->error->reason; *p; p++)
                sink += (size_t) *p;
        if (msg->body_case == COACHWIRE__DOWNLINK__BODY_NUDGE)
            sink += msg->nudge->body.len;
        (void) sink;
        cw_downlink_free (&alloc, &msg);
    }
    else if (msg)
        abort ();   /* a failed decode must leave nothing behind */
    if (alloc.used != 0 || alloc.used > alloc.cap)
        abort ();   /* everything given back */
    return 0;
}
