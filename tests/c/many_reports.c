/* 3000 distinct races in a burst: two threads each write 1500 objects
 * private to main, far faster than reports can be symbolized and printed.
 * Every one must be reported (the report queue holds 256). */
#include "common.h"

#define OBJECTS 3000

static long *objs[OBJECTS];

static void *violator(void *arg)
{
    long first = (long)arg;
    for (long i = first; i < first + OBJECTS / 2; i++)
        objs[i][0] = i; /* RACE:write */
    return NULL;
}

int main(void)
{
    started();
    for (int i = 0; i < OBJECTS; i++) {
        objs[i] = push_malloc(sizeof(long));
        CHECK_ALLOC(objs[i]);
        objs[i][0] = 0;
    }
    pthread_t a, b;
    CHECK(pthread_create(&a, NULL, violator, (void *)0L));
    CHECK(pthread_create(&b, NULL, violator, (void *)(long)(OBJECTS / 2)));
    CHECK(pthread_join(a, NULL));
    CHECK(pthread_join(b, NULL));
    long sum = 0;
    for (int i = 0; i < OBJECTS; i++)
        sum += objs[i][0];
    printf("result=%ld\n", sum);
    return 0;
}
