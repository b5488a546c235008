//! Suspended checking under `mprotect`: the cost bound of annotated
//! objects (option `mprotect_budget`).
//!
//! A thread whose budget is spent (see `auto::budget`: faults, window
//! opens and closes are charged to it) no longer opens a window of its own
//! on an object it may access: it *suspends* the object instead, that is,
//! it opens a window held by nobody but this table. The object stays open
//! to every thread (unchecked) until the sweeper thread closes that window
//! (`auto::budget::resume_slice`, at a rate the budget pays for), after
//! which its accesses fault and are checked again. While it is suspended,
//! the windows threads open and close on it change counts only, never the
//! page protection: the lock-per-operation patterns whose two `mprotect`
//! calls per critical section cost most (a lock inside the object it
//! protects) cost nothing more.
//!
//! A suspension can hide a race, never invent one: a refused access is
//! still reported (suspending happens on allowed accesses only), a policy
//! change ends the object's suspension, and a freed object's window is
//! void (its incarnation changed). Allocation-free and async-signal-safe:
//! fixed tables of atomics, one protection change per suspension.

use super::{close_entry, entry_parts, open_count, Access};
use crate::registry::{Object, Policy};
use crate::sys::FixedArray;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Windows held for suspended objects (at most this many at once).
const SLOTS: usize = 8192;
/// A slot claimed, its window not yet stored.
const CLAIMED: u64 = 1;
/// An object's marker while a suspension of it is being set up.
const SETTING_UP: u32 = u32::MAX;

static TABLE: OnceLock<FixedArray<AtomicU64>> = OnceLock::new();
/// Per object id: its slot + 1 while suspended (0: not suspended).
static SLOT_OF: OnceLock<FixedArray<AtomicU32>> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Times an object was suspended, and times the sweeper (or a policy
/// change) ended a suspension.
pub static SUSPENDS: AtomicUsize = AtomicUsize::new(0);
pub static RESUMES: AtomicUsize = AtomicUsize::new(0);

pub(super) fn init(ids: usize) -> bool {
    let table = FixedArray::<AtomicU64>::new(SLOTS);
    let slot_of = FixedArray::<AtomicU32>::new(ids);
    match (table, slot_of) {
        (Some(t), Some(s)) => {
            let _ = TABLE.set(t);
            let _ = SLOT_OF.set(s);
            true
        }
        _ => false,
    }
}

/// Suspends checking of object `id`, which the calling thread may access
/// now: its pages open to every thread (read-only for a read-only object)
/// until the sweeper closes them. False when it is suspended already or
/// the table is full (the caller then opens a window as usual).
pub fn suspend(id: u32, o: &Object) -> bool {
    let (Some(table), Some(slot_of)) = (TABLE.get(), SLOT_OF.get()) else {
        return false;
    };
    let Some(marker) = slot_of.get(id as usize) else {
        return false;
    };
    if !room_for_one_more() {
        return false;
    }
    if marker
        .compare_exchange(0, SETTING_UP, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        return false;
    }
    let start = NEXT.fetch_add(1, Ordering::Relaxed);
    let claimed = (0..64).map(|k| (start + k) % SLOTS).find(|&i| {
        table.get(i).is_some_and(|s| {
            s.compare_exchange(0, CLAIMED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })
    });
    let Some(i) = claimed else {
        marker.store(0, Ordering::Release);
        return false;
    };
    let access = if o.policy() == Some(Policy::ReadOnly) {
        Access::Read
    } else {
        Access::ReadWrite
    };
    let slot = table.get(i).expect("claimed slot in range");
    match open_count(id, o, access, false) {
        Some(e) => {
            slot.store(e, Ordering::Release);
            marker.store(i as u32 + 1, Ordering::Release);
            SUSPENDS.fetch_add(1, Ordering::Relaxed);
            true
        }
        None => {
            slot.store(0, Ordering::Release);
            marker.store(0, Ordering::Release);
            false
        }
    }
}

/// Each suspended object's open pages split a closed mapping in up to
/// three: suspensions stay within the mapping budget's hard limit.
fn room_for_one_more() -> bool {
    let limit = crate::maps::hard_limit(crate::maps::limit()) as i64;
    crate::maps::in_use() + 2 * (suspended_now() as i64 + 1) <= limit
}

/// Ends the suspension held in slot `i`, if any; true when it ended one.
fn end_slot(i: usize) -> bool {
    let (Some(table), Some(slot_of)) = (TABLE.get(), SLOT_OF.get()) else {
        return false;
    };
    let Some(slot) = table.get(i) else {
        return false;
    };
    let e = slot.load(Ordering::Acquire);
    if e == 0
        || e == CLAIMED
        || slot
            .compare_exchange(e, 0, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
    {
        return false;
    }
    let (id, _, _) = entry_parts(e);
    if let Some(marker) = slot_of.get(id as usize) {
        let _ = marker.compare_exchange(i as u32 + 1, 0, Ordering::AcqRel, Ordering::Relaxed);
    }
    close_entry(e);
    RESUMES.fetch_add(1, Ordering::Relaxed);
    true
}

/// Object `id`'s policy changes: its suspension, if any, ends first (the
/// change's first-access checks need its pages closed).
pub fn resume(id: u32) {
    let Some(marker) = SLOT_OF.get().and_then(|s| s.get(id as usize)) else {
        return;
    };
    let v = marker.load(Ordering::Acquire);
    if v == 0 || v == SETTING_UP {
        return;
    }
    let i = v as usize - 1;
    let held_by_id = TABLE
        .get()
        .and_then(|t| t.get(i))
        .is_some_and(|s| entry_parts(s.load(Ordering::Acquire)).0 == id);
    if held_by_id {
        end_slot(i);
    }
}

/// The sweeper's walk: ends up to `allowance` suspensions from `cursor`
/// on (round robin over the table).
pub fn resume_from(cursor: &mut usize, mut allowance: u64) {
    for _ in 0..SLOTS {
        if allowance == 0 {
            break;
        }
        *cursor = (*cursor + 1) % SLOTS;
        if end_slot(*cursor) {
            allowance -= 1;
        }
    }
}

/// Objects suspended now (approximately: counts may race).
pub fn suspended_now() -> usize {
    SUSPENDS
        .load(Ordering::Relaxed)
        .saturating_sub(RESUMES.load(Ordering::Relaxed))
}

/// Whether object `id` is suspended.
pub fn is_suspended(id: u32) -> bool {
    SLOT_OF
        .get()
        .and_then(|s| s.get(id as usize))
        .is_some_and(|m| m.load(Ordering::Relaxed) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_fit_the_marker() {
        assert!(SLOTS < SETTING_UP as usize);
        assert_ne!(CLAIMED & (1 << 63), 1 << 63);
    }

    #[test]
    fn registry_ids_fit_the_marker_table() {
        assert!(crate::registry::MAX_IDS < u32::MAX as usize);
    }
}
