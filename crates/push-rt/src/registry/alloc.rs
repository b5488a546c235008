//! Allocation and free of tracked heap objects.
//!
//! Small objects (up to 2 KiB, in size classes) are packed: a *chunk* of a
//! class is M physical pages of a memfd mapped K times (K = slots per page),
//! as K *regions* of M virtual pages; slot s of physical page p is used
//! through page p of region s only. Objects share physical pages, never
//! virtual ones. A region maps consecutive file pages, so neighbouring
//! pages with the same key merge into one kernel mapping: fresh slots are
//! handed out in runs of 32 consecutive pages of a region (block by block,
//! so few physical pages are half used), each run keyed at once, to the
//! free list of the allocating thread's key, and freed slots keep their key
//! for the next object of that key (no system call on reuse). Objects of more
//! than 2 KiB get whole anonymous pages.
//!
//! Everything here takes the allocator's mutex (never from a signal
//! handler); `fork` holds it across the fork (see `fork`).

use super::keys::{base_prot, rekey_pages, run_delta};
use super::object::{bits, class_of_state, site, Object, Policy};
use super::table::{object, Tables, ARENA_PAGES, NEXT_PAGE, TABLES};
use crate::maps;
use crate::sys::{self, FutexMutex, PAGE};
use crate::threads::SlotCache;
use core::sync::atomic::{AtomicI32, Ordering};

/// Slot sizes of packed objects: multiples of 16, at most 128 per page.
pub(super) const CLASSES: [usize; 20] = [
    32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 1024, 1360,
    2048,
];
/// Pages per region of a class's chunks: 1, 2, 4, ... up to this.
const MAX_REGION_PAGES: usize = 128;
/// Fresh slots keyed together (one `pkey_mprotect`).
const BATCH: usize = 32;
/// Freed large objects from this size on give their pages back to the
/// kernel; smaller ones keep them for the next object of their page count.
pub(super) const DISCARD_MIN: usize = 128 << 10;

/// A chunk of a size class: `region_pages` file pages from `file_page`,
/// mapped as `slots` regions from arena page `start`.
#[derive(Clone, Copy)]
pub(super) struct Chunk {
    pub(super) start: usize,
    pub(super) region_pages: usize,
    pub(super) slots: usize,
    pub(super) file_page: usize,
    /// Slots handed out so far (region-major: region s, page p).
    used: usize,
}

#[derive(Default)]
struct ClassState {
    current: Option<usize>,
    chunks_made: u32,
    /// Free slots by the key their page carries.
    free: [Vec<u32>; 16],
}

pub(super) struct AllocState {
    /// Next arena page never handed out (page 0 is never used).
    next_page: usize,
    classes: Vec<ClassState>,
    pub(super) chunks: Vec<Chunk>,
    /// Free runs of large objects' pages, by length in pages.
    large_runs: std::collections::BTreeMap<usize, Vec<usize>>,
    /// Pages of the memfd handed to chunks and file-backed large objects
    /// so far.
    pub(super) file_pages: usize,
    /// Large objects below [`DISCARD_MIN`] backed by the memfd (see
    /// `alias::back_large`): (first arena page, pages, first file page).
    pub(super) file_backed: Vec<(usize, usize, usize)>,
    /// The snapshot of the memfd a fork child takes over.
    pub(super) fork_copy: i32,
    /// Partitioned allocations by their first part's id, and each later
    /// part's allocation (see `partition`).
    pub(super) partitions: std::collections::BTreeMap<u32, super::partition::Parts>,
    pub(super) part_of: std::collections::BTreeMap<u32, u32>,
}

pub(super) static ALLOC: FutexMutex<AllocState> = FutexMutex::new(AllocState {
    next_page: 1,
    classes: Vec::new(),
    chunks: Vec::new(),
    large_runs: std::collections::BTreeMap::new(),
    file_pages: 0,
    file_backed: Vec::new(),
    fork_copy: -1,
    partitions: std::collections::BTreeMap::new(),
    part_of: std::collections::BTreeMap::new(),
});

/// The memfd backing packed objects (-1 until the first chunk).
pub(super) static MEMFD: AtomicI32 = AtomicI32::new(-1);

pub use crate::counters::{LIVE_OBJECTS, TRACKED_OBJECTS};

/// Where a new object comes from: its first owner and allocation stack.
#[derive(Clone, Copy)]
pub struct Origin {
    pub policy: Policy,
    pub thread: u32,
    pub stack: u32,
    /// The allocating thread's epoch (the object's first "policy change").
    pub epoch: u64,
}

