/* auto mode, race-free: heap memory handed to system calls by a thread
 * that did not allocate it (each hand-off ordered by create/join): pipe()
 * and socketpair() fd arrays, sendmsg/recvmsg headers, iovecs and
 * buffers, a poll() array, getcwd() into a heap buffer, stat() into a heap
 * struct with a heap path. The kernel honours the thread's rights, so
 * PUSh must prepare each argument or the call fails with EFAULT. */
#include "auto_common.h"
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

struct shared {
    int *pipe_fds, *sock_fds;
    struct msghdr *msg;
    struct iovec *iov;
    char *out, *in, *cwd, *path;
    struct pollfd *pfd;
    struct stat *st;
};

static void *worker(void *arg)
{
    struct shared *s = arg;
    CHECK_ERRNO(pipe(s->pipe_fds));
    CHECK_ERRNO(socketpair(AF_UNIX, SOCK_STREAM, 0, s->sock_fds));
    strcpy(s->out, "hello over a socket");
    s->iov->iov_base = s->out;
    s->iov->iov_len = strlen(s->out) + 1;
    memset(s->msg, 0, sizeof *s->msg);
    s->msg->msg_iov = s->iov;
    s->msg->msg_iovlen = 1;
    if (sendmsg(s->sock_fds[0], s->msg, 0) < 0)
        return (void *)1;
    return NULL;
}

int main(void)
{
    started();
    struct shared *s = calloc(1, sizeof *s);
    s->pipe_fds = calloc(2, sizeof(int));
    s->sock_fds = calloc(2, sizeof(int));
    s->msg = calloc(1, sizeof *s->msg);
    s->iov = calloc(1, sizeof *s->iov);
    s->out = calloc(64, 1);
    s->in = calloc(64, 1);
    s->cwd = calloc(4096, 1);
    s->pfd = calloc(1, sizeof *s->pfd);
    s->st = calloc(1, sizeof *s->st);
    s->path = strdup("/");
    pthread_t t;
    void *failed;
    CHECK(pthread_create(&t, NULL, worker, s));
    CHECK(pthread_join(t, &failed));
    s->pfd->fd = s->sock_fds[1];
    s->pfd->events = POLLIN;
    int ready = poll(s->pfd, 1, 5000);
    s->iov->iov_base = s->in;
    s->iov->iov_len = 64;
    ssize_t got = recvmsg(s->sock_fds[1], s->msg, 0);
    int wrote = (int)write(s->pipe_fds[1], "x", 1);
    int cwd_ok = getcwd(s->cwd, 4096) != NULL;
    int stat_ok = stat(s->path, s->st) == 0 && S_ISDIR(s->st->st_mode);
    printf("failed=%d ready=%d got=%zd in=%s wrote=%d cwd=%d stat=%d\n", failed != NULL, ready,
           got, s->in, wrote, cwd_ok, stat_ok);
    return 0;
}
