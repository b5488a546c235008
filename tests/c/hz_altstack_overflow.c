/* Stack overflow recovered on an alternate signal stack: a thread with a
 * small stack installs a sigaltstack and a SIGSEGV handler (SA_ONSTACK)
 * that siglongjmps out, then recurses until it hits its guard page, twice.
 * The fault arrives with no usable stack: a runtime that handles SIGSEGV
 * itself must run on the alternate stack too, must not take the fault for
 * one of its own, must hand it to the program's handler, and must survive
 * the handler never returning. The handler counts in a tracked object
 * private to the faulting thread. Then the main thread does the same with
 * a NULL read. Output: how many faults were recovered. */
#include "common.h"

#include <setjmp.h>
#include <signal.h>

#define ALT_SIZE (64 * 1024)
#define THREAD_STACK (256 * 1024)

static __thread sigjmp_buf landing;
struct stats {
    int caught, recovered;
};
static __thread volatile struct stats *st; /* tracked, private to its thread */
static volatile long depth_limit = 1L << 40; /* never reached */

static void on_segv(int sig, siginfo_t *info, void *ctx)
{
    (void)sig, (void)info, (void)ctx;
    st->caught++;
    siglongjmp(landing, 1);
}

static int recurse(volatile char *prev, long depth)
{
    volatile char frame[512];
    frame[0] = prev ? prev[0] + 1 : 0;
    if (depth >= depth_limit)
        return frame[0];
    return recurse(frame, depth + 1) + frame[1]; /* not a tail call */
}

static void with_alt_stack(void)
{
    st = push_calloc(1, sizeof *st);
    CHECK_ALLOC(st);
    stack_t ss = {.ss_sp = malloc(ALT_SIZE), .ss_size = ALT_SIZE, .ss_flags = 0};
    CHECK_ALLOC(ss.ss_sp);
    CHECK_ERRNO(sigaltstack(&ss, NULL));
}

static void *overflower(void *arg)
{
    (void)arg;
    with_alt_stack();
    for (int i = 0; i < 2; i++) {
        if (sigsetjmp(landing, 1) == 0)
            recurse(NULL, 0);
        else
            st->recovered++;
    }
    return (void *)st; /* joined: the object passes to the joiner */
}

int main(void)
{
    started();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    CHECK_ERRNO(sigaction(SIGSEGV, &sa, NULL));

    pthread_attr_t a;
    CHECK(pthread_attr_init(&a));
    CHECK(pthread_attr_setstacksize(&a, THREAD_STACK));
    pthread_t t;
    void *ret;
    CHECK(pthread_create(&t, &a, overflower, NULL));
    CHECK(pthread_join(t, &ret));
    struct stats *ts = ret;
    printf("thread_recovered=%d caught=%d\n", ts->recovered, ts->caught);

    with_alt_stack();
    if (sigsetjmp(landing, 1) == 0) {
        volatile int *p = NULL;
        (void)*p;
        printf("not reached\n");
    } else {
        st->recovered++;
        printf("main_recovered=%d caught=%d\n", st->recovered, st->caught);
    }
    return 0;
}
