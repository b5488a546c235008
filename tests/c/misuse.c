/* Annotation misuse:
 *  - push_private on a pointer from plain malloc -> EINVAL + annotation error;
 *  - push_private by a thread that does not own the object -> annotation
 *    error, and the policy stays private(T0): main keeps writing it while
 *    the other thread is still alive, with no data race. */
#include "common.h"

static long *obj;
static sem_t tried, finish;

static void *other(void *arg)
{
    (void)arg;
    int rc = push_private(obj); /* RACE:nonowner */
    printf("nonowner_rc_nonzero=%d\n", rc != 0);
    fflush(stdout);
    CHECK_ERRNO(sem_post(&tried));
    sem_wait_retry(&finish); /* stay alive while main uses the object */
    return NULL;
}

int main(void)
{
    started();
    CHECK_ERRNO(sem_init(&tried, 0, 0));
    CHECK_ERRNO(sem_init(&finish, 0, 0));

    long *plain = malloc(64);
    CHECK_ALLOC(plain);
    int rc = push_private(plain); /* RACE:einval */
    printf("malloc_rc=%s\n", rc == EINVAL ? "EINVAL" : rc == 0 ? "0" : "other");
    fflush(stdout);
    free(plain);

    obj = push_malloc(4 * sizeof(long));
    CHECK_ALLOC(obj);
    obj[0] = 1;

    pthread_t t;
    CHECK(pthread_create(&t, NULL, other, NULL));
    sem_wait_retry(&tried);
    obj[0] += 10; /* still private to main: no data race */
    CHECK_ERRNO(sem_post(&finish));
    CHECK(pthread_join(t, NULL));

    printf("result=%ld\n", obj[0]);
    return 0;
}
