//! libpush.so: every symbol PUSh exports, in one file.
//!
//! * the C API of `include/push.h` (`push_*`), forwarding to `push_rt::api_*`;
//! * interposers for pthread locks, condition variables, thread creation,
//!   join and exit, which tell the runtime about synchronization and give
//!   lock calls access to locks stored inside protected objects;
//! * `sigaction`/`signal`, so the application's SIGSEGV/SIGTRAP handlers are
//!   chained behind PUSh's instead of replacing them;
//! * `free` (a tracked pointer freed with plain `free`), `_exit`/`_Exit`
//!   (reports and the summary are printed before the process ends).
//!
//! Hook shape: pass straight through when the runtime is disabled or the
//! thread is inside runtime code; otherwise grant → real call → record.
//! No hook allocates except `pthread_create` (the start-routine wrapper).
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
use push_rt::{LockKind, LockWord};

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
pub extern "C" fn push_realloc(p: *mut c_void, size: size_t) -> *mut c_void {
    let _g = rt::enter();
    // SAFETY: the C contract of push_realloc: p is null or from push_malloc/malloc.
    unsafe { rt::api_realloc(p.cast(), size) }.cast()
}

#[no_mangle]
pub extern "C" fn push_free(p: *mut c_void) {
    let _g = rt::enter();
    // SAFETY: the C contract of push_free: p is null or from push_malloc/malloc.
    unsafe { rt::api_free(p.cast(), 0) };
}

#[no_mangle]
pub extern "C" fn push_private(obj: *mut c_void) -> c_int {
    let _g = rt::enter();
    rt::api_private(obj as usize)
}

#[no_mangle]
pub extern "C" fn push_readonly(obj: *mut c_void) -> c_int {
    let _g = rt::enter();
    rt::api_set_policy(rt::API_READONLY, obj as usize, Policy::ReadOnly)
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
    rt::api_set_policy(rt::API_RELEASE, obj as usize, Policy::Released)
}

#[no_mangle]
pub extern "C" fn push_acquire(obj: *mut c_void) -> c_int {
    let _g = rt::enter();
    rt::api_acquire(obj as usize)
}

