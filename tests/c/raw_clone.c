/* A thread made with raw clone(CLONE_THREAD...) without CLONE_SETTLS: it
 * runs on its creator's TLS (glibc does not support this; natively it
 * mostly works). It and the main thread take a pthread mutex in turn. A
 * detector must never turn this into a hang: such a thread is left
 * unchecked. Prints the count. */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ROUNDS 20000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static volatile int child_tid;

static int child(void *arg) {
  (void)arg;
  for (int i = 0; i < ROUNDS; i++) {
    pthread_mutex_lock(&lock);
    counter++;
    pthread_mutex_unlock(&lock);
  }
  return 0; /* the kernel clears child_tid and wakes the futex */
}

int main(void) {
  size_t size = 256 * 1024;
  char *stack = malloc(size);
  int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
              CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
  int tid = clone(child, stack + size, flags, NULL, (int *)&child_tid, NULL, (int *)&child_tid);
  if (tid < 0) {
    perror("clone");
    return 1;
  }
  for (int i = 0; i < ROUNDS; i++) {
    pthread_mutex_lock(&lock);
    counter++;
    pthread_mutex_unlock(&lock);
  }
  for (int t; (t = child_tid) != 0;) syscall(SYS_futex, &child_tid, FUTEX_WAIT, t, NULL, NULL, 0);
  printf("counter=%ld\n", counter);
  return 0;
}
