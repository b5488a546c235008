/* Many small tracked objects: 200,000 objects of 24-64 bytes (sizes from a
 * fixed-seed LCG), object i protected_by mutex i % 64, allocated shard by
 * shard (every object of a lock together). Four threads do
 * rounds of updates: each round a thread takes every lock once (in an order
 * of its own) and updates every object that lock protects. Between two
 * phases of rounds (pthread barriers) main frees a quarter of the objects
 * and allocates replacements of new sizes (contents carried over), under
 * their locks. Finally main checks every object under its lock and prints
 * a checksum that does not depend on the interleaving (updates commute).
 *
 *   mem_many_objects [ROUNDS]     rounds per phase (default 2)
 *
 * Output: "started", "objects=200000 replaced=50000 updates=N", and
 * "checksum=0x..."; exit 0. No report expected. */
#include "common.h"

#include <stdint.h>

#ifndef NOBJ
#define NOBJ 200000 /* -DNOBJ=... only for experiments */
#endif
#define NLOCKS 64
#define NTHREADS 4
#define MIN_SIZE 24
#define MAX_SIZE 64
#define REPLACE_EVERY 4 /* objects i with i % 4 == 1 are replaced */

struct obj {
    uint64_t sum;     /* sum of the update terms */
    uint32_t count;   /* number of updates */
    uint32_t size;    /* allocated size, 24..64 */
    uint8_t payload[]; /* size - 16 bytes (8..48) */
};

static struct obj **objs; /* plain memory: main writes it only between phases */
static pthread_mutex_t locks[NLOCKS];
static pthread_barrier_t phase_barrier;
static int rounds = 2;
static uint32_t lcg_state = 12345u;

static uint32_t lcg(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state >> 8;
}

static uint32_t next_size(void)
{
    return MIN_SIZE + lcg() % (MAX_SIZE - MIN_SIZE + 1);
}

static uint8_t initial_byte(long i, uint32_t j)
{
    return (uint8_t)(i * 7 + j * 3 + 1);
}

static struct obj *new_obj(long i, uint32_t size)
{
    struct obj *o = push_malloc(size);
    CHECK_ALLOC(o);
    o->sum = 0;
    o->count = 0;
    o->size = size;
    for (uint32_t j = 0; j < size - sizeof(struct obj); j++)
        o->payload[j] = initial_byte(i, j);
    return o;
}

/* One update: commutative, so the result does not depend on the order. */
static void update(struct obj *o, long i, int thread, int round)
{
    uint32_t len = o->size - (uint32_t)sizeof(struct obj);
    o->sum += (uint64_t)(i * 3 + thread * 5 + round + 1);
    o->count++;
    o->payload[(i + thread) % len] += 1;
}

static void run_rounds(int thread, int phase)
{
    for (int r = 0; r < rounds; r++) {
        for (int k = 0; k < NLOCKS; k++) {
            int l = (k + thread * (NLOCKS / NTHREADS)) % NLOCKS;
            CHECK(pthread_mutex_lock(&locks[l]));
            for (long i = l; i < NOBJ; i += NLOCKS)
                update(objs[i], i, thread, phase * 100 + r);
            CHECK(pthread_mutex_unlock(&locks[l]));
        }
    }
}

static void *worker(void *arg)
{
    int thread = (int)(long)arg;
    run_rounds(thread, 0);
    pthread_barrier_wait(&phase_barrier); /* main replaces objects */
    pthread_barrier_wait(&phase_barrier);
    run_rounds(thread, 1);
    return NULL;
}

/* A new object of a new size for object i, with its state carried over
 * (the common prefix of the payload; the rest initial). Main holds i's lock. */
static void replace(long i)
{
    struct obj *old = objs[i];
    struct obj *o = new_obj(i, next_size());
    o->sum = old->sum;
    o->count = old->count;
    uint32_t old_len = old->size - (uint32_t)sizeof(struct obj);
    uint32_t len = o->size - (uint32_t)sizeof(struct obj);
    for (uint32_t j = 0; j < len && j < old_len; j++)
        o->payload[j] = old->payload[j];
    /* The updates that landed past the new end move to byte 0. */
    for (uint32_t j = len; j < old_len; j++)
        o->payload[0] += (uint8_t)(old->payload[j] - initial_byte(i, j));
    CHECK(push_protected_by(o, &locks[i % NLOCKS]));
    push_free(old);
    objs[i] = o;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        rounds = atoi(argv[1]);
    started();
    objs = malloc(NOBJ * sizeof *objs);
    CHECK_ALLOC(objs);
    for (int l = 0; l < NLOCKS; l++)
        CHECK(pthread_mutex_init(&locks[l], NULL));
    /* Allocated shard by shard (all objects of a lock together, as a
     * sharded table fills), so neighbouring objects share a key and the
     * kernel's mapping limit holds 200,000 of them. */
    for (int l = 0; l < NLOCKS; l++)
        for (long i = l; i < NOBJ; i += NLOCKS) {
            objs[i] = new_obj(i, next_size());
            CHECK(push_protected_by(objs[i], &locks[l]));
        }
    CHECK(pthread_barrier_init(&phase_barrier, NULL, NTHREADS + 1));

    pthread_t t[NTHREADS];
    for (long k = 0; k < NTHREADS; k++)
        CHECK(pthread_create(&t[k], NULL, worker, (void *)k));
    pthread_barrier_wait(&phase_barrier);
    long replaced = 0;
    for (int l = 0; l < NLOCKS; l++) {
        CHECK(pthread_mutex_lock(&locks[l]));
        for (long i = l; i < NOBJ; i += NLOCKS)
            if (i % REPLACE_EVERY == 1) {
                replace(i);
                replaced++;
            }
        CHECK(pthread_mutex_unlock(&locks[l]));
    }
    pthread_barrier_wait(&phase_barrier);
    for (int k = 0; k < NTHREADS; k++)
        CHECK(pthread_join(t[k], NULL));

    /* Check and sum, in index order, under each object's lock. */
    uint64_t checksum = 1469598103934665603ull, updates = 0;
    long bad = 0;
    for (long i = 0; i < NOBJ; i++) {
        pthread_mutex_t *m = &locks[i % NLOCKS];
        CHECK(pthread_mutex_lock(m));
        struct obj *o = objs[i];
        uint32_t len = o->size - (uint32_t)sizeof(struct obj);
        uint8_t extra = 0;
        for (uint32_t j = 0; j < len; j++) {
            extra += (uint8_t)(o->payload[j] - initial_byte(i, j));
            checksum = (checksum ^ o->payload[j]) * 1099511628211ull;
        }
        if (o->count != (uint32_t)(2 * rounds * NTHREADS) ||
            extra != (uint8_t)o->count || o->size < MIN_SIZE || o->size > MAX_SIZE)
            bad++;
        checksum = (checksum ^ o->sum) * 1099511628211ull;
        checksum = (checksum ^ o->size) * 1099511628211ull;
        updates += o->count;
        CHECK(pthread_mutex_unlock(m));
    }
    for (int l = 0; l < NLOCKS; l++) {
        CHECK(pthread_mutex_lock(&locks[l]));
        for (long i = l; i < NOBJ; i += NLOCKS)
            push_free(objs[i]);
        CHECK(pthread_mutex_unlock(&locks[l]));
    }
    free(objs);
    printf("objects=%d replaced=%ld updates=%llu bad=%ld\n", NOBJ, replaced,
           (unsigned long long)updates, bad);
    printf("checksum=0x%016llx\n", (unsigned long long)checksum);
    return 0;
}
