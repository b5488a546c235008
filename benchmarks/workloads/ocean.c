/* ocean: a grid stencil with barriers, after SPLASH-2's "ocean" (its
 * Jacobi relaxation sweeps on a 2-D grid). Usage: ocean THREADS N [ITERS]
 *
 * Jacobi iteration of the 5-point Laplace stencil on an N x N interior with
 * a fixed boundary (hot top edge), ITERS sweeps. Each thread owns a band of
 * rows, stored with one ghost row above and below, in two copies (old/new).
 * Between sweeps neighbouring threads exchange their edge rows through
 * small per-thread edge buffers (double-buffered by sweep parity, so one
 * barrier per sweep suffices). Every 8 sweeps the threads reduce the largest
 * change of the sweep into a shared residual under a lock and stop early if
 * it is below a tolerance (a max: the same whatever the order).
 *
 * Annotations (push.h):
 *   - the two copies of a band: one push_malloc each, made by the owner and
 *     private to it for the whole run;
 *   - edge buffers: one push_malloc per (thread, top/bottom, parity); the
 *     owner writes one, makes it push_readonly, the neighbour copies it
 *     after the barrier; two sweeps later (after another barrier) the owner
 *     takes it back with push_private and rewrites it;
 *   - the shared residual is push_protected_by its mutex.
 * Checksum: hash of the bits of the final grid.
 */
#include <math.h>
#include "common.h"

static int nthreads;
static long n, iters;
static double *band[MAX_THREADS][2];
static double *edge[MAX_THREADS][2][2]; /* [thread][0 top / 1 bottom][parity] */
static long used_sweeps;
static pthread_barrier_t bar;
static pthread_mutex_t resid_lock = PTHREAD_MUTEX_INITIALIZER;
struct resid {
  double max_change; /* of the current check sweep */
  long sweeps_done;
  int converged;
};
static struct resid *resid;

#define W (n + 2) /* row width with the left/right boundary columns */

