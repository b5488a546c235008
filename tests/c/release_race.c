/* push_release: a thread uses the released object without push_acquire
 * -> data race. */
#include "common.h"

static volatile long *obj;
static sem_t go;

static void *forgetful(void *arg)
{
    (void)arg;
    sem_wait_retry(&go);
    obj[2] = 9; /* RACE:write */
    return NULL;
}

int main(void)
{
    started();
    CHECK_ERRNO(sem_init(&go, 0, 0));
    obj = push_calloc(4, sizeof(long));
    CHECK_ALLOC(obj);
    obj[0] = 1;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, forgetful, NULL));
    CHECK(push_release((void *)obj));
    CHECK_ERRNO(sem_post(&go));
    CHECK(pthread_join(t, NULL));

    CHECK(push_acquire((void *)obj));
    printf("result=%ld,%ld\n", obj[0], obj[2]);
    return 0;
}
