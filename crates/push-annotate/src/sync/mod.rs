//! Drop-in replacements for `std::sync` whose synchronization PUSh sees.
//!
//! Rust's `std::sync` locks, condition variables, barriers, once-cells and
//! channels use futexes directly, so PUSh's pthread interposers never see
//! them: a policy change ordered only through one of them would be reported
//! as an `unordered policy change`, and an object protected by one could not
//! be named. These types have the API of their `std` namesakes (same
//! methods, same poisoning, `std`'s guard-free result and error types) and
//! tell the runtime about every acquire and release:
//!
//! | type | what the runtime is told |
//! | --- | --- |
//! | [`Mutex<T>`] | `T` is a tracked object protected by the mutex; lock = lock acquired (exclusive), guard drop = lock released |
//! | [`RwLock<T>`] | `T` is tracked, protected by the lock; `read` = shared acquire, `write` = exclusive acquire |
//! | [`Condvar`] | `wait*` releases the mutex and re-acquires it, as `pthread_cond_wait` does |
//! | [`Barrier`] | every arrival happens before every departure of the round |
//! | [`Once`], [`OnceLock`] | the initialization happens before every return that sees it done |
//! | [`mpsc`] | each `send` happens before the `recv` that gets a later message |
//!
//! A lock is named by the address of the tracked data it protects (never
//! moved, unlike the lock value itself), so `set_protected_by(&mutex)` on
//! another object names the same lock that `lock()` announces. Without the
//! runtime every announcement is a branch on a cached pointer, and the
//! types are their `std` counterparts plus one heap allocation for a lock's
//! data (and one per channel).
//!
//! What `std` offers and these do not: `Mutex::get_mut`/`RwLock::get_mut`
//! (a `&mut T` that outlives no lock call would be refused by the runtime;
//! take the lock), unsized `T`, `const` constructors for the locks (their
//! data is allocated; use `LazyLock` or `OnceLock` for a static).

mod barrier;
mod condvar;
pub mod mpsc;
mod mutex;
mod once;
mod rwlock;

pub use barrier::Barrier;
pub use condvar::Condvar;
pub use mutex::{Mutex, MutexGuard};
pub use once::{Once, OnceLock};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use std::sync::{
    BarrierWaitResult, LockResult, OnceState, PoisonError, TryLockError, TryLockResult,
    WaitTimeoutResult,
};

use crate::alloc::{allocate, deallocate, lock_data_layout};
use crate::hb::HeldAnnouncement;
use crate::runtime::runtime;
use core::ffi::c_void;
use core::ptr::NonNull;

/// The tracked data of a [`Mutex`] or [`RwLock`]: its address names the
/// lock.
struct LockData<T> {
    ptr: NonNull<T>,
}

impl<T> LockData<T> {
    /// Moves `value` into a tracked object protected by the lock it names.
    fn new(value: T) -> Self {
        let ptr = allocate(lock_data_layout::<T>()).cast::<T>();
        // SAFETY: a fresh block of at least T's size and alignment.
        unsafe { ptr.as_ptr().write(value) };
        let data = LockData { ptr };
        if let Some(rt) = runtime() {
            let addr = data.addr();
            // Protected while "holding" the new lock: the change is then in
            // the lock's clock, so every later holder is ordered after it,
            // whichever way the lock reaches other threads. Nobody else can
            // take the lock yet. A refusal is reported by the runtime itself.
            let _held = HeldAnnouncement::new(addr, true);
            // SAFETY: the runtime only looks the addresses up (crate::runtime # Safety).
            let _ = unsafe { (rt.protected_by)(addr.cast_mut(), addr) };
        }
        data
    }

    /// The address that names the lock.
    fn addr(&self) -> *const c_void {
        self.ptr.as_ptr().cast_const().cast()
    }

    /// Moves the value out and frees the block (the caller owns the lock
    /// exclusively).
    fn into_inner(self) -> T {
        let this = core::mem::ManuallyDrop::new(self);
        let _held = HeldAnnouncement::new(this.addr(), true);
        // SAFETY: the value is initialised and, `this` being forgotten, read
        // once; the block came from `allocate` with this layout.
        unsafe {
            let value = this.ptr.as_ptr().read();
            deallocate(this.ptr.cast(), lock_data_layout::<T>());
            value
        }
    }
}

impl<T> Drop for LockData<T> {
    fn drop(&mut self) {
        // The owner of the lock value is its last user: announce it as a
        // holder while the value is dropped (its drop may touch it).
        let _held = HeldAnnouncement::new(self.addr(), true);
        // SAFETY: the value is initialised and dropped once; the block came
        // from `allocate` with this layout.
        unsafe {
            core::ptr::drop_in_place(self.ptr.as_ptr());
            deallocate(self.ptr.cast(), lock_data_layout::<T>());
        }
    }
}

/// Maps a `std` lock result to one holding our guard.
fn map_lock_result<G, H>(result: LockResult<G>, wrap: impl FnOnce(G) -> H) -> LockResult<H> {
    match result {
        Ok(g) => Ok(wrap(g)),
        Err(poisoned) => Err(PoisonError::new(wrap(poisoned.into_inner()))),
    }
}

/// Maps a `std` try-lock result to one holding our guard.
fn map_try_lock_result<G, H>(
    result: TryLockResult<G>,
    wrap: impl FnOnce(G) -> H,
) -> TryLockResult<H> {
    match result {
        Ok(g) => Ok(wrap(g)),
        Err(TryLockError::Poisoned(p)) => Err(TryLockError::Poisoned(PoisonError::new(wrap(
            p.into_inner(),
        )))),
        Err(TryLockError::WouldBlock) => Err(TryLockError::WouldBlock),
    }
}