#[no_mangle]
pub extern "C" fn push_racy(obj: *mut c_void) -> c_int {
    let _g = rt::enter();
    rt::api_set_policy(rt::API_RACY, obj as usize, Policy::Racy)
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

/// Shape of every blocking lock-acquiring hook: `try_call` is the lock's
/// non-blocking form, `call` the blocking one. A lock inside a tracked object
/// is first tried in a narrow window (see `rt::lock_window_begin`); only if
/// it is busy does the thread wait with every key open.
#[inline(always)]
fn acquire_hook(
    lock: usize,
    kind: LockKind,
    try_call: impl FnOnce() -> c_int,
    call: impl FnOnce() -> c_int,
) -> c_int {
    let Some(t) = rt::hook_thread() else {
        return call();
    };
    let word = rt::lock_window_begin(t, lock, kind);
    if let LockWord::Window(key) = word {
        let r = try_call();
        rt::lock_window_end(t, lock, kind, key, r == 0);
        if r != libc::EBUSY {
            return r;
        }
    }
    acquire_general(t, lock, kind, word != LockWord::Untracked, call)
}

/// Shape of every non-blocking lock-acquiring hook.
#[inline(always)]
fn try_acquire_hook(lock: usize, kind: LockKind, try_call: impl FnOnce() -> c_int) -> c_int {
    let Some(t) = rt::hook_thread() else {
        return try_call();
    };
    match rt::lock_window_begin(t, lock, kind) {
        LockWord::Window(key) => {
            let r = try_call();
            rt::lock_window_end(t, lock, kind, key, r == 0);
            r
        }
        word => acquire_general(t, lock, kind, word == LockWord::Tracked, try_call),
    }
}

/// The lock call with every key open if its word is `tracked` (the lock may
/// sleep in the kernel, which checks the caller's PKRU).
#[inline(always)]
fn acquire_general(
    t: (u32, &'static rt::threads::ThreadRecord),
    lock: usize,
    kind: LockKind,
    tracked: bool,
    call: impl FnOnce() -> c_int,
) -> c_int {
    if tracked {
        rt::open_for_lock_call(t, lock);
    }
    let r = call();
    if r == 0 {
        rt::on_lock_acquired(t, lock, kind, false);
    }
    rt::end_sync_grant(t, tracked);
    r
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

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_lock(m: M) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    acquire_hook(
        m as usize,
        LockKind::Exclusive,
        || unsafe { real::pthread_mutex_trylock()(m) },
        || unsafe { real::pthread_mutex_lock()(m) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_trylock(m: M) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    try_acquire_hook(m as usize, LockKind::Exclusive, || unsafe {
        real::pthread_mutex_trylock()(m)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_timedlock(m: M, t: *const timespec) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    acquire_hook(
        m as usize,
        LockKind::Exclusive,
        || unsafe { real::pthread_mutex_trylock()(m) },
        || unsafe { real::pthread_mutex_timedlock()(m, t) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_unlock(m: M) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    release_hook(m as usize, LockKind::Exclusive, || unsafe {
        real::pthread_mutex_unlock()(m)
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
    rt::on_sync_destroyed(m as usize);
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[m as usize], || unsafe {
        real::pthread_mutex_destroy()(m)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_destroy(l: R) -> c_int {
    rt::on_sync_destroyed(l as usize);
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[l as usize], || unsafe {
        real::pthread_rwlock_destroy()(l)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_spin_destroy(l: S) -> c_int {
    rt::on_sync_destroyed(l as usize);
    // SAFETY: the caller's arguments go unchanged to the real function.
    access_hook(&[l as usize], || unsafe { real::pthread_spin_destroy()(l) })
}

// ------------------------------------- barriers, semaphores, pthread_once

#[no_mangle]
pub unsafe extern "C" fn pthread_barrier_wait(b: *mut libc::pthread_barrier_t) -> c_int {
    let Some(t) = rt::hook_thread() else {
        // SAFETY: unchanged argument.
        return unsafe { real::pthread_barrier_wait()(b) };
    };
    // All arrivals of a round happen before all departures.
    rt::on_release(t, b as usize);
    let granted = rt::grant_for_sync(t, &[b as usize]);
    // SAFETY: unchanged argument.
    let r = unsafe { real::pthread_barrier_wait()(b) };
    rt::on_acquire(t, b as usize);
    rt::end_sync_grant(t, granted);
    r
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

const ONCE_NESTING: usize = 4;

thread_local! {
    /// Init routines and controls of the pthread_once calls running on this
    /// thread (an init routine may itself call pthread_once on another control).
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

#[no_mangle]
pub unsafe extern "C" fn pthread_once(
    control: *mut libc::pthread_once_t,
    routine: extern "C" fn(),
) -> c_int {
    let real_once = real::pthread_once();
    let depth = ONCE_DEPTH.with(|d| d.get());
    if passthrough() || depth >= ONCE_NESTING {
        // SAFETY: unchanged arguments.
        return unsafe { real_once(control, routine) };
    }
    ONCE_STACK.with(|s| {
        let mut v = s.get();
        v[depth] = (routine as *const () as usize, control as usize);
        s.set(v);
    });
    ONCE_DEPTH.with(|d| d.set(depth + 1));
    // SAFETY: the trampoline calls `routine` exactly as pthread_once would.
    let r = unsafe { real_once(control, once_trampoline) };
    ONCE_DEPTH.with(|d| d.set(depth));
    if let Some(t) = rt::hook_thread() {
        rt::on_acquire(t, control as usize);
    }
    r
}

// ------------------------------------------------------------------- rwlocks

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_rdlock(l: R) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    acquire_hook(
        l as usize,
        LockKind::Read,
        || unsafe { real::pthread_rwlock_tryrdlock()(l) },
        || unsafe { real::pthread_rwlock_rdlock()(l) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_tryrdlock(l: R) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    try_acquire_hook(l as usize, LockKind::Read, || unsafe {
        real::pthread_rwlock_tryrdlock()(l)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_timedrdlock(l: R, t: *const timespec) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    acquire_hook(
        l as usize,
        LockKind::Read,
        || unsafe { real::pthread_rwlock_tryrdlock()(l) },
        || unsafe { real::pthread_rwlock_timedrdlock()(l, t) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_wrlock(l: R) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    acquire_hook(
        l as usize,
        LockKind::Write,
        || unsafe { real::pthread_rwlock_trywrlock()(l) },
        || unsafe { real::pthread_rwlock_wrlock()(l) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_trywrlock(l: R) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    try_acquire_hook(l as usize, LockKind::Write, || unsafe {
        real::pthread_rwlock_trywrlock()(l)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_timedwrlock(l: R, t: *const timespec) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    acquire_hook(
        l as usize,
        LockKind::Write,
        || unsafe { real::pthread_rwlock_trywrlock()(l) },
        || unsafe { real::pthread_rwlock_timedwrlock()(l, t) },
    )
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
        || unsafe { real::pthread_spin_trylock()(l) },
        || unsafe { real::pthread_spin_lock()(l) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_spin_trylock(l: S) -> c_int {
    // SAFETY: the caller's arguments go unchanged to the real function.
    try_acquire_hook(l as usize, LockKind::Exclusive, || unsafe {
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

fn cond_wait_hook(c: C, m: M, call: impl FnOnce() -> c_int) -> c_int {
    let Some(t) = rt::hook_thread() else {
        return call();
    };
    let granted = rt::grant_for_sync(t, &[c as usize, m as usize]);
    let refresh = rt::on_lock_releasing(t, m as usize, LockKind::Exclusive);
    let r = call();
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
    let ret = (start.routine)(start.arg);
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

#[no_mangle]
pub unsafe extern "C" fn pthread_join(t: pthread_t, ret: *mut *mut c_void) -> c_int {
    // SAFETY: unchanged arguments.
    let r = unsafe { real::pthread_join()(t, ret) };
    if r == 0 && !passthrough() {
        rt::on_thread_joined(t);
    }
    r
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

// ------------------------------------------------------------------- signals

#[no_mangle]
pub unsafe extern "C" fn sigaction(
    sig: c_int,
    act: *const libc::sigaction,
    old: *mut libc::sigaction,
) -> c_int {
    // SAFETY: the caller's pointers, valid per the sigaction contract.
    if let Some(r) = unsafe { rt::fault::app_sigaction(sig, act, old) } {
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
    REAL_FREE.store(p as usize, Ordering::Release);
    RESOLVING_FREE.store(false, Ordering::Release);
}

#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    if !p.is_null() && rt::registry::in_arena(p as usize) {
        let _g = rt::enter();
        // SAFETY: p lies in the tracked arena, so it is ours to free.
        unsafe { rt::api_free(p.cast(), rt::API_PLAIN_FREE) };
        return;
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
