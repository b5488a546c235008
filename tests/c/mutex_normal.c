/* protected_by(mutex): the default mutex and PTHREAD_MUTEX_NORMAL. */
#include "common.h"

#define NTHREADS 4
#define ROUNDS 1000

static pthread_mutex_t deflock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t normlock;
static long *a, *b;

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&deflock);
        a[0]++;
        a[1] += 2;
        pthread_mutex_unlock(&deflock);

        pthread_mutex_lock(&normlock);
        b[0] += 3;
        pthread_mutex_unlock(&normlock);
    }
    return NULL;
}

int main(void)
{
    started();
    pthread_mutexattr_t attr;
    CHECK(pthread_mutexattr_init(&attr));
    CHECK(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_NORMAL));
    CHECK(pthread_mutex_init(&normlock, &attr));
    CHECK(pthread_mutexattr_destroy(&attr));

    a = push_calloc(2, sizeof(long));
    b = push_calloc(1, sizeof(long));
    CHECK_ALLOC(a);
    CHECK_ALLOC(b);
    CHECK(push_protected_by(a, &deflock));
    CHECK(push_protected_by(b, &normlock));

    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, NULL));
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_join(t[i], NULL));

    pthread_mutex_lock(&deflock);
    pthread_mutex_lock(&normlock);
    printf("result=%ld,%ld,%ld\n", a[0], a[1], b[0]);
    pthread_mutex_unlock(&normlock);
    pthread_mutex_unlock(&deflock);
    return 0;
}
