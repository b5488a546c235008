//! The happens-before checks of policy changes (docs/model.md): rule 1, a
//! change must happen after the object's previous change unless the same
//! thread made both (an unordered policy change); rule 2, the first access
//! by another thread after a change must happen after it (an unordered
//! access). Until that first access the object's pages sit on a pending
//! key (`validate`, or `validate_read` for a change to read-only), so that
//! every access faults and comes here.
//!
//! The changing thread's own accesses to a pending object fault too: up to
//! [`CHANGER_FAULTS_BEFORE_SETTLING`] of them let the object stay pending;
//! a read of an object it made read-only gets the changer's read grant on
//! `validate_read` instead, held until its next synchronization.
//!
//! The decisions only: the state they read and write is kept elsewhere
//! (the object's change epoch, thread and pending count in `registry`, the
//! thread's read-grant mark in `threads`); the callers (`api` at a change,
//! the fault handlers at an access, `locks` and `lifecycle` at a
//! synchronization) act on them. Async-signal-safe except [`on_change`].

use crate::domains::Keys;
use crate::registry::{self, Object, Policy};
use crate::report::capture::{self, FaultSite};
use crate::report::Api;
use crate::threads::ThreadRecord;
use crate::{hb, options, refresh_pkru_of};
use core::sync::atomic::{AtomicUsize, Ordering};

/// Reads of the changing thread granted on `validate_read` (the stats).
pub static CHANGER_READ_GRANTS: AtomicUsize = AtomicUsize::new(0);

/// How many of its own accesses the changing thread may make to a pending
/// object (each a fault) before the object stops waiting for another
/// thread's first access.
pub const CHANGER_FAULTS_BEFORE_SETTLING: u32 = 15;

/// The calling thread's current epoch, packed for `Object::change_epoch`:
/// what a later change (rule 1) or access (rule 2) must be ordered after.
pub fn current_epoch(id: u32, rec: &ThreadRecord) -> u64 {
    let (c, ts) = hb::epoch(id, rec);
    registry::pack_epoch(c, ts)
}

/// Whether the change recorded in `obj` happens before the present of `rec`.
fn after_recorded_change(obj: &Object, rec: &ThreadRecord) -> bool {
    let (c, ts) = registry::unpack_epoch(obj.change_epoch.load(Ordering::Acquire));
    hb::ordered_before(c, ts, rec)
}

/// A policy change to `new` that thread `id` may make, before it is
/// recorded in `obj`: checks rule 1 (reported at the caller) and returns
/// the pending key the object's pages wait on for rule 2, or None when no
/// other thread's first access needs checking.
pub fn on_change(
    api: Api,
    obj_ptr: usize,
    (obj_id, obj): (u32, &Object),
    new: Policy,
    (id, rec): (u32, &ThreadRecord),
    keys: &Keys,
) -> Option<u32> {
    // Rule 1: a change must happen after the previous one, unless the same
    // thread made both.
    if obj.change_thread() != id && !after_recorded_change(obj, rec) {
        capture::unordered_change(api, obj_ptr, (obj_id, obj), (id, rec));
    }
    // Rule 2 is checked at the first access by another thread that the new
    // policy lets in: until then the object sits on the `validate` key
    // (not with `hb=0`: nothing would be checked).
    // Not needed when the changer holds the new protecting lock exclusively:
    // anyone else must take it after this thread's release.
    let others_may_access = options().hb
        && match new {
            Policy::Private(t) => t != id,
            Policy::ReadOnly => true,
            Policy::ProtectedBy(lock) => rec.holds(lock) != Some(true),
            Policy::Released | Policy::Racy => false,
        };
    let pending_key = if new == Policy::ReadOnly {
        keys.validate_read
    } else {
        keys.validate
    };
    others_may_access.then_some(pending_key)
}

/// What an allowed access to an object does to its pending check.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FirstAccess {
    /// Nothing pending any more: the object was not pending, or this access
    /// was checked against the change (rule 2) and the object now sits on
    /// its policy's key.
    Settled,
    /// An access by the changing thread itself: the object stays pending.
    ChangerAccess,
}

/// An allowed access by thread `id` to `obj`. When the object's policy just
/// changed, a first access by another thread is checked against the change
/// (rule 2), reported (at `site()`) if not ordered after it, and settles the
/// object on its policy's key. Async-signal-safe (the fault handlers).
pub fn first_access(
    (id, rec): (u32, &ThreadRecord),
    (obj_id, obj): (u32, &Object),
    site: impl FnOnce() -> FaultSite,
) -> FirstAccess {
    if !obj.pending() || rec.unchecked.load(Ordering::Relaxed) {
        return FirstAccess::Settled;
    }
    let changer = obj.change_thread();
    if changer == id
        && !holds_protecting_lock_exclusively(rec, obj)
        && obj.bump_pending_faults() < CHANGER_FAULTS_BEFORE_SETTLING
    {
        return FirstAccess::ChangerAccess;
    }
    if changer != id && !after_recorded_change(obj, rec) {
        capture::unordered_access((id, rec), site(), (obj_id, obj));
    }
    let _ = registry::set_key(obj, obj.policy_key());
    FirstAccess::Settled
}

/// Whether `obj` is protected by a lock the thread holds exclusively. Then
/// every other thread that may access it must take that lock after this
/// thread releases it, so its first access is ordered after a change this
/// thread made: rule 2 holds without waiting for that access.
fn holds_protecting_lock_exclusively(rec: &ThreadRecord, obj: &Object) -> bool {
    matches!(obj.policy(), Some(Policy::ProtectedBy(lock)) if rec.holds(lock) == Some(true))
}

/// The changer's own access ([`FirstAccess::ChangerAccess`]) to an object
/// on `key`: whether it is a read of what it just made read-only. Then it
/// may read every object on that key until its next synchronization (every
/// thread may read them; only the first-access check of another thread's
/// change could be skipped); counted here. Otherwise the access goes
/// through once.
pub fn changer_read_grant(keys: &Keys, key: u32, write: bool) -> bool {
    if write || key != keys.validate_read {
        return false;
    }
    CHANGER_READ_GRANTS.fetch_add(1, Ordering::Relaxed);
    true
}

/// Under `mpk`: the thread's PKRU now carries the changer's read grant on
/// `validate_read`; marks it, for its next synchronization to drop.
pub fn hold_read_grant(rec: &ThreadRecord) {
    rec.validate_grant.store(1, Ordering::Relaxed);
}

/// After an acquire-like event: ends a changer's read grant on
/// `validate_read`, so that from here on its first read of another
/// thread's fresh read-only object is checked again.
#[inline]
pub(crate) fn drop_validate_grant(t: (u32, &ThreadRecord)) {
    if take_validate_grant(t.1) {
        refresh_pkru_of(t.0, t.1);
    }
}

/// Clears the thread's read grant mark; true if it had one (its PKRU must
/// then be recomputed, which drops the grant).
#[inline]
pub(crate) fn take_validate_grant(t: &ThreadRecord) -> bool {
    let had = t.validate_grant.load(Ordering::Relaxed) != 0;
    if had {
        t.validate_grant.store(0, Ordering::Relaxed);
    }
    had
}
