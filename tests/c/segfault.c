/* A real segfault (NULL dereference) in a program that uses push_malloc:
 * the process must die of SIGSEGV, the runtime must not swallow it. */
#include "common.h"

static int *volatile nowhere; /* NULL, and the compiler cannot prove it */

int main(void)
{
    started();
    long *obj = push_malloc(4 * sizeof(long));
    CHECK_ALLOC(obj);
    obj[0] = 1;
    printf("before=%ld\n", obj[0]);
    fflush(stdout);
    *nowhere = (int)obj[0]; /* SIGSEGV */
    printf("after\n");
    return 0;
}
