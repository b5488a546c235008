/* auto mode: a counter in a malloc'd struct, incremented under the
 * struct's mutex by one thread and without it by another -> data race
 * between the two increments. */
#include "auto_common.h"

#define ROUNDS 2000

struct stats {
    pthread_mutex_t lock;
    volatile long hits;
};

static void *careful(void *arg)
{
    struct stats *s = arg;
    for (int i = 0; i < ROUNDS; i++) {
        CHECK(pthread_mutex_lock(&s->lock));
        s->hits++; /* RACE:a */
        CHECK(pthread_mutex_unlock(&s->lock));
        if (i % 8 == 0)
            usleep(20);
    }
    return NULL;
}

static void *careless(void *arg)
{
    struct stats *s = arg;
    for (int i = 0; i < ROUNDS; i++) {
        s->hits++; /* RACE:b */
        if (i % 8 == 0)
            usleep(20);
    }
    return NULL;
}

int main(void)
{
    started();
    struct stats *s = malloc(sizeof *s); /* ALLOC */
    CHECK_ALLOC(s);
    CHECK(pthread_mutex_init(&s->lock, NULL));
    s->hits = 0;

    pthread_t a, b;
    CHECK(pthread_create(&a, NULL, careful, s));
    CHECK(pthread_create(&b, NULL, careless, s));
    CHECK(pthread_join(a, NULL));
    CHECK(pthread_join(b, NULL));

    /* Lost updates make the count vary: print only whether it is sane. */
    printf("result=%s\n", s->hits > 0 && s->hits <= 2 * ROUNDS ? "ok" : "bad");
    CHECK(pthread_mutex_destroy(&s->lock));
    free(s);
    return 0;
}
