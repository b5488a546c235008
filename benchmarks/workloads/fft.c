/* fft: 1-D complex FFT by the six-step method, after SPLASH-2's "fft".
 * Usage: fft THREADS LOG2N [ROUND_TRIPS]   (LOG2N even)
 *
 * N = L * L complex doubles are viewed as an L x L matrix. One transform is
 * transpose, L row FFTs, twiddle, transpose, L row FFTs, transpose; each
 * thread owns a contiguous band of rows of the two matrices x and y, and a
 * transpose reads every band of the source (columns) and writes its own band
 * of the destination. A round trip is a forward transform x -> y followed by
 * an inverse y -> x (scaled by 1/N), so the data come back to the input up to
 * rounding.
 *
 * Annotations (push.h):
 *   - each thread's band of x and of y is one push_malloc made by that
 *     thread (first touch), private to it while it writes the band;
 *   - after writing its band a thread makes it push_readonly, and after the
 *     barrier every thread reads it (the transposes); before writing the band
 *     again (after the next barrier, when nobody reads it any more) the owner
 *     takes it back with push_private;
 *   - the twiddle tables are computed by the main thread and then made
 *     push_readonly: inputs after initialisation.
 * Checksum: hash of the bits of the final data (row FFTs, twiddles and
 * transposes apply the same operations to each element whatever the band
 * partition).
 */
#include <math.h>
#include "common.h"

typedef struct {
  double re, im;
} cplx;

static int nthreads, logn;
static long L, N;
static long rounds;
static cplx *wl;   /* w_L^j, j < L (push_readonly) */
static cplx *wn;   /* w_N^j, j < L (push_readonly) */
static cplx *band_x[MAX_THREADS], *band_y[MAX_THREADS];
static cplx **row_x, **row_y; /* row pointers into the bands (untracked) */
static pthread_barrier_t bar;

