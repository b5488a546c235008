/* protected_by(mutex) through pthread_mutex_trylock: a failed trylock
 * (EBUSY) grants nothing, a successful one grants the object. */
#include "common.h"
#include <sched.h>

#define NTHREADS 4
#define ROUNDS 1000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long *obj;

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        int rc;
        while ((rc = pthread_mutex_trylock(&lock)) == EBUSY)
            sched_yield();
        CHECK(rc);
        obj[0]++;
        CHECK(pthread_mutex_unlock(&lock));
    }
    return NULL;
}

static void *try_busy(void *arg)
{
    (void)arg;
    int rc = pthread_mutex_trylock(&lock);
    if (rc == 0) { /* cannot happen: main holds the lock */
        obj[1] = -1;
        pthread_mutex_unlock(&lock);
    }
    return (void *)(long)rc;
}

int main(void)
{
    started();
    obj = push_calloc(2, sizeof(long));
    CHECK_ALLOC(obj);
    CHECK(push_protected_by(obj, &lock));

    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, NULL));
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_join(t[i], NULL));

    CHECK(pthread_mutex_trylock(&lock));
    pthread_t u;
    void *urc;
    CHECK(pthread_create(&u, NULL, try_busy, NULL));
    CHECK(pthread_join(u, &urc));
    obj[1] += 5;
    printf("busy=%d\n", (long)urc == EBUSY);
    printf("result=%ld,%ld\n", obj[0], obj[1]);
    CHECK(pthread_mutex_unlock(&lock));
    return 0;
}
