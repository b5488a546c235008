/* pthread_rwlock_clockrdlock / pthread_rwlock_clockwrlock on an rwlock
 * inside the table it protects. Two writers and two readers (readers check
 * that the table is consistent) alternate CLOCK_MONOTONIC and
 * CLOCK_REALTIME; then main transfers an object to a reader and sets
 * `ready` under the write lock: the reader, polling under clockrdlock,
 * uses the object after seeing it. A clock form that would have to wait
 * times out (ETIMEDOUT) and grants nothing; an unsupported clock or a bad
 * deadline gives EINVAL even when the lock is free (so do the timed forms
 * with a bad deadline). Output: the error codes seen and result=<sums>. */
#include "common.h"
#include <sched.h>

#define N 8
#define ROUNDS 1500

struct table {
    pthread_rwlock_t l;
    long v[N];
    long writes;
    int ready;
};

static struct table *tab;
static long *given;

static clockid_t clock_for(long i)
{
    return i % 2 ? CLOCK_MONOTONIC : CLOCK_REALTIME;
}

static void read_lock(long i)
{
    struct timespec dl = deadline_on(clock_for(i), 10000);
    CHECK(pthread_rwlock_clockrdlock(&tab->l, clock_for(i), &dl));
}

static void write_lock(long i)
{
    struct timespec dl = deadline_on(clock_for(i), 10000);
    CHECK(pthread_rwlock_clockwrlock(&tab->l, clock_for(i), &dl));
}

static void *write_table(void *arg)
{
    long me = (long)arg;
    for (long i = 0; i < ROUNDS; i++) {
        write_lock(i + me);
        tab->v[(i + me) % N] += 2;
        tab->writes++;
        CHECK(pthread_rwlock_unlock(&tab->l));
    }
    return NULL;
}

static void *read_table(void *arg)
{
    long me = (long)arg;
    for (long i = 0; i < ROUNDS; i++) {
        read_lock(i + me);
        long sum = 0;
        for (int k = 0; k < N; k++)
            sum += tab->v[k];
        if (sum != 2 * tab->writes) {
            fprintf(stderr, "inconsistent table: %ld != 2 * %ld\n", sum, tab->writes);
            exit(1);
        }
        CHECK(pthread_rwlock_unlock(&tab->l));
    }
    return NULL;
}

static void *receive(void *arg)
{
    (void)arg;
    for (long i = 0;; i++) {
        read_lock(i);
        if (tab->ready)
            break;
        CHECK(pthread_rwlock_unlock(&tab->l));
        sched_yield();
    }
    long seen = tab->writes;
    CHECK(pthread_rwlock_unlock(&tab->l));
    given[1] = given[0] + seen; /* transferred to this thread */
    return NULL;
}

/* Both clock forms, from another thread while main holds the lock. */
static void *time_out(void *arg)
{
    (void)arg;
    struct timespec dl = deadline_on(CLOCK_MONOTONIC, 30);
    long codes = pthread_rwlock_clockwrlock(&tab->l, CLOCK_MONOTONIC, &dl);
    dl = deadline_on(CLOCK_REALTIME, 30);
    int rd = pthread_rwlock_clockrdlock(&tab->l, CLOCK_REALTIME, &dl);
    if (rd == 0)
        CHECK(pthread_rwlock_unlock(&tab->l));
    return (void *)(codes * 1000 + rd);
}

int main(void)
{
    started();
    tab = push_calloc(1, sizeof *tab);
    CHECK_ALLOC(tab);
    CHECK(pthread_rwlock_init(&tab->l, NULL));
    CHECK(push_protected_by(tab, &tab->l));
    given = push_calloc(2, sizeof(long));
    CHECK_ALLOC(given);
    given[0] = 40;

    /* Rejected before the lock is looked at, although it is free. */
    struct timespec ok = deadline_on(CLOCK_MONOTONIC, 10000);
    struct timespec bad = {ok.tv_sec, 2000000000L};
    printf("einval=%d,%d,%d,%d\n",
           pthread_rwlock_clockrdlock(&tab->l, CLOCK_PROCESS_CPUTIME_ID, &ok) == EINVAL,
           pthread_rwlock_clockwrlock(&tab->l, CLOCK_MONOTONIC, &bad) == EINVAL,
           pthread_rwlock_timedrdlock(&tab->l, &bad) == EINVAL,
           pthread_rwlock_timedwrlock(&tab->l, &bad) == EINVAL);

    pthread_t t[4];
    for (long i = 0; i < 2; i++) {
        CHECK(pthread_create(&t[i], NULL, write_table, (void *)i));
        CHECK(pthread_create(&t[i + 2], NULL, read_table, (void *)i));
    }
    for (int i = 0; i < 4; i++)
        CHECK(pthread_join(t[i], NULL));

    pthread_t r;
    CHECK(pthread_create(&r, NULL, receive, NULL));
    CHECK(push_transfer(given, r));
    write_lock(0);
    tab->ready = 1;
    CHECK(pthread_rwlock_unlock(&tab->l));
    CHECK(pthread_join(r, NULL));

    void *codes_w, *codes_r;
    pthread_t u;
    write_lock(1); /* held for writing: both forms time out */
    CHECK(pthread_create(&u, NULL, time_out, NULL));
    CHECK(pthread_join(u, &codes_w));
    tab->writes += 1;
    CHECK(pthread_rwlock_unlock(&tab->l));
    read_lock(0); /* held for reading: the write form times out */
    CHECK(pthread_create(&u, NULL, time_out, NULL));
    CHECK(pthread_join(u, &codes_r));
    long writes = tab->writes;
    CHECK(pthread_rwlock_unlock(&tab->l));
    printf("held_w=%ld held_r=%ld (ETIMEDOUT=%d)\n", (long)codes_w, (long)codes_r, ETIMEDOUT);
    printf("result=%ld,%ld\n", writes, given[1]);
    return 0;
}
