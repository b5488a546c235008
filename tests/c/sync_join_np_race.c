/* The order missing: the worker transfers an object to main and tells it
 * through an atomic flag the runtime cannot see; main's join fails (argv[1]:
 * try -> EBUSY, timed or clock -> ETIMEDOUT: the worker still runs) and
 * main writes the object anyway -> unordered policy change (rule 2) at
 * that write. A failed join orders nothing. */
#include "common.h"
#include <sched.h>

static pthread_t main_thread;
static sem_t finish;
static long *given;
static int transferred;

static void *work(void *arg)
{
    (void)arg;
    long *g = push_calloc(2, sizeof(long));
    CHECK_ALLOC(g);
    g[0] = 8;
    given = g;
    CHECK(push_transfer(g, main_thread)); /* CHANGE:given */
    __atomic_store_n(&transferred, 1, __ATOMIC_RELEASE);
    sem_wait_retry(&finish);
    return NULL;
}

int main(int argc, char **argv)
{
    started();
    if (argc < 2 || (strcmp(argv[1], "try") && strcmp(argv[1], "timed") &&
                     strcmp(argv[1], "clock"))) {
        fprintf(stderr, "usage: sync_join_np_race try|timed|clock\n");
        return 2;
    }
    main_thread = pthread_self();
    CHECK_ERRNO(sem_init(&finish, 0, 0));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, work, NULL));
    while (!__atomic_load_n(&transferred, __ATOMIC_ACQUIRE))
        sched_yield();
    struct timespec dl;
    int rc;
    if (strcmp(argv[1], "try") == 0) {
        rc = pthread_tryjoin_np(t, NULL);
    } else if (strcmp(argv[1], "timed") == 0) {
        dl = deadline_ms(20);
        rc = pthread_timedjoin_np(t, NULL, &dl);
    } else {
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_nsec += 20 * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec += 1;
            dl.tv_nsec -= 1000000000L;
        }
        rc = pthread_clockjoin_np(t, NULL, CLOCK_MONOTONIC, &dl);
    }
    given[1] = 9; /* RACE:given */
    CHECK_ERRNO(sem_post(&finish));
    CHECK(pthread_join(t, NULL));
    printf("failed=%d\n", rc == EBUSY || rc == ETIMEDOUT);
    printf("result=%ld,%ld\n", given[0], given[1]);
    return 0;
}
