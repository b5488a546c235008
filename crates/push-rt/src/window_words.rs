//! Each tracked object's window word under the `mprotect` backend, and the
//! page protection it calls for.
//!
//! Model: every object has a window word: read-write and read-only window
//! counts (bits 0-15, 16-31), an incarnation bumped when the object is
//! freed (32-47), and a version bumped by every change (48-63) (a window
//! of a freed object must not close its slot's next object). The page
//! protection is a function of the word and the object's key
//! ([`prot_of`]). Whoever changes the word re-applies the protection until
//! it has applied it for the latest version ([`reprotect`]): no lock, and
//! the last `mprotect` always matches the last state, so concurrent openers
//! and closers cannot leave a page closed under an open window or open with
//! none.
//!
//! Key changes (`registry`) and windows opening and closing (`windows`,
//! which keeps each thread's list of the windows it opened) both go through
//! here. An object is seen through [`ObjectPages`] (its pages and its key),
//! which `registry::Object` implements. Allocation-free and
//! async-signal-safe: atomics and `mprotect`.

use crate::backend;
use crate::sys::FixedArray;
use core::cell::Cell;
use core::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

pub(crate) const RW_UNIT: u64 = 1;
pub(crate) const R_UNIT: u64 = 1 << 16;
pub(crate) const COUNT_MASK: u64 = 0xffff;
/// The version sits in the top bits, so that its wrap-around falls off the
/// word instead of carrying into the incarnation.
pub(crate) const VERSION_UNIT: u64 = 1 << 48;
pub(crate) const INCARNATION_SHIFT: u32 = 32;
pub(crate) const INCARNATION_MASK: u64 = 0x7fff;
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

/// What the protection of an object needs to know of it.
pub trait ObjectPages {
    /// The first page of the object's span.
    fn page_start(&self) -> usize;
    /// The bytes of its pages.
    fn span(&self) -> usize;
    /// The key its pages carry.
    fn key(&self) -> u32;
}

static STATE: OnceLock<FixedArray<AtomicU64>> = OnceLock::new();

/// Reserves the window words (one per possible object id, `max_ids`).
/// Lazily backed.
pub fn init(max_ids: usize) -> bool {
    if STATE.get().is_some() {
        return true;
    }
    match FixedArray::<AtomicU64>::new(max_ids) {
        Some(a) => STATE.set(a).is_ok(),
        None => false,
    }
}

pub(crate) fn word(id: u32) -> Option<&'static AtomicU64> {
    STATE.get()?.get(id as usize)
}

/// The protection of a page with `key` and window word `w`.
pub fn prot_of(w: u64, key: u32) -> i32 {
    let base = backend::base_prot(key, backend::readonly_key());
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
pub fn reprotect(id: u32, o: &impl ObjectPages) -> Result<(), i32> {
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
pub fn reprotect_at(id: u32, o: &impl ObjectPages, addr: usize) -> Result<(), i32> {
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

/// The object is being freed: its windows are void (the thread lists'
/// entries no longer match its incarnation) and its pages close.
pub fn forget(id: u32, o: &impl ObjectPages) {
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
}
