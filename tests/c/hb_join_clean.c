/* Happens-before through pthread_join: a worker allocates three objects,
 * releases one, transfers one to main and makes one readonly, then exits.
 * Main joins it, then acquires the released object and uses all three. */
#include "common.h"

#define N 8

static pthread_t main_thread;
static long *released, *given, *shared;

static long *fill(long base)
{
    long *o = push_malloc(N * sizeof(long));
    CHECK_ALLOC(o);
    for (int i = 0; i < N; i++)
        o[i] = base + i;
    return o;
}

static void *worker(void *arg)
{
    (void)arg;
    released = fill(0);
    given = fill(100);
    shared = fill(1000);
    CHECK(push_release(released));
    CHECK(push_transfer(given, main_thread));
    CHECK(push_readonly(shared));
    return NULL;
}

int main(void)
{
    started();
    main_thread = pthread_self();
    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    CHECK(pthread_join(t, NULL));
    CHECK(push_acquire(released));
    long sum = 0;
    for (int i = 0; i < N; i++)
        sum += released[i] + given[i] + shared[i];
    released[0] = sum;
    given[0] = -sum;
    printf("result=%ld,%ld,%ld\n", released[0], given[0], shared[N - 1]);
    return 0;
}
