/* protected_by(spinlock): a write without the spinlock -> data race. */
#include "common.h"

#define ROUNDS 1000

static pthread_spinlock_t spin;
static volatile long *obj;

static void *careful(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        CHECK(pthread_spin_lock(&spin));
        obj[0]++;
        CHECK(pthread_spin_unlock(&spin));
    }
    return NULL;
}

static void *careless(void *arg)
{
    (void)arg;
    obj[1] = 3; /* RACE:write */
    return NULL;
}

int main(void)
{
    started();
    CHECK(pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE));
    obj = push_calloc(2, sizeof(long));
    CHECK_ALLOC(obj);
    CHECK(push_protected_by((void *)obj, (const void *)&spin));

    pthread_t t;
    CHECK(pthread_create(&t, NULL, careful, NULL));
    CHECK(pthread_join(t, NULL));
    CHECK(pthread_create(&t, NULL, careless, NULL));
    CHECK(pthread_join(t, NULL));

    CHECK(pthread_spin_lock(&spin));
    printf("result=%ld,%ld\n", obj[0], obj[1]);
    CHECK(pthread_spin_unlock(&spin));
    return 0;
}
