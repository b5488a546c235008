//! `sigaction`/`signal` interposers: the application's SIGSEGV/SIGTRAP
//! handlers are chained behind PUSh's instead of replacing them.

use libc::c_int;
use push_rt as rt;
use push_rt::real::get as real;

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

/// glibc's System V `signal` (what `signal()` is under `-std=c99` and
/// similar: programs such as zstd import `__sysv_signal`).
#[no_mangle]
pub unsafe extern "C" fn __sysv_signal(
    sig: c_int,
    handler: libc::sighandler_t,
) -> libc::sighandler_t {
    if let Some(previous) = rt::fault::app_sysv_signal(sig, handler) {
        return previous;
    }
    // SAFETY: unchanged arguments.
    unsafe { real::sysv_signal()(sig, handler) }
}

#[no_mangle]
pub unsafe extern "C" fn sysv_signal(
    sig: c_int,
    handler: libc::sighandler_t,
) -> libc::sighandler_t {
    // SAFETY: sysv_signal is __sysv_signal under another name in glibc.
    unsafe { __sysv_signal(sig, handler) }
}

#[no_mangle]
pub unsafe extern "C" fn siginterrupt(sig: c_int, flag: c_int) -> c_int {
    if let Some(r) = rt::fault::app_siginterrupt(sig, flag) {
        return r;
    }
    // SAFETY: unchanged arguments.
    unsafe { real::siginterrupt()(sig, flag) }
}
