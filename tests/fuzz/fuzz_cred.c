/*  fuzz_cred.c - libFuzzer target: parse credential text (cw_cred_parse). Bad text is an
 *  ordinary CW_ECRED with a message, never a crash or a read past the buffer.
 */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coachwire/cw_cred.h"
#include "coachwire/cw_error.h"

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
    char err [128];
    cw_cred_t *cred = NULL;
    int rc = cw_cred_parse (text, size, &cred, err, sizeof err);
    if (rc == CW_OK) {
        if (!cred)
            abort ();
        volatile size_t sink = strlen (cw_cred_name (cred)) + strlen (cw_cred_endpoint (cred))
                               + strlen (cw_cred_id_hex (cred));
        (void) sink;
        cw_cred_destroy (&cred);
    }
    else if (cred || !memchr (err, '\0', sizeof err))
        abort ();
    free (text);
    return 0;
}
