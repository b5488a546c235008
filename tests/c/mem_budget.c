/* The mapping budget: 20,000 tracked 32-byte objects whose policies
 * alternate between two that always get different protection keys
 * (protected_by(lock) for even i, readonly for odd i), used correctly by
 * two threads: both increment the even objects under the lock and read the
 * odd ones. Their keys split the kernel's mappings once the second thread
 * has touched them. Then main allocates 2,000 more objects the same way and
 * uses them. Run with PUSH_OPTIONS=max_maps=3000, PUSh must stay under 3000
 * memory mappings (refusing key changes past its limit and allocating the
 * late objects untracked), warn once, and let the program run normally
 * (policy calls on untracked objects included). Objects stay live until exit.
 *
 * Output: "started", "objects=22000 policy_errors=0 checksum=N", and
 * "maps=N" (the lines of /proc/self/maps at the end, while every object is
 * live). No report expected. */
#include "common.h"

#include <stdint.h>

#define NOBJ 20000
#define NLATE 2000 /* allocated after the first objects settled on their keys */
#define PASSES 5

struct obj {
    uint64_t value;
    uint64_t index;
    uint64_t pad[2]; /* 32 bytes */
};

static struct obj *objs[NOBJ];
static struct obj *late[NLATE];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* Both threads: increment the even objects under the lock, read the odd
 * (readonly) ones without it. */
static uint64_t work(uint64_t who)
{
    uint64_t seen = 0;
    for (int p = 0; p < PASSES; p++) {
        CHECK(pthread_mutex_lock(&lock));
        for (int i = 0; i < NOBJ; i += 2)
            objs[i]->value += who + (uint64_t)i;
        CHECK(pthread_mutex_unlock(&lock));
        for (int i = 1; i < NOBJ; i += 2)
            seen += objs[i]->value + objs[i]->index;
    }
    return seen;
}

static void *worker(void *arg)
{
    (void)arg;
    return (void *)(uintptr_t)work(1);
}

int main(void)
{
    started();
    long policy_errors = 0;
    for (int i = 0; i < NOBJ; i++) {
        objs[i] = push_malloc(sizeof(struct obj));
        CHECK_ALLOC(objs[i]);
        objs[i]->value = (uint64_t)i * 3;
        objs[i]->index = (uint64_t)i;
        objs[i]->pad[0] = objs[i]->pad[1] = 0;
        /* Not CHECKed: a nonzero return is counted and printed. */
        int rc = i % 2 == 0 ? push_protected_by(objs[i], &lock) : push_readonly(objs[i]);
        if (rc != 0)
            policy_errors++;
    }

    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    uint64_t seen = work(2);
    void *wseen;
    CHECK(pthread_join(t, &wseen));

    for (int i = 0; i < NLATE; i++) {
        late[i] = push_malloc(sizeof(struct obj));
        CHECK_ALLOC(late[i]);
        late[i]->value = (uint64_t)i * 5;
        late[i]->index = (uint64_t)i;
        late[i]->pad[0] = late[i]->pad[1] = 0;
        int rc = i % 2 == 0 ? push_protected_by(late[i], &lock) : push_readonly(late[i]);
        if (rc != 0)
            policy_errors++;
    }
    CHECK(pthread_mutex_lock(&lock));
    for (int i = 0; i < NLATE; i += 2)
        late[i]->value += 7;
    CHECK(pthread_mutex_unlock(&lock));

    uint64_t checksum = seen + (uint64_t)(uintptr_t)wseen;
    for (int i = 1; i < NLATE; i += 2)
        checksum += late[i]->value;
    CHECK(pthread_mutex_lock(&lock));
    for (int i = 0; i < NLATE; i += 2)
        checksum = checksum * 31 + late[i]->value;
    CHECK(pthread_mutex_unlock(&lock));
    CHECK(pthread_mutex_lock(&lock));
    for (int i = 0; i < NOBJ; i++)
        checksum = checksum * 31 + objs[i]->value + objs[i]->pad[0] + objs[i]->pad[1];
    CHECK(pthread_mutex_unlock(&lock));
    printf("objects=%d policy_errors=%ld checksum=%llu\n", NOBJ + NLATE, policy_errors,
           (unsigned long long)checksum);
    printf("maps=%ld\n", count_maps());
    return 0;
}
