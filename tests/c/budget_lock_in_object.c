/* The mprotect backend's cost budget (mprotect_budget): 64 objects, each
 * protected by the mutex inside it, updated by two threads for 1.5 s
 * (phase 1: under mprotect each critical section opens and closes its
 * object, far more than a 1% budget, so objects get suspended: open to
 * every thread until the sweeper closes them again). Phase 2: one
 * thread writes object 0 for about a second, without its lock ("racy"
 * argument) or with it ("clean"); nobody else touches it. Once the
 * sweeper has closed object 0 again, the unlocked write faults and is
 * reported: a race that keeps happening is still caught.
 * Usage: budget_lock_in_object racy|clean
 * Output: result=<whether the counters add up> (deterministic). */
#include "common.h"

#define OBJECTS 64
#define PHASE1_NS 1500000000L

struct counter {
    pthread_mutex_t m;
    long n;
};

static struct counter *objs[OBJECTS];
static long done[2];
static int racy;

static long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void *phase1(void *arg)
{
    long me = (long)arg, end = now_ns() + PHASE1_NS, i = 0;
    for (; i < 1000 || (i % 1000 != 0 || now_ns() < end); i++) {
        struct counter *c = objs[(i * 7 + me) % OBJECTS];
        pthread_mutex_lock(&c->m);
        c->n++;
        pthread_mutex_unlock(&c->m);
    }
    done[me] = i;
    return NULL;
}

static void *phase2(void *arg)
{
    (void)arg;
    struct counter *c = objs[0];
    for (long i = 0; i < 1000; i++) {
        if (racy) {
            c->n = i; /* RACE:write */
        } else {
            pthread_mutex_lock(&c->m);
            c->n = i;
            pthread_mutex_unlock(&c->m);
        }
        usleep(1000);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    started();
    racy = argc > 1 && strcmp(argv[1], "racy") == 0;
    for (int i = 0; i < OBJECTS; i++) {
        objs[i] = push_malloc(sizeof *objs[i]);
        CHECK_ALLOC(objs[i]);
        CHECK(pthread_mutex_init(&objs[i]->m, NULL));
        objs[i]->n = 0;
        CHECK(push_protected_by(objs[i], &objs[i]->m));
    }
    pthread_t t[2];
    for (long i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, phase1, (void *)i));
    long total = 0;
    for (int i = 0; i < 2; i++)
        CHECK(pthread_join(t[i], NULL));
    for (int i = 0; i < OBJECTS; i++) {
        pthread_mutex_lock(&objs[i]->m);
        total += objs[i]->n;
        pthread_mutex_unlock(&objs[i]->m);
    }
    printf("result=%d\n", total == done[0] + done[1]);
    fflush(stdout);
    CHECK(pthread_create(&t[0], NULL, phase2, NULL));
    CHECK(pthread_join(t[0], NULL));
    return 0;
}
