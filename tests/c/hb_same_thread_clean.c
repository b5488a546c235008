/* Rule 1 exempts a thread's own changes: main changes one object's policy
 * many times in a row while a worker runs unsynchronized (the worker does
 * the same with an object of its own), then hands the object over through
 * a semaphore. */
#include "common.h"

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static sem_t go;
static long *obj;

static void *worker(void *arg)
{
    (void)arg;
    long *mine = push_calloc(2, sizeof(long));
    CHECK_ALLOC(mine);
    mine[0] = 5;
    CHECK(push_readonly(mine));
    long v = mine[0];
    CHECK(push_private(mine));
    mine[1] = v * 2;
    CHECK(push_release(mine));
    CHECK(push_acquire(mine));
    CHECK(push_racy(mine));
    mine[0] += mine[1];
    CHECK(push_private(mine));
    v = mine[0];

    sem_wait_retry(&go);
    CHECK(push_acquire(obj));
    obj[1] = obj[0] + v;
    return NULL;
}

int main(void)
{
    started();
    CHECK_ERRNO(sem_init(&go, 0, 0));
    obj = push_calloc(2, sizeof(long));
    CHECK_ALLOC(obj);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL));

    obj[0] = 1;
    CHECK(push_readonly(obj));
    long v = obj[0];
    CHECK(push_private(obj));
    obj[0] = v + 1;
    CHECK(push_racy(obj));
    obj[0] += 1;
    CHECK(push_release(obj));
    CHECK(push_acquire(obj));
    obj[0] *= 10;
    CHECK(push_protected_by(obj, &m));
    CHECK(pthread_mutex_lock(&m));
    obj[0] += 3;
    CHECK(push_private(obj)); /* as the holder of m */
    CHECK(pthread_mutex_unlock(&m));
    CHECK(push_release(obj));
    CHECK_ERRNO(sem_post(&go));
    CHECK(pthread_join(t, NULL));
    printf("result=%ld,%ld\n", obj[0], obj[1]);
    return 0;
}
