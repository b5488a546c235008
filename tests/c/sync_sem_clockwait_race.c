/* The order missing: main's sem_clockwait times out before the worker
 * posts, and main uses the object the worker transferred to it anyway
 * (it saw the transfer through an atomic flag the runtime cannot see)
 * -> unordered policy change (rule 2) at main's first access. */
#include "common.h"
#include <sched.h>

static sem_t go, done;
static pthread_t main_thread;
static long *result;
static int transferred;

static void *work(void *arg)
{
    (void)arg;
    long *r = push_calloc(2, sizeof(long));
    CHECK_ALLOC(r);
    r[0] = 6;
    result = r;
    CHECK(push_transfer(r, main_thread)); /* CHANGE:result */
    __atomic_store_n(&transferred, 1, __ATOMIC_RELEASE);
    sem_wait_retry(&go);
    CHECK_ERRNO(sem_post(&done));
    return NULL;
}

int main(void)
{
    started();
    main_thread = pthread_self();
    CHECK_ERRNO(sem_init(&go, 0, 0));
    CHECK_ERRNO(sem_init(&done, 0, 0));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, work, NULL));
    while (!__atomic_load_n(&transferred, __ATOMIC_ACQUIRE))
        sched_yield();
    struct timespec soon;
    clock_gettime(CLOCK_MONOTONIC, &soon);
    soon.tv_nsec += 20 * 1000000L;
    if (soon.tv_nsec >= 1000000000L) {
        soon.tv_sec += 1;
        soon.tv_nsec -= 1000000000L;
    }
    int rc;
    while ((rc = sem_clockwait(&done, CLOCK_MONOTONIC, &soon)) == -1 && errno == EINTR)
        ;
    int timed_out = rc == -1 && errno == ETIMEDOUT;
    result[1] = 7; /* RACE:result */
    CHECK_ERRNO(sem_post(&go));
    sem_wait_retry(&done);
    CHECK(pthread_join(t, NULL));
    printf("timedout=%d\n", timed_out);
    printf("result=%ld,%ld\n", result[0], result[1]);
    return 0;
}
