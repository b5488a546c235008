/* A SIGSEGV handler installed with SA_NODEFER that leaves by longjmp, three
 * times (a program recovering from its own deliberate NULL reads). Natively
 * SIGSEGV is never blocked after the first jump, so all three recover; the
 * runtime's handler must chain with the application's flags. */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static jmp_buf env;
static int caught;

static void on_segv(int sig) {
  (void)sig;
  caught++;
  longjmp(env, 1); /* not siglongjmp: the mask stays as the handler had it */
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_segv;
  sa.sa_flags = SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, NULL);
  for (int i = 0; i < 3; i++) {
    if (setjmp(env) == 0) {
      volatile int *p = NULL;
      (void)*p;
      printf("not reached\n");
    }
  }
  printf("recovered=%d\n", caught);
  return 0;
}
