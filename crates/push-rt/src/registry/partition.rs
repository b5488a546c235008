//! Partitions: one allocation, several objects.
//!
//! Programs often give each thread a slice of one array (the rows of a
//! matrix, a range of keys, one element of an array of per-thread
//! structs). No single policy fits the whole, so the allocation can be cut
//! into parts of `part_size` bytes, each an object of its own with its own
//! policy. Protection works on pages, so every part must be a whole number
//! of pages: the first starts at the object (objects start on a page), the
//! part size must be a multiple of the page size, and the last part takes
//! what is left. A misaligned part size is refused, never widened.
//!
//! Part k of a heap object starting at page P is the object of id
//! P + k * (part_size / PAGE): its later pages name it in `heads`, so the
//! lookup stays one or two loads. A global's parts become globals of their
//! own. Each part starts as a copy of the whole: same policy, key, pending
//! check, allocation site and last change. Freeing the allocation (its
//! first part) frees every part; a part other than the first cannot be
//! freed alone, and a partitioned allocation cannot be resized.

use super::alloc::{AllocState, ALLOC, LIVE_OBJECTS, TRACKED_OBJECTS};
use super::object::{bits, Object};
use super::table::{Tables, GLOBAL_BASE, MAX_GLOBALS, TABLES};
use crate::sys::PAGE;
use core::sync::atomic::{AtomicBool, Ordering};

/// Whether any allocation was ever partitioned: until then the questions
/// below (asked on every free) need not take the allocator's lock.
static ANY_PARTITION: AtomicBool = AtomicBool::new(false);

/// Why an object cannot be partitioned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionError {
    /// `part_size` is not a positive multiple of the page size.
    PartSize,
    /// A packed object (2 KiB or less) has no pages of its own to share out.
    Packed,
    /// The object is a part, or partitioned already.
    AlreadyParts,
    /// No more globals can be registered (for a global's parts).
    NoRoom,
}

/// A partitioned heap allocation, as the allocator keeps it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Parts {
    /// Pages of the whole allocation.
    pub(super) pages: usize,
    /// Bytes of the whole allocation.
    pub(super) size: usize,
    /// Ids of the parts after the first: first, stride, count.
    pub(super) stride: usize,
    pub(super) count: usize,
}

/// Cuts object `id` (its first byte) into parts of `part_size` bytes.
/// Returns the number of parts (1 when the object fits in one part: then
/// nothing changes).
pub fn partition(id: u32, part_size: usize) -> Result<usize, PartitionError> {
    let t = TABLES.get().ok_or(PartitionError::NoRoom)?;
    let o = t.objects.get(id as usize).ok_or(PartitionError::NoRoom)?;
    if part_size == 0 || !part_size.is_multiple_of(PAGE) {
        return Err(PartitionError::PartSize);
    }
    if o.class() > 0 {
        return Err(PartitionError::Packed);
    }
    // A suspended object (`mprotect_budget`) is closed first: its parts
    // start with protections of their own.
    crate::windows::suspended::resume(id);
    let mut st = ALLOC.lock();
    if !o.is_live() {
        return Err(PartitionError::NoRoom);
    }
    if st.partitions.contains_key(&id) || st.part_of.contains_key(&id) {
        return Err(PartitionError::AlreadyParts);
    }
    let size = o.size();
    let count = size.div_ceil(part_size);
    if count <= 1 {
        return Ok(1);
    }
    // Before any part exists (its id can reach another thread only after).
    ANY_PARTITION.store(true, Ordering::Release);
    if o.is_global() {
        partition_global(t, &mut st, id, o, part_size, count)?;
    } else {
        partition_heap(t, &mut st, id, o, part_size, count);
    }
    LIVE_OBJECTS.add(0, count as isize - 1);
    TRACKED_OBJECTS.add(0, count as isize - 1);
    Ok(count)
}

/// A copy of `whole`'s metadata for a part of `size` bytes (the state
/// word keeps key, pending check and last change; a global stays one).
fn copy_into(part: &Object, whole: &Object, size: usize) {
    part.policy
        .store(whole.policy.load(Ordering::Acquire), Ordering::Relaxed);
    part.change_epoch.store(
        whole.change_epoch.load(Ordering::Relaxed),
        Ordering::Relaxed,
    );
    part.size.store(size as u32, Ordering::Relaxed);
    part.alloc_site
        .store(whole.alloc_site.load(Ordering::Relaxed), Ordering::Relaxed);
    part.change_site
        .store(whole.change_site.load(Ordering::Relaxed), Ordering::Relaxed);
    part.state.store(whole.state(), Ordering::Release);
}

