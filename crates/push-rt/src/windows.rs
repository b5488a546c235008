//! Access windows of the `mprotect` backend.
//!
//! Under `mprotect` a tracked object's pages are closed (or read-only) for
//! the whole process; an access the policy allows faults once, and the
//! handler *opens a window*: the object's pages become readable (and
//! writable, if the thread may write) until that thread's next
//! synchronization operation, when the windows it opened close again. A
//! thread also opens a window on the object holding a lock word for the
//! duration of its lock call (the library and the kernel's futex must reach
//! the word), and a one-instruction window to let a reported access through.
//!
//! Every object's window word, and the page protection it and the key call
//! for, are `window_words`'s (key changes in `registry` use them too); the
//! functions on them are re-exported here.
//!
//! Each thread keeps the windows it opened in its record: `windows`
//! (closed at its next synchronization), `sync_grants` (lock calls) and
//! `steps` (single-stepped accesses, closed by the trap handler).
//! Everything here is allocation-free and async-signal-safe: atomics and
//! `mprotect`. Entries are pushed by the thread or by its own signal
//! handler, and popped only by the thread (or the trap handler for steps),
//! so a push interrupting a pop is the only interleaving; pops take entries
//! with `swap` so none is closed twice.

pub mod suspended;
mod thread_lists;

use crate::backend;
use crate::registry::{self, Object};
use crate::threads::ThreadRecord;
use crate::window_words::{
    word, COUNT_MASK, INCARNATION_MASK, INCARNATION_SHIFT, RW_UNIT, R_UNIT, VERSION_UNIT,
};
use core::sync::atomic::Ordering;
use thread_lists::{regular, steps, sync_grants};

pub use crate::limits::{MAX_STEPS, MAX_SYNC_GRANTS, MAX_WINDOWS};
pub use crate::window_words::{forget, prot_for, prot_of, reprotect, reprotect_at, touch};

/// Reserves the window words (one per possible object id). Lazily backed.
pub fn init() -> bool {
    crate::window_words::init(registry::MAX_IDS) && suspended::init(registry::MAX_IDS)
}

/// How a window lets the thread at the object.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    Read,
    ReadWrite,
}

impl Access {
    fn unit(self) -> u64 {
        match self {
            Access::Read => R_UNIT,
            Access::ReadWrite => RW_UNIT,
        }
    }
}

/// An entry of a thread's window lists: id, incarnation and access, or 0.
fn entry(id: u32, incarnation: u64, access: Access) -> u64 {
    (1 << 63)
        | ((access == Access::Read) as u64) << 62
        | (incarnation & INCARNATION_MASK) << 32
        | id as u64
}

fn entry_parts(e: u64) -> (u32, u64, Access) {
    let access = if e & (1 << 62) != 0 {
        Access::Read
    } else {
        Access::ReadWrite
    };
    (e as u32, (e >> 32) & INCARNATION_MASK, access)
}

/// Adds one window of `access` on object `id`; returns the list entry.
/// `for_kernel`: the kernel will touch the pages (a lock call's futex), so
/// the protection is applied even when the counts say it is open already
/// (another opener may not have applied it yet).
fn open_count(id: u32, o: &Object, access: Access, for_kernel: bool) -> Option<u64> {
    let w = word(id)?;
    let unit = access.unit();
    let before = w.fetch_add(unit.wrapping_add(VERSION_UNIT), Ordering::AcqRel);
    if (before & COUNT_MASK) == COUNT_MASK || ((before >> 16) & COUNT_MASK) == COUNT_MASK {
        // Saturated (65535 windows on one object): undo, do not open.
        w.fetch_sub(unit, Ordering::AcqRel);
        return None;
    }
    let key = o.key();
    if for_kernel || prot_of(before, key) != prot_of(before + unit, key) {
        let _ = reprotect(id, o);
    }
    Some(entry(
        id,
        (before >> INCARNATION_SHIFT) & INCARNATION_MASK,
        access,
    ))
}

/// Removes the window an entry stands for (nothing if the object was freed
/// since).
fn close_entry(e: u64) {
    let (id, incarnation, access) = entry_parts(e);
    let Some(w) = word(id) else { return };
    let unit = access.unit();
    let mut cur = w.load(Ordering::Acquire);
    loop {
        if (cur >> INCARNATION_SHIFT) & INCARNATION_MASK != incarnation {
            return;
        }
        let count = if unit == RW_UNIT {
            cur & COUNT_MASK
        } else {
            (cur >> 16) & COUNT_MASK
        };
        if count == 0 {
            return;
        }
        let new = (cur - unit).wrapping_add(VERSION_UNIT);
        match w.compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(v) => cur = v,
        }
    }
    let Some(o) = registry::object(id).filter(|o| o.is_live()) else {
        return;
    };
    let key = o.key();
    if prot_of(cur, key) != prot_of(cur - unit, key) {
        let _ = reprotect(id, o);
    }
}

