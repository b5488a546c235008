/* Objects handed to a lock by a thread that holds it: the changer's own
 * accesses under the lock need no validation (anyone else must take the
 * lock after this thread releases it), so 64 objects each used 1000 times
 * cost no fault at all, and a worker's later accesses are ordered. */
#include "common.h"

#define OBJS 64

struct item {
    long n;
    long pad[3];
};

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static struct item *items[OBJS];

static void *worker(void *arg)
{
    (void)arg;
    long sum = 0;
    CHECK(pthread_mutex_lock(&m));
    for (int i = 0; i < OBJS; i++) {
        items[i]->n++;
        sum += items[i]->n;
    }
    CHECK(pthread_mutex_unlock(&m));
    return (void *)sum;
}

int main(void)
{
    started();
    CHECK(pthread_mutex_lock(&m));
    for (int i = 0; i < OBJS; i++) {
        items[i] = push_calloc(1, sizeof(struct item));
        CHECK_ALLOC(items[i]);
        CHECK(push_protected_by(items[i], &m));
        for (int k = 0; k < 1000; k++)
            items[i]->n++;
    }
    CHECK(pthread_mutex_unlock(&m));
    pthread_t t;
    void *sum;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    CHECK(pthread_join(t, &sum));
    printf("result=%ld\n", (long)sum);
    return 0;
}
