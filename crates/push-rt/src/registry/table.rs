//! The arena and the id space, the tables indexed by id, and the lookups.
//!
//! The arena is one reserved range of [`ARENA_SIZE`] bytes; an object's id
//! is the number of its first arena page, and its [`Object`] sits at that
//! index of one table. Each later page of a large object names its first
//! page in `heads`, so a lookup is one load (two inside a large object).
//! Registered globals (page-aligned and padded by `PUSH_GLOBAL`, in the
//! application's own `.bss`) are found through a short range list; their
//! ids follow the arena's pages, from `GLOBAL_BASE`.
//!
//! Everything here is lock-free and allocation-free: the fault handler and
//! the hooks use it.

use super::object::{bits, Object};
use crate::sys::{self, FixedArray, PAGE};
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::OnceLock;

pub const ARENA_SIZE: usize = 1 << 37;
pub const ARENA_PAGES: usize = ARENA_SIZE / PAGE;
pub(super) const MAX_GLOBALS: usize = 4096;
/// Ids of globals start here.
pub(super) const GLOBAL_BASE: usize = ARENA_PAGES;
/// Object ids are below this.
pub const MAX_IDS: usize = GLOBAL_BASE + MAX_GLOBALS;

pub(super) struct Tables {
    /// The arena's first byte.
    pub(super) arena: usize,
    /// By id: arena pages, then globals.
    pub(super) objects: FixedArray<Object>,
    /// For each page of a large object after its first: the object's id.
    pub(super) heads: FixedArray<AtomicU32>,
    /// For each page of a packed chunk: its page of the memfd, plus one
    /// (0: not a packed page). See `alias`.
    pub(super) file_pages: FixedArray<AtomicU32>,
    /// Start and end of each registered global's pages.
    pub(super) globals: FixedArray<[AtomicUsize; 2]>,
    /// Globals registered so far.
    pub(super) nglobals: AtomicUsize,
}

pub(super) static TABLES: OnceLock<Tables> = OnceLock::new();

/// The next arena page never handed out (the allocator stores it each time
/// it hands out more): ids below it may be in use.
pub(super) static NEXT_PAGE: AtomicU32 = AtomicU32::new(1);

pub fn init() -> bool {
    if TABLES.get().is_some() {
        return true;
    }
    let Some(arena) = sys::reserve_arena(ARENA_SIZE) else {
        return false;
    };
    let tables = (
        FixedArray::<Object>::new(ARENA_PAGES + MAX_GLOBALS),
        FixedArray::<AtomicU32>::new(ARENA_PAGES),
        FixedArray::<AtomicU32>::new(ARENA_PAGES),
        FixedArray::<[AtomicUsize; 2]>::new(MAX_GLOBALS),
    );
    let (Some(objects), Some(heads), Some(file_pages), Some(globals)) = tables else {
        return false;
    };
    let _ = TABLES.set(Tables {
        arena,
        objects,
        heads,
        file_pages,
        globals,
        nglobals: AtomicUsize::new(0),
    });
    true
}

/// Ids `scan_id(0..scan_len())` cover every object (for the rehash scan).
pub fn scan_len() -> u32 {
    let n = TABLES
        .get()
        .map_or(0, |t| t.nglobals.load(Ordering::Acquire));
    NEXT_PAGE.load(Ordering::Relaxed) + n as u32
}

pub fn scan_id(i: u32) -> u32 {
    let pages = NEXT_PAGE.load(Ordering::Relaxed);
    if i < pages {
        i
    } else {
        (GLOBAL_BASE as u32).wrapping_add(i - pages)
    }
}

/// The live object with this id.
pub fn object(id: u32) -> Option<&'static Object> {
    let o = TABLES.get()?.objects.get(id as usize)?;
    let s = o.state();
    (s & bits::LIVE != 0).then_some(o)
}

/// Whether `addr` lies in the heap arena (a cheap pre-check for hooks).
#[inline]
pub fn in_arena(addr: usize) -> bool {
    TABLES
        .get()
        .is_some_and(|t| addr.wrapping_sub(t.arena) < ARENA_SIZE)
}

/// The number of the arena page holding `addr`, if it is in the arena.
#[inline]
pub fn arena_page(addr: usize) -> Option<usize> {
    let off = addr.wrapping_sub(TABLES.get()?.arena);
    (off < ARENA_SIZE).then_some(off / PAGE)
}

/// Starts loading what [`lookup`] of `addr` will read, so that its cache
/// misses overlap with other work.
#[inline]
pub fn prefetch_lookup(addr: usize) {
    let Some(t) = TABLES.get() else { return };
    let off = addr.wrapping_sub(t.arena);
    if off < ARENA_SIZE {
        let page = off / PAGE;
        if let Some(h) = t.heads.get(page) {
            sys::prefetch(h);
        }
        if let Some(o) = t.objects.get(page) {
            sys::prefetch(o);
        }
    }
}

/// The object whose pages hold `addr`. Lock-free, allocation-free.
pub fn lookup(addr: usize) -> Option<(u32, &'static Object)> {
    let t = TABLES.get()?;
    let off = addr.wrapping_sub(t.arena);
    if off < ARENA_SIZE {
        let page = off / PAGE;
        let id = match t.heads.get(page)?.load(Ordering::Acquire) {
            0 => page,
            head => head as usize,
        };
        let o = t.objects.get(id)?;
        let s = o.state();
        let covers = id == page || (id < page && page < id + o.span() / PAGE);
        return (s & bits::LIVE != 0 && covers).then_some((id as u32, o));
    }
    let n = t.nglobals.load(Ordering::Acquire).min(MAX_GLOBALS);
    for i in 0..n {
        let g = t.globals.get(i)?;
        let (start, end) = (g[0].load(Ordering::Relaxed), g[1].load(Ordering::Relaxed));
        if addr >= start && addr < end {
            let id = GLOBAL_BASE + i;
            let o = t.objects.get(id)?;
            return o.is_live().then_some((id as u32, o));
        }
    }
    None
}

/// The ids objects may have now: arena pages handed out so far, then the
/// registered globals.
pub fn used_ids() -> impl Iterator<Item = u32> {
    let pages = NEXT_PAGE.load(Ordering::Acquire) as usize;
    let globals = TABLES
        .get()
        .map_or(0, |t| t.nglobals.load(Ordering::Acquire).min(MAX_GLOBALS));
    (0..pages.min(ARENA_PAGES))
        .chain(GLOBAL_BASE..GLOBAL_BASE + globals)
        .map(|i| i as u32)
}

/// A table index for a lock address that keeps the table's used part
/// dense: a lock inside a tracked heap object starts at its arena page's
/// entry (objects allocated together have neighbouring pages, and a packed
/// object has a virtual page of its own; more locks on one page probe on
/// to the next entries); elsewhere,
/// locks on one page land in one window of 256 neighbouring entries (an
/// array of locks touches few table pages) and pages scatter.
pub fn local_index(addr: usize, table_len: usize) -> usize {
    if let Some(page) = arena_page(addr) {
        return page & (table_len - 1);
    }
    (((crate::hashing::mix((addr >> 12) as u64) as usize) << 8) | ((addr >> 4) & 255))
        & (table_len - 1)
}
