//! libpush.so: every symbol PUSh exports, in one file.
//!
//! * the C API of `include/push.h` (`push_*`), forwarding to `push_rt::api_*`;
//! * interposers for glibc's whole synchronization API (pthread mutexes,
//!   rwlocks, spinlocks, condition variables, barriers, once, thread
//!   creation, join and exit, with their timed, clock and `_np` forms;
//!   semaphores; C11 `<threads.h>`), which tell the runtime about
//!   synchronization and give lock calls access to locks stored inside
//!   protected objects;
//! * `sigaction`/`signal`, so the application's SIGSEGV/SIGTRAP handlers are
//!   chained behind PUSh's instead of replacing them;
//! * `free` (a tracked pointer freed with plain `free`), `_exit`/`_Exit`
//!   (reports and the summary are printed before the process ends).
//!
//! Hook shape: pass straight through when the runtime is disabled or the
//! thread is inside runtime code; otherwise grant → real call → record.
//! No hook allocates except `pthread_create` (the start-routine wrapper;
//! `thrd_create` uses a static slot per thread record instead).
//!
//! # Safety
//! Every export has the C signature of the function it replaces, and passes
//! its arguments unchanged to the real function found by `push_rt::real`.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![allow(clippy::missing_safety_doc)]

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use libc::{c_int, c_void, pthread_t, size_t, timespec};
use push_rt as rt;
use push_rt::real::get as real;
use push_rt::registry::Policy;
use push_rt::report::Api;
use push_rt::{LockKind, LockWord};

mod auto_alloc;

type M = *mut libc::pthread_mutex_t;
type R = *mut libc::pthread_rwlock_t;
type C = *mut libc::pthread_cond_t;
type S = *mut libc::pthread_spinlock_t;

// ------------------------------------------------------------------ start-up

/// Everything the runtime allocates comes from its own allocator, never from
/// the program's `malloc` (see `push_rt::own_alloc`).
#[global_allocator]
static RUNTIME_ALLOCATOR: rt::own_alloc::RuntimeAllocator = rt::own_alloc::RuntimeAllocator;

#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = push_init;

extern "C" fn push_init() {
    resolve_free();
    match rt::init(own_text_range()) {
        Ok(()) => {
            // SAFETY: registering plain extern "C" callbacks with libc.
            unsafe {
                libc::atexit(at_exit);
                libc::pthread_atfork(
                    Some(before_fork),
                    Some(after_fork_parent),
                    Some(after_fork_child),
                );
            }
        }
        Err(rt::Disabled::NoPku(why)) => {
            let msg = format!(
                "PUSh: warning: protection keys are not available ({why}); the program runs without race detection. Run 'push doctor' for details.\n"
            );
            if rt::first_in_run("PUSH_SAID_DISABLED") {
                rt::sys::write_all(2, msg.as_bytes());
            }
            rt::run_dir::record(rt::run_dir::State::Disabled);
        }
        Err(rt::Disabled::Failed(why)) => {
            let msg = format!(
                "PUSh: warning: the runtime could not start: {why}; the program runs without race detection\n"
            );
            if rt::first_in_run("PUSH_SAID_DISABLED") {
                rt::sys::write_all(2, msg.as_bytes());
            }
            rt::run_dir::record(rt::run_dir::State::Disabled);
        }
    }
}

extern "C" fn at_exit() {
    if let Some(code) = rt::on_exit() {
        // SAFETY: flushing stdio streams at exit, as exit() itself would.
        unsafe { libc::fflush(core::ptr::null_mut()) };
        rt::sys::exit_now(code);
    }
}

extern "C" fn before_fork() {
    rt::on_fork_prepare();
}

extern "C" fn after_fork_parent() {
    rt::on_fork_parent();
}

extern "C" fn after_fork_child() {
    rt::on_fork_child();
}

/// The address range of libpush.so's own code.
fn own_text_range() -> (usize, usize) {
    struct Search {
        addr: usize,
        range: (usize, usize),
    }
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: size_t,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr passes valid info and our Search pointer.
        unsafe {
            let s = &mut *(data as *mut Search);
            let info = &*info;
            let base = info.dlpi_addr as usize;
            let (mut lo, mut hi) = (usize::MAX, 0);
            for i in 0..info.dlpi_phnum as usize {
                let ph = &*info.dlpi_phdr.add(i);
                if ph.p_type == libc::PT_LOAD {
                    lo = lo.min(base + ph.p_vaddr as usize);
                    hi = hi.max(base + (ph.p_vaddr + ph.p_memsz) as usize);
                }
            }
            if s.addr >= lo && s.addr < hi {
                s.range = (lo, hi);
                return 1;
            }
        }
        0
    }
    let mut s = Search {
        addr: push_init as *const () as usize,
        range: (0, 0),
    };
    // SAFETY: the callback only reads the headers and writes into `s`.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&mut s as *mut Search).cast()) };
    s.range
}

#[inline(always)]
fn passthrough() -> bool {
    !rt::enabled() || rt::threads::in_runtime()
}

// ------------------------------------------------------------------- C API

#[no_mangle]
pub extern "C" fn push_malloc(size: size_t) -> *mut c_void {
    let _g = rt::enter();
    rt::api_malloc(size).cast()
}

#[no_mangle]
pub extern "C" fn push_calloc(n: size_t, size: size_t) -> *mut c_void {
    let _g = rt::enter();
    rt::api_calloc(n, size).cast()
}

#[no_mangle]
pub unsafe extern "C" fn push_realloc(p: *mut c_void, size: size_t) -> *mut c_void {
    let _g = rt::enter();
    match rt::api_realloc(p as usize, size) {
        Some(r) => r.cast(),
        // SAFETY: the C contract of push_realloc: p is from malloc.
        None => unsafe { libc::realloc(p, size) },
    }
}

#[no_mangle]
pub unsafe extern "C" fn push_free(p: *mut c_void) {
    let _g = rt::enter();
    if !rt::api_free(p as usize, Api::Free) {
        // SAFETY: the C contract of push_free: p is from malloc.
        unsafe { libc::free(p) };
    }
}

#[no_mangle]
pub extern "C" fn push_private(obj: *mut c_void) -> c_int {
    let _g = rt::enter();
    rt::api_private(obj as usize)
}

#[no_mangle]
pub extern "C" fn push_readonly(obj: *mut c_void) -> c_int {
    let _g = rt::enter();
    rt::api_set_policy(Api::ReadOnly, obj as usize, Policy::ReadOnly)
}

#[no_mangle]
pub extern "C" fn push_protected_by(obj: *mut c_void, lock: *const c_void) -> c_int {
    let _g = rt::enter();
    rt::api_protected_by(obj as usize, lock as usize)
}

#[no_mangle]
pub extern "C" fn push_transfer(obj: *mut c_void, to: pthread_t) -> c_int {
    let _g = rt::enter();
    rt::api_transfer(obj as usize, to)
}

#[no_mangle]
pub extern "C" fn push_release(obj: *mut c_void) -> c_int {
    let _g = rt::enter();
    rt::api_set_policy(Api::Release, obj as usize, Policy::Released)
}

#[no_mangle]
pub extern "C" fn push_acquire(obj: *mut c_void) -> c_int {
    let _g = rt::enter();
    rt::api_acquire(obj as usize)
}

