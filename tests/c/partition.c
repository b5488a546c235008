/* One allocation, one part per thread (push_partition): each thread works
 * on its own part, private to it. Also a PUSH_GLOBAL array of per-thread
 * structs padded to pages, cut the same way.
 *   (none):     race-free; the allocation is freed whole and again.
 *   cross:      thread 1 writes a word of thread 0's part: a data race.
 *   misaligned: push_partition with a part size of 1000 bytes: refused.
 *   freepart:   push_free of the second part: refused, nothing freed.
 *   global:     thread 2 writes thread 3's slot of the global: a data race. */
#include "common.h"

#define N 4
#define PART 8192 /* two pages per part */
#define WORDS (PART / sizeof(long))

struct slot {
    long count;
    char pad[4096 - sizeof(long)];
};
PUSH_GLOBAL(struct slot[N], Local);

static long *rows;
static pthread_barrier_t start, done;
static const char *mode = "";

static void *worker(void *arg)
{
    long me = (long)arg;
    pthread_barrier_wait(&start);
    long *mine = rows + me * WORDS;
    for (int r = 0; r < 100; r++)
        for (size_t i = 0; i < WORDS; i++) mine[i] += i;
    Local[me].count += 1;
    /* Every owner is done with its part (under mprotect an owner's open
     * window would let the stray write through unchecked). */
    pthread_barrier_wait(&done);
    if (strcmp(mode, "cross") == 0 && me == 1) rows[5] = 7; /* RACE:cross */
    if (strcmp(mode, "global") == 0 && me == 2) Local[3].pad[8] = 1; /* RACE:global */
    return NULL;
}

int main(int argc, char **argv)
{
    started();
    if (argc > 1) mode = argv[1];
    rows = push_calloc(N, PART);
    CHECK_ALLOC(rows);
    if (strcmp(mode, "misaligned") == 0) {
        int rc = push_partition(rows, 1000); /* ERROR:misaligned */
        printf("misaligned=%s\n", rc == EINVAL ? "EINVAL" : "?");
    }
    CHECK(push_partition(rows, PART));
    CHECK(push_partition(Local, sizeof(struct slot)));
    if (strcmp(mode, "freepart") == 0) {
        long *volatile part = rows + WORDS; /* natively: free() aborts */
        push_free(part);                    /* ERROR:freepart */
        rows[WORDS] = 1;         /* still there, still main's */
    }
    pthread_barrier_init(&start, NULL, N + 1);
    pthread_barrier_init(&done, NULL, N);
    pthread_t t[N];
    for (long i = 0; i < N; i++) CHECK(pthread_create(&t[i], NULL, worker, (void *)i));
    for (int i = 0; i < N; i++) {
        CHECK(push_transfer(rows + i * WORDS, t[i]));
        CHECK(push_transfer(&Local[i], t[i]));
    }
    pthread_barrier_wait(&start);
    for (int i = 0; i < N; i++) CHECK(pthread_join(t[i], NULL));
    long sum = 0;
    for (int i = 0; i < N; i++) {
        CHECK(push_private(rows + i * WORDS)); /* joined: main may take them back */
        CHECK(push_private(&Local[i]));
        sum += rows[i * WORDS + WORDS - 1] + Local[i].count;
    }
    push_free(rows);
    rows = push_calloc(N, PART); /* the same pages, whole again */
    CHECK_ALLOC(rows);
    rows[N * WORDS - 1] = 1;
    push_free(rows);
    printf("result=%ld\n", sum);
    return 0;
}
