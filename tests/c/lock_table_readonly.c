/* Lock tables made read-only once built, the pattern of BARNES's and of a
 * hashed lock array: a small table (packed), a 16 KiB one (whole pages of
 * the objects' file) and one of 132 KiB (anonymous pages): the words of
 * the first two have an alias, the last one's take the grant path. Each
 * has mutexes, a condvar, a semaphore and a barrier; 4 threads take the locks with contention (they
 * sleep in futex), wait on the condvar and the semaphore, and cross the
 * barrier, while the objects the locks protect are checked. The main
 * thread changes the policy of the tables' neighbours meanwhile.
 * Usage: lock_table_readonly [ROUNDS]
 * Output: result=<sum of the counters>,<semaphore tokens taken> */
#include "common.h"

#define THREADS 4
#define LOCKS 4

struct table {
    pthread_mutex_t m[LOCKS];
    pthread_cond_t cv;
    pthread_mutex_t cv_lock;
    sem_t sem;
    pthread_barrier_t barrier;
};
struct mid_table {
    struct table t;
    char pad[4 * 4096 - sizeof(struct table)];
};
struct big_table {
    struct table t;
    char pad[33 * 4096 - sizeof(struct table)];
};

#define TABLES 3
static struct table *small;
static struct mid_table *mid;
static struct big_table *big;
static struct table *tables[TABLES];
static long *counters[TABLES][LOCKS];
static long *turns; /* protected by small->cv_lock */
static long *taken; /* protected by big->t.cv_lock */
static long rounds = 3000;

static void init_table(struct table *t)
{
    for (int i = 0; i < LOCKS; i++)
        CHECK(pthread_mutex_init(&t->m[i], NULL));
    CHECK(pthread_cond_init(&t->cv, NULL));
    CHECK(pthread_mutex_init(&t->cv_lock, NULL));
    CHECK_ERRNO(sem_init(&t->sem, 0, 0));
    CHECK(pthread_barrier_init(&t->barrier, NULL, THREADS));
}

static void *worker(void *arg)
{
    long me = (long)arg;
    for (long i = 0; i < rounds; i++) {
        for (int k = 0; k < TABLES; k++) {
            struct table *t = tables[k];
            int l = (int)((i + me) % LOCKS);
            CHECK(pthread_mutex_lock(&t->m[l]));
            (*counters[k][l])++;
            CHECK(pthread_mutex_unlock(&t->m[l]));
        }
        if (i % 100 == 0) {
            /* A round of turns on the small table's condvar. */
            CHECK(pthread_mutex_lock(&small->cv_lock));
            (*turns)++;
            CHECK(pthread_cond_broadcast(&small->cv));
            while (*turns % THREADS != 0)
                CHECK(pthread_cond_wait(&small->cv, &small->cv_lock));
            CHECK(pthread_mutex_unlock(&small->cv_lock));
            /* Tokens through every semaphore, then every barrier. */
            for (int k = 0; k < TABLES; k++) {
                CHECK_ERRNO(sem_post(&tables[k]->sem));
                sem_wait_retry(&tables[k]->sem);
            }
            CHECK(pthread_mutex_lock(&big->t.cv_lock));
            (*taken)++;
            CHECK(pthread_mutex_unlock(&big->t.cv_lock));
            for (int k = 0; k < TABLES; k++) {
                int r = pthread_barrier_wait(&tables[k]->barrier);
                if (r != 0 && r != PTHREAD_BARRIER_SERIAL_THREAD)
                    abort();
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    started();
    if (argc > 1)
        rounds = atol(argv[1]);
    small = push_malloc(sizeof *small);
    mid = push_malloc(sizeof *mid);
    big = push_malloc(sizeof *big);
    CHECK_ALLOC(small);
    CHECK_ALLOC(mid);
    CHECK_ALLOC(big);
    tables[0] = small;
    tables[1] = &mid->t;
    tables[2] = &big->t;
    for (int k = 0; k < TABLES; k++) {
        struct table *t = tables[k];
        init_table(t);
        for (int l = 0; l < LOCKS; l++) {
            counters[k][l] = push_malloc(sizeof(long));
            CHECK_ALLOC(counters[k][l]);
            *counters[k][l] = 0;
            CHECK(push_protected_by(counters[k][l], &t->m[l]));
        }
    }
    turns = push_malloc(sizeof *turns);
    taken = push_malloc(sizeof *taken);
    CHECK_ALLOC(turns);
    CHECK_ALLOC(taken);
    *turns = *taken = 0;
    CHECK(push_protected_by(turns, &small->cv_lock));
    CHECK(push_protected_by(taken, &big->t.cv_lock));
    CHECK(push_readonly(small));
    CHECK(push_readonly(mid));
    CHECK(push_readonly(big));

    pthread_t th[THREADS];
    for (long i = 0; i < THREADS; i++)
        CHECK(pthread_create(&th[i], NULL, worker, (void *)i));
    /* Policy changes of objects beside the tables while the workers run:
     * the tables' words must stay usable throughout. */
    for (int i = 0; i < 200; i++) {
        long *x = push_malloc(sizeof *x);
        CHECK_ALLOC(x);
        *x = i;
        CHECK(push_readonly(x));
        CHECK(push_private(x));
        push_free(x);
    }
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(th[i], NULL));

    long sum = 0;
    for (int k = 0; k < TABLES; k++)
        for (int l = 0; l < LOCKS; l++) {
            CHECK(pthread_mutex_lock(&tables[k]->m[l]));
            sum += *counters[k][l];
            CHECK(pthread_mutex_unlock(&tables[k]->m[l]));
        }
    CHECK(pthread_mutex_lock(&big->t.cv_lock));
    printf("result=%ld,%ld\n", sum, *taken);
    CHECK(pthread_mutex_unlock(&big->t.cv_lock));
    return 0;
}
