/* A program that installs its SIGSEGV handler with System V signal()
 * semantics (__sysv_signal: what signal() is under strict -std=c99; zstd
 * does this), recovering from its own PROT_NONE page several times, around
 * one real race on a tracked object. The runtime must keep its handler,
 * chain the program's faults to the program's handler (reset after each
 * call, as SysV semantics say, so it installs itself again) and report
 * exactly one data race. */
#include "common.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

extern __sighandler_t __sysv_signal(int sig, __sighandler_t handler);

static char *page;
static sigjmp_buf recover;
static volatile sig_atomic_t app_faults;
static volatile long *obj;

static void on_segv(int sig)
{
    (void)sig;
    app_faults++;
    siglongjmp(recover, 1);
}

static void touch_own_page(int times)
{
    for (int i = 0; i < times; i++) {
        __sysv_signal(SIGSEGV, on_segv);
        if (sigsetjmp(recover, 1) == 0) {
            ((volatile char *)page)[i] = 1; /* faults: PROT_NONE */
            fprintf(stderr, "sig_sysv_race: store to PROT_NONE page succeeded\n");
            exit(1);
        }
    }
}

static void *intruder(void *arg)
{
    (void)arg;
    obj[1] = 5; /* RACE:write */
    return NULL;
}

int main(void)
{
    started();
    page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    touch_own_page(3);
    obj = push_calloc(2, sizeof(long));
    CHECK_ALLOC(obj);
    obj[0] = 1;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, intruder, NULL));
    CHECK(pthread_join(t, NULL));
    touch_own_page(2);
    printf("result=%ld,%ld faults=%d\n", obj[0], obj[1], (int)app_faults);
    return 0;
}
