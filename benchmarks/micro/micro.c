/* Microbenchmarks of PUSh's per-operation costs. Prints one line per
 * measurement: `name ns_per_op`. Run natively and under PUSh; the harness
 * reports the difference. Usage: micro [iterations] */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "push.h"

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

#define MEASURE(name, n, body)                                  \
  do {                                                          \
    double t0_ = now_ns();                                      \
    for (long i_ = 0; i_ < (n); i_++) { body; }                 \
    printf("%-28s %10.1f\n", name, (now_ns() - t0_) / (n));    \
  } while (0)

static pthread_mutex_t plain = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t guard = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_spinlock_t spin;
static long *guarded;
static long **victims;
static long nvictims;

/* WRPKRU waits for the loads in flight: a loop of independent cache misses
 * (the CPU overlaps them) against the same loop with one WRPKRU (writing
 * the current value) per iteration. No PUSh call: the machine's cost of
 * switching protection keys in memory-bound code. */
/* Whether the CPU and kernel let this process use protection keys (the
 * OSPKE bit, CPUID leaf 7 ECX bit 4): without it RDPKRU/WRPKRU fault. */
static int cpu_has_ospke(void) {
  unsigned a = 7, b, c = 0, d;
  __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
  return (c >> 4) & 1;
}

static void measure_wrpkru_drain(long n) {
  if (!cpu_has_ospke()) return; /* no keys here: nothing to measure */
  size_t len = (size_t)1 << 23; /* 64 MiB: twice this machine's L3 */
  long *arr = malloc(len * sizeof(long));
  if (!arr) return;
  for (size_t i = 0; i < len; i++) arr[i] = (long)i;
  unsigned pkru, edx;
  __asm__ volatile("rdpkru" : "=a"(pkru), "=d"(edx) : "c"(0));
  unsigned long long x = 88172645463325252ull;
  volatile long sum = 0;
  for (int with_wrpkru = 0; with_wrpkru < 2; with_wrpkru++) {
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
      x ^= x << 13; x ^= x >> 7; x ^= x << 17;
      long v = arr[x & (len - 1)];
      if (with_wrpkru) __asm__ volatile("wrpkru" : : "a"(pkru), "c"(0), "d"(0) : "memory");
      sum += v;
    }
    printf("%-28s %10.1f\n", with_wrpkru ? "cache_miss_with_wrpkru" : "cache_miss", (now_ns() - t0) / n);
  }
  free(arr);
}

static void *violator(void *arg) {
  (void)arg;
  double t0 = now_ns();
  for (long i = 0; i < nvictims; i++) victims[i][0] = i; /* one report each */
  printf("%-28s %10.1f\n", "violation_reported", (now_ns() - t0) / nvictims);
  return NULL;
}

static void *pingpong(void *arg) {
  long rounds = (long)arg;
  for (long i = 0; i < rounds; i++) {
    pthread_mutex_lock(&plain);
    pthread_mutex_unlock(&plain);
  }
  return NULL;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 2000000;
  volatile long sink = 0;
  pthread_spin_init(&spin, 0);
  guarded = push_malloc(64);
  push_protected_by(guarded, &guard);

  measure_wrpkru_drain(n / 2);
  MEASURE("mutex_lock_unlock", n, { pthread_mutex_lock(&plain); pthread_mutex_unlock(&plain); });
  MEASURE("mutex_lock_unlock_protecting", n, {
    pthread_mutex_lock(&guard); guarded[0]++; pthread_mutex_unlock(&guard); });
  /* A lock word inside a tracked object: private to this thread, inside a
   * read-only object (a lock table), and inside the object it protects
   * (the bank account pattern). The private and self-protected pairs also
   * touch their object; the read-only table's pair touches untracked
   * memory (a write to the table would be a race, and under mprotect a
   * tracked object elsewhere would fault after every lock operation: the
   * cost of the synchronization point, not of where the lock word lies). */
  struct locked { pthread_mutex_t m; long v; };
  struct locked *in_private = push_malloc(sizeof *in_private);
  pthread_mutex_init(&in_private->m, NULL);
  MEASURE("mutex_in_private_object", n, {
    pthread_mutex_lock(&in_private->m); in_private->v++; pthread_mutex_unlock(&in_private->m); });
  pthread_mutex_t *table = push_malloc(4 * sizeof *table);
  for (int i = 0; i < 4; i++) pthread_mutex_init(&table[i], NULL);
  push_readonly(table);
  MEASURE("mutex_in_readonly_object", n, {
    pthread_mutex_lock(&table[1]); sink++; pthread_mutex_unlock(&table[1]); });
  struct locked *self = push_malloc(sizeof *self);
  pthread_mutex_init(&self->m, NULL);
  push_protected_by(self, &self->m);
  MEASURE("mutex_in_object_it_protects", n, {
    pthread_mutex_lock(&self->m); self->v++; pthread_mutex_unlock(&self->m); });
  MEASURE("rwlock_rd_unlock", n, { pthread_rwlock_rdlock(&rw); pthread_rwlock_unlock(&rw); });
  MEASURE("spin_lock_unlock", n, { pthread_spin_lock(&spin); pthread_spin_unlock(&spin); });

  long m = n / 50;
  MEASURE("push_malloc_free", m, { void *p = push_malloc(32); sink += (long)p; push_free(p); });
  long *obj = push_malloc(64);
  MEASURE("policy_change", m, { push_readonly(obj); push_private(obj); });
  /* The same on a 1 MiB object whose pages are all present: a policy change
   * re-keys every page of the object. */
  char *big = push_malloc(1 << 20);
  for (long i = 0; i < (1 << 20); i += 4096) big[i] = 1;
  MEASURE("policy_change_1MiB", m / 100 + 1, { push_readonly(big); push_private(big); big[0]++; });

  pthread_t t1, t2;
  double t0 = now_ns();
  pthread_create(&t1, NULL, pingpong, (void *)(n / 10));
  pthread_create(&t2, NULL, pingpong, (void *)(n / 10));
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  printf("%-28s %10.1f\n", "mutex_contended_2threads", (now_ns() - t0) / (n / 5));

  nvictims = argc > 2 ? atol(argv[2]) : 2000;
  victims = malloc(sizeof(long *) * nvictims);
  for (long i = 0; i < nvictims; i++) victims[i] = push_malloc(16);
  pthread_t v;
  pthread_create(&v, NULL, violator, NULL);
  pthread_join(v, NULL);
  (void)sink;
  return 0;
}
