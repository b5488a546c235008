//! Whether a thread may make an access or a policy change now: the
//! policy's verdict (`policy`) for the thread as it stands (the locks it
//! holds), and the one case the verdict leaves open, an object private to
//! an exited owner, which passes to the thread that joined it (or that
//! the owner's whole life happens before). Async-signal-safe: the fault
//! handlers, the lock hooks and the C API ask.

use crate::domains::Keys;
use crate::hb;
use crate::policy::{self, Verdict};
use crate::registry::{self, Object, Policy};
use crate::threads::{self, ThreadRecord};
use core::sync::atomic::Ordering;

/// Whether `id` may make this access under the object's current policy.
/// May hand the object over (private to an exited thread the caller joined).
pub fn access_allowed(keys: &Keys, id: u32, rec: &ThreadRecord, obj: &Object, write: bool) -> bool {
    if rec.unchecked.load(Ordering::Relaxed) {
        return true;
    }
    match policy::access(obj.policy(), &asker(id, rec), write) {
        Verdict::Allow => true,
        Verdict::Deny => false,
        Verdict::OwnerMayHaveExited(owner) => take_over_from_exited(keys, id, obj, owner),
    }
}

/// The thread as the policy decision sees it.
pub fn asker(id: u32, rec: &ThreadRecord) -> policy::Asker<impl Fn(usize) -> Option<bool> + '_> {
    policy::Asker {
        id,
        holds: move |lock| rec.holds(lock),
        overflowed: rec.overflowed(),
    }
}

/// Private to `owner`, which has exited and was joined by `id`: the object
/// passes to `id`. Called from the fault handler and policy changes.
pub fn take_over_from_exited(keys: &Keys, id: u32, obj: &Object, owner: u32) -> bool {
    let (Some(r), Some(me)) = (threads::record(owner), threads::record(id)) else {
        return false;
    };
    if r.state.load(Ordering::Acquire) != threads::STATE_EXITED {
        return false;
    }
    // Joined by `id`, or the owner's whole life happens before `id` now.
    let (c, last) = hb::epoch(owner, r);
    if r.joined_by.load(Ordering::Acquire) != id + 1 && !hb::ordered_before(c, last, me) {
        return false;
    }
    let word = obj.policy.load(Ordering::Acquire);
    let ok = Policy::decode(word) == Some(Policy::Private(owner))
        && obj
            .policy
            .compare_exchange(
                word,
                Policy::Private(id).encode() | (word & registry::WATCHED),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
    ok && registry::set_policy_key(obj, keys.of_thread(id), None).is_ok()
}

/// The program is about to hand `[addr, addr+len)` to a call that
/// accesses it where a fault cannot be handled: the kernel (a `read` into
/// it when `write`, a `write` from it otherwise), which honours the
/// thread's rights and fails with EFAULT where a protection key or a
/// closed page refuses. The range is touched first, one byte per page, as
/// the thread: the call's access is checked (and, under `auto`, observed)
/// like any access of the thread, and a watched object changes hands here.
/// Tracked globals are not touched (their callers open them for the call).
pub fn prepare_for_call(addr: usize, len: usize, write: bool) {
    if len == 0 || !registry::in_arena(addr) {
        return;
    }
    let end = addr.saturating_add(len);
    let mut at = addr;
    while at < end {
        crate::sys::arena_touch(at, write);
        at = (at & !(crate::sys::PAGE - 1)) + crate::sys::PAGE;
    }
}
