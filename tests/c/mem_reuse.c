/* Reuse after free: 200,000 push_malloc/push_free (and push_calloc/
 * push_free) pairs of sizes 1..3000, with a large size (> 4096) every
 * 1000th pair. Each object is written all over before it is freed; every
 * 8th pair also frees a dirtied object and then asks push_calloc for the
 * same size, which must come back zeroed even when it reuses the freed
 * slot. Checks:
 *   - the number of distinct addresses returned is small (at most 4096:
 *     freed slots are reused);
 *   - the number of lines of /proc/self/maps differs by less than 200
 *     between before and after the 200,000 pairs (measured after a warm-up
 *     pass over every size);
 *   - two threads then do 20,000 pairs each at once, checking their data.
 * Output: "started", "calloc zeroed ok", "reuse ok", "maps ok",
 * "threads ok"; the measured numbers go to stderr as an "info:" line.
 * Exit 0. No report expected. */
#include "common.h"

#include <stdint.h>

#define PAIRS 200000
#define MAX_SMALL 3000
#define DISTINCT_LIMIT 4096
#define MAPS_SLACK 200
#define THREAD_PAIRS 20000

static const size_t big_sizes[] = {4097, 5000, 8192, 20000, 65537};
#define NBIG (sizeof big_sizes / sizeof big_sizes[0])

/* Open-addressing set of addresses, in plain memory. */
#define SET_BITS 20
static uintptr_t *set;
static long distinct;

static void remember(void *p)
{
    uintptr_t a = (uintptr_t)p;
    size_t h = (size_t)((a >> 4) * 0x9E3779B97F4A7C15ull >> (64 - SET_BITS));
    for (;;) {
        if (set[h] == a)
            return;
        if (set[h] == 0) {
            set[h] = a;
            distinct++;
            return;
        }
        h = (h + 1) & ((1u << SET_BITS) - 1);
    }
}

static size_t size_of_pair(long i)
{
    if (i % 1000 == 999)
        return big_sizes[(i / 1000) % NBIG];
    return 1 + (size_t)(i % MAX_SMALL);
}

static long calloc_bad;

/* One step: `i` counts pairs; returns the pairs it made. */
static long step(long i, int record)
{
    size_t size = size_of_pair(i);
    unsigned char *p = push_malloc(size);
    CHECK_ALLOC(p);
    memset(p, 0xA5, size);
    p[size - 1] = (unsigned char)i;
    if (record)
        remember(p);
    push_free(p);
    if (i % 8 != 0)
        return 1;
    /* Likely the slot just freed, dirty: must come back zeroed. */
    unsigned char *q = (i / 8) % 2 ? push_calloc(1, size) : push_calloc(size, 1);
    CHECK_ALLOC(q);
    for (size_t j = 0; j < size; j++)
        if (q[j] != 0) {
            calloc_bad++;
            break;
        }
    if (record)
        remember(q);
    memset(q, 0x5A, size);
    push_free(q);
    return 2;
}

static void *thread_pairs(void *arg)
{
    long id = (long)arg, bad = 0;
    for (long i = 0; i < THREAD_PAIRS; i++) {
        size_t size = 1 + (size_t)((i * 7 + id * 13) % MAX_SMALL);
        unsigned char *p = push_malloc(size);
        CHECK_ALLOC(p);
        memset(p, (int)(id + 1), size);
        unsigned char *q = i % 4 ? push_malloc(size) : push_calloc(size, 1);
        CHECK_ALLOC(q);
        if (i % 4 == 0)
            for (size_t j = 0; j < size; j++)
                bad += q[j] != 0;
        memset(q, (int)(id + 11), size);
        for (size_t j = 0; j < size; j++)
            bad += p[j] != (unsigned char)(id + 1) || q[j] != (unsigned char)(id + 11);
        push_free(p);
        push_free(q);
    }
    return (void *)bad;
}

int main(void)
{
    started();
    set = calloc((size_t)1 << SET_BITS, sizeof *set);
    CHECK_ALLOC(set);

    /* Warm-up: every size once. */
    for (long i = 0; i < MAX_SMALL; i++)
        step(i, 0);
    for (size_t b = 0; b < NBIG; b++)
        step((long)(1000 * b + 999), 0);

    long before = count_maps();
    long pairs = 0;
    for (long i = 0; pairs < PAIRS; i++)
        pairs += step(i, 1);
    long after = count_maps();
    fprintf(stderr, "info: pairs=%ld distinct=%ld maps_before=%ld maps_after=%ld\n",
            pairs, distinct, before, after);

    if (calloc_bad == 0)
        printf("calloc zeroed ok\n");
    else
        printf("calloc zeroed FAILED: %ld dirty objects\n", calloc_bad);
    if (distinct <= DISTINCT_LIMIT)
        printf("reuse ok\n");
    else
        printf("reuse FAILED: %ld distinct addresses\n", distinct);
    long diff = after > before ? after - before : before - after;
    if (diff < MAPS_SLACK)
        printf("maps ok\n");
    else
        printf("maps FAILED: %ld lines before, %ld after\n", before, after);

    pthread_t t[2];
    for (long k = 0; k < 2; k++)
        CHECK(pthread_create(&t[k], NULL, thread_pairs, (void *)k));
    long bad = 0;
    for (int k = 0; k < 2; k++) {
        void *r;
        CHECK(pthread_join(t[k], &r));
        bad += (long)r;
    }
    if (bad == 0)
        printf("threads ok\n");
    else
        printf("threads FAILED: %ld bad bytes\n", bad);
    free(set);
    return 0;
}
