/* auto mode, race-free: threads update a heap object only under a
 * pthread spinlock; main reads it after joining them. */
#include "auto_common.h"

#define THREADS 3
#define ROUNDS 1000

static pthread_spinlock_t spin;

struct tally {
    long count;
    long sum;
};

static void *work(void *arg)
{
    struct tally *t = arg;
    for (int i = 0; i < ROUNDS; i++) {
        CHECK(pthread_spin_lock(&spin));
        t->count++;
        t->sum += i;
        CHECK(pthread_spin_unlock(&spin));
    }
    return NULL;
}

int main(void)
{
    started();
    CHECK(pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE));
    struct tally *t = calloc(1, sizeof *t);
    CHECK_ALLOC(t);

    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&th[i], NULL, work, t));
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(th[i], NULL));

    printf("result=%ld,%ld\n", t->count, t->sum);
    free(t);
    CHECK(pthread_spin_destroy(&spin));
    return 0;
}
