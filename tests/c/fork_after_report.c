/* A report is raised, then the program forks and the child exits at once.
 * The reporter thread may hold its printer lock at the moment of the fork:
 * the child must not inherit it held (it hung in _exit) nor print the
 * parent's queued report again under its own pid. */
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include "push.h"

static long *obj;

static void *writer(void *arg) {
  (void)arg;
  *obj = 2; /* RACE:write */
  return NULL;
}

int main(void) {
  obj = push_malloc(sizeof *obj);
  *obj = 1;
  pthread_t t;
  pthread_create(&t, NULL, writer, NULL);
  pthread_join(t, NULL);
  for (int i = 0; i < 4; i++) {
    pid_t child = fork();
    if (child == 0) _exit(0);
    int status;
    waitpid(child, &status, 0);
  }
  printf("done\n");
  return 0;
}
