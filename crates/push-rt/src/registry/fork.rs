//! `fork`: the child gets its own copy of the packed objects.
//!
//! Memfd pages are mapped shared, so they would stay shared across `fork`:
//! before it, the parent holds the allocator and copies the file; the child
//! maps the copy over every region (with the keys its pages had). Large
//! objects and globals are private anonymous memory and need nothing.

use super::alloc::{map_region, AllocState, ALLOC, MEMFD};
use super::keys::base_prot;
use super::table::TABLES;
use crate::sys::{self, PAGE};
use core::sync::atomic::Ordering;

/// Before `fork` (parent): holds the allocator and snapshots the memfd, so
/// the child can take a private copy of every packed object.
pub fn before_fork() {
    ALLOC.lock_for_fork();
    // SAFETY: lock_for_fork holds the lock on this thread.
    let st = unsafe { ALLOC.locked_for_fork() };
    st.fork_copy = -1;
    let fd = MEMFD.load(Ordering::Relaxed);
    if fd >= 0 {
        st.fork_copy = copy_memfd(fd, st.file_pages * PAGE).unwrap_or(-1);
    }
}

/// After `fork`, in the parent.
pub fn after_fork_parent() {
    // SAFETY: before_fork holds the lock on this thread.
    let st = unsafe { ALLOC.locked_for_fork() };
    if st.fork_copy >= 0 {
        // SAFETY: closing the snapshot descriptor we made.
        unsafe { libc::close(st.fork_copy) };
        st.fork_copy = -1;
    }
    // SAFETY: before_fork took the lock on this thread.
    unsafe { ALLOC.unlock_after_fork() };
}

/// After `fork`, in the child: maps the snapshot over every region and
/// gives each page its key again. Returns false if the child still shares
/// packed objects with its parent (the snapshot could not be made).
pub fn after_fork_child() -> bool {
    // SAFETY: before_fork holds the lock on this thread.
    let st = unsafe { ALLOC.locked_for_fork() };
    let ok = remap_from_copy(st);
    // SAFETY: before_fork took the lock on this thread.
    unsafe { ALLOC.unlock_after_fork() };
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
    for ch in &st.chunks {
        for s in 0..ch.slots {
            let first = ch.start + s * ch.region_pages;
            ok &= map_region(copy, t.arena + first * PAGE, ch.region_pages, ch.file_page);
            let mut run = first;
            for p in first..=first + ch.region_pages {
                let key = |p: usize| t.objects.get(p).map_or(0, |o| o.key());
                if p == first + ch.region_pages || key(p) != key(run) {
                    let k = key(run);
                    if k != 0 {
                        // SAFETY: pages of a region just mapped again.
                        ok &= unsafe {
                            crate::backend::protect(
                                t.arena + run * PAGE,
                                (p - run) * PAGE,
                                k,
                                base_prot(k),
                            )
                        }
                        .is_ok();
                    }
                    run = p;
                }
            }
        }
    }
    MEMFD.store(copy, Ordering::Relaxed);
    // SAFETY: `old` is the memfd shared with the parent; every region now
    // maps the copy, so nothing of ours uses `old` any more (the parent
    // keeps its own descriptor).
    unsafe { libc::close(old) };
    ok
}

/// A new memfd with the data of `fd`'s first `len` bytes (holes stay holes).
fn copy_memfd(fd: i32, len: usize) -> Option<i32> {
    // SAFETY: memfd_create with a static name.
    let copy = unsafe { libc::memfd_create(c"push-objects".as_ptr(), libc::MFD_CLOEXEC) };
    if copy < 0 {
        return None;
    }
    // SAFETY: sizing and filling our own descriptors; offsets stay within len.
    let ok = unsafe {
        libc::ftruncate(copy, len as libc::off_t) == 0 && copy_data(fd, copy, len as i64)
    };
    if ok {
        Some(copy)
    } else {
        // SAFETY: closing the descriptor we just made.
        unsafe { libc::close(copy) };
        None
    }
}

/// Copies the data extents of `from` to the same offsets of `to`.
///
/// # Safety
/// Both are open descriptors of regular files at least `len` bytes long.
unsafe fn copy_data(from: i32, to: i32, len: i64) -> bool {
    let mut pos: i64 = 0;
    let mut buf = vec![0u8; 1 << 16];
    while pos < len {
        // SAFETY: lseek on our descriptor.
        let start = unsafe { libc::lseek(from, pos, libc::SEEK_DATA) };
        if start < 0 {
            return sys::errno() == libc::ENXIO;
        }
        // SAFETY: as above.
        let end = unsafe { libc::lseek(from, start, libc::SEEK_HOLE) }.min(len);
        let mut off = start;
        while off < end {
            let n = ((end - off) as usize).min(buf.len());
            // SAFETY: buf holds n bytes.
            let r = unsafe { libc::pread(from, buf.as_mut_ptr().cast(), n, off) };
            if r <= 0 {
                return false;
            }
            // SAFETY: writing the r bytes just read.
            if unsafe { libc::pwrite(to, buf.as_ptr().cast(), r as usize, off) } != r {
                return false;
            }
            off += r as i64;
        }
        pos = end.max(start + 1);
    }
    true
}
