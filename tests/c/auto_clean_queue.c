/* auto mode, race-free: a producer hands heap items to a consumer through
 * a bounded queue (a heap object holding its mutex and condvars); the
 * consumer reads and frees each item (a later malloc may reuse it). */
#include "auto_common.h"

#define ITEMS 1000
#define CAP 8

struct item { long value, square; };

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t nonempty, nonfull;
    struct item *slots[CAP];
    int head, count;
};

static void *producer(void *arg)
{
    struct queue *q = arg;
    for (long i = 0; i <= ITEMS; i++) {
        struct item *it = NULL; /* NULL: the end */
        if (i < ITEMS) {
            CHECK_ALLOC(it = malloc(sizeof *it));
            it->value = i;
            it->square = i * i;
        }
        CHECK(pthread_mutex_lock(&q->lock));
        while (q->count == CAP)
            CHECK(pthread_cond_wait(&q->nonfull, &q->lock));
        q->slots[(q->head + q->count) % CAP] = it;
        q->count++;
        CHECK(pthread_cond_signal(&q->nonempty));
        CHECK(pthread_mutex_unlock(&q->lock));
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct queue *q = arg;
    long sum = 0;
    for (;;) {
        CHECK(pthread_mutex_lock(&q->lock));
        while (q->count == 0)
            CHECK(pthread_cond_wait(&q->nonempty, &q->lock));
        struct item *it = q->slots[q->head];
        q->head = (q->head + 1) % CAP;
        q->count--;
        CHECK(pthread_cond_signal(&q->nonfull));
        CHECK(pthread_mutex_unlock(&q->lock));
        if (it == NULL)
            break;
        sum += it->square - it->value;
        free(it);
    }
    return (void *)sum;
}

int main(void)
{
    started();
    struct queue *q = calloc(1, sizeof *q);
    CHECK_ALLOC(q);
    CHECK(pthread_mutex_init(&q->lock, NULL));
    CHECK(pthread_cond_init(&q->nonempty, NULL));
    CHECK(pthread_cond_init(&q->nonfull, NULL));

    pthread_t p, c;
    void *sum;
    CHECK(pthread_create(&c, NULL, consumer, q));
    CHECK(pthread_create(&p, NULL, producer, q));
    CHECK(pthread_join(p, NULL));
    CHECK(pthread_join(c, &sum));

    printf("result=%ld,%d\n", (long)sum, q->count);
    free(q);
    return 0;
}
