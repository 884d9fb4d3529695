/*  fuzz_frame.c - the gateway's door: a frame from outside is peeked, opened, and its payload
 *  decoded through the capped allocator and validated. Half of the runs seal the input as a
 *  payload first, so the decoder and validator see arbitrary bytes after a successful open. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coachwire/cw_batch.h"
#include "coachwire/cw_envelope.h"
#include "coachwire/cw_error.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const uint8_t s_key [32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
static const uint8_t s_device [CW_DEVICE_ID_BYTES] = { 42 };

static void
s_decode_validate (const uint8_t *plain, size_t len, uint16_t stream)
{
    cw_pb_alloc_t alloc;
    cw_pb_alloc_init (&alloc, 0);
    Coachwire__SensorBatch *batch = NULL;
    char reason [CW_REASON_MAX];
    if (cw_batch_decode (&alloc, plain, len, &batch, reason, sizeof reason) == CW_OK) {
        int rc = cw_batch_validate (batch, stream, 1700000000000ull, reason, sizeof reason);
        if (rc == CW_OK && cw_batch_samples (batch) > CW_BATCH_MAX_SAMPLES * 6)
            abort ();
        cw_batch_free (&alloc, &batch);
    }
    if (alloc.used != 0)
        abort ();   /* every decoded byte must go back to the budget */
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1 || size > CW_PAYLOAD_MAX_BYTES)
        return 0;
    uint16_t stream = (uint16_t) (data [0] % 8);
    if (data [0] & 0x80) {
        /* as a payload, sealed properly: exercises decode and validate */
        size_t cap = size - 1 + CW_FRAME_OVERHEAD, flen = 0;
        uint8_t *frame = malloc (cap);
        uint16_t s = stream ? stream : 1;
        if (cw_envelope_seal (frame, cap, &flen, s_key, s_device, s, 1, data + 1, size - 1)
            == CW_OK) {
            uint8_t *plain = malloc (flen);
            size_t plen = 0;
            cw_frame_header_t h;
            if (cw_envelope_open (plain, flen, &plen, &h, s_key, s_device, frame, flen) != CW_OK
                || plen != size - 1)
                abort ();
            s_decode_validate (plain, plen, s);
            free (plain);
        }
        free (frame);
    }
    else {
        /* as a whole frame: the header parser and AEAD open must refuse cleanly */
        uint8_t *plain = malloc (size);
        size_t plen = 0;
        cw_frame_header_t h;
        int rc = cw_envelope_open (plain, size, &plen, &h, s_key, s_device, data, size);
        if (rc == CW_OK)
            s_decode_validate (plain, plen, h.stream);
        free (plain);
    }
    return 0;
}
