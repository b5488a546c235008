/* Happens-before through a condvar wait: the worker locks the mutex, says
 * it is waiting and blocks in pthread_cond_wait (which releases the mutex).
 * Main, once it has seen that under the mutex, transfers a, releases b and
 * puts c under the mutex, then sets `ready` and signals under the mutex.
 * The worker's wait returns by re-acquiring the mutex after main's unlock,
 * which orders its uses of a, b and c after the changes. */
#include "common.h"
#include <sched.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int waiting, ready;
static long *a, *b, *c;

static void *worker(void *arg)
{
    (void)arg;
    CHECK(pthread_mutex_lock(&m));
    waiting = 1;
    while (!ready)
        CHECK(pthread_cond_wait(&cv, &m));
    c[0] += 10; /* protected_by(m), m re-acquired by the wait */
    CHECK(pthread_mutex_unlock(&m));
    a[0] += 100; /* transferred to this thread */
    CHECK(push_acquire(b));
    b[1] = b[0] * 2;
    return NULL;
}

int main(void)
{
    started();
    a = push_calloc(2, sizeof(long));
    b = push_calloc(2, sizeof(long));
    c = push_calloc(2, sizeof(long));
    CHECK_ALLOC(a);
    CHECK_ALLOC(b);
    CHECK_ALLOC(c);
    a[0] = 11;
    b[0] = 12;
    c[0] = 13;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    for (;;) { /* until the worker is inside pthread_cond_wait */
        CHECK(pthread_mutex_lock(&m));
        int w = waiting;
        CHECK(pthread_mutex_unlock(&m));
        if (w)
            break;
        sched_yield();
    }
    CHECK(push_transfer(a, t));
    CHECK(push_release(b));
    CHECK(push_protected_by(c, &m));
    CHECK(pthread_mutex_lock(&m));
    ready = 1;
    CHECK(pthread_cond_signal(&cv));
    CHECK(pthread_mutex_unlock(&m));
    CHECK(pthread_join(t, NULL));

    CHECK(pthread_mutex_lock(&m));
    long cval = c[0];
    CHECK(pthread_mutex_unlock(&m));
    printf("result=%ld,%ld,%ld\n", a[0], b[1], cval);
    return 0;
}
