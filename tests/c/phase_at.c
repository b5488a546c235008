/* Policy changes made when a barrier opens (push_*_at). Each of 4 threads
 * writes its own block, registers it read-only for the barrier's next
 * opening and waits once; then every thread reads every block; then each
 * registers its block private to itself again and waits once more, and
 * writes it. Race-free with a single wait per phase change.
 *   forget: thread 2 does not register its block: the others' reads of a
 *           block still private to T3 are data races.
 *   steal:  thread 1 registers thread 0's block (private to T1's peer):
 *           an annotation error at the call, EPERM.
 *   custom: the same phases over a barrier built on a mutex and a condvar,
 *           whose last arriving thread calls push_barrier_opens. */
#include "common.h"

#define N 4
#define WORDS 64
static long *block[N];
static pthread_barrier_t b;
static pthread_t tid[N];
static const char *mode = "";
static long sums[N];

/* A barrier of the program's own. */
static pthread_mutex_t cb_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cb_cond = PTHREAD_COND_INITIALIZER;
static int cb_waiting, cb_round;

static void custom_wait(void)
{
    pthread_mutex_lock(&cb_lock);
    push_happens_before(&cb_round);
    int round = cb_round;
    if (++cb_waiting == N) {
        push_barrier_opens(&cb_round);
        cb_waiting = 0;
        cb_round++;
        pthread_cond_broadcast(&cb_cond);
    } else {
        while (round == cb_round) pthread_cond_wait(&cb_cond, &cb_lock);
    }
    pthread_mutex_unlock(&cb_lock);
    push_happens_after(&cb_round);
}

static int custom;

static void phase_wait(void)
{
    if (custom)
        custom_wait();
    else
        pthread_barrier_wait(&b);
}

static const void *barrier(void)
{
    return custom ? (const void *)&cb_round : (const void *)&b;
}

static void *worker(void *arg)
{
    long me = (long)arg;
    block[me] = push_malloc(WORDS * sizeof(long));
    CHECK_ALLOC(block[me]);
    for (int i = 0; i < WORDS; i++) block[me][i] = me + i;
    phase_wait(); /* every block exists */
    if (strcmp(mode, "steal") == 0 && me == 1) {
        int rc = push_readonly_at(barrier(), block[0]); /* ERROR:steal */
        printf("steal=%s\n", rc == EPERM ? "EPERM" : "?");
    }
    if (!(strcmp(mode, "forget") == 0 && me == 2))
        CHECK(push_readonly_at(barrier(), block[me]));
    for (int i = 0; i < WORDS; i++) block[me][i] += 1;
    phase_wait(); /* the blocks become read-only as it opens */
    long sum = 0;
    /* The owner of the forgotten block only waits: under mprotect its own
     * open window would let the others' reads through unchecked. */
    if (!(strcmp(mode, "forget") == 0 && me == 2))
        for (int t = 0; t < N; t++)
            for (int i = 0; i < WORDS; i++) sum += block[t][i]; /* RACE:forget */
    sums[me] = sum;
    if (!(strcmp(mode, "forget") == 0 && me == 2))
        CHECK(push_private_at(barrier(), block[me], pthread_self()));
    phase_wait(); /* each block is its owner's again */
    block[me][0] += 1000;
    return NULL;
}

int main(int argc, char **argv)
{
    started();
    if (argc > 1) mode = argv[1];
    custom = strcmp(mode, "custom") == 0;
    pthread_barrier_init(&b, NULL, N);
    for (long t = 0; t < N; t++) CHECK(pthread_create(&tid[t], NULL, worker, (void *)t));
    for (int t = 0; t < N; t++) CHECK(pthread_join(tid[t], NULL));
    printf("sum=%ld first=%ld,%ld,%ld,%ld\n", sums[0], block[0][0], block[1][0], block[2][0],
           block[3][0]);
    return 0;
}
