/* protected_by(adaptive mutex): PTHREAD_MUTEX_ADAPTIVE_NP via the attribute
 * and via the static initializer. */
#include "common.h"

#define NTHREADS 4
#define ROUNDS 1000

static pthread_mutex_t lock1;
static pthread_mutex_t lock2 = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
static long *a, *b;

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        CHECK(pthread_mutex_lock(&lock1));
        a[0]++;
        CHECK(pthread_mutex_unlock(&lock1));
        CHECK(pthread_mutex_lock(&lock2));
        b[0] += 2;
        CHECK(pthread_mutex_unlock(&lock2));
    }
    return NULL;
}

int main(void)
{
    started();
    pthread_mutexattr_t attr;
    CHECK(pthread_mutexattr_init(&attr));
    CHECK(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP));
    CHECK(pthread_mutex_init(&lock1, &attr));
    CHECK(pthread_mutexattr_destroy(&attr));

    a = push_calloc(1, sizeof(long));
    b = push_calloc(1, sizeof(long));
    CHECK_ALLOC(a);
    CHECK_ALLOC(b);
    CHECK(push_protected_by(a, &lock1));
    CHECK(push_protected_by(b, &lock2));

    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, NULL));
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_join(t[i], NULL));

    CHECK(pthread_mutex_lock(&lock1));
    CHECK(pthread_mutex_lock(&lock2));
    printf("result=%ld,%ld\n", a[0], b[0]);
    CHECK(pthread_mutex_unlock(&lock2));
    CHECK(pthread_mutex_unlock(&lock1));
    return 0;
}
