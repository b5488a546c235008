/* A system call writes another thread's private object: read(2) by a
 * thread that does not own the buffer, with no synchronization ordering it
 * after the owner's writes -> data race (write) at the read() line. The
 * kernel honours the calling thread's rights, so PUSh checks the call's
 * access as the thread's before the call runs: without that the call
 * would fail with EFAULT and the race would go unseen. */
#include "common.h"

static char *data;
static volatile long got;

static void *intruder(void *arg)
{
    int fd = *(int *)arg;
    got = read(fd, data + 8, 8); /* RACE:write */
    return NULL;
}

int main(void)
{
    started();
    data = push_malloc(64); /* ALLOC:data (64 bytes, private to T0) */
    CHECK_ALLOC(data);
    memset(data, 'a', 64);
    int fd = open("/dev/zero", O_RDONLY);
    if (fd < 0)
        return 1;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, intruder, &fd));
    CHECK(pthread_join(t, NULL));
    long zeros = 0;
    for (int i = 0; i < 64; i++)
        zeros += data[i] == 0;
    printf("result=%ld zeros=%ld\n", (long)got, zeros);
    return 0;
}