#[no_mangle]
pub extern "C" fn push_racy(obj: *mut c_void) -> c_int {
    let _g = rt::enter();
    rt::api_set_policy(Api::Racy, obj as usize, Policy::Racy)
}

#[no_mangle]
pub extern "C" fn push_partition(obj: *mut c_void, part_size: size_t) -> c_int {
    let _g = rt::enter();
    rt::api_partition(obj as usize, part_size)
}

#[no_mangle]
pub extern "C" fn push_private_at(
    barrier: *const c_void,
    obj: *mut c_void,
    to: pthread_t,
) -> c_int {
    let _g = rt::enter();
    rt::api_private_at(barrier as usize, obj as usize, to)
}

#[no_mangle]
pub extern "C" fn push_readonly_at(barrier: *const c_void, obj: *mut c_void) -> c_int {
    let _g = rt::enter();
    rt::api_policy_at(
        Api::ReadOnlyAt,
        barrier as usize,
        obj as usize,
        Policy::ReadOnly,
    )
}

#[no_mangle]
pub extern "C" fn push_protected_by_at(
    barrier: *const c_void,
    obj: *mut c_void,
    lock: *const c_void,
) -> c_int {
    let _g = rt::enter();
    rt::api_policy_at(
        Api::ProtectedByAt,
        barrier as usize,
        obj as usize,
        Policy::ProtectedBy(lock as usize),
    )
}

#[no_mangle]
pub extern "C" fn push_racy_at(barrier: *const c_void, obj: *mut c_void) -> c_int {
    let _g = rt::enter();
    rt::api_policy_at(Api::RacyAt, barrier as usize, obj as usize, Policy::Racy)
}

#[no_mangle]
pub extern "C" fn push_barrier_opens(barrier: *const c_void) {
    let _g = rt::enter();
    rt::api_barrier_opens(barrier as usize);
}

#[no_mangle]
pub extern "C" fn push_happens_before(addr: *const c_void) {
    if let Some(t) = rt::hook_thread() {
        rt::on_release(t, addr as usize);
    }
}

#[no_mangle]
pub extern "C" fn push_happens_after(addr: *const c_void) {
    if let Some(t) = rt::hook_thread() {
        rt::on_acquire(t, addr as usize);
    }
}

#[no_mangle]
pub extern "C" fn push_lock_acquired(lock: *const c_void, exclusive: c_int) {
    let _g = rt::enter();
    rt::api_lock_acquired(lock as usize, exclusive != 0);
}

#[no_mangle]
pub extern "C" fn push_lock_released(lock: *const c_void) {
    let _g = rt::enter();
    rt::api_lock_released(lock as usize);
}

#[no_mangle]
pub extern "C" fn push_register_global(addr: *mut c_void, size: size_t) {
    let _g = rt::enter();
    rt::api_register_global(addr as usize, size);
}

// ------------------------------------------------------------------- mutexes

/// How a family of lock functions reports its outcome.
#[derive(Clone, Copy)]
struct LockCodes {
    /// What the non-blocking form returns when another thread holds the lock.
    busy: c_int,
    /// A failure code with which the caller holds the lock all the same
    /// (`EOWNERDEAD`: a robust mutex whose previous owner died); 0 if none.
    held_anyway: c_int,
}

impl LockCodes {
    /// Whether a call that returned `r` left the caller holding the lock.
    #[inline(always)]
    fn acquired(self, r: c_int) -> bool {
        r == 0 || r == self.held_anyway
    }
}

/// pthread mutexes: a robust one whose owner died is acquired with EOWNERDEAD.
const MUTEX_CODES: LockCodes = LockCodes {
    busy: libc::EBUSY,
    held_anyway: libc::EOWNERDEAD,
};

/// pthread rwlocks and spinlocks.
const PTHREAD_CODES: LockCodes = LockCodes {
    busy: libc::EBUSY,
    held_anyway: 0,
};

/// C11 `thrd_success` (0) and `thrd_busy` of glibc's `<threads.h>`.
const THRD_SUCCESS: c_int = 0;
const THRD_BUSY: c_int = 1;

/// C11 `mtx_*`: only `thrd_success` acquires (C11 mutexes are never robust).
const C11_CODES: LockCodes = LockCodes {
    busy: THRD_BUSY,
    held_anyway: THRD_SUCCESS,
};

/// Shape of every blocking lock-acquiring hook: `try_call` is the lock's
/// non-blocking form, `call` the blocking one. A lock inside a tracked object
/// is first tried in a narrow window (see `rt::lock_window_begin`); only if
/// it is busy does the thread wait with every key open.
#[inline(always)]
fn acquire_hook(
    lock: usize,
    kind: LockKind,
    codes: LockCodes,
    try_call: impl FnOnce() -> c_int,
    call: impl FnOnce() -> c_int,
) -> c_int {
    let Some(t) = rt::hook_thread() else {
        return call();
    };
    let word = rt::lock_window_begin(t, lock, kind);
    if let LockWord::Window(key) = word {
        let r = try_call();
        rt::lock_window_end(t, lock, kind, key, codes.acquired(r));
        if r != codes.busy {
            return r;
        }
    }
    acquire_general(t, lock, kind, codes, word != LockWord::Untracked, call)
}

/// [`acquire_hook`] without the non-blocking attempt, for a timed call
/// whose clock or deadline the real function rejects before it looks at
/// the lock (EINVAL even when the lock is free): trying first would take it.
#[inline(always)]
fn acquire_untried_hook(
    lock: usize,
    kind: LockKind,
    codes: LockCodes,
    call: impl FnOnce() -> c_int,
) -> c_int {
    let Some(t) = rt::hook_thread() else {
        return call();
    };
    let tracked = rt::lock_word(lock) == LockWord::Tracked;
    acquire_general(t, lock, kind, codes, tracked, call)
}

/// Shape of every non-blocking lock-acquiring hook.
#[inline(always)]
fn try_acquire_hook(
    lock: usize,
    kind: LockKind,
    codes: LockCodes,
    try_call: impl FnOnce() -> c_int,
) -> c_int {
    let Some(t) = rt::hook_thread() else {
        return try_call();
    };
    match rt::lock_window_begin(t, lock, kind) {
        LockWord::Window(key) => {
            let r = try_call();
            rt::lock_window_end(t, lock, kind, key, codes.acquired(r));
            r
        }
        word => acquire_general(t, lock, kind, codes, word == LockWord::Tracked, try_call),
    }
}