static void *worker(void *arg) {
  int me = (int)(long)arg;
  long lo = part_lo(n, nthreads, me), hi = part_lo(n, nthreads, me + 1);
  long rows = hi - lo; /* interior rows lo..hi-1, stored at 1..rows */
  size_t bytes = sizeof(double) * (size_t)((rows + 2) * W);
  double *cur = band[me][0] = PUSH_ALLOC(bytes);
  double *nxt = band[me][1] = PUSH_ALLOC(bytes);
  for (int e = 0; e < 2; e++)
    for (int p = 0; p < 2; p++) edge[me][e][p] = PUSH_ALLOC(sizeof(double) * W);
  for (long r = 0; r < rows + 2; r++)
    for (long c = 0; c < W; c++) {
      long gr = lo + r; /* global row in 0..n+1 */
      double v;
      if (gr == 0)
        v = 1.0; /* hot top boundary */
      else if (gr == n + 1 || c == 0 || c == W - 1)
        v = 0.0;
      else
        v = unit((uint64_t)(gr * W + c));
      cur[r * W + c] = nxt[r * W + c] = v;
    }
  /* Publish parity 0 edges: our first and last interior rows. */
  memcpy(edge[me][0][0], cur + 1 * W, sizeof(double) * W);
  memcpy(edge[me][1][0], cur + rows * W, sizeof(double) * W);
  PUSH_OK(push_readonly(edge[me][0][0]));
  PUSH_OK(push_readonly(edge[me][1][0]));
  pthread_barrier_wait(&bar);

  long it;
  for (it = 0; it < iters; it++) {
    int p = (int)(it & 1), q = p ^ 1;
    /* Ghost rows from the neighbours' edges of this parity. */
    if (me > 0) memcpy(cur, edge[me - 1][1][p], sizeof(double) * W);
    if (me < nthreads - 1) memcpy(cur + (rows + 1) * W, edge[me + 1][0][p], sizeof(double) * W);
    int check = (it % 8) == 7;
    double maxd = 0;
    for (long r = 1; r <= rows; r++) {
      const double *up = cur + (r - 1) * W, *mid = cur + r * W, *dn = cur + (r + 1) * W;
      double *out = nxt + r * W;
      for (long c = 1; c <= n; c++) out[c] = 0.25 * (up[c] + dn[c] + mid[c - 1] + mid[c + 1]);
      if (check)
        for (long c = 1; c <= n; c++) {
          double d = fabs(out[c] - mid[c]);
          if (d > maxd) maxd = d;
        }
    }
    double *t = cur;
    cur = nxt;
    nxt = t;
    /* Our parity-q edges were last read during the previous sweep, which
     * every thread finished before the last barrier. */
    PUSH_OK(push_private(edge[me][0][q]));
    PUSH_OK(push_private(edge[me][1][q]));
    memcpy(edge[me][0][q], cur + 1 * W, sizeof(double) * W);
    memcpy(edge[me][1][q], cur + rows * W, sizeof(double) * W);
    PUSH_OK(push_readonly(edge[me][0][q]));
    PUSH_OK(push_readonly(edge[me][1][q]));
    if (check) {
      pthread_mutex_lock(&resid_lock);
      if (maxd > resid->max_change) resid->max_change = maxd;
      pthread_mutex_unlock(&resid_lock);
    }
    pthread_barrier_wait(&bar);
    if (check) {
      pthread_mutex_lock(&resid_lock);
      int stop = resid->max_change < 1e-9;
      if (me == 0) {
        resid->sweeps_done = it + 1;
        resid->converged = stop;
      }
      pthread_mutex_unlock(&resid_lock);
      pthread_barrier_wait(&bar); /* everyone has read max_change */
      if (me == 0) {
        pthread_mutex_lock(&resid_lock);
        resid->max_change = 0;
        pthread_mutex_unlock(&resid_lock);
      }
      if (stop) {
        it++;
        break;
      }
    }
  }
  if (me == 0) used_sweeps = it;
  band[me][0] = cur; /* the latest copy, for main */
  band[me][1] = nxt;
  return NULL;
}

int main(int argc, char **argv) {
  struct args a = parse_args(argc, argv, 2048, 100, "THREADS N [ITERS]");
  nthreads = a.threads;
  n = a.size;
  iters = a.steps;
  if (nthreads > n) die("more threads than rows");
  resid = PUSH_ALLOC(sizeof *resid);
  memset(resid, 0, sizeof *resid);
  PUSH_OK(push_protected_by(resid, &resid_lock));

  pthread_t tids[MAX_THREADS];
  pthread_barrier_init(&bar, NULL, nthreads);
  start_workers(tids, nthreads, worker);
  join_workers(tids, nthreads);

  /* The bands were private to the workers, which main has joined. */
  uint64_t h = FNV_INIT;
  double sum = 0;
  for (int t = 0; t < nthreads; t++) {
    long rows = part_lo(n, nthreads, t + 1) - part_lo(n, nthreads, t);
    for (long r = 1; r <= rows; r++) {
      h = hash_words(h, band[t][0] + r * W + 1, (size_t)n);
      for (long c = 1; c <= n; c++) sum += band[t][0][r * W + c];
    }
  }
  pthread_mutex_lock(&resid_lock);
  int converged = resid->converged;
  pthread_mutex_unlock(&resid_lock);
  printf("ocean n=%ld sweeps=%ld converged=%d mean=%.9f\n", n, used_sweeps, converged,
         sum / ((double)n * (double)n));
  print_checksum(h);
  for (int t = 0; t < nthreads; t++) {
    push_free(band[t][0]);
    push_free(band[t][1]);
    for (int e = 0; e < 2; e++)
      for (int p = 0; p < 2; p++) push_free(edge[t][e][p]);
  }
  push_free(resid);
  return 0;
}
