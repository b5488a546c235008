//! One capture function per kind of report: each fills a [`RawReport`]
//! from what the rule that broke knows, asks [`Dedup`] whether the same
//! report was made before, and hands it on (to the queue from the fault
//! handler, to the printer from ordinary context).
//!
//! [`data_race`] and [`unordered_access`] run in the SIGSEGV handler:
//! async-signal-safe, no allocation, no lock (the dedup set and the queue
//! are fixed arrays of atomics).

use super::queue::{queue_from_handler, report_now};
use super::{Api, Kind, RawReport, Refusal};
use crate::registry::{Object, Policy};
use crate::stack;
use crate::sys::{self, FixedArray};
use crate::threads::{self, ThreadRecord};
use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// What identifies a report for deduplication: the object (or, without
/// one, the call) and the pc it was raised at, per kind, so one place
/// keeps the same site from being reported twice and different kinds at
/// one site from hiding each other.
#[derive(Clone, Copy)]
enum Dedup {
    Race {
        obj: u32,
        pc: usize,
    },
    UnorderedAccess {
        obj: u32,
        pc: usize,
    },
    UnorderedChange {
        obj: u32,
        pc: usize,
    },
    Annotation {
        api: Api,
        obj: Option<u32>,
        pc: usize,
    },
}

impl Dedup {
    /// The (object, salted pc) pair this report is known by.
    fn key(self) -> (u32, usize) {
        match self {
            Dedup::Race { obj, pc } => (obj, pc),
            Dedup::UnorderedAccess { obj, pc } => (obj, pc ^ (0xa5 << 56)),
            Dedup::UnorderedChange { obj, pc } => (obj, pc ^ (0x5a << 56)),
            Dedup::Annotation { api, obj, pc } => (
                obj.unwrap_or(u32::MAX - u32::from(api.code())),
                pc ^ (usize::from(api.code()) << 56),
            ),
        }
    }

    /// True the first time this report is seen. Async-signal-safe.
    fn first_time(self) -> bool {
        let Some(set) = SEEN.get() else { return true };
        let (obj, pc) = self.key();
        let key = crate::hashing::mix((u64::from(obj) << 48) ^ pc as u64) | 1;
        let mut i = key as usize % SEEN_LEN;
        for _ in 0..32 {
            let Some(e) = set.get(i) else { return true };
            match e.compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(v) if v == key => return false,
                Err(_) => i = (i + 1) % SEEN_LEN,
            }
        }
        true
    }
}

/// The set of reports already made (hashes of [`Dedup::key`]).
const SEEN_LEN: usize = 1 << 16;
static SEEN: OnceLock<FixedArray<AtomicU64>> = OnceLock::new();

/// Maps the dedup set. Start-up only.
pub(super) fn init() -> Result<(), String> {
    let set = FixedArray::<AtomicU64>::new(SEEN_LEN).ok_or("cannot map dedup set")?;
    let _ = SEEN.set(set);
    Ok(())
}

/// A refused access as the fault handler saw it.
#[derive(Clone, Copy)]
pub struct FaultSite {
    pub addr: usize,
    pub write: bool,
    /// The faulting instruction.
    pub pc: usize,
    /// The frame pointer at the fault (the stack walk starts there).
    pub frame_pointer: usize,
}

/// Copies what a report needs to know about an object.
fn fill_object(r: &mut RawReport, obj_id: u32, obj: &Object) {
    r.period = crate::domains::period();
    r.has_obj = 1;
    r.obj_id = obj_id;
    r.obj_base = obj.base();
    r.obj_size = obj.size();
    r.policy = obj.policy.load(Ordering::Relaxed);
    r.alloc_thread = obj.alloc_thread();
    r.alloc_stack = obj.alloc_stack();
    r.change_thread = obj.change_thread();
    r.change_stack = obj.change_stack();
    r.change_api = Api::from_code(obj.change_api());
    if let Some(Policy::ProtectedBy(lock)) = obj.policy() {
        r.nholders = threads::holders_of(lock, &mut r.holders, &mut r.holder_sites) as u32;
        if r.nholders == 0 {
            if let Some((id, site)) = crate::domains::last_holder(lock) {
                r.last_holder = id + 1;
                r.last_holder_site = site;
            }
        }
    }
}

/// An access the object's policy does not allow (from the fault handler).
#[cold]
pub fn data_race(thread: (u32, &ThreadRecord), site: FaultSite, obj: (u32, &Object)) {
    from_fault(Kind::Race, thread, site, obj);
}

/// An earlier access to a watched object (the annotation-free mode), as
/// observed by the fault handler.
#[derive(Clone, Copy)]
pub struct PreviousAccess {
    pub thread: u32,
    pub write: bool,
    pub addr: usize,
    /// Its stack in the depot.
    pub stack: u32,
}

/// The annotation-free mode's race: this access and an earlier observed one
/// of another thread to the same address, at least one a write, not
/// ordered by happens-before (from the fault handler, which walked this
/// access's stack already).
#[cold]
pub fn observed_race(
    (id, rec): (u32, &ThreadRecord),
    site: FaultSite,
    stack: &stack::Stack,
    (obj_id, obj): (u32, &Object),
    previous: PreviousAccess,
) {
    let seen = Dedup::Race {
        obj: obj_id,
        pc: site.pc,
    };
    if !seen.first_time() {
        return;
    }
    let mut r = RawReport {
        kind: Kind::Race,
        is_write: site.write as u8,
        thread: id,
        tid: rec.tid.load(Ordering::Relaxed),
        addr: site.addr,
        has_other: 1,
        other_thread: previous.thread,
        other_stack: previous.stack,
        previous_access: if previous.write { 2 } else { 1 },
        previous_addr: previous.addr,
        ..RawReport::default()
    };
    r.stack = *stack;
    fill_object(&mut r, obj_id, obj);
    queue_from_handler(&r);
}

