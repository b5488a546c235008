/* auto mode: an unsynchronized flag in a heap object: one thread writes a
 * new value again and again, another polls it until the last one -> data
 * race between the store and the poll. */
#include "auto_common.h"

#define ROUNDS 500

struct control {
    volatile int flag;
    int unused;
};

static void *setter(void *arg)
{
    struct control *c = arg;
    for (int i = 1; i <= ROUNDS; i++) {
        c->flag = i; /* RACE:a */
        usleep(20);
    }
    return NULL;
}

static void *poller(void *arg)
{
    struct control *c = arg;
    long polls = 0;
    for (;;) {
        int seen = c->flag; /* RACE:b */
        polls++;
        if (seen == ROUNDS)
            break;
        usleep(10);
    }
    return (void *)(polls > 0 ? 1L : 0L);
}

int main(void)
{
    started();
    struct control *c = calloc(1, sizeof *c); /* ALLOC */
    CHECK_ALLOC(c);

    pthread_t s, p;
    void *polled;
    CHECK(pthread_create(&p, NULL, poller, c));
    CHECK(pthread_create(&s, NULL, setter, c));
    CHECK(pthread_join(s, NULL));
    CHECK(pthread_join(p, &polled));

    printf("result=%d,%ld\n", c->flag, (long)polled);
    free(c);
    return 0;
}
