/*  fuzz_ledger_verify.c - libFuzzer target: the offline ledger verifier (cw_ledger_verify_jsonl)
 *  on arbitrary text. Bad text is an ordinary CW_EDECODE / CW_EAUTH with a reason naming a
 *  position, never a crash or a read past the buffer.
 */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coachwire/cw_error.h"
#include "coachwire/cw_ledger.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (sodium_init () < 0)
            abort ();
        ready = 1;
    }
    /*  An exact-size copy, not NUL-terminated, so that ASan sees any read past len. */
    char *text = malloc (size ? size : 1);
    if (!text)
        return 0;
    if (size)
        memcpy (text, data, size);
    size_t entries = 0, bad = 0;
    char reason [CW_LEDGER_REASON_MAX];
    int rc = cw_ledger_verify_jsonl (text, size, NULL, &entries, &bad, reason, sizeof reason);
    if (rc != CW_OK && rc != CW_EDECODE && rc != CW_EAUTH)
        abort ();
    if (rc != CW_OK && (bad != entries || !memchr (reason, '\0', sizeof reason)))
        abort ();
    free (text);
    return 0;
}
