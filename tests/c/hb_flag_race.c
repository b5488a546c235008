/* hb_flag_clean's hand-off of c without push_happens_before/after: main
 * makes the object readonly and publishes an atomic flag; the worker, once
 * it sees the flag, takes the object over with push_private. Nothing the
 * runtime sees orders that change after push_readonly -> unordered policy
 * change (rule 1), reported at the push_private call. The change still
 * takes effect: the worker's writes afterwards are fine. */
#include "common.h"
#include <sched.h>

static int flag;
static volatile long *c;

static void *worker(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&flag, __ATOMIC_ACQUIRE))
        sched_yield();
    CHECK(push_private((void *)c)); /* RACE:private */
    c[1] = c[0] + 1;
    return NULL;
}

int main(void)
{
    started();
    c = push_calloc(2, sizeof(long));
    CHECK_ALLOC(c);
    c[0] = 24;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    CHECK(push_readonly((void *)c)); /* CHANGE:private */
    __atomic_store_n(&flag, 1, __ATOMIC_RELEASE);
    CHECK(pthread_join(t, NULL));
    printf("result=%ld,%ld\n", c[0], c[1]); /* joined owner */
    return 0;
}
