//! Happens-before edges for synchronization PUSh cannot see.
//!
//! PUSh orders policy changes and first accesses with vector clocks that it
//! advances at every synchronization it observes: pthread locks, condition
//! variables, barriers, semaphores, thread creation and join. Code that
//! synchronizes through atomics, or through Rust `std::sync` (whose locks,
//! channels and once-cells use futexes directly), is invisible to it; these
//! functions describe such synchronization. The [`sync`](crate::sync)
//! wrappers call them for you.
//!
//! Every function is a no-op when the runtime is not loaded. The pointers
//! are only names: they are never dereferenced.

use crate::runtime::runtime;
use core::ffi::{c_int, c_void};

/// A release on `addr`: everything this thread did so far (its policy
/// changes in particular) happens before whatever a thread does after a
/// later [`happens_after`] on the same address. Call it before the
/// publishing store (for example before `flag.store(true, Release)`).
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// static READY: AtomicBool = AtomicBool::new(false);
///
/// push_annotate::happens_before(&READY);
/// READY.store(true, Ordering::Release);
/// ```
#[inline]
pub fn happens_before<T: ?Sized>(addr: *const T) {
    if let Some(rt) = runtime() {
        // SAFETY: the runtime takes the address as a name only (module docs).
        unsafe { (rt.happens_before)(addr.cast::<c_void>()) }
    }
}

/// An acquire on `addr`: what this thread does next happens after every
/// earlier [`happens_before`] on the same address. Call it after the
/// observing load (for example after `flag.load(Acquire)` returned true).
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// static READY: AtomicBool = AtomicBool::new(true);
///
/// if READY.load(Ordering::Acquire) {
///     push_annotate::happens_after(&READY);
/// }
/// ```
#[inline]
pub fn happens_after<T: ?Sized>(addr: *const T) {
    if let Some(rt) = runtime() {
        // SAFETY: the runtime takes the address as a name only (module docs).
        unsafe { (rt.happens_after)(addr.cast::<c_void>()) }
    }
}

/// Announces that this thread has just acquired the custom lock named by
/// `lock` (`exclusive`: a write or exclusive lock; otherwise a read lock).
/// It creates the same happens-before edges and grants the same access to
/// objects [protected by](crate::policy::set_protected_by) `lock` as a
/// pthread lock would. Pair every call with [`lock_released`].
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// static SPIN: AtomicBool = AtomicBool::new(false);
///
/// while SPIN.swap(true, Ordering::Acquire) {
///     std::hint::spin_loop();
/// }
/// push_annotate::lock_acquired(&SPIN, true);
/// // ... the critical section ...
/// push_annotate::lock_released(&SPIN);
/// SPIN.store(false, Ordering::Release);
/// ```
#[inline]
pub fn lock_acquired<T: ?Sized>(lock: *const T, exclusive: bool) {
    if let Some(rt) = runtime() {
        // SAFETY: the runtime takes the address as a name only (module docs).
        unsafe { (rt.lock_acquired)(lock.cast::<c_void>(), c_int::from(exclusive)) }
    }
}

/// Announces that this thread is about to release the custom lock named by
/// `lock` (call it right before the releasing store). Releasing a lock the
/// thread does not hold is reported as an annotation error.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// static SPIN: AtomicBool = AtomicBool::new(false);
///
/// assert!(!SPIN.swap(true, Ordering::Acquire));
/// push_annotate::lock_acquired(&SPIN, true);
/// push_annotate::lock_released(&SPIN);
/// SPIN.store(false, Ordering::Release);
/// ```
#[inline]
pub fn lock_released<T: ?Sized>(lock: *const T) {
    if let Some(rt) = runtime() {
        // SAFETY: the runtime takes the address as a name only (module docs).
        unsafe { (rt.lock_released)(lock.cast::<c_void>()) }
    }
}

/// Announces a held lock for as long as it lives: [`lock_released`] on
/// drop, so that an unwinding panic cannot leave the runtime believing the
/// lock is still held.
pub(crate) struct HeldAnnouncement(*const c_void);

impl HeldAnnouncement {
    pub(crate) fn new<T>(lock: *const T, exclusive: bool) -> Self {
        lock_acquired(lock, exclusive);
        HeldAnnouncement(lock.cast())
    }
}

impl Drop for HeldAnnouncement {
    fn drop(&mut self) {
        lock_released(self.0);
    }
}
