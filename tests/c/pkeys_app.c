/* A program that uses protection keys itself, as JITs and language runtimes
 * do: it allocates 3 keys (more than PUSh leaves free), guards a page of its
 * own with one, and sets that key's rights; they must hold across lock
 * operations (where PUSh rewrites PKRU) and be inherited by new threads.
 * Meanwhile two threads share a tracked object under a mutex (clean), and
 * with the argument "race" one writes an object private to main. Without
 * protection keys (CPU or kernel), it says so and still runs the threads. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include "push.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long *shared;
static long *mine;
static int race, app_key = -1, rights_in_thread = -1;

static void *worker(void *arg) {
  (void)arg;
  for (int i = 0; i < 1000; i++) {
    pthread_mutex_lock(&lock);
    (*shared)++;
    if (i == 500 && app_key >= 0) rights_in_thread = pkey_get(app_key);
    pthread_mutex_unlock(&lock);
  }
  if (race) *mine = 2; /* RACE:write */
  return NULL;
}

int main(int argc, char **argv) {
  race = argc > 1 && strcmp(argv[1], "race") == 0;
  shared = push_malloc(sizeof *shared);
  *shared = 0;
  push_protected_by(shared, &lock);
  mine = push_malloc(sizeof *mine);
  *mine = 1;

  int keys[3], got = 0;
  for (int i = 0; i < 3; i++) {
    int k = pkey_alloc(0, 0);
    if (k >= 0) keys[got++] = k;
  }
  char *page = NULL;
  if (got == 0) {
    printf("no protection keys here\n");
  } else {
    printf("keys=%d\n", got);
    app_key = keys[got - 1];
    page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pkey_mprotect(page, 4096, PROT_READ | PROT_WRITE, app_key) != 0) perror("pkey_mprotect");
    page[0] = 'a';
    pkey_set(app_key, PKEY_DISABLE_WRITE);
    for (int i = 0; i < 100; i++) {
      pthread_mutex_lock(&lock);
      (*shared)++;
      pthread_mutex_unlock(&lock);
    }
    printf("rights kept across locks=%d\n", pkey_get(app_key) == PKEY_DISABLE_WRITE);
  }
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, NULL);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  if (got > 0) {
    printf("rights in thread=%d\n", rights_in_thread == PKEY_DISABLE_WRITE);
    pkey_set(app_key, 0);
    page[1] = 'b';
    printf("page=%c%c\n", page[0], page[1]);
  }
  pthread_mutex_lock(&lock);
  printf("shared=%ld\n", *shared);
  pthread_mutex_unlock(&lock);
  for (int i = 0; i < got; i++) pkey_free(keys[i]);
  return 0;
}
