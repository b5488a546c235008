/* 24 locks guard 24 objects. A worker repeatedly touches object 0 while
 * holding lock WRONG (argv[1], default 13) for about a second: a race on
 * object 0, which PUSh sees unless lock 0 and lock WRONG share a protection
 * key. With rehashing, a shared key is temporary, so the race is reported.
 * Prints the ordinal-based domain layout it relies on: locks become owners
 * in order, after the main thread. */
#include "common.h"
#include <unistd.h>

#define LOCKS 24

static pthread_mutex_t locks[LOCKS];
static long *objs[LOCKS];
static int wrong = 13;

static void *worker(void *arg)
{
    (void)arg;
    /* A correct first access settles object 0 on lock 0's key. */
    CHECK(pthread_mutex_lock(&locks[0]));
    objs[0][0]++;
    CHECK(pthread_mutex_unlock(&locks[0]));
    for (int round = 0; round < 1000; round++) {
        for (int i = 1; i < LOCKS; i++) {
            CHECK(pthread_mutex_lock(&locks[i]));
            objs[i][0]++;
            CHECK(pthread_mutex_unlock(&locks[i]));
        }
        CHECK(pthread_mutex_lock(&locks[wrong]));
        objs[0][1]++; /* RACE:wronglock */
        CHECK(pthread_mutex_unlock(&locks[wrong]));
        usleep(1000);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    started();
    if (argc > 1)
        wrong = atoi(argv[1]);
    for (int i = 0; i < LOCKS; i++) {
        CHECK(pthread_mutex_init(&locks[i], NULL));
        objs[i] = push_calloc(2, sizeof(long));
        CHECK_ALLOC(objs[i]);
        CHECK(push_protected_by(objs[i], &locks[i]));
    }
    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    CHECK(pthread_join(t, NULL));
    long sum = 0;
    for (int i = 0; i < LOCKS; i++) {
        CHECK(pthread_mutex_lock(&locks[i]));
        sum += objs[i][0] + objs[i][1];
        CHECK(pthread_mutex_unlock(&locks[i]));
    }
    printf("result=%ld\n", sum);
    return 0;
}
