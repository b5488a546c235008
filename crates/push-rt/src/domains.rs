//! Protection domains: which key guards which owner's objects, and the PKRU
//! each thread runs with.
//!
//! All keys are allocated once at start-up. Four are reserved: `readonly`
//! (every thread may read, none may write), `noaccess` (released objects),
//! and two for objects whose policy just changed, whose first access by
//! another thread faults so it can be checked against the change:
//! `validate_read` for objects that became read-only, `validate` for the
//! rest. The split lets a changer read its fresh read-only objects without
//! a fault per access (see `fault`): a read grant on `validate_read` opens
//! only objects every thread may read anyway.
//! The rest are domains, shared among owners: each owner (a thread, or a lock
//! once it protects an object) gets an ordinal in order of appearance, and a
//! table maps ordinals to domains. A new owner goes to the domain with the
//! fewest live owners (ties broken by a rotation drawn from the seed), so up
//! to n live owners never share a key, also after the program took keys of
//! its own. Each rehash (see `rehash`) starts a new period in
//! which owners that share a domain are moved to domains drawn from the seed
//! sequence: two owners that collide in one period most likely do not in the
//! next, so a recurring race hidden by a collision is caught later. A private object
//! carries its owner thread's domain key, an object protected by lock L
//! carries L's. A thread's PKRU grants key 0, read on `readonly`, read-write
//! on its own domain, and for each held lock that protects objects, that
//! lock's domain (read-write if held exclusively, read if shared).
//!
//! Two owners hashed to one key can touch each other's objects without a
//! fault: collisions can hide a race, never invent one, because every fault
//! is checked against the policy before anything is reported.

use crate::sys::FixedArray;
use crate::threads::ThreadRecord;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use x86_check::pkru::Access;
use x86_check::Pkru;

pub struct Keys {
    pub readonly: u32,
    pub noaccess: u32,
    /// Objects whose policy just changed (to anything but read-only), until
    /// a first access by another thread has been checked against the change
    /// (see `hb`).
    pub validate: u32,
    /// The same for objects that just became read-only.
    pub validate_read: u32,
    /// The key of each domain slot. A slot whose key was given to the
    /// program (see [`give_key_to_program`]) points at another slot's key.
    domains: [AtomicU32; 16],
    ndomains: usize,
}

static KEYS: OnceLock<Keys> = OnceLock::new();
static SEED: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
/// Bumped by every rehash: threads recompute cached keys when it changes.
static PERIOD: AtomicU64 = AtomicU64::new(0);

/// Domain slot + 1 of each owner ordinal (0: not assigned yet, use the
/// rotation). Owners beyond the table use the rotation forever.
const OWNER_TABLE: usize = 1 << 20;
static OWNER_SLOT: OnceLock<FixedArray<core::sync::atomic::AtomicU8>> = OnceLock::new();

pub fn period() -> u64 {
    PERIOD.load(Ordering::Acquire)
}

/// One rehash: moves every owner that shares its domain with another owner
/// (at most `max_moves`, round-robin from where the last rehash stopped) to
/// a domain drawn from the seed sequence, then starts a new period. Returns
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
        let (own, m) = keys.own_slots();
        let new = own[(r % m as u64) as usize] as u32;
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
const RETIRED: u8 = 0x80;
const SLOT_MASK: u8 = 0x7f;

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
static LIVE_PER_SLOT: [AtomicU32; 16] = [const { AtomicU32::new(0) }; 16];

/// Owners so far (threads and protecting locks).
pub fn owners() -> u32 {
    NEXT_ORDINAL.load(Ordering::Relaxed)
}

/// Allocates every free key (under `mprotect`, takes 1..=15 without asking
/// the hardware). Fails (with the errno) if fewer than five are free.
pub fn init(seed: u64, backend: crate::backend::Backend) -> Result<&'static Keys, i32> {
    if let Some(k) = KEYS.get() {
        return Ok(k);
    }
    let mut got = [0u32; 16];
    let mut n = 0;
    let mut err = 0;
    if backend == crate::backend::Backend::Mprotect {
        // No hardware keys: the numbers only name base protections.
        got[..15].copy_from_slice(&crate::backend::PORTABLE_KEYS);
        n = 15;
    }
    while n < 15 {
        match x86_check::pkey::alloc(0) {
            Ok(k) => {
                got[n] = k;
                n += 1;
            }
            Err(e) => {
                err = e;
                break;
            }
        }
    }
    if n < 5 {
        for &k in &got[..n] {
            let _ = x86_check::pkey::free(k);
        }
        return Err(if err == 0 { libc::ENOSPC } else { err });
    }
    let domains: [AtomicU32; 16] =
        core::array::from_fn(|i| AtomicU32::new(if i < n - 4 { got[4 + i] } else { 0 }));
    SEED.store(mix(seed), Ordering::Relaxed);
    let keys = Keys {
        readonly: got[0],
        noaccess: got[1],
        validate: got[2],
        validate_read: got[3],
        domains,
        ndomains: n - 4,
    };
    Ok(KEYS.get_or_init(|| keys))
}

