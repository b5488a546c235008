/* 64 threads, 200 locks each guarding an object, plus a private object per
 * thread, with rehashing every few milliseconds: no report, exact result.
 * Optional argument: rounds per thread (default 120000). */
#include "common.h"

#define THREADS 64
#define LOCKS 200
#define ROUNDS 120000

static pthread_mutex_t locks[LOCKS];
static long *objs[LOCKS];

static int rounds = ROUNDS;

static void *worker(void *arg)
{
    long id = (long)arg;
    long *mine = push_calloc(8, sizeof(long));
    CHECK_ALLOC(mine);
    unsigned seed = (unsigned)id * 2654435761u;
    for (int r = 0; r < rounds; r++) {
        seed = seed * 1103515245u + 12345u;
        int i = (int)((seed >> 8) % LOCKS);
        CHECK(pthread_mutex_lock(&locks[i]));
        objs[i][0]++;
        CHECK(pthread_mutex_unlock(&locks[i]));
        mine[r % 8]++;
    }
    long total = 0;
    for (int k = 0; k < 8; k++)
        total += mine[k];
    push_free(mine);
    return (void *)total;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        rounds = atoi(argv[1]);
    started();
    for (int i = 0; i < LOCKS; i++) {
        CHECK(pthread_mutex_init(&locks[i], NULL));
        objs[i] = push_calloc(1, sizeof(long));
        CHECK_ALLOC(objs[i]);
        CHECK(push_protected_by(objs[i], &locks[i]));
    }
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i));
    long private_total = 0;
    for (int i = 0; i < THREADS; i++) {
        void *ret;
        CHECK(pthread_join(t[i], &ret));
        private_total += (long)ret;
    }
    long sum = 0;
    for (int i = 0; i < LOCKS; i++) {
        CHECK(pthread_mutex_lock(&locks[i]));
        sum += objs[i][0];
        CHECK(pthread_mutex_unlock(&locks[i]));
    }
    printf("result=%ld private=%ld\n", sum, private_total);
    return 0;
}
