#include "counters.h"

#include <push.h>
#include <stdlib.h>

struct value {
    long n;
};

struct counter {
    pthread_mutex_t lock;
    struct value *value; /* tracked: protected by lock */
};

struct counter *counter_new(void)
{
    struct counter *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->lock, NULL);
    c->value = push_calloc(1, sizeof *c->value);
    if (!c->value) {
        free(c);
        return NULL;
    }
    push_protected_by(c->value, &c->lock);
    return c;
}

void counter_free(struct counter *c)
{
    pthread_mutex_lock(&c->lock);
    push_private(c->value);
    pthread_mutex_unlock(&c->lock);
    push_free(c->value);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void counter_add(struct counter *c, long n)
{
    pthread_mutex_lock(&c->lock);
    c->value->n += n;
    pthread_mutex_unlock(&c->lock);
}

void counter_add_unlocked(struct counter *c, long n)
{
    c->value->n += n; /* the race test_racy finds */
}

long counter_get(struct counter *c)
{
    pthread_mutex_lock(&c->lock);
    long n = c->value->n;
    pthread_mutex_unlock(&c->lock);
    return n;
}
