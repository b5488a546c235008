/* push_transfer: main fills an object, transfers it to a waiting thread and
 * signals it through a mutex/condvar; the receiver reads and writes it.
 * After joining the receiver, main may use it again. */
#include "common.h"

#define WORDS 16

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int ready;
static long *obj;

static void *receiver(void *arg)
{
    (void)arg;
    CHECK(pthread_mutex_lock(&m));
    while (!ready)
        CHECK(pthread_cond_wait(&c, &m));
    CHECK(pthread_mutex_unlock(&m));

    long sum = 0;
    for (int i = 0; i < WORDS; i++)
        sum += obj[i];
    obj[0] = sum;
    return NULL;
}

int main(void)
{
    started();
    obj = push_malloc(WORDS * sizeof(long));
    CHECK_ALLOC(obj);
    for (int i = 0; i < WORDS; i++)
        obj[i] = i + 1;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, receiver, NULL));
    CHECK(push_transfer(obj, t));
    CHECK(pthread_mutex_lock(&m));
    ready = 1;
    CHECK(pthread_cond_signal(&c));
    CHECK(pthread_mutex_unlock(&m));
    CHECK(pthread_join(t, NULL));

    printf("result=%ld\n", obj[0]); /* private to an exited, joined thread */
    return 0;
}
