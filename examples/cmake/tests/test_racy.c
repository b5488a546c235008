/* Two threads add without the lock: PUSh reports the data race in
 * counter_add_unlocked (src/counters.c), natively the test passes. */
#include "counters.h"

#include <stdio.h>

static void *adder(void *arg)
{
    counter_add_unlocked(arg, 1);
    return NULL;
}

int main(void)
{
    struct counter *c = counter_new();
    if (!c)
        return 1;
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, adder, c);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("test_racy: sum=%ld\n", counter_get(c));
    counter_free(c);
    return 0;
}
