/* push_readonly sequenced only by an atomic flag the runtime cannot see:
 * another thread's first read under readonly is not ordered after the
 * change -> unordered policy change (rule 2), reported at the read. Its
 * further reads are not first accesses. Annotated twin: hb_flag_clean. */
#include "common.h"
#include <sched.h>

#define N 8

static int flag;
static volatile long *table;

static void *reader(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&flag, __ATOMIC_ACQUIRE))
        sched_yield();
    long v = table[3]; /* RACE:readonly */
    for (int i = 0; i < N; i++)
        v += table[i];
    return (void *)v;
}

int main(void)
{
    started();
    table = push_malloc(N * sizeof(long));
    CHECK_ALLOC(table);
    for (int i = 0; i < N; i++)
        table[i] = i * i;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, reader, NULL));
    CHECK(push_readonly((void *)table)); /* CHANGE:readonly */
    __atomic_store_n(&flag, 1, __ATOMIC_RELEASE);
    void *v;
    CHECK(pthread_join(t, &v));
    printf("result=%ld,%ld\n", (long)v, table[N - 1]);
    return 0;
}
