/* kmeans: Lloyd's k-means clustering, after the STAMP/Rodinia/MineBench
 * "kmeans" kernels. Usage: kmeans THREADS NPOINTS [MAX_ITERS]
 *
 * NPOINTS points of D = 16 integer features (0..4095) drawn around K = 16
 * hidden centres; K clusters. Each iteration every thread assigns its range
 * of points to the nearest centroid (ties to the lower index) and sums them
 * per cluster in a private partial, then adds the partial into the shared
 * accumulator under a lock; after a barrier thread 0 computes the new
 * centroids (rounded means) and whether anything changed. Integer sums are
 * exact, so the result does not depend on the thread count or the order.
 *
 * Annotations (push.h):
 *   - the points: one push_malloc filled by the main thread, then
 *     push_readonly (input after initialisation);
 *   - the centroids: one push_malloc, push_readonly while the threads read
 *     them; thread 0 takes them with push_private after the barrier that
 *     ends the assignment phase, updates them and makes them read-only again;
 *   - the shared accumulator: push_protected_by its mutex;
 *   - per-thread partial sums and memberships: private to their thread.
 * Checksum: hash of the final centroids, cluster sizes and iteration count.
 */
#include "common.h"

#define D 16
#define K 16

struct sums {
  int64_t sum[K][D];
  int64_t count[K];
  int64_t changed;
};
struct centroids {
  int32_t c[K][D];
  int64_t count[K];
  long iters;
  int done;
};

static int nthreads;
static long npoints, max_iters;
static int16_t (*points)[D];
static struct centroids *cent;
static struct sums *acc;
static pthread_mutex_t acc_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t bar;

static void *worker(void *arg) {
  int me = (int)(long)arg;
  long lo = part_lo(npoints, nthreads, me), hi = part_lo(npoints, nthreads, me + 1);
  struct sums *part = PUSH_ALLOC(sizeof *part);
  int8_t *member = PUSH_ALLOC((size_t)(hi - lo + 1));
  memset(member, -1, (size_t)(hi - lo + 1));
  for (long it = 0;; it++) {
    memset(part, 0, sizeof *part);
    for (long i = lo; i < hi; i++) {
      const int16_t *p = points[i];
      int best = 0;
      int32_t bestd = INT32_MAX;
      for (int k = 0; k < K; k++) {
        const int32_t *c = cent->c[k];
        int32_t d = 0;
        for (int f = 0; f < D; f++) {
          int32_t x = p[f] - c[f];
          d += x * x;
        }
        if (d < bestd) {
          bestd = d;
          best = k;
        }
      }
      if (member[i - lo] != best) {
        member[i - lo] = (int8_t)best;
        part->changed++;
      }
      part->count[best]++;
      for (int f = 0; f < D; f++) part->sum[best][f] += p[f];
    }
    pthread_mutex_lock(&acc_lock);
    for (int k = 0; k < K; k++) {
      acc->count[k] += part->count[k];
      for (int f = 0; f < D; f++) acc->sum[k][f] += part->sum[k][f];
    }
    acc->changed += part->changed;
    pthread_mutex_unlock(&acc_lock);
    pthread_barrier_wait(&bar);
    if (me == 0) {
      /* Nobody reads the centroids between the two barriers. */
      PUSH_OK(push_private(cent));
      pthread_mutex_lock(&acc_lock);
      for (int k = 0; k < K; k++) {
        cent->count[k] = acc->count[k];
        if (acc->count[k])
          for (int f = 0; f < D; f++)
            cent->c[k][f] = (int32_t)((acc->sum[k][f] + acc->count[k] / 2) / acc->count[k]);
      }
      cent->iters = it + 1;
      cent->done = acc->changed == 0 || it + 1 >= max_iters;
      memset(acc, 0, sizeof *acc);
      pthread_mutex_unlock(&acc_lock);
      PUSH_OK(push_readonly(cent));
    }
    pthread_barrier_wait(&bar);
    if (cent->done) break;
  }
  push_free(part);
  push_free(member);
  return NULL;
}

int main(int argc, char **argv) {
  struct args a = parse_args(argc, argv, 2000000, 30, "THREADS NPOINTS [MAX_ITERS]");
  nthreads = a.threads;
  npoints = a.size;
  max_iters = a.steps;
  if (npoints < K) die("too few points");

  points = PUSH_ALLOC(sizeof(int16_t) * D * (size_t)npoints);
  for (long i = 0; i < npoints; i++) {
    uint64_t centre = mix64((uint64_t)i) % K;
    for (int f = 0; f < D; f++) {
      int base = (int)(mix64(centre * 977 + (uint64_t)f) % 3072) + 512;
      int noise = (int)(mix64(((uint64_t)i << 5) ^ (uint64_t)f ^ 0xabcdef) % 1025) - 512;
      points[i][f] = (int16_t)(base + noise);
    }
  }
  PUSH_OK(push_readonly(points));

  cent = PUSH_ALLOC(sizeof *cent);
  memset(cent, 0, sizeof *cent);
  for (int k = 0; k < K; k++)
    for (int f = 0; f < D; f++) cent->c[k][f] = points[(long)k * (npoints / K)][f];
  PUSH_OK(push_readonly(cent));
  acc = PUSH_ALLOC(sizeof *acc);
  memset(acc, 0, sizeof *acc);
  PUSH_OK(push_protected_by(acc, &acc_lock));

  pthread_t tids[MAX_THREADS];
  pthread_barrier_init(&bar, NULL, nthreads);
  start_workers(tids, nthreads, worker);
  join_workers(tids, nthreads);

  uint64_t h = hash_words(FNV_INIT, cent->c, sizeof cent->c / 8);
  h = hash_words(h, cent->count, K);
  h = mix64(h ^ (uint64_t)cent->iters);
  printf("kmeans points=%ld k=%d iterations=%ld\n", npoints, K, cent->iters);
  print_checksum(h);
  push_free(points);
  push_free(cent);
  push_free(acc);
  return 0;
}
