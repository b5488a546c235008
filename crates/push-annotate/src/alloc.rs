//! Memory for tracked objects.
//!
//! With the runtime loaded, objects come from `push_malloc`: each on a
//! virtual page of its own, private to the allocating thread. The runtime
//! aligns objects of up to 2 KiB to 16 bytes and larger ones to a page, so
//! a value that needs more than 16 bytes of alignment asks for at least
//! [`LARGE_MIN`] bytes. Alignments above a page cannot be tracked: such
//! values (and every value when the runtime is absent) come from the global
//! allocator. `push_free` gives back what `push_malloc` handed out, and
//! also frees (with `free`) the plain blocks the runtime falls back to when
//! it runs out of room for tracked objects.

use crate::runtime::runtime;
use core::ffi::c_void;
use core::ptr::NonNull;
use std::alloc::{handle_alloc_error, Layout};

/// The page size the runtime aligns large objects to.
pub(crate) const PAGE: usize = 4096;
/// Alignment of every `push_malloc` object.
const MIN_ALIGN: usize = 16;
/// Objects of this size or more get pages of their own (page-aligned).
const LARGE_MIN: usize = 2049;

/// Whether memory of this layout comes from the runtime (when loaded).
fn from_runtime(layout: Layout) -> bool {
    layout.size() != 0 && layout.align() <= PAGE
}

/// Allocates memory for `layout`: a tracked object when the runtime is
/// loaded. A zero-sized layout gets a dangling, aligned pointer.
pub(crate) fn allocate(layout: Layout) -> NonNull<u8> {
    if layout.size() == 0 {
        // A non-zero power of two: a valid address for zero-sized values.
        return NonNull::new(layout.align() as *mut u8).unwrap_or(NonNull::dangling());
    }
    let p = match runtime() {
        Some(rt) if from_runtime(layout) => {
            let size = if layout.align() > MIN_ALIGN {
                layout.size().max(LARGE_MIN)
            } else {
                layout.size()
            };
            // SAFETY: push_malloc takes any size (crate::runtime # Safety).
            let p = unsafe { (rt.malloc)(size) }.cast::<u8>();
            if !p.is_null() && (p as usize) % layout.align() != 0 {
                // The runtime fell back to plain malloc (out of tracked
                // memory): take an aligned plain block instead.
                // SAFETY: `p` came from push_malloc just now.
                unsafe { (rt.free)(p.cast()) };
                aligned_plain(layout)
            } else {
                p
            }
        }
        // SAFETY: the layout has a non-zero size.
        _ => unsafe { std::alloc::alloc(layout) },
    };
    NonNull::new(p).unwrap_or_else(|| handle_alloc_error(layout))
}

/// A plain block from libc's allocator, aligned for `layout`; `push_free`
/// gives it back (it is not in the tracked arena).
fn aligned_plain(layout: Layout) -> *mut u8 {
    let mut p: *mut c_void = core::ptr::null_mut();
    // SAFETY: the alignment is a power of two and a multiple of the pointer
    // size (it is above 16 here); `p` is a valid out-pointer.
    if unsafe { libc::posix_memalign(&mut p, layout.align(), layout.size()) } != 0 {
        return core::ptr::null_mut();
    }
    p.cast()
}

/// Frees what [`allocate`] returned for the same layout.
///
/// # Safety
/// `ptr` came from `allocate(layout)` and is not used afterwards.
pub(crate) unsafe fn deallocate(ptr: NonNull<u8>, layout: Layout) {
    if layout.size() == 0 {
        return;
    }
    match runtime() {
        // SAFETY: per the caller, the block came from push_malloc (or the
        // aligned plain fallback, which push_free hands to free).
        Some(rt) if from_runtime(layout) => unsafe { (rt.free)(ptr.as_ptr().cast()) },
        // SAFETY: per the caller, the block came from the global allocator
        // with this layout.
        _ => unsafe { std::alloc::dealloc(ptr.as_ptr(), layout) },
    }
}

/// The layout of a lock's tracked data: `T`'s, but at least one byte, so
/// that the data's address can name the lock (see `sync`).
pub(crate) fn lock_data_layout<T>() -> Layout {
    let layout = Layout::new::<T>();
    if layout.size() == 0 {
        Layout::from_size_align(1, layout.align()).unwrap_or(layout)
    } else {
        layout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_allocations_are_aligned_and_usable() {
        for (size, align) in [(1, 1), (24, 8), (100, 64), (5000, 4096), (64, 8192)] {
            let layout = Layout::from_size_align(size, align).unwrap();
            let p = allocate(layout);
            assert_eq!(p.as_ptr() as usize % align, 0, "{layout:?}");
            // SAFETY: a fresh block of `size` bytes.
            unsafe {
                p.as_ptr().write_bytes(0xa5, size);
                deallocate(p, layout);
            }
        }
    }

    #[test]
    fn zero_sized_layouts_do_not_allocate() {
        let layout = Layout::from_size_align(0, 32).unwrap();
        let p = allocate(layout);
        assert_eq!(p.as_ptr() as usize, 32);
        // SAFETY: zero-sized: nothing to free.
        unsafe { deallocate(p, layout) };
        assert_eq!(lock_data_layout::<()>().size(), 1);
    }
}
