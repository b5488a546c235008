//! `sigprocmask` and `pthread_sigmask`: SIGSEGV and SIGTRAP stay deliverable.
//!
//! PUSh learns of every checked access through a SIGSEGV (and single-steps
//! with SIGTRAP); a fault while the thread blocks SIGSEGV kills the process
//! (the kernel cannot deliver a synchronous signal that is blocked).
//! Programs and libraries block every signal in threads that should not
//! take asynchronous ones (liblzma's workers, thread pools), so while the
//! runtime runs, these two are never really blocked: the thread's wish is
//! kept here and reported back in the old mask, so the program sees the
//! mask it asked for. Only a SIGSEGV or SIGTRAP sent with `kill` reaches
//! such a thread where natively it would wait.
//!
//! # Safety
//! Both exports have the C signatures of the functions they replace; the
//! set the real function gets is the caller's, minus the two signals.

use core::cell::Cell;
use libc::{c_int, sigset_t};
use push_rt as rt;

thread_local! {
    /// Whether the program asked this thread to block SIGSEGV / SIGTRAP.
    static WISHED: Cell<(bool, bool)> = const { Cell::new((false, false)) };
}

type MaskFn = unsafe extern "C" fn(c_int, *const sigset_t, *mut sigset_t) -> c_int;

/// `call(how, set, old)` with SIGSEGV and SIGTRAP taken out of `set` and
/// the thread's wish for them put into `old`.
///
/// # Safety
/// `set` and `old` are null or valid, as for `sigprocmask`.
unsafe fn masked(how: c_int, set: *const sigset_t, old: *mut sigset_t, call: MaskFn) -> c_int {
    if !rt::enabled() {
        // SAFETY: unchanged arguments.
        return unsafe { call(how, set, old) };
    }
    let before = WISHED.try_with(|w| w.get()).unwrap_or((false, false));
    let mut mine: sigset_t = if set.is_null() {
        rt::sys::frame::zeroed()
    } else {
        // SAFETY: the caller's set, valid per the contract.
        unsafe { set.read() }
    };
    let set_arg = if set.is_null() {
        set
    } else {
        let has = |s: c_int| rt::sys::frame::sigset_has(&mine, s);
        let (segv, trap) = (has(libc::SIGSEGV), has(libc::SIGTRAP));
        let after = match how {
            libc::SIG_BLOCK => (before.0 || segv, before.1 || trap),
            libc::SIG_UNBLOCK => (before.0 && !segv, before.1 && !trap),
            libc::SIG_SETMASK => (segv, trap),
            _ => before,
        };
        rt::sys::frame::sigset_del(&mut mine, libc::SIGSEGV);
        rt::sys::frame::sigset_del(&mut mine, libc::SIGTRAP);
        let _ = WISHED.try_with(|w| w.set(after));
        &mine as *const sigset_t
    };
    // SAFETY: the caller's arguments, the set without the two signals.
    let r = unsafe { call(how, set_arg, old) };
    if r != 0 {
        let _ = WISHED.try_with(|w| w.set(before));
    } else if !old.is_null() {
        // SAFETY: the caller's old set, just written by the real call.
        let o = unsafe { &mut *old };
        if before.0 {
            rt::sys::frame::sigset_add(o, libc::SIGSEGV);
        }
        if before.1 {
            rt::sys::frame::sigset_add(o, libc::SIGTRAP);
        }
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn sigprocmask(
    how: c_int,
    set: *const sigset_t,
    old: *mut sigset_t,
) -> c_int {
    // SAFETY: the caller's arguments, per sigprocmask's contract.
    unsafe { masked(how, set, old, rt::real::get::sigprocmask()) }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_sigmask(
    how: c_int,
    set: *const sigset_t,
    old: *mut sigset_t,
) -> c_int {
    // SAFETY: the caller's arguments, per pthread_sigmask's contract.
    unsafe { masked(how, set, old, rt::real::get::pthread_sigmask()) }
}
