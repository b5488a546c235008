/* Runs with PUSH_SIMULATE_NO_PKU=1 (a machine without protection keys):
 * the runtime picks the portable mprotect backend, says so once, and still
 * reports the write to the read-only object; backend=mpk refuses with the
 * remedy instead. */
#include "common.h"

int main(void)
{
    started();
    long *p = push_malloc(64);
    CHECK_ALLOC(p);
    p[0] = 41;
    CHECK(push_readonly(p));
    p[0]++; /* RACE:write */
    printf("result=%ld\n", p[0]);
    push_free(p);
    return 0;
}
