/* protected_by(rwlock): reading under the read lock is fine, a WRITE under
 * the read lock -> data race. */
#include "common.h"

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static volatile long *obj;

static void *reader(void *arg)
{
    (void)arg;
    CHECK(pthread_rwlock_rdlock(&rw));
    long v = obj[0];
    obj[1] = v + 1; /* RACE:write */
    CHECK(pthread_rwlock_unlock(&rw));
    return (void *)v;
}

int main(void)
{
    started();
    obj = push_calloc(2, sizeof(long));
    CHECK_ALLOC(obj);
    obj[0] = 20;
    CHECK(push_protected_by((void *)obj, &rw));

    pthread_t t;
    CHECK(pthread_create(&t, NULL, reader, NULL));
    CHECK(pthread_join(t, NULL));

    CHECK(pthread_rwlock_rdlock(&rw));
    printf("result=%ld,%ld\n", obj[0], obj[1]);
    CHECK(pthread_rwlock_unlock(&rw));
    return 0;
}
