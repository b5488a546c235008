/* Happens-before through an atomic flag, announced with
 * push_happens_before(&flag) before the store and push_happens_after(&flag)
 * once the load has seen it set. Main transfers a, releases b and makes c
 * readonly, then publishes the flag; the worker uses a, acquires b, reads c
 * and then takes c over with push_private. The annotated twin of
 * hb_transfer_race, hb_acquire_race, hb_readonly_race and hb_flag_race. */
#include "common.h"
#include <sched.h>

static int flag;
static long *a, *b, *c;

static void *worker(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&flag, __ATOMIC_ACQUIRE))
        sched_yield();
    push_happens_after(&flag);
    a[0] += 100; /* transferred to this thread */
    CHECK(push_acquire(b));
    b[1] = b[0] * 2;
    long cv = c[0]; /* readonly */
    CHECK(push_private(c));
    c[1] = cv + 1;
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
    a[0] = 22;
    b[0] = 23;
    c[0] = 24;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    CHECK(push_transfer(a, t));
    CHECK(push_release(b));
    CHECK(push_readonly(c));
    push_happens_before(&flag);
    __atomic_store_n(&flag, 1, __ATOMIC_RELEASE);
    CHECK(pthread_join(t, NULL));
    printf("result=%ld,%ld,%ld\n", a[0], b[1], c[1]);
    return 0;
}
