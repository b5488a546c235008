/* auto mode, race-free: 4 threads allocate small objects of every size
 * class, stamp, check and free them (slots reused through each thread's
 * slot cache), and hand a third to the next thread through a locked
 * mailbox, which checks and frees them. Two live objects sharing memory
 * would show as bad stamps. Output: result=<checked>,<bad stamps> */
#include "auto_common.h"

#define THREADS 4
#define ROUNDS 4000
#define BOX 64

static struct mailbox {
    pthread_mutex_t lock;
    long *items[BOX];
    int n;
} boxes[THREADS] = {[0 ... THREADS - 1] = {PTHREAD_MUTEX_INITIALIZER, {0}, 0}};
static long checked[THREADS], bad[THREADS];
static long *fresh(long words, long seed) /* word 0: size in words */
{
    long *p = malloc(words * sizeof(long));
    CHECK_ALLOC(p);
    p[0] = words;
    for (long i = 1; i < words; i++)
        p[i] = seed + i;
    return p;
}

static void check_and_free(long me, long *p)
{
    checked[me]++;
    for (long i = 2; i < p[0]; i++)
        if (p[i] != p[1] + i - 1)
            bad[me]++;
    free(p);
}

static void *worker(void *arg)
{
    long me = (long)arg;
    long *keep[8] = {0};
    for (long i = 0; i < ROUNDS; i++) {
        int k = (int)(i % 8), j = (k + 1) % 8;
        if (keep[k]) check_and_free(me, keep[k]);
        keep[k] = fresh(2 + (i * 7 + me * 13) % 255, (me << 40) | (i << 12));
        struct mailbox *next = &boxes[(me + 1) % THREADS], *mine = &boxes[me];
        CHECK(pthread_mutex_lock(&next->lock));
        if (i % 3 == 0 && keep[j] && next->n < BOX) {
            next->items[next->n++] = keep[j];
            keep[j] = NULL;
        }
        CHECK(pthread_mutex_unlock(&next->lock));
        CHECK(pthread_mutex_lock(&mine->lock));
        while (mine->n > 0)
            check_and_free(me, mine->items[--mine->n]);
        CHECK(pthread_mutex_unlock(&mine->lock));
    }
    for (int k = 0; k < 8; k++)
        if (keep[k]) check_and_free(me, keep[k]);
    return NULL;
}

int main(void)
{
    started();
    pthread_t t[THREADS];
    long total = 0, wrong = 0;
    for (long i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i));
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL));
    for (int i = 0; i < THREADS; i++) {
        while (boxes[i].n > 0)
            check_and_free(i, boxes[i].items[--boxes[i].n]);
        total += checked[i];
        wrong += bad[i];
    }
    printf("result=%ld,%ld\n", total, wrong);
    return 0;
}
