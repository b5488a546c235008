/* The order missing: the producer publishes an object under the mutex and
 * signals, but transfers it to the consumer only after unlocking, and
 * tells it through an atomic flag the runtime cannot see. The consumer's
 * pthread_cond_clockwait returned before the transfer, so its first write
 * to the object is not ordered after it -> unordered policy change
 * (rule 2) at that write. */
#include "common.h"
#include <sched.h>

struct slot {
    pthread_mutex_t m;
    pthread_cond_t c;
    long *item;
};

static struct slot *s;
static pthread_t consumer_thread;
static int transferred;

static void *produce(void *arg)
{
    (void)arg;
    long *item = push_calloc(2, sizeof(long));
    CHECK_ALLOC(item);
    item[0] = 5;
    CHECK(pthread_mutex_lock(&s->m));
    s->item = item;
    CHECK(pthread_cond_signal(&s->c));
    CHECK(pthread_mutex_unlock(&s->m));
    CHECK(push_transfer(item, consumer_thread)); /* CHANGE:item */
    __atomic_store_n(&transferred, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *consume(void *arg)
{
    (void)arg;
    CHECK(pthread_mutex_lock(&s->m));
    while (s->item == NULL) {
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += 10;
        CHECK(pthread_cond_clockwait(&s->c, &s->m, CLOCK_MONOTONIC, &dl));
    }
    long *item = s->item;
    CHECK(pthread_mutex_unlock(&s->m));
    while (!__atomic_load_n(&transferred, __ATOMIC_ACQUIRE))
        sched_yield();
    item[1] = item[0] + 2; /* RACE:item */
    return NULL;
}

int main(void)
{
    started();
    s = push_calloc(1, sizeof *s);
    CHECK_ALLOC(s);
    CHECK(pthread_mutex_init(&s->m, NULL));
    CHECK(pthread_cond_init(&s->c, NULL));
    CHECK(push_protected_by(s, &s->m));

    pthread_t p;
    CHECK(pthread_create(&consumer_thread, NULL, consume, NULL));
    CHECK(pthread_create(&p, NULL, produce, NULL));
    CHECK(pthread_join(p, NULL));
    CHECK(pthread_join(consumer_thread, NULL));
    CHECK(pthread_mutex_lock(&s->m));
    printf("result=%ld,%ld\n", s->item[0], s->item[1]); /* joined owner */
    CHECK(pthread_mutex_unlock(&s->m));
    return 0;
}
