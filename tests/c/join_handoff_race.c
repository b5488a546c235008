/* Hand-off without join: main reads the worker's private object while the
 * worker is still alive (a semaphore orders it, but no policy allows it)
 * -> data race. */
#include "common.h"

#define N 100

static volatile long *shared_out;
static sem_t filled, finish;

static void *producer(void *arg)
{
    (void)arg;
    long *out = push_malloc(N * sizeof(long));
    CHECK_ALLOC(out);
    for (int i = 0; i < N; i++)
        out[i] = i;
    shared_out = out;
    CHECK_ERRNO(sem_post(&filled));
    sem_wait_retry(&finish);
    return NULL;
}

int main(void)
{
    started();
    CHECK_ERRNO(sem_init(&filled, 0, 0));
    CHECK_ERRNO(sem_init(&finish, 0, 0));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, producer, NULL));
    sem_wait_retry(&filled);
    long first = shared_out[10]; /* RACE:read */
    CHECK_ERRNO(sem_post(&finish));
    CHECK(pthread_join(t, NULL));

    long total = 0; /* after the join: fine */
    for (int i = 0; i < N; i++)
        total += shared_out[i];
    printf("result=%ld first=%ld\n", total, first);
    return 0;
}
