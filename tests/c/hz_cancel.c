/* pthread_cancel of threads blocked in cancellation points the runtime
 * interposes; cancellation unwinds through the interposers' frames and
 * skips whatever they meant to do after the real call returned (and after
 * the start routine returned). Parts (argument; all by default):
 *   cond  a thread in pthread_cond_wait, whose mutex protects a tracked
 *         object: glibc re-takes the mutex with an internal call before the
 *         cleanup handler runs, and the handler updates the object and
 *         unlocks; then the mutex must be free and the object consistent;
 *   exit  a thread in sem_wait that owns a tracked object: once it is
 *         joined, its objects pass to the joiner, as for any thread;
 *   join  a thread in pthread_join; its target, in sem_wait, stays
 *         joinable and is cancelled and joined in turn.
 * Output: one line per part. */
#include "common.h"

struct state {
    int waiting;  /* the condvar waiter is blocked */
    int cleanups; /* cleanup handlers run */
};

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static pthread_cond_t waiting_c = PTHREAD_COND_INITIALIZER;
static struct state *st;
static sem_t never, blocked;
static pthread_t target;
static long *owned; /* a tracked object of the sem_wait thread */

static void unlock_cleanup(void *arg)
{
    st->cleanups++; /* glibc holds `m` again here */
    CHECK(pthread_mutex_unlock(arg));
}

static void *cond_waiter(void *arg)
{
    (void)arg;
    CHECK(pthread_mutex_lock(&m));
    st->waiting = 1;
    CHECK(pthread_cond_signal(&waiting_c));
    pthread_cleanup_push(unlock_cleanup, &m);
    for (;;)
        pthread_cond_wait(&c, &m);
    pthread_cleanup_pop(1);
    return NULL;
}

static void *sem_waiter(void *arg)
{
    if (arg) {
        owned = push_malloc(sizeof *owned); /* private to this thread */
        CHECK_ALLOC(owned);
        *owned = 42;
    }
    CHECK_ERRNO(sem_post(&blocked));
    for (;;)
        sem_wait(&never);
    return NULL;
}

static void *joiner(void *arg)
{
    (void)arg;
    CHECK_ERRNO(sem_post(&blocked));
    pthread_join(target, NULL);
    fprintf(stderr, "pthread_join returned\n");
    exit(1);
}

static const char *how(pthread_t t)
{
    void *ret = NULL;
    CHECK(pthread_join(t, &ret));
    return ret == PTHREAD_CANCELED ? "canceled" : "returned";
}

int main(int argc, char **argv)
{
    const char *part = argc > 1 ? argv[1] : "all";
    int all = strcmp(part, "all") == 0;
    started();
    st = push_malloc(sizeof *st);
    CHECK_ALLOC(st);
    memset(st, 0, sizeof *st);
    CHECK(push_protected_by(st, &m));
    CHECK_ERRNO(sem_init(&never, 0, 0));
    CHECK_ERRNO(sem_init(&blocked, 0, 0));
    pthread_t t, j;

    if (all || strcmp(part, "cond") == 0) {
        CHECK(pthread_create(&t, NULL, cond_waiter, NULL));
        CHECK(pthread_mutex_lock(&m));
        while (!st->waiting)
            CHECK(pthread_cond_wait(&waiting_c, &m));
        CHECK(pthread_mutex_unlock(&m)); /* t is inside pthread_cond_wait */
        CHECK(pthread_cancel(t));
        const char *r = how(t);
        int trylock = pthread_mutex_trylock(&m);
        if (trylock == 0) {
            printf("cond_waiter=%s cleanups=%d mutex=free\n", r, st->cleanups);
            CHECK(pthread_mutex_unlock(&m));
        } else {
            printf("cond_waiter=%s mutex=%s\n", r, strerror(trylock));
        }
    }
    if (all || strcmp(part, "exit") == 0) {
        CHECK(pthread_create(&t, NULL, sem_waiter, &owned));
        sem_wait_retry(&blocked);
        CHECK(pthread_cancel(t));
        const char *r = how(t);
        printf("sem_waiter=%s its_object=%ld\n", r, *owned); /* joined: ours now */
        push_free(owned);
    }
    if (all || strcmp(part, "join") == 0) {
        CHECK(pthread_create(&target, NULL, sem_waiter, NULL));
        sem_wait_retry(&blocked);
        CHECK(pthread_create(&j, NULL, joiner, NULL));
        sem_wait_retry(&blocked);
        CHECK(pthread_cancel(j));
        const char *r = how(j);
        CHECK(pthread_cancel(target)); /* still joinable: its joiner is gone */
        printf("joiner=%s target=%s\n", r, how(target));
    }
    return 0;
}
