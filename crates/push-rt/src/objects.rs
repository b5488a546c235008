//! New tracked objects: the allocation both the C API (`push_malloc` and
//! the rest, in `api`) and the annotation-free mode (`auto`) make, private
//! to its creator, or plain memory when the arena or the mapping budget
//! cannot take one (noted, and warned about once).

use crate::registry::{self, Policy};
use crate::report;
use crate::validate::current_epoch;
use crate::{backend, domains, ensure_background, maps, stack, threads, windows};
use core::sync::atomic::{AtomicBool, Ordering};

/// A new tracked object, private to its creator (which starts the
/// background threads on first use).
pub(crate) fn new_object_origin(id: u32, rec: &threads::ThreadRecord) -> registry::Origin {
    ensure_background();
    registry::Origin {
        policy: Policy::Private(id),
        thread: id,
        stack: stack::intern(&stack::capture_here()),
        epoch: current_epoch(id, rec),
    }
}

/// A tracked object private to the caller; 0 when it must be plain memory
/// (after noting why).
pub(crate) fn alloc_tracked(size: usize, zero: bool) -> usize {
    let (Some((id, rec)), Some(keys)) = (
        crate::registration::current_or_register_record(),
        domains::keys(),
    ) else {
        return 0;
    };
    report::flush_map_warnings();
    let origin = new_object_origin(id, rec);
    match registry::alloc(
        size,
        origin,
        keys.of_thread(id),
        zero,
        Some(&rec.slot_cache),
    ) {
        Ok((obj_id, base)) => {
            if backend::is_mprotect() {
                // The creator is about to write it: open it now rather than
                // at the first fault. Without a window (the thread's list is
                // full), the protection goes back to what the policy calls
                // for: zeroing a reused slot opened its pages for everyone.
                if let Some(o) = registry::object(obj_id) {
                    if !windows::open_from_thread(rec, obj_id, o, windows::Access::ReadWrite) {
                        let _ = windows::reprotect(obj_id, o);
                    }
                }
            }
            base
        }
        Err(e) => {
            UNTRACKED_FALLBACK.store(true, Ordering::Relaxed);
            match e {
                registry::AllocError::Budget => {
                    maps::note_untracked();
                    report::flush_map_warnings();
                }
                registry::AllocError::NoRoom => warn_untracked(),
            }
            0
        }
    }
}

/// Some allocation fell back to plain memory: annotations of untracked
/// pointers are then taken for annotations of such objects and ignored.
pub(crate) static UNTRACKED_FALLBACK: AtomicBool = AtomicBool::new(false);
static UNTRACKED_WARNED: AtomicBool = AtomicBool::new(false);

fn warn_untracked() {
    if !UNTRACKED_WARNED.swap(true, Ordering::Relaxed) {
        report::warn(
            "PUSh: warning: out of room for tracked objects (arena or system); further objects are allocated untracked\n",
        );
    }
}
