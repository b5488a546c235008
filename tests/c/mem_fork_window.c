/* fork while another thread is using its private object: in the child that
 * thread does not exist, and the child's read of the object is a race (the
 * object is private to a thread the child never synchronized with). Under
 * mprotect the owner's open window must not survive into the child.
 *
 * Output: "started", then "child=66" (the child reported and exited 66),
 * "owner=2"; the parent itself exits 0. */
#include "common.h"
#include <stdatomic.h>
#include <sys/wait.h>

static long *obj;
static atomic_int ready, done;

static void *owner(void *arg)
{
    (void)arg;
    obj = push_malloc(64);
    CHECK_ALLOC(obj);
    obj[0] = 1;
    atomic_store(&ready, 1);
    while (!atomic_load(&done))
        obj[0] = 2; /* keeps using it: its window stays open */
    return NULL;
}

int main(void)
{
    started();
    pthread_t t;
    CHECK(pthread_create(&t, NULL, owner, NULL));
    while (!atomic_load(&ready))
        ;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        _exit(obj[0] == 1 || obj[0] == 2 ? 0 : 3); /* RACE:child */
    }
    int status = 0;
    CHECK_ERRNO(waitpid(pid, &status, 0));
    printf("child=%d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    atomic_store(&done, 1);
    CHECK(pthread_join(t, NULL));
    printf("owner=%ld\n", obj[0]);
    return 0;
}
