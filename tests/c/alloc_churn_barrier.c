/* 12 threads malloc and free across a barrier (so one thread frees what it
 * allocated while others allocate), and count under a mutex into a tracked
 * object. Run with another allocator (jemalloc, tcmalloc, mimalloc), linked
 * or preloaded: the runtime's hooks run inside that allocator's own mutex
 * calls and must never allocate through it. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "push.h"

#define THREADS 12
#define ROUNDS 200
#define BLOCKS 32

static pthread_barrier_t barrier;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long *counter;

static void *worker(void *arg) {
  long id = (long)arg;
  void *blocks[BLOCKS];
  for (int r = 0; r < ROUNDS; r++) {
    for (int b = 0; b < BLOCKS; b++) {
      size_t size = 16 + (size_t)((id * 131 + r * 17 + b * 29) % 4000);
      blocks[b] = malloc(size);
      memset(blocks[b], (int)b, size);
    }
    pthread_barrier_wait(&barrier);
    for (int b = 0; b < BLOCKS; b++) free(blocks[b]);
    pthread_mutex_lock(&lock);
    (*counter)++;
    pthread_mutex_unlock(&lock);
    pthread_barrier_wait(&barrier);
  }
  return NULL;
}

int main(void) {
  counter = push_malloc(sizeof *counter);
  *counter = 0;
  push_protected_by(counter, &lock);
  pthread_barrier_init(&barrier, NULL, THREADS);
  pthread_t t[THREADS];
  for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  pthread_mutex_lock(&lock);
  printf("count=%ld\n", *counter);
  pthread_mutex_unlock(&lock);
  push_free(counter);
  return 0;
}
