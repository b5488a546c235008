/* auto mode, race-free: pthread_once builds a heap lookup table (in
 * whichever thread gets there first); every thread reads it after its own
 * pthread_once call returns. */
#include "auto_common.h"

#define THREADS 4
#define LEN 64
#define ROUNDS 50

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int *squares;

static void build(void)
{
    squares = malloc(LEN * sizeof *squares);
    CHECK_ALLOC(squares);
    for (int i = 0; i < LEN; i++)
        squares[i] = i * i;
}

static void *work(void *arg)
{
    (void)arg;
    long sum = 0;
    CHECK(pthread_once(&once, build));
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < LEN; i++)
            sum += squares[i];
    return (void *)sum;
}

int main(void)
{
    started();
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, work, NULL));
    long total = 0;
    for (int i = 0; i < THREADS; i++) {
        void *sum;
        CHECK(pthread_join(t[i], &sum));
        total += (long)sum;
    }
    printf("result=%ld,%d\n", total, squares[LEN - 1]);
    free(squares);
    return 0;
}
