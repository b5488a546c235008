/* auto mode, race-free: C11 atomics in a heap object. Two threads bump
 * shared counters with atomic read-modify-writes (lock add / lock xadd)
 * and exchange a flag with sequentially consistent stores (xchg) and
 * loads; no two of these accesses race (C11: atomics never race with each
 * other), and PUSh must not report them. (The benchmark `pipeline` does
 * the same with its statistics.) */
#include "auto_common.h"
#include <stdatomic.h>

#define ROUNDS 3000

struct stats {
    atomic_long produced;
    atomic_long consumed;
    atomic_int turn;
};

static struct stats *st;

static void *worker(void *arg)
{
    long me = (long)arg;
    for (int i = 0; i < ROUNDS; i++) {
        atomic_fetch_add_explicit(&st->produced, 1, memory_order_relaxed);
        atomic_fetch_add(&st->consumed, 2);
        atomic_store(&st->turn, (int)me);
        (void)atomic_load(&st->turn);
        if (i % 64 == 0)
            usleep(10);
    }
    return NULL;
}

int main(void)
{
    started();
    st = calloc(1, sizeof *st);
    CHECK_ALLOC(st);
    pthread_t a, b;
    CHECK(pthread_create(&a, NULL, worker, (void *)1L));
    CHECK(pthread_create(&b, NULL, worker, (void *)2L));
    CHECK(pthread_join(a, NULL));
    CHECK(pthread_join(b, NULL));
    printf("result=%ld,%ld\n", atomic_load(&st->produced), atomic_load(&st->consumed));
    free(st);
    return 0;
}
