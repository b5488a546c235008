/* auto mode, race-free: a test-and-test-and-set spinlock written with C11
 * atomics in a heap object, as programs roll their own: acquired with an
 * atomic exchange (xchg), waited on with relaxed loads and released with a
 * release store, both plain `mov`s on x86. The loads and the store never
 * race with each other (C11: atomics do not race), and PUSh must not
 * report them: the address was seen under an atomic read-modify-write, so
 * it is taken for an atomic variable. What the lock protects lives in a
 * global (not watched: PUSh sees no happens-before through the atomics). */
#include "auto_common.h"
#include <stdatomic.h>

#define ROUNDS 3

struct spin {
    atomic_int word;
    int pad;
};

static struct spin *sl;
static long counter;

static void spin_lock(void)
{
    for (;;) {
        while (atomic_load_explicit(&sl->word, memory_order_relaxed))
            usleep(100);
        if (!atomic_exchange_explicit(&sl->word, 1, memory_order_acquire))
            return;
    }
}

static void spin_unlock(void)
{
    atomic_store_explicit(&sl->word, 0, memory_order_release);
}

/* Each round, one thread holds the lock for 50 ms while the other spins
 * on it: the waiter's loads and the holder's release store meet. */
static void *worker(void *arg)
{
    long me = (long)arg;
    for (int i = 0; i < ROUNDS; i++) {
        if ((i + me) % 2)
            usleep(10000);
        spin_lock();
        counter++;
        usleep(50000);
        spin_unlock();
        usleep(30000);
    }
    return NULL;
}

int main(void)
{
    started();
    sl = calloc(1, sizeof *sl);
    CHECK_ALLOC(sl);
    pthread_t a, b;
    CHECK(pthread_create(&a, NULL, worker, (void *)0L));
    CHECK(pthread_create(&b, NULL, worker, (void *)1L));
    CHECK(pthread_join(a, NULL));
    CHECK(pthread_join(b, NULL));
    printf("result=%ld\n", counter);
    free(sl);
    return 0;
}
