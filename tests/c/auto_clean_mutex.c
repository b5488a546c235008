/* auto mode, race-free: threads update a heap object only under a mutex
 * that lives in the object itself; main reads it after joining them. */
#include "auto_common.h"

#define THREADS 4
#define ROUNDS 1000

struct counter {
    pthread_mutex_t lock;
    long total;
    long last;
};

static void *work(void *arg)
{
    struct counter *c = arg;
    for (int i = 0; i < ROUNDS; i++) {
        CHECK(pthread_mutex_lock(&c->lock));
        c->total += 1;
        c->last = i;
        CHECK(pthread_mutex_unlock(&c->lock));
    }
    return NULL;
}

int main(void)
{
    started();
    struct counter *c = malloc(sizeof *c);
    CHECK_ALLOC(c);
    CHECK(pthread_mutex_init(&c->lock, NULL));
    c->total = 0;
    c->last = -1;

    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, work, c));
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL));

    printf("result=%ld,%ld\n", c->total, c->last);
    CHECK(pthread_mutex_destroy(&c->lock));
    free(c);
    return 0;
}
