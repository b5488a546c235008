//! Interposers for C11 `<threads.h>`: threads, mutexes, condition
//! variables and `call_once`.

use crate::hook_shape::{
    access_hook, acquire_hook, destroy_hook, release_hook, try_acquire_hook, word, C11_CODES,
    THRD_SUCCESS,
};
use crate::passthrough;
use crate::threads::join_hook;
use crate::waits::{cond_wait_hook, once_hook};
use core::sync::atomic::{AtomicUsize, Ordering};
use libc::{c_int, c_void, timespec};
use push_rt as rt;
use push_rt::real::get as real;
use push_rt::LockKind;

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
    // SAFETY: the caller's barrier, by its `word` (the same bytes).
    let r = unsafe { real::thrd_detach()(t) };
    if r == THRD_SUCCESS && !passthrough() {
        // Its record can be recycled once it has finished.
        rt::on_thread_detached(t);
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn thrd_join(t: C11Thread, res: *mut c_int) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
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
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    access_hook(&[m as usize], || unsafe { real::mtx_init()(word(m), kind) })
}

#[no_mangle]
pub unsafe extern "C" fn mtx_lock(m: Mtx) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    acquire_hook(
        m as usize,
        LockKind::Exclusive,
        C11_CODES,
        || unsafe { real::mtx_trylock()(word(m)) },
        || unsafe { real::mtx_lock()(word(m)) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn mtx_trylock(m: Mtx) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    try_acquire_hook(m as usize, LockKind::Exclusive, C11_CODES, || unsafe {
        real::mtx_trylock()(word(m))
    })
}

/// Like `pthread_mutex_timedlock` (which it calls): the deadline is looked
/// at only when the mutex is busy, so it is tried first.
#[no_mangle]
pub unsafe extern "C" fn mtx_timedlock(m: Mtx, t: *const timespec) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    acquire_hook(
        m as usize,
        LockKind::Exclusive,
        C11_CODES,
        || unsafe { real::mtx_trylock()(word(m)) },
        || unsafe { real::mtx_timedlock()(word(m), t) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn mtx_unlock(m: Mtx) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    release_hook(m as usize, LockKind::Exclusive, || unsafe {
        real::mtx_unlock()(word(m))
    })
}

#[no_mangle]
pub unsafe extern "C" fn mtx_destroy(m: Mtx) {
    destroy_hook(m as usize, || {
        // SAFETY: the caller's arguments go to the real function (the
        // synchronization object by its `word`: the same bytes).
        unsafe { real::mtx_destroy()(word(m)) };
        0
    });
}

#[no_mangle]
pub unsafe extern "C" fn cnd_init(c: Cnd) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    access_hook(&[c as usize], || unsafe { real::cnd_init()(word(c)) })
}

#[no_mangle]
pub unsafe extern "C" fn cnd_wait(c: Cnd, m: Mtx) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    cond_wait_hook(c, m, || unsafe { real::cnd_wait()(word(c), word(m)) })
}

#[no_mangle]
pub unsafe extern "C" fn cnd_timedwait(c: Cnd, m: Mtx, t: *const timespec) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    cond_wait_hook(c, m, || unsafe {
        real::cnd_timedwait()(word(c), word(m), t)
    })
}

#[no_mangle]
pub unsafe extern "C" fn cnd_signal(c: Cnd) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    access_hook(&[c as usize], || unsafe { real::cnd_signal()(word(c)) })
}

#[no_mangle]
pub unsafe extern "C" fn cnd_broadcast(c: Cnd) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    access_hook(&[c as usize], || unsafe { real::cnd_broadcast()(word(c)) })
}

#[no_mangle]
pub unsafe extern "C" fn cnd_destroy(c: Cnd) {
    access_hook(&[c as usize], || {
        // SAFETY: the caller's arguments go to the real function (the
        // synchronization object by its `word`: the same bytes).
        unsafe { real::cnd_destroy()(word(c)) };
        0
    });
}

#[no_mangle]
pub unsafe extern "C" fn call_once(flag: *mut C11Once, routine: extern "C" fn()) {
    let real_once = real::call_once();
    // SAFETY: as in pthread_once: the flag goes to the real function by
    // its `word`, and the init routine runs exactly once either way.
    once_hook(flag as usize, routine, |init| unsafe {
        real_once(word(flag), init)
    })
}
