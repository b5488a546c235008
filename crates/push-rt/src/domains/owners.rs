//! Owners and their domain slots: each owner (a thread, or a lock once it
//! protects an object) gets an ordinal in order of appearance and a slot in
//! the owner table; placement, retirement of exited threads, and the rehash
//! that moves colliding owners each period.

use super::{keys, Keys, GIVEN_SLOTS, PERIOD, SEED};
use crate::hashing::mix;
use crate::sys::FixedArray;
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use std::sync::OnceLock;

/// Domain slot + 1 of each owner ordinal (0: not assigned yet, use the
/// rotation). Owners beyond the table use the rotation forever.
pub(super) const OWNER_TABLE: usize = 1 << 20;
pub(super) static OWNER_SLOT: OnceLock<FixedArray<AtomicU8>> = OnceLock::new();

/// One rehash: moves every owner that shares its domain with another owner
/// (at most `max_moves`, round-robin from where the last rehash stopped) to
/// a domain drawn from the seed sequence among the least loaded ones, then
/// starts a new period. Returns
/// (owners moved, collisions before the move). Deterministic for a fixed
/// non-zero seed.
pub fn rehash(max_moves: u32, cursor: &mut u32) -> (u32, u32) {
    if max_moves == 0 {
        let Some(keys) = keys() else { return (0, 0) };
        let count = live_owners_per_slot(keys, owners().min(OWNER_TABLE as u32));
        return (0, count.iter().map(|&c| c.saturating_sub(1)).sum());
    }
    let (Some(keys), Some(table)) = (keys(), OWNER_SLOT.get()) else {
        return (0, 0);
    };
    let owners = owners().min(OWNER_TABLE as u32);
    let mut count = live_owners_per_slot(keys, owners);
    let collisions: u32 = count.iter().map(|&c| c.saturating_sub(1)).sum();
    let period = PERIOD.load(Ordering::Relaxed) + 1;
    let mut moved = 0;
    for step in 0..owners {
        if moved >= max_moves {
            break;
        }
        let k = (*cursor + step) % owners.max(1);
        let old = keys.slot_of_ordinal(k);
        if count[old as usize] < 2 || is_retired(k) {
            continue;
        }
        let r = mix(SEED.load(Ordering::Relaxed)
            ^ period.wrapping_mul(0xd6e8_feb8_6659_fd93)
            ^ k as u64);
        // A slot drawn among the least loaded: a collision is undone when
        // there is room, and otherwise traded for one with other owners.
        let (own, m) = keys.own_slots();
        let least = own[..m]
            .iter()
            .map(|&s| count[s as usize])
            .min()
            .unwrap_or(0);
        let mut candidates = [0u8; 16];
        let mut n = 0;
        for &s in own[..m].iter().filter(|&&s| count[s as usize] == least) {
            candidates[n] = s;
            n += 1;
        }
        let new = u32::from(candidates[(r % n.max(1) as u64) as usize]);
        if new != old {
            count[old as usize] -= 1;
            count[new as usize] += 1;
            if let Some(e) = table.get(k as usize) {
                e.store(new as u8 + 1, Ordering::Relaxed);
            }
        }
        moved += 1;
    }
    if owners > 0 {
        *cursor = (*cursor + moved) % owners;
    }
    for (live, c) in LIVE_PER_SLOT.iter().zip(count) {
        live.store(c, Ordering::Relaxed);
    }
    PERIOD.store(period, Ordering::Release);
    (moved, collisions)
}
static NEXT_ORDINAL: AtomicU32 = AtomicU32::new(0);

/// An owner-table entry is the owner's slot + 1 (0: not assigned, hashed),
/// with `RETIRED` set while the owner is an exited thread: rehashing leaves
/// it (and its objects) where it is and does not count it as a collision, so
/// a program that created many threads keeps separating the live ones.
pub(super) const RETIRED: u8 = 0x80;
pub(super) const SLOT_MASK: u8 = 0x7f;

fn is_retired(ordinal: u32) -> bool {
    OWNER_SLOT
        .get()
        .and_then(|t| t.get(ordinal as usize))
        .is_some_and(|e| e.load(Ordering::Relaxed) & RETIRED != 0)
}

/// How many live owners (not retired) each domain slot has.
fn live_owners_per_slot(keys: &Keys, owners: u32) -> [u32; 16] {
    let mut count = [0u32; 16];
    for k in (0..owners).filter(|&k| !is_retired(k)) {
        count[keys.slot_of_ordinal(k) as usize] += 1;
    }
    count
}

/// The thread with this ordinal exited.
pub fn retire_ordinal(ordinal: u32) {
    let (Some(keys), Some(e)) = (
        keys(),
        OWNER_SLOT.get().and_then(|t| t.get(ordinal as usize)),
    ) else {
        return;
    };
    let slot = keys.slot_of_ordinal(ordinal);
    if e.swap((slot as u8 + 1) | RETIRED, Ordering::Relaxed) & RETIRED == 0 {
        let _ =
            LIVE_PER_SLOT[slot as usize]
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| c.checked_sub(1));
    }
}

