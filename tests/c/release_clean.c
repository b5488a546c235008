/* push_release / push_acquire: the object travels main -> A -> B -> main,
 * each hop a release, a semaphore post, and an acquire. */
#include "common.h"

static long *obj;
static sem_t to_a, to_b;

static void *stage_a(void *arg)
{
    (void)arg;
    sem_wait_retry(&to_a);
    CHECK(push_acquire(obj));
    obj[0] *= 3;
    obj[1] = 1;
    CHECK(push_release(obj));
    CHECK_ERRNO(sem_post(&to_b));
    return NULL;
}

static void *stage_b(void *arg)
{
    (void)arg;
    sem_wait_retry(&to_b);
    CHECK(push_acquire(obj));
    obj[0] += 4;
    obj[2] = 2;
    CHECK(push_release(obj));
    return NULL;
}

int main(void)
{
    started();
    CHECK_ERRNO(sem_init(&to_a, 0, 0));
    CHECK_ERRNO(sem_init(&to_b, 0, 0));
    obj = push_calloc(3, sizeof(long));
    CHECK_ALLOC(obj);
    obj[0] = 5;

    pthread_t a, b;
    CHECK(pthread_create(&a, NULL, stage_a, NULL));
    CHECK(pthread_create(&b, NULL, stage_b, NULL));
    CHECK(push_release(obj));
    CHECK_ERRNO(sem_post(&to_a));
    CHECK(pthread_join(a, NULL));
    CHECK(pthread_join(b, NULL));
    CHECK(push_acquire(obj));
    printf("result=%ld,%ld,%ld\n", obj[0], obj[1], obj[2]);
    return 0;
}
