/* A mutex and a condition variable stored inside the object they protect:
 * producer and consumer pass 10000 items through a bounded queue. */
#include "common.h"

#define ITEMS 10000
#define CAP 64

struct q {
    pthread_mutex_t m;
    pthread_cond_t c;
    int items[CAP];
    int head, n;
};

static struct q *q;

static void *producer(void *arg)
{
    (void)arg;
    for (int i = 1; i <= ITEMS; i++) {
        CHECK(pthread_mutex_lock(&q->m));
        while (q->n == CAP)
            CHECK(pthread_cond_wait(&q->c, &q->m));
        q->items[(q->head + q->n) % CAP] = i;
        q->n++;
        CHECK(pthread_cond_broadcast(&q->c));
        CHECK(pthread_mutex_unlock(&q->m));
    }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    long sum = 0;
    for (int i = 0; i < ITEMS; i++) {
        CHECK(pthread_mutex_lock(&q->m));
        while (q->n == 0)
            CHECK(pthread_cond_wait(&q->c, &q->m));
        sum += q->items[q->head];
        q->head = (q->head + 1) % CAP;
        q->n--;
        CHECK(pthread_cond_broadcast(&q->c));
        CHECK(pthread_mutex_unlock(&q->m));
    }
    return (void *)sum;
}

int main(void)
{
    started();
    q = push_malloc(sizeof *q);
    CHECK_ALLOC(q);
    CHECK(pthread_mutex_init(&q->m, NULL));
    CHECK(pthread_cond_init(&q->c, NULL));
    q->head = 0;
    q->n = 0;
    CHECK(push_protected_by(q, &q->m));

    pthread_t p, c;
    void *sum;
    CHECK(pthread_create(&c, NULL, consumer, NULL));
    CHECK(pthread_create(&p, NULL, producer, NULL));
    CHECK(pthread_join(p, NULL));
    CHECK(pthread_join(c, &sum));

    /* Take it back (a holder of the protecting lock may) to tear it down. */
    CHECK(pthread_mutex_lock(&q->m));
    int left = q->n;
    CHECK(push_private(q));
    CHECK(pthread_mutex_unlock(&q->m));
    CHECK(pthread_cond_destroy(&q->c));
    CHECK(pthread_mutex_destroy(&q->m));
    push_free(q);

    printf("result=%ld left=%d\n", (long)sum, left);
    return 0;
}
