/* pthread_cond_clockwait with the mutex and the condition variable inside
 * the object they protect, on the clock named by argv[1] (monotonic or
 * realtime). The consumer's first wait times out (ETIMEDOUT, with the
 * mutex held again: it then reads and writes the queue); main waits for
 * that with clockwait too, then starts the producer. 5000 items go
 * through a bounded queue; at the end the producer transfers a fresh
 * object to the consumer and publishes it under the mutex: the consumer's
 * use of it is ordered by its clockwait's return (the consumer holds the
 * mutex throughout, except inside clockwait). */
#include "common.h"

#define ITEMS 5000
#define CAP 32
#define N 8

struct q {
    pthread_mutex_t m;
    pthread_cond_t c;
    int items[CAP];
    int head, n;
    int timed_out;
    long *bonus;
};

static struct q *q;
static clockid_t clock_id;
static pthread_t consumer_thread;

/* Waits on q->c for at most 10 s; the caller re-checks its condition. */
static void wait_queue(void)
{
    struct timespec dl = deadline_on(clock_id, 10000);
    CHECK(pthread_cond_clockwait(&q->c, &q->m, clock_id, &dl));
}

static void *produce(void *arg)
{
    (void)arg;
    for (int i = 1; i <= ITEMS; i++) {
        CHECK(pthread_mutex_lock(&q->m));
        while (q->n == CAP)
            wait_queue();
        q->items[(q->head + q->n) % CAP] = i;
        q->n++;
        CHECK(pthread_cond_broadcast(&q->c));
        CHECK(pthread_mutex_unlock(&q->m));
    }
    long *bonus = push_malloc(N * sizeof(long));
    CHECK_ALLOC(bonus);
    for (int i = 0; i < N; i++)
        bonus[i] = i + 1;
    CHECK(push_transfer(bonus, consumer_thread));
    CHECK(pthread_mutex_lock(&q->m));
    q->bonus = bonus;
    CHECK(pthread_cond_signal(&q->c));
    CHECK(pthread_mutex_unlock(&q->m));
    return NULL;
}

static void *consume(void *arg)
{
    (void)arg;
    CHECK(pthread_mutex_lock(&q->m));
    struct timespec soon = deadline_on(clock_id, 30);
    int rc;
    while ((rc = pthread_cond_clockwait(&q->c, &q->m, clock_id, &soon)) == 0)
        ; /* nobody signals yet: only a spurious wake-up returns 0 */
    if (rc != ETIMEDOUT) {
        fprintf(stderr, "the first clockwait should time out: %s\n", strerror(rc));
        exit(1);
    }
    q->timed_out = q->n + 1; /* the mutex is held again after a timeout */
    CHECK(pthread_cond_broadcast(&q->c));

    long sum = 0;
    for (int i = 0; i < ITEMS; i++) {
        while (q->n == 0)
            wait_queue();
        sum += q->items[q->head];
        q->head = (q->head + 1) % CAP;
        q->n--;
        CHECK(pthread_cond_broadcast(&q->c));
    }
    while (q->bonus == NULL)
        wait_queue();
    long *bonus = q->bonus;
    CHECK(pthread_mutex_unlock(&q->m));
    for (int i = 0; i < N; i++)
        sum += bonus[i] * 1000; /* transferred to this thread */
    bonus[0] = -1;
    return (void *)sum;
}

int main(int argc, char **argv)
{
    started();
    if (argc < 2 || (strcmp(argv[1], "monotonic") && strcmp(argv[1], "realtime"))) {
        fprintf(stderr, "usage: sync_cond_clockwait monotonic|realtime\n");
        return 2;
    }
    clock_id = strcmp(argv[1], "monotonic") == 0 ? CLOCK_MONOTONIC : CLOCK_REALTIME;
    q = push_calloc(1, sizeof *q);
    CHECK_ALLOC(q);
    CHECK(pthread_mutex_init(&q->m, NULL));
    pthread_condattr_t ca;
    CHECK(pthread_condattr_init(&ca));
    CHECK(pthread_condattr_setclock(&ca, clock_id));
    CHECK(pthread_cond_init(&q->c, &ca));
    CHECK(pthread_condattr_destroy(&ca));
    CHECK(push_protected_by(q, &q->m));

    pthread_t p;
    void *sum;
    CHECK(pthread_create(&consumer_thread, NULL, consume, NULL));
    CHECK(pthread_mutex_lock(&q->m));
    while (!q->timed_out)
        wait_queue();
    int timed_out = q->timed_out;
    CHECK(pthread_mutex_unlock(&q->m));
    CHECK(pthread_create(&p, NULL, produce, NULL));
    CHECK(pthread_join(p, NULL));
    CHECK(pthread_join(consumer_thread, &sum));

    CHECK(pthread_mutex_lock(&q->m));
    int left = q->n;
    CHECK(pthread_mutex_unlock(&q->m));
    printf("timedout=%d\n", timed_out);
    printf("result=%ld left=%d\n", (long)sum, left);
    return 0;
}
