/* Happens-before through a rwlock, write release -> read acquire: main
 * transfers a, releases b and puts c under the rwlock, then sets `ready`
 * under the write lock; the worker polls `ready` under the read lock and
 * then reads c (still holding the read lock) and uses a and b. */
#include "common.h"
#include <sched.h>

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static int ready;
static long *a, *b, *c;

static void *worker(void *arg)
{
    (void)arg;
    for (;;) {
        CHECK(pthread_rwlock_rdlock(&rw));
        if (ready)
            break;
        CHECK(pthread_rwlock_unlock(&rw));
        sched_yield();
    }
    long cv = c[0]; /* protected_by(rw), read lock held: read allowed */
    CHECK(pthread_rwlock_unlock(&rw));
    a[0] += 100; /* transferred to this thread */
    CHECK(push_acquire(b));
    b[1] = b[0] * 2 + cv;
    return NULL;
}

int main(void)
{
    started();
    a = push_calloc(2, sizeof(long));
    b = push_calloc(2, sizeof(long));
    c = push_calloc(2, sizeof(long));
    CHECK_ALLOC(a);
    CHECK_ALLOC(b);
    CHECK_ALLOC(c);
    a[0] = 7;
    b[0] = 8;
    c[0] = 9;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    CHECK(push_transfer(a, t));
    CHECK(push_release(b));
    CHECK(push_protected_by(c, &rw));
    CHECK(pthread_rwlock_wrlock(&rw));
    ready = 1;
    CHECK(pthread_rwlock_unlock(&rw));
    CHECK(pthread_join(t, NULL));

    CHECK(pthread_rwlock_wrlock(&rw));
    long cv = c[0];
    CHECK(pthread_rwlock_unlock(&rw));
    printf("result=%ld,%ld,%ld\n", a[0], b[1], cv);
    return 0;
}
