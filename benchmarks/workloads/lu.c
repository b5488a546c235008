/* lu: blocked dense LU factorisation without pivoting, after SPLASH-2's
 * "LU, contiguous blocks". Usage: lu THREADS N   (N a multiple of 32)
 *
 * The N x N matrix is stored as (N/32)^2 blocks of 32 x 32 doubles; block
 * (I,J) belongs to thread owner(I,J) (2-D scatter over a pr x pc grid of
 * threads). Step k: the owner of (k,k) factors it; barrier; owners of the
 * perimeter blocks (k,j) and (i,k) solve them against (k,k); barrier; owners
 * of interior blocks (i,j) update them with (i,k) * (k,j).
 *
 * Annotations (push.h):
 *   - each block is one push_malloc (8 KiB, exactly two pages);
 *   - the main thread allocates and initialises every block, then hands
 *     each to its owner with push_transfer: a master preparing work;
 *   - a block that is final (the diagonal after step k factors it, a
 *     perimeter block after step k solves it) is made push_readonly by its
 *     owner: every thread reads it from then on and nobody writes it again;
 *   - interior blocks stay private to their owner throughout.
 * Checksum: FNV over the bits of the factored matrix (each block is computed
 * by the same operations in the same order whatever the thread count).
 */
#include <math.h>
#include "common.h"

#define B 32

static int nthreads, nb, pr, pc;
static double **blk; /* nb * nb pointers (untracked table) */
static pthread_barrier_t bar, start;

#define BLK(i, j) blk[(long)(i) * nb + (j)]

static int owner(int i, int j) { return (i % pr) * pc + (j % pc); }

static void factor(double *a) {
  for (int k = 0; k < B; k++) {
    double piv = a[k * B + k];
    for (int i = k + 1; i < B; i++) {
      double l = a[i * B + k] /= piv;
      for (int j = k + 1; j < B; j++) a[i * B + j] -= l * a[k * B + j];
    }
  }
}

/* b = L^-1 b, L the unit lower triangle of d. */
static void lower_solve(const double *d, double *b) {
  for (int i = 1; i < B; i++)
    for (int k = 0; k < i; k++) {
      double l = d[i * B + k];
      for (int j = 0; j < B; j++) b[i * B + j] -= l * b[k * B + j];
    }
}

/* b = b U^-1, U the upper triangle of d. */
static void upper_solve(const double *d, double *b) {
  for (int j = 0; j < B; j++) {
    double u = d[j * B + j];
    for (int i = 0; i < B; i++) {
      double s = b[i * B + j];
      for (int k = 0; k < j; k++) s -= b[i * B + k] * d[k * B + j];
      b[i * B + j] = s / u;
    }
  }
}

/* c -= a * b */
static void gemm_sub(double *restrict c, const double *restrict a,
                     const double *restrict b) {
  for (int i = 0; i < B; i++)
    for (int k = 0; k < B; k++) {
      double x = a[i * B + k];
      for (int j = 0; j < B; j++) c[i * B + j] -= x * b[k * B + j];
    }
}

static void *worker(void *arg) {
  int me = (int)(long)arg;
  pthread_barrier_wait(&start); /* main has transferred our blocks */
  for (int k = 0; k < nb; k++) {
    if (owner(k, k) == me) {
      factor(BLK(k, k));
      PUSH_OK(push_readonly(BLK(k, k)));
    }
    pthread_barrier_wait(&bar);
    const double *d = BLK(k, k);
    for (int j = k + 1; j < nb; j++)
      if (owner(k, j) == me) {
        lower_solve(d, BLK(k, j));
        PUSH_OK(push_readonly(BLK(k, j)));
      }
    for (int i = k + 1; i < nb; i++)
      if (owner(i, k) == me) {
        upper_solve(d, BLK(i, k));
        PUSH_OK(push_readonly(BLK(i, k)));
      }
    pthread_barrier_wait(&bar);
    /* Interior update. No barrier after it: the next step's diagonal and
     * perimeter blocks are updated by their own owners, and everything read
     * here is final (read-only). */
    for (int i = k + 1; i < nb; i++)
      for (int j = k + 1; j < nb; j++)
        if (owner(i, j) == me) gemm_sub(BLK(i, j), BLK(i, k), BLK(k, j));
  }
  return NULL;
}

int main(int argc, char **argv) {
  struct args a = parse_args(argc, argv, 1536, 1, "THREADS N (N a multiple of 32)");
  if (a.size % B) die("N must be a multiple of 32");
  nthreads = a.threads;
  nb = (int)(a.size / B);
  long n = a.size;
  for (pr = (int)sqrt((double)nthreads); nthreads % pr; pr--) {
  }
  pc = nthreads / pr;

  blk = xmalloc(sizeof(double *) * nb * nb);
  for (int i = 0; i < nb; i++)
    for (int j = 0; j < nb; j++) {
      double *b = PUSH_ALLOC(sizeof(double) * B * B);
      for (int r = 0; r < B; r++)
        for (int c = 0; c < B; c++) {
          long gi = (long)i * B + r, gj = (long)j * B + c;
          b[r * B + c] = unit((uint64_t)(gi * n + gj)) + (gi == gj ? (double)n : 0.0);
        }
      BLK(i, j) = b;
    }

  pthread_t tids[MAX_THREADS];
  pthread_barrier_init(&bar, NULL, nthreads);
  pthread_barrier_init(&start, NULL, nthreads + 1);
  start_workers(tids, nthreads, worker);
  for (int i = 0; i < nb; i++)
    for (int j = 0; j < nb; j++) PUSH_OK(push_transfer(BLK(i, j), tids[owner(i, j)]));
  pthread_barrier_wait(&start); /* release the workers */
  join_workers(tids, nthreads);

  /* Every block is final (read-only) now. */
  uint64_t h = FNV_INIT;
  double trace = 0;
  for (int i = 0; i < nb; i++)
    for (int j = 0; j < nb; j++) {
      h = hash_words(h, BLK(i, j), B * B);
      if (i == j)
        for (int r = 0; r < B; r++) trace += BLK(i, j)[r * B + r];
    }
  printf("lu n=%ld blocks=%d trace(U)=%.6f\n", n, nb * nb, trace);
  print_checksum(h);
  for (int i = 0; i < nb * nb; i++) push_free(blk[i]);
  free(blk);
  return 0;
}
