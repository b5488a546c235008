/* A process-shared mutex and condition variable in a MAP_SHARED mapping,
 * used across fork: parent and child take turns ROUNDS times each. The
 * lock and condvar words are shared between two address spaces (each with
 * its own runtime, if any), so whatever a runtime keeps about them per
 * process sees only half of the history, and a futex wake may come from
 * the other process. The parent also has a second thread taking a private
 * mutex throughout (its stop flag is a tracked object protected by that
 * mutex), so the fork happens in a multi-threaded process.
 * Output: the final count and the child's exit status. */
#include "common.h"

#include <sys/mman.h>
#include <sys/wait.h>

#define ROUNDS 500

struct shared {
    pthread_mutex_t m;
    pthread_cond_t c;
    int turn; /* 0: parent, 1: child */
    long count;
};

static pthread_mutex_t local = PTHREAD_MUTEX_INITIALIZER;
static int *local_stop; /* tracked, protected by `local` */

static void *busy(void *arg)
{
    (void)arg;
    for (;;) {
        CHECK(pthread_mutex_lock(&local));
        int stop = *local_stop;
        CHECK(pthread_mutex_unlock(&local));
        if (stop)
            return NULL;
        sched_yield();
    }
}

static void play(struct shared *s, int me)
{
    for (int i = 0; i < ROUNDS; i++) {
        CHECK(pthread_mutex_lock(&s->m));
        while (s->turn != me)
            CHECK(pthread_cond_wait(&s->c, &s->m));
        s->count++;
        s->turn = !me;
        CHECK(pthread_cond_signal(&s->c));
        CHECK(pthread_mutex_unlock(&s->m));
    }
}

int main(void)
{
    started();
    struct shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    pthread_mutexattr_t ma;
    CHECK(pthread_mutexattr_init(&ma));
    CHECK(pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED));
    CHECK(pthread_mutex_init(&s->m, &ma));
    pthread_condattr_t ca;
    CHECK(pthread_condattr_init(&ca));
    CHECK(pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED));
    CHECK(pthread_cond_init(&s->c, &ca));
    s->turn = 0;
    s->count = 0;

    local_stop = push_malloc(sizeof *local_stop);
    CHECK_ALLOC(local_stop);
    *local_stop = 0;
    CHECK(push_protected_by(local_stop, &local));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, busy, NULL));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        play(s, 1);
        exit(0);
    }
    play(s, 0);
    int status;
    if (waitpid(pid, &status, 0) != pid) {
        perror("waitpid");
        return 1;
    }
    CHECK(pthread_mutex_lock(&local));
    *local_stop = 1;
    CHECK(pthread_mutex_unlock(&local));
    CHECK(pthread_join(t, NULL));
    CHECK(pthread_mutex_lock(&s->m));
    printf("count=%ld turn=%d child_exit=%d\n", s->count, s->turn,
           WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    CHECK(pthread_mutex_unlock(&s->m));
    return 0;
}
