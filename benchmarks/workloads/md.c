/* md: a molecular-dynamics step with per-molecule locks, after SPLASH-2's
 * "water-nsquared". Usage: md THREADS MOLECULES [STEPS]
 *
 * Lennard-Jones particles in a periodic box, O(n^2) pair forces with a
 * cutoff. Thread t owns a contiguous range of molecules. Force phase: each
 * thread computes the pairs (i, i+1..i+n/2 mod n) for its own i, accumulating
 * forces in a private array, then adds them into every molecule's shared
 * force accumulator under that molecule's lock (as water-nsquared does).
 * Update phase: each thread takes the force of its own molecules (under the
 * lock, zeroing it) and integrates their positions and velocities.
 * Forces are accumulated in 40.24 fixed point, so the sums are exact and
 * the result does not depend on the order of the additions.
 *
 * Annotations (push.h):
 *   - one push_malloc per molecule for its shared force accumulator, with
 *     its mutex inside, push_protected_by that mutex (MOLECULES tracked
 *     objects: keep it moderate while each tracked object costs a page);
 *   - positions/velocities: one push_malloc per thread for its molecules,
 *     private while the owner integrates them, push_readonly during the
 *     force phase (every thread reads every position), push_private again
 *     after the barrier that ends the force phase;
 *   - the table of pointers to each molecule's position: allocated by the
 *     main thread, handed to thread 0 with push_release / push_acquire,
 *     filled by it and then push_readonly;
 *   - each thread's force scratch array is private to it.
 * Checksum: hash of the bits of the final positions and velocities.
 */
#include <math.h>
#include "common.h"

#define SCALE 16777216.0 /* 2^24 */

struct particle {
  double x[3], v[3];
};
struct mol {
  pthread_mutex_t lock;
  int64_t f[3];
};

static int nthreads;
static long nmol, steps;
static double box, half_box;
static const double rc2 = 2.5 * 2.5, dt = 0.002;
static struct mol **mols;                  /* untracked table of tracked objects */
static struct particle *blk[MAX_THREADS];  /* per-thread position blocks */
static struct particle **posp;             /* push_readonly table */
static pthread_barrier_t bar;

static inline double wrapd(double d) {
  if (d > half_box) return d - box;
  if (d < -half_box) return d + box;
  return d;
}

