/* A program with compiled-in PUSh defaults (like __tsan_default_options):
 * exitcode 9 and print_suppressions=1, and a suppression that matches
 * nothing here. Another thread writes main's private object: a data race. */
#include "common.h"

static volatile long *data;

static void *intruder(void *arg)
{
    (void)arg;
    data[3] = 42; /* RACE:write */
    return NULL;
}

const char *push_default_options(void)
{
    return "exitcode=9:print_suppressions=1";
}

const char *push_default_suppressions(void)
{
    return "# compiled in\nrace:no_such_function_*\n";
}

int main(void)
{
    started();
    data = push_malloc(8 * sizeof(long));
    CHECK_ALLOC(data);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, intruder, NULL));
    CHECK(pthread_join(t, NULL));
    printf("result=%ld\n", data[3]);
    return 0;
}
