/* A counter shared by threads: its value lives in a PUSh-tracked object
 * protected by the counter's lock. */
#ifndef COUNTERS_H
#define COUNTERS_H

#include <pthread.h>

struct counter;

struct counter *counter_new(void);
void counter_free(struct counter *c);
/* Adds under the counter's lock. */
void counter_add(struct counter *c, long n);
/* Adds without the lock: a data race when threads call it at once. */
void counter_add_unlocked(struct counter *c, long n);
long counter_get(struct counter *c);

#endif
