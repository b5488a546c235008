/* Lock cost with T threads over L mutexes, each thread doing R lock/unlock
 * pairs on locks of its own stripe (uncontended), then creating and joining
 * extra threads so that C threads are created over the run.
 * Usage: hb_scale THREADS LOCKS ROUNDS CREATED
 * Prints `ns_per_pair` (wall time per lock+unlock pair, per thread). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t *locks;
static long nlocks, rounds, nthreads;
static volatile long sink;

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void *worker(void *arg) {
  long id = (long)arg;
  long stripe = nlocks / nthreads;
  if (stripe < 1) stripe = 1;
  for (long i = 0; i < rounds; i++) {
    pthread_mutex_t *m = &locks[(id * stripe + i % stripe) % nlocks];
    pthread_mutex_lock(m);
    pthread_mutex_unlock(m);
  }
  return NULL;
}

static void *touch_all(void *arg) {
  (void)arg;
  for (long i = 0; i < nlocks; i++) {
    pthread_mutex_lock(&locks[i]);
    sink++;
    pthread_mutex_unlock(&locks[i]);
  }
  return NULL;
}

static void *idle(void *arg) { return arg; }

int main(int argc, char **argv) {
  nthreads = argc > 1 ? atol(argv[1]) : 2;
  nlocks = argc > 2 ? atol(argv[2]) : 1024;
  rounds = argc > 3 ? atol(argv[3]) : 1000000;
  long created = argc > 4 ? atol(argv[4]) : 0;
  locks = malloc(sizeof(pthread_mutex_t) * nlocks);
  for (long i = 0; i < nlocks; i++) pthread_mutex_init(&locks[i], NULL);
  pthread_t *t = malloc(sizeof(pthread_t) * nthreads);
  double t0 = now_ns();
  for (long i = 0; i < nthreads; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  for (long i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
  double per_pair = (now_ns() - t0) / rounds;
  printf("threads=%ld ns_per_pair=%.1f\n", nthreads, per_pair);
  /* Every lock gets a clock: one thread releases each of them. */
  pthread_t toucher;
  pthread_create(&toucher, NULL, touch_all, NULL);
  pthread_join(toucher, NULL);
  /* Threads created over the run, at most 32 alive at once. */
  for (long done = 0; done < created;) {
    pthread_t batch[32];
    long n = created - done < 32 ? created - done : 32;
    for (long i = 0; i < n; i++) pthread_create(&batch[i], NULL, idle, NULL);
    for (long i = 0; i < n; i++) pthread_join(batch[i], NULL);
    done += n;
  }
  return 0;
}
