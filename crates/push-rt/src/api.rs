//! The C API (`include/push.h`): tracked allocation, policy changes (who
//! may make one; making it is `change`'s, its happens-before checks
//! `validate`'s), globals, custom locks. Misuse is
//! reported as an annotation error and returns an errno, never crashes.

mod memory;

use crate::access::{asker, take_over_from_exited};
use crate::change::{apply_registered, change_policy};
use crate::domains::Keys;
use crate::lifecycle::current_thread;
use crate::locks::{on_acquire, on_lock_acquired, on_lock_releasing, on_release, LockKind};
use crate::objects::UNTRACKED_FALLBACK;
use crate::registry::{self, Object, Policy};
use crate::report::{capture, Api, Refusal};
use crate::{domains, enabled, phases, policy, refresh_pkru_of, threads, windows};
use core::sync::atomic::Ordering;
pub use memory::{
    api_calloc, api_free, api_malloc, api_realloc, api_register_global, api_usable_size,
};

/// May thread `id` change the policy of `obj` now?
fn may_change(keys: &Keys, id: u32, rec: &threads::ThreadRecord, obj: &Object) -> bool {
    match policy::change(obj.policy(), &asker(id, rec)) {
        policy::Verdict::Allow => true,
        policy::Verdict::Deny => false,
        policy::Verdict::OwnerMayHaveExited(owner) => take_over_from_exited(keys, id, obj, owner),
    }
}

/// The tracked object a call names, or what the call returns: 0 for a
/// pointer that is most likely an object allocated untracked past the
/// budget, else the annotation error's EINVAL.
fn object_for_call(api: Api, obj_ptr: usize) -> Result<(u32, &'static Object), i32> {
    registry::lookup(obj_ptr).ok_or_else(|| {
        if UNTRACKED_FALLBACK.load(Ordering::Relaxed) && !registry::in_arena(obj_ptr) {
            0
        } else {
            capture::annotation_error(api, Refusal::Untracked, libc::EINVAL, obj_ptr, None)
        }
    })
}

/// Whether the calling thread may change the object's policy now; if not,
/// the annotation error's EPERM.
fn permitted(
    api: Api,
    obj_ptr: usize,
    (obj_id, obj): (u32, &Object),
    keys: &Keys,
    (id, rec): (u32, &threads::ThreadRecord),
) -> Result<(), i32> {
    if may_change(keys, id, rec, obj) {
        return Ok(());
    }
    Err(capture::annotation_error(
        api,
        Refusal::NotAllowed,
        libc::EPERM,
        obj_ptr,
        Some((obj_id, obj)),
    ))
}

/// The policy calls: checks who may change, then sets policy and key.
pub fn api_set_policy(api: Api, obj_ptr: usize, new: Policy) -> i32 {
    if !enabled() {
        return 0;
    }
    let (Some((id, rec)), Some(keys)) = (current_thread(), domains::keys()) else {
        return 0;
    };
    // A policy change is a synchronization of the changer's.
    windows::sync_point(rec);
    let (obj_id, obj) = match object_for_call(api, obj_ptr) {
        Ok(found) => found,
        Err(rc) => return rc,
    };
    if api == Api::Acquire {
        if let Some(Policy::Private(owner)) = obj.policy() {
            if owner == id {
                return 0;
            }
        }
    }
    if let Err(rc) = permitted(api, obj_ptr, (obj_id, obj), keys, (id, rec)) {
        return rc;
    }
    change_policy(api, obj_ptr, (obj_id, obj), new, (id, rec), keys)
}

/// `push_*_at(barrier, obj, ...)`: registers a policy change for the next
/// opening of `barrier` (see `phases`). The caller must be allowed to make
/// the change now; the change itself is made when the barrier opens.
pub fn api_policy_at(api: Api, barrier: usize, obj_ptr: usize, new: Policy) -> i32 {
    if !enabled() {
        return 0;
    }
    let (Some((id, rec)), Some(keys)) = (current_thread(), domains::keys()) else {
        return 0;
    };
    if barrier == 0 {
        return capture::annotation_error(api, Refusal::NullBarrier, libc::EINVAL, obj_ptr, None);
    }
    if let Policy::ProtectedBy(0) = new {
        return capture::annotation_error(api, Refusal::NullLock, libc::EINVAL, obj_ptr, None);
    }
    let (obj_id, obj) = match object_for_call(api, obj_ptr) {
        Ok(found) => found,
        Err(rc) => return rc,
    };
    if let Err(rc) = permitted(api, obj_ptr, (obj_id, obj), keys, (id, rec)) {
        return rc;
    }
    phases::register(
        barrier,
        phases::Pending {
            obj: obj_ptr,
            policy: new,
            api,
        },
    );
    0
}

