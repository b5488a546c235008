/* fork() then exec: the exec'd image gets a fresh runtime.
 *
 *   mem_fork_exec          parent: tracked objects and a second thread
 *                          alive during fork(); the child of fork execs
 *                          /proc/self/exe exec-child
 *   mem_fork_exec racy     the same, the child execs exec-child-racy
 *   ... exec-child         (the exec'd image) two threads increment an
 *                          object protected_by a mutex, under the mutex;
 *                          prints "exec child ok result=N"
 *   ... exec-child-racy    the same, and the second thread writes the
 *                          object once without the mutex (RACE:exec)
 *
 * The parent waits for the child: when the child exits 0 it prints
 * "parent ok" and exits 0; otherwise it prints "parent: child exited N"
 * and exits with the child's status N (so that a child that reported
 * under PUSh, exit status 66, makes the whole run exit 66), or 1 when
 * the child was killed by a signal. */
#include "common.h"

#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 10000

/* ---------------------------------------------------------- exec'd image */

struct shared {
    long value;    /* under lock */
    long unlocked; /* written without the lock in the racy mode */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct shared *obj;

static void *exec_worker(void *arg)
{
    int racy = (int)(long)arg;
    for (int i = 0; i < ROUNDS; i++) {
        CHECK(pthread_mutex_lock(&lock));
        obj->value++;
        CHECK(pthread_mutex_unlock(&lock));
    }
    if (racy)
        obj->unlocked = 1; /* RACE:exec */
    return NULL;
}

static int exec_child(int racy)
{
    obj = push_malloc(sizeof *obj);
    CHECK_ALLOC(obj);
    obj->value = 0;
    obj->unlocked = 0;
    CHECK(push_protected_by(obj, &lock));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, exec_worker, (void *)(long)racy));
    for (int i = 0; i < ROUNDS; i++) {
        CHECK(pthread_mutex_lock(&lock));
        obj->value++;
        CHECK(pthread_mutex_unlock(&lock));
    }
    CHECK(pthread_join(t, NULL));
    CHECK(pthread_mutex_lock(&lock));
    long result = obj->value + obj->unlocked;
    CHECK(pthread_mutex_unlock(&lock));
    printf("exec child ok result=%ld\n", result);
    return 0;
}

/* ---------------------------------------------------------------- parent */

static sem_t helper_ready, helper_go;

/* Alive (blocked on a semaphore) during fork(); uses an object of its own
 * before and after. */
static void *helper(void *arg)
{
    (void)arg;
    long *mine = push_malloc(32 * sizeof(long));
    CHECK_ALLOC(mine);
    for (int i = 0; i < 32; i++)
        mine[i] = i;
    CHECK_ERRNO(sem_post(&helper_ready));
    sem_wait_retry(&helper_go);
    long sum = 0;
    for (int i = 0; i < 32; i++)
        sum += mine[i];
    push_free(mine);
    return (void *)sum;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "exec-child") == 0)
        return exec_child(0);
    if (argc > 1 && strcmp(argv[1], "exec-child-racy") == 0)
        return exec_child(1);
    int racy = argc > 1 && strcmp(argv[1], "racy") == 0;

    started();
    long *data = push_malloc(1000 * sizeof(long));
    CHECK_ALLOC(data);
    for (int i = 0; i < 1000; i++)
        data[i] = i;
    CHECK_ERRNO(sem_init(&helper_ready, 0, 0));
    CHECK_ERRNO(sem_init(&helper_go, 0, 0));
    pthread_t h;
    CHECK(pthread_create(&h, NULL, helper, NULL));
    sem_wait_retry(&helper_ready);

    fflush(stdout);
    pid_t pid = fork();
    CHECK_ERRNO(pid);
    if (pid == 0) {
        char *args[] = {argv[0], racy ? "exec-child-racy" : "exec-child", NULL};
        execv("/proc/self/exe", args);
        perror("execv /proc/self/exe");
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) == -1) {
        if (errno != EINTR) {
            perror("waitpid");
            return 1;
        }
    }

    CHECK_ERRNO(sem_post(&helper_go));
    void *hsum;
    CHECK(pthread_join(h, &hsum));
    long sum = 0;
    for (int i = 0; i < 1000; i++)
        sum += data[i];
    push_free(data);
    if ((long)hsum != 496 || sum != 499500) {
        printf("parent: wrong sums %ld %ld\n", (long)hsum, sum);
        return 1;
    }

    if (WIFSIGNALED(status)) {
        printf("parent: child killed by signal %d\n", WTERMSIG(status));
        return 1;
    }
    if (WEXITSTATUS(status) != 0) {
        printf("parent: child exited %d\n", WEXITSTATUS(status));
        return WEXITSTATUS(status);
    }
    printf("parent ok\n");
    return 0;
}
