/* A bank with one lock per account. deposit() takes the lock; audit() forgets
 * it. Under PUSh the unlocked read in audit() is reported as a data race:
 *
 *   gcc -g -O1 -pthread -Iinclude -o target/bank examples/bank.c
 *   target/release/push run -- target/bank
 */
#include <pthread.h>
#include <stdio.h>
#include "push.h"

#define ACCOUNTS 8
#define THREADS 4
#define ROUNDS 10000

struct account {
  pthread_mutex_t lock;
  long balance;
};

static struct account *accounts[ACCOUNTS];

static void deposit(int i, long amount) {
  pthread_mutex_lock(&accounts[i]->lock);
  accounts[i]->balance += amount;
  pthread_mutex_unlock(&accounts[i]->lock);
}

static void *teller(void *arg) {
  long id = (long)arg;
  for (int r = 0; r < ROUNDS; r++) deposit((int)((r + id) % ACCOUNTS), 1);
  return NULL;
}

static long audit(void) {
  long total = 0;
  for (int i = 0; i < ACCOUNTS; i++) total += accounts[i]->balance; /* no lock! */
  return total;
}

int main(void) {
  for (int i = 0; i < ACCOUNTS; i++) {
    accounts[i] = push_malloc(sizeof(struct account));
    pthread_mutex_init(&accounts[i]->lock, NULL);
    accounts[i]->balance = 0;
    push_protected_by(accounts[i], &accounts[i]->lock); /* the policy */
  }
  pthread_t t[THREADS];
  for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, teller, (void *)i);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  printf("total=%ld\n", audit());
  return 0;
}
