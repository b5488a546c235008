/* auto mode, race-free: readers read a heap table under the read lock of
 * a rwlock, a writer rewrites it under the write lock. */
#include "auto_common.h"

#define READERS 3
#define ROUNDS 300
#define LEN 16

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static int *table;

static void *writer(void *arg)
{
    (void)arg;
    for (int r = 1; r <= ROUNDS; r++) {
        CHECK(pthread_rwlock_wrlock(&rw));
        for (int i = 0; i < LEN; i++)
            table[i] = r;
        CHECK(pthread_rwlock_unlock(&rw));
    }
    return NULL;
}

static void *reader(void *arg)
{
    (void)arg;
    long torn = 0;
    for (int r = 0; r < ROUNDS; r++) {
        CHECK(pthread_rwlock_rdlock(&rw));
        for (int i = 1; i < LEN; i++)
            torn += table[i] != table[0];
        CHECK(pthread_rwlock_unlock(&rw));
    }
    return (void *)torn;
}

int main(void)
{
    started();
    table = calloc(LEN, sizeof *table);
    CHECK_ALLOC(table);

    pthread_t w, r[READERS];
    for (int i = 0; i < READERS; i++)
        CHECK(pthread_create(&r[i], NULL, reader, NULL));
    CHECK(pthread_create(&w, NULL, writer, NULL));
    long torn = 0;
    for (int i = 0; i < READERS; i++) {
        void *n;
        CHECK(pthread_join(r[i], &n));
        torn += (long)n;
    }
    CHECK(pthread_join(w, NULL));

    printf("result=%d,%d,torn=%ld\n", table[0], table[LEN - 1], torn);
    free(table);
    return 0;
}
