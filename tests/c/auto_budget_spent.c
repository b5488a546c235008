/* auto mode with a small fault budget (auto_budget=1): first the threads
 * hand 128 objects back and forth between barrier phases, each hand-off a
 * fault, until both have spent their credit and objects park; then they
 * write one field of another object with no synchronization for about a
 * second. The sweeper brings the parked object back every 100 ms and the
 * next write is observed: the race is still reported. */
#include "auto_common.h"

#define OBJECTS 128
#define PHASES 40
#define ROUNDS 4000

static pthread_barrier_t phase;
static long *objects[OBJECTS];
static long sum;
static struct shared {
    long pad[3];
    volatile long hits;
} *shared;

static void *work(void *arg)
{
    long me = (long)arg;
    for (int p = 0; p < PHASES; p++) {
        pthread_barrier_wait(&phase);
        if (p % 2 == me)
            for (int i = 0; i < OBJECTS; i++)
                objects[i][0] += p;
    }
    pthread_barrier_wait(&phase);
    if (me == 0) /* parked objects left would share the sweeper's visits */
        for (int i = 0; i < OBJECTS; i++) {
            sum += objects[i][0];
            free(objects[i]);
        }
    pthread_barrier_wait(&phase);
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
    CHECK(pthread_barrier_init(&phase, NULL, 2));
    for (int i = 0; i < OBJECTS; i++)
        CHECK_ALLOC(objects[i] = calloc(4, sizeof(long)));
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
