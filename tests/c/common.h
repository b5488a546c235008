/* Shared helpers of the PUSh integration-test programs.
 *
 * Every program includes this file first. A line where the runtime must
 * report a forbidden access ends with a RACE marker comment naming a tag;
 * the Rust harness (tests/src/lib.rs) finds the expected line by scanning
 * the source for it. Programs print `started` first thing, then a
 * deterministic `result=...` line, and return 0.
 */
#ifndef PUSH_TESTS_COMMON_H
#define PUSH_TESTS_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The unannotated programs of auto mode (auto_*.c, through auto_common.h)
 * define PUSH_TESTS_UNANNOTATED: they must not see the annotation API. */
#ifndef PUSH_TESTS_UNANNOTATED
#include "push.h"
#endif

/* Abort the test program when a call that returns 0 or an errno fails. */
#define CHECK(call)                                                        \
    do {                                                                   \
        int check_rc_ = (call);                                            \
        if (check_rc_ != 0) {                                              \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__,  \
                    #call, strerror(check_rc_));                           \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

/* Same for calls that return -1 and set errno (sem_*, sigaction, ...). */
#define CHECK_ERRNO(call)                                                  \
    do {                                                                   \
        if ((call) == -1) {                                                \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__,  \
                    #call, strerror(errno));                               \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

#define CHECK_ALLOC(ptr)                                                   \
    do {                                                                   \
        if ((ptr) == NULL) {                                               \
            fprintf(stderr, "%s:%d: allocation failed\n", __FILE__,        \
                    __LINE__);                                             \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

static inline void started(void)
{
    puts("started");
    fflush(stdout);
}

/* An absolute deadline on clock `clk`, `ms` milliseconds from now. */
static inline struct timespec deadline_on(clockid_t clk, long ms)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec += 1;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* An absolute CLOCK_REALTIME deadline `ms` milliseconds from now. */
static inline struct timespec deadline_ms(long ms)
{
    return deadline_on(CLOCK_REALTIME, ms);
}

/* sem_wait that retries on EINTR (the runtime may deliver signals). */
static inline void sem_wait_retry(sem_t *s)
{
    while (sem_wait(s) == -1) {
        if (errno != EINTR) {
            perror("sem_wait");
            exit(1);
        }
    }
}

/* Lines of /proc/self/maps (the process's mappings), read with plain
 * syscalls into static memory: no allocation, so the count is not
 * disturbed by the reading. */
static inline long count_maps(void)
{
    static char buf[1 << 16];
    int fd = open("/proc/self/maps", O_RDONLY);
    if (fd < 0) {
        perror("open /proc/self/maps");
        exit(1);
    }
    long lines = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    close(fd);
    return lines;
}

#endif
