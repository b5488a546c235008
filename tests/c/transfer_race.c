/* push_transfer: after giving the object to another thread, the old owner
 * touches it while the new owner is still alive -> data race. */
#include "common.h"

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int ready;
static volatile long *obj;
static sem_t done, finish;

static void *receiver(void *arg)
{
    (void)arg;
    CHECK(pthread_mutex_lock(&m));
    while (!ready)
        CHECK(pthread_cond_wait(&c, &m));
    CHECK(pthread_mutex_unlock(&m));
    obj[0] += 100;
    CHECK_ERRNO(sem_post(&done));
    sem_wait_retry(&finish);
    return NULL;
}

int main(void)
{
    started();
    CHECK_ERRNO(sem_init(&done, 0, 0));
    CHECK_ERRNO(sem_init(&finish, 0, 0));
    obj = push_malloc(4 * sizeof(long));
    CHECK_ALLOC(obj);
    for (int i = 0; i < 4; i++)
        obj[i] = i;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, receiver, NULL));
    CHECK(push_transfer((void *)obj, t));
    CHECK(pthread_mutex_lock(&m));
    ready = 1;
    CHECK(pthread_cond_signal(&c));
    CHECK(pthread_mutex_unlock(&m));

    sem_wait_retry(&done);
    obj[1] = 50; /* RACE:write */
    CHECK_ERRNO(sem_post(&finish));
    CHECK(pthread_join(t, NULL));

    printf("result=%ld,%ld\n", obj[0], obj[1]);
    return 0;
}
