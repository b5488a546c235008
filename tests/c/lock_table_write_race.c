/* A lock word in a read-only table is used through its alias, but the
 * program's own write to the table is still checked: a thread that takes
 * a lock of the table and then writes the table's statistics field races
 * with the policy (read-only), and is reported at that line.
 * Output: result=<sum> */
#include "common.h"

struct table {
    pthread_mutex_t m[2];
    long lookups;
};

static struct table *tab;
static long *counter;

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        CHECK(pthread_mutex_lock(&tab->m[1]));
        (*counter)++;
        CHECK(pthread_mutex_unlock(&tab->m[1]));
    }
    CHECK(pthread_mutex_lock(&tab->m[0]));
    tab->lookups++; /* RACE:write */
    CHECK(pthread_mutex_unlock(&tab->m[0]));
    return NULL;
}

int main(void)
{
    started();
    tab = push_malloc(sizeof *tab);
    counter = push_malloc(sizeof *counter);
    CHECK_ALLOC(tab);
    CHECK_ALLOC(counter);
    CHECK(pthread_mutex_init(&tab->m[0], NULL));
    CHECK(pthread_mutex_init(&tab->m[1], NULL));
    tab->lookups = 0;
    *counter = 0;
    CHECK(push_protected_by(counter, &tab->m[1]));
    CHECK(push_readonly(tab));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    CHECK(pthread_join(t, NULL));
    CHECK(pthread_mutex_lock(&tab->m[1]));
    printf("result=%ld\n", *counter);
    CHECK(pthread_mutex_unlock(&tab->m[1]));
    return 0;
}
