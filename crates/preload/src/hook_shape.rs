//! The shapes every lock and synchronization hook shares: how a lock
//! family reports its outcome, and grant → real call → record for acquiring,
//! releasing, initializing and destroying.

use libc::{c_int, c_void};
use push_rt as rt;
use push_rt::{LockKind, LockWord};

/// How a family of lock functions reports its outcome.
#[derive(Clone, Copy)]
pub(crate) struct LockCodes {
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
pub(crate) const MUTEX_CODES: LockCodes = LockCodes {
    busy: libc::EBUSY,
    held_anyway: libc::EOWNERDEAD,
};

/// pthread rwlocks and spinlocks.
pub(crate) const PTHREAD_CODES: LockCodes = LockCodes {
    busy: libc::EBUSY,
    held_anyway: 0,
};

/// C11 `thrd_success` (0) and `thrd_busy` of glibc's `<threads.h>`.
pub(crate) const THRD_SUCCESS: c_int = 0;
const THRD_BUSY: c_int = 1;

/// C11 `mtx_*`: only `thrd_success` acquires (C11 mutexes are never robust).
pub(crate) const C11_CODES: LockCodes = LockCodes {
    busy: THRD_BUSY,
    held_anyway: THRD_SUCCESS,
};

/// The address of the synchronization object at `p` that the C library is
/// given: its alias when it lies in a packed tracked object (the same
/// bytes, always writable: the call needs no grant), else `p`. Every call
/// on one object must use it (futex waiters and wakers must agree), so
/// every hook translates, whether or not the runtime checks the thread;
/// the runtime's own bookkeeping keeps the program's address.
#[inline(always)]
pub(crate) fn word<T>(p: *mut T) -> *mut T {
    rt::sync_word(p as usize) as *mut T
}

/// Shape of every blocking lock-acquiring hook: `try_call` is the lock's
/// non-blocking form, `call` the blocking one. A lock inside a tracked object
/// is first tried in a narrow window (see `rt::lock_window_begin`); only if
/// it is busy does the thread wait with every key open.
#[inline(always)]
pub(crate) fn acquire_hook(
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
pub(crate) fn acquire_untried_hook(
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
pub(crate) fn try_acquire_hook(
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

/// Shape of every lock-releasing hook.
#[inline(always)]
pub(crate) fn release_hook(lock: usize, kind: LockKind, call: impl FnOnce() -> c_int) -> c_int {
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
pub(crate) fn access_hook(addrs: &[usize], call: impl FnOnce() -> c_int) -> c_int {
    let Some(t) = rt::hook_thread() else {
        return call();
    };
    let granted = rt::grant_for_words(t, addrs);
    let r = call();
    rt::end_sync_grant(t, granted);
    r
}

/// Shape of the destroy hooks: the object's clock is forgotten (its address
/// may hold another object later), then the call runs with access to it.
#[inline(always)]
pub(crate) fn destroy_hook(addr: usize, call: impl FnOnce() -> c_int) -> c_int {
    rt::on_sync_destroyed(addr);
    access_hook(&[addr], call)
}

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
pub(crate) fn on_unwind<R>(
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
