/* Initialisation (with attributes), use and destruction of every kind of
 * synchronization object, living inside a tracked object that the calling
 * thread may not touch at the time: `kit` is protected by its own mutex,
 * which nobody holds while its objects are initialised, read
 * (sem_getvalue) or destroyed. Only the synchronization calls touch their
 * words; the program touches the object's data under the mutex. Three
 * threads meet at the barrier, post and wait on the semaphore, take the
 * rwlock and the spinlock and signal the condition variable; then main
 * destroys everything, initialises it again with other attributes, uses
 * it once more and destroys it. */
#include "common.h"

#define THREADS 3
#define ROUNDS 200

struct kit {
    pthread_mutex_t m;
    pthread_mutex_t inner; /* robust, error-checking, priority-inheriting */
    pthread_rwlock_t rw;
    pthread_spinlock_t spin;
    pthread_barrier_t bar;
    pthread_cond_t cond;
    sem_t sem;
    long count;
    long arrived;
};

static struct kit *kit;

static void init_kit(int variant)
{
    pthread_mutexattr_t ma;
    CHECK(pthread_mutexattr_init(&ma));
    CHECK(pthread_mutexattr_settype(&ma, variant ? PTHREAD_MUTEX_RECURSIVE
                                                 : PTHREAD_MUTEX_ERRORCHECK));
    CHECK(pthread_mutex_init(&kit->m, &ma));
    CHECK(pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST));
    CHECK(pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT));
    CHECK(pthread_mutex_init(&kit->inner, &ma));
    CHECK(pthread_mutexattr_destroy(&ma));

    pthread_rwlockattr_t ra;
    CHECK(pthread_rwlockattr_init(&ra));
    CHECK(pthread_rwlockattr_setkind_np(&ra, variant
        ? PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP : PTHREAD_RWLOCK_PREFER_READER_NP));
    CHECK(pthread_rwlock_init(&kit->rw, &ra));
    CHECK(pthread_rwlockattr_destroy(&ra));

    CHECK(pthread_spin_init(&kit->spin, variant ? PTHREAD_PROCESS_SHARED
                                                : PTHREAD_PROCESS_PRIVATE));

    pthread_barrierattr_t ba;
    CHECK(pthread_barrierattr_init(&ba));
    CHECK(pthread_barrierattr_setpshared(&ba, variant ? PTHREAD_PROCESS_SHARED
                                                      : PTHREAD_PROCESS_PRIVATE));
    CHECK(pthread_barrier_init(&kit->bar, &ba, THREADS));
    CHECK(pthread_barrierattr_destroy(&ba));

    pthread_condattr_t ca;
    CHECK(pthread_condattr_init(&ca));
    CHECK(pthread_condattr_setclock(&ca, variant ? CLOCK_MONOTONIC : CLOCK_REALTIME));
    CHECK(pthread_cond_init(&kit->cond, &ca));
    CHECK(pthread_condattr_destroy(&ca));

    CHECK_ERRNO(sem_init(&kit->sem, variant, 0));
}

static void destroy_kit(void)
{
    CHECK(pthread_mutex_destroy(&kit->inner));
    CHECK(pthread_rwlock_destroy(&kit->rw));
    CHECK(pthread_spin_destroy(&kit->spin));
    CHECK(pthread_barrier_destroy(&kit->bar));
    CHECK(pthread_cond_destroy(&kit->cond));
    CHECK_ERRNO(sem_destroy(&kit->sem));
    CHECK(pthread_mutex_destroy(&kit->m));
}

static void *member(void *arg)
{
    (void)arg;
    int serial = pthread_barrier_wait(&kit->bar);
    if (serial != 0 && serial != PTHREAD_BARRIER_SERIAL_THREAD)
        CHECK(serial);
    for (int i = 0; i < ROUNDS; i++) {
        CHECK(pthread_rwlock_rdlock(&kit->rw));
        CHECK(pthread_rwlock_unlock(&kit->rw));
        CHECK(pthread_spin_lock(&kit->spin));
        CHECK(pthread_spin_unlock(&kit->spin));
        CHECK(pthread_mutex_lock(&kit->inner));
        CHECK(pthread_mutex_unlock(&kit->inner));
        CHECK(pthread_mutex_lock(&kit->m));
        kit->count++;
        CHECK(pthread_mutex_unlock(&kit->m));
        CHECK_ERRNO(sem_post(&kit->sem));
    }
    CHECK(pthread_mutex_lock(&kit->m));
    kit->arrived++;
    CHECK(pthread_cond_broadcast(&kit->cond));
    CHECK(pthread_mutex_unlock(&kit->m));
    return NULL;
}

/* One round of use; returns the count the semaphore reached. */
static int use_kit(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, member, NULL));
    CHECK(pthread_mutex_lock(&kit->m));
    while (kit->arrived < THREADS)
        CHECK(pthread_cond_wait(&kit->cond, &kit->m));
    kit->arrived = 0;
    CHECK(pthread_mutex_unlock(&kit->m));
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL));
    int posted;
    CHECK_ERRNO(sem_getvalue(&kit->sem, &posted));
    return posted;
}

int main(void)
{
    started();
    kit = push_calloc(1, sizeof *kit);
    CHECK_ALLOC(kit);
    CHECK(push_protected_by(kit, &kit->m));
    init_kit(0);
    int first = use_kit();
    destroy_kit();
    init_kit(1);
    int second = use_kit();
    CHECK(pthread_mutex_lock(&kit->m));
    long count = kit->count;
    CHECK(pthread_mutex_unlock(&kit->m));
    destroy_kit();
    printf("result=%d,%d,%ld\n", first, second, count);
    return 0;
}
