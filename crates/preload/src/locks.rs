//! Interposers for pthread mutexes, rwlocks and spinlocks, with their
//! timed, clock and `_np` forms.

use crate::hook_shape::{
    access_hook, acquire_hook, acquire_untried_hook, destroy_hook, release_hook, try_acquire_hook,
    word, MUTEX_CODES, PTHREAD_CODES,
};
use libc::{c_int, timespec};
use push_rt::real::get as real;
use push_rt::LockKind;

pub(crate) type M = *mut libc::pthread_mutex_t;
type R = *mut libc::pthread_rwlock_t;
type S = *mut libc::pthread_spinlock_t;

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_lock(m: M) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    acquire_hook(
        m as usize,
        LockKind::Exclusive,
        MUTEX_CODES,
        || unsafe { real::pthread_mutex_trylock()(word(m)) },
        || unsafe { real::pthread_mutex_lock()(word(m)) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_trylock(m: M) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    try_acquire_hook(m as usize, LockKind::Exclusive, MUTEX_CODES, || unsafe {
        real::pthread_mutex_trylock()(word(m))
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_timedlock(m: M, t: *const timespec) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    acquire_hook(
        m as usize,
        LockKind::Exclusive,
        MUTEX_CODES,
        || unsafe { real::pthread_mutex_trylock()(word(m)) },
        || unsafe { real::pthread_mutex_timedlock()(word(m), t) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_clocklock(
    m: M,
    clock: libc::clockid_t,
    t: *const timespec,
) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    let call = || unsafe { real::pthread_mutex_clocklock()(word(m), clock, t) };
    if !futex_clock(clock) {
        return acquire_untried_hook(m as usize, LockKind::Exclusive, MUTEX_CODES, call);
    }
    acquire_hook(
        m as usize,
        LockKind::Exclusive,
        MUTEX_CODES,
        // SAFETY: as above.
        || unsafe { real::pthread_mutex_trylock()(word(m)) },
        call,
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_unlock(m: M) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    release_hook(m as usize, LockKind::Exclusive, || unsafe {
        real::pthread_mutex_unlock()(word(m))
    })
}

/// A robust mutex acquired with EOWNERDEAD is marked consistent by its
/// holder: a write to the lock word, nothing more.
#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_consistent(m: M) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    access_hook(&[m as usize], || unsafe {
        real::pthread_mutex_consistent()(word(m))
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_getprioceiling(m: M, ceiling: *mut c_int) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    access_hook(&[m as usize], || unsafe {
        real::pthread_mutex_getprioceiling()(word(m), ceiling)
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
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    access_hook(&[m as usize], || unsafe {
        real::pthread_mutex_setprioceiling()(word(m), ceiling, old)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_init(m: M, a: *const libc::pthread_mutexattr_t) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    access_hook(&[m as usize], || unsafe {
        real::pthread_mutex_init()(word(m), a)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_destroy(m: M) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    destroy_hook(m as usize, || unsafe {
        real::pthread_mutex_destroy()(word(m))
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_init(l: R, a: *const libc::pthread_rwlockattr_t) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    access_hook(&[l as usize], || unsafe {
        real::pthread_rwlock_init()(word(l), a)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_destroy(l: R) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    destroy_hook(l as usize, || unsafe {
        real::pthread_rwlock_destroy()(word(l))
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_spin_init(l: S, pshared: c_int) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    access_hook(&[l as usize], || unsafe {
        real::pthread_spin_init()(word(l), pshared)
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_spin_destroy(l: S) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    destroy_hook(l as usize, || unsafe {
        real::pthread_spin_destroy()(word(l))
    })
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

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_rdlock(l: R) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    acquire_hook(
        l as usize,
        LockKind::Read,
        PTHREAD_CODES,
        || unsafe { real::pthread_rwlock_tryrdlock()(word(l)) },
        || unsafe { real::pthread_rwlock_rdlock()(word(l)) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_tryrdlock(l: R) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    try_acquire_hook(l as usize, LockKind::Read, PTHREAD_CODES, || unsafe {
        real::pthread_rwlock_tryrdlock()(word(l))
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
            real::pthread_rwlock_tryrdlock()(word(l))
        } else {
            real::pthread_rwlock_trywrlock()(word(l))
        }
    };
    acquire_hook(l as usize, kind, PTHREAD_CODES, try_call, call)
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_timedrdlock(l: R, t: *const timespec) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    unsafe {
        rwlock_timed_hook(l, LockKind::Read, libc::CLOCK_REALTIME, t, || {
            real::pthread_rwlock_timedrdlock()(word(l), t)
        })
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_clockrdlock(
    l: R,
    clock: libc::clockid_t,
    t: *const timespec,
) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    unsafe {
        rwlock_timed_hook(l, LockKind::Read, clock, t, || {
            real::pthread_rwlock_clockrdlock()(word(l), clock, t)
        })
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_wrlock(l: R) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    acquire_hook(
        l as usize,
        LockKind::Write,
        PTHREAD_CODES,
        || unsafe { real::pthread_rwlock_trywrlock()(word(l)) },
        || unsafe { real::pthread_rwlock_wrlock()(word(l)) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_trywrlock(l: R) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    try_acquire_hook(l as usize, LockKind::Write, PTHREAD_CODES, || unsafe {
        real::pthread_rwlock_trywrlock()(word(l))
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_timedwrlock(l: R, t: *const timespec) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    unsafe {
        rwlock_timed_hook(l, LockKind::Write, libc::CLOCK_REALTIME, t, || {
            real::pthread_rwlock_timedwrlock()(word(l), t)
        })
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_clockwrlock(
    l: R,
    clock: libc::clockid_t,
    t: *const timespec,
) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    unsafe {
        rwlock_timed_hook(l, LockKind::Write, clock, t, || {
            real::pthread_rwlock_clockwrlock()(word(l), clock, t)
        })
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_rwlock_unlock(l: R) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    release_hook(l as usize, LockKind::Write, || unsafe {
        real::pthread_rwlock_unlock()(word(l))
    })
}

// ----------------------------------------------------------------- spinlocks

#[no_mangle]
pub unsafe extern "C" fn pthread_spin_lock(l: S) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    acquire_hook(
        l as usize,
        LockKind::Exclusive,
        PTHREAD_CODES,
        || unsafe { real::pthread_spin_trylock()(word(l)) },
        || unsafe { real::pthread_spin_lock()(word(l)) },
    )
}

#[no_mangle]
pub unsafe extern "C" fn pthread_spin_trylock(l: S) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    try_acquire_hook(l as usize, LockKind::Exclusive, PTHREAD_CODES, || unsafe {
        real::pthread_spin_trylock()(word(l))
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_spin_unlock(l: S) -> c_int {
    // SAFETY: the caller's arguments go to the real function (the
    // synchronization object by its `word`: the same bytes).
    release_hook(l as usize, LockKind::Exclusive, || unsafe {
        real::pthread_spin_unlock()(word(l))
    })
}
