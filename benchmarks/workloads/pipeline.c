/* pipeline: a three-stage pipeline with queues between the stages, after
 * PARSEC's "dedup" (chunk, compress, reassemble).
 * Usage: pipeline THREADS INPUT_MIB [PASSES]
 *
 * The input is INPUT_MIB MiB of word-like text, cut into 256 KiB chunks and
 * fed PASSES times through: a producer thread (takes a buffer from the
 * pool, fills in which chunk to compress, queues it), THREADS compressor
 * threads (LZ77-style greedy compression of the chunk into the buffer, plus
 * a 64-bit fingerprint of the output), and a consumer thread (records the
 * fingerprint and size under the chunk's sequence number and returns the
 * buffer to the producer's pool). The queues are bounded rings with a mutex
 * and two condition variables. Results are indexed by sequence number, so
 * the checksum does not depend on which compressor took which chunk.
 *
 * Annotations (push.h):
 *   - the input: one push_malloc, filled by the main thread, push_readonly;
 *   - each queue: one push_malloc holding its mutex, condition variables and
 *     ring, push_protected_by its own mutex;
 *   - pool buffers: allocated by the producer; a stage hands a buffer to the
 *     next through a queue with push_release before queueing it and
 *     push_acquire after taking it (the taker is not known in advance); the
 *     consumer hands buffers back to the producer, a known thread, with
 *     push_transfer;
 *   - per-thread compression tables and the consumer's results: private;
 *   - pipeline statistics updated with relaxed atomics by every stage:
 *     push_racy (intentional: atomics PUSh does not model).
 * Checksum: hash of (fingerprint, size) by sequence number.
 */
#include <stdatomic.h>
#include "common.h"

#define CHUNK (256 * 1024)
#define OUT_MAX (CHUNK + CHUNK / 8 + 64)
#define QCAP 64
#define HBITS 14

struct buffer {
  long seq;
  long offset, len;
  long outlen;
  uint64_t fingerprint;
  unsigned char out[OUT_MAX];
};

struct queue {
  pthread_mutex_t lock;
  pthread_cond_t not_empty, not_full;
  struct buffer *ring[QCAP];
  int head, count;
  int closed;
  int writers; /* producers still to close it */
};

struct result {
  uint64_t fingerprint;
  long outlen;
};

struct stats {
  atomic_long produced, compressed, consumed, bytes_out;
};

static int nworkers;
static long input_len, nchunks, passes, total;
static unsigned char *input;
static struct queue *q_free, *q_work, *q_done;
static struct result *results; /* the consumer's, passed to main at join */
static struct stats *stats;
static pthread_t producer_tid;
static int pool_size;

static struct queue *queue_new(int writers) {
  struct queue *q = PUSH_ALLOC(sizeof *q);
  memset(q, 0, sizeof *q);
  pthread_mutex_init(&q->lock, NULL);
  pthread_cond_init(&q->not_empty, NULL);
  pthread_cond_init(&q->not_full, NULL);
  q->writers = writers;
  PUSH_OK(push_protected_by(q, &q->lock));
  return q;
}

static void queue_put(struct queue *q, struct buffer *b) {
  pthread_mutex_lock(&q->lock);
  while (q->count == QCAP) pthread_cond_wait(&q->not_full, &q->lock);
  q->ring[(q->head + q->count) % QCAP] = b;
  q->count++;
  pthread_cond_signal(&q->not_empty);
  pthread_mutex_unlock(&q->lock);
}

/* NULL once the queue is closed and empty. */
static struct buffer *queue_get(struct queue *q) {
  pthread_mutex_lock(&q->lock);
  while (q->count == 0 && !q->closed) pthread_cond_wait(&q->not_empty, &q->lock);
  struct buffer *b = NULL;
  if (q->count) {
    b = q->ring[q->head];
    q->head = (q->head + 1) % QCAP;
    q->count--;
    pthread_cond_signal(&q->not_full);
  }
  pthread_mutex_unlock(&q->lock);
  return b;
}

/* One writer is done; the last one closes the queue. */
static void queue_close(struct queue *q) {
  pthread_mutex_lock(&q->lock);
  if (--q->writers == 0) {
    q->closed = 1;
    pthread_cond_broadcast(&q->not_empty);
  }
  pthread_mutex_unlock(&q->lock);
}

/* Greedy LZ77 (LZ4-like tokens): returns the output length. */
static long compress(const unsigned char *in, long n, unsigned char *out, uint32_t *table) {
  memset(table, 0, sizeof(uint32_t) << HBITS);
  long ip = 0, op = 0, lit = 0;
  while (ip + 8 <= n) {
    uint32_t v;
    memcpy(&v, in + ip, 4);
    uint32_t h = (v * 2654435761u) >> (32 - HBITS);
    long cand = (long)table[h] - 1;
    table[h] = (uint32_t)(ip + 1);
    uint32_t w;
    if (cand >= 0 && ip - cand < 65536 && (memcpy(&w, in + cand, 4), w == v)) {
      long len = 4;
      while (ip + len < n && len < 255 + 4 && in[cand + len] == in[ip + len]) len++;
      /* token: literal count, literals, offset, match length */
      long nlit = ip - lit;
      out[op++] = (unsigned char)(nlit > 254 ? 255 : nlit);
      if (nlit > 254) {
        memcpy(out + op, &nlit, 4);
        op += 4;
      }
      memcpy(out + op, in + lit, (size_t)nlit);
      op += nlit;
      uint16_t off = (uint16_t)(ip - cand);
      memcpy(out + op, &off, 2);
      op += 2;
      out[op++] = (unsigned char)(len - 4);
      ip += len;
      lit = ip;
    } else {
      ip++;
    }
  }
  long nlit = n - lit;
  out[op++] = 255;
  memcpy(out + op, &nlit, 4);
  op += 4;
  memcpy(out + op, in + lit, (size_t)nlit);
  return op + nlit;
}

