/* auto mode, race-free: a condvar handshake. main writes a heap request
 * outside the lock, then hands it over (turn = 1 under the mutex, signal);
 * the worker reads it and writes the reply outside the lock, then hands it
 * back. Every access is ordered by the mutex the condvar waits with. */
#include "auto_common.h"

#define ROUNDS 300

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;

struct msg {
    int turn; /* 0: main's, 1: the worker's; under the lock */
    long request;
    long reply;
};

static void wait_turn(struct msg *m, int turn)
{
    CHECK(pthread_mutex_lock(&lock));
    while (m->turn != turn)
        CHECK(pthread_cond_wait(&changed, &lock));
    CHECK(pthread_mutex_unlock(&lock));
}

static void give_turn(struct msg *m, int turn)
{
    CHECK(pthread_mutex_lock(&lock));
    m->turn = turn;
    CHECK(pthread_cond_broadcast(&changed));
    CHECK(pthread_mutex_unlock(&lock));
}

static void *worker(void *arg)
{
    struct msg *m = arg;
    for (int r = 0; r < ROUNDS; r++) {
        wait_turn(m, 1);
        m->reply = m->request * 2;
        give_turn(m, 0);
    }
    return NULL;
}

int main(void)
{
    started();
    struct msg *m = calloc(1, sizeof *m);
    CHECK_ALLOC(m);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, m));
    long sum = 0;
    for (int r = 0; r < ROUNDS; r++) {
        m->request = r;
        give_turn(m, 1);
        wait_turn(m, 0);
        sum += m->reply;
    }
    CHECK(pthread_join(t, NULL));
    printf("result=%ld\n", sum);
    free(m);
    return 0;
}
