/* A SIGSEGV handler whose sa_mask blocks SIGUSR1: a SIGUSR1 raised inside it
 * stays pending until the handler is left (by siglongjmp, which restores the
 * mask), as the kernel would run it. */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static sigjmp_buf env;
static volatile sig_atomic_t usr1_runs;
static int usr1_pending_in_handler = -1;
static int usr1_ran_in_handler = -1;

static void on_usr1(int sig) {
  (void)sig;
  usr1_runs++;
}

static void on_segv(int sig) {
  (void)sig;
  raise(SIGUSR1);
  sigset_t pending;
  sigpending(&pending);
  usr1_pending_in_handler = sigismember(&pending, SIGUSR1);
  usr1_ran_in_handler = usr1_runs;
  siglongjmp(env, 1);
}

int main(void) {
  signal(SIGUSR1, on_usr1);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_segv;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGUSR1);
  sigaction(SIGSEGV, &sa, NULL);
  if (sigsetjmp(env, 1) == 0) {
    volatile int *p = NULL;
    (void)*p;
  }
  printf("pending_in_handler=%d ran_in_handler=%d ran_after=%d\n", usr1_pending_in_handler,
         usr1_ran_in_handler, (int)usr1_runs);
  return 0;
}
