/* private: another thread reads an object owned by main -> data race (read). */
#include "common.h"

static volatile long *data;

static void *intruder(void *arg)
{
    (void)arg;
    long v = data[5]; /* RACE:read */
    return (void *)v;
}

int main(void)
{
    started();
    data = push_malloc(8 * sizeof(long));
    CHECK_ALLOC(data);
    for (int i = 0; i < 8; i++)
        data[i] = 10 * i;

    pthread_t t;
    void *seen;
    CHECK(pthread_create(&t, NULL, intruder, NULL));
    CHECK(pthread_join(t, &seen));

    long sum = 0;
    for (int i = 0; i < 8; i++)
        sum += data[i];
    printf("result=%ld seen=%ld\n", sum, (long)seen);
    return 0;
}
