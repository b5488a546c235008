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
//! Model: every object has a window word (`state`): read-write and
//! read-only window counts (bits 0-15, 16-31), an incarnation bumped when
//! the object is freed (32-47), and a version bumped by every change
//! (48-63) (a window of a freed object
//! must not close its slot's next object). The page protection is a
//! function of the word and the object's key ([`prot_of`]). Whoever changes
//! the word re-applies the protection until it has applied it for the
//! latest version ([`reprotect`]): no lock, and the last `mprotect` always
//! matches the last state, so concurrent openers and closers cannot leave a
//! page closed under an open window or open with none.
//!
//! Each thread keeps the windows it opened in its record: `windows`
//! (closed at its next synchronization), `sync_grants` (lock calls) and
//! `steps` (single-stepped accesses, closed by the trap handler).
//! Everything here is allocation-free and async-signal-safe: atomics and
//! `mprotect`. Entries are pushed by the thread or by its own signal
//! handler, and popped only by the thread (or the trap handler for steps),
//! so a push interrupting a pop is the only interleaving; pops take entries
//! with `swap` so none is closed twice.

mod thread_lists;

use crate::backend;
use crate::registry::{self, Object};
use crate::sys::FixedArray;
use crate::threads::ThreadRecord;
use core::cell::Cell;
use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use thread_lists::{regular, steps, sync_grants};

const RW_UNIT: u64 = 1;
const R_UNIT: u64 = 1 << 16;
const COUNT_MASK: u64 = 0xffff;
/// The version sits in the top bits, so that its wrap-around falls off the
/// word instead of carrying into the incarnation.
const VERSION_UNIT: u64 = 1 << 48;
const INCARNATION_SHIFT: u32 = 32;
const INCARNATION_MASK: u64 = 0x7fff;
/// Bit 47: someone is applying the word's protection. Held around the read
/// of the word and its `mprotect`, so that a protection computed from an
/// older state is never applied after a newer one: a thread that has opened
/// a lock word for a `futex` call must not see it closed again meanwhile
/// (the kernel would fail the call with EFAULT, and glibc aborts).
const APPLYING: u64 = 1 << 47;
/// Spins before a re-protection goes ahead without [`APPLYING`]: only a
/// signal handler that interrupted its own thread's re-protection of the
/// same object waits that long, and it must not wait forever.
const APPLYING_SPINS: u32 = 1 << 20;

pub use crate::limits::{MAX_STEPS, MAX_SYNC_GRANTS, MAX_WINDOWS};

static STATE: OnceLock<FixedArray<AtomicU64>> = OnceLock::new();

/// Reserves the window words (one per possible object id). Lazily backed.
pub fn init() -> bool {
    if STATE.get().is_some() {
        return true;
    }
    match FixedArray::<AtomicU64>::new(registry::MAX_IDS) {
        Some(a) => STATE.set(a).is_ok(),
        None => false,
    }
}

fn word(id: u32) -> Option<&'static AtomicU64> {
    STATE.get()?.get(id as usize)
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

/// The protection of a page with `key` and window word `w`.
pub fn prot_of(w: u64, key: u32) -> i32 {
    let readonly = crate::domains::keys().map_or(u32::MAX, |k| k.readonly);
    let base = backend::base_prot(key, readonly);
    if w & COUNT_MASK != 0 {
        libc::PROT_READ | libc::PROT_WRITE
    } else if (w >> 16) & COUNT_MASK != 0 {
        base | libc::PROT_READ
    } else {
        base
    }
}

/// The protection object `id` with `key` should have now.
pub fn prot_for(id: u32, key: u32) -> i32 {
    prot_of(word(id).map_or(0, |w| w.load(Ordering::Acquire)), key)
}

/// Applies the protection the object's window word and key call for, again
/// until no change came in between. Async-signal-safe.
pub fn reprotect(id: u32, o: &Object) -> Result<(), i32> {
    let Some(w) = word(id) else {
        return Err(libc::EINVAL);
    };
    let (start, span) = (o.page_start(), o.span());
    if start == 0 || span == 0 {
        return Err(libc::EINVAL);
    }
    loop {
        // A signal handler that interrupted this thread's own re-protection
        // of this object would wait for the APPLYING bit it holds itself.
        let interrupted_own = APPLYING_HERE.try_with(Cell::get) == Ok(id + 1);
        let held = !interrupted_own && take_applying(w);
        if held {
            let _ = APPLYING_HERE.try_with(|a| a.set(id + 1));
        }
        let s = w.load(Ordering::Acquire) & !APPLYING;
        let key = o.key();
        let r = backend::protect(start, span, key, prot_of(s, key));
        if held {
            let _ = APPLYING_HERE.try_with(|a| a.set(0));
            w.fetch_and(!APPLYING, Ordering::AcqRel);
        }
        r?;
        if w.load(Ordering::Acquire) & !APPLYING == s && o.key() == key {
            return Ok(());
        }
    }
}

