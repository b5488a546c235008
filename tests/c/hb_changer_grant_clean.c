/* A thread makes its table read-only and reads it 300,000 times in three
 * rounds separated by mutex operations, then writes it once (a data race
 * with the read-only policy, which the read grant must not hide). With
 * `write` as argument the write happens; without, the program is clean. */
#include "common.h"

#define N 16

static volatile long *table;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static int do_write;

static void *worker(void *arg)
{
    (void)arg;
    table = push_malloc(N * sizeof(long));
    CHECK_ALLOC(table);
    for (int i = 0; i < N; i++)
        table[i] = i;
    CHECK(push_readonly((void *)table));
    long v = 0;
    for (int round = 0; round < 3; round++) {
        for (int r = 0; r < 100000 / N; r++)
            for (int i = 0; i < N; i++)
                v += table[i];
        CHECK(pthread_mutex_lock(&m));
        CHECK(pthread_mutex_unlock(&m));
    }
    if (do_write)
        table[5] = 0; /* RACE:write */
    return (void *)v;
}

int main(int argc, char **argv)
{
    started();
    do_write = argc > 1 && strcmp(argv[1], "write") == 0;
    pthread_t t;
    void *v;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    CHECK(pthread_join(t, &v));
    printf("result=%ld,%ld\n", (long)v, table[N - 1]);
    return 0;
}
