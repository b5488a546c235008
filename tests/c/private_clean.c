/* private (the default policy): the creator reads and writes its objects;
 * every worker uses objects of its own. No report. */
#include "common.h"

#define NTHREADS 4
#define WORDS 16

static void *worker(void *arg)
{
    long id = (long)arg;
    long *mine = push_malloc(WORDS * sizeof(long));
    CHECK_ALLOC(mine);
    for (int i = 0; i < WORDS; i++)
        mine[i] = id * 100 + i;
    /* calloc and realloc make private objects too. */
    long *more = push_calloc(WORDS, sizeof(long));
    CHECK_ALLOC(more);
    for (int i = 0; i < WORDS; i++)
        more[i] += mine[i];
    more = push_realloc(more, 2 * WORDS * sizeof(long));
    CHECK_ALLOC(more);
    for (int i = WORDS; i < 2 * WORDS; i++)
        more[i] = 1;
    long sum = 0;
    for (int i = 0; i < 2 * WORDS; i++)
        sum += more[i];
    push_free(more);
    push_free(mine);
    return (void *)sum;
}

int main(void)
{
    started();
    long *data = push_malloc(64 * sizeof(long));
    CHECK_ALLOC(data);
    for (int i = 0; i < 64; i++)
        data[i] = i;

    pthread_t t[NTHREADS];
    for (long i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i));
    long total = 0;
    for (int i = 0; i < NTHREADS; i++) {
        void *r;
        CHECK(pthread_join(t[i], &r));
        total += (long)r;
    }
    /* The owner still reads and writes its object after the workers ran. */
    for (int i = 0; i < 64; i++) {
        data[i] *= 2;
        total += data[i];
    }
    push_free(data);
    printf("result=%ld\n", total);
    return 0;
}