/// Makes `o` a live object whose pages carry `key`.
pub(super) fn fill(o: &Object, size: usize, origin: Origin, key: u32, keep: u32) {
    o.policy.store(origin.policy.encode(), Ordering::Relaxed);
    o.change_epoch.store(origin.epoch, Ordering::Relaxed);
    o.size.store(size as u32, Ordering::Relaxed);
    let s = site(origin.thread, origin.stack);
    o.alloc_site.store(s, Ordering::Relaxed);
    o.change_site.store(s, Ordering::Relaxed);
    let kept = o.state() & keep;
    o.state.store(
        kept | bits::LIVE | key | (key << bits::POLICY_KEY_SHIFT),
        Ordering::Release,
    );
}

/// Why an allocation gave no tracked object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// The mapping budget is spent.
    Budget,
    /// Arena, tables or the system are out of room.
    NoRoom,
}

/// Allocates a tracked heap object of `size` bytes whose pages carry `key`
/// (the allocating thread's), zeroed if `zero`; a small one from the
/// calling thread's slot `cache` when it holds one (no lock taken).
pub fn alloc(
    size: usize,
    origin: Origin,
    key: u32,
    zero: bool,
    cache: Option<&SlotCache>,
) -> Result<(u32, usize), AllocError> {
    let t = TABLES.get().ok_or(AllocError::NoRoom)?;
    if size > u32::MAX as usize {
        return Err(AllocError::NoRoom);
    }
    let class = CLASSES.iter().position(|&c| c >= size.max(1));
    if let (Some(class), Some(cache)) = (class, cache) {
        if let Some(hit) = super::cache::take(t, cache, class, size, origin, key & 0xf, zero) {
            return Ok(hit);
        }
    }
    let mut st = ALLOC.lock();
    let (id, base, dirty) = match class {
        Some(class) => {
            let (id, base) = alloc_packed(t, &mut st, class, key, size, origin)?;
            (id, base, true)
        }
        None => alloc_large(t, &mut st, key, size, origin)?,
    };
    LIVE_OBJECTS.add(0, 1);
    TRACKED_OBJECTS.add(0, 1);
    drop(st);
    if zero && dirty {
        zero_with_all_keys(base, size);
    }
    Ok((id, base))
}

/// Zeroes memory whatever its key (a reused slot of a packed object).
pub(super) fn zero_with_all_keys(base: usize, len: usize) {
    if !crate::backend::is_mpk() {
        // `mprotect`: open the pages (the allocating thread's window opens
        // them again right after), then zero.
        let start = base & !(PAGE - 1);
        let end = sys::page_round_up(base + len);
        // The pages of a slot just handed to the caller.
        if crate::backend::protect(start, end - start, 0, libc::PROT_READ | libc::PROT_WRITE)
            .is_ok()
        {
            sys::arena_zero(base, len);
        }
        return;
    }
    // A slot just handed to the caller; PKRU is restored right after (this
    // thread runs no other code in between).
    sys::pkru::with_all_keys(|| sys::arena_zero(base, len));
}

fn alloc_packed(
    t: &Tables,
    st: &mut AllocState,
    class: usize,
    key: u32,
    size: usize,
    origin: Origin,
) -> Result<(u32, usize), AllocError> {
    let key = key & 0xf;
    let id = match class_state(st, class).free[key as usize].pop() {
        Some(id) => id,
        None => match steal_free_slot(t, st, class, key) {
            Some(id) => id,
            None => {
                fresh_run(t, st, class, key)?;
                st.classes[class].free[key as usize]
                    .pop()
                    .ok_or(AllocError::NoRoom)?
            }
        },
    };
    let o = t.objects.get(id as usize).ok_or(AllocError::NoRoom)?;
    fill_slot(o, size, origin, key);
    Ok((id, o.base()))
}

/// Makes the free packed slot `o` a live object (its place in its region
/// and its class are kept).
pub(super) fn fill_slot(o: &Object, size: usize, origin: Origin, key: u32) {
    let keep = bits::REGION_FIRST
        | bits::REGION_LAST
        | (31 << bits::CLASS_SHIFT)
        | (0x7f << bits::SLOT_SHIFT);
    fill(o, size, origin, key, keep);
}

/// Makes the live object `id` free: no window, no policy, one fewer live
/// object (counted on `thread`'s shard). False if it was free already (a
/// second free, which then frees nothing): its live bit is cleared by one
/// atomic update, so two frees on either path cannot both proceed.
pub(super) fn retire(id: u32, o: &Object, thread: u32) -> bool {
    if crate::backend::is_mprotect() {
        crate::window_words::forget(id, o);
    }
    let clear = |s: u32| s & !bits::LIVE & !(0xff << bits::API_SHIFT);
    let was_live = o
        .state
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| Some(clear(s)))
        .is_ok_and(|s| s & bits::LIVE != 0);
    if was_live {
        o.policy.store(0, Ordering::Release);
        LIVE_OBJECTS.add(thread as usize, -1);
    }
    was_live
}

