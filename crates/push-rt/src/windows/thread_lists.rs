//! The window lists a thread keeps in its record (`windows`, `sync_grants`,
//! `steps`): lock-free stacks of entries, pushed by the thread or its own
//! signal handler and popped only by the thread.

use super::{close_entry, entry_parts, Access};
use crate::threads::ThreadRecord;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// A stack of entries in a thread's record (see the module doc for the
/// interleavings it allows).
pub(super) struct List<'a> {
    pub(super) slots: &'a [AtomicU64],
    pub(super) len: &'a AtomicU32,
}

impl List<'_> {
    pub(super) fn push(&self, e: u64) -> bool {
        let i = self.len.fetch_add(1, Ordering::AcqRel) as usize;
        match self.slots.get(i) {
            Some(s) => {
                s.store(e, Ordering::Release);
                true
            }
            None => {
                self.len.fetch_sub(1, Ordering::AcqRel);
                false
            }
        }
    }

    /// Takes the top entry (0 for a slot already taken); None when empty.
    pub(super) fn pop(&self) -> Option<u64> {
        loop {
            let n = self.len.load(Ordering::Acquire);
            if n == 0 {
                return None;
            }
            let e = self
                .slots
                .get(n as usize - 1)
                .map_or(0, |s| s.swap(0, Ordering::AcqRel));
            if self
                .len
                .compare_exchange(n, n - 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Some(e);
            }
            // A signal handler pushed meanwhile: put back what we took
            // (its slot is below the new top, so it is taken again later).
            if e != 0 {
                if let Some(s) = self.slots.get(n as usize - 1) {
                    s.store(e, Ordering::Release);
                }
            }
        }
    }

    /// Whether the list holds a live window (of the object's current
    /// incarnation) on `id` that allows this access.
    pub(super) fn contains(&self, id: u32, incarnation: u64, write: bool) -> bool {
        let n = (self.len.load(Ordering::Acquire) as usize).min(self.slots.len());
        self.slots[..n].iter().any(|s| {
            let e = s.load(Ordering::Acquire);
            let (eid, inc, access) = entry_parts(e);
            e != 0 && eid == id && inc == incarnation && (!write || access == Access::ReadWrite)
        })
    }

    /// Closes the older half of the entries and moves the newer half
    /// down. Only from the thread's own fault handler when it did not
    /// interrupt an edit of the list (the thread's `closing_windows` flag is
    /// clear): nothing else changes the list meanwhile.
    pub(super) fn close_older_half(&self) {
        let n = (self.len.load(Ordering::Acquire) as usize).min(self.slots.len());
        let half = n / 2;
        for s in &self.slots[..half] {
            let e = s.swap(0, Ordering::AcqRel);
            if e != 0 {
                close_entry(e);
            }
        }
        for i in half..n {
            let e = self.slots[i].swap(0, Ordering::AcqRel);
            self.slots[i - half].store(e, Ordering::Release);
        }
        self.len.store((n - half) as u32, Ordering::Release);
    }

    pub(super) fn close_all(&self) {
        while let Some(e) = self.pop() {
            if e != 0 {
                close_entry(e);
            }
        }
    }
}

pub(super) fn regular(t: &ThreadRecord) -> List<'_> {
    List {
        slots: &t.windows,
        len: &t.nwindows,
    }
}

pub(super) fn sync_grants(t: &ThreadRecord) -> List<'_> {
    List {
        slots: &t.sync_grants,
        len: &t.nsync_grants,
    }
}

pub(super) fn steps(t: &ThreadRecord) -> List<'_> {
    List {
        slots: &t.steps,
        len: &t.nsteps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_push_pop_and_overflow() {
        let slots: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
        let len = AtomicU32::new(0);
        let l = List {
            slots: &slots,
            len: &len,
        };
        assert!(l.push(11));
        assert!(l.push(22));
        assert!(!l.push(33), "full");
        assert_eq!(l.pop(), Some(22));
        assert_eq!(l.pop(), Some(11));
        assert_eq!(l.pop(), None);
    }

    #[test]
    fn the_older_half_goes_first() {
        let slots: [AtomicU64; 5] = Default::default();
        let len = AtomicU32::new(0);
        let l = List {
            slots: &slots,
            len: &len,
        };
        // Zero entries are slots already taken: closing them does nothing.
        for e in [0, 0, 0, 0, 0] {
            assert!(l.push(e));
        }
        slots[3].store(44, Ordering::Relaxed);
        slots[4].store(55, Ordering::Relaxed);
        l.close_older_half();
        assert_eq!(len.load(Ordering::Relaxed), 3);
        assert_eq!(l.pop(), Some(55));
        assert_eq!(l.pop(), Some(44));
        assert_eq!(l.pop(), Some(0));
        assert_eq!(l.pop(), None);
    }
}
