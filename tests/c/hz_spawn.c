/* vfork + exec and posix_spawn of /bin/echo from a multi-threaded program
 * while other threads hold mutexes (one blocked holding its lock, one
 * taking and releasing another lock all along). A vfork child shares the
 * parent's memory, runtime state included, until it execs or _exits; here
 * one child execs echo and one fails to exec and calls _exit(127), which
 * an interposed _exit must not treat as the end of the parent. The echo
 * children inherit LD_PRELOAD. Each lock protects a tracked object. Output: the children's lines, in order, and
 * their exit statuses. */
#include "common.h"

#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t churn = PTHREAD_MUTEX_INITIALIZER;
static sem_t holding, release_held;
struct churn_state {
    long churned;
    int stop;
};
static struct churn_state *cs; /* tracked, protected by `churn` */
static long *held_data;        /* tracked, protected by `held` */

static void *holder(void *arg)
{
    (void)arg;
    CHECK(pthread_mutex_lock(&held));
    (*held_data)++;
    CHECK_ERRNO(sem_post(&holding));
    sem_wait_retry(&release_held);
    CHECK(pthread_mutex_unlock(&held));
    return NULL;
}

static void *churner(void *arg)
{
    (void)arg;
    for (;;) {
        CHECK(pthread_mutex_lock(&churn));
        int done = cs->stop;
        cs->churned++;
        CHECK(pthread_mutex_unlock(&churn));
        if (done)
            return NULL;
    }
}

static int wait_status(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid) {
        perror("waitpid");
        exit(1);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static pid_t vfork_exec(const char *path, const char *word)
{
    fflush(stdout);
    pid_t pid = vfork();
    if (pid == 0) {
        execl(path, "echo", word, (char *)NULL);
        _exit(127);
    }
    if (pid < 0) {
        perror("vfork");
        exit(1);
    }
    return pid;
}

int main(void)
{
    started();
    CHECK_ERRNO(sem_init(&holding, 0, 0));
    CHECK_ERRNO(sem_init(&release_held, 0, 0));
    cs = push_calloc(1, sizeof *cs);
    held_data = push_calloc(1, sizeof *held_data);
    CHECK_ALLOC(cs);
    CHECK_ALLOC(held_data);
    CHECK(push_protected_by(cs, &churn));
    CHECK(push_protected_by(held_data, &held));
    pthread_t h, c;
    CHECK(pthread_create(&h, NULL, holder, NULL));
    CHECK(pthread_create(&c, NULL, churner, NULL));
    sem_wait_retry(&holding);

    printf("vfork_exec=%d\n", wait_status(vfork_exec("/bin/echo", "vfork-child")));
    printf("vfork_noexec=%d\n", wait_status(vfork_exec("/nonexistent/echo", "never")));

    fflush(stdout);
    pid_t pid;
    char *argv[] = {"echo", "spawn-child", NULL};
    CHECK(posix_spawn(&pid, "/bin/echo", NULL, NULL, argv, environ));
    printf("posix_spawn=%d\n", wait_status(pid));

    posix_spawn_file_actions_t fa; /* with file actions: another code path */
    CHECK(posix_spawn_file_actions_init(&fa));
    CHECK(posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0));
    char *argv2[] = {"echo", "spawn-child-2", NULL};
    fflush(stdout);
    CHECK(posix_spawnp(&pid, "echo", &fa, NULL, argv2, environ));
    CHECK(posix_spawn_file_actions_destroy(&fa));
    printf("posix_spawnp=%d\n", wait_status(pid));

    int busy = pthread_mutex_trylock(&held);
    CHECK_ERRNO(sem_post(&release_held));
    CHECK(pthread_join(h, NULL));
    CHECK(pthread_mutex_lock(&churn));
    cs->stop = 1;
    int churned = cs->churned > 0;
    CHECK(pthread_mutex_unlock(&churn));
    CHECK(pthread_join(c, NULL));
    CHECK(pthread_mutex_lock(&held));
    long held_count = *held_data;
    CHECK(pthread_mutex_unlock(&held));
    printf("held_during_spawns=%s held_count=%ld churned=%d\n", busy == EBUSY ? "yes" : "no",
           held_count, churned);
    return 0;
}
