/* protected_by(mutex) through pthread_mutex_timedlock: success grants the
 * object, a timeout (ETIMEDOUT) grants nothing. */
#include "common.h"

#define NTHREADS 4
#define ROUNDS 1000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long *obj;

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        struct timespec dl = deadline_ms(10000);
        CHECK(pthread_mutex_timedlock(&lock, &dl));
        obj[0]++;
        CHECK(pthread_mutex_unlock(&lock));
    }
    return NULL;
}

static void *try_timeout(void *arg)
{
    (void)arg;
    struct timespec dl = deadline_ms(50);
    int rc = pthread_mutex_timedlock(&lock, &dl);
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

    struct timespec dl = deadline_ms(10000);
    CHECK(pthread_mutex_timedlock(&lock, &dl));
    pthread_t u;
    void *urc;
    CHECK(pthread_create(&u, NULL, try_timeout, NULL));
    CHECK(pthread_join(u, &urc));
    obj[1] += 3;
    printf("timedout=%d\n", (long)urc == ETIMEDOUT);
    printf("result=%ld,%ld\n", obj[0], obj[1]);
    CHECK(pthread_mutex_unlock(&lock));
    return 0;
}