/// The lock call with every key open if its word is `tracked` (the lock may
/// sleep in the kernel, which checks the caller's PKRU).
#[inline(always)]
fn acquire_general(
    t: (u32, &'static rt::threads::ThreadRecord),
    lock: usize,
    kind: LockKind,
    codes: LockCodes,
    tracked: bool,
    call: impl FnOnce() -> c_int,
) -> c_int {
    if tracked {
        rt::open_for_lock_call(t, lock);
    }
    let r = call();
    if codes.acquired(r) {
        rt::on_lock_acquired(t, lock, kind, false);
    }
    rt::end_sync_grant(t, tracked);
    r
}

/// The clocks glibc's timed waits accept; the clock forms of mutexes and
/// rwlocks fail with EINVAL for any other before touching the lock.
#[inline(always)]
fn futex_clock(clock: libc::clockid_t) -> bool {
    clock == libc::CLOCK_REALTIME || clock == libc::CLOCK_MONOTONIC
}

/// Whether glibc's timed rwlock calls get past their entry checks (a
/// supported clock and a deadline with 0 <= tv_nsec < 1e9, when there is a
/// deadline); otherwise they return EINVAL whatever the lock's state.
///
/// # Safety
/// `abstime` is null or readable, as the real function requires.
#[inline(always)]
unsafe fn rwlock_deadline_ok(clock: libc::clockid_t, abstime: *const timespec) -> bool {
    if abstime.is_null() {
        return true;
    }
    // SAFETY: the caller's deadline, which glibc reads at this point too.
    let nsec = unsafe { (*abstime).tv_nsec };
    futex_clock(clock) && (0..1_000_000_000).contains(&nsec)
}

/// Shape of every lock-releasing hook.
#[inline(always)]
fn release_hook(lock: usize, kind: LockKind, call: impl FnOnce() -> c_int) -> c_int {
    let Some(t) = rt::hook_thread() else {
        return call();
    };
    let word = rt::unlock_window_begin(t.1, lock);
    if word == LockWord::Tracked {
        rt::open_for_lock_call(t, lock);
    }
    let refresh = rt::on_lock_releasing(t, lock, kind);
    let r = call();
    match word {
        LockWord::Window(_) => rt::unlock_window_end(t, refresh),
        LockWord::Tracked => rt::end_sync_grant(t, true),
        LockWord::Untracked if refresh => rt::refresh_pkru_of(t.0, t.1),
        LockWord::Untracked => {}
    }
    r
}

/// Shape of hooks that only need access to the object (init, destroy, signal).
#[inline(always)]
fn access_hook(addrs: &[usize], call: impl FnOnce() -> c_int) -> c_int {
    let Some(t) = rt::hook_thread() else {
        return call();
    };
    let granted = rt::grant_for_sync(t, addrs);
    let r = call();
    rt::end_sync_grant(t, granted);
    r
}

/// Shape of the destroy hooks: the object's clock is forgotten (its address
/// may hold another object later), then the call runs with access to it.
#[inline(always)]
fn destroy_hook(addr: usize, call: impl FnOnce() -> c_int) -> c_int {
    rt::on_sync_destroyed(addr);
    access_hook(&[addr], call)
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_lock(m: M) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    acquire_hook(
        m as usize,
        LockKind::Exclusive,
        MUTEX_CODES,
        || unsafe { real::pthread_mutex_trylock()(m) },
        || unsafe { real::pthread_mutex_lock()(m) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_trylock(m: M) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    try_acquire_hook(m as usize, LockKind::Exclusive, MUTEX_CODES, || unsafe {
        real::pthread_mutex_trylock()(m)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_timedlock(m: M, t: *const timespec) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    acquire_hook(
        m as usize,
        LockKind::Exclusive,
        MUTEX_CODES,
        || unsafe { real::pthread_mutex_trylock()(m) },
        || unsafe { real::pthread_mutex_timedlock()(m, t) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_clocklock(
    m: M,
    clock: libc::clockid_t,
    t: *const timespec,
) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    let call = || unsafe { real::pthread_mutex_clocklock()(m, clock, t) };
    if !futex_clock(clock) {
        return acquire_untried_hook(m as usize, LockKind::Exclusive, MUTEX_CODES, call);
    }
    acquire_hook(
        m as usize,
        LockKind::Exclusive,
        MUTEX_CODES,
        // SAFETY: as above.
        || unsafe { real::pthread_mutex_trylock()(m) },
        call,
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_unlock(m: M) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    release_hook(m as usize, LockKind::Exclusive, || unsafe {
        real::pthread_mutex_unlock()(m)
    })
}

/// A robust mutex acquired with EOWNERDEAD is marked consistent by its
/// holder: a write to the lock word, nothing more.
#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_consistent(m: M) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[m as usize], || unsafe {
        real::pthread_mutex_consistent()(m)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_getprioceiling(m: M, ceiling: *mut c_int) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[m as usize], || unsafe {
        real::pthread_mutex_getprioceiling()(m, ceiling)
    })
}

/// Takes and releases the mutex inside glibc to change its ceiling: the
/// word needs access for the call; no happens-before edge is recorded (the
/// caller touches nothing under it).
#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_setprioceiling(
    m: M,
    ceiling: c_int,
    old: *mut c_int,
) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[m as usize], || unsafe {
        real::pthread_mutex_setprioceiling()(m, ceiling, old)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_init(m: M, a: *const libc::pthread_mutexattr_t) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[m as usize], || unsafe {
        real::pthread_mutex_init()(m, a)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_destroy(m: M) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    destroy_hook(m as usize, || unsafe { real::pthread_mutex_destroy()(m) })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_init(l: R, a: *const libc::pthread_rwlockattr_t) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[l as usize], || unsafe {
        real::pthread_rwlock_init()(l, a)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_destroy(l: R) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    destroy_hook(l as usize, || unsafe { real::pthread_rwlock_destroy()(l) })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_spin_init(l: S, pshared: c_int) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[l as usize], || unsafe {
        real::pthread_spin_init()(l, pshared)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_spin_destroy(l: S) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    destroy_hook(l as usize, || unsafe { real::pthread_spin_destroy()(l) })
}

// ------------------------------------- barriers, semaphores, pthread_once

type B = *mut libc::pthread_barrier_t;

#[no_mangle]
pub unsafe extern "C" fn pthread_barrier_wait(b: B) -> c_int {
    let Some(t) = rt::hook_thread() else {
        if rt::enabled() && !rt::threads::in_runtime() {
            // An unchecked thread's arrival still counts toward the round.
            rt::on_barrier_arrival(None, b as usize);
        }
        // SAFETY: unchanged argument.
        return unsafe { real::pthread_barrier_wait()(b) };
    };
    // All arrivals of a round happen before all its departures.
    let clock = rt::on_barrier_arrival(Some(t), b as usize);
    let granted = rt::grant_for_sync(t, &[b as usize]);
    // SAFETY: unchanged argument.
    let r = unsafe { real::pthread_barrier_wait()(b) };
    rt::on_barrier_departure(t, clock);
    rt::end_sync_grant(t, granted);
    r
}

#[no_mangle]
pub unsafe extern "C" fn pthread_barrier_init(
    b: B,
    a: *const libc::pthread_barrierattr_t,
    count: libc::c_uint,
) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    let r = access_hook(&[b as usize], || unsafe {
        real::pthread_barrier_init()(b, a, count)
    });
    let mut shared: c_int = libc::PTHREAD_PROCESS_PRIVATE;
    // SAFETY: a non-null attribute object is the caller's, initialized.
    if !a.is_null() && unsafe { libc::pthread_barrierattr_getpshared(a, &mut shared) } != 0 {
        shared = libc::PTHREAD_PROCESS_SHARED;
    }
    // A process-shared barrier's rounds are counted by all its processes
    // together, which no one process sees: it keeps the single clock.
    if r == 0 && shared == libc::PTHREAD_PROCESS_PRIVATE {
        rt::on_barrier_init(b as usize, count);
    } else if r == 0 {
        rt::on_barrier_destroy(b as usize);
    }
    r
}

/// glibc's destroy waits for the last round's threads to leave the barrier.
#[no_mangle]
pub unsafe extern "C" fn pthread_barrier_destroy(b: B) -> c_int {
    rt::on_barrier_destroy(b as usize);
    // SAFETY: the caller's arguments go unchanged to the real function.
    destroy_hook(b as usize, || unsafe { real::pthread_barrier_destroy()(b) })
}

#[no_mangle]
pub unsafe extern "C" fn sem_post(s: *mut libc::sem_t) -> c_int {
    if let Some(t) = rt::hook_thread() {
        rt::on_release(t, s as usize);
    }
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[s as usize], || unsafe { real::sem_post()(s) })
}

/// Shape of the semaphore waits: acquire on success.
fn sem_wait_hook(s: *mut libc::sem_t, call: impl FnOnce() -> c_int) -> c_int {
    let Some(t) = rt::hook_thread() else {
        return call();
    };
    let granted = rt::grant_for_sync(t, &[s as usize]);
    let r = call();
    if r == 0 {
        rt::on_acquire(t, s as usize);
    }
    rt::end_sync_grant(t, granted);
    r
}

#[no_mangle]
pub unsafe extern "C" fn sem_wait(s: *mut libc::sem_t) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    sem_wait_hook(s, || unsafe { real::sem_wait()(s) })
}

#[no_mangle]
pub unsafe extern "C" fn sem_trywait(s: *mut libc::sem_t) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    sem_wait_hook(s, || unsafe { real::sem_trywait()(s) })
}

#[no_mangle]
pub unsafe extern "C" fn sem_timedwait(s: *mut libc::sem_t, t: *const timespec) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    sem_wait_hook(s, || unsafe { real::sem_timedwait()(s, t) })
}

#[no_mangle]
pub unsafe extern "C" fn sem_clockwait(
    s: *mut libc::sem_t,
    clock: libc::clockid_t,
    t: *const timespec,
) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    sem_wait_hook(s, || unsafe { real::sem_clockwait()(s, clock, t) })
}

#[no_mangle]
pub unsafe extern "C" fn sem_init(
    s: *mut libc::sem_t,
    pshared: c_int,
    value: libc::c_uint,
) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[s as usize], || unsafe {
        real::sem_init()(s, pshared, value)
    })
}

