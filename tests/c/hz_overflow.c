/* Overflows its stack with no alternate signal stack of its own, in the
 * main thread ("main") or in a second thread ("thread"): natively the
 * process dies of SIGSEGV. Under PUSh it must die the same way (the
 * handler runs on the stack PUSh gave the thread and passes the fault on),
 * with no report. "handler" overflows in a thread with a SIGSEGV handler
 * installed without SA_ONSTACK: natively the kernel cannot push the
 * handler's frame, the handler never runs and the process dies of SIGSEGV;
 * under PUSh the same must happen. Prints "started" first. */
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

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "main";
  if (strcmp(mode, "handler") == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sigaction(SIGSEGV, &sa, NULL);
  }
  printf("started\n");
  fflush(stdout);
  if (strcmp(mode, "main") != 0) {
    pthread_t t;
    pthread_create(&t, NULL, overflow, NULL);
    pthread_join(t, NULL);
  } else {
    overflow(NULL);
  }
  printf("survived\n");
  return 0;
}