static void *producer(void *arg) {
  (void)arg;
  struct buffer **pool = PUSH_ALLOC(sizeof(struct buffer *) * (size_t)pool_size);
  int have = 0;
  for (int i = 0; i < pool_size; i++) pool[have++] = PUSH_ALLOC(sizeof(struct buffer));
  for (long seq = 0; seq < total; seq++) {
    struct buffer *b = have ? pool[--have] : queue_get(q_free); /* transferred to us */
    b->seq = seq;
    b->offset = (seq % nchunks) * CHUNK;
    b->len = input_len - b->offset < CHUNK ? input_len - b->offset : CHUNK;
    atomic_fetch_add_explicit(&stats->produced, 1, memory_order_relaxed);
    PUSH_OK(push_release(b));
    queue_put(q_work, b);
  }
  queue_close(q_work);
  /* Take the whole pool back before freeing it. */
  for (int back = have; back < pool_size; back++) pool[have++] = queue_get(q_free);
  for (int i = 0; i < have; i++) push_free(pool[i]);
  push_free(pool);
  return NULL;
}

static void *compressor(void *arg) {
  (void)arg;
  uint32_t *table = PUSH_ALLOC(sizeof(uint32_t) << HBITS);
  struct buffer *b;
  while ((b = queue_get(q_work)) != NULL) {
    PUSH_OK(push_acquire(b));
    b->outlen = compress(input + b->offset, b->len, b->out, table);
    uint64_t h = FNV_INIT;
    h = hash_words(h, b->out, (size_t)b->outlen / 8);
    h = fnv(h, b->out + (b->outlen & ~7L), (size_t)(b->outlen & 7));
    b->fingerprint = h;
    atomic_fetch_add_explicit(&stats->compressed, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&stats->bytes_out, b->outlen, memory_order_relaxed);
    PUSH_OK(push_release(b));
    queue_put(q_done, b);
  }
  queue_close(q_done);
  push_free(table);
  return NULL;
}

static void *consumer(void *arg) {
  (void)arg;
  struct result *res = results = PUSH_ALLOC(sizeof(struct result) * (size_t)total);
  struct buffer *b;
  while ((b = queue_get(q_done)) != NULL) {
    PUSH_OK(push_acquire(b));
    res[b->seq].fingerprint = b->fingerprint;
    res[b->seq].outlen = b->outlen;
    atomic_fetch_add_explicit(&stats->consumed, 1, memory_order_relaxed);
    PUSH_OK(push_transfer(b, producer_tid));
    queue_put(q_free, b);
  }
  return NULL;
}

int main(int argc, char **argv) {
  struct args a = parse_args(argc, argv, 64, 16, "THREADS INPUT_MIB [PASSES]");
  nworkers = a.threads;
  input_len = a.size << 20;
  passes = a.steps;
  nchunks = (input_len + CHUNK - 1) / CHUNK;
  total = nchunks * passes;
  pool_size = 4 * nworkers + 8;

  /* Word-like text from a 1024-word vocabulary: compressible. */
  input = PUSH_ALLOC((size_t)input_len);
  char vocab[1024][12];
  int vlen[1024];
  for (int w = 0; w < 1024; w++) {
    vlen[w] = 3 + (int)(mix64((uint64_t)w) % 8);
    for (int c = 0; c < vlen[w]; c++)
      vocab[w][c] = (char)('a' + mix64((uint64_t)w * 31 + (uint64_t)c + 7) % 26);
    vocab[w][vlen[w]] = ' ';
  }
  for (long i = 0, k = 0; i < input_len; k++) {
    uint64_t r = mix64((uint64_t)k);
    int w = (int)((r & 1023) * ((r >> 10) & 1023) >> 10); /* skewed choice */
    for (int c = 0; c <= vlen[w] && i < input_len; c++) input[i++] = (unsigned char)vocab[w][c];
  }
  PUSH_OK(push_readonly(input));
  stats = PUSH_ALLOC(sizeof *stats);
  memset(stats, 0, sizeof *stats);
  PUSH_OK(push_racy(stats));
  q_free = queue_new(1);
  q_work = queue_new(1);
  q_done = queue_new(nworkers);

  pthread_t work[MAX_THREADS], cons;
  if (pthread_create(&producer_tid, NULL, producer, NULL)) die("pthread_create");
  start_workers(work, nworkers, compressor);
  if (pthread_create(&cons, NULL, consumer, NULL)) die("pthread_create");
  join_workers(work, nworkers);
  if (pthread_join(cons, NULL)) die("pthread_join");
  if (pthread_join(producer_tid, NULL)) die("pthread_join");

  uint64_t h = FNV_INIT;
  long out = 0;
  for (long s = 0; s < total; s++) {
    h = mix64(h ^ results[s].fingerprint);
    h = mix64(h ^ (uint64_t)results[s].outlen);
    out += results[s].outlen;
  }
  if (atomic_load(&stats->consumed) != total) die("lost chunks");
  printf("pipeline input=%ldMiB passes=%ld chunks=%ld ratio=%.4f\n", a.size, passes, total,
         (double)out / (double)(input_len * passes));
  print_checksum(h);
  push_free(results);
  push_free(input);
  push_free(stats);
  return 0;
}
