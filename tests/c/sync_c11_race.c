/* Racy twins of sync_c11, one per argv[1]; each has exactly one report:
 *  mtx      an object protected by the C11 mutex inside it is read after
 *           mtx_unlock -> data race (read);
 *  timedout mtx_timedlock returns thrd_timedout (main holds the mutex)
 *           and the thread writes the object anyway -> data race (write);
 *  once     a thread reads the table built and made read-only by another
 *           thread's call_once init routine without calling call_once
 *           itself (it saw an atomic flag the runtime cannot see) ->
 *           unordered policy change at the read;
 *  join     main writes the object a C11 thread transferred to it before
 *           thrd_join returns (it saw an atomic flag) -> unordered policy
 *           change at the write. */
#include "common.h"
#include <sched.h>
#include <threads.h>

struct counter {
    mtx_t m;
    long n;
};

static struct counter *c;
static once_flag once = ONCE_FLAG_INIT;
static long *table, *given;
static int flag;
static thrd_t main_thread;

static void wait_flag(void)
{
    while (!__atomic_load_n(&flag, __ATOMIC_ACQUIRE))
        sched_yield();
}

static void build_table(void)
{
    long *t = push_calloc(4, sizeof(long));
    CHECK_ALLOC(t);
    t[3] = 12;
    CHECK(push_readonly(t)); /* CHANGE:once */
    table = t;
}

static int after_unlock(void *arg)
{
    (void)arg;
    if (mtx_lock(&c->m) != thrd_success)
        exit(1);
    c->n++;
    mtx_unlock(&c->m);
    return (int)c->n; /* RACE:mtx */
}

static int after_timeout(void *arg)
{
    (void)arg;
    struct timespec dl = deadline_ms(30);
    int rc = mtx_timedlock(&c->m, &dl);
    c->n = 11; /* RACE:timedout */
    return rc;
}

static int run_once(void *arg)
{
    (void)arg;
    call_once(&once, build_table);
    __atomic_store_n(&flag, 1, __ATOMIC_RELEASE);
    return 0;
}

static int skip_once(void *arg)
{
    (void)arg;
    wait_flag();
    return (int)table[3]; /* RACE:once */
}

static int hand_over(void *arg)
{
    (void)arg;
    long *g = push_calloc(2, sizeof(long));
    CHECK_ALLOC(g);
    g[0] = 4;
    given = g;
    CHECK(push_transfer(g, main_thread)); /* CHANGE:join */
    __atomic_store_n(&flag, 1, __ATOMIC_RELEASE);
    return 0;
}

int main(int argc, char **argv)
{
    started();
    const char *how = argc > 1 ? argv[1] : "";
    main_thread = thrd_current();
    c = push_malloc(sizeof *c);
    if (c == NULL || mtx_init(&c->m, mtx_timed) != thrd_success)
        return 1;
    c->n = 1;
    CHECK(push_protected_by(c, &c->m));
    thrd_t t, u;
    int res = 0;
    if (strcmp(how, "mtx") == 0) {
        thrd_create(&t, after_unlock, NULL);
        thrd_join(t, &res);
    } else if (strcmp(how, "timedout") == 0) {
        mtx_lock(&c->m);
        thrd_create(&t, after_timeout, NULL);
        thrd_join(t, &res);
        res = res == thrd_timedout;
        mtx_unlock(&c->m);
    } else if (strcmp(how, "once") == 0) {
        thrd_create(&t, run_once, NULL);
        thrd_create(&u, skip_once, NULL);
        thrd_join(t, NULL);
        thrd_join(u, &res);
    } else if (strcmp(how, "join") == 0) {
        thrd_create(&t, hand_over, NULL);
        wait_flag();
        given[1] = 5; /* RACE:join */
        thrd_join(t, NULL);
        res = (int)(given[0] + given[1]);
    } else {
        fprintf(stderr, "usage: sync_c11_race mtx|timedout|once|join\n");
        return 2;
    }
    mtx_lock(&c->m);
    printf("result=%d,%ld\n", res, c->n);
    mtx_unlock(&c->m);
    return 0;
}
