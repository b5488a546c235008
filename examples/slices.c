/* One array, one slice per thread: the rows of a matrix cut into parts with
 * push_partition, each handed to the thread that fills it. Every slice is
 * a whole number of pages (protection works on pages). With an argument,
 * thread 1 also writes the first word of thread 0's slice, and PUSh
 * reports it, naming the transfer that made the slice thread 0's.
 *
 *   gcc -g -O1 -pthread -Iinclude -o target/slices examples/slices.c
 *   target/release/push run -- target/slices          # no report
 *   target/release/push run -- target/slices stray    # a data race
 */
#include <pthread.h>
#include <stdio.h>
#include "push.h"

#define THREADS 4
#define SLICE 16384 /* bytes per thread: four pages */
#define N (SLICE / sizeof(double))

static double *rows;
static pthread_barrier_t ready, filled;
static int stray;

static void *fill(void *arg) {
  long me = (long)arg;
  pthread_barrier_wait(&ready); /* the slice is this thread's from here */
  double *mine = rows + me * N;
  for (size_t i = 0; i < N; i++) mine[i] = (double)(me * N + i);
  pthread_barrier_wait(&filled);
  if (stray && me == 1) rows[0] = -1; /* thread 0's slice */
  return NULL;
}

int main(int argc, char **argv) {
  (void)argv;
  stray = argc > 1;
  rows = push_calloc(THREADS, SLICE);
  push_partition(rows, SLICE); /* one tracked object per slice */
  pthread_barrier_init(&ready, NULL, THREADS + 1);
  pthread_barrier_init(&filled, NULL, THREADS);
  pthread_t t[THREADS];
  for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, fill, (void *)i);
  for (int i = 0; i < THREADS; i++) push_transfer(rows + i * N, t[i]);
  pthread_barrier_wait(&ready);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  double sum = 0;
  for (int i = 0; i < THREADS; i++) {
    push_private(rows + i * N); /* the filler exited and was joined */
    for (size_t j = 0; j < N; j++) sum += rows[i * N + j];
  }
  printf("sum=%.0f\n", sum);
  push_free(rows);
  return 0;
}