#[no_mangle]
pub unsafe extern "C" fn sem_destroy(s: *mut libc::sem_t) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    destroy_hook(s as usize, || unsafe { real::sem_destroy()(s) })
}

/// Reads the count: no ordering (POSIX gives none), only access to the word.
#[no_mangle]
pub unsafe extern "C" fn sem_getvalue(s: *mut libc::sem_t, value: *mut c_int) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[s as usize], || unsafe { real::sem_getvalue()(s, value) })
}

const ONCE_NESTING: usize = 4;

thread_local! {
    /// Init routines and controls of the pthread_once / call_once calls
    /// running on this thread (an init routine may itself call pthread_once
    /// on another control).
    static ONCE_STACK: core::cell::Cell<[(usize, usize); ONCE_NESTING]> =
        const { core::cell::Cell::new([(0, 0); ONCE_NESTING]) };
    static ONCE_DEPTH: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
}

extern "C" fn once_trampoline() {
    let depth = ONCE_DEPTH.with(|d| d.get());
    let (routine, control) = ONCE_STACK.with(|s| s.get()[depth - 1]);
    // SAFETY: `routine` is the init routine given to our pthread_once.
    let routine: extern "C" fn() = unsafe { core::mem::transmute(routine) };
    routine();
    // The init routine happens before every return from pthread_once.
    if let Some(t) = rt::hook_thread() {
        rt::on_release(t, control);
    }
}

