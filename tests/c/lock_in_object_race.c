/* A mutex inside the object it protects: a read of the object right after
 * unlocking it is a data race, reported at that line. */
#include "common.h"

#define ROUNDS 1000

struct counter {
    pthread_mutex_t m;
    long n;
};

static struct counter *c;

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        CHECK(pthread_mutex_lock(&c->m));
        c->n++;
        CHECK(pthread_mutex_unlock(&c->m));
    }
    return (void *)(long)(c->n > 0); /* RACE:read */
}

int main(void)
{
    started();
    c = push_malloc(sizeof *c);
    CHECK_ALLOC(c);
    CHECK(pthread_mutex_init(&c->m, NULL));
    c->n = 0;
    CHECK(push_protected_by(c, &c->m));

    pthread_t t;
    void *ok;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    CHECK(pthread_join(t, &ok));

    CHECK(pthread_mutex_lock(&c->m));
    printf("result=%ld,%d\n", c->n, ok != NULL);
    CHECK(pthread_mutex_unlock(&c->m));
    return 0;
}
