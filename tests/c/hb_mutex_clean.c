/* Happens-before through a mutex. Main changes three policies while the
 * worker is alive (push_transfer of a, push_release of b, push_protected_by
 * of c), then sets `ready` under the mutex; the worker polls `ready` under
 * the same mutex and only then uses the objects: its first access to a and
 * c and its push_acquire of b are ordered after the changes by main's
 * unlock -> the worker's lock. */
#include "common.h"
#include <sched.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static int ready;
static long *a, *b, *c;

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        CHECK(pthread_mutex_lock(&m));
        if (ready)
            break;
        CHECK(pthread_mutex_unlock(&m));
        sched_yield();
    }
    c[0] += 10; /* protected_by(m), m held */
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
    a[0] = 1;
    b[0] = 2;
    c[0] = 3;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    CHECK(push_transfer(a, t));
    CHECK(push_release(b));
    CHECK(push_protected_by(c, &m));
    CHECK(pthread_mutex_lock(&m));
    ready = 1;
    CHECK(pthread_mutex_unlock(&m));
    CHECK(pthread_join(t, NULL));

    CHECK(pthread_mutex_lock(&m));
    long cv = c[0];
    CHECK(pthread_mutex_unlock(&m));
    printf("result=%ld,%ld,%ld\n", a[0], b[1], cv); /* a, b: joined owner */
    return 0;
}
