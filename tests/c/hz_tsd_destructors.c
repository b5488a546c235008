/* Thread-specific data destructors, run by glibc after the start routine
 * has returned (so after anything a runtime does at "thread exit"), in
 * rounds: a destructor that sets its key again is called again, up to
 * PTHREAD_DESTRUCTOR_ITERATIONS (4) rounds. Key `staged` holds a tracked
 * object private to its thread; its destructor reads it, frees it with
 * plain free() and sets a fresh one twice (3 calls per thread). Key
 * `stubborn` always sets itself again (4 calls: glibc gives up). Half the
 * threads return from their start routine, half call pthread_exit. The main
 * thread's values are set too and left alone (its destructors do not run
 * at exit). Output: destructor calls per key and the values seen. */
#include "common.h"

#define THREADS 6
#define STAGES 3

static pthread_key_t staged, stubborn;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static long staged_calls, stubborn_calls, stage_sum;
static char stubborn_token;

static void set_stage(int stage)
{
    int *v = push_malloc(sizeof *v); /* private to this thread */
    CHECK_ALLOC(v);
    *v = stage;
    CHECK(pthread_setspecific(staged, v));
}

static void staged_dtor(void *p)
{
    int stage = *(int *)p;
    free(p);
    CHECK(pthread_mutex_lock(&m));
    staged_calls++;
    stage_sum += stage;
    CHECK(pthread_mutex_unlock(&m));
    if (stage < STAGES)
        set_stage(stage + 1);
}

static void stubborn_dtor(void *p)
{
    CHECK(pthread_mutex_lock(&m));
    stubborn_calls++;
    CHECK(pthread_mutex_unlock(&m));
    CHECK(pthread_setspecific(stubborn, p)); /* glibc stops after 4 rounds */
}

static void *worker(void *arg)
{
    (void)arg;
    set_stage(1);
    CHECK(pthread_setspecific(stubborn, &stubborn_token));
    return NULL;
}

static void *exits_early(void *arg)
{
    worker(arg);
    pthread_exit(NULL); /* destructors run from pthread_exit's unwinding */
}

int main(void)
{
    started();
    CHECK(pthread_key_create(&staged, staged_dtor));
    CHECK(pthread_key_create(&stubborn, stubborn_dtor));
    worker(NULL);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, i % 2 ? exits_early : worker, NULL));
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL));
    CHECK(pthread_mutex_lock(&m));
    printf("staged_calls=%ld stage_sum=%ld stubborn_calls=%ld\n", staged_calls, stage_sum,
           stubborn_calls);
    CHECK(pthread_mutex_unlock(&m));
    int *mine = pthread_getspecific(staged);
    printf("main_stage=%d\n", mine ? *mine : -1);
    CHECK(pthread_key_delete(staged));
    CHECK(pthread_key_delete(stubborn));
    push_free(mine);
    return 0;
}
