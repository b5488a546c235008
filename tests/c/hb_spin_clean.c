/* Happens-before through a spinlock: main transfers a, releases b and puts
 * c under the spinlock, then sets `ready` under the spinlock; the worker
 * polls `ready` under the spinlock and only then uses the objects. */
#include "common.h"
#include <sched.h>

static pthread_spinlock_t spin;
static int ready;
static long *a, *b, *c;

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        CHECK(pthread_spin_lock(&spin));
        if (ready)
            break;
        CHECK(pthread_spin_unlock(&spin));
        sched_yield();
    }
    c[0] += 10; /* protected_by(spin), spin held */
    CHECK(pthread_spin_unlock(&spin));
    a[0] += 100; /* transferred to this thread */
    CHECK(push_acquire(b));
    b[1] = b[0] * 2;
    return NULL;
}

int main(void)
{
    started();
    CHECK(pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE));
    a = push_calloc(2, sizeof(long));
    b = push_calloc(2, sizeof(long));
    c = push_calloc(2, sizeof(long));
    CHECK_ALLOC(a);
    CHECK_ALLOC(b);
    CHECK_ALLOC(c);
    a[0] = 4;
    b[0] = 5;
    c[0] = 6;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    CHECK(push_transfer(a, t));
    CHECK(push_release(b));
    CHECK(push_protected_by(c, (const void *)&spin));
    CHECK(pthread_spin_lock(&spin));
    ready = 1;
    CHECK(pthread_spin_unlock(&spin));
    CHECK(pthread_join(t, NULL));

    CHECK(pthread_spin_lock(&spin));
    long cv = c[0];
    CHECK(pthread_spin_unlock(&spin));
    printf("result=%ld,%ld,%ld\n", a[0], b[1], cv);
    return 0;
}
