//! Observations of watched objects: the last few refused accesses of each,
//! kept so the next one can be compared with them.
//!
//! A fixed table of records, one per object at a time, found by the
//! object's id modulo its size (an object whose record another one took
//! loses its observations: a race may be missed, none invented). A record is locked
//! by the fault handler deciding for its object (a spin lock held for a
//! few hundred instructions, never across a system call that blocks), so
//! two threads faulting on one object decide one after the other.
//! Async-signal-safe: fixed memory, atomics, no allocation.

use crate::sys::FixedArray;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Observations kept per object.
pub const ENTRIES: usize = 4;
const RECORDS: usize = 1 << 16;
const LOCKED: u64 = 1 << 63;

/// One observed access.
#[derive(Default)]
pub struct Entry {
    /// Thread id + 1 (0: empty).
    thread: AtomicU32,
    /// Bit 0: a write; bit 1: an atomic read-modify-write.
    kind: AtomicU32,
    addr: AtomicUsize,
    /// The thread's epoch at the access (`registry::pack_epoch`).
    epoch: AtomicU64,
    /// The access's stack in the depot.
    stack: AtomicU32,
}

/// An observation, copied out of its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub thread: u32,
    pub write: bool,
    /// An atomic read-modify-write (see `insn`).
    pub atomic: bool,
    pub addr: usize,
    pub epoch: u64,
    pub stack: u32,
}

/// The observations of one object.
#[derive(Default)]
#[repr(align(64))]
pub struct Record {
    /// The object's id + 1 (0: free), with [`LOCKED`] while a handler decides.
    object: AtomicU64,
    /// Policy changes learned so far.
    transitions: AtomicU32,
    /// Where the next observation goes when no entry of the thread and
    /// address exists.
    next: AtomicU32,
    entries: [Entry; ENTRIES],
    /// Addresses of the object where an atomic read-modify-write was
    /// observed (the last [`ATOMIC_ADDRS`]; 0: none).
    atomic_addrs: [AtomicUsize; ATOMIC_ADDRS],
}

/// Atomic variables remembered per object.
pub const ATOMIC_ADDRS: usize = 2;

static RECORDS_TABLE: OnceLock<FixedArray<Record>> = OnceLock::new();

/// Reserves the table. Start-up only.
pub fn init() -> bool {
    RECORDS_TABLE.get().is_some()
        || FixedArray::<Record>::new(RECORDS)
            .is_some_and(|t| RECORDS_TABLE.set(t).is_ok() || RECORDS_TABLE.get().is_some())
}

/// Object ids are arena page numbers, handed out in order: taken modulo the
/// table's size they keep the records of objects allocated together
/// together (a program with a few thousand objects touches a few hundred
/// KiB of the table, not all 12 MiB) and give two live objects one record
/// only when their pages lie a multiple of 65,536 pages apart.
fn slot(id: u32) -> Option<&'static Record> {
    let t = RECORDS_TABLE.get()?;
    t.get(id as usize % RECORDS)
}

/// The record of object `id`, locked for the caller; it is emptied first
/// when it held another object. None before start-up.
pub fn lock(id: u32) -> Option<Locked> {
    let r = slot(id)?;
    let mine = u64::from(id) + 1;
    loop {
        let cur = r.object.load(Ordering::Acquire);
        if cur & LOCKED != 0 {
            core::hint::spin_loop();
            continue;
        }
        if r.object
            .compare_exchange_weak(cur, mine | LOCKED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            if cur != mine {
                clear(r);
            }
            return Some(Locked { r });
        }
    }
}

fn clear(r: &Record) {
    r.transitions.store(0, Ordering::Relaxed);
    r.next.store(0, Ordering::Relaxed);
    for e in &r.entries {
        e.thread.store(0, Ordering::Relaxed);
    }
    for a in &r.atomic_addrs {
        a.store(0, Ordering::Relaxed);
    }
}

/// Drops the observations of object `id` (freed, or freshly watched).
pub fn forget(id: u32) {
    let Some(r) = slot(id) else { return };
    if r.object.load(Ordering::Acquire) & !LOCKED != u64::from(id) + 1 {
        return;
    }
    if let Some(l) = lock(id) {
        clear(l.r);
        l.free();
    }
}

/// A record locked by the calling handler; unlocked on drop.
pub struct Locked {
    r: &'static Record,
}

impl Locked {
    /// Unlocks the record as a free one.
    fn free(self) {
        self.r.object.store(0, Ordering::Release);
        core::mem::forget(self);
    }

