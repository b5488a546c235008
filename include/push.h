/* PUSh annotations for C and C++.
 *
 * Include this header and annotate; no extra link flags are needed. Run the
 * program under PUSh (`push run -- ./app`, or LD_PRELOAD=libpush.so) to have
 * every sharing policy enforced; run it natively and every annotation is a
 * no-op: the functions are weak symbols, push_malloc/calloc/realloc/free fall
 * back to malloc/calloc/realloc/free, and the policy calls return 0.
 *
 * Model (docs/model.md; API reference docs/api.md): each tracked object
 * has one policy at a time.
 *   private(T)        read-write for thread T only; the default, T = creator
 *   readonly          read for every thread, write for none
 *   protected_by(L)   read-write for the thread holding L exclusively,
 *                     read for threads holding L in read mode
 *   released          no access until some thread calls push_acquire
 *   racy              never reported
 * An access the policy does not allow is reported as a data race.
 *
 * Who may change a policy: the owner of a private object, a holder of the
 * protecting lock, or anyone for a readonly, released or racy object.
 * Anything else is reported as an annotation error and changes nothing.
 *
 * Every int-returning call returns 0 or an errno value: EINVAL when `obj`
 * does not point into a tracked object (or `lock`/`to` is unusable), EPERM
 * when the caller may not change the object's policy.
 */
#ifndef PUSH_H
#define PUSH_H

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PUSH_WEAK __attribute__((weak))

/* Tracked allocation: the object gets pages of its own, private to the
 * calling thread. Free with push_free (plain free() also works). */
void *push_malloc(size_t size) PUSH_WEAK;
void *push_calloc(size_t nmemb, size_t size) PUSH_WEAK;
/* Keeps contents and policy. */
void *push_realloc(void *ptr, size_t size) PUSH_WEAK;
void push_free(void *ptr) PUSH_WEAK;

/* Policy changes. `obj` may point anywhere inside a tracked object. */
int push_private(void *obj) PUSH_WEAK;   /* private to the caller */
int push_readonly(void *obj) PUSH_WEAK;
/* `lock`: a pthread_mutex_t, pthread_rwlock_t, pthread_spinlock_t, or a
 * custom lock announced with push_lock_acquired/released. */
int push_protected_by(void *obj, const void *lock) PUSH_WEAK;
/* Private to thread `to`; `to` must be a live thread. */
int push_transfer(void *obj, pthread_t to) PUSH_WEAK;
/* No access until a thread calls push_acquire (then private to it). */
int push_release(void *obj) PUSH_WEAK;
int push_acquire(void *obj) PUSH_WEAK;
int push_racy(void *obj) PUSH_WEAK;

/* Parts of one object: cuts the object that starts at `obj` into parts of
 * `part_size` bytes (the last part takes the rest), each an object of its
 * own, with the whole's policy to begin with: give each thread's slice of
 * an array its own policy (push_transfer(rows + t * part_size, thread[t]),
 * say). Protection works on whole pages: `part_size` must be a multiple of
 * 4096 (EINVAL otherwise: pad each part's data to it), and the object more
 * than 2 KiB. Free the allocation through its first part (push_free(obj)
 * frees every part); a partitioned allocation cannot be resized. Works on a
 * PUSH_GLOBAL too (an array of per-thread structs padded to pages). */
int push_partition(void *obj, size_t part_size) PUSH_WEAK;

/* Policy changes at barrier phases: the change is registered now (the
 * caller must be allowed to make it now, else the usual annotation error)
 * and made when `barrier` next opens, by the last thread to arrive, after
 * every thread's arrival and before any thread leaves: ordered after
 * every access of the phase that ends and before every access of the next.
 * `barrier` is a pthread_barrier_t, or a barrier of the program's own whose
 * last arriving thread calls push_barrier_opens(barrier) before it wakes
 * the others (the others announce their arrival with
 * push_happens_before(barrier) and their departure with
 * push_happens_after(barrier)). A later registration for the same object
 * and barrier replaces an earlier one. */
int push_private_at(const void *barrier, void *obj, pthread_t to) PUSH_WEAK;
int push_readonly_at(const void *barrier, void *obj) PUSH_WEAK;
int push_protected_by_at(const void *barrier, void *obj, const void *lock) PUSH_WEAK;
int push_racy_at(const void *barrier, void *obj) PUSH_WEAK;
void push_barrier_opens(const void *barrier) PUSH_WEAK;

/* Synchronization the runtime cannot see (atomics, lock-free queues):
 * push_happens_before(addr) is a release on addr, push_happens_after(addr)
 * an acquire on addr; every release on addr happens before every later
 * acquire on addr. */
void push_happens_before(const void *addr) PUSH_WEAK;
void push_happens_after(const void *addr) PUSH_WEAK;

/* Custom locks: call right after acquiring (exclusive != 0 for a write or
 * exclusive lock, 0 for a read lock) and right before releasing. They create
 * the same happens-before edges and grant the same access as a pthread lock. */
void push_lock_acquired(const void *lock, int exclusive) PUSH_WEAK;
void push_lock_released(const void *lock) PUSH_WEAK;

/* Compiled-in defaults, as ThreadSanitizer's __tsan_default_options: a
 * program may define these; the runtime calls them once at start-up.
 * push_default_options() returns PUSH_OPTIONS settings applied under
 * PUSH_OPTIONS and push run's flags (those win); push_default_suppressions()
 * returns suppression lines (race:PATTERN ...) used next to the
 * `suppressions` file. Return a string literal. The runtime finds them with
 * dlsym, else in the executable's symbol table: link with -rdynamic (or
 * -Wl,--export-dynamic-symbol=push_default_options) if the binary is
 * stripped. */
