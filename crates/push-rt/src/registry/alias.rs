//! A second address for every lock word in a packed object.
//!
//! A lock word inside a tracked object carries the object's key (or, under
//! `mprotect`, its page protection): a lock call on it used to need every
//! key open, or the object's pages opened, for the library's code and the
//! kernel's futex. Packed objects live in a memfd, so the whole file is
//! mapped once more, read-write under key 0, in the *alias range*; the
//! lock hooks give the C library a word's alias (same physical bytes)
//! instead of its address, and need no grant whatever the object's
//! policy: a lock word in a read-only lock table, or in the object it
//! protects, then costs what a lock word in untracked memory costs.
//!
//! The one rule that keeps this correct: private futexes are keyed by
//! virtual address, so every call on one synchronization object must use
//! the same address, or a waiter is never woken. [`sync_alias`] depends
//! only on the address (a page of a packed chunk always has its alias,
//! from the chunk's creation on), never on the policy, the thread or the
//! backend, and every hook that hands a synchronization object to the C
//! library translates it.
//!
//! Large objects below 128 KiB (a lock table of up to ~3000 mutexes) get
//! pages of the same file when their pages are first handed out, so their
//! words have an alias too; larger ones stay anonymous memory (they give
//! their pages back to the kernel when freed, and may use huge pages), as
//! do globals: their lock words take the grant paths.
//!
//! Program code never sees an alias address, so the alias range cannot
//! hide an access of the program's.

use super::alloc::AllocState;
use super::table::{Tables, ARENA_PAGES, ARENA_SIZE, TABLES};
use crate::sys::{self, PAGE};
use core::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of the alias range: each page of the file backs at least one
/// arena page, so the file never holds more pages than the arena.
const ALIAS_SIZE: usize = ARENA_SIZE;

static ALIAS_BASE: AtomicUsize = AtomicUsize::new(0);

/// Maps the file pages `file_page..file_page + region_pages` of `fd` into
/// the alias range and records, for each page of the chunk's `slots`
/// regions from arena page `start`, which file page it maps. Called with
/// the allocator held, before any slot of the chunk is handed out. False
/// if the alias could not be made (the chunk's lock words then take the
/// grant paths).
pub(super) fn map_chunk(
    t: &Tables,
    fd: i32,
    file_page: usize,
    region_pages: usize,
    start: usize,
    slots: usize,
) -> bool {
    if ALIAS_BASE.load(Ordering::Acquire) == 0 {
        let Some(base) = sys::reserve_alias(ALIAS_SIZE) else {
            return false;
        };
        // The reservation, and the file's run inside it.
        crate::maps::add(2);
        ALIAS_BASE.store(base, Ordering::Release);
    }
    if !sys::alias_map_shared(fd, file_page * PAGE, region_pages * PAGE) {
        return false;
    }
    for s in 0..slots {
        for p in 0..region_pages {
            if let Some(e) = t.file_pages.get(start + s * region_pages + p) {
                e.store((file_page + p + 1) as u32, Ordering::Release);
            }
        }
    }
    true
}

/// Backs the fresh arena pages `page..page + npages` of a large object
/// (below `DISCARD_MIN`: its pages are never given back to the kernel,
/// only reused by the next object of that size) with new pages of the
/// memfd, and maps them into the alias range. Called with the allocator
/// held, before the object is handed out. On failure the pages stay
/// anonymous memory (their lock words take the grant paths).
pub(super) fn back_large(t: &Tables, st: &mut AllocState, page: usize, npages: usize) {
    let Some(fd) = super::alloc::memfd() else {
        return;
    };
    let file_page = st.file_pages;
    if !sys::ftruncate(fd, (file_page + npages) * PAGE) {
        return;
    }
    st.file_pages += npages;
    if !super::alloc::map_region(fd, t.arena + page * PAGE, npages, file_page) {
        return;
    }
    // The mapping splits the arena's.
    crate::maps::add(2);
    st.file_backed.push((page, npages, file_page));
    map_chunk(t, fd, file_page, npages, page, 1);
}

/// In a fork child: maps the child's copy of the file over the alias range,
/// so lock words stay its own. False if the kernel refused.
pub(super) fn remap(fd: i32, file_pages: usize) -> bool {
    ALIAS_BASE.load(Ordering::Acquire) == 0
        || file_pages == 0
        || sys::alias_map_shared(fd, 0, file_pages * PAGE)
}

/// The alias of `addr`, if it lies in a packed object's page: the address
/// every synchronization call on the word at `addr` must be given.
/// Lock-free, allocation-free; depends only on the address.
#[inline]
pub fn sync_alias(addr: usize) -> Option<usize> {
    let t = TABLES.get()?;
    let off = addr.wrapping_sub(t.arena);
    if off >= ARENA_SIZE {
        return None;
    }
    let page = off / PAGE;
    debug_assert!(page < ARENA_PAGES);
    let file_page = t.file_pages.get(page)?.load(Ordering::Acquire) as usize;
    if file_page == 0 {
        return None;
    }
    let base = ALIAS_BASE.load(Ordering::Relaxed);
    Some(base + (file_page - 1) * PAGE + off % PAGE)
}
