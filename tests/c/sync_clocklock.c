/* pthread_mutex_clocklock on a mutex inside the object it protects, on the
 * clock named by argv[1] (monotonic or realtime). Four threads count under
 * it; then main changes two policies (a transfer, a release) and sets
 * `ready` under the lock, and a receiver that polls `ready` under
 * clocklock uses both objects: the changes are ordered by the lock alone.
 * An unsupported clock fails with EINVAL before the lock is looked at,
 * even when it is free, and a clocklock that times out (ETIMEDOUT) grants
 * nothing. Output: einval=1 timedout=1 and result=<counts>. */
#include "common.h"
#include <sched.h>

#define THREADS 4
#define ROUNDS 2000

struct counter {
    pthread_mutex_t m;
    long n;
    int ready;
};

static struct counter *c;
static clockid_t clock_id;
static long *given, *passed;

static void lock_counter(void)
{
    struct timespec dl = deadline_on(clock_id, 10000);
    CHECK(pthread_mutex_clocklock(&c->m, clock_id, &dl));
}

static void *count(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        lock_counter();
        c->n++;
        CHECK(pthread_mutex_unlock(&c->m));
    }
    return NULL;
}

static void *receive(void *arg)
{
    (void)arg;
    for (;;) {
        lock_counter();
        if (c->ready)
            break;
        CHECK(pthread_mutex_unlock(&c->m));
        sched_yield();
    }
    c->n += 1000;
    CHECK(pthread_mutex_unlock(&c->m));
    given[0] += 100; /* transferred to this thread */
    CHECK(push_acquire(passed));
    passed[1] = passed[0] * 2;
    return NULL;
}

static void *time_out(void *arg)
{
    (void)arg;
    struct timespec dl = deadline_on(clock_id, 50);
    int rc = pthread_mutex_clocklock(&c->m, clock_id, &dl);
    if (rc == 0) { /* cannot happen: main holds the lock */
        c->n = -1;
        pthread_mutex_unlock(&c->m);
    }
    return (void *)(long)rc;
}

int main(int argc, char **argv)
{
    started();
    if (argc < 2 || (strcmp(argv[1], "monotonic") && strcmp(argv[1], "realtime"))) {
        fprintf(stderr, "usage: sync_clocklock monotonic|realtime\n");
        return 2;
    }
    clock_id = strcmp(argv[1], "monotonic") == 0 ? CLOCK_MONOTONIC : CLOCK_REALTIME;
    c = push_malloc(sizeof *c);
    CHECK_ALLOC(c);
    CHECK(pthread_mutex_init(&c->m, NULL));
    c->n = 0;
    c->ready = 0;
    CHECK(push_protected_by(c, &c->m));
    given = push_calloc(2, sizeof(long));
    passed = push_calloc(2, sizeof(long));
    CHECK_ALLOC(given);
    CHECK_ALLOC(passed);
    given[0] = 7;
    passed[0] = 21;

    struct timespec dl = deadline_on(clock_id, 10000);
    int einval = pthread_mutex_clocklock(&c->m, CLOCK_PROCESS_CPUTIME_ID, &dl) == EINVAL;

    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, count, NULL));
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL));

    pthread_t r;
    CHECK(pthread_create(&r, NULL, receive, NULL));
    CHECK(push_transfer(given, r));
    CHECK(push_release(passed));
    lock_counter();
    c->ready = 1;
    CHECK(pthread_mutex_unlock(&c->m));
    CHECK(pthread_join(r, NULL));

    lock_counter();
    pthread_t u;
    void *urc;
    CHECK(pthread_create(&u, NULL, time_out, NULL));
    CHECK(pthread_join(u, &urc));
    c->n += 3;
    printf("einval=%d timedout=%d\n", einval, (long)urc == ETIMEDOUT);
    printf("result=%ld,%ld,%ld\n", c->n, given[0], passed[1]);
    CHECK(pthread_mutex_unlock(&c->m));
    return 0;
}
