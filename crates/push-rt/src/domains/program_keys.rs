//! Protection keys of the program's own (JITs, language runtimes, wasm
//! engines): PUSh keeps their PKRU bits, and gives up domain keys, down to
//! a minimum, when the program's `pkey_alloc` finds none free.

use super::{keys, owners, LIVE_PER_SLOT, OWNER_SLOT, OWNER_TABLE, PERIOD, RETIRED, SLOT_MASK};
use core::sync::atomic::{AtomicU32, Ordering};
use x86_check::Pkru;

/// Protection keys the program allocated itself (bit k), and their two PKRU
/// bits each: PUSh never changes those bits.
pub(super) static PROGRAM_KEYS: AtomicU32 = AtomicU32::new(0);
pub(super) static PROGRAM_PKRU_MASK: AtomicU32 = AtomicU32::new(0);
/// Domain slots whose own key went to the program.
pub(super) static GIVEN_SLOTS: AtomicU32 = AtomicU32::new(0);
/// PUSh keeps at least this many distinct domain keys.
const MIN_DOMAIN_KEYS: usize = 2;

/// `want` with the program's own keys' bits taken from `current`.
#[inline]
pub fn keep_program_bits(want: Pkru, current: Pkru) -> Pkru {
    let mask = PROGRAM_PKRU_MASK.load(Ordering::Relaxed);
    Pkru((want.0 & !mask) | (current.0 & mask))
}

/// Keys given to the program so far.
pub fn keys_given_to_program() -> u32 {
    GIVEN_SLOTS.load(Ordering::Relaxed).count_ones()
}

/// Records that the program holds key `k` (from its own `pkey_alloc`).
pub fn note_program_key(k: u32, held: bool) {
    if k >= 16 {
        return;
    }
    if held {
        PROGRAM_KEYS.fetch_or(1 << k, Ordering::AcqRel);
        PROGRAM_PKRU_MASK.fetch_or(3 << (2 * k), Ordering::AcqRel);
    } else {
        PROGRAM_KEYS.fetch_and(!(1 << k), Ordering::AcqRel);
        PROGRAM_PKRU_MASK.fetch_and(!(3 << (2 * k)), Ordering::AcqRel);
    }
}

/// The program wants a protection key and none is free: gives it one of
/// PUSh's domain keys. The domain slot that used it now shares another
/// slot's key (its owners collide with that slot's: a collision can hide a
/// race, never invent one), its objects move to that key, and the key is
/// freed for the program's `pkey_alloc` to take. Returns false when PUSh is
/// down to its minimum of domains. Ordinary context, serialized by the
/// caller.
pub fn give_key_to_program() -> bool {
    let Some(keys) = keys() else { return false };
    let (own, m) = keys.own_slots();
    if m <= MIN_DOMAIN_KEYS {
        return false;
    }
    // The given slot's owners join the least loaded other slot (often one
    // nobody uses yet), and so do their objects: they take its key.
    let slot = own[m - 1] as usize;
    let alias_slot = keys.least_loaded_slot(0, Some(slot));
    let key = keys.domains[slot].load(Ordering::Relaxed);
    let alias = keys.domains[alias_slot].load(Ordering::Relaxed);
    // Every slot pointing at `key` (only `slot` itself) now uses `alias`;
    // owners beyond the table, hashed to `slot`, follow through it.
    for d in &keys.domains[..keys.ndomains] {
        let _ = d.compare_exchange(key, alias, Ordering::AcqRel, Ordering::Relaxed);
    }
    GIVEN_SLOTS.fetch_or(1 << slot, Ordering::AcqRel);
    if let Some(table) = OWNER_SLOT.get() {
        for k in 0..owners().min(OWNER_TABLE as u32) {
            if let Some(e) = table.get(k as usize) {
                let v = e.load(Ordering::Relaxed);
                if v & SLOT_MASK == slot as u8 + 1 {
                    e.store((v & RETIRED) | (alias_slot as u8 + 1), Ordering::Relaxed);
                }
            }
        }
    }
    let moved = LIVE_PER_SLOT[slot].swap(0, Ordering::Relaxed);
    LIVE_PER_SLOT[alias_slot].fetch_add(moved, Ordering::Relaxed);
    // Threads recompute their cached keys and PKRU at their next
    // synchronization or fault; objects still on `key` move now.
    PERIOD.fetch_add(1, Ordering::AcqRel);
    crate::registry::move_key(key, alias);
    let _ = x86_check::pkey::free(key);
    true
}
