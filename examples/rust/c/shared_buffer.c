/* The C half of race_ffi_buffer.rs: a "device" that fills a buffer the
 * Rust side hands it, in a thread of its own. The buffer is handed over
 * with push_release (Rust) and push_acquire (here); it stays the device's
 * until device_finish, which hands it back with push_release. */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>

#include "push.h"

static pthread_t filler;
static sem_t filled, finish;
static unsigned char *shared;
static size_t shared_len;

static void *fill_thread(void *arg) {
  (void)arg;
  push_acquire(shared);
  for (size_t i = 0; i < shared_len; i++) shared[i] = (unsigned char)(i * 7 + 1);
  sem_post(&filled);
  /* The buffer stays this thread's until the owner says it is done. */
  while (sem_wait(&finish) != 0) {
  }
  push_release(shared);
  return NULL;
}

int device_start_fill(unsigned char *buf, size_t len) {
  shared = buf;
  shared_len = len;
  sem_init(&filled, 0, 0);
  sem_init(&finish, 0, 0);
  return pthread_create(&filler, NULL, fill_thread, NULL);
}

void device_wait_filled(void) {
  while (sem_wait(&filled) != 0) {
  }
}

int device_finish(void) {
  sem_post(&finish);
  return pthread_join(filler, NULL);
}
