/* Stress: 32 threads x 20 locks, each lock protecting its own tracked
 * object; every thread does many lock/increment/unlock rounds over
 * (deterministically) random locks. No report; exact totals. */
#include "common.h"

#define NTHREADS 32
#define NLOCKS 20
#define ROUNDS 2000

struct slot {
    long count;
    long weighted;
};

static pthread_mutex_t locks[NLOCKS];
static struct slot *slots[NLOCKS];

static void *worker(void *arg)
{
    long id = (long)arg;
    unsigned seed = 12345u + (unsigned)id * 7919u;
    for (int i = 0; i < ROUNDS; i++) {
        int k = rand_r(&seed) % NLOCKS;
        CHECK(pthread_mutex_lock(&locks[k]));
        slots[k]->count++;
        slots[k]->weighted += id + 1;
        CHECK(pthread_mutex_unlock(&locks[k]));
    }
    return NULL;
}

int main(void)
{
    started();
    for (int k = 0; k < NLOCKS; k++) {
        CHECK(pthread_mutex_init(&locks[k], NULL));
        slots[k] = push_calloc(1, sizeof(struct slot));
        CHECK_ALLOC(slots[k]);
        CHECK(push_protected_by(slots[k], &locks[k]));
    }
    pthread_t t[NTHREADS];
    for (long i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i));
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_join(t[i], NULL));

    long total = 0, weighted = 0;
    unsigned long checksum = 0;
    for (int k = 0; k < NLOCKS; k++) {
        CHECK(pthread_mutex_lock(&locks[k]));
        total += slots[k]->count;
        weighted += slots[k]->weighted;
        checksum = checksum * 31 + (unsigned long)slots[k]->count;
        CHECK(pthread_mutex_unlock(&locks[k]));
    }
    printf("result=%ld weighted=%ld checksum=%lu\n", total, weighted, checksum);
    return 0;
}
