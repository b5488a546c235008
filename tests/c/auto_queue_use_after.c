/* auto mode: items handed over through a mutex+condvar queue, but the
 * producer writes each item once more after enqueueing it, while the
 * consumer that dequeued it writes it too -> data race between the
 * producer's late write and the consumer's write. (The items are freed by
 * main after both threads are joined, so nothing is used after free.) */
#include "auto_common.h"

#define ROUNDS 400

struct item {
    long seq;
    volatile long state;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t nonempty = PTHREAD_COND_INITIALIZER;
static struct item *queue[ROUNDS];
static int head, tail;
static struct item *items[ROUNDS];

static void *producer(void *arg)
{
    (void)arg;
    for (int r = 0; r < ROUNDS; r++) {
        struct item *it = items[r];
        it->state = 1;
        CHECK(pthread_mutex_lock(&lock));
        queue[tail++] = it;
        CHECK(pthread_cond_signal(&nonempty));
        CHECK(pthread_mutex_unlock(&lock));
        /* Late: by now the consumer has written the item and gone back to
         * the queue (under mprotect its window on the item is closed). */
        usleep(200);
        it->state = 2; /* RACE:a */
    }
    return NULL;
}

static void *consumer(void *arg)
{
    long *seen = arg;
    for (int r = 0; r < ROUNDS; r++) {
        CHECK(pthread_mutex_lock(&lock));
        while (head == tail)
            CHECK(pthread_cond_wait(&nonempty, &lock));
        struct item *it = queue[head++];
        CHECK(pthread_mutex_unlock(&lock));
        it->state = 3; /* RACE:b */
        *seen += it->seq;
    }
    return NULL;
}

int main(void)
{
    started();
    for (int r = 0; r < ROUNDS; r++) {
        items[r] = malloc(sizeof *items[r]); /* ALLOC */
        CHECK_ALLOC(items[r]);
        items[r]->seq = r;
        items[r]->state = 0;
    }
    long seen = 0;

    pthread_t p, c;
    CHECK(pthread_create(&c, NULL, consumer, &seen));
    CHECK(pthread_create(&p, NULL, producer, NULL));
    CHECK(pthread_join(p, NULL));
    CHECK(pthread_join(c, NULL));

    printf("result=%ld\n", seen);
    for (int r = 0; r < ROUNDS; r++)
        free(items[r]);
    return 0;
}
