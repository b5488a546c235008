/* fork() with tracked objects: the child gets private copies.
 *
 * Main allocates 16 tracked 32-byte objects and one of 64 KiB (private to
 * it) and a small `push_racy` counter. A second thread, alive and writing
 * when fork() is called, loops writing an object private to it and bumping
 * the counter until told to stop. Then fork(), and a pipe handshake checks
 * isolation both ways:
 *   - the child reads the counter twice 50 ms apart: the writing thread does
 *     not exist in the child, so the value must not change (the parent's
 *     thread keeps writing its copy meanwhile);
 *   - (b) the parent writes new values after the fork, tells the child, and
 *     the child must still see the values of fork time;
 *   - (a) the child writes its own values, tells the parent, and the parent
 *     must still see its values (checked again after waitpid).
 * The child then allocates, uses and frees new tracked objects, changes
 * policies (on new and inherited objects) and runs a thread of its own.
 *
 * Child exit status: 0 when every check passed, a distinct code per failed
 * check (see enum child_failure). Output: "started", "child ok",
 * "parent ok"; the parent exits 1 if anything failed. No report expected. */
#include "common.h"

#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#define NSMALL 16
#define SMALL_WORDS 4 /* 32 bytes */
#define BIG_SIZE (64 * 1024)

/* The values of each phase: at fork time (A), written by the parent after
 * the fork (C), written by the child (B). */
#define PHASE_A 0
#define PHASE_C 1
#define PHASE_B 2

enum child_failure {
    CHILD_COUNTER_MOVED = 10,   /* the dead thread's counter changed */
    CHILD_SAW_PARENT_SMALL = 11, /* (b) a 32-byte object changed under it */
    CHILD_SAW_PARENT_BIG = 12,  /* (b) the 64 KiB object changed under it */
    CHILD_OWN_WRITES_LOST = 13, /* its own writes did not read back */
    CHILD_POLICY_RC = 14,       /* a push_* policy call returned nonzero */
    CHILD_NEW_OBJECTS = 15,     /* new tracked objects lost or garbled data */
    CHILD_THREAD = 16,          /* its own thread failed or saw wrong data */
    CHILD_PIPE = 17,            /* the handshake failed */
    CHILD_ALLOC = 18,           /* an allocation returned NULL */
};

struct counter {
    atomic_ulong n;
};

static uint64_t *small[NSMALL];
static unsigned char *big;
static struct counter *counter;
static atomic_int stop;
static atomic_int writer_error;

static uint64_t small_value(int phase, int i, int k)
{
    return (uint64_t)phase * 1000000u + (uint64_t)i * 1000u + (uint64_t)k;
}

static unsigned char big_value(int phase, size_t j)
{
    return (unsigned char)(j * 13u + 5u + (unsigned)phase * 101u);
}

static void fill(int phase)
{
    for (int i = 0; i < NSMALL; i++)
        for (int k = 0; k < SMALL_WORDS; k++)
            small[i][k] = small_value(phase, i, k);
    for (size_t j = 0; j < BIG_SIZE; j++)
        big[j] = big_value(phase, j);
}

static int small_is(int phase)
{
    for (int i = 0; i < NSMALL; i++)
        for (int k = 0; k < SMALL_WORDS; k++)
            if (small[i][k] != small_value(phase, i, k))
                return 0;
    return 1;
}

static int big_is(int phase)
{
    for (size_t j = 0; j < BIG_SIZE; j++)
        if (big[j] != big_value(phase, j))
            return 0;
    return 1;
}

/* The second thread: writes its own private object and the racy counter
 * in bursts until `stop`. */
static void *writer(void *arg)
{
    (void)arg;
    unsigned long *mine = push_malloc(8 * sizeof(unsigned long));
    CHECK_ALLOC(mine);
    for (int k = 0; k < 8; k++)
        mine[k] = 0;
    unsigned long n = 0;
    while (!atomic_load(&stop)) {
        for (int burst = 0; burst < 1000; burst++) {
            n++;
            mine[n % 8] = n;
            if (mine[n % 8] != n || (n > 8 && mine[(n - 1) % 8] != n - 1))
                atomic_store(&writer_error, 1);
            atomic_store_explicit(&counter->n, n, memory_order_relaxed);
        }
        usleep(100);
    }
    for (int k = 0; k < 8; k++)
        if (n >= 8 && mine[(n - (unsigned long)k) % 8] != n - (unsigned long)k)
            atomic_store(&writer_error, 1);
    push_free(mine);
    return NULL;
}

