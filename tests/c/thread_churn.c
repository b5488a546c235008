/* Thread churn: BATCHES batches of PER_BATCH threads (arguments), every
 * eighth one detached, the rest joined. Each thread takes a mutex to count
 * into a tracked object, and the joined ones hand a private object of their
 * own back to main through pthread_join. With a third argument "race", one
 * last thread writes a read-only object.
 * Prints the counts, then (second line) the PSS after the first tenth of the
 * batches and at the end, in kB. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "push.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t detached_done = PTHREAD_COND_INITIALIZER;
static long *counter;
static long detached_running;

static long pss_kb(void) {
  FILE *f = fopen("/proc/self/smaps_rollup", "r");
  if (!f) return -1;
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Pss: %ld kB", &kb) == 1) break;
  fclose(f);
  return kb;
}

static void count_one(void) {
  pthread_mutex_lock(&lock);
  (*counter)++;
  pthread_mutex_unlock(&lock);
}

static void *joined_worker(void *arg) {
  count_one();
  long *result = push_malloc(sizeof *result);
  *result = (long)arg;
  return result; /* private to this thread; main takes it after join */
}

static void *detached_worker(void *arg) {
  (void)arg;
  count_one();
  pthread_mutex_lock(&lock);
  if (--detached_running == 0) pthread_cond_signal(&detached_done);
  pthread_mutex_unlock(&lock);
  return NULL;
}

static long *victim;

static void *racer(void *arg) {
  (void)arg;
  *victim = 7; /* RACE:write */
  return NULL;
}

int main(int argc, char **argv) {
  int batches = argc > 1 ? atoi(argv[1]) : 100;
  int per_batch = argc > 2 ? atoi(argv[2]) : 1000;
  int race = argc > 3 && strcmp(argv[3], "race") == 0;
  counter = push_malloc(sizeof *counter);
  *counter = 0;
  push_protected_by(counter, &lock);
  pthread_t *t = malloc(sizeof(pthread_t) * (size_t)per_batch);
  long results = 0, first_pss = 0;
  pthread_attr_t detached;
  pthread_attr_init(&detached);
  pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
  for (int b = 0; b < batches; b++) {
    pthread_mutex_lock(&lock);
    detached_running = per_batch / 8;
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < per_batch; i++) {
      if (i % 8 == 0) {
        pthread_t d;
        if (pthread_create(&d, &detached, detached_worker, NULL) != 0) abort();
      } else if (pthread_create(&t[i], NULL, joined_worker, (void *)(long)i) != 0) {
        abort();
      }
    }
    for (int i = 0; i < per_batch; i++) {
      if (i % 8 == 0) continue;
      long *r;
      pthread_join(t[i], (void **)&r);
      results += *r;
      push_free(r);
    }
    pthread_mutex_lock(&lock);
    while (detached_running > 0) pthread_cond_wait(&detached_done, &lock);
    pthread_mutex_unlock(&lock);
    if (b == batches / 10) first_pss = pss_kb();
  }
  if (race) {
    victim = push_malloc(sizeof *victim);
    *victim = 1;
    /* Read-only: its key is never shared with an owner, so the write faults
     * whatever the owner-to-key map (a collision could hide a private one). */
    push_readonly(victim);
    pthread_t r;
    pthread_create(&r, NULL, racer, NULL);
    pthread_join(r, NULL);
  }
  pthread_mutex_lock(&lock);
  printf("count=%ld results=%ld\n", *counter, results);
  pthread_mutex_unlock(&lock);
  printf("pss_kb first=%ld last=%ld\n", first_pss, pss_kb());
  return 0;
}
