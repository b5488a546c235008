/* A thread named with pthread_setname_np writes an object owned by main:
 * the data race report names the thread ("intruder \"7\"", quoted and
 * escaped) on its access line. */
#include "common.h"

static volatile long *data;

static void *intruder(void *arg)
{
    (void)arg;
    CHECK(pthread_setname_np(pthread_self(), "intruder \"7\""));
    data[1] = 7; /* RACE:named */
    return NULL;
}

int main(void)
{
    started();
    data = push_malloc(4 * sizeof(long));
    CHECK_ALLOC(data);
    for (int i = 0; i < 4; i++)
        data[i] = i;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, intruder, NULL));
    CHECK(pthread_join(t, NULL));

    long sum = 0;
    for (int i = 0; i < 4; i++)
        sum += data[i];
    printf("result=%ld\n", sum);
    return 0;
}
