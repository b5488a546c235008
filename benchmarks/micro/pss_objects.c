/* Memory and allocation cost of many small tracked objects.
 *
 *   pss_objects pss N      N objects of 24-64 bytes (sizes from a fixed-seed
 *                          LCG) from push_malloc, object i protected_by
 *                          mutex i % 64, allocated lock by lock (so
 *                          neighbours share a key); two threads take every lock in
 *                          turn and update its objects (2 rounds); then the
 *                          process reads its own PSS (the Pss: line of
 *                          /proc/self/smaps_rollup) with every object live.
 *                          Prints `objects=N pss_kb=K checksum=0x...`.
 *   pss_objects fixed 0    nothing tracked: the fixed cost. Reads
 *                          /proc/self/smaps and prints the PSS by where it
 *                          lies: `pss_kb=K libpush_kb=L libc_kb=C
 *                          other_libs_kb=O anon_kb=A stack_kb=S exe_kb=E`.
 *   pss_objects pairs N    N push_malloc(32) + push_free pairs (each object
 *                          written once); prints `pairs=N size=32
 *                          ns_per_pair=X` (wall time / N).
 *   pss_objects mixed N    N pairs of mixed sizes (80% 16-256 bytes, 18%
 *                          257-4096, 2% 4097-65536) against a pool of 1024
 *                          live objects: each pair frees a random slot and
 *                          allocates a new object for it. Prints `pairs=N
 *                          size=mixed ns_per_pair=X`.
 *
 * Run natively, push.h's weak symbols make push_malloc plain malloc: the
 * same binary is the malloc baseline. benchmarks/memory.py runs it. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "push.h"

#define NLOCKS 64
#define NTHREADS 2
#define ROUNDS 2
#define POOL 1024

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static uint32_t lcg_state = 12345u;
static uint32_t lcg(void) {
  lcg_state = lcg_state * 1664525u + 1013904223u;
  return lcg_state >> 8;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

/* ------------------------------------------------------------------ pss */

struct obj {
  uint64_t sum;
  uint32_t count;
  uint32_t size;
  uint8_t payload[]; /* size - 16 bytes */
};

static struct obj **objs;
static long nobj;
static pthread_mutex_t locks[NLOCKS];

static void *toucher(void *arg) {
  long t = (long)arg;
  for (int r = 0; r < ROUNDS; r++)
    for (int k = 0; k < NLOCKS; k++) {
      int l = (k + (int)t * (NLOCKS / NTHREADS)) % NLOCKS;
      pthread_mutex_lock(&locks[l]);
      for (long i = l; i < nobj; i += NLOCKS) {
        struct obj *o = objs[i];
        o->sum += (uint64_t)(i + t + r);
        o->count++;
        o->payload[(i + t) % (o->size - sizeof(struct obj))]++;
      }
      pthread_mutex_unlock(&locks[l]);
    }
  return NULL;
}

static long pss_kb(void) {
  FILE *f = fopen("/proc/self/smaps_rollup", "r");
  if (!f) die("/proc/self/smaps_rollup");
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "Pss:", 4) == 0) {
      kb = atol(line + 4);
      break;
    }
  fclose(f);
  return kb;
}

static int pss(long n) {
  nobj = n;
  objs = malloc((size_t)n * sizeof *objs);
  if (!objs) die("malloc");
  for (int l = 0; l < NLOCKS; l++) pthread_mutex_init(&locks[l], NULL);
  /* Shard by shard: all objects of a lock are allocated together, so
   * neighbouring objects share a key (few kernel mappings). */
  for (long l = 0; l < NLOCKS; l++)
  for (long i = l; i < n; i += NLOCKS) {
    uint32_t size = 24 + lcg() % 41;
    struct obj *o = push_malloc(size);
    if (!o) die("push_malloc");
    o->sum = 0;
    o->count = 0;
    o->size = size;
    memset(o->payload, (int)(i & 0xff), size - sizeof(struct obj));
    push_protected_by(o, &locks[i % NLOCKS]);
    objs[i] = o;
  }
  pthread_t t[NTHREADS];
  for (long k = 0; k < NTHREADS; k++)
    if (pthread_create(&t[k], NULL, toucher, (void *)k)) die("pthread_create");
  for (int k = 0; k < NTHREADS; k++) pthread_join(t[k], NULL);

  long kb = pss_kb();
  uint64_t checksum = 1469598103934665603ull;
  for (long i = 0; i < n; i++) {
    pthread_mutex_lock(&locks[i % NLOCKS]);
    struct obj *o = objs[i];
    checksum = (checksum ^ (o->sum + o->count + o->size)) * 1099511628211ull;
    for (uint32_t j = 0; j < o->size - sizeof(struct obj); j++)
      checksum = (checksum ^ o->payload[j]) * 1099511628211ull;
    pthread_mutex_unlock(&locks[i % NLOCKS]);
  }
  printf("objects=%ld pss_kb=%ld checksum=0x%016llx\n", n, kb, (unsigned long long)checksum);
  return 0;
}