/// The state of size class `class`, the classes made on first use.
fn class_state(st: &mut AllocState, class: usize) -> &mut ClassState {
    if st.classes.is_empty() {
        st.classes = (0..CLASSES.len()).map(|_| ClassState::default()).collect();
    }
    &mut st.classes[class]
}

/// Puts the free packed slot `id` of `class` (0-based) on the free list
/// of the key its page carries. Allocator held.
pub(super) fn release_slot(st: &mut AllocState, class: usize, id: u32, key: u32) {
    class_state(st, class).free[key as usize & 0xf].push(id);
}

/// A free slot of the class under another key, moved to `key`.
fn steal_free_slot(t: &Tables, st: &mut AllocState, class: usize, key: u32) -> Option<u32> {
    let lists = &mut st.classes[class].free;
    let from = (0..16).max_by_key(|&k| lists[k].len())?;
    let id = lists[from].pop()?;
    let o = t.objects.get(id as usize)?;
    if rekey_pages(t, id as usize, 1, o, key).is_err() {
        lists[from].push(id);
        return None;
    }
    Some(id)
}

/// Hands a run of fresh slots of `class` to the free list of `key`.
fn fresh_run(t: &Tables, st: &mut AllocState, class: usize, key: u32) -> Result<(), AllocError> {
    let slots = PAGE / CLASSES[class];
    let needs_chunk = match st.classes[class].current {
        Some(c) => st.chunks[c].used >= st.chunks[c].slots * st.chunks[c].region_pages,
        None => true,
    };
    if needs_chunk {
        if !maps::room_for(slots as i64 + 3) {
            return Err(AllocError::Budget);
        }
        let region_pages = (1usize << st.classes[class].chunks_made.min(7)).min(MAX_REGION_PAGES);
        let c = new_chunk(t, st, slots, region_pages)?;
        st.classes[class].current = Some(c);
        st.classes[class].chunks_made += 1;
    } else if !maps::room_for(2) {
        return Err(AllocError::Budget);
    }
    let ci = st.classes[class].current.ok_or(AllocError::NoRoom)?;
    let ch = st.chunks[ci];
    // Runs go block by block: the same pages of every region, so only the
    // block's physical pages are in use until its slots run out.
    let n = BATCH.min(ch.region_pages);
    let per_block = ch.slots * n;
    let (block, within) = (ch.used / per_block, ch.used % per_block);
    let (region, p) = (within / n, block * n);
    let first = ch.start + region * ch.region_pages + p;
    if key != 0 {
        let addr = t.arena + first * PAGE;
        // Fresh pages of a region of ours, holding no object.
        if crate::backend::protect(addr, n * PAGE, key, base_prot(key)).is_err() {
            return Err(AllocError::NoRoom);
        }
        // Fresh neighbours carry key 0; the run's left neighbour was keyed earlier.
        let left = (p > 0).then(|| t.objects.get(first - 1).map_or(0, |o| o.key()));
        let right = (p + n < ch.region_pages).then_some(0);
        maps::add(run_delta(left, right, 0, key));
    }
    let class_bits =
        ((class as u32 + 1) << bits::CLASS_SHIFT) | ((region as u32) << bits::SLOT_SHIFT);
    for i in 0..n {
        let page = first + i;
        let mut bits = class_bits | key | (key << bits::POLICY_KEY_SHIFT);
        if p + i == 0 {
            bits |= bits::REGION_FIRST;
        }
        if p + i == ch.region_pages - 1 {
            bits |= bits::REGION_LAST;
        }
        if let Some(o) = t.objects.get(page) {
            o.state.store(bits, Ordering::Release);
        }
    }
    st.chunks[ci].used += n;
    let list = &mut st.classes[class].free[key as usize];
    list.extend((first..first + n).rev().map(|p| p as u32));
    Ok(())
}

/// Maps a new chunk: `region_pages` fresh file pages, `slots` times.
fn new_chunk(
    t: &Tables,
    st: &mut AllocState,
    slots: usize,
    region_pages: usize,
) -> Result<usize, AllocError> {
    let vpages = slots * region_pages;
    if st.next_page + vpages > ARENA_PAGES {
        return Err(AllocError::NoRoom);
    }
    let fd = memfd().ok_or(AllocError::NoRoom)?;
    let file_page = st.file_pages;
    if !sys::ftruncate(fd, (file_page + region_pages) * PAGE) {
        return Err(AllocError::NoRoom);
    }
    st.file_pages += region_pages;
    let start = st.next_page;
    for s in 0..slots {
        let addr = t.arena + (start + s * region_pages) * PAGE;
        if !map_region(fd, addr, region_pages, file_page) {
            return Err(AllocError::NoRoom);
        }
    }
    maps::add(slots as i64 + 1);
    super::alias::map_chunk(t, fd, file_page, region_pages, start, slots);
    st.next_page += vpages;
    NEXT_PAGE.store(st.next_page as u32, Ordering::Relaxed);
    st.chunks.push(Chunk {
        start,
        region_pages,
        slots,
        file_page,
        used: 0,
    });
    Ok(st.chunks.len() - 1)
}