/// Opens a window on `o` for `t` until its next synchronization. False when
/// the thread's list is full (the caller then single-steps the access).
pub fn open(t: &ThreadRecord, id: u32, o: &Object, access: Access) -> bool {
    let list = regular(t);
    if list.len.load(Ordering::Relaxed) as usize >= MAX_WINDOWS {
        // Full: close the older half, unless this interrupted the
        // thread's own closing (two poppers would break the list).
        if t.closing_windows.load(Ordering::Relaxed) != 0 {
            return false;
        }
        // The older half: the newer windows are likelier to be in use (a
        // buffer about to go to a system call, which a closed page fails).
        list.close_older_half();
    }
    let Some(e) = open_count(id, o, access, false) else {
        return false;
    };
    if !list.push(e) {
        close_entry(e);
        return false;
    }
    true
}

/// [`open`] from thread context (not the fault handler): flagged like
/// [`close_regular`], so that a fault meanwhile does not pop the list.
pub fn open_from_thread(t: &ThreadRecord, id: u32, o: &Object, access: Access) -> bool {
    editing(t, || open(t, id, o, access))
}

/// Runs `f`, which changes `t`'s lists from thread context, with the flag
/// that keeps the thread's own fault handler from popping them meanwhile.
fn editing<R>(t: &ThreadRecord, f: impl FnOnce() -> R) -> R {
    t.closing_windows.store(1, Ordering::Relaxed);
    core::sync::atomic::compiler_fence(Ordering::SeqCst);
    let r = f();
    core::sync::atomic::compiler_fence(Ordering::SeqCst);
    t.closing_windows.store(0, Ordering::Relaxed);
    r
}

/// Opens a read-write window on `o` that no thread closes: its pages stay
/// open until the object is freed (for a lock word the kernel must write
/// after its owner is gone). False when the object's count is saturated.
pub fn open_for_good(id: u32, o: &Object) -> bool {
    open_count(id, o, Access::ReadWrite, true).is_some()
}

/// Opens a one-instruction window; the trap handler closes it with
/// [`close_steps`].
pub fn open_step(t: &ThreadRecord, id: u32, o: &Object, access: Access) -> bool {
    let Some(e) = open_count(id, o, access, false) else {
        return false;
    };
    if !steps(t).push(e) {
        close_entry(e);
        return false;
    }
    true
}

pub fn close_steps(t: &ThreadRecord) {
    steps(t).close_all();
}

/// A synchronization operation of `t`: the windows it opened close.
#[inline]
pub fn sync_point(t: &ThreadRecord) {
    if backend::is_mprotect() && t.nwindows.load(Ordering::Relaxed) != 0 {
        // Under `auto`, closing is paid from the thread's fault budget.
        let timer = crate::auto::budget::Timer::start();
        close_regular(t);
        timer.charge(&t.auto_credit, false);
    }
}

/// Closes the regular windows from thread context, flagged so that the
/// thread's own fault handler does not pop the list at the same time.
fn close_regular(t: &ThreadRecord) {
    editing(t, || regular(t).close_all());
}

/// Whether `t` holds a window on `id` that covers this access: a fault
/// then only means another thread's stale re-protection got in between.
pub fn covers(t: &ThreadRecord, id: u32, write: bool) -> bool {
    let Some(w) = word(id) else { return false };
    let inc = (w.load(Ordering::Acquire) >> INCARNATION_SHIFT) & INCARNATION_MASK;
    regular(t).contains(id, inc, write)
        || sync_grants(t).contains(id, inc, write)
        || steps(t).contains(id, inc, write)
}

/// Before a lock call on words in tracked objects, or a system call on
/// buffers in them: opens each object for the call. Returns whether
/// anything was opened.
///
/// For synchronization `words`, one with an alias needs no window (the
/// call uses the alias): its object is opened only if the thread may
/// write it now, without forcing a `mprotect`, so that the thread's window
/// on it survives the call's synchronization point (`end_sync_grant`
/// keeps it if the thread may still write it afterwards): a lock kept in
/// a private object costs no protection change, one in a read-only object
/// none either.
pub fn grant_for_sync(t: (u32, &ThreadRecord), addrs: &[usize], words: bool) -> bool {
    let mut granted = false;
    for &a in addrs {
        if !crate::maybe_tracked(a) {
            continue;
        }
        let Some((id, o)) = registry::lookup(a) else {
            continue;
        };
        let aliased = words && registry::sync_alias(a).is_some();
        if aliased
            && (crate::auto::budget::is_parked(o) || !may_write_now(t, o) || parks_now(t.1, id, o))
        {
            continue;
        }
        if let Some(e) = open_count(id, o, Access::ReadWrite, !aliased) {
            if sync_grants(t.1).push(e) {
                granted = true;
            } else {
                close_entry(e);
            }
        }
    }
    granted
}