/* ---------------------------------------------------------------- pairs */

static int pairs(long n) {
  volatile uint8_t sink = 0;
  double t0 = now_ns();
  for (long i = 0; i < n; i++) {
    uint8_t *p = push_malloc(32);
    if (!p) die("push_malloc");
    p[i & 31] = (uint8_t)i;
    sink ^= p[i & 31];
    push_free(p);
  }
  double ns = (now_ns() - t0) / (double)n;
  printf("pairs=%ld size=32 ns_per_pair=%.1f\n", n, ns);
  (void)sink;
  return 0;
}

static size_t mixed_size(void) {
  uint32_t r = lcg(), pick = r % 100;
  if (pick < 80) return 16 + (r / 100) % 241;
  if (pick < 98) return 257 + (r / 100) % 3840;
  return 4097 + (r / 100) % 61440;
}

static int mixed(long n) {
  static uint8_t *pool[POOL];
  static size_t sizes[POOL];
  for (int j = 0; j < POOL; j++) {
    sizes[j] = mixed_size();
    pool[j] = push_malloc(sizes[j]);
    if (!pool[j]) die("push_malloc");
    pool[j][0] = pool[j][sizes[j] - 1] = (uint8_t)j;
  }
  double t0 = now_ns();
  for (long i = 0; i < n; i++) {
    int j = (int)(lcg() % POOL);
    push_free(pool[j]);
    sizes[j] = mixed_size();
    pool[j] = push_malloc(sizes[j]);
    if (!pool[j]) die("push_malloc");
    pool[j][0] = pool[j][sizes[j] - 1] = (uint8_t)i;
  }
  double ns = (now_ns() - t0) / (double)n;
  for (int j = 0; j < POOL; j++) push_free(pool[j]);
  printf("pairs=%ld size=mixed ns_per_pair=%.1f\n", n, ns);
  return 0;
}

/* ---------------------------------------------------------------- fixed */

static int fixed(void) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!f) die("/proc/self/smaps");
  char line[512], name[512] = "";
  long total = 0, libpush = 0, libc = 0, other = 0, anon = 0, stack = 0, exe = 0;
  char self[512] = "";
  ssize_t sn = readlink("/proc/self/exe", self, sizeof self - 1);
  if (sn > 0) self[sn] = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    long kb;
    if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && strchr(line, ' ')) {
      char *path = strchr(line, '/');
      if (!path) path = strchr(line, '[');
      snprintf(name, sizeof name, "%s", path ? path : "");
      name[strcspn(name, "\n")] = 0;
    } else if (sscanf(line, "Pss: %ld kB", &kb) == 1) {
      total += kb;
      if (strstr(name, "libpush")) libpush += kb;
      else if (strstr(name, "/libc.so")) libc += kb;
      else if (strcmp(name, "[stack]") == 0) stack += kb;
      else if (name[0] == 0 || name[0] == '[') anon += kb;
      else if (self[0] && strcmp(name, self) == 0) exe += kb;
      else other += kb;
    }
  }
  fclose(f);
  printf("objects=0 pss_kb=%ld libpush_kb=%ld libc_kb=%ld other_libs_kb=%ld anon_kb=%ld "
         "stack_kb=%ld exe_kb=%ld\n",
         total, libpush, libc, other, anon, stack, exe);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s pss|fixed|pairs|mixed N\n", argv[0]);
    return 2;
  }
  long n = atol(argv[2]);
  if (strcmp(argv[1], "fixed") == 0) return fixed();
  if (n <= 0) {
    fprintf(stderr, "N must be positive\n");
    return 2;
  }
  if (strcmp(argv[1], "pss") == 0) return pss(n);
  if (strcmp(argv[1], "pairs") == 0) return pairs(n);
  if (strcmp(argv[1], "mixed") == 0) return mixed(n);
  fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}
