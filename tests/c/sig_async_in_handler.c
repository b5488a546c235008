/* A program whose SIGALRM handler blocks every signal (sa_mask full, as
 * bash's SIGCHLD handler does) and writes a tracked object, while the main
 * thread keeps faulting on tracked objects (each lock operation closes its
 * windows under mprotect; a second thread's object is re-keyed under mpk).
 * A signal delivered while PUSh's own fault handler runs must wait until it
 * returns: run inside it, the program's handler would fault with SIGSEGV
 * blocked and the process would die. Race-free; runs as natively. */
#include "common.h"
#include <signal.h>
#include <sys/time.h>

static volatile long *counter;
static volatile sig_atomic_t ticks;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;

static void on_alarm(int sig)
{
    (void)sig;
    counter[1]++;
    ticks++;
}

int main(void)
{
    started();
    counter = push_calloc(4, sizeof(long));
    CHECK_ALLOC(counter);
    volatile long *other = push_calloc(4, sizeof(long));
    CHECK_ALLOC(other);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigfillset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    CHECK_ERRNO(sigaction(SIGALRM, &sa, NULL));
    struct itimerval it = {{0, 200}, {0, 200}};
    CHECK_ERRNO(setitimer(ITIMER_REAL, &it, NULL));
    long i = 0;
    /* At least 5000 rounds and 20 signals (natively too). */
    for (; i < 5000 || (ticks < 20 && i < 100000000); i++) {
        CHECK(pthread_mutex_lock(&m));
        CHECK(pthread_mutex_unlock(&m));
        counter[0]++;
        other[0] += i;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    CHECK_ERRNO(setitimer(ITIMER_REAL, &off, NULL));
    printf("result=%s ticks=%s\n", counter[0] == i ? "ok" : "lost", ticks >= 20 ? "some" : "few");
    return 0;
}