static inline cplx cmul(cplx a, cplx b) {
  return (cplx){a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}
static inline cplx conj_if(cplx a, int inverse) {
  return inverse ? (cplx){a.re, -a.im} : a;
}

/* In-place radix-2 FFT of one row of length L. */
static void row_fft(cplx *a, int inverse) {
  for (long i = 1, j = 0; i < L; i++) {
    long bit = L >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      cplx t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }
  for (long len = 2; len <= L; len <<= 1) {
    long half = len >> 1, stride = L / len;
    for (long i = 0; i < L; i += len)
      for (long k = 0; k < half; k++) {
        cplx w = conj_if(wl[k * stride], inverse);
        cplx u = a[i + k], v = cmul(a[i + k + half], w);
        a[i + k] = (cplx){u.re + v.re, u.im + v.im};
        a[i + k + half] = (cplx){u.re - v.re, u.im - v.im};
      }
  }
}

/* dst rows [lo, hi) = columns [lo, hi) of src, tiled. */
static void transpose(cplx **dst, cplx **src, long lo, long hi) {
  const long T = 16;
  for (long r0 = lo; r0 < hi; r0 += T)
    for (long c0 = 0; c0 < L; c0 += T) {
      long r1 = r0 + T < hi ? r0 + T : hi;
      for (long c = c0; c < c0 + T; c++) {
        const cplx *s = src[c];
        for (long r = r0; r < r1; r++) dst[r][c] = s[r];
      }
    }
}

static void *worker(void *arg) {
  int me = (int)(long)arg;
  long lo = part_lo(L, nthreads, me), hi = part_lo(L, nthreads, me + 1);
  size_t bytes = sizeof(cplx) * (size_t)((hi - lo) * L + 1);
  cplx *bx = band_x[me] = PUSH_ALLOC(bytes);
  cplx *by = band_y[me] = PUSH_ALLOC(bytes);
  for (long r = lo; r < hi; r++) {
    row_x[r] = bx + (r - lo) * L;
    row_y[r] = by + (r - lo) * L;
    for (long c = 0; c < L; c++) {
      uint64_t i = (uint64_t)(r * L + c);
      row_x[r][c] = (cplx){unit(2 * i) - 0.5, unit(2 * i + 1) - 0.5};
    }
  }
  PUSH_OK(push_readonly(bx));
  pthread_barrier_wait(&bar);

  cplx *bands[2] = {bx, by};
  cplx **rows[2] = {row_x, row_y};
  int src = 0;
  for (long t = 0; t < 2 * rounds; t++, src ^= 1) {
    int inverse = (int)(t & 1), dst = src ^ 1;
    /* 1: transpose, row FFTs, twiddle, into our band of dst */
    PUSH_OK(push_private(bands[dst]));
    transpose(rows[dst], rows[src], lo, hi);
    for (long r = lo; r < hi; r++) {
      cplx *a = rows[dst][r];
      row_fft(a, inverse);
      for (long c = 0; c < L; c++) {
        long e = r * c; /* w_N^(r c) = w_L^(e / L) * w_N^(e % L) */
        cplx w = cmul(wl[e / L], wn[e % L]);
        a[c] = cmul(a[c], conj_if(w, inverse));
      }
    }
    PUSH_OK(push_readonly(bands[dst]));
    pthread_barrier_wait(&bar);
    /* 2: transpose back into src, row FFTs */
    PUSH_OK(push_private(bands[src]));
    transpose(rows[src], rows[dst], lo, hi);
    for (long r = lo; r < hi; r++) row_fft(rows[src][r], inverse);
    PUSH_OK(push_readonly(bands[src]));
    pthread_barrier_wait(&bar);
    /* 3: final transpose into dst (natural order) */
    PUSH_OK(push_private(bands[dst]));
    transpose(rows[dst], rows[src], lo, hi);
    if (inverse) {
      double s = 1.0 / (double)N;
      for (long r = lo; r < hi; r++)
        for (long c = 0; c < L; c++) {
          rows[dst][r][c].re *= s;
          rows[dst][r][c].im *= s;
        }
    }
    PUSH_OK(push_readonly(bands[dst]));
    pthread_barrier_wait(&bar);
  }
  return NULL;
}

int main(int argc, char **argv) {
  struct args a = parse_args(argc, argv, 22, 3, "THREADS LOG2N [ROUND_TRIPS] (LOG2N even)");
  if (a.size % 2 || a.size < 4 || a.size > 30) die("LOG2N must be even, 4..30");
  nthreads = a.threads;
  logn = (int)a.size;
  rounds = a.steps;
  L = 1L << (logn / 2);
  N = L * L;
  if (nthreads > L) die("more threads than rows");

  wl = PUSH_ALLOC(sizeof(cplx) * L);
  wn = PUSH_ALLOC(sizeof(cplx) * L);
  for (long j = 0; j < L; j++) {
    double t = -2.0 * M_PI * (double)j / (double)L;
    wl[j] = (cplx){cos(t), sin(t)};
    t = -2.0 * M_PI * (double)j / (double)N;
    wn[j] = (cplx){cos(t), sin(t)};
  }
  PUSH_OK(push_readonly(wl));
  PUSH_OK(push_readonly(wn));
  row_x = xmalloc(sizeof(cplx *) * L);
  row_y = xmalloc(sizeof(cplx *) * L);

  pthread_t tids[MAX_THREADS];
  pthread_barrier_init(&bar, NULL, nthreads);
  start_workers(tids, nthreads, worker);
  join_workers(tids, nthreads);

  /* The result is in x (read-only bands). */
  uint64_t h = FNV_INIT;
  double err = 0;
  for (long r = 0; r < L; r++) {
    h = hash_words(h, row_x[r], 2 * L);
    for (long c = 0; c < L; c++) {
      uint64_t i = (uint64_t)(r * L + c);
      double d = fabs(row_x[r][c].re - (unit(2 * i) - 0.5)) +
                 fabs(row_x[r][c].im - (unit(2 * i + 1) - 0.5));
      if (d > err) err = d;
    }
  }
  printf("fft n=2^%d round_trips=%ld max_error=%.3e\n", logn, rounds, err);
  print_checksum(h);
  for (int t = 0; t < nthreads; t++) {
    push_free(band_x[t]);
    push_free(band_y[t]);
  }
  push_free(wl);
  push_free(wn);
  return 0;
}
