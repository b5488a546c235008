/* A robust mutex protecting an object, whose holder dies: the
 * next acquisition (argv[1]: lock, trylock, timedlock or clocklock)
 * returns EOWNERDEAD with the mutex held, so the object may be used; the
 * new holder repairs it, calls pthread_mutex_consistent and unlocks.
 * Round two: the holder dies again and the mutex is unlocked without
 * being made consistent; every later acquisition fails with
 * ENOTRECOVERABLE and grants nothing. Priority ceilings: read and set on
 * a PTHREAD_PRIO_PROTECT mutex inside the object (EINVAL on the robust
 * one, which has none), while the thread holds neither.
 * argv[2] "inside" puts the robust mutex inside the object it protects;
 * otherwise it is a global (the kernel, which marks the mutex of a dead
 * holder, then needs no access to tracked memory). */
#include "common.h"
#include <sched.h>

enum how { LOCK, TRYLOCK, TIMEDLOCK, CLOCKLOCK };

struct account {
    pthread_mutex_t m;
    pthread_mutex_t ceiling;
    long balance;
    long repairs;
};

static enum how how;
static struct account *account;
static pthread_mutex_t outside; /* the robust mutex when not inside */
static pthread_mutex_t *robust;

static void *die_holding(void *arg)
{
    CHECK(pthread_mutex_lock(robust));
    account->balance += (long)arg; /* half done when the thread dies */
    return NULL;
}

static int acquire(void)
{
    struct timespec dl;
    switch (how) {
    case LOCK:
        return pthread_mutex_lock(robust);
    case TRYLOCK:
        return pthread_mutex_trylock(robust);
    case TIMEDLOCK:
        dl = deadline_ms(10000);
        return pthread_mutex_timedlock(robust, &dl);
    default:
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += 10;
        return pthread_mutex_clocklock(robust, CLOCK_MONOTONIC, &dl);
    }
}

static void kill_holder(long amount)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, die_holding, (void *)amount));
    CHECK(pthread_join(t, NULL));
}

int main(int argc, char **argv)
{
    started();
    const char *names[] = {"lock", "trylock", "timedlock", "clocklock"};
    how = CLOCKLOCK + 1;
    for (int k = LOCK; argc > 1 && k <= CLOCKLOCK; k++)
        if (strcmp(argv[1], names[k]) == 0)
            how = (enum how)k;
    if (how > CLOCKLOCK || (argc > 2 && strcmp(argv[2], "inside"))) {
        fprintf(stderr, "usage: sync_robust lock|trylock|timedlock|clocklock [inside]\n");
        return 2;
    }
    account = push_calloc(1, sizeof *account);
    CHECK_ALLOC(account);
    robust = argc > 2 ? &account->m : &outside;
    pthread_mutexattr_t a;
    CHECK(pthread_mutexattr_init(&a));
    CHECK(pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST));
    CHECK(pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK));
    CHECK(pthread_mutex_init(robust, &a));
    CHECK(pthread_mutexattr_destroy(&a));
    CHECK(pthread_mutexattr_init(&a));
    CHECK(pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_PROTECT));
    CHECK(pthread_mutexattr_setprioceiling(&a, sched_get_priority_min(SCHED_FIFO)));
    CHECK(pthread_mutex_init(&account->ceiling, &a));
    CHECK(pthread_mutexattr_destroy(&a));
    account->balance = 100;
    CHECK(push_protected_by(account, robust));

    kill_holder(50);
    int first = acquire();
    if (first == EOWNERDEAD) {
        account->balance -= 50; /* roll the dead holder's update back */
        account->repairs++;
        CHECK(pthread_mutex_consistent(robust));
    }
    long balance = account->balance;
    CHECK(pthread_mutex_unlock(robust));
    int again = acquire();
    account->repairs += 10;
    CHECK(pthread_mutex_unlock(robust));

    /* Ceilings, read and changed while nobody holds the account's lock. */
    int ceiling = -1, old = -1;
    CHECK(pthread_mutex_getprioceiling(&account->ceiling, &ceiling));
    int setc = pthread_mutex_setprioceiling(&account->ceiling, ceiling, &old);
    int robust_ceiling = pthread_mutex_getprioceiling(robust, &ceiling);

    kill_holder(7);
    int owner_dead = acquire();
    CHECK(pthread_mutex_unlock(robust)); /* not made consistent */
    int gone = acquire();

    printf("first=%s again=%d\n", first == EOWNERDEAD ? "EOWNERDEAD" : strerror(first), again);
    /* Raising a ceiling needs real-time scheduling rights (EPERM without). */
    printf("ceiling=%d set=%s old=%d robust=%s\n", ceiling,
           setc == 0 || setc == EPERM ? "ok" : strerror(setc), old,
           robust_ceiling == EINVAL ? "EINVAL" : strerror(robust_ceiling));
    printf("second=%s then=%s\n", owner_dead == EOWNERDEAD ? "EOWNERDEAD" : strerror(owner_dead),
           gone == ENOTRECOVERABLE ? "ENOTRECOVERABLE" : strerror(gone));
    printf("result=%ld\n", balance);
    return 0;
}
