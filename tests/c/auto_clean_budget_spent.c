/* auto mode, race-free, with a small fault budget (auto_budget=1): the
 * threads spend it (auto_budget_phases.h: objects park), then update one
 * field of another object under a mutex for about a second while the
 * sweeper brings parked objects back: no report. */
#include "auto_budget_phases.h"

#define ROUNDS 4000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct shared {
    long pad[3];
    long hits;
} *shared;

static void *work(void *arg)
{
    long me = (long)arg;
    spend_budget(me);
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
    allocate_objects();
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
