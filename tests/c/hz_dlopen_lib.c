/* Library side of hz_dlopen_threads (built by the test with gcc -shared
 * -fPIC, loaded with dlopen, unloaded with dlclose).
 *
 * Its constructor, run by the loader while it holds its own lock, starts a
 * helper thread; hz_run starts THREADS more that take turns under a mutex
 * and a condition variable, each counting in a __thread variable of this
 * library (dynamic TLS, which glibc allocates on first use); hz_stop ends
 * the helper. After dlclose the code of every
 * start routine is gone: a runtime that kept pointers into it, or that
 * interposes the calls made here differently from those made by the main
 * program, breaks. The shared count is a tracked object protected by the
 * mutex, allocated by the constructor and freed by the destructor. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "push.h"

#define THREADS 4
#define ROUNDS 300

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int turn, stop, helper_ready, helper_wakeups;

struct count {
    long n;
};

static struct count *counter;
static __thread long mine;
static pthread_t helper;

static void die(const char *what, int rc)
{
    if (rc != 0) {
        fprintf(stderr, "hz_dlopen_lib: %s failed (%d)\n", what, rc);
        exit(1);
    }
}

static void *helper_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&m);
    helper_ready = 1;
    pthread_cond_broadcast(&c);
    while (!stop) {
        pthread_cond_wait(&c, &m);
        helper_wakeups++;
    }
    pthread_mutex_unlock(&m);
    return NULL;
}

__attribute__((constructor)) static void lib_init(void)
{
    turn = stop = helper_ready = helper_wakeups = 0;
    counter = push_malloc(sizeof *counter);
    if (!counter)
        die("push_malloc", -1);
    counter->n = 0;
    die("push_protected_by", push_protected_by(counter, &m));
    die("pthread_create (constructor)", pthread_create(&helper, NULL, helper_main, NULL));
}

__attribute__((destructor)) static void lib_fini(void)
{
    pthread_mutex_lock(&m);
    push_free(counter);
    counter = NULL;
    pthread_mutex_unlock(&m);
}

static void *worker(void *arg)
{
    int me = (int)(long)arg;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&m);
        while (turn != me)
            pthread_cond_wait(&c, &m);
        counter->n++;
        mine++;
        turn = (turn + 1) % THREADS;
        pthread_cond_broadcast(&c);
        pthread_mutex_unlock(&m);
    }
    return (void *)mine;
}

/* Runs the workers; returns the shared count, or -1 if a thread's own
 * __thread count is wrong. */
long hz_run(void)
{
    pthread_t t[THREADS];
    pthread_mutex_lock(&m); /* the helper waits on `c` before any worker runs */
    while (!helper_ready)
        pthread_cond_wait(&c, &m);
    pthread_mutex_unlock(&m);
    for (long i = 0; i < THREADS; i++)
        die("pthread_create", pthread_create(&t[i], NULL, worker, (void *)i));
    long bad = 0;
    for (int i = 0; i < THREADS; i++) {
        void *ret;
        die("pthread_join", pthread_join(t[i], &ret));
        bad += (long)ret != ROUNDS;
    }
    pthread_mutex_lock(&m);
    long n = counter->n;
    pthread_mutex_unlock(&m);
    return bad ? -1 : n;
}

/* Stops and joins the helper; returns whether it woke (it was waiting). */
int hz_stop(void)
{
    pthread_mutex_lock(&m);
    stop = 1;
    pthread_cond_broadcast(&c);
    pthread_mutex_unlock(&m);
    die("pthread_join (helper)", pthread_join(helper, NULL));
    return helper_wakeups > 0;
}
