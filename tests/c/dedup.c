/* Deduplication: the same racy instruction on the same object, executed
 * many times by two threads (one after the other), is reported once. */
#include "common.h"

static volatile long *obj;

static void *intruder(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < 100; i++)
        obj[i % 4] = id; /* RACE:loop */
    return NULL;
}

int main(void)
{
    started();
    obj = push_calloc(4, sizeof(long));
    CHECK_ALLOC(obj);
    pthread_t t;
    for (long id = 1; id <= 2; id++) {
        CHECK(pthread_create(&t, NULL, intruder, (void *)id));
        CHECK(pthread_join(t, NULL));
    }
    printf("result=%ld,%ld,%ld,%ld\n", obj[0], obj[1], obj[2], obj[3]);
    return 0;
}