const char *push_default_options(void);
const char *push_default_suppressions(void);

/* Used by PUSH_GLOBAL; not for direct use. */
void push_register_global(void *addr, size_t size) PUSH_WEAK;

#ifdef __cplusplus
}
#endif

/* Calls go through these macros so that a program run without the runtime
 * (the weak symbols are then null) behaves as if the annotations were absent.
 * Taking the address of an API function still yields the weak symbol. */
#define push_malloc(size) (push_malloc ? (push_malloc)(size) : malloc(size))
#define push_calloc(nmemb, size) \
  (push_calloc ? (push_calloc)((nmemb), (size)) : calloc((nmemb), (size)))
#define push_realloc(ptr, size) \
  (push_realloc ? (push_realloc)((ptr), (size)) : realloc((ptr), (size)))
#define push_free(ptr) (push_free ? (push_free)(ptr) : free(ptr))
#define push_private(obj) (push_private ? (push_private)(obj) : 0)
#define push_readonly(obj) (push_readonly ? (push_readonly)(obj) : 0)
#define push_protected_by(obj, lock) \
  (push_protected_by ? (push_protected_by)((obj), (lock)) : 0)
#define push_transfer(obj, to) \
  (push_transfer ? (push_transfer)((obj), (to)) : 0)
#define push_release(obj) (push_release ? (push_release)(obj) : 0)
#define push_acquire(obj) (push_acquire ? (push_acquire)(obj) : 0)
#define push_racy(obj) (push_racy ? (push_racy)(obj) : 0)
#define push_partition(obj, part_size) \
  (push_partition ? (push_partition)((obj), (part_size)) : 0)
#define push_private_at(barrier, obj, to) \
  (push_private_at ? (push_private_at)((barrier), (obj), (to)) : 0)
#define push_readonly_at(barrier, obj) \
  (push_readonly_at ? (push_readonly_at)((barrier), (obj)) : 0)
#define push_protected_by_at(barrier, obj, lock) \
  (push_protected_by_at ? (push_protected_by_at)((barrier), (obj), (lock)) : 0)
#define push_racy_at(barrier, obj) \
  (push_racy_at ? (push_racy_at)((barrier), (obj)) : 0)
#define push_barrier_opens(barrier) \
  (push_barrier_opens ? (push_barrier_opens)(barrier) : (void)0)
#define push_happens_before(addr) \
  (push_happens_before ? (push_happens_before)(addr) : (void)0)
#define push_happens_after(addr) \
  (push_happens_after ? (push_happens_after)(addr) : (void)0)
#define push_lock_acquired(lock, exclusive) \
  (push_lock_acquired ? (push_lock_acquired)((lock), (exclusive)) : (void)0)
#define push_lock_released(lock) \
  (push_lock_released ? (push_lock_released)(lock) : (void)0)

#define PUSH_PAGE_ROUND_(n) ((((n) + 4095) / 4096) * 4096)

/* PUSH_GLOBAL(type, name); at file scope defines a zero-initialised global
 * `name` of `type` on pages of its own (the size is rounded up to whole
 * pages), tracked by PUSh and private to the main thread from start-up.
 * Use it as a plain lvalue: `counter++`, `&table[3]`. It has external
 * linkage; declare it elsewhere with `extern type name;`. `type` may be an
 * array type written out (`PUSH_GLOBAL(int[64], table)`), or in C++ any
 * named, trivially constructible type.
 *
 * PUSH_GLOBAL_INIT(type, name, initializer); does the same with an
 * initializer (`PUSH_GLOBAL_INIT(long[4], primes, {2, 3, 5, 7})`,
 * `PUSH_GLOBAL_INIT(struct config, cfg, {.depth = 3})`). The value is
 * copied in by a constructor before `main`: another translation unit's
 * constructor that runs earlier may still see zeros. */
#define PUSH_GLOBAL(type, name)                                               \
  extern __typeof__(type) name;                                               \
  PUSH_GLOBAL_DEFINE_(name, (void)0)                                          \
  extern __typeof__(type) name

#define PUSH_GLOBAL_INIT(type, name, ...)                                     \
  extern __typeof__(type) name;                                               \
  static const __typeof__(type) push_global_value_##name = __VA_ARGS__;     \
  PUSH_GLOBAL_DEFINE_(name, __builtin_memcpy(&name, &push_global_value_##name, \
                                             sizeof(name)))                  \
  extern __typeof__(type) name

/* Not for direct use: the page-aligned, page-padded definition in .bss and
 * the constructor that runs `init` then registers the global. */
#define PUSH_GLOBAL_DEFINE_(name, init)                                       \
  __attribute__((used, constructor)) static void push_global_init_##name(     \
      void) {                                                                 \
    __asm__ volatile(".pushsection .bss.push_global." #name                  \
                     ",\"aw\",@nobits\n\t.balign 4096\n\t.globl " #name      \
                     "\n\t.type " #name ",@object\n" #name                   \
                     ":\n\t.zero %c0\n\t.size " #name ",%c0\n\t.popsection"  \
                     ::"i"(PUSH_PAGE_ROUND_(sizeof(name))));                  \
    init;                                                                     \
    if (push_register_global) (push_register_global)(&name, sizeof(name));    \
  }

#endif /* PUSH_H */
