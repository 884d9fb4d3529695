/*  fuzz_batch_fast.c - the IMU fast path never accepts what the full path refuses: any input
 *  cw_batch_imu_accept_fast takes must decode (capped allocator) and validate. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "coachwire/cw_batch.h"
#include "coachwire/cw_error.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define S_NOW 1700000100000ull

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size > 65536)
        return 0;
    uint16_t stream = (uint16_t) COACHWIRE__SENSOR_BATCH__BODY_IMU;
    if (!cw_batch_imu_accept_fast (data, size, stream, S_NOW))
        return 0;
    char reason [CW_REASON_MAX];
    if (cw_batch_check (data, size, stream, S_NOW, reason, sizeof reason) != CW_OK)
        abort ();       /* the fast path let through a frame the full path refuses */
    return 0;
}
