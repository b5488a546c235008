/* C11 <threads.h> (glibc 2.34+ implements it with symbols of its own, not
 * through the pthread functions), every synchronization it has:
 *  - thrd_create: main makes an object read-only before creating the
 *    threads that read it (ordered by the creation);
 *  - mtx_lock / mtx_trylock / mtx_timedlock / mtx_unlock on mutexes inside
 *    the objects they protect (plain, timed, recursive), with thrd_busy
 *    and thrd_timedout, which grant nothing;
 *  - cnd_wait / cnd_timedwait / cnd_signal / cnd_broadcast: a bounded
 *    queue whose mtx_t and cnd_t live inside it;
 *  - call_once: whichever thread runs the init routine builds a table and
 *    makes it read-only; every thread reads it after its own call_once;
 *  - thrd_join / thrd_exit: a worker transfers an object to main and ends
 *    with thrd_exit; main uses the object after joining it.
 * Output: the C11 result codes seen and result=<sums> (deterministic). */
#include "common.h"
#include <threads.h>

#define WORKERS 3
#define ROUNDS 1000
#define ITEMS 3000
#define CAP 16
#define N 16

struct counter {
    mtx_t m;
    long n;
};
struct queue {
    mtx_t m;
    cnd_t not_empty, not_full;
    int items[CAP];
    int head, n;
};

static struct counter *plain, *timed, *recursive;
static struct queue *q;
static once_flag table_once = ONCE_FLAG_INIT;
static long *table, *seed, *handed_out;
static thrd_t main_thread;

static void build_table(void)
{
    long *t = push_malloc(N * sizeof(long));
    CHECK_ALLOC(t);
    for (int i = 0; i < N; i++)
        t[i] = 5 * i + 2;
    CHECK(push_readonly(t));
    table = t;
}

static void c11_check(int rc, const char *what)
{
    if (rc != thrd_success) {
        fprintf(stderr, "%s failed: %d\n", what, rc);
        exit(1);
    }
}

static struct counter *new_counter(int type)
{
    struct counter *c = push_malloc(sizeof *c);
    CHECK_ALLOC(c);
    c11_check(mtx_init(&c->m, type), "mtx_init");
    c->n = 0;
    CHECK(push_protected_by(c, &c->m));
    return c;
}

static int count(void *arg)
{
    long me = (long)arg;
    long s = seed[0]; /* made read-only before this thread was created */
    call_once(&table_once, build_table);
    long sum = 0;
    for (int i = 0; i < N; i++)
        sum += table[i];
    for (int i = 0; i < ROUNDS; i++) {
        c11_check(mtx_lock(&plain->m), "mtx_lock");
        plain->n++;
        c11_check(mtx_unlock(&plain->m), "mtx_unlock");

        struct timespec dl = deadline_ms(10000);
        c11_check(mtx_timedlock(&timed->m, &dl), "mtx_timedlock");
        timed->n += 2;
        c11_check(mtx_unlock(&timed->m), "mtx_unlock");

        int r;
        while ((r = mtx_trylock(&recursive->m)) == thrd_busy)
            thrd_yield();
        c11_check(r, "mtx_trylock");
        c11_check(mtx_lock(&recursive->m), "mtx_lock (recursive)");
        recursive->n += 3;
        c11_check(mtx_unlock(&recursive->m), "mtx_unlock");
        recursive->n += 1;
        c11_check(mtx_unlock(&recursive->m), "mtx_unlock");
    }
    return (int)(sum + s + me);
}

static int produce(void *arg)
{
    (void)arg;
    for (int i = 1; i <= ITEMS; i++) {
        c11_check(mtx_lock(&q->m), "mtx_lock");
        while (q->n == CAP)
            c11_check(cnd_wait(&q->not_full, &q->m), "cnd_wait");
        q->items[(q->head + q->n) % CAP] = i;
        q->n++;
        c11_check(cnd_signal(&q->not_empty), "cnd_signal");
        c11_check(mtx_unlock(&q->m), "mtx_unlock");
    }
    return 0;
}

