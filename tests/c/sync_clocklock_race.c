/* A pthread_mutex_clocklock that times out grants nothing: the thread
 * writes the object anyway (the lock it meant to hold lives inside it)
 * -> data race at that write. */
#include "common.h"

struct counter {
    pthread_mutex_t m;
    long n;
};

static struct counter *c;

static void *late(void *arg)
{
    (void)arg;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_nsec += 50 * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec += 1;
        dl.tv_nsec -= 1000000000L;
    }
    int rc = pthread_mutex_clocklock(&c->m, CLOCK_MONOTONIC, &dl);
    c->n = 11; /* RACE:timedout */
    return (void *)(long)rc;
}

int main(void)
{
    started();
    c = push_malloc(sizeof *c);
    CHECK_ALLOC(c);
    CHECK(pthread_mutex_init(&c->m, NULL));
    c->n = 1;
    CHECK(push_protected_by(c, &c->m));

    CHECK(pthread_mutex_lock(&c->m));
    pthread_t t;
    void *rc;
    CHECK(pthread_create(&t, NULL, late, NULL));
    CHECK(pthread_join(t, &rc));
    printf("timedout=%d\n", (long)rc == ETIMEDOUT);
    printf("result=%ld\n", c->n);
    CHECK(pthread_mutex_unlock(&c->m));
    return 0;
}
