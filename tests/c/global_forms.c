/* PUSH_GLOBAL with an array type written out, and PUSH_GLOBAL_INIT with
 * scalar, array and struct initializers: the values are there before main
 * (natively and under PUSh), the globals are tracked (private to the main
 * thread), and a second thread's unsynchronized write to the array is a
 * race. */
#include "common.h"

struct config {
    int depth;
    const char *name;
};

PUSH_GLOBAL(int[64], table);
PUSH_GLOBAL_INIT(long, answer, 42);
PUSH_GLOBAL_INIT(long[4], primes, {2, 3, 5, 7});
PUSH_GLOBAL_INIT(struct config, cfg, {.depth = 3, .name = "deep"});

static void *writer(void *arg)
{
    (void)arg;
    table[5] = 9; /* RACE:write */
    return NULL;
}

int main(void)
{
    started();
    table[1] = 1;
    printf("answer=%ld primes=%ld,%ld,%ld,%ld cfg=%d,%s table=%d\n", answer, primes[0],
           primes[1], primes[2], primes[3], cfg.depth, cfg.name, table[1] + table[5]);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, writer, NULL));
    CHECK(pthread_join(t, NULL));
    printf("table=%d\n", table[5]);
    return 0;
}
