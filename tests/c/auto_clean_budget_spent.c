/* auto mode, race-free, with a small fault budget (auto_budget=1): the
 * threads hand 128 objects back and forth between barrier phases, each
 * hand-off a fault, until both have spent their credit and objects park;
 * then they update one field of another object under a mutex for about a
 * second while the sweeper brings parked objects back: no report. */
#include "auto_common.h"

#define OBJECTS 128
#define PHASES 40
#define ROUNDS 4000

static pthread_barrier_t phase;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
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
        CHECK(pthread_mutex_lock(&lock));
        shared->hits += me + 1;
        CHECK(pthread_mutex_unlock(&lock));
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
    shared = calloc(1, sizeof *shared);
    CHECK_ALLOC(shared);
    pthread_t t[2];
    for (long i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, work, (void *)i));
    for (int i = 0; i < 2; i++)
        CHECK(pthread_join(t[i], NULL));
    printf("result=%ld,%ld\n", sum, shared->hits);
    free(shared);
    return 0;
}
