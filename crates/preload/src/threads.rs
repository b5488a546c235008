//! Interposers for thread creation, detach, join and exit (pthread and
//! `clone`).

use crate::hook_shape::on_unwind;
use crate::passthrough;
use core::sync::atomic::{AtomicBool, Ordering};
use libc::{c_int, c_void, pthread_t, timespec};
use push_rt as rt;
use push_rt::real::get as real;

extern "C" {
    fn pthread_attr_getdetachstate(attr: *const libc::pthread_attr_t, state: *mut c_int) -> c_int;
}

pub(crate) struct Start {
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
    // glibc stores the new id with every signal blocked, while the new
    // thread already runs: a fault there (the id's object watched, and
    // perhaps just taken by the new thread) would kill the process. It
    // stores into our variable; the program's gets it here, where a fault
    // is handled.
    let mut new_id: pthread_t = 0;
    // SAFETY: the trampoline takes ownership of `start` in the new thread.
    let r = unsafe { real_create(&mut new_id, attr, thread_trampoline, start.cast()) };
    if r != 0 {
        // SAFETY: the thread was not created, so `start` is still ours.
        drop(unsafe { Box::from_raw(start) });
        return r;
    }
    // SAFETY: the caller's pthread_t, which pthread_create writes.
    unsafe { thread.write(new_id) };
    let mut detach_state = libc::PTHREAD_CREATE_JOINABLE;
    if !attr.is_null() {
        // SAFETY: attr is the caller's initialized attribute object.
        unsafe { pthread_attr_getdetachstate(attr, &mut detach_state) };
    }
    rt::on_thread_created(id, new_id, detach_state == libc::PTHREAD_CREATE_DETACHED);
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
pub(crate) fn join_hook(
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
