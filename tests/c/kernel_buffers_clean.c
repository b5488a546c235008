/* Race-free: tracked objects handed to system calls by a thread allowed
 * to access them, each call after a synchronization point (under the
 * mprotect backend a thread's windows close there, so the buffer's pages
 * are closed when the call starts). The kernel honours the thread's
 * rights: without PUSh preparing each buffer the calls fail with EFAULT.
 * Every call must succeed and nothing be reported. */
#include "common.h"
#include <sched.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/utsname.h>
#include <sys/wait.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static int ok;

static void sync_point(void)
{
    pthread_mutex_lock(&m);
    pthread_mutex_unlock(&m);
}

static void expect(int good, const char *what)
{
    if (good)
        ok++;
    else
        printf("%s failed: %s\n", what, strerror(errno));
    sync_point();
}

static void *alloc(size_t n)
{
    void *p = push_malloc(n);
    CHECK_ALLOC(p);
    memset(p, 0, n);
    sync_point();
    return p;
}

int main(void)
{
    started();
    char *buf = alloc(4096);
    int fd = open("/dev/zero", O_RDONLY);
    expect(read(fd, buf, 64) == 64, "read");
    expect(getrandom(buf, 64, 0) == 64, "getrandom");
    expect(syscall(SYS_getrandom, buf, 64, 0) == 64, "syscall(SYS_getrandom)");
    expect(getrusage(RUSAGE_SELF, alloc(sizeof(struct rusage))) == 0, "getrusage");
    expect(uname(alloc(sizeof(struct utsname))) == 0, "uname");
    expect(sysinfo(alloc(sizeof(struct sysinfo))) == 0, "sysinfo");
    expect(times(alloc(sizeof(struct tms))) != (clock_t)-1, "times");
    expect(getrlimit(RLIMIT_NOFILE, alloc(sizeof(struct rlimit))) == 0, "getrlimit");
    expect(sched_getaffinity(0, sizeof(cpu_set_t), alloc(sizeof(cpu_set_t))) == 0,
           "sched_getaffinity");
    expect(prctl(PR_GET_NAME, buf) == 0, "prctl(PR_GET_NAME)");
    expect(pthread_getname_np(pthread_self(), buf, 64) == 0, "pthread_getname_np");
    expect(statfs("/", alloc(sizeof(struct statfs))) == 0, "statfs");
    struct flock *lk = alloc(sizeof *lk);
    lk->l_type = F_RDLCK;
    lk->l_whence = SEEK_SET;
    int tmp = open("/proc/self/exe", O_RDONLY);
    sync_point();
    expect(fcntl(tmp, F_GETLK, lk) == 0, "fcntl(F_GETLK)");
    int ep = epoll_create1(0), pfd[2];
    CHECK_ERRNO(pipe(pfd));
    struct epoll_event *ev = alloc(sizeof *ev);
    ev->events = EPOLLIN;
    sync_point();
    expect(epoll_ctl(ep, EPOLL_CTL_ADD, pfd[0], ev) == 0, "epoll_ctl");
    int *status = alloc(sizeof *status);
    pid_t child = fork();
    if (child == 0)
        _exit(7);
    expect(waitpid(child, status, 0) == child && WEXITSTATUS(*status) == 7, "waitpid");
    printf("result=%d\n", ok);
    return 0;
}
