/* auto mode, race-free: barrier phases. Each thread writes its own part
 * of a heap array, waits at the barrier, reads the others' parts, and
 * waits again before the next phase writes. */
#include "auto_common.h"

#define THREADS 4
#define PHASES 100
#define PART 8

static pthread_barrier_t barrier;
static long *parts; /* THREADS * PART */
static long *sums;  /* one per thread */

static void *work(void *arg)
{
    long id = (long)arg;
    long sum = 0;
    for (int p = 0; p < PHASES; p++) {
        for (int k = 0; k < PART; k++)
            parts[id * PART + k] = p * 100 + id * 10 + k;
        pthread_barrier_wait(&barrier);
        for (long other = 0; other < THREADS; other++)
            if (other != id)
                for (int k = 0; k < PART; k++)
                    sum += parts[other * PART + k];
        pthread_barrier_wait(&barrier);
    }
    sums[id] = sum;
    return NULL;
}

int main(void)
{
    started();
    parts = malloc(THREADS * PART * sizeof *parts);
    sums = malloc(THREADS * sizeof *sums);
    CHECK_ALLOC(parts);
    CHECK_ALLOC(sums);
    CHECK(pthread_barrier_init(&barrier, NULL, THREADS));

    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, work, (void *)i));
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL));

    printf("result=%ld,%ld,%ld,%ld\n", sums[0], sums[1], sums[2], sums[3]);
    CHECK(pthread_barrier_destroy(&barrier));
    free(parts);
    free(sums);
    return 0;
}
