//! The runtime's own memory allocator: every Rust allocation of libpush.so
//! (clocks, report queues, symbolization, option strings) comes from here,
//! never from the program's `malloc`.
//!
//! Why: a hook runs in the middle of the program's own code. If it called
//! `malloc`, a program whose allocator takes a pthread mutex (jemalloc,
//! tcmalloc) would re-enter that allocator while it holds its own lock (the
//! unlock hook of the allocator's mutex allocating a clock), and deadlock;
//! and with a second allocator preloaded, the runtime's memory would come
//! from one allocator and go back to another.
//!
//! How: blocks of power-of-two sizes from 16 bytes to 64 KiB, one class per
//! size. Each class hands out blocks by bumping a cursor through 256 KiB
//! chunks mapped with `mmap` (aligned to their size, so a cursor at a chunk
//! boundary means "exhausted"), and keeps freed blocks on a lock-free stack
//! whose head carries a 16-bit tag against ABA. Larger blocks, and blocks
//! aligned to more than a page, are mappings of their own. Small blocks are
//! never returned to the kernel: the runtime's memory is reused, not
//! trimmed.
//!
//! # Safety
//! - A block of class `k` is `16 << k` bytes, aligned to `min(16 << k, 4096)`
//!   (chunks are page aligned and blocks are laid out from the chunk's
//!   start), so it serves any layout whose size and alignment fit.
//! - A free block's first word holds the next free block; blocks stay mapped
//!   forever, so a popper that read a stale head still reads mapped memory,
//!   and the tag makes its compare-and-swap fail.
//! - No lock, no allocation, only `mmap`/`munmap`: async-signal-safe, and
//!   usable from any hook and after `fork`.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

const MIN_SHIFT: u32 = 4;
const CLASSES: usize = 13; // 16 B ..= 64 KiB
const CHUNK: usize = 256 * 1024;
const PAGE: usize = 4096;
const PTR_MASK: u64 = (1 << 48) - 1;
const TAG_ONE: u64 = 1 << 48;

static FREE: [AtomicU64; CLASSES] = [const { AtomicU64::new(0) }; CLASSES];
static CURSOR: [AtomicUsize; CLASSES] = [const { AtomicUsize::new(0) }; CLASSES];

/// The allocator type libpush.so registers with `#[global_allocator]`.
pub struct RuntimeAllocator;

fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > PAGE {
        return None;
    }
    let need = layout.size().max(layout.align()).max(1 << MIN_SHIFT);
    let shift = usize::BITS - (need - 1).leading_zeros();
    let k = (shift - MIN_SHIFT) as usize;
    (k < CLASSES).then_some(k)
}

fn block_size(k: usize) -> usize {
    1 << (MIN_SHIFT as usize + k)
}

fn map(len: usize) -> usize {
    // SAFETY: a fresh anonymous private mapping touches no existing memory.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        0
    } else {
        p as usize
    }
}

fn unmap(addr: usize, len: usize) {
    if len == 0 {
        return;
    }
    // SAFETY: [addr, addr+len) is a mapping (or part of one) this module made
    // and no longer hands out.
    unsafe { libc::munmap(addr as *mut libc::c_void, len) };
}

/// A mapping of `len` bytes aligned to `align` (a power of two >= PAGE).
fn map_aligned(len: usize, align: usize) -> usize {
    let Some(padded) = len.checked_add(align - PAGE) else {
        return 0;
    };
    let raw = map(padded);
    if raw == 0 {
        return 0;
    }
    let start = (raw + align - 1) & !(align - 1);
    unmap(raw, start - raw);
    unmap(start + len, raw + padded - (start + len));
    start
}

fn pop(k: usize) -> usize {
    let head = &FREE[k];
    let mut h = head.load(Ordering::Acquire);
    loop {
        let block = (h & PTR_MASK) as usize;
        if block == 0 {
            return 0;
        }
        // SAFETY: block was pushed as a free block of this class, and blocks
        // stay mapped forever (module doc); a stale read is caught by the tag.
        let next = unsafe { (*(block as *const AtomicUsize)).load(Ordering::Relaxed) } as u64;
        let new = next | ((h & !PTR_MASK).wrapping_add(TAG_ONE));
        match head.compare_exchange_weak(h, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return block,
            Err(now) => h = now,
        }
    }
}

fn push(k: usize, block: usize) {
    let head = &FREE[k];
    let mut h = head.load(Ordering::Relaxed);
    loop {
        // SAFETY: the caller gives the block back: its first word is ours.
        unsafe {
            (*(block as *const AtomicUsize)).store((h & PTR_MASK) as usize, Ordering::Relaxed)
        };
        let new = block as u64 | ((h & !PTR_MASK).wrapping_add(TAG_ONE));
        match head.compare_exchange_weak(h, new, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) => h = now,
        }
    }
}

