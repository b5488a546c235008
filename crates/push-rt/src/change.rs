//! Making a policy change the caller may make: the key the new policy
//! calls for, the change recorded in the object (where and by whom, for
//! reports and for `validate`'s checks), the object's pages re-keyed; and
//! the changes registered for a barrier (`phases`), made when it opens.
//! The C API (`api`) and the barrier hooks (`locks`) call it.

use crate::domains::{self, Keys};
use crate::registry::{self, Object, Policy};
use crate::report::{self, capture, Api, Refusal};
use crate::{phases, stack, threads, validate, windows};
use core::sync::atomic::Ordering;

/// A policy change the caller may make: checks rule 1, sets policy and
/// key, and arms rule 2 for the first access of another thread (see
/// `validate`).
pub(crate) fn change_policy(
    api: Api,
    obj_ptr: usize,
    (obj_id, obj): (u32, &Object),
    new: Policy,
    (id, rec): (u32, &threads::ThreadRecord),
    keys: &Keys,
) -> i32 {
    // A suspended object (`mprotect_budget`) is closed again first: the
    // new policy's first accesses must fault to be checked.
    windows::suspended::resume(obj_id);
    let pending_key = validate::on_change(api, obj_ptr, (obj_id, obj), new, (id, rec), keys);
    let key = match new {
        Policy::Private(t) => keys.of_thread(t),
        Policy::ReadOnly => keys.readonly,
        Policy::ProtectedBy(lock) => {
            domains::add_protecting(lock);
            keys.of_lock(lock)
        }
        Policy::Released => keys.noaccess,
        Policy::Racy => 0,
    };
    obj.policy.store(new.encode(), Ordering::Release);
    obj.record_change(
        id,
        stack::intern(&stack::capture_here()),
        api.code(),
        validate::current_epoch(id, rec),
    );
    match registry::set_policy_key(obj, key, pending_key) {
        // Out of mappings: the object keeps its key and the fault handler
        // enforces the new policy at every access.
        Err(libc::ENOMEM) => report::flush_map_warnings(),
        Err(e) => return e,
        Ok(()) => {}
    }
    if let Policy::ProtectedBy(lock) = new {
        if rec.holds(lock).is_some() {
            // The lock's key is new: refresh the cached keys of held locks.
            domains::apply_pkru(keys.pkru_fresh(id, rec));
        }
    }
    0
}

/// The barrier `barrier` opens, with thread `t` as its last arrival (it
/// has joined every arrival's clock): makes the changes registered for it.
/// An object freed since its change was registered is skipped; a change
/// to a thread that has exited since is dropped with an annotation error.
pub fn apply_registered(t: (u32, &threads::ThreadRecord), barrier: usize) {
    let Some(keys) = domains::keys() else { return };
    windows::sync_point(t.1);
    for p in phases::take(barrier) {
        let Some((obj_id, obj)) = registry::lookup(p.obj) else {
            continue;
        };
        if let Policy::Private(owner) = p.policy {
            let live = threads::record(owner)
                .is_some_and(|r| r.state.load(Ordering::Acquire) == threads::STATE_LIVE);
            if !live {
                capture::annotation_error(
                    p.api,
                    Refusal::NoThread,
                    libc::EINVAL,
                    p.obj,
                    Some((obj_id, obj)),
                );
                continue;
            }
        }
        let _ = change_policy(p.api, p.obj, (obj_id, obj), p.policy, t, keys);
    }
}
