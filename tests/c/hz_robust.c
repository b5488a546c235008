/* Robust mutexes whose owner dies holding them: the next locker gets
 * EOWNERDEAD, which means "you hold the lock now": it repairs the data,
 * calls pthread_mutex_consistent and goes on. The lock is held although
 * the call did not return 0, which an interposer that only counts 0 as
 * "acquired" misses; and the kernel itself marks the lock word when the
 * owner dies, which it cannot do if the word's page is inaccessible then.
 * Parts (argument; all by default):
 *   plain    a static robust mutex; the owner is a thread that exits;
 *   object   the mutex lives inside the tracked object it protects;
 *   process  a process-shared robust mutex in a MAP_SHARED mapping whose
 *            owner is a forked child that exits.
 * Output: what each later locker saw (formatted in a tracked buffer private
 * to main, so that every run tracks something). */
#include "common.h"

#include <sys/mman.h>
#include <sys/wait.h>

static char *line; /* tracked, private to main */

struct account {
    pthread_mutex_t m;
    long balance;
    int dirty; /* an update was interrupted */
};

static void init_robust(pthread_mutex_t *m, int pshared)
{
    pthread_mutexattr_t a;
    CHECK(pthread_mutexattr_init(&a));
    CHECK(pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST));
    if (pshared)
        CHECK(pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED));
    CHECK(pthread_mutex_init(m, &a));
    CHECK(pthread_mutexattr_destroy(&a));
}

static void *dies_holding(void *arg)
{
    struct account *a = arg;
    CHECK(pthread_mutex_lock(&a->m));
    a->dirty = 1;
    a->balance += 100;
    return NULL; /* exits holding the lock */
}

static const char *lock_after_death(pthread_mutex_t *m)
{
    int r = pthread_mutex_lock(m);
    if (r == EOWNERDEAD) {
        CHECK(pthread_mutex_consistent(m));
        return "EOWNERDEAD";
    }
    CHECK(r);
    return "0";
}

static void account_part(const char *name, struct account *a, int tracked)
{
    init_robust(&a->m, 0);
    a->balance = 1000;
    a->dirty = 0;
    if (tracked)
        CHECK(push_protected_by(a, &a->m));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, dies_holding, a));
    CHECK(pthread_join(t, NULL));
    const char *seen = lock_after_death(&a->m);
    if (a->dirty) { /* repair: roll the interrupted update back */
        a->balance -= 100;
        a->dirty = 0;
    }
    long balance = a->balance;
    CHECK(pthread_mutex_unlock(&a->m));
    int again = pthread_mutex_lock(&a->m);
    CHECK(pthread_mutex_unlock(&a->m));
    snprintf(line, 128, "%s: owner_thread_died=%s balance=%ld relock=%d", name, seen, balance,
             again);
    puts(line);
}

static void process_part(void)
{
    pthread_mutex_t *pm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (pm == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    init_robust(pm, 1);
    fflush(stdout);
    pid_t pid = fork(); /* a failed fork fails the waitpid below */
    if (pid == 0) {
        CHECK(pthread_mutex_lock(pm));
        _exit(0); /* the process ends holding the lock */
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "child failed: status %#x\n", status);
        exit(1);
    }
    const char *seen = lock_after_death(pm);
    CHECK(pthread_mutex_unlock(pm));
    int again = pthread_mutex_lock(pm);
    CHECK(pthread_mutex_unlock(pm));
    snprintf(line, 128, "process: owner_process_died=%s relock=%d", seen, again);
    puts(line);
}

int main(int argc, char **argv)
{
    const char *part = argc > 1 ? argv[1] : "all";
    int all = strcmp(part, "all") == 0;
    started();
    line = push_malloc(128);
    CHECK_ALLOC(line);
    static struct account plain; /* not tracked */
    if (all || strcmp(part, "plain") == 0)
        account_part("plain", &plain, 0);
    if (all || strcmp(part, "object") == 0) {
        struct account *a = push_malloc(sizeof *a);
        CHECK_ALLOC(a);
        account_part("object", a, 1);
    }
    if (all || strcmp(part, "process") == 0)
        process_part();
    return 0;
}
