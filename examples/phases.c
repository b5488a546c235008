/* Phases separated by a barrier, with one wait per phase change. Each
 * thread owns a block; in the even phases it updates its block, in the odd
 * ones every thread reads every block. The policy changes are registered
 * for the barrier (push_readonly_at, push_private_at) and PUSh makes them
 * when the barrier opens, so no phase can see another's accesses unordered.
 * Run with an argument to leave one block out of the read-only phase: the
 * other threads' reads of it are then reported as data races.
 *
 *   gcc -g -O1 -pthread -Iinclude -o target/phases examples/phases.c
 *   target/release/push run -- target/phases          # no report
 *   target/release/push run -- target/phases forget   # data races
 */
#include <pthread.h>
#include <stdio.h>
#include "push.h"

#define THREADS 4
#define WORDS 512
#define ROUNDS 20

static long *block[THREADS];
static long seen[THREADS];
static pthread_barrier_t phase;
static int forget;

static void *worker(void *arg) {
  long me = (long)arg;
  block[me] = push_calloc(WORDS, sizeof(long)); /* private to this thread */
  pthread_barrier_wait(&phase);
  for (int round = 0; round < ROUNDS; round++) {
    for (int i = 0; i < WORDS; i++) block[me][i] += me + i; /* update my block */
    if (!(forget && me == 0)) push_readonly_at(&phase, block[me]);
    pthread_barrier_wait(&phase); /* all blocks read-only from here */
    long sum = 0;
    if (!(forget && me == 0)) /* the owner of the forgotten block only waits */
      for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < WORDS; i++) sum += block[t][i]; /* read every block */
    seen[me] = sum;
    if (!(forget && me == 0)) push_private_at(&phase, block[me], pthread_self());
    pthread_barrier_wait(&phase); /* each block its owner's again */
  }
  return NULL;
}

int main(int argc, char **argv) {
  (void)argv;
  forget = argc > 1;
  pthread_barrier_init(&phase, NULL, THREADS);
  pthread_t t[THREADS];
  for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  printf("sum=%ld\n", seen[THREADS - 1]);
  return 0;
}
