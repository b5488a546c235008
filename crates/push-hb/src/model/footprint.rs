//! [`Footprint`]: the memory a [`super::SyncModel`]'s clocks and tables
//! hold.

use std::fmt;

/// Estimated memory held by a [`SyncModel`]'s clocks and tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Footprint {
    /// Total bytes: `thread_bytes + sync_bytes`.
    pub total_bytes: usize,
    /// Thread table and thread clocks.
    pub thread_bytes: usize,
    /// Sync-object table (with its hash-table overhead) and their clocks.
    pub sync_bytes: usize,
    /// Thread indices ever allocated: the longest any clock can get.
    pub thread_slots: usize,
    /// Threads running or exited-and-not-yet-joined.
    pub live_threads: usize,
    /// Sync objects with a clock.
    pub sync_objects: usize,
    /// Longest clock currently stored (entries).
    pub max_clock_len: usize,
}

impl fmt::Display for Footprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} bytes in clocks ({} for {} thread slots, {} live; {} for {} sync objects; longest clock {})",
            self.total_bytes,
            self.thread_bytes,
            self.thread_slots,
            self.live_threads,
            self.sync_bytes,
            self.sync_objects,
            self.max_clock_len
        )
    }
}