/// `push_partition(obj, part_size)`: cuts the object starting at `obj_ptr`
/// into parts of `part_size` bytes, each an object of its own with the
/// whole's policy (see `registry::partition`). The caller must be allowed
/// to change the object's policy.
pub fn api_partition(obj_ptr: usize, part_size: usize) -> i32 {
    if !enabled() {
        return 0;
    }
    let (Some((id, rec)), Some(keys)) = (current_thread(), domains::keys()) else {
        return 0;
    };
    let refuse = |why: Refusal, errno: i32, obj: Option<(u32, &Object)>| {
        capture::annotation_error(Api::Partition, why, errno, obj_ptr, obj)
    };
    let (obj_id, obj) = match object_for_call(Api::Partition, obj_ptr) {
        Ok(found) => found,
        Err(rc) => return rc,
    };
    if obj.base() != obj_ptr {
        return refuse(Refusal::NotStart, libc::EINVAL, Some((obj_id, obj)));
    }
    if let Err(rc) = permitted(Api::Partition, obj_ptr, (obj_id, obj), keys, (id, rec)) {
        return rc;
    }
    match registry::partition(obj_id, part_size) {
        Ok(_) => 0,
        Err(e) => {
            let why = match e {
                registry::PartitionError::PartSize => Refusal::PartSize,
                registry::PartitionError::Packed => Refusal::Packed,
                registry::PartitionError::AlreadyParts => Refusal::AlreadyParts,
                registry::PartitionError::NoRoom => Refusal::NoRoom,
            };
            refuse(why, libc::EINVAL, Some((obj_id, obj)))
        }
    }
}

/// `push_private_at`: private to thread `to` (a live thread) once
/// `barrier` opens.
pub fn api_private_at(barrier: usize, obj: usize, to: u64) -> i32 {
    if !enabled() {
        return 0;
    }
    let target = threads::find_by_pthread(to).filter(|&t| {
        threads::record(t).is_some_and(|r| r.state.load(Ordering::Acquire) == threads::STATE_LIVE)
    });
    match target {
        Some(t) => api_policy_at(Api::PrivateAt, barrier, obj, Policy::Private(t)),
        None => capture::annotation_error(
            Api::PrivateAt,
            Refusal::NoThread,
            libc::EINVAL,
            obj,
            registry::lookup(obj),
        ),
    }
}

/// `push_barrier_opens(barrier)`: the calling thread, the last to arrive at
/// a barrier PUSh does not see (the others announced their arrival with
/// `push_happens_before(barrier)`), opens it: the registered changes are
/// made now, ordered after those arrivals and, through this thread's own
/// release on `barrier`, before every `push_happens_after(barrier)`.
pub fn api_barrier_opens(barrier: usize) {
    if !enabled() || barrier == 0 {
        return;
    }
    let Some(t) = current_thread() else { return };
    on_acquire(t, barrier);
    apply_registered(t, barrier);
    on_release(t, barrier);
}

pub fn api_protected_by(obj: usize, lock: usize) -> i32 {
    if !enabled() {
        return 0;
    }
    if lock == 0 {
        return capture::annotation_error(
            Api::ProtectedBy,
            Refusal::NullLock,
            libc::EINVAL,
            obj,
            None,
        );
    }
    api_set_policy(Api::ProtectedBy, obj, Policy::ProtectedBy(lock))
}

pub fn api_transfer(obj: usize, to: u64) -> i32 {
    if !enabled() {
        return 0;
    }
    let target = threads::find_by_pthread(to).filter(|&t| {
        threads::record(t).is_some_and(|r| r.state.load(Ordering::Acquire) == threads::STATE_LIVE)
    });
    match target {
        Some(t) => api_set_policy(Api::Transfer, obj, Policy::Private(t)),
        None => capture::annotation_error(
            Api::Transfer,
            Refusal::NoThread,
            libc::EINVAL,
            obj,
            registry::lookup(obj),
        ),
    }
}

pub fn api_acquire(obj: usize) -> i32 {
    let Some((id, _)) = current_thread() else {
        return 0;
    };
    api_set_policy(Api::Acquire, obj, Policy::Private(id))
}

pub fn api_private(obj: usize) -> i32 {
    let Some((id, _)) = current_thread() else {
        return 0;
    };
    api_set_policy(Api::Private, obj, Policy::Private(id))
}

/// `push_lock_acquired` for custom locks.
pub fn api_lock_acquired(lock: usize, exclusive: bool) {
    if let (true, Some(t)) = (enabled(), current_thread()) {
        let kind = if exclusive {
            LockKind::Write
        } else {
            LockKind::Read
        };
        on_lock_acquired(t, lock, kind, false);
    }
}

/// `push_lock_released` for custom locks.
pub fn api_lock_released(lock: usize) {
    if !enabled() {
        return;
    }
    let Some(t) = current_thread() else { return };
    if t.1.holds(lock).is_none() && !t.1.overflowed() {
        capture::annotation_error(
            Api::LockReleased,
            Refusal::NotHeld,
            libc::EINVAL,
            lock,
            None,
        );
        return;
    }
    if on_lock_releasing(t, lock, LockKind::Write) {
        refresh_pkru_of(t.0, t.1);
    }
}