/// A new thread took over this (retired) ordinal with a recycled record.
pub fn revive_ordinal(ordinal: u32) {
    let Some(e) = OWNER_SLOT.get().and_then(|t| t.get(ordinal as usize)) else {
        return;
    };
    let was = e.fetch_and(SLOT_MASK, Ordering::Relaxed);
    if was & RETIRED != 0 && was & SLOT_MASK != 0 {
        LIVE_PER_SLOT[((was & SLOT_MASK) - 1) as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// A new owner's ordinal, placed in the domain slot with the fewest live
/// owners (see [`LIVE_PER_SLOT`]).
pub fn next_ordinal() -> u32 {
    let ordinal = NEXT_ORDINAL.fetch_add(1, Ordering::Relaxed);
    if let Some(keys) = keys() {
        keys.place(ordinal);
    }
    ordinal
}

/// Live owners in each domain slot: kept as owners appear, exit, come back
/// and move, recounted exactly by every rehash. A new owner goes to the
/// least loaded slot that still has its own key, so up to n owners never
/// share a key, even after the program took some keys (see
/// [`give_key_to_program`]). Concurrent placements see each other through
/// the counter's compare-and-swap; a stale count only costs a collision,
/// which the next rehash resolves.
pub(super) static LIVE_PER_SLOT: [AtomicU32; 16] = [const { AtomicU32::new(0) }; 16];

/// Owners so far (threads and protecting locks).
pub fn owners() -> u32 {
    NEXT_ORDINAL.load(Ordering::Relaxed)
}

pub fn init_owner_table() -> bool {
    OWNER_SLOT.get().is_some()
        || FixedArray::<core::sync::atomic::AtomicU8>::new(OWNER_TABLE)
            .is_some_and(|t| OWNER_SLOT.set(t).is_ok() || OWNER_SLOT.get().is_some())
}

impl Keys {
    pub(super) fn slot_of_ordinal(&self, ordinal: u32) -> u32 {
        let n = self.ndomains as u64;
        match OWNER_SLOT
            .get()
            .and_then(|t| t.get(ordinal as usize))
            .map(|e| e.load(Ordering::Relaxed))
        {
            Some(s) if s & SLOT_MASK != 0 => ((s & SLOT_MASK) - 1) as u32,
            _ => ((ordinal as u64 + SEED.load(Ordering::Relaxed) % n) % n) as u32,
        }
    }

    /// The domain slots that still have their own key, and how many.
    pub(super) fn own_slots(&self) -> ([u8; 16], usize) {
        let given = GIVEN_SLOTS.load(Ordering::Relaxed);
        let mut own = [0u8; 16];
        let mut m = 0;
        for s in (0..self.ndomains).filter(|s| given & (1 << s) == 0) {
            own[m] = s as u8;
            m += 1;
        }
        (own, m)
    }

    /// The own slot with the fewest live owners, scanning from `start` so
    /// ties go to the seed's rotation; `except` is never chosen.
    pub(super) fn least_loaded_slot(&self, start: usize, except: Option<usize>) -> usize {
        let (own, m) = self.own_slots();
        let mut best = None;
        for i in 0..m {
            let s = own[(start + i) % m] as usize;
            let c = LIVE_PER_SLOT[s].load(Ordering::Relaxed);
            if Some(s) != except && best.is_none_or(|(_, bc)| c < bc) {
                best = Some((s, c));
            }
        }
        best.map_or(own[0] as usize, |(s, _)| s)
    }

    /// Gives a new owner its domain slot (see [`LIVE_PER_SLOT`]). Owners
    /// beyond the table keep the rotation.
    pub(super) fn place(&self, ordinal: u32) {
        let Some(e) = OWNER_SLOT.get().and_then(|t| t.get(ordinal as usize)) else {
            return;
        };
        let start = (ordinal as u64 + SEED.load(Ordering::Relaxed)) as usize;
        for _ in 0..16 {
            let s = self.least_loaded_slot(start, None);
            let c = LIVE_PER_SLOT[s].load(Ordering::Relaxed);
            if LIVE_PER_SLOT[s]
                .compare_exchange(c, c + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                e.store(s as u8 + 1, Ordering::Relaxed);
                return;
            }
        }
        let s = self.least_loaded_slot(start, None);
        LIVE_PER_SLOT[s].fetch_add(1, Ordering::Relaxed);
        e.store(s as u8 + 1, Ordering::Relaxed);
    }

    pub(super) fn pick(&self, ordinal: u32) -> u32 {
        self.domains[self.slot_of_ordinal(ordinal) as usize].load(Ordering::Relaxed)
    }
}
