/* Overflows its stack in a thread while a SIGSEGV handler is installed
 * without SA_ONSTACK and with no alternate stack: natively the kernel
 * cannot push the handler's frame and the process dies of SIGSEGV; the
 * handler never runs. Under PUSh (which gives threads an alternate stack
 * for its own handler) the same must happen. Prints "started" first. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile char sink;

static void on_segv(int sig) {
  (void)sig;
  static const char msg[] = "handler ran\n";
  write(1, msg, sizeof msg - 1);
  _exit(3);
}

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

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_segv;
  sigaction(SIGSEGV, &sa, NULL);
  printf("started\n");
  fflush(stdout);
  pthread_t t;
  pthread_create(&t, NULL, overflow, NULL);
  pthread_join(t, NULL);
  return 0;
}
