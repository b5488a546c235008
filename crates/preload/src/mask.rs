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

/// The fault signals in `set` as wish bits (SIGSEGV 1, SIGTRAP 2).
pub(crate) fn fault_signals_in(set: &sigset_t) -> u8 {
    let has = |s| rt::sys::frame::sigset_has(set, s);
    u8::from(has(libc::SIGSEGV)) | (u8::from(has(libc::SIGTRAP)) << 1)
}

/// Takes SIGSEGV and SIGTRAP out of `set`.
pub(crate) fn without_fault_signals(set: &mut sigset_t) {
    rt::sys::frame::sigset_del(set, libc::SIGSEGV);
    rt::sys::frame::sigset_del(set, libc::SIGTRAP);
}

/// Puts the fault signals of `wish` (see [`fault_signals_in`]) into a set
/// read back from the kernel, as the program asked for them.
pub(crate) fn with_wished_fault_signals(set: &mut sigset_t, wish: u8) {
    if wish & 1 != 0 {
        rt::sys::frame::sigset_add(set, libc::SIGSEGV);
    }
    if wish & 2 != 0 {
        rt::sys::frame::sigset_add(set, libc::SIGTRAP);
    }
}

thread_local! {
    /// The fault signals the program asked this thread to block.
    static WISHED: Cell<u8> = const { Cell::new(0) };
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
    let before = WISHED.try_with(Cell::get).unwrap_or(0);
    let mut mine: sigset_t = if set.is_null() {
        rt::sys::frame::zeroed()
    } else {
        // SAFETY: the caller's set, valid per the contract.
        unsafe { set.read() }
    };
    let set_arg = if set.is_null() {
        set
    } else {
        let named = fault_signals_in(&mine);
        let after = match how {
            libc::SIG_BLOCK => before | named,
            libc::SIG_UNBLOCK => before & !named,
            libc::SIG_SETMASK => named,
            _ => before,
        };
        without_fault_signals(&mut mine);
        let _ = WISHED.try_with(|w| w.set(after));
        &mine as *const sigset_t
    };
    // SAFETY: the caller's arguments, the set without the two signals.
    let r = unsafe { call(how, set_arg, old) };
    if r != 0 {
        let _ = WISHED.try_with(|w| w.set(before));
    } else if !old.is_null() {
        // SAFETY: the caller's old set, just written by the real call.
        with_wished_fault_signals(unsafe { &mut *old }, before);
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
