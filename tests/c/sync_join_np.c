/* Happens-before through the non-portable joins, chosen by argv[1]:
 * try (pthread_tryjoin_np polled: EBUSY while the worker runs), timed
 * (pthread_timedjoin_np: one times out first) or clock
 * (pthread_clockjoin_np on CLOCK_MONOTONIC: one times out first, and an
 * unsupported clock gives EINVAL). The worker allocates four objects,
 * releases one, transfers one to main, makes one read-only and keeps one
 * private, then exits. Main's successful join orders all four changes
 * before its uses, and the exited worker's private object passes to it. */
#include "common.h"
#include <sched.h>

#define N 8

enum how { TRY, TIMED, CLOCK };

static enum how how;
static pthread_t main_thread;
static sem_t finish;
static long *released, *given, *shared, *kept;

static long *fill(long base)
{
    long *o = push_malloc(N * sizeof(long));
    CHECK_ALLOC(o);
    for (int i = 0; i < N; i++)
        o[i] = base + i;
    return o;
}

static void *work(void *arg)
{
    (void)arg;
    released = fill(0);
    given = fill(100);
    shared = fill(1000);
    kept = fill(10000);
    CHECK(push_release(released));
    CHECK(push_transfer(given, main_thread));
    CHECK(push_readonly(shared));
    sem_wait_retry(&finish);
    return (void *)42L;
}

/* Joins `t` the chosen way; returns the first failure seen (EBUSY or
 * ETIMEDOUT while the worker still waits for `finish`). */
static int join(pthread_t t, void **ret)
{
    struct timespec dl;
    int first;
    switch (how) {
    case TRY:
        first = pthread_tryjoin_np(t, ret);
        CHECK_ERRNO(sem_post(&finish));
        for (;;) {
            int rc = pthread_tryjoin_np(t, ret);
            if (rc == 0)
                return first;
            if (rc != EBUSY)
                CHECK(rc);
            sched_yield();
        }
    case TIMED:
        dl = deadline_ms(30);
        first = pthread_timedjoin_np(t, ret, &dl);
        CHECK_ERRNO(sem_post(&finish));
        dl = deadline_ms(10000);
        CHECK(pthread_timedjoin_np(t, ret, &dl));
        return first;
    default:
        dl = deadline_on(CLOCK_MONOTONIC, 30);
        first = pthread_clockjoin_np(t, ret, CLOCK_MONOTONIC, &dl);
        dl = deadline_on(CLOCK_MONOTONIC, 10000);
        if (pthread_clockjoin_np(t, ret, CLOCK_PROCESS_CPUTIME_ID, &dl) != EINVAL) {
            fprintf(stderr, "an unsupported clock should give EINVAL\n");
            exit(1);
        }
        CHECK_ERRNO(sem_post(&finish));
        CHECK(pthread_clockjoin_np(t, ret, CLOCK_MONOTONIC, &dl));
        return first;
    }
}

int main(int argc, char **argv)
{
    started();
    const char *names[] = {"try", "timed", "clock"};
    how = CLOCK + 1;
    for (int k = TRY; argc > 1 && k <= CLOCK; k++)
        if (strcmp(argv[1], names[k]) == 0)
            how = (enum how)k;
    if (how > CLOCK) {
        fprintf(stderr, "usage: sync_join_np try|timed|clock\n");
        return 2;
    }
    main_thread = pthread_self();
    CHECK_ERRNO(sem_init(&finish, 0, 0));
    pthread_t t;
    void *ret;
    CHECK(pthread_create(&t, NULL, work, NULL));
    int first = join(t, &ret);
    CHECK(push_acquire(released));
    long sum = 0;
    for (int i = 0; i < N; i++)
        sum += released[i] + given[i] + shared[i] + kept[i];
    released[0] = sum;
    given[0] = -sum;
    kept[0] = (long)ret; /* private to the exited, joined worker */
    printf("first=%s\n", first == EBUSY ? "EBUSY" : first == ETIMEDOUT ? "ETIMEDOUT" : "other");
    printf("result=%ld,%ld,%ld,%ld\n", released[0], given[0], shared[N - 1], kept[0]);
    return 0;
}
