/* auto mode, race-free: a one-slot heap buffer handed back and forth with
 * two semaphores (full/empty): the producer writes the slot after
 * sem_wait(empty), the consumer reads it after sem_wait(full). */
#include "auto_common.h"

#define ROUNDS 500

static sem_t full, empty;

struct slot {
    long value;
    long round;
};

static void *producer(void *arg)
{
    struct slot *s = arg;
    for (int r = 0; r < ROUNDS; r++) {
        sem_wait_retry(&empty);
        s->value = r * 3;
        s->round = r;
        CHECK_ERRNO(sem_post(&full));
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct slot *s = arg;
    long sum = 0;
    for (int r = 0; r < ROUNDS; r++) {
        sem_wait_retry(&full);
        sum += s->value - s->round;
        s->value = -1;
        CHECK_ERRNO(sem_post(&empty));
    }
    return (void *)sum;
}

int main(void)
{
    started();
    struct slot *s = calloc(1, sizeof *s);
    CHECK_ALLOC(s);
    CHECK_ERRNO(sem_init(&full, 0, 0));
    CHECK_ERRNO(sem_init(&empty, 0, 1));

    pthread_t p, c;
    void *sum;
    CHECK(pthread_create(&c, NULL, consumer, s));
    CHECK(pthread_create(&p, NULL, producer, s));
    CHECK(pthread_join(p, NULL));
    CHECK(pthread_join(c, &sum));

    printf("result=%ld,%ld\n", (long)sum, s->value);
    free(s);
    return 0;
}
