/* auto mode: 4000 small heap objects from one call site, each written and
 * read by the allocating thread only, then freed. Race-free; used to check
 * that `sample=RATE` watches about that share of the allocations, and that
 * the count depends on the seed only through which objects are picked. */
#include "auto_common.h"

#define N 4000

int main(void)
{
    started();
    long sum = 0;
    long **objs = malloc(N * sizeof *objs);
    CHECK_ALLOC(objs);
    for (int i = 0; i < N; i++) {
        objs[i] = malloc(4 * sizeof(long));
        CHECK_ALLOC(objs[i]);
        objs[i][0] = i;
    }
    for (int i = 0; i < N; i++) {
        sum += objs[i][0];
        free(objs[i]);
    }
    free(objs);
    printf("result=%ld\n", sum);
    return 0;
}
