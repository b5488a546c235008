/* auto mode, race-free: a worker allocates a heap result (malloc, then
 * realloc), fills it and returns it; main reads it after pthread_join and
 * frees it, several times in a row (a later malloc may reuse the memory). */
#include "auto_common.h"

#define RUNS 20
#define LEN 32

static void *work(void *arg)
{
    long seed = (long)arg;
    long *out = malloc(LEN / 2 * sizeof *out);
    CHECK_ALLOC(out);
    for (int i = 0; i < LEN / 2; i++)
        out[i] = seed * i;
    out = realloc(out, LEN * sizeof *out); /* grows: may move */
    CHECK_ALLOC(out);
    for (int i = LEN / 2; i < LEN; i++)
        out[i] = seed * i;
    return out;
}

int main(void)
{
    started();
    long total = 0;
    for (long run = 0; run < RUNS; run++) {
        pthread_t t;
        void *res;
        CHECK(pthread_create(&t, NULL, work, (void *)run));
        CHECK(pthread_join(t, &res));
        long *out = res;
        for (int i = 0; i < LEN; i++)
            total += out[i];
        free(out);
    }
    printf("result=%ld\n", total);
    return 0;
}
