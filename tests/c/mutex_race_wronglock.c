/* protected_by(mutex A): a read while holding mutex B only -> data race. */
#include "common.h"

static pthread_mutex_t lock_a = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock_b = PTHREAD_MUTEX_INITIALIZER;
static volatile long *obj;  /* protected by lock_a */
static long *other;         /* protected by lock_b */

static void *confused(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock_b);
    other[0] = 5;
    long v = obj[1]; /* RACE:read */
    other[0] += v;
    pthread_mutex_unlock(&lock_b);
    return NULL;
}

int main(void)
{
    started();
    obj = push_calloc(2, sizeof(long));
    other = push_calloc(1, sizeof(long));
    CHECK_ALLOC(obj);
    CHECK_ALLOC(other);
    obj[1] = 40;
    CHECK(push_protected_by((void *)obj, &lock_a));
    CHECK(push_protected_by(other, &lock_b));

    pthread_t t;
    CHECK(pthread_create(&t, NULL, confused, NULL));
    CHECK(pthread_join(t, NULL));

    pthread_mutex_lock(&lock_a);
    pthread_mutex_lock(&lock_b);
    printf("result=%ld,%ld\n", obj[1], other[0]);
    pthread_mutex_unlock(&lock_b);
    pthread_mutex_unlock(&lock_a);
    return 0;
}
