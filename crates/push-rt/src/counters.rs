//! Event counters of the runtime, kept at the bottom so that the summary
//! (`report`), the run directory's records (`run_dir`) and the verbose
//! stats read them without naming the modules that count: faults taken
//! and how they ended (`fault`), tracked objects (`registry`). Those
//! modules re-export them under their old names.

use core::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

/// Faults at tracked objects the handler took (the summary's accesses).
pub static FAULTS: AtomicUsize = AtomicUsize::new(0);
/// Objects whose pages were found under another key than their metadata's
/// and put back (see the silent fix in the fault handler).
pub static REAPPLIED_KEYS: AtomicUsize = AtomicUsize::new(0);
/// Allowed accesses that faulted on a stale grant and went on silently.
pub static SILENT_FIXES: AtomicUsize = AtomicUsize::new(0);
/// Tracked objects alive now.
pub static LIVE_OBJECTS: Sharded = Sharded::new();
/// Objects ever tracked in this process (allocations and globals).
pub static TRACKED_OBJECTS: Sharded = Sharded::new();
/// Objects the annotation-free mode stopped watching: they changed hands
/// too often to check at bounded cost (see `auto`).
pub static UNWATCHED_OBJECTS: AtomicUsize = AtomicUsize::new(0);

const SHARDS: usize = 16;

#[repr(align(64))]
struct Shard(AtomicIsize);

/// A counter that threads add to often (every allocation and free): one
/// cache line per shard, chosen by the adder's hint (its thread id, or the
/// object's), so threads on different shards do not contend; readers sum
/// the shards.
pub struct Sharded([Shard; SHARDS]);

impl Default for Sharded {
    fn default() -> Self {
        Self::new()
    }
}

impl Sharded {
    pub const fn new() -> Self {
        Sharded([const { Shard(AtomicIsize::new(0)) }; SHARDS])
    }

    #[inline]
    pub fn add(&self, hint: usize, delta: isize) {
        self.0[hint % SHARDS].0.fetch_add(delta, Ordering::Relaxed);
    }

    /// The sum of the shards (momentarily inexact while threads add).
    pub fn get(&self) -> usize {
        let sum: isize = self.0.iter().map(|s| s.0.load(Ordering::Relaxed)).sum();
        sum.max(0) as usize
    }
}
