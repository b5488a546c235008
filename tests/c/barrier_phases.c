/* The phase pattern of docs/annotating.md: each of 4 threads writes its own
 * block, then between two barrier waits makes it read-only, then every
 * thread reads every block; then, between two more waits, the serial
 * thread hands every block back to its owner (read-only objects may be
 * changed by anyone) and each writes its block again. Race-free: no
 * report. The "late" argument changes policies after a single wait
 * instead: an unordered policy change. */
#include "common.h"
#include <string.h>

#define N 4
static long *block[N];
static pthread_barrier_t b;
static pthread_t tid[N];
static int late;
static long sums[N];

static void *worker(void *arg)
{
    long me = (long)arg;
    block[me] = push_malloc(64 * sizeof(long));
    CHECK_ALLOC(block[me]);
    for (int i = 0; i < 64; i++) block[me][i] = me + i;
    pthread_barrier_wait(&b);
    if (!late) {
        CHECK(push_readonly(block[me]));
        pthread_barrier_wait(&b);
    } else {
        pthread_barrier_wait(&b);
        CHECK(push_readonly(block[me])); /* RACE:late */
    }
    long sum = 0;
    for (int t = 0; t < N; t++)
        for (int i = 0; i < 64; i++) sum += block[t][i];
    sums[me] = sum;
    if (pthread_barrier_wait(&b) == PTHREAD_BARRIER_SERIAL_THREAD)
        for (int t = 0; t < N; t++) CHECK(push_transfer(block[t], tid[t]));
    pthread_barrier_wait(&b);
    block[me][0] += 1000;
    return NULL;
}

int main(int argc, char **argv)
{
    started();
    late = argc > 1 && strcmp(argv[1], "late") == 0;
    pthread_barrier_init(&b, NULL, N);
    for (long t = 0; t < N; t++) CHECK(pthread_create(&tid[t], NULL, worker, (void *)t));
    for (int t = 0; t < N; t++) CHECK(pthread_join(tid[t], NULL));
    printf("sum=%ld first=%ld,%ld,%ld,%ld\n", sums[0], block[0][0], block[1][0], block[2][0],
           block[3][0]);
    return 0;
}
