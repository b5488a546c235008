/* Happens-before through a rwlock, read releases -> write acquire: two
 * readers, not synchronized with each other, each allocate and fill an
 * object, hand it to main (one by push_transfer, one by push_release), and
 * then check in under the read lock. Main takes the write lock until it
 * sees both check-ins: that write acquire comes after both read releases,
 * so main's first access to the transferred object and its push_acquire
 * of the released one are ordered after the readers' changes. The check-in
 * counter is an atomic the runtime does not see; the order comes from the
 * rwlock alone. */
#include "common.h"
#include <sched.h>

#define N 8

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_t main_thread;
static int checked_in;
static long *given, *released;

static long *fill(long base)
{
    long *o = push_malloc(N * sizeof(long));
    CHECK_ALLOC(o);
    for (int i = 0; i < N; i++)
        o[i] = base + i;
    return o;
}

static void check_in(void)
{
    CHECK(pthread_rwlock_rdlock(&rw));
    __atomic_add_fetch(&checked_in, 1, __ATOMIC_RELAXED);
    CHECK(pthread_rwlock_unlock(&rw));
}

static void *giver(void *arg)
{
    (void)arg;
    given = fill(10);
    CHECK(push_transfer(given, main_thread));
    check_in();
    return NULL;
}

static void *releaser(void *arg)
{
    (void)arg;
    released = fill(100);
    CHECK(push_release(released));
    check_in();
    return NULL;
}

int main(void)
{
    started();
    main_thread = pthread_self();
    pthread_t t1, t2;
    CHECK(pthread_create(&t1, NULL, giver, NULL));
    CHECK(pthread_create(&t2, NULL, releaser, NULL));
    for (;;) {
        CHECK(pthread_rwlock_wrlock(&rw));
        int n = __atomic_load_n(&checked_in, __ATOMIC_RELAXED);
        CHECK(pthread_rwlock_unlock(&rw));
        if (n == 2)
            break;
        sched_yield();
    }
    /* Both readers may still be running: only the rwlock orders this. */
    long sum = 0;
    for (int i = 0; i < N; i++)
        sum += given[i];
    given[0] = -1;
    CHECK(push_acquire(released));
    for (int i = 0; i < N; i++)
        sum += released[i];
    released[0] = -2;
    CHECK(pthread_join(t1, NULL));
    CHECK(pthread_join(t2, NULL));
    printf("result=%ld,%ld,%ld\n", sum, given[0], released[0]);
    return 0;
}
