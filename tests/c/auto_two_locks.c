/* auto mode: two threads update the same field of a heap object (from
 * posix_memalign), each under a different mutex -> the locks order nothing
 * between them: data race between the two updates. */
#include "auto_common.h"

#define ROUNDS 2000

static pthread_mutex_t lock_a = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock_b = PTHREAD_MUTEX_INITIALIZER;

struct account {
    long id;
    volatile long balance;
};

static void *deposit(void *arg)
{
    struct account *acct = arg;
    for (int i = 0; i < ROUNDS; i++) {
        CHECK(pthread_mutex_lock(&lock_a));
        acct->balance += 2; /* RACE:a */
        CHECK(pthread_mutex_unlock(&lock_a));
        if (i % 8 == 0)
            usleep(20);
    }
    return NULL;
}

static void *withdraw(void *arg)
{
    struct account *acct = arg;
    for (int i = 0; i < ROUNDS; i++) {
        CHECK(pthread_mutex_lock(&lock_b));
        acct->balance -= 1; /* RACE:b */
        CHECK(pthread_mutex_unlock(&lock_b));
        if (i % 8 == 0)
            usleep(20);
    }
    return NULL;
}

int main(void)
{
    started();
    struct account *acct;
    CHECK(posix_memalign((void **)&acct, 64, sizeof *acct)); /* ALLOC */
    acct->id = 7;
    acct->balance = 0;

    pthread_t a, b;
    CHECK(pthread_create(&a, NULL, deposit, acct));
    CHECK(pthread_create(&b, NULL, withdraw, acct));
    CHECK(pthread_join(a, NULL));
    CHECK(pthread_join(b, NULL));

    /* Lost updates make the balance vary: print only the account. */
    printf("result=account %ld\n", acct->id);
    free(acct);
    return 0;
}
