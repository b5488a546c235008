/* Creates, uses and destroys rwlocks by the hundred thousand (arguments:
 * rounds, locks per round, and "free" to free their memory without
 * destroying them; every round at fresh addresses): the runtime must give
 * their clocks back when they are destroyed or their memory is freed.
 * Prints the count. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 100;
  int BATCH = argc > 2 ? atoi(argv[2]) : 5000;
  int free_only = argc > 3 && strcmp(argv[3], "free") == 0;
  pthread_rwlock_t *locks = malloc(sizeof(pthread_rwlock_t) * BATCH);
  long count = 0;
  for (int r = 0; r < rounds; r++) {
    for (int i = 0; i < BATCH; i++) {
      pthread_rwlock_init(&locks[i], NULL);
      pthread_rwlock_wrlock(&locks[i]);
      count++;
      pthread_rwlock_unlock(&locks[i]);
    }
    if (free_only) {
      /* Freed without a destroy, as many programs do: a server that frees
       * its objects with their locks inside. */
      free(locks);
    } else {
      for (int i = 0; i < BATCH; i++) pthread_rwlock_destroy(&locks[i]);
      /* The old array kept: new addresses, as a long-running server that
       * allocates its locks with its objects sees. */
    }
    locks = malloc(sizeof(pthread_rwlock_t) * BATCH);
  }
  printf("count=%ld\n", count);
  return 0;
}
