/* auto mode, race-free: 4 threads allocate and free small objects of every
 * size class in a loop (each thread's slots come back to it from its slot
 * cache), and hand a third of them to the next thread through a
 * mutex-protected mailbox, which frees them (slots of another thread's
 * key). Every object is stamped with its owner and serial over its whole
 * size and checked before it is freed: two live objects sharing memory
 * would show as a wrong stamp. Output: result=<objects checked>,<bad> */
#include "auto_common.h"

#define THREADS 4
#define ROUNDS 4000
#define MAILBOX 64

struct mailbox {
    pthread_mutex_t lock;
    long *items[MAILBOX];
    size_t sizes[MAILBOX];
    int n;
};

static struct mailbox boxes[THREADS];
static long checked[THREADS], bad[THREADS];

static void stamp(long *p, size_t size, long v)
{
    for (size_t i = 0; i < size / sizeof(long); i++)
        p[i] = v + (long)i;
}

static int intact(const long *p, size_t size, long v)
{
    for (size_t i = 0; i < size / sizeof(long); i++)
        if (p[i] != v + (long)i)
            return 0;
    return 1;
}

static void check_and_free(long me, long *p, size_t size)
{
    checked[me]++;
    if (!intact(p, size, p[0]))
        bad[me]++;
    free(p);
}

static void *worker(void *arg)
{
    long me = (long)arg;
    long *keep[8] = {0};
    size_t keep_size[8] = {0};
    for (long i = 0; i < ROUNDS; i++) {
        size_t size = 16 + (size_t)((i * 7 + me * 13) % 128) * 16; /* 16..2048 */
        long *p = malloc(size);
        CHECK_ALLOC(p);
        stamp(p, size, (me << 40) | (i << 12));
        int k = (int)(i % 8);
        if (keep[k])
            check_and_free(me, keep[k], keep_size[k]);
        keep[k] = p;
        keep_size[k] = size;
        if (i % 3 == 0) {
            /* Hand the object kept longest to the next thread. */
            int j = (k + 1) % 8;
            if (keep[j]) {
                struct mailbox *b = &boxes[(me + 1) % THREADS];
                CHECK(pthread_mutex_lock(&b->lock));
                if (b->n < MAILBOX) {
                    b->items[b->n] = keep[j];
                    b->sizes[b->n++] = keep_size[j];
                    keep[j] = NULL;
                }
                CHECK(pthread_mutex_unlock(&b->lock));
            }
        }
        /* Free what the previous thread sent. */
        struct mailbox *mine = &boxes[me];
        CHECK(pthread_mutex_lock(&mine->lock));
        while (mine->n > 0) {
            mine->n--;
            check_and_free(me, mine->items[mine->n], mine->sizes[mine->n]);
        }
        CHECK(pthread_mutex_unlock(&mine->lock));
    }
    for (int k = 0; k < 8; k++)
        if (keep[k])
            check_and_free(me, keep[k], keep_size[k]);
    return NULL;
}

int main(void)
{
    started();
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_mutex_init(&boxes[i].lock, NULL));
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i));
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL));
    long total = 0, wrong = 0;
    for (int i = 0; i < THREADS; i++) {
        total += checked[i];
        wrong += bad[i];
        /* What was left in the mailboxes. */
        while (boxes[i].n > 0) {
            boxes[i].n--;
            total++;
            if (!intact(boxes[i].items[boxes[i].n], boxes[i].sizes[boxes[i].n],
                        boxes[i].items[boxes[i].n][0]))
                wrong++;
            free(boxes[i].items[boxes[i].n]);
        }
    }
    printf("result=%ld,%ld\n", total, wrong);
    return 0;
}
