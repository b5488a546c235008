/* auto mode: a heap buffer filled by one thread and read by another after a
 * plain volatile flag (a global, not watched), round after round. The flag
 * orders nothing the runtime can see -> data race between the fill and the
 * read of the buffer. */
#include "auto_common.h"

#define ROUNDS 300
#define LEN 8

static volatile int ready; /* 1: the buffer is full; not atomic */
static volatile int *buf;

static void *producer(void *arg)
{
    (void)arg;
    for (int r = 0; r < ROUNDS; r++) {
        while (ready)
            usleep(5);
        for (int i = 0; i < LEN; i++)
            buf[i] = r + i; /* RACE:a */
        ready = 1;
    }
    return NULL;
}

static void *consumer(void *arg)
{
    long *sum = arg;
    for (int r = 0; r < ROUNDS; r++) {
        while (!ready)
            usleep(5);
        for (int i = 0; i < LEN; i++)
            *sum += buf[i]; /* RACE:b */
        ready = 0;
    }
    return NULL;
}

int main(void)
{
    started();
    buf = malloc(LEN * sizeof *buf); /* ALLOC */
    CHECK_ALLOC(buf);
    long sum = 0;

    pthread_t p, c;
    CHECK(pthread_create(&c, NULL, consumer, &sum));
    CHECK(pthread_create(&p, NULL, producer, NULL));
    CHECK(pthread_join(p, NULL));
    CHECK(pthread_join(c, NULL));

    /* x86 keeps the stores in order: the sum is the same every run. */
    printf("result=%ld\n", sum);
    free((void *)buf);
    return 0;
}
