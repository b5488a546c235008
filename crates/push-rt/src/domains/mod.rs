//! Protection domains: which key guards which owner's objects, and the PKRU
//! each thread runs with.
//!
//! All keys are allocated once at start-up. Four are reserved: `readonly`
//! (every thread may read, none may write), `noaccess` (released objects),
//! and two for objects whose policy just changed, whose first access by
//! another thread faults so it can be checked against the change:
//! `validate_read` for objects that became read-only, `validate` for the
//! rest. The split lets a changer read its fresh read-only objects without
//! a fault per access (see `validate`): a read grant on `validate_read` opens
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
//!
//! Here: the keys, each thread's PKRU. In `owners`: ordinals, placement
//! and rehash; in `lockset`: which locks protect objects; in
//! `program_keys`: keys the program allocates itself.

use crate::hashing::mix;
use crate::threads::ThreadRecord;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use x86_check::pkru::Access;
use x86_check::Pkru;

pub(crate) mod lockset;
mod owners;
mod program_keys;

use lockset::LOCKSET_FULL;
pub use lockset::{
    add_protecting, init_lockset, last_holder, lock_ordinal, note_last_holder, prefetch_lock,
};
pub use owners::{init_owner_table, next_ordinal, owners, rehash, retire_ordinal, revive_ordinal};
use owners::{LIVE_PER_SLOT, OWNER_SLOT, OWNER_TABLE, RETIRED, SLOT_MASK};
use program_keys::GIVEN_SLOTS;
pub use program_keys::{
    give_key_to_program, keep_program_bits, keys_given_to_program, note_program_key,
};

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
pub(super) static SEED: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
/// Bumped by every rehash: threads recompute cached keys when it changes.
pub(super) static PERIOD: AtomicU64 = AtomicU64::new(0);

pub fn period() -> u64 {
    PERIOD.load(Ordering::Acquire)
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
    let keys = KEYS.get_or_init(|| keys);
    // The page protection of the `mprotect` backend needs it below this
    // module (see `window_words`).
    crate::backend::note_readonly_key(keys.readonly);
    Ok(keys)
}

pub fn keys() -> Option<&'static Keys> {
    KEYS.get()
}

impl Keys {
    pub fn domain_count(&self) -> usize {
        self.ndomains
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

/// Sets the calling thread's PKRU to `want` unless it already has that value.
/// Returns whether a WRPKRU was needed.
///
/// Only called once protection keys are known to be enabled.
#[inline]
pub fn apply_pkru(want: Pkru) -> bool {
    if !crate::backend::is_mpk() {
        return false;
    }
    // `want` always keeps key 0 (stacks, heap, runtime metadata) read-write.
    let Some(current) = crate::sys::pkru::read() else {
        return false;
    };
    let want = keep_program_bits(want, current);
    if current == want {
        return false;
    }
    crate::sys::pkru::write(want);
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
        let id = threads::reserve().expect("a free record").id;
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
        t.push_lock(0x1000, true, other, 0);
        assert!(k.pkru_for(id, t).allows(other, true));
        t.pop_lock(0x1000);
        assert!(!k.pkru_for(id, t).allows(other, false));
        t.push_lock(0x2000, false, other, 0);
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
