/* readonly: main fills a table, marks it readonly, every thread reads it. */
#include "common.h"

#define NTHREADS 4
#define N 256

static int *table;

static void *reader(void *arg)
{
    long id = (long)arg;
    long sum = 0;
    for (int i = 0; i < N; i++)
        sum += table[i] * (id + 1);
    return (void *)sum;
}

int main(void)
{
    started();
    table = push_malloc(N * sizeof(int));
    CHECK_ALLOC(table);
    for (int i = 0; i < N; i++)
        table[i] = i;
    CHECK(push_readonly(table));

    pthread_t t[NTHREADS];
    for (long i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&t[i], NULL, reader, (void *)i));
    long total = 0;
    for (int i = 0; i < NTHREADS; i++) {
        void *r;
        CHECK(pthread_join(t[i], &r));
        total += (long)r;
    }
    for (int i = 0; i < N; i++) /* main reads too */
        total += table[i];
    printf("result=%ld\n", total);
    return 0;
}
