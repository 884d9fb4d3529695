/*  fuzz_api_request.c - libFuzzer target: an api request as the actor first sees it.
 *
 *  Runs the actor's own capped decode and its dispatcher checks (command look-up and
 *  argument syntax; no store, no caller). Seeds: tests/fuzz/corpus/api_request/.
 */
#include <stddef.h>
#include <stdint.h>

#include "coachwire/cw_error.h"
#include "cw_api_internal.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    Coachwire__ApiRequest *req = NULL;
    if (cw_api_request_decode (data, size, &req) != CW_OK)
        return 0;
    char reason [CW_API_REASON_MAX];
    reason [0] = 0;
    int rc = cw_api_request_check (req, reason, sizeof reason);
    if (rc != CW_OK && reason [0] == 0)
        __builtin_trap ();      /* every refusal must say why */
    cw_api_request_free (&req);
    return 0;
}