    /// The observations of threads other than `thread`.
    pub fn others(&self, thread: u32) -> impl Iterator<Item = Seen> + '_ {
        self.r.entries.iter().filter_map(move |e| {
            let t = e.thread.load(Ordering::Relaxed);
            (t != 0 && t != thread + 1).then(|| Seen {
                thread: t - 1,
                write: e.kind.load(Ordering::Relaxed) & 1 != 0,
                atomic: e.kind.load(Ordering::Relaxed) & 2 != 0,
                addr: e.addr.load(Ordering::Relaxed),
                epoch: e.epoch.load(Ordering::Relaxed),
                stack: e.stack.load(Ordering::Relaxed),
            })
        })
    }

    /// Records an observation: over this thread's earlier one at the same
    /// address (a write is kept over a later read of that thread), else in
    /// the next entry round-robin.
    pub fn note(&self, s: Seen) {
        let same = self.r.entries.iter().find(|e| {
            e.thread.load(Ordering::Relaxed) == s.thread + 1
                && e.addr.load(Ordering::Relaxed) == s.addr
        });
        let e = match same {
            Some(e) => {
                if !s.write && e.kind.load(Ordering::Relaxed) & 1 != 0 {
                    // Keep the write (the more useful side of a later race),
                    // at the newer epoch: both are the same thread's.
                    e.epoch.store(s.epoch, Ordering::Relaxed);
                    return;
                }
                e
            }
            None => {
                let i = self.r.next.fetch_add(1, Ordering::Relaxed) as usize % ENTRIES;
                &self.r.entries[i]
            }
        };
        e.thread.store(s.thread + 1, Ordering::Relaxed);
        e.kind.store(
            u32::from(s.write) | (u32::from(s.atomic) << 1),
            Ordering::Relaxed,
        );
        e.addr.store(s.addr, Ordering::Relaxed);
        e.epoch.store(s.epoch, Ordering::Relaxed);
        e.stack.store(s.stack, Ordering::Relaxed);
    }

    /// Remembers that `addr` was accessed by an atomic read-modify-write.
    pub fn note_atomic(&self, addr: usize) {
        let slots = &self.r.atomic_addrs;
        if self.is_atomic(addr) {
            return;
        }
        // Shift the older one out.
        for i in (1..ATOMIC_ADDRS).rev() {
            slots[i].store(slots[i - 1].load(Ordering::Relaxed), Ordering::Relaxed);
        }
        slots[0].store(addr, Ordering::Relaxed);
    }

    /// Whether an atomic read-modify-write was observed at `addr`: the
    /// address is then taken for an atomic variable, whose plain loads and
    /// stores (C11 atomic loads and release stores compile to `mov`) race
    /// with nothing.
    pub fn is_atomic(&self, addr: usize) -> bool {
        addr != 0
            && self
                .r
                .atomic_addrs
                .iter()
                .any(|a| a.load(Ordering::Relaxed) == addr)
    }

    /// Counts one more learned policy; returns the count.
    pub fn count_transition(&self) -> u32 {
        self.r.transitions.fetch_add(1, Ordering::Relaxed) + 1
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        let cur = self.r.object.load(Ordering::Relaxed);
        self.r.object.store(cur & !LOCKED, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(thread: u32, addr: usize, write: bool) -> Seen {
        Seen {
            thread,
            write,
            atomic: false,
            addr,
            epoch: 5,
            stack: 0,
        }
    }

    #[test]
    fn keeps_the_last_few_per_object_and_forgets_freed_ones() {
        assert!(init());
        let id = 4242;
        forget(id);
        {
            let l = lock(id).unwrap();
            assert_eq!(l.others(1).count(), 0);
            l.note(seen(1, 0x10, true));
            l.note(seen(1, 0x10, false));
            l.note(seen(2, 0x18, false));
            let others: Vec<Seen> = l.others(3).collect();
            assert_eq!(others.len(), 2);
            assert!(others.contains(&seen(1, 0x10, true)));
            assert_eq!(l.others(1).count(), 1);
            assert_eq!(l.count_transition(), 1);
        }
        {
            let l = lock(id).unwrap();
            assert_eq!(l.others(3).count(), 2, "kept across unlocks");
            for i in 0..10 {
                l.note(seen(5, 0x100 + i, true));
            }
            assert_eq!(l.others(1).count(), ENTRIES);
        }
        forget(id);
        let l = lock(id).unwrap();
        assert_eq!(l.others(9).count(), 0);
        assert_eq!(l.count_transition(), 1);
    }

    #[test]
    fn remembers_the_last_atomic_variables_until_forgotten() {
        assert!(init());
        let id = 4343;
        forget(id);
        {
            let l = lock(id).unwrap();
            assert!(!l.is_atomic(0x40));
            l.note_atomic(0x40);
            l.note_atomic(0x40);
            l.note_atomic(0x48);
            assert!(l.is_atomic(0x40) && l.is_atomic(0x48));
            l.note_atomic(0x50);
            assert!(!l.is_atomic(0x40), "only the last {ATOMIC_ADDRS} are kept");
            assert!(l.is_atomic(0x48) && l.is_atomic(0x50));
        }
        forget(id);
        let l = lock(id).unwrap();
        assert!(!l.is_atomic(0x50));
    }
}
