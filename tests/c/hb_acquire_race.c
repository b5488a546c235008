/* push_release in main, push_acquire in another thread, sequenced only by
 * an atomic flag the runtime cannot see: the acquire is not ordered after
 * the release -> unordered policy change (rule 1), reported at the
 * push_acquire call. The acquire still takes effect, so the taker's own
 * accesses afterwards are fine. Annotated twin: hb_flag_clean. */
#include "common.h"
#include <sched.h>

static int flag;
static volatile long *obj;

static void *taker(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&flag, __ATOMIC_ACQUIRE))
        sched_yield();
    CHECK(push_acquire((void *)obj)); /* RACE:acquire */
    obj[1] = obj[0] * 2;
    return NULL;
}

int main(void)
{
    started();
    obj = push_calloc(2, sizeof(long));
    CHECK_ALLOC(obj);
    obj[0] = 21;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, taker, NULL));
    CHECK(push_release((void *)obj)); /* CHANGE:acquire */
    __atomic_store_n(&flag, 1, __ATOMIC_RELEASE);
    CHECK(pthread_join(t, NULL));
    printf("result=%ld,%ld\n", obj[0], obj[1]); /* joined owner */
    return 0;
}
