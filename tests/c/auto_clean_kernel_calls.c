/* auto mode, race-free: heap memory another thread allocated and wrote
 * (ordered by create and join) handed to system calls outside the I/O
 * family, each after a synchronization point: getrandom, raw syscall,
 * getrusage, uname, sysinfo, getrlimit, sched_getaffinity, prctl, statfs,
 * waitpid. The kernel honours the thread's rights, so PUSh must prepare
 * each argument or the call fails with EFAULT. */
#include "auto_common.h"
#include <sched.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <sys/wait.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static void *bufs[10];

static void sync_point(void)
{
    pthread_mutex_lock(&m);
    pthread_mutex_unlock(&m);
}

static void *worker(void *arg)
{
    int ok = 0;
    char *b = bufs[0];
    sync_point();
    ok += getrandom(b, 64, 0) == 64;
    sync_point();
    ok += syscall(SYS_getrandom, b + 64, 64, 0) == 64;
    sync_point();
    ok += getrusage(RUSAGE_SELF, bufs[1]) == 0;
    sync_point();
    ok += uname(bufs[2]) == 0;
    sync_point();
    ok += sysinfo(bufs[3]) == 0;
    sync_point();
    ok += getrlimit(RLIMIT_NOFILE, bufs[4]) == 0;
    sync_point();
    ok += sched_getaffinity(0, sizeof(cpu_set_t), bufs[5]) == 0;
    sync_point();
    ok += prctl(PR_GET_NAME, bufs[6]) == 0;
    sync_point();
    ok += statfs("/", bufs[7]) == 0;
    pid_t child = fork();
    if (child == 0)
        _exit(7);
    sync_point();
    int *status = bufs[8];
    ok += waitpid(child, status, 0) == child && WEXITSTATUS(*status) == 7;
    return (void *)(long)ok;
}

int main(void)
{
    started();
    for (int i = 0; i < 10; i++) {
        bufs[i] = calloc(1, 1024);
        CHECK_ALLOC(bufs[i]);
        memset(bufs[i], i, 1024);
    }
    pthread_t t;
    void *ok;
    CHECK(pthread_create(&t, NULL, worker, NULL));
    CHECK(pthread_join(t, &ok));
    printf("result=%ld\n", (long)ok);
    return 0;
}
