/* A thread that reads an object it just made read-only gets a read grant
 * on all fresh read-only objects until its next synchronization. After
 * that synchronization (an unrelated mutex), its first read of another
 * thread's fresh read-only object, ordered only by an atomic flag the
 * runtime cannot see, is checked again -> unordered policy change. */
#include "common.h"
#include <sched.h>

#define N 8

static int flag;
static volatile long *theirs;
static pthread_mutex_t unrelated = PTHREAD_MUTEX_INITIALIZER;

static void *reader(void *arg)
{
    (void)arg;
    volatile long *mine = push_malloc(N * sizeof(long));
    CHECK_ALLOC(mine);
    for (int i = 0; i < N; i++)
        mine[i] = i;
    while (!__atomic_load_n(&flag, __ATOMIC_ACQUIRE))
        sched_yield();
    CHECK(push_readonly((void *)mine));
    long v = 0;
    for (int r = 0; r < 1000; r++)
        for (int i = 0; i < N; i++)
            v += mine[i];
    CHECK(pthread_mutex_lock(&unrelated));
    CHECK(pthread_mutex_unlock(&unrelated));
    v += theirs[2]; /* RACE:theirs */
    push_free((void *)mine);
    return (void *)v;
}

int main(void)
{
    started();
    theirs = push_malloc(N * sizeof(long));
    CHECK_ALLOC(theirs);
    for (int i = 0; i < N; i++)
        theirs[i] = 10 * i;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, reader, NULL));
    CHECK(push_readonly((void *)theirs)); /* CHANGE:theirs */
    __atomic_store_n(&flag, 1, __ATOMIC_RELEASE);
    void *v;
    CHECK(pthread_join(t, &v));
    printf("result=%ld\n", (long)v);
    return 0;
}
