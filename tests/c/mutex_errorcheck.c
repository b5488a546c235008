/* protected_by(errorcheck mutex). Error returns of the mutex calls pass
 * through unchanged (EDEADLK, EPERM), and a failed unlock by a non-owner
 * does not take the lock away from its holder. */
#include "common.h"

#define NTHREADS 4
#define ROUNDS 1000

static pthread_mutex_t lock;
static long *obj;

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        CHECK(pthread_mutex_lock(&lock));
        obj[0]++;
        CHECK(pthread_mutex_unlock(&lock));
    }
    return NULL;
}

static void *bad_unlocker(void *arg)
{
    (void)arg;
    return (void *)(long)pthread_mutex_unlock(&lock);
}

int main(void)
{
    started();
    pthread_mutexattr_t attr;
    CHECK(pthread_mutexattr_init(&attr));
    CHECK(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK));
    CHECK(pthread_mutex_init(&lock, &attr));
    CHECK(pthread_mutexattr_destroy(&attr));

    obj = push_calloc(2, sizeof(long));
    CHECK_ALLOC(obj);
    CHECK(push_protected_by(obj, &lock));

    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, NULL));
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_join(t[i], NULL));

    CHECK(pthread_mutex_lock(&lock));
    int deadlk = pthread_mutex_lock(&lock) == EDEADLK;
    pthread_t u;
    void *urc;
    CHECK(pthread_create(&u, NULL, bad_unlocker, NULL));
    CHECK(pthread_join(u, &urc));
    int eperm = (long)urc == EPERM;
    obj[1] = 7; /* main still holds the lock */
    long v0 = obj[0], v1 = obj[1];
    CHECK(pthread_mutex_unlock(&lock));
    int eperm2 = pthread_mutex_unlock(&lock) == EPERM; /* not locked any more */

    printf("deadlk=%d eperm=%d eperm2=%d\n", deadlk, eperm, eperm2);
    printf("result=%ld,%ld\n", v0, v1);
    return 0;
}
