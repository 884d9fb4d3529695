/*  fuzz_rules.c - libFuzzer target: parse a rules file (cw_rules_parse). Broken text is an ordinary
 *  CW_EINVAL with a line and a reason, never a crash or a read past the buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coachwire/cw_error.h"
#include "coachwire/cw_rules.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    /*  An exact-size copy, not NUL-terminated, so that ASan sees any read past len. */
    char *text = malloc (size ? size : 1);
    if (!text)
        return 0;
    if (size)
        memcpy (text, data, size);
    cw_parse_error_t err;
    cw_rules_t *rules = NULL;
    if (cw_rules_parse (text, size, &rules, &err) == CW_OK) {
        /*  Every parsed rule renders without overflow. */
        cw_rule_fire_t fire = { .observed = 1e300, .target_lo = -1e300, .target_hi = 1e300,
                                .window_end_ms = UINT64_MAX, .by_minute = 1439 };
        char buf [CW_NUDGE_MESSAGE_MAX];
        for (size_t i = 0; i < cw_rules_count (rules); i++)
            for (int l = 0; l < CW_LOCALE_COUNT; l++)
                (void) cw_rule_render (cw_rules_get (rules, i), (cw_locale_t) l, &fire, buf,
                                       sizeof buf);
    }
    else if (rules)
        abort ();
    cw_rules_destroy (&rules);
    free (text);
    return 0;
}
