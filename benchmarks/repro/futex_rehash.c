/* Reproducer: a contended pthread mutex that lives inside the tracked object
 * it protects, under periodic rehash, makes glibc abort with
 *   "The futex facility returned an unexpected error code."
 * (SIGABRT, exit 134): futex() failed with an error glibc does not expect,
 * presumably EFAULT -- the kernel applies the caller's PKRU to the futex
 * word, and the object's page was re-keyed by a rehash between the runtime's
 * grant for the lock call and the futex system call.
 *
 *   benchmarks/repro/run_futex_rehash.sh 20            # default options
 *   benchmarks/repro/run_futex_rehash.sh 20 rehash_ms=0
 * or by hand:
 *   gcc -O2 -g -rdynamic -pthread -Iinclude -o target/futex_rehash benchmarks/repro/futex_rehash.c
 *   LD_PRELOAD=target/release/libpush.so target/futex_rehash 2 8192 2000000
 * Usage: futex_rehash [THREADS [OBJECTS [ROUNDS]]]
 *
 * Expected: prints "total=THREADS*ROUNDS" and exits 0, as it does natively.
 * Observed with libpush.so built at commit e5ed106 (and the build before
 * it): 6 of 30 runs aborted in pthread_mutex_lock (glibc's futex wait,
 * called from libpush's wrapper) with default options; none with
 * rehash_ms=0. Found by the kv benchmark (PUSH_OPTIONS=hb=0: 3 aborts in 5
 * runs). Fixed by commit 66ceea9 (sync calls on locks in tracked memory run
 * with every key open): 0 of 70 runs abort since. Kept as a regression check:
 *   LIBPUSH=path/to/libpush.so benchmarks/repro/run_futex_rehash.sh 30
 */
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include "push.h"

static int OBJECTS = 8192, THREADS = 4;
static long ROUNDS = 1000000;

struct counter {
  pthread_mutex_t lock;
  long n;
};
static struct counter **c;

/* Where the abort comes from (build with -g; frames are symbolized when the
 * binary is linked with -rdynamic). */
static void on_abort(int sig) {
  void *pcs[32];
  int n = backtrace(pcs, 32);
  backtrace_symbols_fd(pcs, n, 2);
  signal(sig, SIG_DFL);
  raise(sig);
}

static void *worker(void *arg) {
  unsigned x = (unsigned)(long)arg * 2654435761u + 1;
  for (long i = 0; i < ROUNDS; i++) {
    x = x * 1103515245u + 12345u;
    struct counter *o = c[(x >> 16) % OBJECTS];
    pthread_mutex_lock(&o->lock);
    o->n++;
    pthread_mutex_unlock(&o->lock);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1) THREADS = atoi(argv[1]);
  if (argc > 2) OBJECTS = atoi(argv[2]);
  if (argc > 3) ROUNDS = atol(argv[3]);
  c = malloc(sizeof *c * OBJECTS);
  signal(SIGABRT, on_abort);
  for (int i = 0; i < OBJECTS; i++) {
    c[i] = push_malloc(sizeof *c[i]);
    pthread_mutex_init(&c[i]->lock, NULL);
    c[i]->n = 0;
    push_protected_by(c[i], &c[i]->lock);
  }
  pthread_t t[64];
  for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  long total = 0;
  for (int i = 0; i < OBJECTS; i++) {
    pthread_mutex_lock(&c[i]->lock);
    total += c[i]->n;
    pthread_mutex_unlock(&c[i]->lock);
  }
  printf("total=%ld\n", total);
  return 0;
}
