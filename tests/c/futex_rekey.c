/* Contended mutexes inside the objects they protect, while rehashing re-keys
 * those objects: a thread sleeping in futex() on a lock word must keep
 * access to it (the kernel returns EFAULT instead of faulting, and glibc
 * aborts). Regression test for a reproducer found by the benchmarks. */
#include "common.h"

#define OBJECTS 4096
#define THREADS 4
#define ROUNDS 300000

struct counter {
    pthread_mutex_t lock;
    long n;
};
static struct counter **c;

static void *worker(void *arg)
{
    unsigned x = (unsigned)(long)arg * 2654435761u + 1;
    for (long i = 0; i < ROUNDS; i++) {
        x = x * 1103515245u + 12345u;
        struct counter *o = c[(x >> 16) % OBJECTS];
        CHECK(pthread_mutex_lock(&o->lock));
        o->n++;
        CHECK(pthread_mutex_unlock(&o->lock));
    }
    return NULL;
}

int main(void)
{
    started();
    c = malloc(sizeof *c * OBJECTS);
    CHECK_ALLOC(c);
    for (int i = 0; i < OBJECTS; i++) {
        c[i] = push_malloc(sizeof *c[i]);
        CHECK_ALLOC(c[i]);
        CHECK(pthread_mutex_init(&c[i]->lock, NULL));
        c[i]->n = 0;
        CHECK(push_protected_by(c[i], &c[i]->lock));
    }
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i));
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL));
    long total = 0;
    for (int i = 0; i < OBJECTS; i++) {
        CHECK(pthread_mutex_lock(&c[i]->lock));
        total += c[i]->n;
        CHECK(pthread_mutex_unlock(&c[i]->lock));
    }
    printf("result=%ld\n", total);
    return 0;
}
