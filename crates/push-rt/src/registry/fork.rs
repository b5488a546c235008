//! `fork`: the child gets its own copy of the packed objects.
//!
//! Memfd pages (packed objects, and large objects below 128 KiB) are mapped
//! shared, so they would stay shared across `fork`: before it, the parent
//! holds the allocator and copies the file; the child maps the copy over
//! every region and file-backed object (with the keys its pages had) and
//! over the lock words' alias range. Larger objects and globals are
//! private anonymous memory and need nothing.

use super::alloc::{map_region, AllocState, ALLOC, MEMFD};
use super::keys::base_prot;
use super::table::TABLES;
use crate::sys::{self, PAGE};
use core::sync::atomic::Ordering;

/// Before `fork` (parent): holds the allocator and snapshots the memfd, so
/// the child can take a private copy of every packed object.
pub fn before_fork() {
    ALLOC.lock_for_fork();
    ALLOC.with_fork_held(|st| {
        st.fork_copy = -1;
        let fd = MEMFD.load(Ordering::Relaxed);
        if fd >= 0 {
            st.fork_copy = copy_memfd(fd, st.file_pages * PAGE).unwrap_or(-1);
        }
    });
}

/// After `fork`, in the parent.
pub fn after_fork_parent() {
    ALLOC.with_fork_held(|st| {
        if st.fork_copy >= 0 {
            sys::close(st.fork_copy);
            st.fork_copy = -1;
        }
    });
    ALLOC.unlock_after_fork();
}

/// After `fork`, in the child: maps the snapshot over every region and
/// gives each page its key again. Returns false if the child still shares
/// packed objects with its parent (the snapshot could not be made).
pub fn after_fork_child() -> bool {
    let ok = ALLOC.with_fork_held(remap_from_copy).unwrap_or(false);
    ALLOC.unlock_after_fork();
    ok
}

fn remap_from_copy(st: &mut AllocState) -> bool {
    let old = MEMFD.load(Ordering::Relaxed);
    if old < 0 {
        return true;
    }
    let copy = core::mem::replace(&mut st.fork_copy, -1);
    let Some(t) = TABLES.get() else { return false };
    if copy < 0 {
        return false;
    }
    let mut ok = true;
    let key_of_page = |p: usize| t.objects.get(p).map_or(0, |o| o.key());
    for ch in &st.chunks {
        for s in 0..ch.slots {
            let first = ch.start + s * ch.region_pages;
            ok &= remap_range(t, copy, first, ch.region_pages, ch.file_page, key_of_page);
        }
    }
    for &(first, pages, file_page) in &st.file_backed {
        // A large object's pages carry its key (each part's, if it was
        // partitioned); a freed run keeps the key its first page records.
        let head_key = key_of_page(first);
        ok &= remap_range(t, copy, first, pages, file_page, |p| {
            super::table::lookup(t.arena + p * PAGE).map_or(head_key, |(_, o)| o.key())
        });
    }
    ok &= super::alias::remap(copy, st.file_pages);
    MEMFD.store(copy, Ordering::Relaxed);
    // `old` is the memfd shared with the parent; every region now maps the
    // copy, so nothing of ours uses `old` any more (the parent keeps its
    // own descriptor).
    sys::close(old);
    ok
}

/// Maps the child's `copy` of the file over arena pages `first..first +
/// pages` (file pages from `file_page`) and gives each run of pages with
/// the same key (`key_of`) its key and protection again.
fn remap_range(
    t: &super::table::Tables,
    copy: i32,
    first: usize,
    pages: usize,
    file_page: usize,
    key_of: impl Fn(usize) -> u32,
) -> bool {
    let mut ok = map_region(copy, t.arena + first * PAGE, pages, file_page);
    let mut run = first;
    for p in first..=first + pages {
        if p == first + pages || key_of(p) != key_of(run) {
            let k = key_of(run);
            if k != 0 {
                ok &= crate::backend::protect(
                    t.arena + run * PAGE,
                    (p - run) * PAGE,
                    k,
                    base_prot(k),
                )
                .is_ok();
            }
            run = p;
        }
    }
    ok
}

/// A new memfd with the data of `fd`'s first `len` bytes (holes stay holes).
fn copy_memfd(fd: i32, len: usize) -> Option<i32> {
    let copy = sys::memfd_create(c"push-objects")?;
    if sys::ftruncate(copy, len) && copy_data(fd, copy, len as i64) {
        Some(copy)
    } else {
        sys::close(copy);
        None
    }
}

/// Copies the data extents of `from` to the same offsets of `to`.
/// Both are open descriptors of regular files at least `len` bytes long.
fn copy_data(from: i32, to: i32, len: i64) -> bool {
    let mut pos: i64 = 0;
    let mut buf = vec![0u8; 1 << 16];
    while pos < len {
        let start = sys::lseek(from, pos, libc::SEEK_DATA);
        if start < 0 {
            return sys::errno() == libc::ENXIO;
        }
        let end = sys::lseek(from, start, libc::SEEK_HOLE).min(len);
        let mut off = start;
        while off < end {
            let n = ((end - off) as usize).min(buf.len());
            let r = sys::pread(from, &mut buf[..n], off as u64);
            if r <= 0 {
                return false;
            }
            if sys::pwrite(to, &buf[..r as usize], off as u64) != r {
                return false;
            }
            off += r as i64;
        }
        pos = end.max(start + 1);
    }
    true
}