pub fn keys() -> Option<&'static Keys> {
    KEYS.get()
}

/// A 64-bit finalizer (splitmix64) used to spread owners over domains.
/// A table index for a lock address that keeps the table's used part
/// dense: a lock inside a tracked heap object starts at its arena page's
/// entry (objects allocated together have neighbouring pages, and a packed
/// object has a virtual page of its own; more locks on one page probe on
/// to the next entries); elsewhere,
/// locks on one page land in one window of 256 neighbouring entries (an
/// array of locks touches few table pages) and pages scatter.
pub fn local_index(addr: usize, table_len: usize) -> usize {
    if let Some(page) = crate::registry::arena_page(addr) {
        return page & (table_len - 1);
    }
    (((mix((addr >> 12) as u64) as usize) << 8) | ((addr >> 4) & 255)) & (table_len - 1)
}

pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Keys {
    pub fn domain_count(&self) -> usize {
        self.ndomains
    }

    fn slot_of_ordinal(&self, ordinal: u32) -> u32 {
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
    fn own_slots(&self) -> ([u8; 16], usize) {
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
    fn least_loaded_slot(&self, start: usize, except: Option<usize>) -> usize {
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
    fn place(&self, ordinal: u32) {
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

    fn pick(&self, ordinal: u32) -> u32 {
        self.domains[self.slot_of_ordinal(ordinal) as usize].load(Ordering::Relaxed)
    }

    /// The key an object with this policy carries in the current period.
    pub fn key_for(&self, policy: crate::registry::Policy) -> u32 {
        use crate::registry::Policy::*;
        match policy {
            Private(t) => self.of_thread(t),
            ProtectedBy(lock) => self.of_lock(lock),
            ReadOnly => self.readonly,
            Released => self.noaccess,
            Racy => 0,
        }
    }

    /// Domain key of a thread's private objects.
    pub fn of_thread(&self, id: u32) -> u32 {
        let ordinal = crate::threads::record(id)
            .map(|r| r.ordinal.load(Ordering::Relaxed))
            .unwrap_or(id);
        self.pick(ordinal)
    }

    /// Domain key of the objects a lock protects.
    pub fn of_lock(&self, lock: usize) -> u32 {
        self.pick(lock_ordinal(lock).unwrap_or(mix(lock as u64) as u32))
    }

    /// Key of the objects `lock` protects, or 0 if it protects none.
    #[inline]
    pub fn lock_key(&self, lock: usize) -> u32 {
        match lock_ordinal(lock) {
            Some(o) => self.pick(o),
            None if LOCKSET_FULL.load(Ordering::Relaxed) != 0 => self.pick(mix(lock as u64) as u32),
            None => 0,
        }
    }

    fn base_pkru(&self, id: u32) -> Pkru {
        Pkru::ONLY_KEY0
            .with(self.readonly, Access::Read)
            .with(self.of_thread(id), Access::ReadWrite)
    }

    /// The PKRU a thread should run with, from its cached base and the keys
    /// cached in its held-lock entries. No lookups; a few ns.
    #[inline]
    pub fn pkru_for(&self, id: u32, t: &ThreadRecord) -> Pkru {
        if t.key_period.load(Ordering::Relaxed) != PERIOD.load(Ordering::Acquire) {
            // A rehash happened: the cached keys belong to an older period.
            return self.pkru_fresh(id, t);
        }
        let mut p = match t.base_pkru.load(Ordering::Relaxed) {
            0 => {
                let b = self.base_pkru(id);
                t.base_pkru.store(b.0, Ordering::Relaxed);
                b
            }
            b => Pkru(b),
        };
        let len = (t.held_len.load(Ordering::Acquire) as usize).min(crate::threads::MAX_HELD);
        for h in &t.held[..len] {
            let key = h.key.load(Ordering::Relaxed);
            if key != 0 {
                let access = if h.exclusive.load(Ordering::Relaxed) {
                    Access::ReadWrite
                } else {
                    Access::Read
                };
                p = p.grant(key, access);
            }
        }
        p
    }

    /// Recomputes the thread's cached base and lock keys from the current
    /// owner map, then its PKRU. Only on the thread itself (it writes the
    /// thread's held-lock entries): the fault handler and policy changes.
    pub fn pkru_fresh(&self, id: u32, t: &ThreadRecord) -> Pkru {
        t.key_period
            .store(PERIOD.load(Ordering::Acquire), Ordering::Relaxed);
        t.base_pkru.store(self.base_pkru(id).0, Ordering::Relaxed);
        let len = (t.held_len.load(Ordering::Acquire) as usize).min(crate::threads::MAX_HELD);
        for h in &t.held[..len] {
            h.key.store(
                self.lock_key(h.addr.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
        }
        self.pkru_for(id, t)
    }
}

/// Locks that protect at least one object (only they change a holder's
/// PKRU), with their owner ordinals. An open-addressing map from address to
/// ordinal, insert-only, lock-free.
const LOCKSET_SIZE: usize = 1 << 18;

#[derive(Default)]
struct LockEntry {
    addr: AtomicUsize,
    /// Ordinal + 1; 0 while the entry is being filled.
    ordinal: AtomicU32,
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
static LOCKSET_FULL: AtomicUsize = AtomicUsize::new(0);
static LOCKSET_LEN: AtomicUsize = AtomicUsize::new(0);

pub fn init_owner_table() -> bool {
    // SAFETY: AtomicU8 is valid when zero (slot not assigned).
    OWNER_SLOT.get().is_some()
        || unsafe { FixedArray::<core::sync::atomic::AtomicU8>::new(OWNER_TABLE) }
            .is_some_and(|t| OWNER_SLOT.set(t).is_ok())
}

pub fn init_lockset() -> bool {
    if LOCKSET.get().is_some() {
        return true;
    }
    // SAFETY: LockEntry is all atomics, valid when zero (empty slot).
    match unsafe { FixedArray::<LockEntry>::new(LOCKSET_SIZE) } {
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
            v if v == lock => {
                // A concurrent insert may not have published the ordinal yet.
                let o = e.ordinal.load(Ordering::Acquire);
                return (o != 0).then(|| o - 1);
            }
            _ => i = (i + 1) & (LOCKSET_SIZE - 1),
        }
    }
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

/// Protection keys the program allocated itself (bit k), and their two PKRU
/// bits each: PUSh never changes those bits.
static PROGRAM_KEYS: AtomicU32 = AtomicU32::new(0);
static PROGRAM_PKRU_MASK: AtomicU32 = AtomicU32::new(0);
/// Domain slots whose own key went to the program.
static GIVEN_SLOTS: AtomicU32 = AtomicU32::new(0);
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

/// Sets the calling thread's PKRU to `want` unless it already has that value.
/// Returns whether a WRPKRU was needed.
///
/// Only called once protection keys are known to be enabled.
#[inline]
pub fn apply_pkru(want: Pkru) -> bool {
    if !crate::backend::is_mpk() {
        return false;
    }
    // SAFETY: init verified OSPKE before any caller can reach this; `want`
    // always keeps key 0 (stacks, heap, runtime metadata) read-write.
    unsafe {
        let current = x86_check::pkru::read();
        let want = keep_program_bits(want, current);
        if current == want {
            return false;
        }
        x86_check::pkru::write(want);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::threads;

    /// The portable backend's key numbers: no hardware needed.
    fn keys() -> &'static Keys {
        assert!(threads::init());
        assert!(init_lockset() && init_owner_table());
        init(7, crate::backend::Backend::Mprotect).expect("portable keys need no hardware")
    }

    fn fresh_thread() -> (u32, &'static ThreadRecord) {
        let id = threads::reserve().expect("a free record");
        let t = threads::record(id).expect("its record");
        t.ordinal.store(next_ordinal(), Ordering::Relaxed);
        (id, t)
    }

    #[test]
    fn a_thread_may_write_key0_and_its_domain_and_only_read_read_only_objects() {
        let k = keys();
        let (id, t) = fresh_thread();
        let p = k.pkru_for(id, t);
        let own = k.of_thread(id);
        assert!(p.allows(0, true));
        assert!(p.allows(own, true));
        assert!(p.allows(k.readonly, false));
        assert!(!p.allows(k.readonly, true));
        for key in [k.noaccess, k.validate, k.validate_read] {
            assert!(!p.allows(key, false), "key {key} must be closed");
        }
        for slot in 0..k.domain_count() {
            let d = k.domains[slot].load(Ordering::Relaxed);
            if d != own {
                assert!(
                    !p.allows(d, false),
                    "another domain's key {d} must be closed"
                );
            }
        }
    }

    #[test]
    fn holding_a_lock_grants_its_key_read_write_or_read_only_when_shared() {
        let k = keys();
        let (id, t) = fresh_thread();
        let own = k.of_thread(id);
        let other = (0..k.domain_count())
            .map(|s| k.domains[s].load(Ordering::Relaxed))
            .find(|&d| d != own)
            .expect("more than one domain");
        t.push_lock(0x1000, true, other);
        assert!(k.pkru_for(id, t).allows(other, true));
        t.pop_lock(0x1000);
        assert!(!k.pkru_for(id, t).allows(other, false));
        t.push_lock(0x2000, false, other);
        let p = k.pkru_for(id, t);
        assert!(p.allows(other, false) && !p.allows(other, true));
        t.pop_lock(0x2000);
    }

    #[test]
    fn policies_get_the_keys_of_their_owners() {
        use crate::registry::Policy;
        let k = keys();
        let (id, _) = fresh_thread();
        assert_eq!(k.key_for(Policy::Private(id)), k.of_thread(id));
        assert_eq!(k.key_for(Policy::ReadOnly), k.readonly);
        assert_eq!(k.key_for(Policy::Released), k.noaccess);
        assert_eq!(k.key_for(Policy::Racy), 0);
        assert_eq!(k.key_for(Policy::ProtectedBy(0x3000)), k.of_lock(0x3000));
    }
}
