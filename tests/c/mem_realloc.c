/* push_realloc keeps contents and policy. An object of 24 bytes, filled
 * with a pattern and protected_by(lock), is resized by main under the lock
 * to 100, 5000 and 100000 bytes, then shrunk to 3000 and 40: after each
 * resize main checks the common prefix and fills the new tail, and a second
 * thread, woken through a condition variable, checks the whole object and
 * bumps the counter in its first 8 bytes, under the lock and with no new
 * annotation (the policy must have survived the move).
 *
 *   mem_realloc         clean
 *   mem_realloc racy    after the resize to 5000 the second thread also
 *                       writes one byte without the lock (RACE:after_realloc;
 *                       it writes the value already there, so the output
 *                       does not change)
 *
 * Output: "started", one "realloc A->B ok" line per resize, and
 * "result=10 errors=0". */
#include "common.h"

#include <stdint.h>

static const size_t sizes[] = {24, 100, 5000, 100000, 3000, 40};
#define NSTEPS (sizeof sizes / sizeof sizes[0] - 1)
#define RACY_STEP 2 /* the step that resizes to 5000 */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
/* Plain globals, under `lock`. */
static unsigned char *obj;
static size_t obj_size;
static size_t step, ack;
static long errors;
static int racy;

static unsigned char pattern(size_t j)
{
    return (unsigned char)(j * 7 + 3);
}

static uint64_t get_counter(const unsigned char *p)
{
    uint64_t c;
    memcpy(&c, p, sizeof c);
    return c;
}

static void set_counter(unsigned char *p, uint64_t c)
{
    memcpy(p, &c, sizeof c);
}

/* Bytes [from, to) hold the pattern. */
static int pattern_ok(const unsigned char *p, size_t from, size_t to)
{
    for (size_t j = from < 8 ? 8 : from; j < to; j++)
        if (p[j] != pattern(j))
            return 0;
    return 1;
}

static void *worker(void *arg)
{
    (void)arg;
    for (size_t k = 1; k <= NSTEPS; k++) {
        CHECK(pthread_mutex_lock(&lock));
        while (step < k)
            CHECK(pthread_cond_wait(&cond, &lock));
        if (racy && k == RACY_STEP) {
            unsigned char *p = obj;
            CHECK(pthread_mutex_unlock(&lock));
            p[200] = pattern(200); /* RACE:after_realloc */
            CHECK(pthread_mutex_lock(&lock));
        }
        if (!pattern_ok(obj, 0, obj_size) || get_counter(obj) != 2 * k - 1)
            errors++;
        set_counter(obj, get_counter(obj) + 1);
        ack = k;
        CHECK(pthread_cond_broadcast(&cond));
        CHECK(pthread_mutex_unlock(&lock));
    }
    return NULL;
}

int main(int argc, char **argv)
{
    racy = argc > 1 && strcmp(argv[1], "racy") == 0;
    started();
    obj = push_malloc(sizes[0]);
    CHECK_ALLOC(obj);
    obj_size = sizes[0];
    set_counter(obj, 0);
    for (size_t j = 8; j < obj_size; j++)
        obj[j] = pattern(j);
    CHECK(push_protected_by(obj, &lock));

    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    for (size_t k = 1; k <= NSTEPS; k++) {
        CHECK(pthread_mutex_lock(&lock));
        size_t old = obj_size, new = sizes[k];
        int ok = pattern_ok(obj, 0, old) && get_counter(obj) == 2 * (k - 1);
        unsigned char *p = push_realloc(obj, new);
        CHECK_ALLOC(p);
        size_t keep = old < new ? old : new;
        ok = ok && pattern_ok(p, 0, keep) && get_counter(p) == 2 * (k - 1);
        for (size_t j = keep; j < new; j++)
            p[j] = pattern(j);
        set_counter(p, get_counter(p) + 1);
        obj = p;
        obj_size = new;
        step = k;
        CHECK(pthread_cond_broadcast(&cond));
        while (ack < k)
            CHECK(pthread_cond_wait(&cond, &lock));
        ok = ok && pattern_ok(obj, 0, obj_size) && get_counter(obj) == 2 * k;
        printf("realloc %zu->%zu %s\n", old, new, ok ? "ok" : "FAILED");
        CHECK(pthread_mutex_unlock(&lock));
    }
    CHECK(pthread_join(t, NULL));

    CHECK(pthread_mutex_lock(&lock));
    printf("result=%llu errors=%ld\n", (unsigned long long)get_counter(obj), errors);
    push_free(obj);
    CHECK(pthread_mutex_unlock(&lock));
    return 0;
}
