/* protected_by(rwlock) through tryrdlock, trywrlock, timedrdlock and
 * timedwrlock, both the paths that acquire and those that fail. */
#include "common.h"

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static long *obj;
static sem_t held, finish;

/* Holds the lock (read or write, per arg) until main says finish. */
static void *holder(void *arg)
{
    long write = (long)arg;
    if (write)
        CHECK(pthread_rwlock_wrlock(&rw));
    else
        CHECK(pthread_rwlock_rdlock(&rw));
    CHECK_ERRNO(sem_post(&held));
    sem_wait_retry(&finish);
    CHECK(pthread_rwlock_unlock(&rw));
    return NULL;
}

static void start_holder(pthread_t *t, long write)
{
    CHECK(pthread_create(t, NULL, holder, (void *)write));
    sem_wait_retry(&held);
}

static void stop_holder(pthread_t t)
{
    CHECK_ERRNO(sem_post(&finish));
    CHECK(pthread_join(t, NULL));
}

int main(void)
{
    started();
    CHECK_ERRNO(sem_init(&held, 0, 0));
    CHECK_ERRNO(sem_init(&finish, 0, 0));
    obj = push_calloc(4, sizeof(long));
    CHECK_ALLOC(obj);
    CHECK(push_protected_by(obj, &rw));
    long seen = 0;
    struct timespec dl;

    /* Uncontended: every form acquires. */
    CHECK(pthread_rwlock_trywrlock(&rw));
    obj[0] = 1;
    CHECK(pthread_rwlock_unlock(&rw));
    CHECK(pthread_rwlock_tryrdlock(&rw));
    seen += obj[0];
    CHECK(pthread_rwlock_unlock(&rw));
    dl = deadline_ms(10000);
    CHECK(pthread_rwlock_timedwrlock(&rw, &dl));
    obj[1] = 2;
    CHECK(pthread_rwlock_unlock(&rw));
    dl = deadline_ms(10000);
    CHECK(pthread_rwlock_timedrdlock(&rw, &dl));
    seen += obj[1];
    CHECK(pthread_rwlock_unlock(&rw));

    /* Another thread holds a read lock: more readers get in, writers fail. */
    pthread_t t;
    start_holder(&t, 0);
    int busy_w = pthread_rwlock_trywrlock(&rw) == EBUSY;
    dl = deadline_ms(50);
    int timedout_w = pthread_rwlock_timedwrlock(&rw, &dl) == ETIMEDOUT;
    CHECK(pthread_rwlock_tryrdlock(&rw));
    seen += obj[0];
    CHECK(pthread_rwlock_unlock(&rw));
    dl = deadline_ms(10000);
    CHECK(pthread_rwlock_timedrdlock(&rw, &dl));
    seen += obj[1];
    CHECK(pthread_rwlock_unlock(&rw));
    stop_holder(t);

    /* Another thread holds the write lock: readers fail too. */
    start_holder(&t, 1);
    int busy_r = pthread_rwlock_tryrdlock(&rw) == EBUSY;
    dl = deadline_ms(50);
    int timedout_r = pthread_rwlock_timedrdlock(&rw, &dl) == ETIMEDOUT;
    stop_holder(t);

    CHECK(pthread_rwlock_wrlock(&rw));
    obj[2] = seen;
    printf("busy_w=%d timedout_w=%d busy_r=%d timedout_r=%d\n", busy_w,
           timedout_w, busy_r, timedout_r);
    printf("result=%ld,%ld,%ld\n", obj[0], obj[1], obj[2]);
    CHECK(pthread_rwlock_unlock(&rw));
    return 0;
}
