/* protected_by(mutex): a write without holding the lock -> data race. */
#include "common.h"

#define ROUNDS 1000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile long *obj;

static void *careful(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&lock);
        obj[0]++;
        pthread_mutex_unlock(&lock);
    }
    return NULL;
}

static void *careless(void *arg)
{
    (void)arg;
    obj[2] = 77; /* RACE:write */
    return NULL;
}

int main(void)
{
    started();
    obj = push_calloc(4, sizeof(long)); /* 32 bytes */
    CHECK_ALLOC(obj);
    CHECK(push_protected_by((void *)obj, &lock));

    pthread_t t;
    CHECK(pthread_create(&t, NULL, careful, NULL));
    CHECK(pthread_join(t, NULL));
    CHECK(pthread_create(&t, NULL, careless, NULL));
    CHECK(pthread_join(t, NULL));

    pthread_mutex_lock(&lock);
    printf("result=%ld,%ld\n", obj[0], obj[2]);
    pthread_mutex_unlock(&lock);
    return 0;
}
