/* Cost of malloc/free under `push run --auto` (every watched allocation
 * goes through the tracked allocator): THREADS threads each allocate,
 * touch and free 64-120 bytes N times. Prints ns per pair per thread; run
 * it natively and under `push run --auto` in the same invocation.
 * Usage: auto_alloc [N] [THREADS] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long n;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void *loop(void *arg)
{
    (void)arg;
    volatile long sink = 0;
    for (long i = 0; i < n; i++) {
        char *p = malloc(64 + (i & 7) * 8);
        p[0] = 1;
        sink += (long)p;
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    n = argc > 1 ? atol(argv[1]) : 1000000;
    int threads = argc > 2 ? atoi(argv[2]) : 2;
    pthread_t t[64];
    if (threads < 1 || threads > 64)
        return 2;
    double t0 = now_ns();
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, loop, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    printf("threads=%d %.1f ns per pair per thread\n", threads, (now_ns() - t0) / n);
    return 0;
}