static void write_byte(int fd, int code)
{
    char c = 'x';
    while (write(fd, &c, 1) != 1) {
        if (errno != EINTR) {
            if (code)
                exit(code);
            perror("write");
            exit(1);
        }
    }
}

static void read_byte(int fd, int code)
{
    char c;
    ssize_t n;
    while ((n = read(fd, &c, 1)) != 1) {
        if (n == -1 && errno == EINTR)
            continue;
        if (code)
            exit(code);
        fprintf(stderr, "read from pipe failed (%zd)\n", n);
        exit(1);
    }
}

/* ---------------------------------------------------------------- child */

static pthread_mutex_t child_lock = PTHREAD_MUTEX_INITIALIZER;
static long *child_shared;   /* protected_by(child_lock) */
static long *child_readonly; /* readonly */

static void *child_thread(void *arg)
{
    (void)arg;
    long bad = 0;
    /* Inherited object, made readonly by the child's main thread. */
    for (int k = 0; k < SMALL_WORDS; k++)
        if (small[0][k] != small_value(PHASE_B, 0, k))
            bad++;
    for (int k = 0; k < 64; k++)
        if (child_readonly[k] != 3L * k)
            bad++;
    for (int r = 0; r < 1000; r++) {
        if (pthread_mutex_lock(&child_lock) != 0)
            bad++;
        child_shared[r % 16] += 1;
        if (pthread_mutex_unlock(&child_lock) != 0)
            bad++;
    }
    return (void *)bad;
}

static int child_new_objects(void)
{
    /* Plain tracked allocations, used and freed. */
    enum { N = 64 };
    unsigned char *objs[N];
    for (int i = 0; i < N; i++) {
        size_t size = 1 + (size_t)i * 37;
        objs[i] = push_malloc(size);
        if (!objs[i])
            return CHILD_ALLOC;
        memset(objs[i], i + 1, size);
    }
    for (int i = 0; i < N; i++) {
        size_t size = 1 + (size_t)i * 37;
        for (size_t j = 0; j < size; j++)
            if (objs[i][j] != (unsigned char)(i + 1))
                return CHILD_NEW_OBJECTS;
        if (i % 2)
            push_free(objs[i]);
    }
    for (int i = 0; i < N; i += 2)
        push_free(objs[i]);

    long *zeroed = push_calloc(100, sizeof(long));
    if (!zeroed)
        return CHILD_ALLOC;
    for (int k = 0; k < 100; k++)
        if (zeroed[k] != 0)
            return CHILD_NEW_OBJECTS;
    for (int k = 0; k < 100; k++)
        zeroed[k] = k;
    zeroed = push_realloc(zeroed, 1000 * sizeof(long));
    if (!zeroed)
        return CHILD_ALLOC;
    for (int k = 0; k < 100; k++)
        if (zeroed[k] != k)
            return CHILD_NEW_OBJECTS;
    if (push_private(zeroed) != 0)
        return CHILD_POLICY_RC;
    push_free(zeroed);

    /* Policies on new objects, used by a thread of the child. */
    child_shared = push_calloc(16, sizeof(long));
    child_readonly = push_malloc(64 * sizeof(long));
    if (!child_shared || !child_readonly)
        return CHILD_ALLOC;
    for (int k = 0; k < 64; k++)
        child_readonly[k] = 3L * k;
    if (push_readonly(child_readonly) != 0 ||
        push_protected_by(child_shared, &child_lock) != 0 ||
        push_readonly(small[0]) != 0) /* an inherited object */
        return CHILD_POLICY_RC;

    pthread_t t;
    if (pthread_create(&t, NULL, child_thread, NULL) != 0)
        return CHILD_THREAD;
    long bad = 0;
    for (int r = 0; r < 1000; r++) {
        pthread_mutex_lock(&child_lock);
        child_shared[(r + 7) % 16] += 2;
        pthread_mutex_unlock(&child_lock);
    }
    void *ret;
    if (pthread_join(t, &ret) != 0 || ret != NULL)
        return CHILD_THREAD;
    pthread_mutex_lock(&child_lock);
    long total = 0;
    for (int k = 0; k < 16; k++)
        total += child_shared[k];
    pthread_mutex_unlock(&child_lock);
    if (total != 3000 || bad)
        return CHILD_THREAD;

    /* Back to private (allowed for anyone on a readonly object) and freed. */
    if (push_private(small[0]) != 0 || push_private(child_readonly) != 0)
        return CHILD_POLICY_RC;
    small[0][0] = small_value(PHASE_B, 0, 0);
    push_free(child_readonly);
    pthread_mutex_lock(&child_lock);
    push_free(child_shared);
    pthread_mutex_unlock(&child_lock);
    return 0;
}

