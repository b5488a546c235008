//! The C API (`include/push.h`): tracked allocation, policy changes and
//! their happens-before checks (rule 1 at the change, rule 2 armed for the
//! first access by another thread), globals, custom locks. Misuse is
//! reported as an annotation error and returns an errno, never crashes.

use crate::domains::Keys;
use crate::lifecycle::{current_thread, take_over_from_exited};
use crate::locks::{on_acquire, on_lock_acquired, on_lock_releasing, on_release, LockKind};
use crate::registry::{self, Object, Policy};
use crate::report::{self, capture, Api, Refusal};
use crate::{
    backend, domains, enabled, ensure_background, fault, hb, maps, options, phases, policy,
    refresh_pkru_of, stack, sys, threads, windows, GLOBAL_HI, GLOBAL_LO,
};
use core::sync::atomic::{AtomicBool, Ordering};

/// A new tracked object, private to its creator (which starts the
/// background threads on first use).
fn new_object_origin(id: u32, rec: &threads::ThreadRecord) -> registry::Origin {
    ensure_background();
    registry::Origin {
        policy: Policy::Private(id),
        thread: id,
        stack: stack::intern(&stack::capture_here()),
        epoch: current_epoch(id, rec),
    }
}

/// The calling thread's current epoch, packed for `Object::change_epoch`.
fn current_epoch(id: u32, rec: &threads::ThreadRecord) -> u64 {
    let (c, ts) = hb::epoch(id, rec);
    registry::pack_epoch(c, ts)
}

/// A tracked object private to the caller; 0 when it must be plain memory
/// (after noting why).
pub(crate) fn alloc_tracked(size: usize, zero: bool) -> usize {
    let (Some((id, rec)), Some(keys)) = (current_thread(), domains::keys()) else {
        return 0;
    };
    maps::flush_warnings();
    match registry::alloc(size, new_object_origin(id, rec), keys.of_thread(id), zero) {
        Ok((obj_id, base)) => {
            if backend::is_mprotect() {
                // The creator is about to write it: open it now rather than
                // at the first fault.
                if let Some(o) = registry::object(obj_id) {
                    windows::open_from_thread(rec, obj_id, o, windows::Access::ReadWrite);
                }
            }
            base
        }
        Err(e) => {
            UNTRACKED_FALLBACK.store(true, Ordering::Relaxed);
            match e {
                registry::AllocError::Budget => maps::note_untracked(),
                registry::AllocError::NoRoom => warn_untracked(),
            }
            0
        }
    }
}

/// Some allocation fell back to plain memory: annotations of untracked
/// pointers are then taken for annotations of such objects and ignored.
static UNTRACKED_FALLBACK: AtomicBool = AtomicBool::new(false);
static UNTRACKED_WARNED: AtomicBool = AtomicBool::new(false);

fn warn_untracked() {
    if !UNTRACKED_WARNED.swap(true, Ordering::Relaxed) {
        report::warn(
            "PUSh: warning: out of room for tracked objects (arena or system); further objects are allocated untracked\n",
        );
    }
}

/// `push_malloc`: a tracked object private to the caller, on a virtual page
/// of its own.
pub fn api_malloc(size: usize) -> *mut u8 {
    if !enabled() {
        return sys::heap::malloc(size);
    }
    match alloc_tracked(size, false) {
        0 => sys::heap::malloc(size),
        p => p as *mut u8,
    }
}

pub fn api_calloc(n: usize, size: usize) -> *mut u8 {
    let Some(total) = n.checked_mul(size) else {
        sys::set_errno(libc::ENOMEM);
        return core::ptr::null_mut();
    };
    if !enabled() {
        return sys::heap::calloc(n, size);
    }
    match alloc_tracked(total, true) {
        0 => sys::heap::calloc(n, size),
        p => p as *mut u8,
    }
}

/// `push_free` (and plain `free` of a tracked pointer) of the object at
/// `addr`. Returns false when the pointer is not the runtime's (outside
/// the arena, or the runtime is off): the caller frees it with libc's
/// `free`, which has its C contract.
#[must_use]
pub fn api_free(addr: usize, api: Api) -> bool {
    if addr == 0 {
        return true;
    }
    if !enabled() || !registry::in_arena(addr) {
        return false;
    }
    match registry::lookup(addr) {
        Some((id, o)) if o.base() == addr => {
            if registry::is_later_part(id) {
                capture::annotation_error(
                    api,
                    Refusal::LaterPart,
                    libc::EINVAL,
                    addr,
                    Some((id, o)),
                );
                return true;
            }
            hb::forget_range(addr, registry::allocation_size(id));
            crate::auto::forget(id);
            registry::free(id);
        }
        other => {
            capture::annotation_error(api, Refusal::Untracked, libc::EINVAL, addr, other);
        }
    }
    true
}