fn may_write_now(t: (u32, &ThreadRecord), o: &Object) -> bool {
    crate::domains::keys().is_some_and(|k| crate::access::access_allowed(k, t.0, t.1, o, true))
}

/// After the lock call: each lock-call window becomes a regular window if
/// the thread may now write its object (it holds the protecting lock), and
/// closes otherwise.
pub fn end_sync_grant(t: &ThreadRecord, may_write: impl Fn(&Object) -> bool) {
    editing(t, || {
        let grants = sync_grants(t);
        while let Some(e) = grants.pop() {
            if e == 0 {
                continue;
            }
            let (id, _, _) = entry_parts(e);
            let keep = registry::object(id).is_some_and(|o| o.is_live() && may_write(o))
                && regular(t).push(e);
            if !keep {
                close_entry(e);
            }
        }
    })
}

/// After `t` acquired `lock`, whose word has an alias: opens a window on
/// the object holding the word if the thread may write it now but had no
/// window on it (a lock in the object it protects), since the holder
/// usually goes on to use that object. A word without an alias gets the
/// same from the lock call's own window ([`end_sync_grant`]).
pub fn open_for_holder(t: (u32, &ThreadRecord), lock: usize) {
    if !crate::maybe_tracked(lock) || registry::sync_alias(lock).is_none() {
        return;
    }
    let Some((id, o)) = registry::lookup(lock) else {
        return;
    };
    if crate::auto::budget::is_parked(o) || suspended::is_suspended(id) {
        return;
    }
    if !covers(t.1, id, true)
        && may_write_now(t, o)
        && !parks_now(t.1, id, o)
        && !suspend_if_spent(t.1, id, o)
    {
        let timer = crate::auto::budget::Timer::start();
        open_from_thread(t.1, id, o, Access::ReadWrite);
        timer.charge(&t.1.auto_credit, false);
    }
}

/// A window about to open on a tracked object that is not watched: true
/// when the object is (or already was) suspended (see [`suspended`]), so
/// no window is needed.
pub fn suspends_now(t: &ThreadRecord, id: u32, o: &Object) -> bool {
    suspended::is_suspended(id) || suspend_if_spent(t, id, o)
}

/// A thread whose budget is spent (`mprotect_budget`) suspends the object
/// it would open a window on, unless it is watched (`auto` parks those).
/// True when this call suspended it.
fn suspend_if_spent(t: &ThreadRecord, id: u32, o: &Object) -> bool {
    !crate::auto::is_watched(o) && t.auto_credit.spent() && suspended::suspend(id, o)
}

/// Under `auto`, a window about to open on a watched object that is not
/// parked (a parked one needs none: it is open to every thread, see
/// `auto::budget`): a thread that has spent its fault budget parks it
/// instead. True when it parked.
fn parks_now(t: &ThreadRecord, id: u32, o: &Object) -> bool {
    crate::auto::is_watched(o)
        && crate::domains::keys()
            .is_some_and(|k| crate::auto::budget::park_if_spent(k, &t.auto_credit, (id, o)))
}

/// Whether object `id`'s window word lets every thread make this access
/// (a suspended object), with its pages protected accordingly.
pub fn open_to_all(id: u32, o: &Object, write: bool) -> bool {
    let prot = prot_for(id, o.key());
    let wanted = if write {
        libc::PROT_WRITE
    } else {
        libc::PROT_READ
    };
    prot & wanted != 0 && reprotect(id, o).is_ok()
}

/// The thread ends: every window it holds closes.
pub fn close_everything(t: &ThreadRecord) {
    if backend::is_mprotect() {
        close_regular(t);
        sync_grants(t).close_all();
        steps(t).close_all();
    }
}

/// A forked child: only the forking thread survives, so the windows the
/// parent's other threads held would keep their pages open for good. Every
/// window becomes void (the forking thread's too: it faults again) and
/// every page gets its base protection back.
pub fn after_fork_child() {
    if !backend::is_mprotect() {
        return;
    }
    for id in registry::used_ids() {
        if let Some(o) = registry::object(id).filter(|o| o.is_live()) {
            forget(id, o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let e = entry(123_456, 0x1_2345, Access::Read);
        assert_eq!(entry_parts(e), (123_456, 0x2345, Access::Read));
        let e = entry(7, 3, Access::ReadWrite);
        assert_eq!(entry_parts(e), (7, 3, Access::ReadWrite));
        assert_ne!(entry(0, 0, Access::ReadWrite), 0);
    }
}
