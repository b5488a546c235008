/* Runs with PUSH_SIMULATE_NO_PKU=1: the library warns once and the program
 * runs natively, annotations and all, with its own exit status. */
#include "common.h"

int main(void)
{
    started();
    long *p = push_malloc(64);
    CHECK_ALLOC(p);
    p[0] = 41;
    CHECK(push_readonly(p));
    p[0]++; /* would be a race under PUSh; natively it is just a write */
    printf("result=%ld\n", p[0]);
    push_free(p);
    return 0;
}