thread_local! {
    /// The object (id + 1) whose APPLYING bit this thread holds, 0 none.
    static APPLYING_HERE: Cell<u32> = const { Cell::new(0) };
}

/// Takes [`APPLYING`]; false if it gave up after [`APPLYING_SPINS`].
fn take_applying(w: &AtomicU64) -> bool {
    for _ in 0..APPLYING_SPINS {
        let cur = w.load(Ordering::Relaxed);
        if cur & APPLYING == 0
            && w.compare_exchange_weak(cur, cur | APPLYING, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

/// [`reprotect`], plus the page of `addr` when it lies outside the object's
/// current span (a large object shrunk in place keeps its old tail pages in
/// the lookup): a covered fault there must not fault again forever.
pub fn reprotect_at(id: u32, o: &Object, addr: usize) -> Result<(), i32> {
    reprotect(id, o)?;
    let (start, span) = (o.page_start(), o.span());
    let page = addr & !(crate::sys::PAGE - 1);
    if page < start || page >= start + span {
        let w = word(id).map_or(0, |w| w.load(Ordering::Acquire));
        backend::protect(page, crate::sys::PAGE, o.key(), prot_of(w, o.key()))?;
    }
    Ok(())
}

/// Bumps the version of `id`'s window word (a key change): concurrent
/// re-protections notice and apply again.
pub fn touch(id: u32) {
    if let Some(w) = word(id) {
        w.fetch_add(VERSION_UNIT, Ordering::AcqRel);
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
        close_regular(t);
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

/// Before a lock call on words in tracked objects: opens each object for
/// the call. Returns whether anything was opened.
pub fn grant_for_sync(t: &ThreadRecord, addrs: &[usize]) -> bool {
    let mut granted = false;
    for &a in addrs {
        if !crate::maybe_tracked(a) {
            continue;
        }
        let Some((id, o)) = registry::lookup(a) else {
            continue;
        };
        if let Some(e) = open_count(id, o, Access::ReadWrite, true) {
            if sync_grants(t).push(e) {
                granted = true;
            } else {
                close_entry(e);
            }
        }
    }
    granted
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

/// The thread ends: every window it holds closes.
pub fn close_everything(t: &ThreadRecord) {
    if backend::is_mprotect() {
        close_regular(t);
        sync_grants(t).close_all();
        steps(t).close_all();
    }
}

/// The object is being freed: its windows are void (the thread lists'
/// entries no longer match its incarnation) and its pages close.
pub fn forget(id: u32, o: &Object) {
    let Some(w) = word(id) else { return };
    let mut cur = w.load(Ordering::Acquire);
    loop {
        let inc = ((cur >> INCARNATION_SHIFT) + 1) & INCARNATION_MASK;
        let new = (inc << INCARNATION_SHIFT)
            | (cur & APPLYING)
            | (cur & !(VERSION_UNIT - 1)).wrapping_add(VERSION_UNIT);
        match w.compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(v) => cur = v,
        }
    }
    if cur & (COUNT_MASK | (COUNT_MASK << 16)) != 0 {
        let _ = reprotect(id, o);
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
    fn protection_follows_the_counts() {
        // No keys allocated in a unit test: key 0 is read-write, others closed.
        assert_eq!(prot_of(0, 0), libc::PROT_READ | libc::PROT_WRITE);
        assert_eq!(prot_of(0, 5), libc::PROT_NONE);
        assert_eq!(prot_of(R_UNIT, 5), libc::PROT_READ);
        assert_eq!(
            prot_of(RW_UNIT + R_UNIT, 5),
            libc::PROT_READ | libc::PROT_WRITE
        );
        assert_eq!(prot_of(VERSION_UNIT * 7, 5), libc::PROT_NONE);
    }

    #[test]
    fn the_version_wraps_without_touching_the_incarnation() {
        let w = AtomicU64::new((7 << INCARNATION_SHIFT) | (0xffff * VERSION_UNIT));
        w.fetch_add(RW_UNIT.wrapping_add(VERSION_UNIT), Ordering::AcqRel);
        let v = w.load(Ordering::Relaxed);
        assert_eq!((v >> INCARNATION_SHIFT) & INCARNATION_MASK, 7);
        assert_eq!(v & COUNT_MASK, 1);
        assert_eq!(prot_of(v, 5), libc::PROT_READ | libc::PROT_WRITE);
    }

    #[test]
    fn entries_round_trip() {
        let e = entry(123_456, 0x1_2345, Access::Read);
        assert_eq!(entry_parts(e), (123_456, 0x2345, Access::Read));
        let e = entry(7, 3, Access::ReadWrite);
        assert_eq!(entry_parts(e), (7, 3, Access::ReadWrite));
        assert_ne!(entry(0, 0, Access::ReadWrite), 0);
    }
}
