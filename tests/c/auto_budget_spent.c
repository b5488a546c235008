/* auto mode with a small fault budget (auto_budget=1): the threads spend
 * it (auto_budget_phases.h: objects park), then write one field of another
 * object with no synchronization for about a second. The sweeper brings
 * the parked object back every 100 ms and the next write is observed: the
 * race is still reported. */
#include "auto_budget_phases.h"

#define ROUNDS 4000

static struct shared {
    long pad[3];
    volatile long hits;
} *shared;

static void *work(void *arg)
{
    long me = (long)arg;
    spend_budget(me);
    for (int i = 0; i < ROUNDS; i++) {
        if (me == 0)
            shared->hits = i; /* RACE:a */
        else
            shared->hits = -i; /* RACE:b */
        usleep(250);
    }
    return NULL;
}

int main(void)
{
    started();
    allocate_objects();
    shared = calloc(1, sizeof *shared); /* ALLOC */
    CHECK_ALLOC(shared);
    pthread_t t[2];
    for (long i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, work, (void *)i));
    for (int i = 0; i < 2; i++)
        CHECK(pthread_join(t[i], NULL));
    printf("result=%ld\n", sum);
    free(shared);
    return 0;
}
