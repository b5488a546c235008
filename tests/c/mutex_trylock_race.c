/* A failed pthread_mutex_trylock grants nothing: writing anyway -> data race. */
#include "common.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile long *obj;

static void *careless(void *arg)
{
    (void)arg;
    int rc = pthread_mutex_trylock(&lock); /* EBUSY: main holds it */
    obj[1] = 99; /* RACE:write */
    if (rc == 0)
        pthread_mutex_unlock(&lock);
    return (void *)(long)rc;
}

int main(void)
{
    started();
    obj = push_calloc(2, sizeof(long));
    CHECK_ALLOC(obj);
    CHECK(push_protected_by((void *)obj, &lock));

    CHECK(pthread_mutex_lock(&lock));
    obj[0] = 1;
    pthread_t u;
    void *urc;
    CHECK(pthread_create(&u, NULL, careless, NULL));
    CHECK(pthread_join(u, &urc));
    printf("busy=%d\n", (long)urc == EBUSY);
    printf("result=%ld,%ld\n", obj[0], obj[1]);
    CHECK(pthread_mutex_unlock(&lock));
    return 0;
}
