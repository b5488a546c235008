//! The allocation calls of the C API: tracked `malloc`/`calloc`/`realloc`/
//! `free` (plain memory when the arena cannot take an object; the
//! allocation itself is `objects`') and registered globals.

use crate::lifecycle::current_thread;
use crate::objects::{alloc_tracked, new_object_origin};
use crate::registry;
use crate::report::{capture, Api, Refusal};
use crate::{domains, enabled, hb, sys, GLOBAL_HI, GLOBAL_LO};
use core::sync::atomic::Ordering;

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
            match (
                crate::registration::current_or_register_record(),
                crate::domains::keys(),
            ) {
                (Some((tid, rec)), Some(keys)) => {
                    registry::free_cached(id, tid, &rec.slot_cache, keys.of_thread(tid));
                }
                _ => {
                    registry::free(id);
                }
            }
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
