/* protected_by(rwlock): writes under the write lock, reads under the read
 * lock by several readers that hold it at the same time. */
#include "common.h"

#define WRITERS 2
#define READERS 4
#define ROUNDS 1000

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_barrier_t inside;
static long *obj;

static void *writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        CHECK(pthread_rwlock_wrlock(&rw));
        obj[0]++;
        obj[1] += obj[0] & 1;
        CHECK(pthread_rwlock_unlock(&rw));
    }
    return NULL;
}

static void *reader(void *arg)
{
    (void)arg;
    CHECK(pthread_rwlock_rdlock(&rw));
    long v = obj[0];
    pthread_barrier_wait(&inside); /* all readers hold the read lock now */
    v += obj[1];
    CHECK(pthread_rwlock_unlock(&rw));
    return (void *)v;
}

int main(void)
{
    started();
    CHECK(pthread_barrier_init(&inside, NULL, READERS));
    obj = push_calloc(2, sizeof(long));
    CHECK_ALLOC(obj);
    CHECK(push_protected_by(obj, &rw));

    pthread_t w[WRITERS], r[READERS];
    for (int i = 0; i < WRITERS; i++)
        CHECK(pthread_create(&w[i], NULL, writer, NULL));
    for (int i = 0; i < WRITERS; i++)
        CHECK(pthread_join(w[i], NULL));
    for (int i = 0; i < READERS; i++)
        CHECK(pthread_create(&r[i], NULL, reader, NULL));
    long total = 0;
    for (int i = 0; i < READERS; i++) {
        void *v;
        CHECK(pthread_join(r[i], &v));
        total += (long)v;
    }
    printf("result=%ld\n", total);
    return 0;
}
