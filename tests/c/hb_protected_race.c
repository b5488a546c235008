/* push_protected_by(obj, &m) with no release of m after the change: main
 * never locks m again before the other thread's first acquire, and the
 * hand-off is sequenced only by an atomic flag the runtime cannot see. The
 * other thread holds m, which the policy allows, but its first access is
 * not ordered after the change -> unordered policy change (rule 2),
 * reported at the access. Ordered twin: hb_lock_clean mutex (object c). */
#include "common.h"
#include <sched.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static int flag;
static volatile long *obj;

static void *locker(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&flag, __ATOMIC_ACQUIRE))
        sched_yield();
    CHECK(pthread_mutex_lock(&m));
    obj[1] = 42; /* RACE:protected */
    obj[0] += obj[1];
    CHECK(pthread_mutex_unlock(&m));
    return NULL;
}

int main(void)
{
    started();
    obj = push_calloc(2, sizeof(long));
    CHECK_ALLOC(obj);
    obj[0] = 1;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, locker, NULL));
    CHECK(push_protected_by((void *)obj, &m)); /* CHANGE:protected */
    __atomic_store_n(&flag, 1, __ATOMIC_RELEASE);
    CHECK(pthread_join(t, NULL));
    CHECK(pthread_mutex_lock(&m));
    printf("result=%ld,%ld\n", obj[0], obj[1]);
    CHECK(pthread_mutex_unlock(&m));
    return 0;
}
