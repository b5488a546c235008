/* A robust mutex living inside a tracked object that another lock
 * protects (the lock_in_object pattern): a thread takes `outer`, then the
 * inner robust mutex, updates the object, releases `outer` and exits
 * holding only the inner mutex. At thread exit the kernel marks the dead
 * owner's lock word FUTEX_OWNER_DIED, writing the object's page with the
 * exiting thread's rights, which no longer cover the object; the next
 * locker (without `outer`) must get EOWNERDEAD, and its
 * pthread_mutex_consistent writes the lock word, again without `outer`.
 * Output: what the next locker saw, and the object's count. */
#include "common.h"

struct nested {
    pthread_mutex_t inner; /* robust */
    long n;
};

static struct nested *o;
static pthread_mutex_t outer = PTHREAD_MUTEX_INITIALIZER;

static void *dies_holding_inner(void *arg)
{
    (void)arg;
    CHECK(pthread_mutex_lock(&outer));
    CHECK(pthread_mutex_lock(&o->inner));
    o->n++;
    CHECK(pthread_mutex_unlock(&outer));
    return NULL; /* exits holding `inner` */
}

int main(void)
{
    started();
    o = push_malloc(sizeof *o);
    CHECK_ALLOC(o);
    pthread_mutexattr_t a;
    CHECK(pthread_mutexattr_init(&a));
    CHECK(pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST));
    CHECK(pthread_mutex_init(&o->inner, &a));
    CHECK(pthread_mutexattr_destroy(&a));
    o->n = 0;
    CHECK(push_protected_by(o, &outer));

    pthread_t t;
    CHECK(pthread_create(&t, NULL, dies_holding_inner, NULL));
    CHECK(pthread_join(t, NULL));
    int r = pthread_mutex_lock(&o->inner);
    if (r == EOWNERDEAD)
        CHECK(pthread_mutex_consistent(&o->inner));
    else
        CHECK(r);
    CHECK(pthread_mutex_unlock(&o->inner));
    CHECK(pthread_mutex_lock(&outer));
    long n = o->n;
    CHECK(pthread_mutex_unlock(&outer));
    printf("inner=%s n=%ld\n", r == EOWNERDEAD ? "EOWNERDEAD" : "0", n);
    return 0;
}
