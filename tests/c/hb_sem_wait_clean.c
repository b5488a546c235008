/* Happens-before through a semaphore, sem_wait: main transfers a and
 * releases b, then posts; the worker uses them after its sem_wait returns.
 * Back: the worker releases a and transfers b to main, then posts; main
 * acquires a and uses b after its own sem_wait. */
#include "common.h"

static sem_t to_worker, to_main;
static pthread_t main_thread;
static long *a, *b;

static void *worker(void *arg)
{
    (void)arg;
    sem_wait_retry(&to_worker);
    a[0] += 100; /* transferred to this thread */
    CHECK(push_acquire(b));
    b[1] = b[0] * 2;
    CHECK(push_release(a));
    CHECK(push_transfer(b, main_thread));
    CHECK_ERRNO(sem_post(&to_main));
    sem_wait_retry(&to_worker); /* stay alive until main is done */
    return NULL;
}

int main(void)
{
    started();
    main_thread = pthread_self();
    CHECK_ERRNO(sem_init(&to_worker, 0, 0));
    CHECK_ERRNO(sem_init(&to_main, 0, 0));
    a = push_calloc(2, sizeof(long));
    b = push_calloc(2, sizeof(long));
    CHECK_ALLOC(a);
    CHECK_ALLOC(b);
    a[0] = 16;
    b[0] = 17;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    CHECK(push_transfer(a, t));
    CHECK(push_release(b));
    CHECK_ERRNO(sem_post(&to_worker));
    sem_wait_retry(&to_main);
    CHECK(push_acquire(a)); /* the worker is still alive */
    a[1] = a[0] + b[1];
    long av = a[0], bv = b[1], sum = a[1];
    CHECK_ERRNO(sem_post(&to_worker));
    CHECK(pthread_join(t, NULL));
    printf("result=%ld,%ld,%ld\n", av, bv, sum);
    return 0;
}
