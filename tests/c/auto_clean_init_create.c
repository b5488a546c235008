/* auto mode, race-free: main initializes a heap job per worker just before
 * pthread_create; each worker reads its job's input and writes its result
 * (no lock: pthread_create orders main's writes before the worker's
 * accesses, pthread_join orders the worker's before main's reads). */
#include "auto_common.h"

#define WORKERS 4

struct job {
    int first, count;
    long result;
};

static void *work(void *arg)
{
    struct job *j = arg;
    long sum = 0;
    for (int i = j->first; i < j->first + j->count; i++)
        sum += i;
    j->result = sum;
    return NULL;
}

int main(void)
{
    started();
    pthread_t t[WORKERS];
    struct job *jobs[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        jobs[w] = malloc(sizeof *jobs[w]);
        CHECK_ALLOC(jobs[w]);
        jobs[w]->first = w * 100;
        jobs[w]->count = 100;
        jobs[w]->result = -1;
        CHECK(pthread_create(&t[w], NULL, work, jobs[w]));
    }
    long total = 0;
    for (int w = 0; w < WORKERS; w++) {
        CHECK(pthread_join(t[w], NULL));
        total += jobs[w]->result;
        free(jobs[w]);
    }
    printf("result=%ld\n", total);
    return 0;
}
