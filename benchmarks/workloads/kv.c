/* kv: a key-value store workload with many locks, after memcached-style
 * servers and PARSEC's hash-table kernels.
 * Usage: kv THREADS MILLION_OPS [BUCKETS]
 *
 * A hash table of BUCKETS buckets (default 8192), each with its own mutex and
 * a small inline array of entries; 4 * BUCKETS keys with a skewed (hot-key)
 * popularity. The operations come in rounds: an update phase (add a delta of
 * -1..2 to a key's counter, inserting it if absent and deleting it when it
 * reaches 0), a barrier, then a lookup phase 8 times longer (gets), and a
 * barrier. Operation i of a round is derived from (round, i) only and the
 * threads split each phase by index, so the final table (additions commute)
 * and the sum of all lookups do not depend on the thread count or timing.
 *
 * Annotations (push.h):
 *   - each bucket: one push_malloc with its mutex inside,
 *     push_protected_by that mutex (BUCKETS tracked objects, packed by
 *     size class, each on a virtual page of its own);
 *   - the server statistics, updated with relaxed atomics by every thread:
 *     push_racy (intentional: atomics PUSh does not model);
 *   - per-thread lookup results: private.
 * Checksum: order-independent hash of the final table, plus the lookup sum.
 */
#include <stdatomic.h>
#include "common.h"

#define CAP 32
#define UPDATES (1L << 16)
#define LOOKUPS (8 * UPDATES)

struct entry {
  uint64_t key;
  int64_t val;
};
struct bucket {
  pthread_mutex_t lock;
  int n;
  struct entry e[CAP];
};
struct stats {
  atomic_long gets, hits, updates, inserts, deletes;
};
struct local {
  int64_t lookup_sum;
  long gets, hits, updates, inserts, deletes;
};

static int nthreads;
static long nbuckets, nkeys, rounds;
static struct bucket **table; /* untracked array of tracked buckets */
static struct stats *stats;
static int64_t thread_sum[MAX_THREADS];
static pthread_barrier_t bar;

static inline uint64_t key_of(uint64_t r) {
  /* skewed: small key numbers are hot */
  uint64_t a = r % (uint64_t)nkeys, b = (r >> 32) % 1024 + 1;
  return a * b / 1024;
}
static inline struct bucket *bucket_of(uint64_t key) {
  return table[mix64(key ^ 0x5bd1e995) % (uint64_t)nbuckets];
}

static void flush_stats(struct local *l) {
  atomic_fetch_add_explicit(&stats->gets, l->gets, memory_order_relaxed);
  atomic_fetch_add_explicit(&stats->hits, l->hits, memory_order_relaxed);
  atomic_fetch_add_explicit(&stats->updates, l->updates, memory_order_relaxed);
  atomic_fetch_add_explicit(&stats->inserts, l->inserts, memory_order_relaxed);
  atomic_fetch_add_explicit(&stats->deletes, l->deletes, memory_order_relaxed);
  l->gets = l->hits = l->updates = l->inserts = l->deletes = 0;
}

static void *worker(void *arg) {
  int me = (int)(long)arg;
  struct local *l = PUSH_ALLOC(sizeof *l);
  memset(l, 0, sizeof *l);
  long ulo = part_lo(UPDATES, nthreads, me), uhi = part_lo(UPDATES, nthreads, me + 1);
  long glo = part_lo(LOOKUPS, nthreads, me), ghi = part_lo(LOOKUPS, nthreads, me + 1);
  for (long r = 0; r < rounds; r++) {
    for (long i = ulo; i < uhi; i++) {
      uint64_t h = mix64(((uint64_t)r << 40) ^ (uint64_t)i);
      uint64_t key = key_of(h);
      int64_t delta = (int64_t)(mix64(h) % 4) - 1;
      struct bucket *b = bucket_of(key);
      pthread_mutex_lock(&b->lock);
      int k;
      for (k = 0; k < b->n && b->e[k].key != key; k++) {
      }
      if (k < b->n) {
        b->e[k].val += delta;
        if (b->e[k].val == 0) {
          b->e[k] = b->e[--b->n];
          l->deletes++;
        }
      } else if (delta != 0) {
        if (b->n == CAP) die("bucket full");
        b->e[b->n++] = (struct entry){key, delta};
        l->inserts++;
      }
      pthread_mutex_unlock(&b->lock);
      l->updates++;
    }
    pthread_barrier_wait(&bar);
    for (long i = glo; i < ghi; i++) {
      uint64_t h = mix64(((uint64_t)r << 40) ^ (uint64_t)i ^ (1ull << 39));
      uint64_t key = key_of(h);
      struct bucket *b = bucket_of(key);
      pthread_mutex_lock(&b->lock);
      int64_t v = 0;
      for (int k = 0; k < b->n; k++)
        if (b->e[k].key == key) {
          v = b->e[k].val;
          l->hits++;
          break;
        }
      pthread_mutex_unlock(&b->lock);
      l->lookup_sum += v * (int64_t)(i + 1);
      l->gets++;
      if ((l->gets & 4095) == 0) flush_stats(l);
    }
    pthread_barrier_wait(&bar);
  }
  flush_stats(l);
  thread_sum[me] = l->lookup_sum;
  push_free(l);
  return NULL;
}

int main(int argc, char **argv) {
  struct args a = parse_args(argc, argv, 20, 8192, "THREADS MILLION_OPS [BUCKETS]");
  nthreads = a.threads;
  nbuckets = a.steps;
  nkeys = 4 * nbuckets;
  rounds = (a.size * 1000000 + UPDATES + LOOKUPS - 1) / (UPDATES + LOOKUPS);
  table = xmalloc(sizeof(struct bucket *) * (size_t)nbuckets);
  for (long i = 0; i < nbuckets; i++) {
    struct bucket *b = table[i] = PUSH_ALLOC(sizeof(struct bucket));
    pthread_mutex_init(&b->lock, NULL);
    b->n = 0;
    PUSH_OK(push_protected_by(b, &b->lock));
  }
  stats = PUSH_ALLOC(sizeof *stats);
  memset(stats, 0, sizeof *stats);
  PUSH_OK(push_racy(stats));

  pthread_t tids[MAX_THREADS];
  pthread_barrier_init(&bar, NULL, nthreads);
  start_workers(tids, nthreads, worker);
  join_workers(tids, nthreads);

  uint64_t table_hash = 0;
  long live = 0;
  for (long i = 0; i < nbuckets; i++) {
    struct bucket *b = table[i];
    pthread_mutex_lock(&b->lock);
    for (int k = 0; k < b->n; k++)
      table_hash += mix64(b->e[k].key ^ mix64((uint64_t)b->e[k].val));
    live += b->n;
    pthread_mutex_unlock(&b->lock);
  }
  int64_t sum = 0;
  for (int t = 0; t < nthreads; t++) sum += thread_sum[t];
  long ops = atomic_load(&stats->gets) + atomic_load(&stats->updates);
  printf("kv buckets=%ld ops=%ld live=%ld hits=%ld\n", nbuckets, ops, live,
         (long)atomic_load(&stats->hits));
  print_checksum(mix64(table_hash ^ mix64((uint64_t)sum)));
  for (long i = 0; i < nbuckets; i++) {
    pthread_mutex_destroy(&table[i]->lock);
    push_free(table[i]);
  }
  free(table);
  push_free(stats);
  return 0;
}
