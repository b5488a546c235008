/* auto mode, race-free: heap memory another thread allocated and wrote
 * (hand-off ordered by create) handed to ioctl(FIONREAD), a request with
 * no size in its number, and to getdents64 by a worker thread. The kernel
 * honours the thread's rights, so PUSh must open the memory for the call
 * or it fails with EFAULT. Output: result=<bytes>,<entries found> */
#include "auto_common.h"
#include <dirent.h>
#include <sys/ioctl.h>

struct shared {
    int *fds;
    int *avail;
    char *dirbuf;
};

static void *worker(void *arg)
{
    struct shared *s = arg;
    CHECK_ERRNO(write(s->fds[1], "hello", 5) == 5 ? 0 : -1);
    CHECK_ERRNO(ioctl(s->fds[0], FIONREAD, s->avail));
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    CHECK_ERRNO(dir);
    ssize_t n = getdents64(dir, s->dirbuf, 4096);
    CHECK_ERRNO(n < 0 ? -1 : 0);
    close(dir);
    return (void *)n;
}

int main(void)
{
    started();
    struct shared *s = calloc(1, sizeof *s);
    CHECK_ALLOC(s);
    s->fds = calloc(2, sizeof(int));
    s->avail = calloc(1, sizeof(int));
    s->dirbuf = calloc(4096, 1);
    CHECK_ALLOC(s->fds);
    CHECK_ALLOC(s->avail);
    CHECK_ALLOC(s->dirbuf);
    CHECK_ERRNO(pipe(s->fds));
    *s->avail = -1;
    s->dirbuf[0] = 1;
    pthread_t t;
    void *n;
    CHECK(pthread_create(&t, NULL, worker, s));
    CHECK(pthread_join(t, &n));
    printf("result=%d,%d\n", *s->avail, (long)n > 0);
    return 0;
}
