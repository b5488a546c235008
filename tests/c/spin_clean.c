/* protected_by(spinlock): increments under pthread_spin_lock and
 * pthread_spin_trylock. */
#include "common.h"

#define NTHREADS 4
#define ROUNDS 1000

static pthread_spinlock_t spin;
static long *obj;

static void *worker(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < ROUNDS; i++) {
        if (id & 1) {
            while (pthread_spin_trylock(&spin) == EBUSY)
                ;
        } else {
            CHECK(pthread_spin_lock(&spin));
        }
        obj[0]++;
        obj[1] += id;
        CHECK(pthread_spin_unlock(&spin));
    }
    return NULL;
}

int main(void)
{
    started();
    CHECK(pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE));
    obj = push_calloc(2, sizeof(long));
    CHECK_ALLOC(obj);
    CHECK(push_protected_by(obj, (const void *)&spin));

    pthread_t t[NTHREADS];
    for (long i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i));
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_join(t[i], NULL));

    CHECK(pthread_spin_lock(&spin));
    printf("result=%ld,%ld\n", obj[0], obj[1]);
    CHECK(pthread_spin_unlock(&spin));
    return 0;
}
