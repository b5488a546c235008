//! Which addresses carry a synchronization clock, by memory page, so that
//! freeing memory drops the clocks of the locks inside it.
//!
//! Programs often free a struct with its mutex or condvar inside without
//! destroying them first. Their clocks would then stay forever (memory that
//! grows with every such object) and a new lock later allocated at the same
//! address would inherit the old one's clock (an edge that never happened,
//! which can hide a race). Every clock the runtime creates is noted here;
//! `free` of an untracked block, and of a tracked object, asks which noted
//! addresses fall inside the freed bytes and forgets their clocks.
//!
//! Cost: a `free` checks one filter bit per page of the block (a hashed
//! bitmap, lock-free); only pages that ever held a clock go on to the
//! page's list, under a per-shard futex lock. Ordinary context only (the
//! hooks, never the signal handler).

use crate::sys::FutexMutex;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::collections::HashMap;

const PAGE_SHIFT: usize = 12;
const FILTER_BITS: usize = 1 << 20;
const SHARDS: usize = 64;
/// Above this many pages, a freed block is matched against the lists
/// instead of page by page.
const PAGE_WALK_LIMIT: usize = 1 << 14;

static FILTER: [AtomicU64; FILTER_BITS / 64] = [const { AtomicU64::new(0) }; FILTER_BITS / 64];
/// Whether any clock was ever noted: until then `free` costs one load.
static ANY: AtomicBool = AtomicBool::new(false);

type Pages = HashMap<usize, Vec<usize>>;
static PAGES: [FutexMutex<Option<Pages>>; SHARDS] = [const { FutexMutex::new(None) }; SHARDS];

fn filter_bit(page: usize) -> (usize, u64) {
    let h = page.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 20;
    let bit = h & (FILTER_BITS - 1);
    (bit / 64, 1u64 << (bit % 64))
}

fn shard(page: usize) -> &'static FutexMutex<Option<Pages>> {
    &PAGES[page % SHARDS]
}

/// A clock now exists for `addr`.
pub fn note(addr: usize) {
    let page = addr >> PAGE_SHIFT;
    shard(page)
        .lock()
        .get_or_insert_with(Pages::default)
        .entry(page)
        .or_default()
        .push(addr);
    let (word, mask) = filter_bit(page);
    FILTER[word].fetch_or(mask, Ordering::Release);
    if !ANY.load(Ordering::Relaxed) {
        ANY.store(true, Ordering::Release);
    }
}

/// The clock of `addr` is gone (its lock was destroyed).
pub fn unnote(addr: usize) {
    let page = addr >> PAGE_SHIFT;
    let mut g = shard(page).lock();
    let Some(pages) = g.as_mut() else {
        return;
    };
    if let Some(list) = pages.get_mut(&page) {
        list.retain(|&a| a != addr);
        if list.is_empty() {
            pages.remove(&page);
        }
    }
}

/// Whether a freed block is worth sizing: some clock was ever noted.
#[inline]
pub fn any() -> bool {
    ANY.load(Ordering::Relaxed)
}

/// Takes out the noted addresses in `[start, start + len)` and passes each
/// to `forget` (called with no lock of this module held).
pub fn take_range(start: usize, len: usize, mut forget: impl FnMut(usize)) {
    if len == 0 || !any() {
        return;
    }
    let end = start.saturating_add(len);
    let (first, last) = (start >> PAGE_SHIFT, (end - 1) >> PAGE_SHIFT);
    let mut found: Vec<usize> = Vec::new();
    let take_page = |pages: &mut Pages, page: usize, found: &mut Vec<usize>| {
        if let Some(list) = pages.get_mut(&page) {
            list.retain(|&a| {
                let inside = a >= start && a < end;
                if inside {
                    found.push(a);
                }
                !inside
            });
            if list.is_empty() {
                pages.remove(&page);
            }
        }
    };
    if last - first < PAGE_WALK_LIMIT {
        for page in first..=last {
            let (word, mask) = filter_bit(page);
            if FILTER[word].load(Ordering::Acquire) & mask == 0 {
                continue;
            }
            if let Some(pages) = shard(page).lock().as_mut() {
                take_page(pages, page, &mut found);
            }
        }
    } else {
        for s in &PAGES {
            if let Some(pages) = s.lock().as_mut() {
                let inside: Vec<usize> = pages
                    .keys()
                    .copied()
                    .filter(|p| (first..=last).contains(p))
                    .collect();
                for page in inside {
                    take_page(pages, page, &mut found);
                }
            }
        }
    }
    for a in found {
        forget(a);
    }
}

/// Noted addresses (for `verbose` statistics and tests).
pub fn count() -> usize {
    PAGES
        .iter()
        .map(|s| {
            s.lock()
                .as_ref()
                .map_or(0, |p| p.values().map(Vec::len).sum())
        })
        .sum()
}

/// Before `fork`: hold every shard so the child gets them free.
pub fn before_fork() {
    crate::sys::lock_all_for_fork(&PAGES);
}

/// After `fork`, in parent and child.
pub fn after_fork() {
    crate::sys::unlock_all_after_fork(&PAGES);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_range_takes_exactly_the_addresses_inside_it() {
        let base = 0x7000_0000_0000usize;
        for a in [base + 8, base + 4096 + 16, base + 3 * 4096, base + 9000] {
            note(a);
        }
        let mut got = Vec::new();
        take_range(base + 8, 4096 + 9, |a| got.push(a));
        got.sort();
        assert_eq!(got, vec![base + 8, base + 4096 + 16]);
        // Taken once only.
        take_range(base, 4 * 4096, |a| got.push(a));
        got.sort();
        assert_eq!(
            got,
            vec![base + 8, base + 4096 + 16, base + 9000, base + 3 * 4096]
        );
        let mut none = Vec::new();
        take_range(base, 4 * 4096, |a| none.push(a));
        assert!(none.is_empty());
    }

    #[test]
    fn unnoted_addresses_are_not_taken_and_huge_ranges_use_the_lists() {
        let base = 0x6000_0000_0000usize;
        note(base + 64);
        note(base + 128);
        unnote(base + 64);
        let mut got = Vec::new();
        take_range(base, (PAGE_WALK_LIMIT + 10) << PAGE_SHIFT, |a| got.push(a));
        assert_eq!(got, vec![base + 128]);
    }
}
