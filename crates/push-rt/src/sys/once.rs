//! [`OncePtr`]: a pointer set at most once to a leaked `Box`, read
//! lock-free.
//!
//! # Safety
//! The pointer is null or a `Box` leaked by [`OncePtr::get_or_init`],
//! never freed, never replaced once set: a reference to it may be
//! `'static`. Reading is async-signal-safe; setting allocates.

use super::mem::Zeroable;
use core::sync::atomic::{AtomicPtr, Ordering};

/// Null, or a value that lives for the rest of the process.
pub struct OncePtr<T: 'static>(AtomicPtr<T>);

// SAFETY: zero is the null pointer: not set.
unsafe impl<T> Zeroable for OncePtr<T> {}

impl<T: Sync + 'static> OncePtr<T> {
    pub const fn new() -> Self {
        OncePtr(AtomicPtr::new(core::ptr::null_mut()))
    }

    /// The value, once set.
    #[inline]
    pub fn get(&self) -> Option<&'static T> {
        let p = self.0.load(Ordering::Acquire);
        // SAFETY: non-null means a leaked Box that is never freed (module
        // doc); the Acquire load pairs with the publishing AcqRel exchange.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// The value, set from `make` first if it was not. Ordinary context
    /// (allocates).
    pub fn get_or_init(&self, make: impl FnOnce() -> Box<T>) -> &'static T {
        if let Some(v) = self.get() {
            return v;
        }
        let raw = Box::into_raw(make());
        match self.0.compare_exchange(
            core::ptr::null_mut(),
            raw,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: just published: leaked for good.
            Ok(_) => unsafe { &*raw },
            Err(winner) => {
                // SAFETY: `raw` was never published, so this is its only
                // owner; `winner` is a published leaked Box.
                unsafe {
                    drop(Box::from_raw(raw));
                    &*winner
                }
            }
        }
    }
}

impl<T: Sync + 'static> Default for OncePtr<T> {
    fn default() -> Self {
        Self::new()
    }
}
