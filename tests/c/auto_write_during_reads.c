/* auto mode: several readers read a shared heap configuration (from
 * aligned_alloc) while a writer updates it without synchronization -> data
 * race between the writer's update and the readers' reads (reads alone
 * never race). */
#include "auto_common.h"

#define READERS 3
#define ROUNDS 600

struct config {
    int limit;
    volatile int timeout_ms;
};

static struct config *cfg;

static void *writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        cfg->timeout_ms = 100 + i % 50; /* RACE:a */
        usleep(20);
    }
    return NULL;
}

static void *reader(void *arg)
{
    (void)arg;
    long in_range = 0;
    for (int i = 0; i < ROUNDS; i++) {
        int t = cfg->timeout_ms; /* RACE:b */
        in_range += t >= 100 && t < 150;
        usleep(20);
    }
    return (void *)in_range;
}

int main(void)
{
    started();
    cfg = aligned_alloc(64, 64); /* ALLOC */
    CHECK_ALLOC(cfg);
    cfg->limit = 10;
    cfg->timeout_ms = 100;

    pthread_t w, r[READERS];
    for (int i = 0; i < READERS; i++)
        CHECK(pthread_create(&r[i], NULL, reader, NULL));
    CHECK(pthread_create(&w, NULL, writer, NULL));
    long in_range = 0;
    for (int i = 0; i < READERS; i++) {
        void *n;
        CHECK(pthread_join(r[i], &n));
        in_range += (long)n;
    }
    CHECK(pthread_join(w, NULL));

    printf("result=%d,%ld\n", cfg->limit, in_range);
    free(cfg);
    return 0;
}
