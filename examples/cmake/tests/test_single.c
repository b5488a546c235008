/* One thread: adds 1..100 and checks the sum. */
#include "counters.h"

#include <stdio.h>

int main(void)
{
    struct counter *c = counter_new();
    if (!c)
        return 1;
    for (long i = 1; i <= 100; i++)
        counter_add(c, i);
    long sum = counter_get(c);
    printf("test_single: sum=%ld\n", sum);
    counter_free(c);
    return sum == 5050 ? 0 : 1;
}
