//! [`Slot`]: one value handed from a producer to a consumer through a
//! state word, without a lock (the report queue's cells).
//!
//! # Safety
//! The value is written only by the thread that moved the state from
//! EMPTY to WRITING, and read only by the thread that moved it from READY
//! to READING; every other state change touches the word alone. So at most
//! one thread reaches the value at a time, and the Release stores that
//! publish (READY, EMPTY) order its writes before the next owner's reads.
//! Lock-free and allocation-free: usable from a signal handler.

use super::mem::Zeroable;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, Ordering};

const EMPTY: u32 = 0;
const WRITING: u32 = 1;
const READY: u32 = 2;
const READING: u32 = 3;

/// A cell holding at most one `T` on its way from a producer to a consumer.
/// Zero is an empty slot (when zero is a valid `T`).
pub struct Slot<T> {
    state: AtomicU32,
    value: UnsafeCell<T>,
}

// SAFETY: the state word gives one thread at a time the value (see the
// module doc); T: Send because the value crosses threads.
unsafe impl<T: Send> Sync for Slot<T> {}

// SAFETY: an AtomicU32 of zero (EMPTY) and a zero T, valid when T is.
unsafe impl<T: Zeroable> Zeroable for Slot<T> {}

impl<T: Copy> Slot<T> {
    /// If the slot is empty, claims it, lets `fill` write the value and
    /// publishes it. Returns whether it did.
    pub fn try_fill(&self, fill: impl FnOnce(&mut T)) -> bool {
        if self
            .state
            .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        // SAFETY: EMPTY -> WRITING makes this thread the value's only user
        // until it stores READY.
        fill(unsafe { &mut *self.value.get() });
        self.state.store(READY, Ordering::Release);
        true
    }

    /// If a value is published, takes a copy of it and empties the slot.
    pub fn take(&self) -> Option<T> {
        self.state
            .compare_exchange(READY, READING, Ordering::Acquire, Ordering::Relaxed)
            .ok()?;
        // SAFETY: READY -> READING makes this thread the value's only user
        // until it stores EMPTY; the producer's Release of READY ordered its
        // writes before this read.
        let v = unsafe { *self.value.get() };
        self.state.store(EMPTY, Ordering::Release);
        Some(v)
    }

    /// Drops a published value unread (empties a READY slot).
    pub fn discard(&self) {
        let _ = self
            .state
            .compare_exchange(READY, EMPTY, Ordering::AcqRel, Ordering::Relaxed);
    }
}
