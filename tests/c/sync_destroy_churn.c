/* Creates, uses and destroys rwlocks by the hundred thousand (arguments:
 * rounds, locks per round; every round at fresh addresses): the runtime must
 * give their clocks back when they are destroyed. Prints the count. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>


int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 100;
  int BATCH = argc > 2 ? atoi(argv[2]) : 5000;
  pthread_rwlock_t *locks = malloc(sizeof(pthread_rwlock_t) * BATCH);
  long count = 0;
  for (int r = 0; r < rounds; r++) {
    for (int i = 0; i < BATCH; i++) {
      pthread_rwlock_init(&locks[i], NULL);
      pthread_rwlock_wrlock(&locks[i]);
      count++;
      pthread_rwlock_unlock(&locks[i]);
    }
    for (int i = 0; i < BATCH; i++) pthread_rwlock_destroy(&locks[i]);
    /* A fresh array each round (the old one kept): new addresses, as a
     * long-running server that allocates its locks with its objects sees. */
    locks = malloc(sizeof(pthread_rwlock_t) * BATCH);
  }
  printf("count=%ld\n", count);
  return 0;
}
