/* siginterrupt(SIGALRM, 1) then signal(SIGALRM, h): glibc installs the
 * handler without SA_RESTART, so a read() blocked on an empty pipe returns
 * EINTR when the alarm fires. An interposed signal() must not turn that into
 * a restart (the run would hang). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static void on_alarm(int sig) { (void)sig; }

int main(void) {
  int fds[2];
  if (pipe(fds) != 0) return 1;
  siginterrupt(SIGALRM, 1);
  signal(SIGALRM, on_alarm);
  alarm(1);
  char c;
  ssize_t n = read(fds[0], &c, 1);
  printf("read=%zd eintr=%d\n", n, n < 0 && errno == EINTR);
  return 0;
}
