/* auto mode, race-free: one heap array (memalign) of per-thread slots;
 * thread i writes only element i, without a lock (neighbouring elements
 * are different addresses); main reads every slot after joining. */
#include "auto_common.h"

#include <malloc.h>

#define THREADS 4
#define ROUNDS 1000

static long *slots;

static void *work(void *arg)
{
    long id = (long)arg;
    for (int i = 1; i <= ROUNDS; i++)
        slots[id] += id + 1;
    return NULL;
}

int main(void)
{
    started();
    slots = memalign(64, THREADS * sizeof *slots);
    CHECK_ALLOC(slots);
    memset(slots, 0, THREADS * sizeof *slots);

    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, work, (void *)i));
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL));

    printf("result=%ld,%ld,%ld,%ld\n", slots[0], slots[1], slots[2], slots[3]);
    free(slots);
    return 0;
}
