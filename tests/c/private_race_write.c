/* private: another thread writes an object owned by main -> data race (write). */
#include "common.h"

static volatile long *data;

static void *intruder(void *arg)
{
    (void)arg;
    data[3] = 42; /* RACE:write */
    return NULL;
}

int main(void)
{
    started();
    data = push_malloc(8 * sizeof(long)); /* ALLOC:data (64 bytes, private to T0) */
    CHECK_ALLOC(data);
    for (int i = 0; i < 8; i++)
        data[i] = i;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, intruder, NULL));
    CHECK(pthread_join(t, NULL));

    long sum = 0;
    for (int i = 0; i < 8; i++)
        sum += data[i];
    printf("result=%ld\n", sum);
    return 0;
}