static void *worker(void *arg) {
  int me = (int)(long)arg;
  long lo = part_lo(nmol, nthreads, me), hi = part_lo(nmol, nthreads, me + 1);
  struct particle *mine = blk[me] = PUSH_ALLOC(sizeof(struct particle) * (size_t)(hi - lo + 1));
  int64_t(*acc)[3] = PUSH_ALLOC(sizeof(int64_t) * 3 * (size_t)nmol);
  long side = (long)ceil(cbrt((double)nmol));
  double spacing = box / (double)side;
  for (long i = lo; i < hi; i++) {
    struct particle *p = &mine[i - lo];
    long gx = i % side, gy = (i / side) % side, gz = i / (side * side);
    p->x[0] = (gx + 0.5) * spacing + 0.1 * (unit(6 * i) - 0.5);
    p->x[1] = (gy + 0.5) * spacing + 0.1 * (unit(6 * i + 1) - 0.5);
    p->x[2] = (gz + 0.5) * spacing + 0.1 * (unit(6 * i + 2) - 0.5);
    for (int d = 0; d < 3; d++) p->v[d] = unit(6 * i + 3 + d) - 0.5;
  }
  PUSH_OK(push_readonly(mine));
  pthread_barrier_wait(&bar);
  if (me == 0) {
    PUSH_OK(push_acquire(posp));
    for (int t = 0; t < nthreads; t++)
      for (long i = part_lo(nmol, nthreads, t); i < part_lo(nmol, nthreads, t + 1); i++)
        posp[i] = &blk[t][i - part_lo(nmol, nthreads, t)];
    PUSH_OK(push_readonly(posp));
  }
  pthread_barrier_wait(&bar);

  for (long s = 0; s < steps; s++) {
    /* Force phase: positions are read-only. */
    memset(acc, 0, sizeof(int64_t) * 3 * (size_t)nmol);
    for (long i = lo; i < hi; i++) {
      const double *xi = posp[i]->x;
      long kmax = nmol / 2;
      for (long k = 1; k <= kmax; k++) {
        if (2 * k == nmol && i >= kmax) break; /* that pair belongs to i - n/2 */
        long j = i + k;
        if (j >= nmol) j -= nmol;
        const double *xj = posp[j]->x;
        double dx = wrapd(xi[0] - xj[0]), dy = wrapd(xi[1] - xj[1]), dz = wrapd(xi[2] - xj[2]);
        double r2 = dx * dx + dy * dy + dz * dz;
        if (r2 >= rc2) continue;
        if (r2 < 0.64) r2 = 0.64;
        double ir2 = 1.0 / r2, ir6 = ir2 * ir2 * ir2;
        double fr = 24.0 * ir2 * ir6 * (2.0 * ir6 - 1.0);
        int64_t fx = llrint(fr * dx * SCALE), fy = llrint(fr * dy * SCALE),
                fz = llrint(fr * dz * SCALE);
        acc[i][0] += fx, acc[i][1] += fy, acc[i][2] += fz;
        acc[j][0] -= fx, acc[j][1] -= fy, acc[j][2] -= fz;
      }
    }
    for (long k = 0; k < nmol; k++) {
      long j = (lo + k) % nmol; /* start at our own: less contention */
      if (!(acc[j][0] | acc[j][1] | acc[j][2])) continue;
      struct mol *m = mols[j];
      pthread_mutex_lock(&m->lock);
      for (int d = 0; d < 3; d++) m->f[d] += acc[j][d];
      pthread_mutex_unlock(&m->lock);
    }
    pthread_barrier_wait(&bar);
    /* Update phase: nobody reads positions now. */
    PUSH_OK(push_private(mine));
    for (long i = lo; i < hi; i++) {
      struct mol *m = mols[i];
      int64_t f[3];
      pthread_mutex_lock(&m->lock);
      for (int d = 0; d < 3; d++) {
        f[d] = m->f[d];
        m->f[d] = 0;
      }
      pthread_mutex_unlock(&m->lock);
      struct particle *p = &mine[i - lo];
      for (int d = 0; d < 3; d++) {
        p->v[d] += (double)f[d] / SCALE * dt;
        double x = p->x[d] + p->v[d] * dt;
        if (x >= box) x -= box;
        if (x < 0) x += box;
        p->x[d] = x;
      }
    }
    PUSH_OK(push_readonly(mine));
    pthread_barrier_wait(&bar);
  }
  push_free(acc);
  return NULL;
}

int main(int argc, char **argv) {
  struct args a = parse_args(argc, argv, 4096, 20, "THREADS MOLECULES [STEPS]");
  nthreads = a.threads;
  nmol = a.size;
  steps = a.steps;
  if (nmol < 2 * nthreads) die("too few molecules");
  box = cbrt((double)nmol / 0.8);
  half_box = box / 2;
  mols = xmalloc(sizeof(struct mol *) * (size_t)nmol);
  for (long i = 0; i < nmol; i++) {
    struct mol *m = mols[i] = PUSH_ALLOC(sizeof(struct mol));
    pthread_mutex_init(&m->lock, NULL);
    m->f[0] = m->f[1] = m->f[2] = 0;
    PUSH_OK(push_protected_by(m, &m->lock));
  }
  posp = PUSH_ALLOC(sizeof(struct particle *) * (size_t)nmol);
  PUSH_OK(push_release(posp)); /* thread 0 fills it: hand it over */

  pthread_t tids[MAX_THREADS];
  pthread_barrier_init(&bar, NULL, nthreads);
  start_workers(tids, nthreads, worker);
  join_workers(tids, nthreads);

  uint64_t h = FNV_INIT;
  double ke = 0;
  for (long i = 0; i < nmol; i++) {
    h = hash_words(h, posp[i], 6);
    for (int d = 0; d < 3; d++) ke += 0.5 * posp[i]->v[d] * posp[i]->v[d];
  }
  printf("md molecules=%ld steps=%ld kinetic=%.9f\n", nmol, steps, ke);
  print_checksum(h);
  for (long i = 0; i < nmol; i++) {
    pthread_mutex_destroy(&mols[i]->lock);
    push_free(mols[i]);
  }
  free(mols);
  return 0;
}