/// Rule 2: another thread's first access to an object whose policy just
/// changed is not ordered after the change (from the fault handler).
#[cold]
pub fn unordered_access(thread: (u32, &ThreadRecord), site: FaultSite, obj: (u32, &Object)) {
    from_fault(Kind::UnorderedAccess, thread, site, obj);
}

/// A report on an access seen by the fault handler: the stack from the
/// faulting instruction, the object, and for rule 2 the change it breaks.
fn from_fault(
    kind: Kind,
    (id, rec): (u32, &ThreadRecord),
    site: FaultSite,
    (obj_id, obj): (u32, &Object),
) {
    let seen = match kind {
        Kind::UnorderedAccess => Dedup::UnorderedAccess {
            obj: obj_id,
            pc: site.pc,
        },
        _ => Dedup::Race {
            obj: obj_id,
            pc: site.pc,
        },
    };
    if !seen.first_time() {
        return;
    }
    let mut r = RawReport {
        kind,
        is_write: site.write as u8,
        thread: id,
        tid: rec.tid.load(Ordering::Relaxed),
        addr: site.addr,
        ..RawReport::default()
    };
    if kind == Kind::UnorderedAccess {
        r.has_other = 1;
        r.other_thread = obj.change_thread();
        r.other_stack = obj.change_stack();
        r.other_api = Api::from_code(obj.change_api());
    }
    stack::walk(site.pc, site.frame_pointer, &mut r.stack);
    fill_object(&mut r, obj_id, obj);
    queue_from_handler(&r);
}

/// Rule 1: a policy change (by `api` on `addr`) not ordered after the
/// object's previous change; reported at the caller, with that change.
#[cold]
pub fn unordered_change(
    api: Api,
    addr: usize,
    (obj_id, obj): (u32, &Object),
    (id, rec): (u32, &ThreadRecord),
) {
    let stack = stack::capture_here();
    let seen = Dedup::UnorderedChange {
        obj: obj_id,
        pc: stack.pcs[0],
    };
    if !seen.first_time() {
        return;
    }
    let mut r = RawReport {
        kind: Kind::UnorderedChange,
        api,
        thread: id,
        tid: rec.tid.load(Ordering::Relaxed),
        addr,
        stack,
        has_other: 1,
        other_thread: obj.change_thread(),
        other_stack: obj.change_stack(),
        other_api: Api::from_code(obj.change_api()),
        ..RawReport::default()
    };
    fill_object(&mut r, obj_id, obj);
    report_now(&r);
    crate::halt_if_reported();
}

/// A refused call of the API (`api` on `addr`, refused because `why`),
/// reported at the caller. Returns `errno`, for the call to return.
#[cold]
pub fn annotation_error(
    api: Api,
    why: Refusal,
    errno: i32,
    addr: usize,
    obj: Option<(u32, &Object)>,
) -> i32 {
    let stack = stack::capture_here();
    let seen = Dedup::Annotation {
        api,
        obj: obj.map(|(id, _)| id),
        pc: stack.pcs[0],
    };
    if !seen.first_time() {
        return errno;
    }
    let (id, tid) = crate::registration::current_or_register_record()
        .map(|(id, r)| (id, r.tid.load(Ordering::Relaxed)))
        .unwrap_or((0, sys::gettid()));
    let mut r = RawReport {
        kind: Kind::Annotation,
        api,
        reason: why,
        errno,
        thread: id,
        tid,
        addr,
        stack,
        ..RawReport::default()
    };
    if let Some((oid, o)) = obj {
        fill_object(&mut r, oid, o);
    }
    report_now(&r);
    crate::halt_if_reported();
    errno
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_at_one_site_do_not_hide_each_other() {
        let pc = 0x4000_1234;
        let keys = [
            Dedup::Race { obj: 7, pc }.key(),
            Dedup::UnorderedAccess { obj: 7, pc }.key(),
            Dedup::UnorderedChange { obj: 7, pc }.key(),
            Dedup::Annotation {
                api: Api::Private,
                obj: Some(7),
                pc,
            }
            .key(),
            Dedup::Annotation {
                api: Api::ReadOnly,
                obj: Some(7),
                pc,
            }
            .key(),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // Without an object, calls at one pc are told apart by the call.
        assert_ne!(
            Dedup::Annotation {
                api: Api::Free,
                obj: None,
                pc
            }
            .key(),
            Dedup::Annotation {
                api: Api::Racy,
                obj: None,
                pc
            }
            .key()
        );
    }

    #[test]
    fn a_report_is_made_once_per_object_and_site() {
        let _ = init();
        let first = Dedup::Race {
            obj: 0x0bad,
            pc: 0x5555_0001,
        };
        assert!(first.first_time());
        assert!(!first.first_time());
        assert!(Dedup::Race {
            obj: 0x0bad,
            pc: 0x5555_0002
        }
        .first_time());
        assert!(Dedup::UnorderedAccess {
            obj: 0x0bad,
            pc: 0x5555_0001
        }
        .first_time());
    }
}
