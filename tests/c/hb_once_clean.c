/* Happens-before through pthread_once: whichever thread runs the once
 * routine allocates a table, fills it and makes it readonly; every thread
 * reads the table only after its own pthread_once call returned, so each
 * first read is ordered after the push_readonly. */
#include "common.h"

#define THREADS 3
#define N 32

static pthread_once_t once = PTHREAD_ONCE_INIT;
static long *table;

static void init_table(void)
{
    long *t = push_malloc(N * sizeof(long));
    CHECK_ALLOC(t);
    for (int i = 0; i < N; i++)
        t[i] = 3 * i + 1;
    CHECK(push_readonly(t));
    table = t;
}

static void *user(void *arg)
{
    long k = (long)arg;
    CHECK(pthread_once(&once, init_table));
    long sum = 0;
    for (int i = 0; i < N; i++)
        sum += table[i] * k;
    return (void *)sum;
}

int main(void)
{
    started();
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, user, (void *)(i + 1)));
    long total = 0;
    for (int i = 0; i < THREADS; i++) {
        void *v;
        CHECK(pthread_join(t[i], &v));
        total += (long)v;
    }
    CHECK(pthread_once(&once, init_table));
    printf("result=%ld,%ld\n", total, table[N - 1]);
    return 0;
}
