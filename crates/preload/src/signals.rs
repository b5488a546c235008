//! `sigaction`/`signal` interposers: the application's SIGSEGV/SIGTRAP
//! handlers are chained behind PUSh's instead of replacing them, and the
//! handlers of other signals never run with SIGSEGV or SIGTRAP blocked
//! (a fault in a handler whose `sa_mask` blocks every signal, as bash's
//! SIGCHLD handler does, would kill the process): the two are taken out
//! of `sa_mask` and put back into the action the program reads back.

use core::sync::atomic::{AtomicU8, Ordering};
use libc::c_int;
use push_rt as rt;
use push_rt::real::get as real;

/// Per signal: whether the program's action asked to block SIGSEGV (bit 0)
/// and SIGTRAP (bit 1) while its handler runs.
static WISHED: [AtomicU8; 65] = [const { AtomicU8::new(0) }; 65];

/// The program's action for `sig` with SIGSEGV and SIGTRAP out of its
/// mask (their presence noted for the action read back).
fn without_fault_signals(sig: c_int, act: &libc::sigaction) -> libc::sigaction {
    let mut mine = *act;
    if let Some(w) = WISHED.get(sig as usize) {
        w.store(
            crate::mask::fault_signals_in(&act.sa_mask),
            Ordering::Relaxed,
        );
    }
    crate::mask::without_fault_signals(&mut mine.sa_mask);
    mine
}

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
    if !rt::enabled() || !(1..=64).contains(&sig) {
        // SAFETY: unchanged arguments.
        return unsafe { real::sigaction()(sig, act, old) };
    }
    let before = WISHED[sig as usize].load(Ordering::Relaxed);
    let mine = act_ref.map(|a| without_fault_signals(sig, a));
    let act_arg = mine.as_ref().map_or(act, |m| m as *const libc::sigaction);
    // SAFETY: the caller's arguments, the new action without SIGSEGV and
    // SIGTRAP in its mask.
    let r = unsafe { real::sigaction()(sig, act_arg, old) };
    if r != 0 {
        WISHED[sig as usize].store(before, Ordering::Relaxed);
    } else if !old.is_null() {
        // SAFETY: the caller's old action, just written by the real call.
        crate::mask::with_wished_fault_signals(unsafe { &mut (*old).sa_mask }, before);
    }
    r
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
