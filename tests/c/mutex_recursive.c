/* protected_by(recursive mutex), with nested locking: the object stays
 * accessible until the outermost unlock. */
#include "common.h"

#define NTHREADS 4
#define ROUNDS 500

static pthread_mutex_t lock;
static long *obj;

static void bump(int depth)
{
    pthread_mutex_lock(&lock);
    obj[0]++;
    if (depth > 0)
        bump(depth - 1);
    obj[1]++; /* after the inner unlock: still held by the outer level */
    pthread_mutex_unlock(&lock);
}

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&lock);
        pthread_mutex_lock(&lock);
        obj[2]++;
        pthread_mutex_unlock(&lock);
        obj[2]++; /* held once more */
        pthread_mutex_unlock(&lock);
        bump(2);
    }
    return NULL;
}

int main(void)
{
    started();
    pthread_mutexattr_t attr;
    CHECK(pthread_mutexattr_init(&attr));
    CHECK(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE));
    CHECK(pthread_mutex_init(&lock, &attr));
    CHECK(pthread_mutexattr_destroy(&attr));

    obj = push_calloc(3, sizeof(long));
    CHECK_ALLOC(obj);
    CHECK(push_protected_by(obj, &lock));

    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, NULL));
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_join(t[i], NULL));

    pthread_mutex_lock(&lock);
    printf("result=%ld,%ld,%ld\n", obj[0], obj[1], obj[2]);
    pthread_mutex_unlock(&lock);
    return 0;
}
