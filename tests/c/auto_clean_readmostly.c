/* auto mode, race-free: main fills heap data (valloc) before creating the
 * readers; afterwards every thread, main included, only reads it. */
#include "auto_common.h"

#define READERS 4
#define LEN 256
#define ROUNDS 20

static const int *data;

static long sum_all(void)
{
    long sum = 0;
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < LEN; i++)
            sum += data[i];
    return sum;
}

static void *reader(void *arg)
{
    (void)arg;
    return (void *)sum_all();
}

int main(void)
{
    started();
    int *fill = valloc(LEN * sizeof *fill);
    CHECK_ALLOC(fill);
    for (int i = 0; i < LEN; i++)
        fill[i] = i % 7;
    data = fill;

    pthread_t t[READERS];
    for (int i = 0; i < READERS; i++)
        CHECK(pthread_create(&t[i], NULL, reader, NULL));
    long total = sum_all();
    for (int i = 0; i < READERS; i++) {
        void *sum;
        CHECK(pthread_join(t[i], &sum));
        total += (long)sum;
    }
    printf("result=%ld\n", total);
    free(fill);
    return 0;
}
