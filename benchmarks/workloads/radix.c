/* radix: parallel LSD radix sort of 32-bit keys, after SPLASH-2's "radix".
 * Usage: radix THREADS NKEYS [REPEATS]
 *
 * Four passes of 8-bit digits. Each thread holds a chunk of the sequence.
 * In a pass, every thread histograms its chunk and counting-sorts it into a
 * local bucketed copy; after a barrier, thread t gathers, for the digits it
 * owns (a contiguous range of the 256), bucket d of every thread in thread
 * order, into its new chunk. The concatenation of the chunks in thread order
 * is the sequence sorted stably by the digits so far. (SPLASH's radix
 * scatters every key into one shared array; a "pull" gather keeps every
 * array written by a single thread, which is what lets each be private.)
 * REPEATS sorts that many different inputs.
 *
 * Annotations (push.h):
 *   - chunk, local copy and histogram of a thread: one push_malloc each, made
 *     by the thread; the chunk is grown with push_realloc, which keeps it
 *     private;
 *   - the local copy and the histogram are made push_readonly once written
 *     (every thread gathers from them after the barrier) and taken back with
 *     push_private at the next pass, after the barrier that ends the gather;
 *   - the main thread reads the chunks after joining the workers (objects
 *     of a joined thread pass to the joiner).
 * Checksum: hash of the sorted sequences (unique whatever the thread count).
 */
#include "common.h"

#define DIGITS 256

static int nthreads;
static long nkeys, repeats;
static uint32_t *chunk[MAX_THREADS];
static long chunk_len[MAX_THREADS];
static uint32_t *local[MAX_THREADS];
/* hist[t][d]: keys of digit d in thread t's chunk; hist[t][DIGITS + d]:
 * where bucket d starts in local[t]. */
static long *hist[MAX_THREADS];
static pthread_barrier_t bar;
static uint64_t result_hash[64];
static int sorted_ok = 1;

static int digit_lo(int t) { return (int)part_lo(DIGITS, nthreads, t); }

static void *worker(void *arg) {
  int me = (int)(long)arg;
  long cap = part_lo(nkeys, nthreads, me + 1) - part_lo(nkeys, nthreads, me);
  cap = cap + cap / 8 + 1024;
  uint32_t *ch = PUSH_ALLOC(sizeof(uint32_t) * cap);
  uint32_t *loc = PUSH_ALLOC(sizeof(uint32_t) * cap);
  long loc_cap = cap;
  long *hi = PUSH_ALLOC(sizeof(long) * 2 * DIGITS);
  local[me] = loc;
  hist[me] = hi;

  for (long rep = 0; rep < repeats; rep++) {
    long lo = part_lo(nkeys, nthreads, me), n = part_lo(nkeys, nthreads, me + 1) - lo;
    if (n > cap) die("chunk capacity");
    for (long i = 0; i < n; i++)
      ch[i] = (uint32_t)mix64((uint64_t)(lo + i) ^ ((uint64_t)rep << 40));
    chunk[me] = ch;
    chunk_len[me] = n;

    for (int pass = 0; pass < 4; pass++) {
      int shift = 8 * pass;
      /* Our local copy and histogram were read by everybody during the
       * previous gather, which the last barrier ended. */
      PUSH_OK(push_private(hi));
      PUSH_OK(push_private(loc));
      if (n > loc_cap) {
        loc_cap = n + n / 8;
        loc = push_realloc(loc, sizeof(uint32_t) * loc_cap);
        if (!loc) die("push_realloc");
        local[me] = loc;
      }
      memset(hi, 0, sizeof(long) * 2 * DIGITS);
      for (long i = 0; i < n; i++) hi[(ch[i] >> shift) & 0xff]++;
      long pos = 0;
      for (int d = 0; d < DIGITS; d++) {
        hi[DIGITS + d] = pos;
        pos += hi[d];
      }
      long next[DIGITS];
      memcpy(next, hi + DIGITS, sizeof next);
      for (long i = 0; i < n; i++) loc[next[(ch[i] >> shift) & 0xff]++] = ch[i];
      PUSH_OK(push_readonly(loc));
      PUSH_OK(push_readonly(hi));
      pthread_barrier_wait(&bar);

      /* Gather the digits we own from every thread, in thread order. */
      int d0 = digit_lo(me), d1 = digit_lo(me + 1);
      long total = 0;
      for (int s = 0; s < nthreads; s++)
        for (int d = d0; d < d1; d++) total += hist[s][d];
      if (total > cap) {
        cap = total + total / 8;
        ch = push_realloc(ch, sizeof(uint32_t) * cap);
        if (!ch) die("push_realloc");
      }
      long out = 0;
      for (int d = d0; d < d1; d++)
        for (int s = 0; s < nthreads; s++) {
          long cnt = hist[s][d];
          memcpy(ch + out, local[s] + hist[s][DIGITS + d], sizeof(uint32_t) * cnt);
          out += cnt;
        }
      n = total;
      chunk[me] = ch;
      chunk_len[me] = n;
      pthread_barrier_wait(&bar);
    }

    /* Thread 0 checks and hashes the sorted sequence: each thread publishes
     * its chunk read-only and takes it back after the barrier. */
    PUSH_OK(push_readonly(ch));
    pthread_barrier_wait(&bar);
    if (me == 0) {
      uint64_t h = FNV_INIT;
      uint32_t prev = 0;
      for (int s = 0; s < nthreads; s++)
        for (long i = 0; i < chunk_len[s]; i++) {
          uint32_t k = chunk[s][i];
          if (k < prev) sorted_ok = 0;
          prev = k;
          h = (h ^ k) * 0x100000001b3ull;
        }
      result_hash[rep % 64] ^= h;
    }
    pthread_barrier_wait(&bar);
    PUSH_OK(push_private(ch));
  }
  push_free(ch);
  push_free(loc);
  push_free(hi);
  return NULL;
}

int main(int argc, char **argv) {
  struct args a = parse_args(argc, argv, 1L << 24, 1, "THREADS NKEYS [REPEATS]");
  nthreads = a.threads;
  nkeys = a.size;
  repeats = a.steps;
  pthread_t tids[MAX_THREADS];
  pthread_barrier_init(&bar, NULL, nthreads);
  start_workers(tids, nthreads, worker);
  join_workers(tids, nthreads);
  if (!sorted_ok) die("not sorted");
  uint64_t h = FNV_INIT;
  for (int i = 0; i < 64; i++) h = mix64(h ^ result_hash[i]);
  printf("radix keys=%ld repeats=%ld sorted=yes\n", nkeys, repeats);
  print_checksum(h);
  return 0;
}
