/* Happens-before through a lock, for each kind of lock (argv[1]): mutex,
 * spin, rwlock (write release -> read acquire), custom (a hand-written
 * spinlock announced with push_lock_acquired/push_lock_released) or boxed
 * (a mutex inside a tracked object that it protects).
 * Main changes three policies while the worker is alive (push_transfer of
 * a, push_release of b, push_protected_by of c under the lock), then sets
 * `ready` under the lock (exclusively); the worker polls `ready` under the
 * lock (shared for the rwlock) and only then uses the objects: its first
 * access to a and c and its push_acquire of b are ordered after the
 * changes by main's release -> the worker's acquire. */
#include "common.h"
#include <sched.h>

enum kind { MUTEX, SPIN, RWLOCK, CUSTOM, BOXED };

static enum kind kind;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_spinlock_t spin;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static int custom; /* 0 free, 1 held */
static struct box {
    pthread_mutex_t m;
    long uses;
} *boxed;
static int ready;
static long *a, *b, *c;

static const void *the_lock(void)
{
    switch (kind) {
    case MUTEX: return &m;
    case SPIN: return (const void *)&spin;
    case RWLOCK: return &rw;
    case CUSTOM: return &custom;
    default: return &boxed->m;
    }
}

/* Takes the lock: exclusively, or shared where the kind has a shared mode. */
static void lock(int exclusive)
{
    switch (kind) {
    case MUTEX: CHECK(pthread_mutex_lock(&m)); break;
    case SPIN: CHECK(pthread_spin_lock(&spin)); break;
    case RWLOCK:
        CHECK(exclusive ? pthread_rwlock_wrlock(&rw) : pthread_rwlock_rdlock(&rw));
        break;
    case CUSTOM:
        while (__atomic_exchange_n(&custom, 1, __ATOMIC_ACQUIRE))
            sched_yield();
        push_lock_acquired(&custom, 1);
        break;
    case BOXED:
        CHECK(pthread_mutex_lock(&boxed->m));
        boxed->uses++;
        break;
    }
}

static void unlock(void)
{
    switch (kind) {
    case MUTEX: CHECK(pthread_mutex_unlock(&m)); break;
    case SPIN: CHECK(pthread_spin_unlock(&spin)); break;
    case RWLOCK: CHECK(pthread_rwlock_unlock(&rw)); break;
    case CUSTOM:
        push_lock_released(&custom);
        __atomic_store_n(&custom, 0, __ATOMIC_RELEASE);
        break;
    case BOXED: CHECK(pthread_mutex_unlock(&boxed->m)); break;
    }
}

static void *worker(void *arg)
{
    (void)arg;
    int exclusive = kind != RWLOCK;
    for (;;) {
        lock(exclusive);
        if (ready)
            break;
        unlock();
        sched_yield();
    }
    long cv = 0;
    if (exclusive)
        c[0] += 10; /* protected_by(lock), held exclusively */
    else
        cv = c[0]; /* protected_by(rwlock), read lock held: read allowed */
    unlock();
    a[0] += 100; /* transferred to this thread */
    CHECK(push_acquire(b));
    b[1] = b[0] * 2 + cv;
    return NULL;
}

int main(int argc, char **argv)
{
    started();
    const char *names[] = {"mutex", "spin", "rwlock", "custom", "boxed"};
    kind = BOXED + 1;
    for (int k = MUTEX; argc > 1 && k <= BOXED; k++)
        if (strcmp(argv[1], names[k]) == 0)
            kind = (enum kind)k;
    if (kind > BOXED) {
        fprintf(stderr, "usage: hb_lock_clean mutex|spin|rwlock|custom|boxed\n");
        return 2;
    }
    CHECK(pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE));
    boxed = push_malloc(sizeof *boxed);
    CHECK_ALLOC(boxed);
    CHECK(pthread_mutex_init(&boxed->m, NULL));
    boxed->uses = 0;
    CHECK(push_protected_by(boxed, &boxed->m));
    a = push_calloc(2, sizeof(long));
    b = push_calloc(2, sizeof(long));
    c = push_calloc(2, sizeof(long));
    CHECK_ALLOC(a);
    CHECK_ALLOC(b);
    CHECK_ALLOC(c);
    a[0] = 3 * kind + 1;
    b[0] = 3 * kind + 2;
    c[0] = 3 * kind + 3;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    CHECK(push_transfer(a, t));
    CHECK(push_release(b));
    if (kind == CUSTOM) {
        /* The custom lock is announced only while held: change under it. */
        lock(1);
        CHECK(push_protected_by(c, the_lock()));
    } else {
        CHECK(push_protected_by(c, the_lock()));
        lock(1);
    }
    ready = 1;
    unlock();
    CHECK(pthread_join(t, NULL));

    lock(1);
    long cv = c[0];
    unlock();
    printf("result=%ld,%ld,%ld\n", a[0], b[1], cv); /* a, b: joined owner */
    return 0;
}