/// `push_realloc` of the object at `addr`: keeps contents and policy.
/// None when the pointer is not the runtime's (outside the arena, or the
/// runtime is off): the caller resizes it with libc's `realloc`, which
/// has its C contract.
pub fn api_realloc(addr: usize, size: usize) -> Option<*mut u8> {
    if addr == 0 {
        return Some(api_malloc(size));
    }
    if !enabled() || !registry::in_arena(addr) {
        return None;
    }
    let Some((id, o)) = registry::lookup(addr).filter(|(_, o)| o.base() == addr) else {
        capture::annotation_error(Api::Realloc, Refusal::Untracked, libc::EINVAL, addr, None);
        return Some(core::ptr::null_mut());
    };
    if registry::is_later_part(id) || registry::is_partitioned(id) {
        let why = if registry::is_later_part(id) {
            Refusal::LaterPart
        } else {
            Refusal::Partitioned
        };
        capture::annotation_error(Api::Realloc, why, libc::EINVAL, addr, Some((id, o)));
        return Some(core::ptr::null_mut());
    }
    if size == 0 {
        hb::forget_range(addr, o.size());
        crate::auto::forget(id);
        registry::free(id);
        return Some(core::ptr::null_mut());
    }
    if size <= o.capacity() {
        o.set_size(size);
        return Some(addr as *mut u8);
    }
    let old_size = o.size();
    let new = alloc_tracked(size, false);
    if new == 0 {
        // No room for a tracked object: the data moves to plain memory.
        // Reading the old one with the caller's rights is realloc's access.
        let plain = sys::heap::malloc_copy_from_arena(addr, old_size, size);
        if plain.is_null() {
            return Some(plain);
        }
        registry::free(id);
        return Some(plain);
    }
    let Some((_, new_obj)) = registry::lookup(new) else {
        return Some(core::ptr::null_mut());
    };
    // Both are live tracked objects of at least old_size bytes; the new one
    // is still private to the caller. Reading the old one with the caller's
    // rights is the access realloc makes.
    sys::arena_copy(addr, new, old_size.min(size));
    new_obj.copy_change(o);
    let _ = registry::set_policy_key(new_obj, o.policy_key(), None);
    if crate::auto::is_watched(o) {
        if let Some((new_id, _)) = registry::lookup(new) {
            crate::auto::watch(new_id, new_obj);
        }
        crate::auto::forget(id);
    }
    registry::free(id);
    Some(new as *mut u8)
}

/// `malloc_usable_size` of a tracked heap object (None: not the start of
/// one).
pub fn api_usable_size(addr: usize) -> Option<usize> {
    registry::lookup(addr)
        .filter(|(_, o)| o.base() == addr)
        .map(|(_, o)| o.capacity())
}

/// Registers a `PUSH_GLOBAL`, private to the calling (main) thread.
pub fn api_register_global(addr: usize, size: usize) {
    if !enabled() {
        return;
    }
    let (Some((id, rec)), Some(keys)) = (current_thread(), domains::keys()) else {
        return;
    };
    let Some(obj_id) = registry::register_global(addr, size, new_object_origin(id, rec)) else {
        capture::annotation_error(
            Api::RegisterGlobal,
            Refusal::Untracked,
            libc::EINVAL,
            addr,
            None,
        );
        return;
    };
    let span = sys::page_round_up(size);
    GLOBAL_LO.fetch_min(addr, Ordering::Relaxed);
    GLOBAL_HI.fetch_max(addr + span, Ordering::Relaxed);
    if let Some(o) = registry::object(obj_id) {
        let _ = registry::set_policy_key(o, keys.of_thread(id), None);
    }
}

/// May thread `id` change the policy of `obj` now?
fn may_change(keys: &Keys, id: u32, rec: &threads::ThreadRecord, obj: &Object) -> bool {
    match policy::change(obj.policy(), &fault::asker(id, rec)) {
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

/// A policy change the caller may make: checks rule 1, sets policy and
/// key, and arms rule 2 for the first access of another thread.
fn change_policy(
    api: Api,
    obj_ptr: usize,
    (obj_id, obj): (u32, &Object),
    new: Policy,
    (id, rec): (u32, &threads::ThreadRecord),
    keys: &Keys,
) -> i32 {
    // Rule 1: a change must happen after the previous one, unless the same
    // thread made both.
    let prev_thread = obj.change_thread();
    if prev_thread != id {
        let (c, ts) = registry::unpack_epoch(obj.change_epoch.load(Ordering::Acquire));
        if !hb::ordered_before(c, ts, rec) {
            capture::unordered_change(api, obj_ptr, (obj_id, obj), (id, rec));
        }
    }
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
        current_epoch(id, rec),
    );
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
    match registry::set_policy_key(obj, key, others_may_access.then_some(pending_key)) {
        // Out of mappings: the object keeps its key and the fault handler
        // enforces the new policy at every access.
        Err(libc::ENOMEM) => maps::flush_warnings(),
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
