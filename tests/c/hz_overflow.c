/* Overflows its stack with no alternate signal stack of its own, in the
 * main thread ("main") or in a second thread ("thread"): natively the
 * process dies of SIGSEGV. Under PUSh it must die the same way (the
 * handler runs on the stack PUSh gave the thread and passes the fault on),
 * with no report. Prints "started" first. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static volatile char sink;

static int recurse(int depth) {
  volatile char pad[512];
  memset((char *)pad, depth & 0xff, sizeof pad);
  int r = recurse(depth + 1) + pad[depth % 512];
  sink = (char)r;
  return r;
}

static void *overflow(void *arg) {
  (void)arg;
  recurse(0);
  return NULL;
}

int main(int argc, char **argv) {
  printf("started\n");
  fflush(stdout);
  if (argc > 1 && strcmp(argv[1], "thread") == 0) {
    pthread_t t;
    pthread_create(&t, NULL, overflow, NULL);
    pthread_join(t, NULL);
  } else {
    overflow(NULL);
  }
  printf("survived\n");
  return 0;
}
