/* barnes: Barnes-Hut n-body simulation (octree), after SPLASH-2's "barnes".
 * Usage: barnes THREADS BODIES [STEPS]
 *
 * A Plummer-model galaxy. Each step: thread 0 builds the octree over all
 * bodies and computes the cells' centres of mass; barrier; every thread
 * computes the gravitational acceleration of its own bodies by walking the
 * tree (opening angle 1.0, SPLASH-2's default; monopoles only); barrier;
 * every thread integrates its bodies (leapfrog); barrier. The tree
 * depends only on the body positions and is walked in a fixed order, so
 * each body's force is the same whatever the thread count.
 *
 * Annotations (push.h):
 *   - bodies: one push_malloc per thread for its range, made by that thread;
 *     push_readonly while everybody reads them (tree build, force walk),
 *     push_private for the integration, after the barrier that ends the
 *     force phase;
 *   - the tree (cell array) and the table of pointers to every body: one
 *     push_malloc each, made by the main thread and handed to thread 0 with
 *     push_release / push_acquire; thread 0 fills the table once and makes
 *     it push_readonly; it builds the tree privately each step, makes it
 *     push_readonly for the force phase and takes it back with
 *     push_private at the next step;
 *   - accelerations: one private push_malloc per thread.
 * Checksum: hash of the bits of the final positions and velocities.
 */
#include <math.h>
#include "common.h"

struct body {
  double pos[3], vel[3], mass;
};
struct cell {
  double cm[3], mass;
  double center[3], half;
  int32_t child[8]; /* >= 0 cell, -1 empty, <= -2 body -(b + 2) */
};

#define EMPTY (-1)
#define IS_BODY(c) ((c) <= -2)
#define BODY_OF(c) (-(c)-2)

static int nthreads;
static long nbodies, steps, max_cells;
static struct body *blk[MAX_THREADS];
static struct body **bptr;
static struct cell *cells;
static long ncells;
static pthread_barrier_t bar;
static const double theta2 = 1.0 * 1.0, eps2 = 0.05 * 0.05, dt = 0.01;

static long new_cell(const double center[3], double half) {
  if (ncells >= max_cells) die("tree capacity exceeded");
  struct cell *c = &cells[ncells];
  memcpy(c->center, center, sizeof c->center);
  c->half = half;
  for (int i = 0; i < 8; i++) c->child[i] = EMPTY;
  return ncells++;
}

static int octant(const struct cell *c, const double p[3]) {
  return (p[0] >= c->center[0]) | (p[1] >= c->center[1]) << 1 | (p[2] >= c->center[2]) << 2;
}

static void insert(long b) {
  long ci = 0;
  for (int depth = 0;; depth++) {
    if (depth > 200) die("coincident bodies");
    struct cell *c = &cells[ci];
    int o = octant(c, bptr[b]->pos);
    int32_t ch = c->child[o];
    if (ch == EMPTY) {
      c->child[o] = (int32_t)(-(b + 2));
      return;
    }
    if (!IS_BODY(ch)) {
      ci = ch;
      continue;
    }
    /* Split: a new cell for the octant, holding the old body. */
    double h = c->half / 2, ctr[3];
    for (int d = 0; d < 3; d++) ctr[d] = c->center[d] + ((o >> d) & 1 ? h : -h);
    long ni = new_cell(ctr, h);
    c = &cells[ci]; /* (cells does not move; keep it simple) */
    c->child[o] = (int32_t)ni;
    long old = BODY_OF(ch);
    cells[ni].child[octant(&cells[ni], bptr[old]->pos)] = (int32_t)(-(old + 2));
    ci = ni;
  }
}

static void centre_of_mass(long ci) {
  struct cell *c = &cells[ci];
  double m = 0, p[3] = {0, 0, 0};
  for (int i = 0; i < 8; i++) {
    int32_t ch = c->child[i];
    if (ch == EMPTY) continue;
    const double *q;
    double mq;
    if (IS_BODY(ch)) {
      q = bptr[BODY_OF(ch)]->pos;
      mq = bptr[BODY_OF(ch)]->mass;
    } else {
      centre_of_mass(ch);
      q = cells[ch].cm;
      mq = cells[ch].mass;
    }
    m += mq;
    for (int d = 0; d < 3; d++) p[d] += mq * q[d];
  }
  c->mass = m;
  for (int d = 0; d < 3; d++) c->cm[d] = m > 0 ? p[d] / m : c->center[d];
}

static void build_tree(void) {
  double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
  for (long b = 0; b < nbodies; b++)
    for (int d = 0; d < 3; d++) {
      lo[d] = fmin(lo[d], bptr[b]->pos[d]);
      hi[d] = fmax(hi[d], bptr[b]->pos[d]);
    }
  double ctr[3], half = 0;
  for (int d = 0; d < 3; d++) {
    ctr[d] = (lo[d] + hi[d]) / 2;
    half = fmax(half, (hi[d] - lo[d]) / 2);
  }
  ncells = 0;
  new_cell(ctr, half * 1.0001 + 1e-9);
  for (long b = 0; b < nbodies; b++) insert(b);
  centre_of_mass(0);
}

