/* protected_by(recursive mutex): after the outermost unlock the object is
 * no longer accessible -> data race. */
#include "common.h"

static pthread_mutex_t lock;
static volatile long *obj;

int main(void)
{
    started();
    pthread_mutexattr_t attr;
    CHECK(pthread_mutexattr_init(&attr));
    CHECK(pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE));
    CHECK(pthread_mutex_init(&lock, &attr));
    CHECK(pthread_mutexattr_destroy(&attr));

    obj = push_calloc(2, sizeof(long));
    CHECK_ALLOC(obj);
    CHECK(push_protected_by((void *)obj, &lock));

    pthread_mutex_lock(&lock);
    pthread_mutex_lock(&lock);
    obj[0] = 1;
    pthread_mutex_unlock(&lock);
    obj[0] += 1;
    pthread_mutex_unlock(&lock);
    obj[1] = 5; /* RACE:after */

    pthread_mutex_lock(&lock);
    printf("result=%ld,%ld\n", obj[0], obj[1]);
    pthread_mutex_unlock(&lock);
    return 0;
}
