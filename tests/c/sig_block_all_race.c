/* A thread that blocks every signal (as liblzma's workers and many thread
 * pools do) and then races on a tracked object: the runtime must still see
 * the fault (SIGSEGV is never really blocked while it runs), report the
 * race instead of the process dying, and the thread must still see the
 * mask it asked for. */
#include "common.h"
#include <signal.h>

static volatile long *obj;

static void *intruder(void *arg)
{
    (void)arg;
    sigset_t all, old, now;
    sigfillset(&all);
    CHECK(pthread_sigmask(SIG_BLOCK, &all, &old));
    CHECK(pthread_sigmask(SIG_BLOCK, NULL, &now));
    printf("blocked segv=%d trap=%d usr1=%d was_segv=%d\n", sigismember(&now, SIGSEGV),
           sigismember(&now, SIGTRAP), sigismember(&now, SIGUSR1), sigismember(&old, SIGSEGV));
    obj[1] = 5; /* RACE:write */
    CHECK(pthread_sigmask(SIG_SETMASK, &old, NULL));
    CHECK(sigprocmask(SIG_BLOCK, NULL, &now));
    printf("after segv=%d\n", sigismember(&now, SIGSEGV));
    return NULL;
}

int main(void)
{
    started();
    obj = push_calloc(2, sizeof(long));
    CHECK_ALLOC(obj);
    obj[0] = 1;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, intruder, NULL));
    CHECK(pthread_join(t, NULL));
    printf("result=%ld,%ld\n", obj[0], obj[1]);
    return 0;
}
