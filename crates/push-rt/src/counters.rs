//! Event counters of the runtime, kept at the bottom so that the summary
//! (`report`), the run directory's records (`run_dir`) and the verbose
//! stats read them without naming the modules that count: faults taken
//! and how they ended (`fault`), tracked objects (`registry`). Those
//! modules re-export them under their old names.

use core::sync::atomic::AtomicUsize;

/// Faults at tracked objects the handler took (the summary's accesses).
pub static FAULTS: AtomicUsize = AtomicUsize::new(0);
/// Objects whose pages were found under another key than their metadata's
/// and put back (see the silent fix in the fault handler).
pub static REAPPLIED_KEYS: AtomicUsize = AtomicUsize::new(0);
/// Allowed accesses that faulted on a stale grant and went on silently.
pub static SILENT_FIXES: AtomicUsize = AtomicUsize::new(0);
/// Tracked objects alive now. Written only with the allocator's lock held
/// (see [`add_locked`]).
pub static LIVE_OBJECTS: AtomicUsize = AtomicUsize::new(0);
/// Objects ever tracked in this process (allocations and globals). Written
/// only with the allocator's lock held (see [`add_locked`]).
pub static TRACKED_OBJECTS: AtomicUsize = AtomicUsize::new(0);
/// Objects the annotation-free mode stopped watching: they changed hands
/// too often to check at bounded cost (see `auto`).
pub static UNWATCHED_OBJECTS: AtomicUsize = AtomicUsize::new(0);

/// Adds `delta` to a counter that only holders of one lock write: a load
/// and a store, no locked instruction (readers load it relaxed).
#[inline]
pub fn add_locked(counter: &AtomicUsize, delta: isize) {
    use core::sync::atomic::Ordering::Relaxed;
    counter.store(counter.load(Relaxed).wrapping_add_signed(delta), Relaxed);
}
