/* sem_clockwait on semaphores inside a tracked object that main made
 * read-only (so the semaphore code, not the program, writes the words), on
 * the clock named by argv[1] (monotonic or realtime). The worker fills a
 * result object, transfers it to main and releases a second one, then
 * posts `done`; main's successful sem_clockwait orders both changes
 * before its use of the objects. Before that, a wait on an empty
 * semaphore times out (-1, ETIMEDOUT) and an unsupported clock fails
 * (-1, EINVAL) even on a semaphore that could be taken. */
#include "common.h"

#define N 8

struct job {
    sem_t go;
    sem_t done;
    sem_t spare;
    long input[N];
};

static struct job *job;
static clockid_t clock_id;
static pthread_t main_thread;
static long *result, *scratch;

/* sem_clockwait with a 10 s deadline, retried on EINTR. */
static void wait_sem(sem_t *s)
{
    for (;;) {
        struct timespec dl = deadline_on(clock_id, 10000);
        if (sem_clockwait(s, clock_id, &dl) == 0)
            return;
        if (errno != EINTR) {
            perror("sem_clockwait");
            exit(1);
        }
    }
}

static void *work(void *arg)
{
    (void)arg;
    wait_sem(&job->go);
    result = push_malloc(N * sizeof(long));
    scratch = push_calloc(N, sizeof(long));
    CHECK_ALLOC(result);
    CHECK_ALLOC(scratch);
    for (int i = 0; i < N; i++)
        result[i] = job->input[i] * job->input[i];
    scratch[0] = 11;
    CHECK(push_transfer(result, main_thread));
    CHECK(push_release(scratch));
    CHECK_ERRNO(sem_post(&job->done));
    return NULL;
}

int main(int argc, char **argv)
{
    started();
    if (argc < 2 || (strcmp(argv[1], "monotonic") && strcmp(argv[1], "realtime"))) {
        fprintf(stderr, "usage: sync_sem_clockwait monotonic|realtime\n");
        return 2;
    }
    clock_id = strcmp(argv[1], "monotonic") == 0 ? CLOCK_MONOTONIC : CLOCK_REALTIME;
    main_thread = pthread_self();
    job = push_malloc(sizeof *job);
    CHECK_ALLOC(job);
    CHECK_ERRNO(sem_init(&job->go, 0, 0));
    CHECK_ERRNO(sem_init(&job->done, 0, 0));
    CHECK_ERRNO(sem_init(&job->spare, 0, 1));
    for (int i = 0; i < N; i++)
        job->input[i] = i + 1;
    CHECK(push_readonly(job));

    struct timespec soon = deadline_on(clock_id, 30);
    int rc;
    while ((rc = sem_clockwait(&job->done, clock_id, &soon)) == -1 && errno == EINTR)
        ;
    int timed_out = rc == -1 && errno == ETIMEDOUT;
    struct timespec dl = deadline_on(clock_id, 10000);
    rc = sem_clockwait(&job->spare, CLOCK_PROCESS_CPUTIME_ID, &dl);
    int einval = rc == -1 && errno == EINVAL;
    int spare;
    CHECK_ERRNO(sem_getvalue(&job->spare, &spare));

    pthread_t t;
    CHECK(pthread_create(&t, NULL, work, NULL));
    CHECK_ERRNO(sem_post(&job->go));
    wait_sem(&job->done);
    CHECK(push_acquire(scratch)); /* the worker is still alive */
    long sum = 0;
    for (int i = 0; i < N; i++)
        sum += result[i];
    result[0] = sum;
    scratch[1] = scratch[0] + 1;
    CHECK(pthread_join(t, NULL));
    printf("timedout=%d einval=%d spare=%d\n", timed_out, einval, spare);
    printf("result=%ld,%ld\n", result[0], scratch[1]);
    return 0;
}