fn partition_heap(
    t: &Tables,
    st: &mut AllocState,
    id: u32,
    o: &Object,
    part_size: usize,
    count: usize,
) {
    let size = o.size();
    let first = id as usize;
    let stride = part_size / PAGE;
    let pages = o.span() / PAGE;
    // Each part is complete before any lookup can reach it; the whole
    // shrinks last, so every address stays covered all along.
    for k in 1..count {
        let head = first + k * stride;
        let bytes = part_size.min(size - k * part_size);
        let Some(part) = t.objects.get(head) else {
            continue;
        };
        copy_into(part, o, bytes);
        for p in head + 1..head + bytes.div_ceil(PAGE) {
            if let Some(h) = t.heads.get(p) {
                h.store(head as u32, Ordering::Release);
            }
        }
        if let Some(h) = t.heads.get(head) {
            h.store(0, Ordering::Release);
        }
        st.part_of.insert(head as u32, id);
    }
    o.size.store(part_size as u32, Ordering::Release);
    st.partitions.insert(
        id,
        Parts {
            pages,
            size,
            stride,
            count,
        },
    );
    if crate::backend::is_mprotect() {
        close_windows(id, o, (1..count).map(|k| (first + k * stride) as u32));
    }
}

fn partition_global(
    t: &Tables,
    st: &mut AllocState,
    id: u32,
    o: &Object,
    part_size: usize,
    count: usize,
) -> Result<(), PartitionError> {
    let i = id as usize - GLOBAL_BASE;
    let n = t.nglobals.load(Ordering::Relaxed);
    if n + count - 1 > MAX_GLOBALS {
        return Err(PartitionError::NoRoom);
    }
    let whole = t.globals.get(i).ok_or(PartitionError::NoRoom)?;
    let (start, end) = (
        whole[0].load(Ordering::Relaxed),
        whole[1].load(Ordering::Relaxed),
    );
    let size = o.size();
    let mut ids = Vec::with_capacity(count - 1);
    for k in 1..count {
        let j = n + k - 1;
        let (Some(g), Some(part)) = (t.globals.get(j), t.objects.get(GLOBAL_BASE + j)) else {
            return Err(PartitionError::NoRoom);
        };
        let lo = start + k * part_size;
        g[0].store(lo, Ordering::Relaxed);
        g[1].store((lo + part_size).min(end), Ordering::Relaxed);
        copy_into(part, o, part_size.min(size - k * part_size));
        st.part_of.insert((GLOBAL_BASE + j) as u32, id);
        ids.push((GLOBAL_BASE + j) as u32);
    }
    // The parts are found first from here on (the whole comes before them
    // in the list until it shrinks).
    t.nglobals.store(n + count - 1, Ordering::Release);
    whole[1].store(start + part_size, Ordering::Release);
    o.size.store(part_size as u32, Ordering::Release);
    if crate::backend::is_mprotect() {
        close_windows(id, o, ids.into_iter());
    }
    Ok(())
}

/// Under `mprotect`: a window opened on the whole before the cut may have
/// opened pages that now belong to a part, which that window's close would
/// not reach. Void the whole's windows and give every part the protection
/// its own (empty) window state calls for.
fn close_windows(id: u32, o: &Object, parts: impl Iterator<Item = u32>) {
    crate::window_words::forget(id, o);
    let _ = crate::window_words::reprotect(id, o);
    for p in parts {
        if let Some(part) = super::object(p) {
            crate::window_words::touch(p);
            let _ = crate::window_words::reprotect(p, part);
        }
    }
}

/// Whether `id` is a part of a partitioned allocation other than its first.
pub fn is_later_part(id: u32) -> bool {
    ANY_PARTITION.load(Ordering::Acquire) && ALLOC.lock().part_of.contains_key(&id)
}

/// Whether `id` is a partitioned allocation (its first part).
pub fn is_partitioned(id: u32) -> bool {
    ANY_PARTITION.load(Ordering::Acquire) && ALLOC.lock().partitions.contains_key(&id)
}

/// The bytes of the whole allocation `id` starts (its own size when it is
/// not partitioned).
pub fn allocation_size(id: u32) -> usize {
    if !ANY_PARTITION.load(Ordering::Acquire) {
        return super::object(id).map_or(0, Object::size);
    }
    let parts = ALLOC.lock().partitions.get(&id).copied();
    match parts {
        Some(p) => p.size,
        None => super::object(id).map_or(0, Object::size),
    }
}

/// Before the allocation `id` is freed (allocator lock held): its later
/// parts die, their pages name the first again, and the first covers the
/// whole allocation, so the free gives back one run of pages.
pub(super) fn join_for_free(t: &Tables, st: &mut AllocState, id: u32, o: &Object) {
    let Some(p) = st.partitions.remove(&id) else {
        return;
    };
    let first = id as usize;
    for k in 1..p.count {
        let head = first + k * p.stride;
        st.part_of.remove(&(head as u32));
        if let Some(part) = t.objects.get(head) {
            if crate::backend::is_mprotect() {
                crate::window_words::forget(head as u32, part);
            }
            part.update(|s| s & !bits::LIVE & !(0xff << bits::API_SHIFT));
            part.policy.store(0, Ordering::Release);
        }
    }
    for page in first + 1..first + p.pages {
        if let Some(h) = t.heads.get(page) {
            h.store(first as u32, Ordering::Release);
        }
    }
    o.size.store(p.size as u32, Ordering::Release);
    LIVE_OBJECTS.add(0, 1 - p.count as isize);
}
