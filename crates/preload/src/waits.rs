//! Interposers for the waits on another thread: barriers, semaphores,
//! `pthread_once` and condition variables (with glibc's cancellation
//! cleanup for a cancelled condition wait).

use crate::hook_shape::{access_hook, destroy_hook, on_unwind, word};
use crate::locks::M;
use crate::passthrough;
use libc::{c_int, c_void, timespec};
use push_rt as rt;
use push_rt::real::get as real;
use push_rt::LockKind;

type C = *mut libc::pthread_cond_t;

type B = *mut libc::pthread_barrier_t;

#[no_mangle]
pub unsafe extern "C" fn pthread_barrier_wait(b: B) -> c_int {
    let Some(t) = rt::hook_thread() else {
        if rt::enabled() && !rt::threads::in_runtime() {
            // An unchecked thread's arrival still counts toward the round.
            rt::on_barrier_arrival(None, b as usize);
        }
        // SAFETY: the caller's barrier, by its `word` (the same bytes).
        return unsafe { real::pthread_barrier_wait()(word(b)) };
    };
    // All arrivals of a round happen before all its departures.
    let clock = rt::on_barrier_arrival(Some(t), b as usize);
    let granted = rt::grant_for_words(t, &[b as usize]);
    // SAFETY: the caller's barrier, by its `word` (the same bytes).
    let r = unsafe { real::pthread_barrier_wait()(word(b)) };
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
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    let r = access_hook(&[b as usize], || unsafe {
        real::pthread_barrier_init()(word(b), a, count)
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
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    destroy_hook(b as usize, || unsafe {
        real::pthread_barrier_destroy()(word(b))
    })
}

#[no_mangle]
pub unsafe extern "C" fn sem_post(s: *mut libc::sem_t) -> c_int {
    if let Some(t) = rt::hook_thread() {
        rt::on_release(t, s as usize);
    }
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    access_hook(&[s as usize], || unsafe { real::sem_post()(word(s)) })
}

/// Shape of the semaphore waits: acquire on success.
fn sem_wait_hook(s: *mut libc::sem_t, call: impl FnOnce() -> c_int) -> c_int {
    let Some(t) = rt::hook_thread() else {
        return call();
    };
    let granted = rt::grant_for_words(t, &[s as usize]);
    let r = call();
    if r == 0 {
        rt::on_acquire(t, s as usize);
    }
    rt::end_sync_grant(t, granted);
    r
}

#[no_mangle]
pub unsafe extern "C" fn sem_wait(s: *mut libc::sem_t) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    sem_wait_hook(s, || unsafe { real::sem_wait()(word(s)) })
}

#[no_mangle]
pub unsafe extern "C" fn sem_trywait(s: *mut libc::sem_t) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    sem_wait_hook(s, || unsafe { real::sem_trywait()(word(s)) })
}

#[no_mangle]
pub unsafe extern "C" fn sem_timedwait(s: *mut libc::sem_t, t: *const timespec) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    sem_wait_hook(s, || unsafe { real::sem_timedwait()(word(s), t) })
}

#[no_mangle]
pub unsafe extern "C" fn sem_clockwait(
    s: *mut libc::sem_t,
    clock: libc::clockid_t,
    t: *const timespec,
) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    sem_wait_hook(s, || unsafe { real::sem_clockwait()(word(s), clock, t) })
}

#[no_mangle]
pub unsafe extern "C" fn sem_init(
    s: *mut libc::sem_t,
    pshared: c_int,
    value: libc::c_uint,
) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    access_hook(&[s as usize], || unsafe {
        real::sem_init()(word(s), pshared, value)
    })
}

#[no_mangle]
pub unsafe extern "C" fn sem_destroy(s: *mut libc::sem_t) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    destroy_hook(s as usize, || unsafe { real::sem_destroy()(word(s)) })
}

/// Reads the count: no ordering (POSIX gives none), only access to the word.
#[no_mangle]
pub unsafe extern "C" fn sem_getvalue(s: *mut libc::sem_t, value: *mut c_int) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    access_hook(&[s as usize], || unsafe {
        real::sem_getvalue()(word(s), value)
    })
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
pub(crate) fn once_hook<T>(
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
    // SAFETY: the control goes to the real function by its `word` (the
    // same bytes); the init routine is the caller's or the trampoline that
    // calls it exactly once.
    once_hook(control as usize, routine, |init| unsafe {
        real_once(word(control), init)
    })
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

pub(crate) fn cond_wait_hook(c: C, m: M, call: impl FnOnce() -> c_int) -> c_int {
    let Some(t) = rt::hook_thread() else {
        return call();
    };
    let granted = rt::grant_for_words(t, &[c as usize, m as usize]);
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
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    cond_wait_hook(c, m, || unsafe {
        real::pthread_cond_wait()(word(c), word(m))
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_timedwait(c: C, m: M, t: *const timespec) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    cond_wait_hook(c, m, || unsafe {
        real::pthread_cond_timedwait()(word(c), word(m), t)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_clockwait(
    c: C,
    m: M,
    clock: libc::clockid_t,
    t: *const timespec,
) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    cond_wait_hook(c, m, || unsafe {
        real::pthread_cond_clockwait()(word(c), word(m), clock, t)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_signal(c: C) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    access_hook(&[c as usize], || unsafe {
        real::pthread_cond_signal()(word(c))
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_broadcast(c: C) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    access_hook(&[c as usize], || unsafe {
        real::pthread_cond_broadcast()(word(c))
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_init(c: C, a: *const libc::pthread_condattr_t) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    access_hook(&[c as usize], || unsafe {
        real::pthread_cond_init()(word(c), a)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_destroy(c: C) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    access_hook(&[c as usize], || unsafe {
        real::pthread_cond_destroy()(word(c))
    })
}
