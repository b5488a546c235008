/* Rehash cost: N tracked objects in contiguous runs, each run protected by
 * one of 64 locks (so 64 lock owners plus the threads share 12 domains and
 * collide), T threads updating random objects under their locks for S
 * seconds. Run under PUSh with verbose=1 to read rehash_cpu_share.
 * Usage: rehash_cost N THREADS SECONDS */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "push.h"

#define LOCKS 64
static pthread_mutex_t locks[LOCKS];
static long **objs;
static long nobjs;
static double seconds;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void *worker(void *arg) {
  unsigned seed = (unsigned)(long)arg * 2654435761u + 1;
  double end = now() + seconds;
  long ops = 0;
  while (now() < end) {
    for (int k = 0; k < 1000; k++) {
      seed = seed * 1103515245u + 12345u;
      long i = (seed >> 4) % nobjs;
      pthread_mutex_t *m = &locks[i * LOCKS / nobjs];
      pthread_mutex_lock(m);
      objs[i][0]++;
      pthread_mutex_unlock(m);
      ops++;
    }
  }
  return (void *)ops;
}

int main(int argc, char **argv) {
  nobjs = argc > 1 ? atol(argv[1]) : 1000;
  long threads = argc > 2 ? atol(argv[2]) : 4;
  seconds = argc > 3 ? atof(argv[3]) : 3;
  objs = malloc(sizeof(long *) * nobjs);
  for (int i = 0; i < LOCKS; i++) pthread_mutex_init(&locks[i], NULL);
  for (long i = 0; i < nobjs; i++) {
    objs[i] = push_calloc(1, sizeof(long));
    push_protected_by(objs[i], &locks[i * LOCKS / nobjs]);
  }
  pthread_t t[64];
  for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  long ops = 0;
  for (long i = 0; i < threads; i++) {
    void *r;
    pthread_join(t[i], &r);
    ops += (long)r;
  }
  printf("objects=%ld ops=%ld\n", nobjs, ops);
  return 0;
}
