/*  fuzz_import_csv.c - libFuzzer target: arbitrary text through the CSV importers (and any
 *  other format it happens to look like). Every batch produced must pack. The first byte
 *  picks a time zone so that the food diary's local-time path is fuzzed too. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

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

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static const char *const zones [] = { NULL, "Europe/Berlin" };
    cw_import_options_t options = { 0 };
    options.start_time_ms = 1600000000000ull;
    options.time_zone = zones [size > 0 && (data [size - 1] & 1)];
    cw_import_summary_t summary;
    (void) cw_import_buffer (data, size, "rec_1506422223341.csv", &options, s_pack_sink, NULL,
                             &summary);
    return 0;
}
