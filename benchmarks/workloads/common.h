/* Shared helpers of the PUSh benchmark workloads (benchmarks/workloads/).
 *
 * Every workload is a plain pthreads program annotated with push.h the way a
 * user would annotate it. Usage of each: `NAME THREADS SIZE [STEPS]`. Each
 * prints `checksum=0x...` on stdout, a value that depends only on SIZE and
 * STEPS, never on THREADS or on timing: every per-element result is computed
 * by the same operations whichever thread computes it, and every reduction
 * is either integer (exact, order-independent), a max, or done in a fixed
 * order by one thread.
 *
 * Built with -DPUSH_ANNOTATIONS_OFF, the annotations are defined away (see
 * below): the unannotated program that `push run --auto` is meant for.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef PUSH_ANNOTATIONS_OFF
/* The unannotated build (bench.py's `auto` mode: gcc -DPUSH_ANNOTATIONS_OFF,
 * target/bench/NAME.plain): the program as it would be without PUSh. push.h
 * is not included and no push_* symbol is referenced; allocation calls are
 * the C library's, policy calls evaluate their arguments and return 0 (as
 * push.h's weak fallbacks do natively), so the checksum is the annotated
 * build's. */
#define push_malloc(size) malloc(size)
#define push_calloc(nmemb, size) calloc((nmemb), (size))
#define push_realloc(ptr, size) realloc((ptr), (size))
#define push_free(ptr) free(ptr)
#define push_private(obj) ((void)(obj), 0)
#define push_readonly(obj) ((void)(obj), 0)
#define push_protected_by(obj, lock) ((void)(obj), (void)(lock), 0)
#define push_transfer(obj, to) ((void)(obj), (void)(to), 0)
#define push_release(obj) ((void)(obj), 0)
#define push_acquire(obj) ((void)(obj), 0)
#define push_racy(obj) ((void)(obj), 0)
#define push_partition(obj, part_size) ((void)(obj), (void)(part_size), 0)
#define push_private_at(barrier, obj, to) ((void)(barrier), (void)(obj), (void)(to), 0)
#define push_readonly_at(barrier, obj) ((void)(barrier), (void)(obj), 0)
#define push_protected_by_at(barrier, obj, lock) \
  ((void)(barrier), (void)(obj), (void)(lock), 0)
#define push_racy_at(barrier, obj) ((void)(barrier), (void)(obj), 0)
#define push_barrier_opens(barrier) ((void)(barrier))
#define push_happens_before(addr) ((void)(addr))
#define push_happens_after(addr) ((void)(addr))
#define push_lock_acquired(lock, exclusive) ((void)(lock), (void)(exclusive))
#define push_lock_released(lock) ((void)(lock))
#define PUSH_GLOBAL(type, name) __typeof__(type) name
#define PUSH_GLOBAL_INIT(type, name, ...) __typeof__(type) name = __VA_ARGS__
#else
#include "push.h"
#endif

#define MAX_THREADS 256

static inline void die(const char *what) {
  fprintf(stderr, "error: %s\n", what);
  exit(3);
}

/* An annotation returned an error: PUSh has already reported it; stop so a
 * harness cannot miss it. Natively every annotation returns 0. */
#define PUSH_OK(call)                                                       \
  do {                                                                      \
    int push_rc_ = (call);                                                  \
    if (push_rc_ != 0) {                                                    \
      fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, \
              strerror(push_rc_));                                          \
      exit(4);                                                              \
    }                                                                       \
  } while (0)

struct args {
  int threads;
  long size;
  long steps;
};

static inline struct args parse_args(int argc, char **argv, long def_size,
                                     long def_steps, const char *usage) {
  struct args a = {2, def_size, def_steps};
  if (argc > 1) a.threads = atoi(argv[1]);
  if (argc > 2) a.size = atol(argv[2]);
  if (argc > 3) a.steps = atol(argv[3]);
  if (argc > 4 || a.threads < 1 || a.threads > MAX_THREADS || a.size < 1 ||
      a.steps < 1) {
    fprintf(stderr, "usage: %s %s\n", argv[0], usage);
    exit(2);
  }
  return a;
}

/* Block partition of [0, n) into `parts`: part p is [lo(p), lo(p+1)). */
static inline long part_lo(long n, int parts, int p) {
  return (long)((__int128)n * p / parts);
}

/* splitmix64: the seeded, index-addressable generator of all inputs. */
static inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/* A double in [0, 1) from an index. */
static inline double unit(uint64_t i) {
  return (double)(mix64(i) >> 11) * (1.0 / 9007199254740992.0);
}

/* FNV-1a over bytes, chained. */
static inline uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    h ^= b[i];
    h *= 0x100000001b3ull;
  }
  return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

/* A faster chained hash of 64-bit words (for large arrays). */
static inline uint64_t hash_words(uint64_t h, const void *p, size_t nwords) {
  const uint64_t *w = p;
  for (size_t i = 0; i < nwords; i++) h = mix64(h ^ w[i]);
  return h;
}

static inline void print_checksum(uint64_t h) {
  printf("checksum=0x%016" PRIx64 "\n", h);
}

/* Threads: start `n` workers running fn(id), then join them. */
typedef void *(*worker_fn)(void *);

static inline void start_workers(pthread_t *tids, int n, worker_fn fn) {
  for (long i = 0; i < n; i++)
    if (pthread_create(&tids[i], NULL, fn, (void *)i) != 0) die("pthread_create");
}

static inline void join_workers(pthread_t *tids, int n) {
  for (int i = 0; i < n; i++)
    if (pthread_join(tids[i], NULL) != 0) die("pthread_join");
}

static inline void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) die("out of memory");
  return p;
}

/* push_malloc that never returns NULL. */
#define PUSH_ALLOC(n)                           \
  ({                                            \
    void *p_ = push_malloc(n);                  \
    if (!p_) die("push_malloc: out of memory"); \
    p_;                                         \
  })

#endif
