//! Futex wait/wake and [`FutexMutex`].
//!
//! # Safety
//! The kernel only reads a futex word, which is a live `AtomicU32`. The
//! value of a [`FutexMutex`] is reached only through a [`FutexGuard`]
//! (which holds the lock) or, between `lock_for_fork` and
//! `unlock_after_fork`, by the holder of the fork hold; see the type.

use core::sync::atomic::AtomicU32;

/// Waits while `word` holds `expected`, at most `timeout_ms` (0 = forever).
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout_ms: u64) {
    let ts = libc::timespec {
        tv_sec: (timeout_ms / 1000) as libc::time_t,
        tv_nsec: ((timeout_ms % 1000) * 1_000_000) as libc::c_long,
    };
    let tsp = if timeout_ms == 0 {
        core::ptr::null()
    } else {
        &ts as *const libc::timespec
    };
    // SAFETY: the futex word is a live AtomicU32; the kernel only reads it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            tsp,
        );
    }
}

pub fn futex_wake(word: &AtomicU32) {
    // SAFETY: waking waiters on a live futex word touches no memory.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        );
    }
}

/// A mutex on a futex word that a fork handler can hold across `fork` and
/// release in both processes (the child's copy has no waiters).
///
/// Invariant: `value` is only reached through a [`FutexGuard`], or through
/// [`FutexMutex::with_fork_held`] between [`FutexMutex::lock_for_fork`] and
/// [`FutexMutex::unlock_after_fork`]. `fork` says whether the lock word is
/// held for a fork (FORK_HELD) and whether that hold's value is borrowed
/// now (FORK_BORROWED): no guard can exist while the word is held, and the
/// borrow flag keeps a second `with_fork_held` (or an unlock) out while the
/// first runs. Never used from a signal handler.
pub struct FutexMutex<T> {
    word: AtomicU32,
    fork: AtomicU32,
    value: core::cell::UnsafeCell<T>,
}

const FORK_NONE: u32 = 0;
const FORK_HELD: u32 = 1;
const FORK_BORROWED: u32 = 2;

// SAFETY: the lock word (and, across a fork, the `fork` state) serializes
// every access to `value`.
unsafe impl<T: Send> Sync for FutexMutex<T> {}

pub struct FutexGuard<'a, T> {
    mutex: &'a FutexMutex<T>,
}

impl<T> FutexMutex<T> {
    pub const fn new(value: T) -> Self {
        FutexMutex {
            word: AtomicU32::new(0),
            fork: AtomicU32::new(FORK_NONE),
            value: core::cell::UnsafeCell::new(value),
        }
    }

    pub fn lock(&self) -> FutexGuard<'_, T> {
        use core::sync::atomic::Ordering::{Acquire, Relaxed};
        if self.word.compare_exchange(0, 1, Acquire, Relaxed).is_err() {
            // Critical sections are short: spin a little before sleeping.
            for _ in 0..64 {
                core::hint::spin_loop();
                if self.word.load(Relaxed) == 0
                    && self.word.compare_exchange(0, 1, Acquire, Relaxed).is_ok()
                {
                    return FutexGuard { mutex: self };
                }
            }
            while self.word.swap(2, Acquire) != 0 {
                futex_wait(&self.word, 2, 0);
            }
        }
        FutexGuard { mutex: self }
    }

    fn unlock(&self) {
        if self.word.swap(0, core::sync::atomic::Ordering::Release) == 2 {
            futex_wake(&self.word);
        }
    }

    /// Before `fork`: takes the lock and keeps it until [`Self::unlock_after_fork`].
    pub fn lock_for_fork(&self) {
        core::mem::forget(self.lock());
        self.fork
            .store(FORK_HELD, core::sync::atomic::Ordering::Release);
    }

    /// Runs `f` on the value while [`Self::lock_for_fork`] holds the lock;
    /// None (without running it) when no fork hold is in place or `f` is
    /// already running on it.
    pub fn with_fork_held<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};
        self.fork
            .compare_exchange(FORK_HELD, FORK_BORROWED, Acquire, Relaxed)
            .ok()?;
        // SAFETY: the lock word is held for the fork, so no guard exists,
        // and FORK_HELD -> FORK_BORROWED makes this the only borrow until
        // the store below.
        let r = f(unsafe { &mut *self.value.get() });
        self.fork.store(FORK_HELD, Release);
        Some(r)
    }

    /// After `fork`, in parent and child: releases what `lock_for_fork`
    /// took. Does nothing (returns false) without a fork hold.
    pub fn unlock_after_fork(&self) -> bool {
        use core::sync::atomic::Ordering::{AcqRel, Relaxed};
        if self
            .fork
            .compare_exchange(FORK_HELD, FORK_NONE, AcqRel, Relaxed)
            .is_err()
        {
            return false;
        }
        self.unlock();
        true
    }
}

/// Before `fork`: takes every lock of `shards` (see
/// [`FutexMutex::lock_for_fork`]).
pub fn lock_all_for_fork<T>(shards: &[FutexMutex<T>]) {
    for s in shards {
        s.lock_for_fork();
    }
}

/// After `fork`, in parent and child: releases what [`lock_all_for_fork`]
/// took.
pub fn unlock_all_after_fork<T>(shards: &[FutexMutex<T>]) {
    for s in shards {
        s.unlock_after_fork();
    }
}

impl<T> core::ops::Deref for FutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> core::ops::DerefMut for FutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, so this is the only reference.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for FutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}
