/* Timed waits that expire, on synchronization objects living inside a
 * tracked object that is protected by its own mutex: while a helper thread
 * holds the mutex and the rwlock for writing, main calls
 * pthread_mutex_timedlock and pthread_rwlock_timedrdlock (ETIMEDOUT), and
 * sem_timedwait on a semaphore at zero (ETIMEDOUT); main may touch the lock
 * words only through those calls and must not get the object. Then, the
 * helper gone, pthread_cond_timedwait times out, after which main holds the
 * mutex again and uses the object. A runtime that grants access around the
 * call must undo the grant on the failure paths and restore it after the
 * condvar timeout. Output: each call's result and the object's value. */
#include "common.h"

struct obj {
    pthread_mutex_t m; /* protects the whole object */
    pthread_rwlock_t rw;
    pthread_cond_t c;
    sem_t sem;
    long value;
};

static struct obj *o;
static sem_t holding, done;

static void *helper(void *arg)
{
    (void)arg;
    CHECK(pthread_mutex_lock(&o->m));
    CHECK(pthread_rwlock_wrlock(&o->rw));
    o->value = 41;
    CHECK_ERRNO(sem_post(&holding));
    sem_wait_retry(&done);
    o->value++;
    CHECK(pthread_rwlock_unlock(&o->rw));
    CHECK(pthread_mutex_unlock(&o->m));
    return NULL;
}

static const char *name(int rc)
{
    return rc == ETIMEDOUT ? "ETIMEDOUT" : rc == 0 ? "0" : strerror(rc);
}

int main(void)
{
    started();
    o = push_malloc(sizeof *o);
    CHECK_ALLOC(o);
    CHECK(pthread_mutex_init(&o->m, NULL));
    CHECK(pthread_rwlock_init(&o->rw, NULL));
    CHECK(pthread_cond_init(&o->c, NULL));
    CHECK_ERRNO(sem_init(&o->sem, 0, 0));
    o->value = 0;
    CHECK(push_protected_by(o, &o->m));
    CHECK_ERRNO(sem_init(&holding, 0, 0));
    CHECK_ERRNO(sem_init(&done, 0, 0));

    pthread_t t;
    CHECK(pthread_create(&t, NULL, helper, NULL));
    sem_wait_retry(&holding);
    struct timespec ts = deadline_ms(50);
    printf("mutex_timedlock=%s\n", name(pthread_mutex_timedlock(&o->m, &ts)));
    ts = deadline_ms(50);
    printf("rwlock_timedrdlock=%s\n", name(pthread_rwlock_timedrdlock(&o->rw, &ts)));
    ts = deadline_ms(50);
    int r;
    while ((r = sem_timedwait(&o->sem, &ts)) == -1 && errno == EINTR)
        ;
    printf("sem_timedwait=%s\n", name(r == 0 ? 0 : errno));
    CHECK_ERRNO(sem_post(&done));
    CHECK(pthread_join(t, NULL));

    ts = deadline_ms(10000);
    CHECK(pthread_mutex_timedlock(&o->m, &ts));
    ts = deadline_ms(50);
    while ((r = pthread_cond_timedwait(&o->c, &o->m, &ts)) == 0)
        ; /* nobody signals: only a spurious wake-up returns 0 */
    printf("cond_timedwait=%s\n", name(r));
    o->value++; /* held again after the timeout */
    printf("value=%ld\n", o->value);
    CHECK(pthread_mutex_unlock(&o->m));
    return 0;
}
