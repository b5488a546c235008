/* Four threads add under the counter's lock: no race. */
#include "counters.h"

#include <stdio.h>

static void *adder(void *arg)
{
    for (int i = 0; i < 1000; i++)
        counter_add(arg, 1);
    return NULL;
}

int main(void)
{
    struct counter *c = counter_new();
    if (!c)
        return 1;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, adder, c);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    long sum = counter_get(c);
    printf("test_locked: sum=%ld\n", sum);
    counter_free(c);
    return sum == 4000 ? 0 : 1;
}
