/* Happens-before through pthread_create: before creating the threads that
 * use them, main makes `table` readonly, releases `box` and puts `counter`
 * under a mutex. The children read the table, acquire the box (the first
 * child) and update the counter under the mutex, all ordered after the
 * changes by their creation. */
#include "common.h"

#define N 16

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static long *table, *box, *counter;

static void *first(void *arg)
{
    (void)arg;
    long sum = 0;
    for (int i = 0; i < N; i++)
        sum += table[i];
    CHECK(push_acquire(box));
    box[0] = sum;
    CHECK(pthread_mutex_lock(&m));
    counter[0] += 1;
    CHECK(pthread_mutex_unlock(&m));
    return NULL;
}

static void *second(void *arg)
{
    (void)arg;
    long sum = 0;
    for (int i = 0; i < N; i++)
        sum += table[i] * 2;
    CHECK(pthread_mutex_lock(&m));
    counter[0] += 10;
    counter[1] = sum;
    CHECK(pthread_mutex_unlock(&m));
    return NULL;
}

int main(void)
{
    started();
    table = push_malloc(N * sizeof(long));
    box = push_calloc(2, sizeof(long));
    counter = push_calloc(2, sizeof(long));
    CHECK_ALLOC(table);
    CHECK_ALLOC(box);
    CHECK_ALLOC(counter);
    for (int i = 0; i < N; i++)
        table[i] = i * i;
    CHECK(push_readonly(table));
    CHECK(push_release(box));
    CHECK(push_protected_by(counter, &m));

    pthread_t t1, t2;
    CHECK(pthread_create(&t1, NULL, first, NULL));
    CHECK(pthread_create(&t2, NULL, second, NULL));
    CHECK(pthread_join(t1, NULL));
    CHECK(pthread_join(t2, NULL));
    CHECK(pthread_mutex_lock(&m));
    long c0 = counter[0], c1 = counter[1];
    CHECK(pthread_mutex_unlock(&m));
    printf("result=%ld,%ld,%ld,%ld\n", box[0], c0, c1, table[N - 1]);
    return 0;
}
