//! The protecting-lock set: locks that protect at least one object, with
//! their owner ordinals, and a small filter that answers "protects nothing"
//! for most lock operations from cache.

use super::next_ordinal;
use crate::registry::local_index;
use crate::sys::FixedArray;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Locks that protect at least one object (only they change a holder's
/// PKRU), with their owner ordinals. An open-addressing map from address to
/// ordinal, insert-only, lock-free.
const LOCKSET_SIZE: usize = 1 << 18;

#[derive(Default)]
pub(crate) struct LockEntry {
    addr: AtomicUsize,
    /// Ordinal + 1; 0 while the entry is being filled.
    ordinal: AtomicU32,
    /// The last thread that released it (id + 1; 0: none yet) and where
    /// that thread had acquired it, for reports on the objects it protects.
    last_holder: AtomicU32,
    last_site: AtomicUsize,
}

static LOCKSET: OnceLock<FixedArray<LockEntry>> = OnceLock::new();

/// One bit per hash bucket, set when some protecting lock hashes there: most
/// lock operations are on locks that protect nothing, and this 8 KiB filter
/// answers them from cache instead of probing the large table.
const FILTER_WORDS: usize = 1024;
static FILTER: [AtomicU64; FILTER_WORDS] = [const { AtomicU64::new(0) }; FILTER_WORDS];

fn filter_bit(lock: usize) -> (usize, u64) {
    let h = (lock as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 48;
    ((h as usize / 64) % FILTER_WORDS, 1 << (h % 64))
}
pub(super) static LOCKSET_FULL: AtomicUsize = AtomicUsize::new(0);
static LOCKSET_LEN: AtomicUsize = AtomicUsize::new(0);

pub fn init_lockset() -> bool {
    if LOCKSET.get().is_some() {
        return true;
    }
    match FixedArray::<LockEntry>::new(LOCKSET_SIZE) {
        Some(a) => {
            let _ = LOCKSET.set(a);
            true
        }
        None => false,
    }
}

fn slot_of(lock: usize) -> usize {
    local_index(lock, LOCKSET_SIZE)
}

/// Starts loading the entry [`lock_ordinal`] will probe first.
#[inline]
pub fn prefetch_lock(lock: usize) {
    if let Some(e) = LOCKSET.get().and_then(|s| s.get(slot_of(lock))) {
        crate::sys::prefetch(e);
    }
}

/// The owner ordinal of a protecting lock.
#[inline]
pub fn lock_ordinal(lock: usize) -> Option<u32> {
    // A concurrent insert may not have published the ordinal yet.
    let o = entry(lock)?.ordinal.load(Ordering::Acquire);
    (o != 0).then(|| o - 1)
}

/// Marks `lock` as protecting objects.
pub fn add_protecting(lock: usize) {
    let Some(set) = LOCKSET.get() else { return };
    if lock == 0 {
        return;
    }
    if LOCKSET_LEN.load(Ordering::Relaxed) >= LOCKSET_SIZE / 2 {
        // Too many to probe quickly: treat every lock as protecting.
        LOCKSET_FULL.store(1, Ordering::Relaxed);
        return;
    }
    let mut i = slot_of(lock);
    loop {
        let Some(e) = set.get(i) else { return };
        match e
            .addr
            .compare_exchange(0, lock, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                e.ordinal.store(next_ordinal() + 1, Ordering::Release);
                let (word, bit) = filter_bit(lock);
                FILTER[word].fetch_or(bit, Ordering::Release);
                LOCKSET_LEN.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(v) if v == lock => return,
            Err(_) => i = (i + 1) & (LOCKSET_SIZE - 1),
        }
    }
}

/// The entry of a protecting lock, if it is one.
#[inline]
fn entry(lock: usize) -> Option<&'static LockEntry> {
    let (word, bit) = filter_bit(lock);
    if FILTER[word].load(Ordering::Acquire) & bit == 0 {
        return None;
    }
    let set = LOCKSET.get()?;
    let mut i = slot_of(lock);
    loop {
        let e = set.get(i)?;
        match e.addr.load(Ordering::Acquire) {
            0 => return None,
            v if v == lock => return Some(e),
            _ => i = (i + 1) & (LOCKSET_SIZE - 1),
        }
    }
}

/// Thread `id`, which acquired the protecting lock `lock` at `site`, is
/// releasing it.
pub fn note_last_holder(lock: usize, id: u32, site: usize) {
    if let Some(e) = entry(lock) {
        e.last_site.store(site, Ordering::Relaxed);
        e.last_holder.store(id + 1, Ordering::Release);
    }
}

/// The last thread that released `lock` and where it had acquired it.
/// Async-signal-safe (the fault handler fills reports with it).
pub fn last_holder(lock: usize) -> Option<(u32, usize)> {
    let e = entry(lock)?;
    let id = e.last_holder.load(Ordering::Acquire).checked_sub(1)?;
    Some((id, e.last_site.load(Ordering::Relaxed)))
}