/// The memfd backing packed objects, created on first use. Called with
/// the allocator held.
pub(super) fn memfd() -> Option<i32> {
    let mut fd = MEMFD.load(Ordering::Relaxed);
    if fd < 0 {
        fd = sys::memfd_create(c"push-objects")?;
        MEMFD.store(fd, Ordering::Relaxed);
    }
    Some(fd)
}

/// Maps `pages` pages of `fd` from `file_page` shared and read-write at
/// `addr` (a region of a chunk); false if the kernel refused.
///
/// Callers: a new chunk (arena pages that hold no object yet), or a fork
/// child replacing a region with the same pages of its private copy of the
/// file (same contents, only the forking thread runs, allocator locked).
pub(super) fn map_region(fd: i32, addr: usize, pages: usize, file_page: usize) -> bool {
    // Either no object lives there yet, or (fork child) the new mapping has
    // byte for byte the contents of the old one.
    sys::arena_map_shared(fd, addr, pages * PAGE, file_page * PAGE)
}

fn alloc_large(
    t: &Tables,
    st: &mut AllocState,
    key: u32,
    size: usize,
    origin: Origin,
) -> Result<(u32, usize, bool), AllocError> {
    let npages = size.div_ceil(PAGE);
    if !maps::room_for(2) {
        return Err(AllocError::Budget);
    }
    let mut dirty = false;
    let page = match st.large_runs.get_mut(&npages).and_then(|v| v.pop()) {
        Some(p) => {
            dirty = npages * PAGE < DISCARD_MIN;
            p
        }
        None => {
            if st.next_page + npages > ARENA_PAGES {
                return Err(AllocError::NoRoom);
            }
            st.next_page += npages;
            NEXT_PAGE.store(st.next_page as u32, Ordering::Relaxed);
            let page = st.next_page - npages;
            if npages * PAGE < DISCARD_MIN {
                super::alias::back_large(t, st, page, npages);
            }
            page
        }
    };
    let o = t.objects.get(page).ok_or(AllocError::NoRoom)?;
    let old_key = o.key();
    for p in page + 1..page + npages {
        if let Some(h) = t.heads.get(p) {
            h.store(page as u32, Ordering::Release);
        }
    }
    o.size.store(size as u32, Ordering::Relaxed);
    o.state.store(old_key, Ordering::Release);
    if old_key != key && rekey_pages(t, page, npages, o, key).is_err() {
        st.large_runs.entry(npages).or_default().push(page);
        return Err(AllocError::NoRoom);
    }
    fill(o, size, origin, key, 0);
    Ok((page as u32, t.arena + page * PAGE, dirty))
}

/// Frees a heap object (a partitioned allocation with all its parts). A
/// packed slot keeps its key for the next object of that key; a large
/// object's pages are given back to the kernel (zero) from 128 KiB on, kept
/// for reuse below. False, freeing nothing, for a part of a partitioned
/// allocation other than its first.
pub fn free(id: u32) -> bool {
    let Some(t) = TABLES.get() else { return true };
    let Some(o) = object(id) else { return true };
    if o.is_global() {
        return true;
    }
    let mut st = ALLOC.lock();
    if !o.is_live() {
        return true;
    }
    if st.part_of.contains_key(&id) {
        return false;
    }
    super::partition::join_for_free(t, &mut st, id, o);
    let class = class_of_state(o.state());
    let span = o.span();
    if !retire(id, o, 0) {
        return true;
    }
    if class > 0 {
        release_slot(&mut st, class as usize - 1, id, o.key());
    } else {
        if span >= DISCARD_MIN {
            // The pages belong to this freed object only.
            sys::arena_discard(t.arena + id as usize * PAGE, span);
        }
        st.large_runs
            .entry(span / PAGE)
            .or_default()
            .push(id as usize);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_fit_pages() {
        for &c in &CLASSES {
            assert!(c % 16 == 0 && PAGE / c >= 2 && PAGE / c <= 128, "{c}");
        }
        assert_eq!(*CLASSES.last().unwrap(), 2048);
    }
}
