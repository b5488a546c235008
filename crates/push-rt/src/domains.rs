//! Protection domains: which key guards which owner's objects, and the PKRU
//! each thread runs with.
//!
//! All keys are allocated once at start-up. Two are reserved: `readonly`
//! (every thread may read, none may write) and `noaccess` (released objects).
//! The rest are domains, hashed among owners with a seed: a private object
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
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use x86_check::pkru::Access;
use x86_check::Pkru;

pub struct Keys {
    pub readonly: u32,
    pub noaccess: u32,
    domains: [u32; 16],
    ndomains: usize,
}

static KEYS: OnceLock<Keys> = OnceLock::new();
static SEED: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);

/// Allocates every free key. Fails (with the errno) if fewer than three are free.
pub fn init(seed: u64) -> Result<&'static Keys, i32> {
    if let Some(k) = KEYS.get() {
        return Ok(k);
    }
    let mut got = [0u32; 16];
    let mut n = 0;
    let mut err = 0;
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
    if n < 3 {
        for &k in &got[..n] {
            let _ = x86_check::pkey::free(k);
        }
        return Err(if err == 0 { libc::ENOSPC } else { err });
    }
    let mut domains = [0u32; 16];
    domains[..n - 2].copy_from_slice(&got[2..n]);
    SEED.store(mix(seed), Ordering::Relaxed);
    let keys = Keys {
        readonly: got[0],
        noaccess: got[1],
        domains,
        ndomains: n - 2,
    };
    Ok(KEYS.get_or_init(|| keys))
}

pub fn keys() -> Option<&'static Keys> {
    KEYS.get()
}

/// A 64-bit finalizer (splitmix64) used to spread owners over domains.
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

    fn pick(&self, owner: u64) -> u32 {
        let h = mix(owner ^ SEED.load(Ordering::Relaxed));
        self.domains[(h % self.ndomains as u64) as usize]
    }

    /// Domain key of a thread's private objects.
    pub fn of_thread(&self, id: u32) -> u32 {
        self.pick(id as u64 | (1 << 63))
    }

    /// Domain key of the objects a lock protects.
    pub fn of_lock(&self, lock: usize) -> u32 {
        self.pick(lock as u64)
    }

    /// The PKRU a thread should run with right now.
    pub fn pkru_for(&self, id: u32, t: &ThreadRecord) -> Pkru {
        let mut p = Pkru::ONLY_KEY0
            .with(self.readonly, Access::Read)
            .with(self.of_thread(id), Access::ReadWrite);
        for (lock, exclusive) in t.held_locks() {
            if is_protecting(lock) {
                let access = if exclusive {
                    Access::ReadWrite
                } else {
                    Access::Read
                };
                p = p.grant(self.of_lock(lock), access);
            }
        }
        p
    }

    /// Whether `key` is one of ours (not key 0 or an application's key).
    pub fn owns(&self, key: u32) -> bool {
        key == self.readonly || key == self.noaccess || self.domains[..self.ndomains].contains(&key)
    }
}

/// Locks that protect at least one object: only they change a holder's PKRU.
/// An open-addressing set of addresses, insert-only, lock-free.
const LOCKSET_SIZE: usize = 1 << 18;
static LOCKSET: OnceLock<FixedArray<AtomicUsize>> = OnceLock::new();
static LOCKSET_FULL: AtomicUsize = AtomicUsize::new(0);
static LOCKSET_LEN: AtomicUsize = AtomicUsize::new(0);

pub fn init_lockset() -> bool {
    if LOCKSET.get().is_some() {
        return true;
    }
    // SAFETY: AtomicUsize is valid when zero (empty slot).
    match unsafe { FixedArray::<AtomicUsize>::new(LOCKSET_SIZE) } {
        Some(a) => LOCKSET.set(a).is_ok() || true,
        None => false,
    }
}

fn slot_of(lock: usize) -> usize {
    (mix(lock as u64) as usize) & (LOCKSET_SIZE - 1)
}

/// Whether `lock` protects objects. Lock-free; a few ns.
#[inline]
pub fn is_protecting(lock: usize) -> bool {
    if LOCKSET_FULL.load(Ordering::Relaxed) != 0 {
        return true;
    }
    let Some(set) = LOCKSET.get() else {
        return false;
    };
    let mut i = slot_of(lock);
    loop {
        match set.get(i).map(|s| s.load(Ordering::Acquire)) {
            Some(v) if v == lock => return true,
            Some(0) | None => return false,
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
        let Some(s) = set.get(i) else { return };
        match s.compare_exchange(0, lock, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                LOCKSET_LEN.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(v) if v == lock => return,
            Err(_) => i = (i + 1) & (LOCKSET_SIZE - 1),
        }
    }
}

/// Sets the calling thread's PKRU to `want` unless it already has that value.
/// Returns whether a WRPKRU was needed.
///
/// Only called once protection keys are known to be enabled.
#[inline]
pub fn apply_pkru(want: Pkru) -> bool {
    // SAFETY: init verified OSPKE before any caller can reach this; `want`
    // always keeps key 0 (stacks, heap, runtime metadata) read-write.
    unsafe {
        if x86_check::pkru::read() == want {
            return false;
        }
        x86_check::pkru::write(want);
    }
    true
}