static int child(int from_parent, int to_parent)
{
    /* The writer thread does not exist here: its counter stays put. */
    unsigned long v1 = atomic_load(&counter->n);
    usleep(50 * 1000);
    unsigned long v2 = atomic_load(&counter->n);
    if (v1 != v2) {
        fprintf(stderr, "child: counter moved from %lu to %lu\n", v1, v2);
        return CHILD_COUNTER_MOVED;
    }

    /* (b) The parent has written phase C: the child still sees A. */
    read_byte(from_parent, CHILD_PIPE);
    if (!small_is(PHASE_A))
        return CHILD_SAW_PARENT_SMALL;
    if (!big_is(PHASE_A))
        return CHILD_SAW_PARENT_BIG;

    /* (a) The child writes phase B; the parent must not see it. */
    fill(PHASE_B);
    if (!small_is(PHASE_B) || !big_is(PHASE_B))
        return CHILD_OWN_WRITES_LOST;
    write_byte(to_parent, CHILD_PIPE);

    int rc = child_new_objects();
    if (rc)
        return rc;
    if (!small_is(PHASE_B) || !big_is(PHASE_B))
        return CHILD_OWN_WRITES_LOST;
    if (atomic_load(&counter->n) != v1)
        return CHILD_COUNTER_MOVED;
    printf("child ok\n");
    fflush(stdout);
    return 0;
}

/* ---------------------------------------------------------------- parent */

int main(void)
{
    started();
    for (int i = 0; i < NSMALL; i++) {
        small[i] = push_malloc(SMALL_WORDS * sizeof(uint64_t));
        CHECK_ALLOC(small[i]);
    }
    big = push_malloc(BIG_SIZE);
    CHECK_ALLOC(big);
    fill(PHASE_A);
    counter = push_malloc(sizeof(struct counter));
    CHECK_ALLOC(counter);
    atomic_init(&counter->n, 0);
    CHECK(push_racy(counter));

    pthread_t w;
    CHECK(pthread_create(&w, NULL, writer, NULL));
    /* The writer is running (and keeps running) when fork() is called. */
    while (atomic_load(&counter->n) < 3000)
        usleep(1000);

    int p2c[2], c2p[2];
    CHECK_ERRNO(pipe(p2c));
    CHECK_ERRNO(pipe(c2p));
    fflush(stdout);
    pid_t pid = fork();
    CHECK_ERRNO(pid);
    if (pid == 0) {
        close(p2c[1]);
        close(c2p[0]);
        exit(child(p2c[0], c2p[1]));
    }
    close(p2c[0]);
    close(c2p[1]);
    unsigned long at_fork = atomic_load(&counter->n);

    int failed = 0;
    /* (b) New values in the parent after the fork. */
    fill(PHASE_C);
    write_byte(p2c[1], 0);
    /* (a) The child has written its values: ours are unchanged. */
    char c;
    ssize_t n;
    while ((n = read(c2p[0], &c, 1)) == -1 && errno == EINTR)
        ;
    if (n != 1) {
        printf("parent: the child did not finish its writes\n");
        failed = 1;
    }
    if (!small_is(PHASE_C) || !big_is(PHASE_C)) {
        printf("parent: the child's writes are visible in the parent\n");
        failed = 1;
    }

    int status;
    while (waitpid(pid, &status, 0) == -1) {
        if (errno != EINTR) {
            perror("waitpid");
            return 1;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        printf("parent: child exited %d\n", WEXITSTATUS(status));
        failed = 1;
    } else if (WIFSIGNALED(status)) {
        printf("parent: child killed by signal %d\n", WTERMSIG(status));
        failed = 1;
    }
    if (!small_is(PHASE_C) || !big_is(PHASE_C)) {
        printf("parent: objects changed after the child exited\n");
        failed = 1;
    }

    /* The writer ran on in the parent while the child watched its copy. */
    unsigned long after = atomic_load(&counter->n);
    atomic_store(&stop, 1);
    CHECK(pthread_join(w, NULL));
    if (after <= at_fork) {
        printf("parent: the writer did not run during the child's check\n");
        failed = 1;
    }
    if (atomic_load(&writer_error)) {
        printf("parent: the writer saw wrong values in its own object\n");
        failed = 1;
    }

    for (int i = 0; i < NSMALL; i++)
        push_free(small[i]);
    push_free(big);
    push_free(counter);
    if (failed)
        return 1;
    printf("parent ok\n");
    return 0;
}