/// Shape of the once hooks: `call` runs the real function with the init
/// routine it is given, which is `routine` itself or a trampoline that runs
/// `routine` and then releases `control`; every return acquires it.
fn once_hook<T>(
    control: usize,
    routine: extern "C" fn(),
    call: impl FnOnce(extern "C" fn()) -> T,
) -> T {
    let depth = ONCE_DEPTH.with(|d| d.get());
    if passthrough() || depth >= ONCE_NESTING {
        return call(routine);
    }
    ONCE_STACK.with(|s| {
        let mut v = s.get();
        v[depth] = (routine as *const () as usize, control);
        s.set(v);
    });
    ONCE_DEPTH.with(|d| d.set(depth + 1));
    let r = call(once_trampoline);
    ONCE_DEPTH.with(|d| d.set(depth));
    if let Some(t) = rt::hook_thread() {
        rt::on_acquire(t, control);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn pthread_once(
    control: *mut libc::pthread_once_t,
    routine: extern "C" fn(),
) -> c_int {
    let real_once = real::pthread_once();
    // SAFETY: the control goes unchanged to the real function; the init
    // routine is the caller's or the trampoline that calls it exactly once.
    once_hook(control as usize, routine, |init| unsafe {
        real_once(control, init)
    })
}

// ------------------------------------------------------------------- rwlocks

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_rdlock(l: R) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    acquire_hook(
        l as usize,
        LockKind::Read,
        PTHREAD_CODES,
        || unsafe { real::pthread_rwlock_tryrdlock()(l) },
        || unsafe { real::pthread_rwlock_rdlock()(l) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_tryrdlock(l: R) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    try_acquire_hook(l as usize, LockKind::Read, PTHREAD_CODES, || unsafe {
        real::pthread_rwlock_tryrdlock()(l)
    })
}

/// Shape of the timed and clock forms of rwlock acquisition: tried first
/// like the blocking form, unless glibc would reject the clock or deadline.
///
/// # Safety
/// `abstime` is null or readable, as the real function requires.
#[inline(always)]
unsafe fn rwlock_timed_hook(
    l: R,
    kind: LockKind,
    clock: libc::clockid_t,
    abstime: *const timespec,
    call: impl FnOnce() -> c_int,
) -> c_int {
    // SAFETY: the caller's contract.
    if !unsafe { rwlock_deadline_ok(clock, abstime) } {
        return acquire_untried_hook(l as usize, kind, PTHREAD_CODES, call);
    }
    // SAFETY: the caller's lock goes unchanged to the real functions.
    let try_call = || unsafe {
        if kind == LockKind::Read {
            real::pthread_rwlock_tryrdlock()(l)
        } else {
            real::pthread_rwlock_trywrlock()(l)
        }
    };
    acquire_hook(l as usize, kind, PTHREAD_CODES, try_call, call)
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_timedrdlock(l: R, t: *const timespec) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    unsafe {
        rwlock_timed_hook(l, LockKind::Read, libc::CLOCK_REALTIME, t, || {
            real::pthread_rwlock_timedrdlock()(l, t)
        })
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_clockrdlock(
    l: R,
    clock: libc::clockid_t,
    t: *const timespec,
) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    unsafe {
        rwlock_timed_hook(l, LockKind::Read, clock, t, || {
            real::pthread_rwlock_clockrdlock()(l, clock, t)
        })
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_wrlock(l: R) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    acquire_hook(
        l as usize,
        LockKind::Write,
        PTHREAD_CODES,
        || unsafe { real::pthread_rwlock_trywrlock()(l) },
        || unsafe { real::pthread_rwlock_wrlock()(l) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_trywrlock(l: R) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    try_acquire_hook(l as usize, LockKind::Write, PTHREAD_CODES, || unsafe {
        real::pthread_rwlock_trywrlock()(l)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_timedwrlock(l: R, t: *const timespec) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    unsafe {
        rwlock_timed_hook(l, LockKind::Write, libc::CLOCK_REALTIME, t, || {
            real::pthread_rwlock_timedwrlock()(l, t)
        })
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_clockwrlock(
    l: R,
    clock: libc::clockid_t,
    t: *const timespec,
) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    unsafe {
        rwlock_timed_hook(l, LockKind::Write, clock, t, || {
            real::pthread_rwlock_clockwrlock()(l, clock, t)
        })
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_unlock(l: R) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    release_hook(l as usize, LockKind::Write, || unsafe {
        real::pthread_rwlock_unlock()(l)
    })
}

// ----------------------------------------------------------------- spinlocks

#[no_mangle]
pub unsafe extern "C" fn pthread_spin_lock(l: S) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    acquire_hook(
        l as usize,
        LockKind::Exclusive,
        PTHREAD_CODES,
        || unsafe { real::pthread_spin_trylock()(l) },
        || unsafe { real::pthread_spin_lock()(l) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_spin_trylock(l: S) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    try_acquire_hook(l as usize, LockKind::Exclusive, PTHREAD_CODES, || unsafe {
        real::pthread_spin_trylock()(l)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_spin_unlock(l: S) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    release_hook(l as usize, LockKind::Exclusive, || unsafe {
        real::pthread_spin_unlock()(l)
    })
}

// -------------------------------------------------------- condition variables

// ------------------------------------------------------------- cancellation

/// glibc's old-style cleanup buffer (`struct _pthread_cleanup_buffer`): a
/// routine registered with `_pthread_cleanup_push` runs when cancellation
/// (or `pthread_exit`) unwinds past the frame that holds the buffer.
#[repr(C)]
struct CleanupBuffer {
    routine: Option<unsafe extern "C" fn(*mut c_void)>,
    arg: *mut c_void,
    canceltype: c_int,
    prev: *mut CleanupBuffer,
}

extern "C" {
    fn _pthread_cleanup_push(
        buf: *mut CleanupBuffer,
        routine: unsafe extern "C" fn(*mut c_void),
        arg: *mut c_void,
    );
    fn _pthread_cleanup_pop(buf: *mut CleanupBuffer, execute: c_int);
}

/// Runs `call` with `routine(arg)` registered to run if the thread is
/// cancelled (or exits) inside it: the hook's bookkeeping after the real
/// call would otherwise be skipped by the unwind.
#[inline(always)]
fn on_unwind<R>(
    routine: unsafe extern "C" fn(*mut c_void),
    arg: *mut c_void,
    call: impl FnOnce() -> R,
) -> R {
    let mut buf = core::mem::MaybeUninit::<CleanupBuffer>::uninit();
    // SAFETY: the buffer lives in this frame until the pop below.
    unsafe { _pthread_cleanup_push(buf.as_mut_ptr(), routine, arg) };
    let r = call();
    // SAFETY: pops the buffer pushed above, without running it.
    unsafe { _pthread_cleanup_pop(buf.as_mut_ptr(), 0) };
    r
}

/// What a cond wait must record if cancellation unwinds out of it: glibc
/// has re-taken the mutex before the program's cleanup handlers run.
struct CondWaitState {
    t: (u32, &'static rt::threads::ThreadRecord),
    m: usize,
    refresh: bool,
    granted: bool,
}

unsafe extern "C" fn cond_wait_cancelled(p: *mut c_void) {
    // SAFETY: p is the CondWaitState of the cond_wait_hook frame being unwound.
    let s = unsafe { &*(p as *const CondWaitState) };
    rt::on_lock_acquired(s.t, s.m, LockKind::Exclusive, s.refresh);
    rt::end_sync_grant(s.t, s.granted);
}

fn cond_wait_hook(c: C, m: M, call: impl FnOnce() -> c_int) -> c_int {
    let Some(t) = rt::hook_thread() else {
        return call();
    };
    let granted = rt::grant_for_sync(t, &[c as usize, m as usize]);
    let refresh = rt::on_lock_releasing(t, m as usize, LockKind::Exclusive);
    let mut state = CondWaitState {
        t,
        m: m as usize,
        refresh,
        granted,
    };
    let r = on_unwind(
        cond_wait_cancelled,
        (&mut state as *mut CondWaitState).cast(),
        call,
    );
    // The mutex is held again on return, whatever the result.
    rt::on_lock_acquired(t, m as usize, LockKind::Exclusive, refresh);
    rt::end_sync_grant(t, granted);
    r
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_wait(c: C, m: M) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    cond_wait_hook(c, m, || unsafe { real::pthread_cond_wait()(c, m) })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_timedwait(c: C, m: M, t: *const timespec) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    cond_wait_hook(c, m, || unsafe { real::pthread_cond_timedwait()(c, m, t) })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_clockwait(
    c: C,
    m: M,
    clock: libc::clockid_t,
    t: *const timespec,
) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    cond_wait_hook(c, m, || unsafe {
        real::pthread_cond_clockwait()(c, m, clock, t)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_signal(c: C) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[c as usize], || unsafe { real::pthread_cond_signal()(c) })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_broadcast(c: C) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[c as usize], || unsafe {
        real::pthread_cond_broadcast()(c)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_init(c: C, a: *const libc::pthread_condattr_t) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[c as usize], || unsafe { real::pthread_cond_init()(c, a) })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_destroy(c: C) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[c as usize], || unsafe { real::pthread_cond_destroy()(c) })
}

// ------------------------------------------------------------------- threads

struct Start {
    routine: extern "C" fn(*mut c_void) -> *mut c_void,
    arg: *mut c_void,
    id: u32,
}

extern "C" fn thread_trampoline(p: *mut c_void) -> *mut c_void {
    // SAFETY: p is the Box<Start> leaked by our pthread_create for this thread.
    let start = unsafe { Box::from_raw(p as *mut Start) };
    {
        let _g = rt::enter();
        rt::on_thread_start(start.id);
    }
    unsafe extern "C" fn exited(_: *mut c_void) {
        rt::on_thread_exit();
    }
    // Cancellation unwinds past this frame without returning.
    let ret = on_unwind(exited, core::ptr::null_mut(), || (start.routine)(start.arg));
    rt::on_thread_exit();
    ret
}

#[no_mangle]
pub unsafe extern "C" fn pthread_create(
    thread: *mut pthread_t,
    attr: *const libc::pthread_attr_t,
    routine: extern "C" fn(*mut c_void) -> *mut c_void,
    arg: *mut c_void,
) -> c_int {
    let real_create = real::pthread_create();
    if passthrough() {
        // SAFETY: unchanged arguments.
        return unsafe { real_create(thread, attr, routine, arg) };
    }
    let Some(parent) = rt::hook_thread() else {
        // SAFETY: unchanged arguments.
        return unsafe { real_create(thread, attr, routine, arg) };
    };
    let Some(id) = rt::on_thread_creating(parent) else {
        // SAFETY: unchanged arguments.
        return unsafe { real_create(thread, attr, routine, arg) };
    };
    let start = Box::into_raw(Box::new(Start { routine, arg, id }));
    // SAFETY: the trampoline takes ownership of `start` in the new thread.
    let r = unsafe { real_create(thread, attr, thread_trampoline, start.cast()) };
    if r != 0 {
        // SAFETY: the thread was not created, so `start` is still ours.
        drop(unsafe { Box::from_raw(start) });
        return r;
    }
    let mut detach_state = libc::PTHREAD_CREATE_JOINABLE;
    if !attr.is_null() {
        // SAFETY: attr is the caller's initialized attribute object.
        unsafe { pthread_attr_getdetachstate(attr, &mut detach_state) };
    }
    // SAFETY: on success the real pthread_create wrote the handle.
    rt::on_thread_created(
        id,
        unsafe { *thread },
        detach_state == libc::PTHREAD_CREATE_DETACHED,
    );
    r
}

#[no_mangle]
pub unsafe extern "C" fn pthread_detach(t: pthread_t) -> c_int {
    // SAFETY: unchanged argument.
    let r = unsafe { real::pthread_detach()(t) };
    if r == 0 && !passthrough() {
        rt::on_thread_detached(t);
    }
    r
}

/// Shape of the join hooks: once `call` has returned with `thread` joined
/// (`joined(r)`), the joiner acquires everything the thread did.
#[inline(always)]
fn join_hook(
    thread: pthread_t,
    joined: impl FnOnce(c_int) -> bool,
    call: impl FnOnce() -> c_int,
) -> c_int {
    let r = call();
    if joined(r) && !passthrough() {
        rt::on_thread_joined(thread);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn pthread_join(t: pthread_t, ret: *mut *mut c_void) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    join_hook(t, |r| r == 0, || unsafe { real::pthread_join()(t, ret) })
}

/// EBUSY while the thread runs.
#[no_mangle]
pub unsafe extern "C" fn pthread_tryjoin_np(t: pthread_t, ret: *mut *mut c_void) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    join_hook(
        t,
        |r| r == 0,
        || unsafe { real::pthread_tryjoin_np()(t, ret) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_timedjoin_np(
    t: pthread_t,
    ret: *mut *mut c_void,
    abstime: *const timespec,
) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    join_hook(
        t,
        |r| r == 0,
        || unsafe { real::pthread_timedjoin_np()(t, ret, abstime) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_clockjoin_np(
    t: pthread_t,
    ret: *mut *mut c_void,
    clock: libc::clockid_t,
    abstime: *const timespec,
) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    join_hook(
        t,
        |r| r == 0,
        || unsafe { real::pthread_clockjoin_np()(t, ret, clock, abstime) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_exit(v: *mut c_void) -> ! {
    if !passthrough() {
        rt::on_thread_exit();
    }
    // SAFETY: unchanged argument; pthread_exit does not return.
    unsafe { real::pthread_exit()(v) };
    std::process::abort()
}

/// Raw `clone` (the glibc wrapper; its variadic tail is passed in registers,
/// so it is declared with all of it). A thread that will share its creator's
/// TLS (CLONE_VM without CLONE_SETTLS or CLONE_VFORK) is not a thread glibc
/// or PUSh can track: PUSh stops checking the creator (the two are one to
/// it) and first makes glibc leave its single-threaded mode, whose
/// non-atomic lock fast paths such a program would otherwise race on.
#[no_mangle]
pub unsafe extern "C" fn clone(
    f: extern "C" fn(*mut c_void) -> c_int,
    stack: *mut c_void,
    flags: c_int,
    arg: *mut c_void,
    parent_tid: *mut libc::pid_t,
    tls: *mut c_void,
    child_tid: *mut libc::pid_t,
) -> c_int {
    // A vfork-style child runs while its parent waits: nothing to share.
    let shares_tls =
        flags & libc::CLONE_VM != 0 && flags & (libc::CLONE_SETTLS | libc::CLONE_VFORK) == 0;
    if shares_tls && rt::enabled() {
        leave_single_threaded_mode();
        rt::on_clone_sharing_tls();
    }
    // SAFETY: unchanged arguments; the real clone reads the tail only when
    // `flags` asks for it.
    unsafe { real::clone()(f, stack, flags, arg, parent_tid, tls, child_tid) }
}

/// glibc takes non-atomic fast paths in its locks until the process creates
/// its first pthread; one short-lived pthread ends that for good.
fn leave_single_threaded_mode() {
    extern "C" fn nothing(_: *mut c_void) -> *mut c_void {
        core::ptr::null_mut()
    }
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::AcqRel) {
        return;
    }
    let mut t: pthread_t = 0;
    // SAFETY: a plain thread with default attributes, joined at once.
    unsafe {
        if real::pthread_create()(&mut t, core::ptr::null(), nothing, core::ptr::null_mut()) == 0 {
            real::pthread_join()(t, core::ptr::null_mut());
        }
    }
}

// ------------------------------------------------------ C11 <threads.h>
//
// glibc implements these as separate symbols whose calls into the pthread
// code stay inside libc, so the pthread interposers above never see them:
// each needs its own hook. `thrd_sleep`, `thrd_yield`, `thrd_current`,
// `thrd_equal`, `thrd_detach` and `tss_*` synchronize nothing and touch
// no lock word.

use push_rt::real::{C11Cond, C11Mutex, C11Once, C11StartFn, C11Thread};

/// Start routine and argument of a thread `thrd_create` is starting, in the
/// slot of the record id reserved for it: the creator fills the slot
/// before the thread exists and the thread takes it first thing, so the
/// hook allocates nothing.
struct C11Start {
    routine: AtomicUsize,
    arg: AtomicUsize,
}

static C11_STARTS: [C11Start; rt::threads::MAX_THREADS] = [const {
    C11Start {
        routine: AtomicUsize::new(0),
        arg: AtomicUsize::new(0),
    }
}; rt::threads::MAX_THREADS];

extern "C" fn c11_thread_trampoline(id: *mut c_void) -> c_int {
    let id = id as usize;
    let slot = &C11_STARTS[id];
    let routine = slot.routine.swap(0, Ordering::Acquire);
    let arg = slot.arg.swap(0, Ordering::Acquire);
    // SAFETY: the creator stored the program's thrd_start_t in the slot.
    let routine: C11StartFn = unsafe { core::mem::transmute(routine) };
    {
        let _g = rt::enter();
        rt::on_thread_start(id as u32);
    }
    let ret = routine(arg as *mut c_void);
    rt::on_thread_exit();
    ret
}

#[no_mangle]
pub unsafe extern "C" fn thrd_create(
    thread: *mut C11Thread,
    routine: C11StartFn,
    arg: *mut c_void,
) -> c_int {
    let real_create = real::thrd_create();
    let Some(parent) = rt::hook_thread() else {
        // SAFETY: unchanged arguments.
        return unsafe { real_create(thread, routine, arg) };
    };
    let Some(id) = rt::on_thread_creating(parent) else {
        // SAFETY: unchanged arguments.
        return unsafe { real_create(thread, routine, arg) };
    };
    let slot = &C11_STARTS[id as usize];
    slot.routine
        .store(routine as *const () as usize, Ordering::Relaxed);
    slot.arg.store(arg as usize, Ordering::Release);
    // SAFETY: the trampoline runs `routine(arg)` from the slot in the new
    // thread and returns its result, as thrd_create would.
    let r = unsafe { real_create(thread, c11_thread_trampoline, id as usize as *mut c_void) };
    if r != THRD_SUCCESS {
        slot.routine.store(0, Ordering::Relaxed);
        slot.arg.store(0, Ordering::Relaxed);
        return r;
    }
    // SAFETY: on success the real thrd_create wrote the handle.
    rt::on_thread_created(id, unsafe { *thread }, false);
    r
}

#[no_mangle]
pub unsafe extern "C" fn thrd_detach(t: C11Thread) -> c_int {
    // SAFETY: unchanged argument.
    let r = unsafe { real::thrd_detach()(t) };
    if r == THRD_SUCCESS && !passthrough() {
        // Its record can be recycled once it has finished.
        rt::on_thread_detached(t);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn thrd_join(t: C11Thread, res: *mut c_int) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    join_hook(
        t,
        |r| r == THRD_SUCCESS,
        || unsafe { real::thrd_join()(t, res) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn thrd_exit(res: c_int) -> ! {
    if !passthrough() {
        rt::on_thread_exit();
    }
    // SAFETY: unchanged argument; thrd_exit does not return.
    unsafe { real::thrd_exit()(res) };
    std::process::abort()
}

type Mtx = *mut C11Mutex;
type Cnd = *mut C11Cond;

#[no_mangle]
pub unsafe extern "C" fn mtx_init(m: Mtx, kind: c_int) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[m as usize], || unsafe { real::mtx_init()(m, kind) })
}

#[no_mangle]
pub unsafe extern "C" fn mtx_lock(m: Mtx) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    acquire_hook(
        m as usize,
        LockKind::Exclusive,
        C11_CODES,
        || unsafe { real::mtx_trylock()(m) },
        || unsafe { real::mtx_lock()(m) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn mtx_trylock(m: Mtx) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    try_acquire_hook(m as usize, LockKind::Exclusive, C11_CODES, || unsafe {
        real::mtx_trylock()(m)
    })
}

/// Like `pthread_mutex_timedlock` (which it calls): the deadline is looked
/// at only when the mutex is busy, so it is tried first.
#[no_mangle]
pub unsafe extern "C" fn mtx_timedlock(m: Mtx, t: *const timespec) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    acquire_hook(
        m as usize,
        LockKind::Exclusive,
        C11_CODES,
        || unsafe { real::mtx_trylock()(m) },
        || unsafe { real::mtx_timedlock()(m, t) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn mtx_unlock(m: Mtx) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    release_hook(m as usize, LockKind::Exclusive, || unsafe {
        real::mtx_unlock()(m)
    })
}

#[no_mangle]
pub unsafe extern "C" fn mtx_destroy(m: Mtx) {
    destroy_hook(m as usize, || {
        // SAFETY: the caller's arguments go unchanged to the real function.
        unsafe { real::mtx_destroy()(m) };
        0
    });
}

#[no_mangle]
pub unsafe extern "C" fn cnd_init(c: Cnd) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[c as usize], || unsafe { real::cnd_init()(c) })
}

#[no_mangle]
pub unsafe extern "C" fn cnd_wait(c: Cnd, m: Mtx) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    cond_wait_hook(c, m, || unsafe { real::cnd_wait()(c, m) })
}

#[no_mangle]
pub unsafe extern "C" fn cnd_timedwait(c: Cnd, m: Mtx, t: *const timespec) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    cond_wait_hook(c, m, || unsafe { real::cnd_timedwait()(c, m, t) })
}

#[no_mangle]
pub unsafe extern "C" fn cnd_signal(c: Cnd) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[c as usize], || unsafe { real::cnd_signal()(c) })
}

#[no_mangle]
pub unsafe extern "C" fn cnd_broadcast(c: Cnd) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[c as usize], || unsafe { real::cnd_broadcast()(c) })
}

#[no_mangle]
pub unsafe extern "C" fn cnd_destroy(c: Cnd) {
    access_hook(&[c as usize], || {
        // SAFETY: the caller's arguments go unchanged to the real function.
        unsafe { real::cnd_destroy()(c) };
        0
    });
}

#[no_mangle]
pub unsafe extern "C" fn call_once(flag: *mut C11Once, routine: extern "C" fn()) {
    let real_once = real::call_once();
    // SAFETY: as in pthread_once: the flag goes unchanged to the real
    // function, and the init routine runs exactly once either way.
    once_hook(flag as usize, routine, |init| unsafe {
        real_once(flag, init)
    })
}

// ------------------------------------------------------------------- signals

#[no_mangle]
pub unsafe extern "C" fn sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> c_int {
    // SAFETY: the caller's pointers, null or valid per the sigaction
    // contract.
    let (act_ref, old_ref) = unsafe { (act.as_ref(), old.as_mut()) };
    if let Some(r) = rt::fault::app_sigaction(sig, act_ref, old_ref) {
        return r;
    }
    // SAFETY: unchanged arguments.
    unsafe { real::sigaction()(sig, act, old) }
}

#[no_mangle]
pub unsafe extern "C" fn signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    if let Some(previous) = rt::fault::app_signal(sig, handler) {
        return previous;
    }
    // SAFETY: unchanged arguments; glibc's signal() keeps its own flags
    // (SA_RESTART unless siginterrupt said otherwise).
    unsafe { real::signal()(sig, handler) }
}

#[no_mangle]
pub unsafe extern "C" fn bsd_signal(sig: c_int, handler: libc::sighandler_t) -> libc::sighandler_t {
    // SAFETY: bsd_signal is signal() under another name in glibc.
    unsafe { signal(sig, handler) }
}

#[no_mangle]
pub unsafe extern "C" fn siginterrupt(sig: c_int, flag: c_int) -> c_int {
    if let Some(r) = rt::fault::app_siginterrupt(sig, flag) {
        return r;
    }
    // SAFETY: unchanged arguments.
    unsafe { real::siginterrupt()(sig, flag) }
}

// ------------------------------------------------------------ protection keys

/// Serializes the hand-over of PUSh's keys to the program.
static GIVING_KEY: AtomicBool = AtomicBool::new(false);

/// A program that uses protection keys itself (a JIT, a language runtime)
/// shares the key space with PUSh: when none is free, PUSh gives it one of
/// its domain keys (it keeps at least two) and leaves that key's PKRU bits
/// to the program from then on.
#[no_mangle]
pub unsafe extern "C" fn pkey_alloc(flags: libc::c_uint, rights: libc::c_uint) -> c_int {
    // SAFETY: unchanged arguments.
    let mut r = unsafe { real::pkey_alloc()(flags, rights) };
    if r < 0 && rt::sys::errno() == libc::ENOSPC && rt::backend::is_mpk() && !passthrough() {
        while GIVING_KEY
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        let given = {
            let _inside = rt::enter();
            rt::domains::give_key_to_program()
        };
        GIVING_KEY.store(false, Ordering::Release);
        if given {
            // SAFETY: unchanged arguments.
            r = unsafe { real::pkey_alloc()(flags, rights) };
        } else {
            rt::sys::set_errno(libc::ENOSPC);
        }
    }
    if r >= 0 {
        rt::domains::note_program_key(r as u32, true);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn pkey_free(key: c_int) -> c_int {
    // SAFETY: unchanged argument.
    let r = unsafe { real::pkey_free()(key) };
    if r == 0 && key >= 0 {
        rt::domains::note_program_key(key as u32, false);
    }
    r
}

// ------------------------------------------------------------- free and exit

static REAL_FREE: AtomicUsize = AtomicUsize::new(0);

extern "C" {
    fn __libc_free(p: *mut c_void);
    fn pthread_attr_getdetachstate(attr: *const libc::pthread_attr_t, state: *mut c_int) -> c_int;
}

static RESOLVING_FREE: AtomicBool = AtomicBool::new(false);

fn resolve_free() {
    // dlsym may free its own error state: those frees take __libc_free.
    if RESOLVING_FREE.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: NUL-terminated name; while this runs, our `free` uses __libc_free.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, c"free".as_ptr()) };
    // SAFETY: as above.
    let usable = unsafe { libc::dlsym(libc::RTLD_NEXT, c"malloc_usable_size".as_ptr()) };
    if !p.is_null() && !usable.is_null() && same_object(p, usable) {
        USABLE_SIZE.store(usable as usize, Ordering::Release);
    }
    REAL_FREE.store(p as usize, Ordering::Release);
    RESOLVING_FREE.store(false, Ordering::Release);
}

/// `malloc_usable_size` of the allocator whose `free` is next after ours,
/// when both come from the same object (asking another allocator about a
/// block it did not make could read anything); 0 otherwise.
static USABLE_SIZE: AtomicUsize = AtomicUsize::new(0);

fn same_object(a: *mut c_void, b: *mut c_void) -> bool {
    let base = |f: *mut c_void| {
        let mut info: libc::Dl_info = empty_dl_info();
        // SAFETY: dladdr writes `info` for an address it knows.
        (unsafe { libc::dladdr(f, &mut info) } != 0).then_some(info.dli_fbase as usize)
    };
    matches!((base(a), base(b)), (Some(x), Some(y)) if x == y)
}

fn empty_dl_info() -> libc::Dl_info {
    libc::Dl_info {
        dli_fname: core::ptr::null(),
        dli_fbase: core::ptr::null_mut(),
        dli_sname: core::ptr::null(),
        dli_saddr: core::ptr::null_mut(),
    }
}

/// Before an untracked block goes back to its allocator: the clocks of
/// sync objects inside it go too (see `push_rt::clock_index`).
fn forget_clocks_in(p: *mut c_void) {
    if !rt::clock_index::any() {
        return;
    }
    let usable = USABLE_SIZE.load(Ordering::Acquire);
    if usable == 0 {
        return;
    }
    let Some(_g) = rt::enter() else {
        return;
    };
    // SAFETY: `usable` is malloc_usable_size of the allocator that made `p`
    // (checked in resolve_free), called on a live block of it.
    let size = unsafe {
        let f: unsafe extern "C" fn(*mut c_void) -> size_t = core::mem::transmute(usable);
        f(p)
    };
    rt::on_untracked_free(p as usize, size);
}

#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    if rt::sys::real_alloc::is_bootstrap(p as usize) {
        // Allocated while the real allocator was being looked up: kept.
        return;
    }
    if !p.is_null() && rt::registry::in_arena(p as usize) {
        let _g = rt::enter();
        // p lies in the tracked arena: ours to free (when the runtime is
        // off, api_free says so and it goes to the allocator below, as
        // before through libc's free).
        if rt::api_free(p as usize, Api::PlainFree) {
            return;
        }
    }
    if !p.is_null() {
        forget_clocks_in(p);
    }
    let mut real = REAL_FREE.load(Ordering::Acquire);
    if real == 0 {
        // A constructor that runs before ours (another preloaded allocator's)
        // frees through us: find the next `free` now, so its memory goes back
        // to the allocator that gave it.
        resolve_free();
        real = REAL_FREE.load(Ordering::Acquire);
    }
    match real {
        // SAFETY: glibc's own free, when no other could be found.
        0 => unsafe { __libc_free(p) },
        f => {
            // SAFETY: f is the next `free` in lookup order (libc or the
            // application's allocator), with free's signature.
            let f: unsafe extern "C" fn(*mut c_void) = unsafe { core::mem::transmute(f) };
            // SAFETY: unchanged argument.
            unsafe { f(p) }
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn _exit(code: c_int) -> ! {
    let code = rt::on_exit().unwrap_or(code);
    rt::sys::exit_now(code)
}

#[no_mangle]
pub unsafe extern "C" fn _Exit(code: c_int) -> ! {
    let code = rt::on_exit().unwrap_or(code);
    rt::sys::exit_now(code)
}

// ---------------------------------------------------------------------------
// Program starts: a program LD_PRELOAD cannot enter is noted in the run
// directory (push_rt::exec_note), then started as asked.
// ---------------------------------------------------------------------------

type CStrP = *const libc::c_char;

/// A C string argument, None for null.
///
/// # Safety
/// `p` is null or a NUL-terminated string that outlives `'a`.
unsafe fn c_str_arg<'a>(p: CStrP) -> Option<&'a core::ffi::CStr> {
    // SAFETY: per the contract.
    (!p.is_null()).then(|| unsafe { core::ffi::CStr::from_ptr(p) })
}
type Argv = *const *const libc::c_char;
type SpawnArgv = *const *mut libc::c_char;

#[no_mangle]
pub unsafe extern "C" fn execve(path: CStrP, argv: Argv, envp: Argv) -> c_int {
    // SAFETY: the caller passes a valid path (or null); check only reads it.
    rt::exec_note::check(unsafe { c_str_arg(path) }, false);
    // SAFETY: the caller's arguments go unchanged to the real function.
    unsafe { real::execve()(path, argv, envp) }
}

#[no_mangle]
pub unsafe extern "C" fn execv(path: CStrP, argv: Argv) -> c_int {
    // SAFETY: as in execve.
    rt::exec_note::check(unsafe { c_str_arg(path) }, false);
    // SAFETY: the caller's arguments go unchanged to the real function.
    unsafe { real::execv()(path, argv) }
}

#[no_mangle]
pub unsafe extern "C" fn execvp(file: CStrP, argv: Argv) -> c_int {
    // SAFETY: as in execve; the file is looked up in PATH.
    rt::exec_note::check(unsafe { c_str_arg(file) }, true);
    // SAFETY: the caller's arguments go unchanged to the real function.
    unsafe { real::execvp()(file, argv) }
}

#[no_mangle]
pub unsafe extern "C" fn execvpe(file: CStrP, argv: Argv, envp: Argv) -> c_int {
    // SAFETY: as in execvp.
    rt::exec_note::check(unsafe { c_str_arg(file) }, true);
    // SAFETY: the caller's arguments go unchanged to the real function.
    unsafe { real::execvpe()(file, argv, envp) }
}

#[no_mangle]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut libc::pid_t,
    path: CStrP,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: SpawnArgv,
    envp: SpawnArgv,
) -> c_int {
    // SAFETY: as in execve.
    rt::exec_note::check(unsafe { c_str_arg(path) }, false);
    // SAFETY: the caller's arguments go unchanged to the real function.
    unsafe { real::posix_spawn()(pid, path, actions, attr, argv, envp) }
}

#[no_mangle]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut libc::pid_t,
    file: CStrP,
    actions: *const libc::posix_spawn_file_actions_t,
    attr: *const libc::posix_spawnattr_t,
    argv: SpawnArgv,
    envp: SpawnArgv,
) -> c_int {
    // SAFETY: as in execvp.
    rt::exec_note::check(unsafe { c_str_arg(file) }, true);
    // SAFETY: the caller's arguments go unchanged to the real function.
    unsafe { real::posix_spawnp()(pid, file, actions, attr, argv, envp) }
}
