//! The `mprotect` backend's side of the fault handler: a closed page of a
//! tracked object faults (`SEGV_ACCERR`); the same decision as under `mpk`
//! opens a window or reports and single-steps through a one-instruction
//! window (see `windows`). Same signal-context rules as the parent module.

use super::{access_allowed, fault_site, tracked_fault, SILENT_FIXES};
use crate::registry::{Object, Policy};
use crate::report::capture;
use crate::sys::frame::SignalFrame;
use crate::threads::{self, ThreadRecord};
use crate::validate::{self, FirstAccess};
use crate::{domains, windows};
use core::sync::atomic::Ordering;

/// The `mprotect` backend's fault: a closed page of a tracked object. The
/// same decision as under `mpk`; an allowed access opens a window on the
/// object until the thread's next synchronization (see `windows`), a
/// refused one is reported and single-stepped through a one-instruction
/// window.
pub(super) fn handle_access_fault(addr: usize, f: &mut SignalFrame<'_>) -> bool {
    if !f.has_context() {
        return false;
    }
    let Some(keys) = domains::keys() else {
        return false;
    };
    let Some((obj_id, obj, id, rec)) = tracked_fault(addr) else {
        return false;
    };
    let write = f.error_code() & 2 != 0;
    // Every fault is paid from the thread's budget (see `auto::budget`:
    // `auto_budget` under the annotation-free mode, `mprotect_budget`
    // otherwise; nothing is timed without one).
    let timer = crate::auto::budget::Timer::start();
    let handled = decide(keys, addr, write, f, (obj_id, obj), (id, rec));
    timer.charge(&rec.auto_credit, true);
    handled
}

fn decide(
    keys: &domains::Keys,
    addr: usize,
    write: bool,
    f: &mut SignalFrame<'_>,
    (obj_id, obj): (u32, &Object),
    (id, rec): (u32, &ThreadRecord),
) -> bool {
    if windows::covers(rec, obj_id, write) {
        // Another thread's re-protection came between this thread's window
        // and its access: apply the window again.
        SILENT_FIXES.fetch_add(1, Ordering::Relaxed);
        return windows::reprotect_at(obj_id, obj, addr).is_ok();
    }
    let access = if write {
        windows::Access::ReadWrite
    } else {
        windows::Access::Read
    };
    if access_allowed(keys, id, rec, obj, write) {
        let site = || fault_site(addr, write, f);
        if validate::first_access((id, rec), (obj_id, obj), site) == FirstAccess::ChangerAccess {
            // The changing thread itself (see `handle_pku_fault`): a read
            // grant is a window, closed at its next synchronization.
            if validate::changer_read_grant(keys, obj.key(), write)
                && windows::open(rec, obj_id, obj, windows::Access::Read)
            {
                return true;
            }
            step_through_window(f, rec, obj_id, obj, access);
            return true;
        }
        if crate::auto::is_watched(obj)
            && crate::auto::budget::park_if_spent(keys, &rec.auto_credit, (obj_id, obj))
        {
            // Over budget: open to every thread now; the access retries.
            return true;
        }
        if windows::suspends_now(rec, obj_id, obj) && windows::open_to_all(obj_id, obj, write) {
            // Over budget (`mprotect_budget`): the object is open to every
            // thread until the sweeper closes it; the access retries.
            return true;
        }
        if !open_widest(keys, (id, rec), (obj_id, obj), write) {
            step_through_window(f, rec, obj_id, obj, access);
        }
        return true;
    }
    if crate::auto::is_watched(obj) {
        // The annotation-free mode (see `handle_pku_fault`).
        crate::auto::on_refused_access(keys, (id, rec), (obj_id, obj), fault_site(addr, write, f));
        if crate::auto::budget::is_parked(obj) && obj.key() == keys.key_for(Policy::Racy) {
            // Parked, its pages open to every thread: the access retries.
            return true;
        }
        if !(access_allowed(keys, id, rec, obj, write)
            && open_widest(keys, (id, rec), (obj_id, obj), write))
        {
            step_through_window(f, rec, obj_id, obj, access);
        }
        return true;
    }
    capture::data_race((id, rec), fault_site(addr, write, f), (obj_id, obj));
    step_through_window(f, rec, obj_id, obj, access);
    true
}

/// Opens a window for an allowed access, read-write if the thread may also
/// write; false when its list has no room.
fn open_widest(
    keys: &crate::domains::Keys,
    (id, rec): (u32, &ThreadRecord),
    (obj_id, obj): (u32, &Object),
    write: bool,
) -> bool {
    let widest = if write || access_allowed(keys, id, rec, obj, true) {
        windows::Access::ReadWrite
    } else {
        windows::Access::Read
    };
    windows::open(rec, obj_id, obj, widest)
}

/// Lets one instruction through a window the trap handler closes.
fn step_through_window(
    f: &mut SignalFrame<'_>,
    rec: &ThreadRecord,
    obj_id: u32,
    obj: &Object,
    access: windows::Access,
) {
    if windows::open_step(rec, obj_id, obj, access) {
        f.set_trap_flag(true);
        rec.stepping.store(1, Ordering::Relaxed);
    } else {
        // No room for another step window (an instruction touching more
        // objects than that): open a regular window instead.
        windows::open(rec, obj_id, obj, access);
    }
}

/// The trap after a single-stepped instruction: closes its windows. Returns
/// whether the trap was PUSh's.
pub(super) fn end_step(f: &mut SignalFrame<'_>) -> bool {
    let Some((_, rec)) = threads::current() else {
        return false;
    };
    if rec.stepping.swap(0, Ordering::Relaxed) == 0 {
        return false;
    }
    f.set_trap_flag(false);
    windows::close_steps(rec);
    true
}
