//! The fault handler's decision for a watched object whose policy refused
//! an access: compare with the object's observations, report a race only
//! for two unordered accesses to one address (one a write), record this
//! one, and give the object the policy that lets this access in.
//! Runs in the SIGSEGV handler: async-signal-safe (atomics, the fixed
//! observation table, the stack depot, one `pkey_mprotect`/`mprotect`).
//! A thread over its fault budget parks the object instead of teaching it
//! a policy (see `budget`).

use super::seen::{self, Seen};
use super::{is_watched, GIVEN_UP, LEARNED, MAX_TRANSITIONS};
use crate::domains::{self, Keys};
use crate::hb;
use crate::policy::{self, Verdict};
use crate::registry::{self, Object, Policy, WATCHED};
use crate::report::capture::{self, FaultSite, PreviousAccess};
use crate::stack::{self, Stack};
use crate::threads::{ThreadRecord, MAX_HELD};
use core::sync::atomic::Ordering;

/// A watched object refused this access: decide, learn, and leave the
/// object under a policy that lets the thread make it (or unwatched).
pub fn on_refused_access(
    keys: &Keys,
    (id, rec): (u32, &ThreadRecord),
    (obj_id, obj): (u32, &Object),
    site: FaultSite,
) {
    let Some(record) = seen::lock(obj_id) else {
        return;
    };
    if !is_watched(obj) {
        return;
    }
    let asker = crate::access::asker(id, rec);
    if policy::access(obj.policy(), &asker, site.write) == Verdict::Allow {
        // Another thread's decision let this one in meanwhile.
        return;
    }
    let atomic = super::insn::atomic_at(site.pc);
    if atomic {
        record.note_atomic(site.addr);
    }
    let atomic_variable = record.is_atomic(site.addr);
    let racing = record.others(id).find(|s| {
        let (c, ts) = registry::unpack_epoch(s.epoch);
        s.addr == site.addr
            && (s.write || site.write)
            && !(s.atomic || atomic || atomic_variable)
            && !hb::ordered_before(c, ts, rec)
    });
    let mut here = Stack::default();
    stack::walk(site.pc, site.frame_pointer, &mut here);
    if let Some(other) = racing {
        capture::observed_race(
            (id, rec),
            site,
            &here,
            (obj_id, obj),
            PreviousAccess {
                thread: other.thread,
                write: other.write,
                addr: other.addr,
                stack: other.stack,
            },
        );
    }
    let (c, ts) = hb::epoch(id, rec);
    record.note(Seen {
        thread: id,
        write: site.write,
        atomic,
        addr: site.addr,
        epoch: registry::pack_epoch(c, ts),
        stack: stack::intern(&here),
    });
    if rec.auto_credit.spent() && super::budget::park_locked(keys, obj) {
        // Over budget: this access was checked; the object parks instead
        // of taking the policy that would let the next ones fault.
        return;
    }
    let (learned, word) = if record.count_transition() > MAX_TRANSITIONS {
        GIVEN_UP.fetch_add(1, Ordering::Relaxed);
        (Policy::Racy, Policy::Racy.encode())
    } else {
        LEARNED.fetch_add(1, Ordering::Relaxed);
        let p = policy_for(id, rec, site.write);
        (p, p.encode() | WATCHED)
    };
    if let Policy::ProtectedBy(lock) = learned {
        domains::add_protecting(lock);
    }
    obj.policy.store(word, Ordering::Release);
    let _ = registry::set_policy_key(obj, keys.key_for(learned), None);
}

/// The policy that lets thread `id` make this access: read-only for a
/// read (so that a write following it, as in `x += 1`, faults again and is
/// observed as a write), else protected by the lock it acquired last and
/// holds exclusively, else private to it.
fn policy_for(id: u32, rec: &ThreadRecord, write: bool) -> Policy {
    if !write {
        return Policy::ReadOnly;
    }
    let len = (rec.held_len.load(Ordering::Acquire) as usize).min(MAX_HELD);
    let lock = rec.held[..len]
        .iter()
        .rev()
        .find(|h| h.exclusive.load(Ordering::Relaxed))
        .map(|h| h.addr.load(Ordering::Relaxed))
        .filter(|&a| a != 0);
    match lock {
        Some(lock) => Policy::ProtectedBy(lock),
        None => Policy::Private(id),
    }
}