static int consume(void *arg)
{
    (void)arg;
    long sum = 0;
    for (int i = 0; i < ITEMS; i++) {
        c11_check(mtx_lock(&q->m), "mtx_lock");
        while (q->n == 0) {
            struct timespec dl = deadline_ms(10000);
            int r = cnd_timedwait(&q->not_empty, &q->m, &dl);
            if (r != thrd_success && r != thrd_timedout)
                c11_check(r, "cnd_timedwait");
        }
        sum += q->items[q->head];
        q->head = (q->head + 1) % CAP;
        q->n--;
        c11_check(cnd_broadcast(&q->not_full), "cnd_broadcast");
        c11_check(mtx_unlock(&q->m), "mtx_unlock");
    }
    return (int)(sum % 1000003);
}

static int hand_over(void *arg)
{
    long *out = push_malloc(N * sizeof(long));
    CHECK_ALLOC(out);
    for (int i = 0; i < N; i++)
        out[i] = i * (long)arg;
    CHECK(push_transfer(out, main_thread));
    handed_out = out; /* read by main after thrd_join only */
    thrd_exit(7);
}

/* Result codes: a trylock of a held mutex, a timedlock that times out, a
 * timedwait that times out (with the mutex held again afterwards). */
static int busy_code, timedout_code, wait_code;

static int probe(void *arg)
{
    (void)arg;
    busy_code = mtx_trylock(&timed->m);
    struct timespec dl = deadline_ms(30);
    timedout_code = mtx_timedlock(&timed->m, &dl);
    return 0;
}

int main(void)
{
    started();
    main_thread = thrd_current();
    plain = new_counter(mtx_plain);
    timed = new_counter(mtx_timed);
    recursive = new_counter(mtx_plain | mtx_recursive);
    q = push_calloc(1, sizeof *q);
    CHECK_ALLOC(q);
    c11_check(mtx_init(&q->m, mtx_plain), "mtx_init");
    c11_check(cnd_init(&q->not_empty), "cnd_init");
    c11_check(cnd_init(&q->not_full), "cnd_init");
    CHECK(push_protected_by(q, &q->m));
    seed = push_calloc(1, sizeof(long));
    CHECK_ALLOC(seed);
    seed[0] = 1000;
    CHECK(push_readonly(seed));

    thrd_t t[WORKERS + 2];
    for (long i = 0; i < WORKERS; i++)
        c11_check(thrd_create(&t[i], count, (void *)i), "thrd_create");
    c11_check(thrd_create(&t[WORKERS], produce, NULL), "thrd_create");
    c11_check(thrd_create(&t[WORKERS + 1], consume, NULL), "thrd_create");
    long total = 0;
    for (int i = 0; i < WORKERS + 2; i++) {
        int res;
        c11_check(thrd_join(t[i], &res), "thrd_join");
        total += res;
    }

    thrd_t h;
    int exit_code;
    c11_check(thrd_create(&h, hand_over, (void *)3), "thrd_create");
    c11_check(thrd_join(h, &exit_code), "thrd_join");
    long handed = 0;
    for (int i = 0; i < N; i++)
        handed += handed_out[i];
    handed_out[0] = -1; /* transferred to main */

    c11_check(mtx_lock(&timed->m), "mtx_lock");
    thrd_t p;
    c11_check(thrd_create(&p, probe, NULL), "thrd_create");
    c11_check(thrd_join(p, NULL), "thrd_join");
    long timed_n = timed->n;
    struct timespec soon = deadline_ms(20);
    c11_check(mtx_lock(&q->m), "mtx_lock");
    wait_code = cnd_timedwait(&q->not_empty, &q->m, &soon);
    q->n += 0; /* the mutex is held again after a timeout */
    c11_check(mtx_unlock(&q->m), "mtx_unlock");
    c11_check(mtx_unlock(&timed->m), "mtx_unlock");

    call_once(&table_once, build_table);
    c11_check(mtx_lock(&plain->m), "mtx_lock");
    long plain_n = plain->n;
    c11_check(mtx_unlock(&plain->m), "mtx_unlock");
    c11_check(mtx_lock(&recursive->m), "mtx_lock");
    long recursive_n = recursive->n;
    c11_check(mtx_unlock(&recursive->m), "mtx_unlock");

    mtx_destroy(&plain->m);
    cnd_destroy(&q->not_empty);
    cnd_destroy(&q->not_full);
    mtx_destroy(&q->m);

    printf("busy=%d timedout=%d,%d exit=%d\n", busy_code == thrd_busy,
           timedout_code == thrd_timedout, wait_code == thrd_timedout, exit_code);
    printf("result=%ld,%ld,%ld,%ld,%ld,%ld\n", total, plain_n, timed_n, recursive_n,
           handed, table[N - 1]);
    return 0;
}
