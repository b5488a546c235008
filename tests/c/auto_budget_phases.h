/* The first phase of auto_budget_spent.c and auto_clean_budget_spent.c:
 * two threads hand OBJECTS heap objects back and forth between barrier
 * phases, each hand-off a fault, until both have spent a small fault
 * budget (auto_budget=1) and objects park; then thread 0 frees them
 * (parked objects left behind would share the sweeper's visits with the
 * object the second phase uses). Race-free. */
#ifndef PUSH_TESTS_AUTO_BUDGET_PHASES_H
#define PUSH_TESTS_AUTO_BUDGET_PHASES_H

#include "auto_common.h"

#define OBJECTS 128
#define PHASES 40

static pthread_barrier_t phase;
static long *objects[OBJECTS];
static long sum;

static void allocate_objects(void)
{
    CHECK(pthread_barrier_init(&phase, NULL, 2));
    for (int i = 0; i < OBJECTS; i++)
        CHECK_ALLOC(objects[i] = calloc(4, sizeof(long)));
}

static void spend_budget(long me)
{
    for (int p = 0; p < PHASES; p++) {
        pthread_barrier_wait(&phase);
        if (p % 2 == me)
            for (int i = 0; i < OBJECTS; i++)
                objects[i][0] += p;
    }
    pthread_barrier_wait(&phase);
    if (me == 0)
        for (int i = 0; i < OBJECTS; i++) {
            sum += objects[i][0];
            free(objects[i]);
        }
    pthread_barrier_wait(&phase);
}

#endif
