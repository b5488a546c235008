/* Happens-before through a hand-written spinlock built from atomics and
 * announced with push_lock_acquired/push_lock_released. Main transfers a,
 * releases b and, holding the lock, puts c under it and sets `ready`; the
 * worker polls `ready` under the lock and only then uses the objects. */
#include "common.h"
#include <sched.h>

static int lk; /* 0 free, 1 held */
static int ready;
static long *a, *b, *c;

static void my_lock(void)
{
    while (__atomic_exchange_n(&lk, 1, __ATOMIC_ACQUIRE))
        sched_yield();
    push_lock_acquired(&lk, 1);
}

static void my_unlock(void)
{
    push_lock_released(&lk);
    __atomic_store_n(&lk, 0, __ATOMIC_RELEASE);
}

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        my_lock();
        if (ready)
            break;
        my_unlock();
        sched_yield();
    }
    c[0] += 10; /* protected_by(lk), lk held */
    my_unlock();
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
    a[0] = 25;
    b[0] = 26;
    c[0] = 27;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    CHECK(push_transfer(a, t));
    CHECK(push_release(b));
    my_lock();
    CHECK(push_protected_by(c, &lk));
    ready = 1;
    my_unlock();
    CHECK(pthread_join(t, NULL));

    my_lock();
    long cv = c[0];
    my_unlock();
    printf("result=%ld,%ld,%ld\n", a[0], b[1], cv);
    return 0;
}