fn bump(k: usize) -> usize {
    let size = block_size(k);
    let cursor = &CURSOR[k];
    loop {
        let c = cursor.load(Ordering::Acquire);
        if c != 0 && c & (CHUNK - 1) != 0 {
            if cursor
                .compare_exchange_weak(c, c + size, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return c;
            }
            continue;
        }
        let chunk = map_aligned(CHUNK, CHUNK);
        if chunk == 0 {
            return 0;
        }
        if cursor
            .compare_exchange(c, chunk + size, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            return chunk;
        }
        // Another thread installed a chunk first: use that one.
        unmap(chunk, CHUNK);
    }
}

fn large_len(layout: Layout) -> usize {
    layout.size().max(1).div_ceil(PAGE) * PAGE
}

// SAFETY: blocks never overlap while handed out (each comes from exactly one
// bump or pop), fit the layout (module doc), and go back to the class (or
// mapping) they came from, which `dealloc`'s layout identifies again.
unsafe impl GlobalAlloc for RuntimeAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match class_of(layout) {
            Some(k) => match pop(k) {
                0 => bump(k) as *mut u8,
                b => b as *mut u8,
            },
            None => map_aligned(large_len(layout), layout.align().max(PAGE)) as *mut u8,
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match class_of(layout) {
            Some(k) => push(k, ptr as usize),
            None => unmap(ptr as usize, large_len(layout)),
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract: new_size rounded to align does not overflow.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let same_class = class_of(layout).is_some() && class_of(layout) == class_of(new_layout);
        let same_pages = class_of(layout).is_none()
            && class_of(new_layout).is_none()
            && large_len(layout) == large_len(new_layout);
        if same_class || same_pages {
            return ptr;
        }
        // SAFETY: the caller's contract for realloc carries over to alloc.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live and at least min(old, new) long.
            unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            // SAFETY: ptr was allocated with layout and is not used again.
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_fit_their_layouts() {
        let l = |s, a| Layout::from_size_align(s, a).unwrap();
        assert_eq!(class_of(l(1, 1)), Some(0));
        assert_eq!(class_of(l(16, 8)), Some(0));
        assert_eq!(class_of(l(17, 8)), Some(1));
        assert_eq!(class_of(l(8, 64)), Some(2));
        assert_eq!(class_of(l(65536, 8)), Some(12));
        assert_eq!(class_of(l(65537, 8)), None);
        assert_eq!(class_of(l(16, 8192)), None);
    }

    #[test]
    fn blocks_are_aligned_distinct_and_reused() {
        let a = RuntimeAllocator;
        for (size, align) in [
            (1, 1),
            (24, 8),
            (100, 64),
            (5000, 4096),
            (70000, 8),
            (100, 16384),
        ] {
            let layout = Layout::from_size_align(size, align).unwrap();
            let mut blocks = Vec::new();
            for i in 0..50u8 {
                // SAFETY: non-zero layout.
                let p = unsafe { a.alloc(layout) };
                assert!(!p.is_null());
                assert_eq!(p as usize % align, 0, "{size}/{align}");
                // SAFETY: p is a live block of `size` bytes.
                unsafe { core::ptr::write_bytes(p, i, size) };
                blocks.push((p, i));
            }
            for &(p, i) in &blocks {
                // SAFETY: as above; every block still holds its own pattern.
                let s = unsafe { core::slice::from_raw_parts(p, size) };
                assert!(s.iter().all(|&b| b == i), "blocks overlap ({size}/{align})");
            }
            for &(p, _) in &blocks {
                // SAFETY: allocated above with this layout.
                unsafe { a.dealloc(p, layout) };
            }
        }
    }

    #[test]
    fn threads_allocate_and_free_without_losing_blocks() {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    let a = RuntimeAllocator;
                    let layout = Layout::from_size_align(48, 8).unwrap();
                    for round in 0..2000usize {
                        let mut v = Vec::new();
                        for j in 0..8usize {
                            // SAFETY: non-zero layout.
                            let p = unsafe { a.alloc(layout) } as *mut usize;
                            // SAFETY: a live 48-byte block.
                            unsafe { p.write(t * 1_000_000 + round * 8 + j) };
                            v.push((p, t * 1_000_000 + round * 8 + j));
                        }
                        for (p, want) in v {
                            // SAFETY: still ours.
                            assert_eq!(unsafe { p.read() }, want);
                            // SAFETY: allocated above with this layout.
                            unsafe { a.dealloc(p.cast(), layout) };
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn realloc_keeps_contents() {
        let a = RuntimeAllocator;
        let layout = Layout::from_size_align(10, 1).unwrap();
        // SAFETY: non-zero layout; the block is written before reallocating.
        unsafe {
            let p = a.alloc(layout);
            core::ptr::copy_nonoverlapping(b"0123456789".as_ptr(), p, 10);
            let q = a.realloc(p, layout, 100_000);
            assert_eq!(core::slice::from_raw_parts(q, 10), b"0123456789");
            let r = a.realloc(q, Layout::from_size_align(100_000, 1).unwrap(), 12);
            assert_eq!(core::slice::from_raw_parts(r, 10), b"0123456789");
            a.dealloc(r, Layout::from_size_align(12, 1).unwrap());
        }
    }
}