static void force(long b, double acc[3]) {
  const double *p = bptr[b]->pos;
  double a[3] = {0, 0, 0};
  int32_t stack[8 * 256];
  int sp = 0;
  stack[sp++] = 0;
  while (sp) {
    const struct cell *c = &cells[stack[--sp]];
    for (int i = 0; i < 8; i++) {
      int32_t ch = c->child[i];
      if (ch == EMPTY) continue;
      const double *q;
      double m;
      if (IS_BODY(ch)) {
        if (BODY_OF(ch) == b) continue;
        q = bptr[BODY_OF(ch)]->pos;
        m = bptr[BODY_OF(ch)]->mass;
      } else {
        const struct cell *k = &cells[ch];
        double dx = k->cm[0] - p[0], dy = k->cm[1] - p[1], dz = k->cm[2] - p[2];
        double d2 = dx * dx + dy * dy + dz * dz, size = 2 * k->half;
        if (size * size >= theta2 * d2) {
          if (sp >= (int)(sizeof stack / sizeof stack[0])) die("walk stack");
          stack[sp++] = ch;
          continue;
        }
        q = k->cm;
        m = k->mass;
      }
      double dx = q[0] - p[0], dy = q[1] - p[1], dz = q[2] - p[2];
      double r2 = dx * dx + dy * dy + dz * dz + eps2;
      double inv = 1.0 / sqrt(r2), s = m * inv * inv * inv;
      a[0] += s * dx, a[1] += s * dy, a[2] += s * dz;
    }
  }
  memcpy(acc, a, sizeof a);
}

static void *worker(void *arg) {
  int me = (int)(long)arg;
  long lo = part_lo(nbodies, nthreads, me), hi = part_lo(nbodies, nthreads, me + 1);
  struct body *mine = blk[me] = PUSH_ALLOC(sizeof(struct body) * (size_t)(hi - lo + 1));
  double(*acc)[3] = PUSH_ALLOC(sizeof(double) * 3 * (size_t)(hi - lo + 1));
  for (long i = lo; i < hi; i++) {
    struct body *b = &mine[i - lo];
    /* Plummer sphere: radius from the cumulative mass, direction uniform. */
    double r;
    uint64_t k = 0;
    do r = 1.0 / sqrt(pow(0.999 * unit((uint64_t)i * 16 + k++) + 0.0005, -2.0 / 3.0) - 1.0);
    while (r > 8.0);
    double z = 2 * unit((uint64_t)i * 16 + 8) - 1, ph = 2 * M_PI * unit((uint64_t)i * 16 + 9);
    double s = sqrt(1 - z * z);
    b->pos[0] = r * s * cos(ph), b->pos[1] = r * s * sin(ph), b->pos[2] = r * z;
    for (int d = 0; d < 3; d++) b->vel[d] = 0.1 * (unit((uint64_t)i * 16 + 10 + (uint64_t)d) - 0.5);
    b->mass = 1.0 / (double)nbodies;
  }
  PUSH_OK(push_readonly(mine));
  pthread_barrier_wait(&bar);
  if (me == 0) {
    PUSH_OK(push_acquire(bptr));
    PUSH_OK(push_acquire(cells));
    for (int t = 0; t < nthreads; t++) {
      long tlo = part_lo(nbodies, nthreads, t), thi = part_lo(nbodies, nthreads, t + 1);
      for (long i = tlo; i < thi; i++) bptr[i] = &blk[t][i - tlo];
    }
    PUSH_OK(push_readonly(bptr));
  }

  for (long s = 0; s < steps; s++) {
    if (me == 0) {
      /* Nobody reads the tree between the end of the last force phase and
       * the barrier below. */
      if (s > 0) PUSH_OK(push_private(cells));
      build_tree();
      PUSH_OK(push_readonly(cells));
    }
    pthread_barrier_wait(&bar);
    for (long i = lo; i < hi; i++) force(i, acc[i - lo]);
    pthread_barrier_wait(&bar);
    PUSH_OK(push_private(mine));
    for (long i = lo; i < hi; i++) {
      struct body *b = &mine[i - lo];
      for (int d = 0; d < 3; d++) {
        b->vel[d] += acc[i - lo][d] * dt;
        b->pos[d] += b->vel[d] * dt;
      }
    }
    PUSH_OK(push_readonly(mine));
    pthread_barrier_wait(&bar);
  }
  push_free(acc);
  return NULL;
}

int main(int argc, char **argv) {
  struct args a = parse_args(argc, argv, 65536, 4, "THREADS BODIES [STEPS]");
  nthreads = a.threads;
  nbodies = a.size;
  steps = a.steps;
  if (nbodies < nthreads) die("fewer bodies than threads");
  max_cells = 2 * nbodies + 1024;
  cells = PUSH_ALLOC(sizeof(struct cell) * (size_t)max_cells);
  PUSH_OK(push_release(cells)); /* thread 0 builds the tree */
  bptr = PUSH_ALLOC(sizeof(struct body *) * (size_t)nbodies);
  PUSH_OK(push_release(bptr));

  pthread_t tids[MAX_THREADS];
  pthread_barrier_init(&bar, NULL, nthreads);
  start_workers(tids, nthreads, worker);
  join_workers(tids, nthreads);

  uint64_t h = FNV_INIT;
  double e = 0;
  for (long b = 0; b < nbodies; b++) {
    h = hash_words(h, bptr[b], 6);
    for (int d = 0; d < 3; d++) e += 0.5 * bptr[b]->mass * bptr[b]->vel[d] * bptr[b]->vel[d];
  }
  printf("barnes bodies=%ld steps=%ld cells=%ld kinetic=%.12f\n", nbodies, steps, ncells, e);
  print_checksum(h);
  push_free(cells);
  push_free(bptr);
  for (int t = 0; t < nthreads; t++) push_free(blk[t]);
  return 0;
}
