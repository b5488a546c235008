/* A write to the table under a read lock taken with
 * pthread_rwlock_clockrdlock: the rwlock lives inside the table, and a
 * read lock allows reads only -> data race at the write. */
#include "common.h"

struct table {
    pthread_rwlock_t l;
    long v[4];
};

static struct table *tab;

static void *reader(void *arg)
{
    (void)arg;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += 10;
    CHECK(pthread_rwlock_clockrdlock(&tab->l, CLOCK_MONOTONIC, &dl));
    long seen = tab->v[0];
    tab->v[1] = seen + 1; /* RACE:write */
    CHECK(pthread_rwlock_unlock(&tab->l));
    return NULL;
}

int main(void)
{
    started();
    tab = push_calloc(1, sizeof *tab);
    CHECK_ALLOC(tab);
    CHECK(pthread_rwlock_init(&tab->l, NULL));
    tab->v[0] = 30;
    CHECK(push_protected_by(tab, &tab->l));

    pthread_t t;
    CHECK(pthread_create(&t, NULL, reader, NULL));
    CHECK(pthread_join(t, NULL));
    CHECK(pthread_rwlock_rdlock(&tab->l));
    printf("result=%ld,%ld\n", tab->v[0], tab->v[1]);
    CHECK(pthread_rwlock_unlock(&tab->l));
    return 0;
}
