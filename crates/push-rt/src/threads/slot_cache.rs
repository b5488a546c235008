//! The free packed slots a thread keeps for its next allocations, so that
//! allocating and freeing small objects in a loop takes no global lock.
//! Only the owning thread reads or writes its cache (the atomics are for
//! the record table's zero-initialisation, all accesses are relaxed);
//! `registry::cache` holds the logic.

use core::sync::atomic::AtomicU32;

/// Size classes of packed objects (`registry`'s `CLASSES`).
pub const CACHED_CLASSES: usize = 20;
/// Slots kept per class.
pub const CACHE_DEPTH: usize = 16;

pub struct SlotCache {
    /// Non-zero while the thread changes the cache: a signal handler that
    /// allocates or frees meanwhile (not async-signal-safe, but programs
    /// do it) leaves the cache alone.
    pub busy: AtomicU32,
    /// The key every cached slot's page carries, plus one; 0 when empty.
    pub key: AtomicU32,
    /// Slots cached, per class.
    pub len: [AtomicU32; CACHED_CLASSES],
    /// Their ids.
    pub ids: [[AtomicU32; CACHE_DEPTH]; CACHED_CLASSES],
}
