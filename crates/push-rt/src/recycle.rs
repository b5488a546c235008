//! Recycling thread records, so a program may create any number of threads
//! (a thread-per-connection server) with the runtime's memory bounded by
//! how many live at once.
//!
//! A record can be reused once its thread is gone for good (joined, or
//! detached and finished: `threads::is_gone`) and nothing refers to it: no
//! object is private to it (such an object would otherwise pass to whoever
//! gets the record; it stays pinned until it changes hands or is freed).
//! Objects that name it as their allocating or last-changing thread are
//! pointed at `threads::GONE` ("an exited thread" in reports). A sweep does
//! all of this in one pass over the threads and objects; it runs only once
//! `RECYCLE_FROM` records were handed out and no recycled record is waiting,
//! and after a sweep that found nothing, only once per `SWEEP_EVERY` thread
//! creations, so its cost stays a small fraction of thread creation.
#![forbid(unsafe_code)]

use crate::registry::{self, Policy};
use crate::threads::{self, MAX_THREADS};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// Thread creations between two sweeps.
const SWEEP_EVERY: u32 = 128;

static SWEEPING: AtomicBool = AtomicBool::new(false);
static SINCE_SWEEP: AtomicU32 = AtomicU32::new(0);
/// Whether the last sweep recycled anything: then the next may run at once.
static LAST_FOUND: AtomicBool = AtomicBool::new(true);
/// Records recycled over the run (statistics).
pub static RECYCLED: AtomicU64 = AtomicU64::new(0);

/// Candidate records of one sweep, one bit each.
static CANDIDATES: [AtomicU64; MAX_THREADS / 64] = [const { AtomicU64::new(0) }; MAX_THREADS / 64];

fn is_candidate(id: u32) -> bool {
    (id as usize) < MAX_THREADS
        && CANDIDATES[id as usize / 64].load(Ordering::Relaxed) & (1 << (id % 64)) != 0
}

fn clear_candidate(id: u32) {
    if (id as usize) < MAX_THREADS {
        CANDIDATES[id as usize / 64].fetch_and(!(1 << (id % 64)), Ordering::Relaxed);
    }
}

/// Before a thread is created: recycle gone threads' records if it is time.
pub fn before_create() {
    if threads::count() < threads::RECYCLE_FROM || threads::has_free() {
        return;
    }
    if !LAST_FOUND.load(Ordering::Relaxed)
        && SINCE_SWEEP.fetch_add(1, Ordering::Relaxed) + 1 < SWEEP_EVERY
        && threads::count() < threads::GONE - SWEEP_EVERY
    {
        return;
    }
    if SWEEPING.swap(true, Ordering::Acquire) {
        return;
    }
    SINCE_SWEEP.store(0, Ordering::Relaxed);
    LAST_FOUND.store(sweep() > 0, Ordering::Relaxed);
    SWEEPING.store(false, Ordering::Release);
}

/// One pass: finds gone threads' records, keeps those that still own an
/// object, recycles the rest. Returns how many were recycled.
pub fn sweep() -> u32 {
    let mut any = false;
    for id in 1..threads::count() {
        if threads::is_gone(id) {
            CANDIDATES[id as usize / 64].fetch_or(1 << (id % 64), Ordering::Relaxed);
            any = true;
        }
    }
    if !any {
        return 0;
    }
    for oid in registry::used_ids() {
        let Some(o) = registry::object(oid) else {
            continue;
        };
        if !o.is_live() {
            continue;
        }
        if let Some(Policy::Private(owner)) = o.policy() {
            clear_candidate(owner);
        }
        o.forget_thread_sites(is_candidate);
    }
    let mut recycled = 0;
    for (word_index, word) in CANDIDATES.iter().enumerate() {
        let mut bits = word.swap(0, Ordering::Relaxed);
        while bits != 0 {
            let bit = bits.trailing_zeros();
            bits &= bits - 1;
            let id = word_index as u32 * 64 + bit;
            if let Some(rec) = threads::record(id) {
                registry::flush_slot_cache(&rec.slot_cache);
            }
            crate::registration::recycle(id);
            recycled += 1;
        }
    }
    RECYCLED.fetch_add(u64::from(recycled), Ordering::Relaxed);
    recycled
}
