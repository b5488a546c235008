//! The locks a thread holds ([`HeldLock`] entries in its record): pushed and
//! popped by the owning thread only; others read them (reports, holder
//! lookups) with relaxed loads, which may be momentarily stale.

use super::{count, record, ThreadRecord, MAX_HELD, STATE_LIVE};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

/// A lock held by a thread: its address, whether exclusively, and the
/// recursion count.
#[derive(Default)]
pub struct HeldLock {
    pub addr: AtomicUsize,
    pub exclusive: AtomicBool,
    pub count: AtomicU32,
    /// The protection key of the objects this lock protects (0: none),
    /// cached at acquisition so PKRU updates need no lookup.
    pub key: AtomicU32,
    /// Where the program acquired it (a return address; kept for
    /// protecting locks only, 0 otherwise): reports name it.
    pub site: AtomicUsize,
}

impl ThreadRecord {
    /// Records an acquisition of `addr`. Owner thread only.
    #[inline]
    pub fn push_lock(&self, addr: usize, exclusive: bool, key: u32, site: usize) {
        let len = self.held_len.load(Ordering::Relaxed) as usize;
        for h in self.held[..len].iter().rev() {
            if h.addr.load(Ordering::Relaxed) == addr {
                // Only the owner writes its held array: no read-modify-write needed.
                h.count
                    .store(h.count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                return;
            }
        }
        if len == MAX_HELD {
            self.held_overflow.store(
                self.held_overflow.load(Ordering::Relaxed) + 1,
                Ordering::Relaxed,
            );
            return;
        }
        let h = &self.held[len];
        h.addr.store(addr, Ordering::Relaxed);
        h.exclusive.store(exclusive, Ordering::Relaxed);
        h.count.store(1, Ordering::Relaxed);
        h.key.store(key, Ordering::Relaxed);
        h.site.store(site, Ordering::Relaxed);
        self.held_len.store(len as u32 + 1, Ordering::Release);
    }

    /// Records a release of `addr`; returns the key cached for it and, when
    /// this release ends the hold, where it was acquired (see
    /// [`HeldLock::site`]; 0 otherwise). The key is 0 if the lock protects
    /// nothing or was not recorded as held. Owner thread only.
    #[inline]
    pub fn pop_lock(&self, addr: usize) -> (u32, usize) {
        let len = self.held_len.load(Ordering::Relaxed) as usize;
        for i in (0..len).rev() {
            let h = &self.held[i];
            if h.addr.load(Ordering::Relaxed) != addr {
                continue;
            }
            let key = h.key.load(Ordering::Relaxed);
            let site = h.site.load(Ordering::Relaxed);
            let count = h.count.load(Ordering::Relaxed);
            if count > 1 {
                h.count.store(count - 1, Ordering::Relaxed);
                return (key, 0);
            }
            for j in i..len - 1 {
                let (dst, src) = (&self.held[j], &self.held[j + 1]);
                dst.addr
                    .store(src.addr.load(Ordering::Relaxed), Ordering::Relaxed);
                dst.exclusive
                    .store(src.exclusive.load(Ordering::Relaxed), Ordering::Relaxed);
                dst.count
                    .store(src.count.load(Ordering::Relaxed), Ordering::Relaxed);
                dst.key
                    .store(src.key.load(Ordering::Relaxed), Ordering::Relaxed);
                dst.site
                    .store(src.site.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            self.held_len.store(len as u32 - 1, Ordering::Release);
            return (key, site);
        }
        let overflow = self.held_overflow.load(Ordering::Relaxed);
        if overflow > 0 {
            self.held_overflow.store(overflow - 1, Ordering::Relaxed);
        }
        (0, 0)
    }

    /// How this thread holds `addr`: Some(true) exclusively, Some(false) shared.
    pub fn holds(&self, addr: usize) -> Option<bool> {
        let len = self.held_len.load(Ordering::Acquire) as usize;
        self.held[..len.min(MAX_HELD)]
            .iter()
            .find(|h| h.addr.load(Ordering::Relaxed) == addr)
            .map(|h| h.exclusive.load(Ordering::Relaxed))
    }

    /// Where the thread acquired `addr` (0 when not kept), if it holds it.
    pub fn held_site(&self, addr: usize) -> Option<usize> {
        let len = self.held_len.load(Ordering::Acquire) as usize;
        self.held[..len.min(MAX_HELD)]
            .iter()
            .find(|h| h.addr.load(Ordering::Relaxed) == addr)
            .map(|h| h.site.load(Ordering::Relaxed))
    }

    pub fn overflowed(&self) -> bool {
        self.held_overflow.load(Ordering::Relaxed) > 0
    }
}

/// Threads currently holding `lock` (at most `out.len()`), with where
/// each acquired it, for reports.
pub fn holders_of(lock: usize, out: &mut [u32], sites: &mut [usize]) -> usize {
    let mut n = 0;
    for id in 0..count() {
        if n == out.len().min(sites.len()) {
            break;
        }
        if let Some(r) = record(id) {
            if r.state.load(Ordering::Relaxed) == STATE_LIVE {
                if let Some(site) = r.held_site(lock) {
                    out[n] = id;
                    sites[n] = site;
                    n += 1;
                }
            }
        }
    }
    n
}
