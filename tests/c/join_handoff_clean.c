/* Hand-off through join: a worker allocates and fills an object (private to
 * the worker); main joins the worker, then reads it. */
#include "common.h"

#define N 100

static void *producer(void *arg)
{
    long base = (long)arg;
    long *out = push_malloc(N * sizeof(long));
    CHECK_ALLOC(out);
    for (int i = 0; i < N; i++)
        out[i] = base + i;
    return out;
}

int main(void)
{
    started();
    pthread_t t[2];
    for (long i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, producer, (void *)(i * 1000)));
    long total = 0;
    for (int i = 0; i < 2; i++) {
        void *r;
        CHECK(pthread_join(t[i], &r));
        long *out = r;
        for (int j = 0; j < N; j++)
            total += out[j];
        out[0] = 0; /* main may write it too */
        push_free(out);
    }
    printf("result=%ld\n", total);
    return 0;
}
