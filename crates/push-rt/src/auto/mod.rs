//! The annotation-free mode (`auto=1`): races in programs nobody annotated.
//!
//! Heap blocks the program allocates (malloc and friends, operator new) are
//! *watched*: they become tracked objects, private to the allocating
//! thread, with the [`registry::WATCHED`] flag beside their policy. Nothing
//! else changes on the fast path: accesses that follow the object's
//! current policy cost nothing. An access the policy refuses does not make
//! a report by itself; it is an *observation* (thread, epoch, address,
//! read or write, stack) that the fault handler hands to [`learn`]:
//!
//! * it is compared with the object's recent observations by other threads
//!   (see [`seen`]): same address, at least one a write, and the earlier
//!   one not ordered before this one by happens-before, and neither an
//!   atomic read-modify-write (see [`insn`]) — only then is a data race
//!   reported, with both stacks and the allocation's;
//! * the object then takes the policy that lets this access in: read-only
//!   for a read (a write that follows faults again, and is observed as a
//!   write), protected by the lock the thread holds for a write, else
//!   private to the thread. The thread that had it loses it, so its next access is
//!   observed too: a hand-off that happens-before orders passes silently,
//!   one it does not is decided at the next access of the other side;
//! * an object that keeps changing hands (false sharing, fine-grained
//!   interleaving) stops being watched after [`MAX_TRANSITIONS`] changes,
//!   so its cost stays bounded (counted as `given_up`);
//! * a thread that has spent its share of time on such faults
//!   (`auto_budget`) parks the objects it faults on for a while instead
//!   (see [`budget`]): checking becomes sampling, the cost stays bounded.
//!
//! What this mode can miss, never invent: an access before watching began,
//! an object not watched (sampled out, allocated by a system library, no
//! room), two owners on one protection key, and accesses to different
//! addresses of one object (only the first address of each faulting
//! access is compared).

use crate::registry::{self, Object, WATCHED};
use crate::stack;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

pub mod budget;
pub mod callers;
mod insn;
mod learn;
pub(crate) mod seen;

pub use learn::on_refused_access;

static ON: AtomicBool = AtomicBool::new(false);
static SAMPLE_PPM: AtomicU32 = AtomicU32::new(1_000_000);
static SEED: AtomicU64 = AtomicU64::new(0);

/// Policy changes of one object after which it stops being watched.
pub const MAX_TRANSITIONS: u32 = 48;

/// Heap allocations watched.
pub static WATCHED_OBJECTS: crate::counters::Sharded = crate::counters::Sharded::new();
/// Allocations left unwatched by `sample`.
pub static SAMPLED_OUT: AtomicUsize = AtomicUsize::new(0);
/// Allocations made by system libraries (libc, libstdc++, ...), whose own
/// synchronization PUSh cannot see: never watched.
pub static SYSTEM_ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// Allocations watching could not take (alignment, no room).
pub static UNWATCHABLE: AtomicUsize = AtomicUsize::new(0);
/// Policies learned from refused accesses.
pub static LEARNED: AtomicUsize = AtomicUsize::new(0);
/// Objects that stopped being watched after too many changes of hands
/// (counted for the SUMMARY with the other counters).
pub use crate::counters::UNWATCHED_OBJECTS as GIVEN_UP;

/// Turns the mode on (start-up, with the options parsed). Returns false
/// when its tables cannot be reserved.
pub fn init(sample_ppm: u32, seed: u64, budget_percent: u32) -> bool {
    if !seen::init() {
        return false;
    }
    budget::set_share(budget_percent);
    callers::init();
    SAMPLE_PPM.store(sample_ppm, Ordering::Relaxed);
    SEED.store(seed, Ordering::Relaxed);
    ON.store(true, Ordering::Release);
    true
}

/// Whether the annotation-free mode is on.
#[inline]
pub fn on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Whether `obj` is watched by this mode.
#[inline]
pub fn is_watched(obj: &Object) -> bool {
    obj.policy.load(Ordering::Relaxed) & WATCHED != 0
}

/// Allocation ranks per call site (hashed), for reproducible sampling.
static SITE_RANKS: [AtomicU32; 1024] = [const { AtomicU32::new(0) }; 1024];

