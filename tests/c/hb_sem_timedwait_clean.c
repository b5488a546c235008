/* Happens-before through a semaphore, sem_timedwait: the worker first lets
 * one sem_timedwait time out (it orders nothing), then main transfers a and
 * releases b and posts; the worker uses them after a sem_timedwait
 * succeeds. Back: the worker releases a and transfers b to main, then
 * posts; main acquires a and uses b after its own successful
 * sem_timedwait. */
#include "common.h"

static sem_t to_worker, to_main, timed_out;
static pthread_t main_thread;
static long *a, *b;

/* sem_timedwait with a generous deadline, retried on EINTR/ETIMEDOUT. */
static void timedwait_loop(sem_t *s)
{
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

static void *worker(void *arg)
{
    (void)arg;
    struct timespec soon = deadline_ms(20);
    int rc;
    while ((rc = sem_timedwait(&to_worker, &soon)) == -1 && errno == EINTR)
        ;
    if (rc != -1 || errno != ETIMEDOUT) {
        fprintf(stderr, "the first sem_timedwait should time out\n");
        exit(1);
    }
    CHECK_ERRNO(sem_post(&timed_out));
    timedwait_loop(&to_worker);
    a[0] += 100; /* transferred to this thread */
    CHECK(push_acquire(b));
    b[1] = b[0] * 2;
    CHECK(push_release(a));
    CHECK(push_transfer(b, main_thread));
    CHECK_ERRNO(sem_post(&to_main));
    timedwait_loop(&to_worker); /* stay alive until main is done */
    return NULL;
}

int main(void)
{
    started();
    main_thread = pthread_self();
    CHECK_ERRNO(sem_init(&to_worker, 0, 0));
    CHECK_ERRNO(sem_init(&to_main, 0, 0));
    CHECK_ERRNO(sem_init(&timed_out, 0, 0));
    a = push_calloc(2, sizeof(long));
    b = push_calloc(2, sizeof(long));
    CHECK_ALLOC(a);
    CHECK_ALLOC(b);
    a[0] = 20;
    b[0] = 21;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    sem_wait_retry(&timed_out);
    CHECK(push_transfer(a, t));
    CHECK(push_release(b));
    CHECK_ERRNO(sem_post(&to_worker));
    timedwait_loop(&to_main);
    CHECK(push_acquire(a)); /* the worker is still alive */
    a[1] = a[0] + b[1];
    long av = a[0], bv = b[1], sum = a[1];
    CHECK_ERRNO(sem_post(&to_worker));
    CHECK(pthread_join(t, NULL));
    printf("result=%ld,%ld,%ld\n", av, bv, sum);
    return 0;
}
