/* Both sides of a race: the report names, besides the refused access,
 * where the other side stands.
 *   held:     T1 holds the protecting lock (acquired at ACQUIRE:held) while
 *             T2 writes without it: the report names T1 and that line.
 *   transfer: main hands the object to T1 with push_transfer (CHANGE:transfer);
 *             T2 writes it: the report names the transfer and where. */
#include "common.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static sem_t holding, written;
static long *obj;

static void *holder(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock); /* ACQUIRE:held */
    obj[0]++;
    CHECK_ERRNO(sem_post(&holding));
    CHECK_ERRNO(sem_wait(&written));
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void *intruder(void *arg)
{
    (void)arg;
    CHECK_ERRNO(sem_wait(&holding));
    obj[1] = 5; /* RACE:held */
    CHECK_ERRNO(sem_post(&written));
    return NULL;
}

static void *owner(void *arg)
{
    (void)arg;
    CHECK_ERRNO(sem_wait(&holding));
    obj[0] = 1;
    CHECK_ERRNO(sem_post(&written));
    return NULL;
}

static void *thief(void *arg)
{
    (void)arg;
    CHECK_ERRNO(sem_wait(&written));
    obj[1] = 2; /* RACE:transfer */
    return NULL;
}

int main(int argc, char **argv)
{
    started();
    int transfer = argc > 1 && strcmp(argv[1], "transfer") == 0;
    CHECK_ERRNO(sem_init(&holding, 0, 0));
    CHECK_ERRNO(sem_init(&written, 0, 0));
    obj = push_calloc(4, sizeof(long));
    CHECK_ALLOC(obj);
    pthread_t a, b;
    if (!transfer) {
        CHECK(push_protected_by(obj, &lock));
        CHECK(pthread_create(&a, NULL, holder, NULL));
        CHECK(pthread_create(&b, NULL, intruder, NULL));
    } else {
        CHECK(pthread_create(&a, NULL, owner, NULL));
        CHECK(push_transfer(obj, a)); /* CHANGE:transfer */
        CHECK_ERRNO(sem_post(&holding));
        CHECK(pthread_create(&b, NULL, thief, NULL));
    }
    CHECK(pthread_join(a, NULL));
    CHECK(pthread_join(b, NULL));
    printf("result=ok\n");
    return 0;
}
