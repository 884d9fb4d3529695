/*  fuzz_plan.c - libFuzzer target: parse a plan file (cw_plan_parse). Broken text is an ordinary
 *  CW_EINVAL with a line and a reason, never a crash or a read past the buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coachwire/cw_error.h"
#include "coachwire/cw_plan.h"

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
    cw_plan_t *plan = NULL;
    if (cw_plan_parse (text, size, &plan, &err) == CW_OK) {
        /*  A parsed plan prints and parses again. */
        char *again = NULL;
        cw_plan_t *copy = NULL;
        if (cw_plan_text (plan, &again) != CW_OK
            || cw_plan_parse (again, strlen (again), &copy, &err) != CW_OK
            || cw_plan_goal_count (copy) != cw_plan_goal_count (plan))
            abort ();
        free (again);
        cw_plan_destroy (&copy);
    }
    else if (plan)
        abort ();
    cw_plan_destroy (&plan);
    free (text);
    return 0;
}
