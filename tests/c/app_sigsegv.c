/* An application with its own SIGSEGV handler (SA_SIGINFO) that protects a
 * page of its own, touches it and recovers with siglongjmp, several times,
 * before and after one real race on a tracked object. The runtime must
 * leave the app's faults to the app and report exactly one data race. */
#include "common.h"
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

static char *page;
static size_t page_size;
static sigjmp_buf recover;
static volatile sig_atomic_t app_faults;
static volatile long *obj;

static void on_segv(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    char *addr = si->si_addr;
    if (sig == SIGSEGV && addr >= page && addr < page + page_size) {
        app_faults++;
        siglongjmp(recover, 1);
    }
    /* Not ours: the runtime leaked a fault to us. Die loudly. */
    static const char msg[] = "app_sigsegv: unexpected SIGSEGV\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
        /* nothing more to do */
    }
    signal(SIGSEGV, SIG_DFL);
}

static void touch_own_page(int times)
{
    for (int i = 0; i < times; i++) {
        if (sigsetjmp(recover, 1) == 0) {
            ((volatile char *)page)[i] = 1; /* faults: PROT_NONE */
            fprintf(stderr, "app_sigsegv: store to PROT_NONE page succeeded\n");
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
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    page = mmap(NULL, page_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    CHECK_ERRNO(sigaction(SIGSEGV, &sa, NULL));

    touch_own_page(3);

    obj = push_calloc(2, sizeof(long));
    CHECK_ALLOC(obj);
    obj[0] = 1;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, intruder, NULL));
    CHECK(pthread_join(t, NULL));

    touch_own_page(4);

    /* The app may also mprotect the page back and use it. */
    if (mprotect(page, page_size, PROT_READ | PROT_WRITE) != 0) {
        perror("mprotect");
        return 1;
    }
    page[0] = 42;

    printf("result=%ld,%ld faults=%d page=%d\n", obj[0], obj[1],
           (int)app_faults, page[0]);
    return 0;
}
