/* readonly: readers are fine, but a write after push_readonly -> data race. */
#include "common.h"

#define N 256

static volatile int *table;

static void *reader(void *arg)
{
    (void)arg;
    long sum = 0;
    for (int i = 0; i < N; i++)
        sum += table[i];
    return (void *)sum;
}

int main(void)
{
    started();
    table = push_malloc(N * sizeof(int));
    CHECK_ALLOC(table);
    for (int i = 0; i < N; i++)
        table[i] = i;
    CHECK(push_readonly((void *)table));

    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, reader, NULL));
    long total = 0;
    for (int i = 0; i < 2; i++) {
        void *r;
        CHECK(pthread_join(t[i], &r));
        total += (long)r;
    }
    table[7] = 1000; /* RACE:write */
    for (int i = 0; i < N; i++)
        total += table[i];
    printf("result=%ld\n", total);
    return 0;
}
