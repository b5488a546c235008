/* A tracked global protected by a mutex; one increment without the lock. */
#include "common.h"

#define NTHREADS 4
#define ROUNDS 1000

PUSH_GLOBAL(long, counter);
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static void *sloppy(void *arg)
{
    (void)arg;
    counter++; /* RACE:incr */
    return NULL;
}

int main(void)
{
    started();
    CHECK(push_protected_by(&counter, &lock));
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, NULL));
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_join(t[i], NULL));
    pthread_t s;
    CHECK(pthread_create(&s, NULL, sloppy, NULL));
    CHECK(pthread_join(s, NULL));
    pthread_mutex_lock(&lock);
    long v = counter;
    pthread_mutex_unlock(&lock);
    printf("result=%ld\n", v);
    return 0;
}