/// Whether the allocation at `caller` is one `sample` picks.
fn sampled(caller: usize) -> bool {
    let ppm = SAMPLE_PPM.load(Ordering::Relaxed);
    if ppm >= 1_000_000 {
        return true;
    }
    let site = crate::hashing::mix(caller as u64);
    let rank = SITE_RANKS[(site as usize) % SITE_RANKS.len()].fetch_add(1, Ordering::Relaxed);
    let h = crate::hashing::mix(site ^ SEED.load(Ordering::Relaxed) ^ (u64::from(rank) << 32));
    (h % 1_000_000) < u64::from(ppm)
}

/// A heap allocation of the program (`size` bytes aligned to `align`,
/// zeroed if `zero`), watched when this mode is on and picks it: returns
/// the object's address, or 0 when the caller must use the real allocator.
pub fn alloc(size: usize, align: usize, zero: bool) -> usize {
    if !on() {
        return 0;
    }
    let caller = stack::caller_pc();
    if callers::is_system(caller) {
        SYSTEM_ALLOCS.fetch_add(1, Ordering::Relaxed);
        return 0;
    }
    if !sampled(caller) {
        SAMPLED_OUT.fetch_add(1, Ordering::Relaxed);
        return 0;
    }
    let Some(want) = placement_size(size, align) else {
        UNWATCHABLE.fetch_add(1, Ordering::Relaxed);
        return 0;
    };
    let p = crate::objects::alloc_tracked(want, zero);
    let Some((id, o)) = (p != 0).then(|| registry::lookup(p)).flatten() else {
        UNWATCHABLE.fetch_add(1, Ordering::Relaxed);
        return 0;
    };
    if want != size {
        o.set_size(size.max(1));
    }
    watch(id, o);
    // Objects side by side land on different shards.
    WATCHED_OBJECTS.add(id as usize, 1);
    p
}

/// Marks a fresh tracked object (still private to its creator) watched.
pub fn watch(id: u32, o: &Object) {
    seen::forget(id);
    o.policy.fetch_or(WATCHED, Ordering::AcqRel);
}

/// The size to allocate so the object lands aligned to `align`: packed
/// slots of power-of-two classes are aligned to their size, larger
/// objects to a page. None when no placement gives that alignment.
fn placement_size(size: usize, align: usize) -> Option<usize> {
    if align <= 16 {
        return Some(size);
    }
    if !align.is_power_of_two() || align > crate::sys::PAGE {
        return None;
    }
    let pow = size.max(align).next_power_of_two();
    Some(if pow <= 2048 { pow } else { size.max(2049) })
}

/// A call where, under the `mprotect` backend, the calling thread's access
/// windows close as at a synchronization (sleeps, `sched_yield`). A window stays open until its thread's next
/// synchronization, and every other thread's access to the object goes
/// through it unseen: a thread that never synchronizes (it sleeps or
/// spins) would hide the other side of a race for good.
#[inline]
pub fn window_point() {
    if on() && crate::backend::is_mprotect() {
        if let Some((_, t)) = crate::threads::current() {
            crate::windows::sync_point(t);
        }
    }
}

/// The object `id` was freed: its observations go with it.
pub fn forget(id: u32) {
    if on() {
        seen::forget(id);
    }
}

/// Statistics for the verbose exit lines and the summary.
pub fn stats_line() -> Option<String> {
    on().then(|| {
        format!(
            "auto: watched={} learned={} given_up={} sampled_out={} system_allocs={} unwatchable={} {}",
            WATCHED_OBJECTS.get(),
            LEARNED.load(Ordering::Relaxed),
            GIVEN_UP.load(Ordering::Relaxed),
            SAMPLED_OUT.load(Ordering::Relaxed),
            SYSTEM_ALLOCS.load(Ordering::Relaxed),
            UNWATCHABLE.load(Ordering::Relaxed),
            budget::stats(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_placements() {
        assert_eq!(placement_size(24, 8), Some(24));
        assert_eq!(placement_size(24, 64), Some(64));
        assert_eq!(placement_size(100, 64), Some(128));
        assert_eq!(placement_size(3000, 64), Some(3000));
        assert_eq!(placement_size(1500, 1024), Some(2048));
        assert_eq!(placement_size(10, 4096), Some(2049));
        assert_eq!(placement_size(10, 8192), None);
        assert_eq!(placement_size(10, 48), None);
    }
}
