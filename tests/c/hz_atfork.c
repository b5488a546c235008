/* pthread_atfork handlers, and fork from a thread other than main while
 * other threads hold mutexes. Each holder thread keeps its mutex (which
 * protects a tracked object) locked across the fork; in the child only the
 * forking thread exists, so the child handler re-initializes those mutexes
 * and the child then locks them and updates the objects. The prepare and
 * parent handlers take and release a lock of their own. A runtime that
 * registered its own fork handlers runs them interleaved with these, and in
 * the child must forget the holders. Output: handler counts and what the
 * child did (reported through its exit status). */
#include "common.h"

#include <sys/wait.h>

#define HOLDERS 3

struct cell {
    pthread_mutex_t m;
    long value;
};

static struct cell *cells[HOLDERS];
static pthread_mutex_t registry = PTHREAD_MUTEX_INITIALIZER;
static int prepared, in_parent, in_child;
static sem_t holding, release_all;

static void prepare(void) { CHECK(pthread_mutex_lock(&registry)); prepared++; }
static void parent(void) { in_parent++; CHECK(pthread_mutex_unlock(&registry)); }

static void child(void)
{
    in_child++;
    CHECK(pthread_mutex_init(&registry, NULL)); /* held by this thread: reset */
    for (int i = 0; i < HOLDERS; i++)
        CHECK(pthread_mutex_init(&cells[i]->m, NULL)); /* held by threads gone */
}

static void *holder(void *arg)
{
    struct cell *c = arg;
    CHECK(pthread_mutex_lock(&c->m));
    c->value += 10;
    CHECK_ERRNO(sem_post(&holding));
    sem_wait_retry(&release_all);
    CHECK(pthread_mutex_unlock(&c->m));
    return NULL;
}

static void *forker(void *arg)
{
    (void)arg;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        long sum = 0;
        for (int i = 0; i < HOLDERS; i++) {
            CHECK(pthread_mutex_lock(&cells[i]->m));
            cells[i]->value += 1;
            sum += cells[i]->value;
            CHECK(pthread_mutex_unlock(&cells[i]->m));
        }
        CHECK(pthread_mutex_lock(&registry));
        int ok = prepared == 1 && in_child == 1 && in_parent == 0;
        CHECK(pthread_mutex_unlock(&registry));
        exit(ok ? (int)sum : 100); /* 3 * 11 = 33 */
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) {
        perror("waitpid");
        exit(1);
    }
    return (void *)(long)(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

int main(void)
{
    started();
    CHECK(pthread_atfork(prepare, parent, child));
    CHECK_ERRNO(sem_init(&holding, 0, 0));
    CHECK_ERRNO(sem_init(&release_all, 0, 0));
    pthread_t h[HOLDERS], f;
    for (int i = 0; i < HOLDERS; i++) {
        cells[i] = push_malloc(sizeof *cells[i]);
        CHECK_ALLOC(cells[i]);
        CHECK(pthread_mutex_init(&cells[i]->m, NULL));
        cells[i]->value = 0;
        CHECK(push_protected_by(cells[i], &cells[i]->m));
    }
    for (int i = 0; i < HOLDERS; i++)
        CHECK(pthread_create(&h[i], NULL, holder, cells[i]));
    for (int i = 0; i < HOLDERS; i++)
        sem_wait_retry(&holding);
    void *child_status;
    CHECK(pthread_create(&f, NULL, forker, NULL));
    CHECK(pthread_join(f, &child_status));
    for (int i = 0; i < HOLDERS; i++)
        CHECK_ERRNO(sem_post(&release_all));
    long sum = 0;
    for (int i = 0; i < HOLDERS; i++) {
        CHECK(pthread_join(h[i], NULL));
        CHECK(pthread_mutex_lock(&cells[i]->m));
        sum += cells[i]->value;
        CHECK(pthread_mutex_unlock(&cells[i]->m));
    }
    CHECK(pthread_mutex_lock(&registry));
    printf("prepare=%d parent=%d child=%d child_status=%ld parent_sum=%ld\n", prepared, in_parent,
           in_child, (long)child_status, sum);
    CHECK(pthread_mutex_unlock(&registry));
    return 0;
}
