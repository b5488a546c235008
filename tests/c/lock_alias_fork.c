/* A fork child's lock words are its own: mutexes in a packed object and
 * in an 8 KiB one (both with an alias) held by the parent at fork stay
 * held in the child (its copies) after the parent unlocks; a mutex in an object the child allocates works with
 * contention between two child threads; and the parent's lock is free
 * again in the parent. Usage: lock_alias_fork
 * Output: result=<child's trylock on the held copy: busy>,<child's
 * counter>,<parent's trylock after unlock: ok> */
#include "common.h"
#include <sys/wait.h>

struct locked {
    pthread_mutex_t m;
    long n;
};

struct mid_locked {
    pthread_mutex_t m;
    char data[8192];
};

static struct locked *child_obj;

static void *child_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 20000; i++) {
        CHECK(pthread_mutex_lock(&child_obj->m));
        child_obj->n++;
        CHECK(pthread_mutex_unlock(&child_obj->m));
    }
    return NULL;
}

int main(void)
{
    started();
    struct locked *held = push_malloc(sizeof *held);
    CHECK_ALLOC(held);
    CHECK(pthread_mutex_init(&held->m, NULL));
    held->n = 0;
    CHECK(push_protected_by(held, &held->m));
    CHECK(pthread_mutex_lock(&held->m));
    struct mid_locked *mid = push_malloc(sizeof *mid);
    CHECK_ALLOC(mid);
    CHECK(pthread_mutex_init(&mid->m, NULL));
    CHECK(push_protected_by(mid, &mid->m));
    CHECK(pthread_mutex_lock(&mid->m));

    int pipefd[2];
    CHECK_ERRNO(pipe(pipefd));
    pid_t pid = fork();
    CHECK_ERRNO(pid);
    if (pid == 0) {
        char go;
        if (read(pipefd[0], &go, 1) != 1)
            _exit(3);
        /* The parent has unlocked its mutex by now; this copy is held. */
        int busy = pthread_mutex_trylock(&held->m) == EBUSY &&
                   pthread_mutex_trylock(&mid->m) == EBUSY;
        child_obj = push_malloc(sizeof *child_obj);
        if (!child_obj)
            _exit(4);
        CHECK(pthread_mutex_init(&child_obj->m, NULL));
        child_obj->n = 0;
        CHECK(push_protected_by(child_obj, &child_obj->m));
        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            CHECK(pthread_create(&t[i], NULL, child_worker, NULL));
        for (int i = 0; i < 2; i++)
            CHECK(pthread_join(t[i], NULL));
        CHECK(pthread_mutex_lock(&child_obj->m));
        long n = child_obj->n;
        CHECK(pthread_mutex_unlock(&child_obj->m));
        _exit(busy && n == 40000 ? 0 : 5);
    }
    CHECK(pthread_mutex_unlock(&held->m));
    CHECK(pthread_mutex_unlock(&mid->m));
    CHECK_ERRNO(write(pipefd[1], "g", 1) == 1 ? 0 : -1);
    int status;
    CHECK_ERRNO(waitpid(pid, &status, 0));
    int child_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    int free_again = pthread_mutex_trylock(&held->m) == 0;
    if (free_again)
        CHECK(pthread_mutex_unlock(&held->m));
    int mid_free = pthread_mutex_trylock(&mid->m) == 0;
    if (mid_free)
        CHECK(pthread_mutex_unlock(&mid->m));
    free_again = free_again && mid_free;
    printf("result=%s,%s\n", child_ok ? "child-ok" : "child-failed",
           free_again ? "free" : "held");
    return 0;
}
