/*  fuzz_fit.c - libFuzzer target: arbitrary bytes through the FIT decoder and the importer.
 *  Every batch the importer produces must pack. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "coachwire/cw_fit.h"
#include "coachwire/cw_import.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int
s_pack_sink (void *ctx, const Coachwire__SensorBatch *batch)
{
    (void) ctx;
    size_t len = protobuf_c_message_get_packed_size (&batch->base);
    uint8_t *buf = malloc (len ? len : 1);
    if (!buf)
        return 0;
    if (protobuf_c_message_pack (&batch->base, buf) != len)
        abort ();
    free (buf);
    return 0;
}

static int
s_on_record (void *ctx, const cw_fit_record_t *r)
{
    (void) ctx;
    (void) r;
    return 0;
}

static int
s_on_hrv (void *ctx, uint32_t ts, const uint16_t *rr, size_t n)
{
    (void) ctx;
    (void) ts;
    /*  Touch every value so that ASan checks the bounds the decoder promised. */
    uint32_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += rr [i];
    return sum == UINT32_MAX;   /* never true for <= 255 uint16 values; keeps the reads */
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    cw_fit_t *fit = cw_fit_new ();
    if (fit) {
        cw_fit_handlers_t h = { s_on_record, s_on_hrv, NULL };
        (void) cw_fit_decode (fit, data, size, &h);
        cw_fit_destroy (&fit);
    }
    cw_import_summary_t summary;
    (void) cw_import_buffer (data, size, NULL, NULL, s_pack_sink, NULL, &summary);
    return 0;
}
