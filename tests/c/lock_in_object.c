/* Locks stored inside the objects they protect, of every kind the runtime
 * interposes, taken by 4 threads on 12 shared objects: mutexes (default,
 * recursive, error-checking; lock, trylock, timedlock), an rwlock (write
 * and read side) and a spinlock. One more object holds a lock of its own
 * but is protected by another lock, and that inner lock is taken both
 * with and without the outer one held. Under PUSh the lock words are
 * touched by the lock code while the object's key may be re-keyed (run
 * with rehash every millisecond). Usage: lock_in_object [ROUNDS]
 * Output: result=<sum of all counters> (deterministic). */
#include "common.h"

#define THREADS 4
#define OBJS 3

struct mobj {
    pthread_mutex_t m;
    long n;
    long pad[5];
};
struct robj {
    pthread_rwlock_t l;
    long n;
};
struct sobj {
    pthread_spinlock_t s;
    long n;
};
/* Protected by `outer`; `inner` is a lock of its own living inside. */
struct nested {
    pthread_mutex_t inner;
    long n;
};

static struct mobj *plain[OBJS], *recursive[OBJS], *checking[OBJS];
static struct robj *rw[OBJS];
static struct sobj *spin[OBJS];
static struct nested *nest;
static pthread_mutex_t outer = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t inner_count_lock = PTHREAD_MUTEX_INITIALIZER;
static long inner_alone;
static long rounds = 20000;

static void init_mutex(pthread_mutex_t *m, int type)
{
    pthread_mutexattr_t a;
    CHECK(pthread_mutexattr_init(&a));
    CHECK(pthread_mutexattr_settype(&a, type));
    CHECK(pthread_mutex_init(m, &a));
    CHECK(pthread_mutexattr_destroy(&a));
}

static struct mobj *new_mobj(int type)
{
    struct mobj *o = push_malloc(sizeof *o);
    CHECK_ALLOC(o);
    init_mutex(&o->m, type);
    o->n = 0;
    CHECK(push_protected_by(o, &o->m));
    return o;
}

static void deadline(struct timespec *ts)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += 10;
}

static void *worker(void *arg)
{
    long me = (long)arg;
    for (long i = 0; i < rounds; i++) {
        int k = (int)((i + me) % OBJS);
        struct timespec ts;

        CHECK(pthread_mutex_lock(&plain[k]->m));
        plain[k]->n++;
        CHECK(pthread_mutex_unlock(&plain[k]->m));

        int r = pthread_mutex_trylock(&plain[(k + 1) % OBJS]->m);
        if (r == 0) {
            plain[(k + 1) % OBJS]->n += 0; /* touched under the lock */
            CHECK(pthread_mutex_unlock(&plain[(k + 1) % OBJS]->m));
        } else if (r != EBUSY) {
            CHECK(r);
        }

        deadline(&ts);
        CHECK(pthread_mutex_timedlock(&checking[k]->m, &ts));
        checking[k]->n++;
        if (pthread_mutex_lock(&checking[k]->m) != EDEADLK) {
            fprintf(stderr, "relock of an error-checking mutex did not fail\n");
            exit(1);
        }
        CHECK(pthread_mutex_unlock(&checking[k]->m));

        CHECK(pthread_mutex_lock(&recursive[k]->m));
        CHECK(pthread_mutex_lock(&recursive[k]->m));
        recursive[k]->n++;
        CHECK(pthread_mutex_unlock(&recursive[k]->m));
        recursive[k]->n++;
        CHECK(pthread_mutex_unlock(&recursive[k]->m));

        CHECK(pthread_rwlock_wrlock(&rw[k]->l));
        rw[k]->n++;
        CHECK(pthread_rwlock_unlock(&rw[k]->l));
        CHECK(pthread_rwlock_rdlock(&rw[k]->l));
        long seen = rw[k]->n;
        CHECK(pthread_rwlock_unlock(&rw[k]->l));
        if (seen <= 0) {
            fprintf(stderr, "rwlock object lost its count\n");
            exit(1);
        }

        CHECK(pthread_spin_lock(&spin[k]->s));
        spin[k]->n++;
        CHECK(pthread_spin_unlock(&spin[k]->s));

        if (i % 2) {
            CHECK(pthread_mutex_lock(&outer));
            CHECK(pthread_mutex_lock(&nest->inner));
            nest->n++;
            CHECK(pthread_mutex_unlock(&nest->inner));
            CHECK(pthread_mutex_unlock(&outer));
        } else {
            /* The inner lock alone: its word is in an object this thread
             * may not touch now, and the lock code must still work. */
            CHECK(pthread_mutex_lock(&nest->inner));
            CHECK(pthread_mutex_unlock(&nest->inner));
            CHECK(pthread_mutex_lock(&inner_count_lock));
            inner_alone++;
            CHECK(pthread_mutex_unlock(&inner_count_lock));
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    started();
    if (argc > 1)
        rounds = atol(argv[1]);
    for (int k = 0; k < OBJS; k++) {
        plain[k] = new_mobj(PTHREAD_MUTEX_DEFAULT);
        recursive[k] = new_mobj(PTHREAD_MUTEX_RECURSIVE);
        checking[k] = new_mobj(PTHREAD_MUTEX_ERRORCHECK);
        rw[k] = push_malloc(sizeof *rw[k]);
        CHECK_ALLOC(rw[k]);
        CHECK(pthread_rwlock_init(&rw[k]->l, NULL));
        rw[k]->n = 0;
        CHECK(push_protected_by(rw[k], &rw[k]->l));
        spin[k] = push_malloc(sizeof *spin[k]);
        CHECK_ALLOC(spin[k]);
        CHECK(pthread_spin_init(&spin[k]->s, PTHREAD_PROCESS_PRIVATE));
        spin[k]->n = 0;
        CHECK(push_protected_by(spin[k], (const void *)&spin[k]->s));
    }
    nest = push_malloc(sizeof *nest);
    CHECK_ALLOC(nest);
    CHECK(pthread_mutex_init(&nest->inner, NULL));
    nest->n = 0;
    CHECK(push_protected_by(nest, &outer));

    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i));
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL));

    long sum = 0;
    for (int k = 0; k < OBJS; k++) {
        CHECK(pthread_mutex_lock(&plain[k]->m));
        sum += plain[k]->n;
        CHECK(pthread_mutex_unlock(&plain[k]->m));
        CHECK(pthread_mutex_lock(&recursive[k]->m));
        sum += recursive[k]->n;
        CHECK(pthread_mutex_unlock(&recursive[k]->m));
        CHECK(pthread_mutex_lock(&checking[k]->m));
        sum += checking[k]->n;
        CHECK(pthread_mutex_unlock(&checking[k]->m));
        CHECK(pthread_rwlock_rdlock(&rw[k]->l));
        sum += rw[k]->n;
        CHECK(pthread_rwlock_unlock(&rw[k]->l));
        CHECK(pthread_spin_lock(&spin[k]->s));
        sum += spin[k]->n;
        CHECK(pthread_spin_unlock(&spin[k]->s));
    }
    CHECK(pthread_mutex_lock(&outer));
    sum += nest->n;
    CHECK(pthread_mutex_unlock(&outer));
    CHECK(pthread_mutex_lock(&inner_count_lock));
    sum += inner_alone;
    CHECK(pthread_mutex_unlock(&inner_count_lock));
    printf("result=%ld\n", sum);
    return 0;
}
