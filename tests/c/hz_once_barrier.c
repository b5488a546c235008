/* pthread_once raced by THREADS threads released together by a barrier,
 * over ROUNDS rounds (a fresh once-control per round), and the barrier
 * reused for all of them. The winner of each round's once takes a tracked
 * object that main released, fills it and makes it read-only; the others
 * read it as soon as their pthread_once returns, which is ordered after
 * the init routine only through pthread_once itself (a runtime that wraps
 * the init routine must keep it so, and must handle the losers that wait
 * inside pthread_once for it). Output: inits per round, serial-thread
 * count, and a checksum of what was read. */
#include "common.h"

#define THREADS 8
#define ROUNDS 200

struct table {
    long v[16];
};

static pthread_once_t once[ROUNDS];
static struct table *tables[ROUNDS];
static pthread_barrier_t barrier;
static __thread int my_round;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static long inits, serial, checksum;

static void init_round(void)
{
    struct table *t = tables[my_round];
    CHECK(push_acquire(t)); /* now private to this thread */
    for (int i = 0; i < 16; i++)
        t->v[i] = (long)my_round * 16 + i;
    CHECK(push_readonly(t));
    CHECK(pthread_mutex_lock(&m));
    inits++;
    CHECK(pthread_mutex_unlock(&m));
}

static void *worker(void *arg)
{
    long me = (long)arg, sum = 0, serial_here = 0;
    for (int r = 0; r < ROUNDS; r++) {
        int b = pthread_barrier_wait(&barrier);
        if (b == PTHREAD_BARRIER_SERIAL_THREAD)
            serial_here++;
        else if (b != 0)
            CHECK(b);
        my_round = r;
        CHECK(pthread_once(&once[r], init_round));
        sum += tables[r]->v[(me + r) % 16];
    }
    CHECK(pthread_mutex_lock(&m));
    checksum += sum;
    serial += serial_here;
    CHECK(pthread_mutex_unlock(&m));
    return NULL;
}

int main(void)
{
    started();
    for (int r = 0; r < ROUNDS; r++) {
        once[r] = (pthread_once_t)PTHREAD_ONCE_INIT;
        tables[r] = push_malloc(sizeof *tables[r]);
        CHECK_ALLOC(tables[r]);
        CHECK(push_release(tables[r]));
    }
    CHECK(pthread_barrier_init(&barrier, NULL, THREADS));
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i));
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL));
    CHECK(pthread_barrier_destroy(&barrier));
    printf("rounds=%d inits=%ld serial=%ld checksum=%ld\n", ROUNDS, inits, serial, checksum);
    return 0;
}
