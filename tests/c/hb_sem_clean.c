/* Happens-before through a semaphore, waited for with argv[1]: wait
 * (sem_wait), trywait (sem_trywait polled; the failed tries order nothing)
 * or timedwait (sem_timedwait; the worker first lets one time out, which
 * orders nothing). Main transfers a and releases b, then posts; the worker
 * uses them after its wait succeeds. Back: the worker releases a and
 * transfers b to main, then posts; main acquires a and uses b after its
 * own successful wait. */
#include "common.h"
#include <sched.h>

enum how { WAIT, TRYWAIT, TIMEDWAIT };

static enum how how;
static sem_t to_worker, to_main, timed_out;
static pthread_t main_thread;
static long *a, *b;

static void wait_for(sem_t *s)
{
    switch (how) {
    case WAIT:
        sem_wait_retry(s);
        return;
    case TRYWAIT:
        while (sem_trywait(s) == -1) {
            if (errno != EAGAIN && errno != EINTR) {
                perror("sem_trywait");
                exit(1);
            }
            sched_yield();
        }
        return;
    case TIMEDWAIT:
        for (;;) {
            struct timespec ts = deadline_ms(10000);
            if (sem_timedwait(s, &ts) == 0)
                return;
            if (errno != ETIMEDOUT && errno != EINTR) {
                perror("sem_timedwait");
                exit(1);
            }
        }
    }
}

static void *worker(void *arg)
{
    (void)arg;
    if (how == TIMEDWAIT) {
        struct timespec soon = deadline_ms(20);
        int rc;
        while ((rc = sem_timedwait(&to_worker, &soon)) == -1 && errno == EINTR)
            ;
        if (rc != -1 || errno != ETIMEDOUT) {
            fprintf(stderr, "the first sem_timedwait should time out\n");
            exit(1);
        }
        CHECK_ERRNO(sem_post(&timed_out));
    }
    wait_for(&to_worker);
    a[0] += 100; /* transferred to this thread */
    CHECK(push_acquire(b));
    b[1] = b[0] * 2;
    CHECK(push_release(a));
    CHECK(push_transfer(b, main_thread));
    CHECK_ERRNO(sem_post(&to_main));
    wait_for(&to_worker); /* stay alive until main is done */
    return NULL;
}

int main(int argc, char **argv)
{
    started();
    const char *names[] = {"wait", "trywait", "timedwait"};
    how = TIMEDWAIT + 1;
    for (int k = WAIT; argc > 1 && k <= TIMEDWAIT; k++)
        if (strcmp(argv[1], names[k]) == 0)
            how = (enum how)k;
    if (how > TIMEDWAIT) {
        fprintf(stderr, "usage: hb_sem_clean wait|trywait|timedwait\n");
        return 2;
    }
    main_thread = pthread_self();
    CHECK_ERRNO(sem_init(&to_worker, 0, 0));
    CHECK_ERRNO(sem_init(&to_main, 0, 0));
    CHECK_ERRNO(sem_init(&timed_out, 0, 0));
    a = push_calloc(2, sizeof(long));
    b = push_calloc(2, sizeof(long));
    CHECK_ALLOC(a);
    CHECK_ALLOC(b);
    a[0] = 16 + 2 * how;
    b[0] = 17 + 2 * how;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    if (how == TIMEDWAIT)
        sem_wait_retry(&timed_out);
    CHECK(push_transfer(a, t));
    CHECK(push_release(b));
    CHECK_ERRNO(sem_post(&to_worker));
    wait_for(&to_main);
    CHECK(push_acquire(a)); /* the worker is still alive */
    a[1] = a[0] + b[1];
    long av = a[0], bv = b[1], sum = a[1];
    CHECK_ERRNO(sem_post(&to_worker));
    CHECK(pthread_join(t, NULL));
    printf("result=%ld,%ld,%ld\n", av, bv, sum);
    return 0;
}
