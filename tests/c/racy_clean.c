/* racy: unsynchronized writes by several threads are never reported. */
#include "common.h"

#define NTHREADS 4
#define N 64

static volatile long *flags;

static void *worker(void *arg)
{
    long id = (long)arg;
    for (int round = 0; round < 100; round++) {
        for (int i = 0; i < N; i++)
            flags[i] = 1;      /* every thread writes every slot */
        flags[N] = id;         /* last writer wins: value not printed */
        (void)flags[N + 1];    /* reads are fine too */
    }
    return NULL;
}

int main(void)
{
    started();
    flags = push_calloc(N + 2, sizeof(long));
    CHECK_ALLOC(flags);
    CHECK(push_racy((void *)flags));

    pthread_t t[NTHREADS];
    for (long i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i));
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_join(t[i], NULL));
    long sum = 0;
    for (int i = 0; i < N; i++)
        sum += flags[i];
    printf("result=%ld\n", sum);
    return 0;
}
