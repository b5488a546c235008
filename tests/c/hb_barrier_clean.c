/* Happens-before through a barrier of three (main and two workers, which
 * never synchronize with each other otherwise). Round 1: main transfers a
 * to worker 1 and releases b, then arrives; after the round worker 1 uses
 * a and worker 2 acquires b. Round 2: worker 1 releases a and worker 2
 * transfers b to main before arriving; after the round main acquires a and
 * uses b. Every arrival of a round comes before every departure. */
#include "common.h"

static pthread_barrier_t bar;
static pthread_t main_thread;
static long *a, *b;

static void *worker1(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&bar); /* round 1 */
    a[0] += 100;                /* transferred to this thread */
    CHECK(push_release(a));
    pthread_barrier_wait(&bar); /* round 2 */
    return NULL;
}

static void *worker2(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&bar); /* round 1 */
    CHECK(push_acquire(b));
    b[1] = b[0] * 2;
    CHECK(push_transfer(b, main_thread));
    pthread_barrier_wait(&bar); /* round 2 */
    return NULL;
}

int main(void)
{
    started();
    main_thread = pthread_self();
    CHECK(pthread_barrier_init(&bar, NULL, 3));
    a = push_calloc(2, sizeof(long));
    b = push_calloc(2, sizeof(long));
    CHECK_ALLOC(a);
    CHECK_ALLOC(b);
    a[0] = 14;
    b[0] = 15;

    pthread_t t1, t2;
    CHECK(pthread_create(&t1, NULL, worker1, NULL));
    CHECK(pthread_create(&t2, NULL, worker2, NULL));
    CHECK(push_transfer(a, t1));
    CHECK(push_release(b));
    pthread_barrier_wait(&bar); /* round 1 */
    pthread_barrier_wait(&bar); /* round 2 */
    CHECK(push_acquire(a));
    long av = a[0];
    long bv = b[1]; /* transferred to main */
    a[1] = av + bv;
    CHECK(pthread_join(t1, NULL));
    CHECK(pthread_join(t2, NULL));
    printf("result=%ld,%ld,%ld\n", av, bv, a[1]);
    return 0;
}
