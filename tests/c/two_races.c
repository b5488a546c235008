/* Two different races in one program: a write by another thread to a
 * private object, then a write by main to a readonly object. */
#include "common.h"

static volatile long *mine;
static volatile long *table;

static void *intruder(void *arg)
{
    (void)arg;
    mine[0] = 11; /* RACE:first */
    return NULL;
}

int main(void)
{
    started();
    mine = push_calloc(2, sizeof(long));
    table = push_calloc(2, sizeof(long));
    CHECK_ALLOC(mine);
    CHECK_ALLOC(table);
    table[1] = 4;
    CHECK(push_readonly((void *)table));

    pthread_t t;
    CHECK(pthread_create(&t, NULL, intruder, NULL));
    CHECK(pthread_join(t, NULL));

    table[0] = 22; /* RACE:second */

    printf("result=%ld,%ld,%ld\n", mine[0], table[0], table[1]);
    return 0;
}
