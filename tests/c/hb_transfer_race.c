/* push_transfer sequenced only by an atomic flag the runtime cannot see:
 * the new owner's first access is not ordered after the transfer
 * -> unordered policy change (rule 2), reported at the access. The
 * receiver's later accesses, after a synchronization of its own, are not
 * first accesses and are not reported. Annotated twin: hb_flag_clean. */
#include "common.h"
#include <sched.h>

static pthread_mutex_t unrelated = PTHREAD_MUTEX_INITIALIZER;
static int flag;
static volatile long *obj;

static void *receiver(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&flag, __ATOMIC_ACQUIRE))
        sched_yield();
    obj[1] = 7; /* RACE:transfer */
    CHECK(pthread_mutex_lock(&unrelated));
    CHECK(pthread_mutex_unlock(&unrelated));
    obj[0] += obj[1];
    return NULL;
}

int main(void)
{
    started();
    obj = push_calloc(2, sizeof(long));
    CHECK_ALLOC(obj);
    obj[0] = 5;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, receiver, NULL));
    CHECK(push_transfer((void *)obj, t)); /* CHANGE:transfer */
    __atomic_store_n(&flag, 1, __ATOMIC_RELEASE);
    CHECK(pthread_join(t, NULL));
    printf("result=%ld,%ld\n", obj[0], obj[1]); /* joined owner */
    return 0;
}
