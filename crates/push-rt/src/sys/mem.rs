//! Memory: anonymous mappings the runtime keeps for the whole process,
//! and fixed arrays of types valid when all-zero.
//!
//! # Safety
//! - [`reserve`] returns a fresh private anonymous mapping (or null) that
//!   is never unmapped by this module: a [`FixedArray`] built on it may
//!   hand out `&'static` references.
//! - [`Zeroable`] is an `unsafe trait`: an impl promises that the all-zero
//!   bit pattern is a valid value, which is what a fresh mapping holds.
//!   Integers and atomics are implemented here; the runtime's own table
//!   types in [`super::zeroable`].
//! - The object arena ([`reserve_arena`]) holds program objects only:
//!   runtime Rust code never forms references into it. The functions that
//!   change arena contents or mappings ([`arena_map_shared`],
//!   [`arena_discard`], [`arena_zero`]) check that the range lies inside
//!   it and refuse otherwise.
//! - The alias range ([`reserve_alias`]) maps the arena's memfd a second
//!   time; its addresses only go to the C library's lock functions, never
//!   into a Rust reference. [`alias_map_shared`] maps only inside it.
//! - Page protection ([`mprotect`], [`super::pkru::pkey_mprotect`]) takes
//!   addresses, not references, and never adds `PROT_EXEC`. Taking rights
//!   away only makes accesses fault (the fault handler's business); the
//!   runtime gives read-write back only to pages that were read-write
//!   (the arena, registered globals). A caller that granted write to
//!   memory Rust treats as immutable would break that; the runtime's
//!   callers are `backend::protect` and `registry`; the wrappers cannot
//!   check which pages they are given (a known gap of this fence).

use core::sync::atomic::{AtomicUsize, Ordering};

/// Reserves `len` bytes of zero-filled, lazily backed, read-write memory
/// (key 0, `MAP_NORESERVE`). Returns null on failure.
pub fn reserve(len: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at a kernel-chosen address touches
    // no existing memory.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        core::ptr::null_mut()
    } else {
        p.cast()
    }
}

static ARENA_LO: AtomicUsize = AtomicUsize::new(0);
static ARENA_LEN: AtomicUsize = AtomicUsize::new(0);

/// Reserves the object arena (as [`reserve`]; once). Returns its base, or
/// None on failure.
pub fn reserve_arena(len: usize) -> Option<usize> {
    let p = reserve(len);
    if p.is_null() {
        return None;
    }
    ARENA_LO.store(p as usize, Ordering::Relaxed);
    ARENA_LEN.store(len, Ordering::Release);
    Some(p as usize)
}

/// Whether `[addr, addr+len)` lies inside the object arena.
pub fn in_arena(addr: usize, len: usize) -> bool {
    let lo = ARENA_LO.load(Ordering::Relaxed);
    let n = ARENA_LEN.load(Ordering::Acquire);
    n != 0 && addr >= lo && addr.wrapping_sub(lo) <= n && len <= n - (addr - lo)
}

/// Gives arena pages back to the kernel; they read as zero afterwards.
/// Does nothing outside the arena. Async-signal-safe.
pub fn arena_discard(addr: usize, len: usize) {
    if !in_arena(addr, len) {
        return;
    }
    // SAFETY: private anonymous arena pages, which no Rust reference
    // points into (module doc).
    unsafe {
        libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED);
    }
}

/// Zeroes `len` bytes at `addr` in the arena; false (nothing written)
/// outside it. The bytes must be accessible to the calling thread now
/// (else the write faults).
pub fn arena_zero(addr: usize, len: usize) -> bool {
    if !in_arena(addr, len) {
        return false;
    }
    // SAFETY: arena bytes, which no Rust reference points into.
    unsafe { core::ptr::write_bytes(addr as *mut u8, 0, len) };
    true
}

/// Touches the arena byte at `addr` as the calling thread: a read, or for
/// `write` an atomic read-modify-write that leaves it unchanged (so a
/// concurrent store of another thread is never lost). A fault on it is an
/// access of the program's (the fault handler decides). Does nothing
/// outside the arena.
pub fn arena_touch(addr: usize, write: bool) {
    if !in_arena(addr, 1) {
        return;
    }
    // Written in assembly: the compiler may drop an atomic access whose
    // result is unused (an `or 0` that nobody reads is no access to it),
    // and the point here is the access itself.
    if write {
        // SAFETY: an arena byte, which no Rust reference points into; a
        // locked `or` of 0 leaves its value as it was, atomically.
        unsafe {
            core::arch::asm!("lock or byte ptr [{0}], 0", in(reg) addr, options(nostack));
        }
    } else {
        // SAFETY: as above; a one-byte load.
        unsafe {
            core::arch::asm!("mov {1}, byte ptr [{0}]", in(reg) addr, out(reg_byte) _, options(nostack, readonly));
        }
    }
}

/// Maps `len` bytes of `fd` from `offset` shared and read-write at `addr`
/// (MAP_FIXED) in the arena; false if outside it or the kernel refused.
pub fn arena_map_shared(fd: i32, addr: usize, len: usize, offset: usize) -> bool {
    if !in_arena(addr, len) {
        return false;
    }
    // SAFETY: replaces arena pages only, which no Rust reference points
    // into (the registry's callers map either fresh pages or, in a fork
    // child, pages with the same contents).
    unsafe { map_file_fixed(fd, addr, len, offset) }
}

/// Maps `len` bytes of `fd` from `offset` shared and read-write at `addr`
/// (MAP_FIXED); false if the kernel refused.
///
/// # Safety
/// `[addr, addr+len)` must be memory no Rust reference points into, whose
/// old contents nobody needs (or that the new mapping repeats).
unsafe fn map_file_fixed(fd: i32, addr: usize, len: usize, offset: usize) -> bool {
    // SAFETY: the caller's contract.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_FIXED,
            fd,
            offset as libc::off_t,
        )
    };
    p as usize == addr
}

static ALIAS_LO: AtomicUsize = AtomicUsize::new(0);
static ALIAS_LEN: AtomicUsize = AtomicUsize::new(0);

/// Reserves the alias range (inaccessible until mapped over; once): where
/// the objects' file is mapped a second time, read-write under key 0, for
/// lock words (see `registry::alias`). Returns its base, or None on failure.
pub fn reserve_alias(len: usize) -> Option<usize> {
    let lo = ALIAS_LO.load(Ordering::Acquire);
    if lo != 0 {
        return Some(lo);
    }
    // SAFETY: an inaccessible anonymous mapping at a kernel-chosen address
    // touches no existing memory (and commits none: only the file pages
    // mapped over it later hold anything).
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return None;
    }
    ALIAS_LEN.store(len, Ordering::Relaxed);
    ALIAS_LO.store(p as usize, Ordering::Release);
    Some(p as usize)
}

/// Maps `len` bytes of `fd` from `offset` shared and read-write at the same
/// offset of the alias range (MAP_FIXED); false if the range is not
/// reserved or too short, or the kernel refused.
pub fn alias_map_shared(fd: i32, offset: usize, len: usize) -> bool {
    let lo = ALIAS_LO.load(Ordering::Acquire);
    let n = ALIAS_LEN.load(Ordering::Relaxed);
    if lo == 0 || offset > n || len > n - offset {
        return false;
    }
    // SAFETY: replaces pages of the alias range only, which no Rust
    // reference points into: the lock hooks hand its addresses to the
    // C library, and the pages it maps are either fresh file pages or, in
    // a fork child, the same pages of the child's copy of the file.
    unsafe { map_file_fixed(fd, lo + offset, len, offset) }
}

/// Copies `len` bytes between two arena ranges that do not overlap; false
/// (nothing copied) if either is outside the arena or they overlap.
pub fn arena_copy(src: usize, dst: usize, len: usize) -> bool {
    if !in_arena(src, len) || !in_arena(dst, len) || (src < dst + len && dst < src + len) {
        return false;
    }
    // SAFETY: two disjoint arena ranges (checked), which no Rust reference
    // points into.
    unsafe { core::ptr::copy_nonoverlapping(src as *const u8, dst as *mut u8, len) };
    true
}

/// Sets the page protection of `[addr, addr+len)` to `prot` (without
/// `PROT_EXEC`, which is masked off). Async-signal-safe. Errors: errno.
pub fn mprotect(addr: usize, len: usize, prot: i32) -> Result<(), i32> {
    // SAFETY: changes rights on pages, never their contents nor to
    // executable (see the module doc on page protection).
    let r = unsafe { libc::mprotect(addr as *mut libc::c_void, len, prot & !libc::PROT_EXEC) };
    if r == 0 {
        Ok(())
    } else {
        Err(super::errno())
    }
}

/// Number of bytes in a page.
pub const PAGE: usize = 4096;

pub fn page_round_up(n: usize) -> usize {
    n.div_ceil(PAGE) * PAGE
}

/// Types for which the all-zero bit pattern is a valid value (integers,
/// atomics, arrays of them, and structs of only those).
///
/// # Safety
/// An implementation promises that a zero-filled `T`, suitably aligned,
/// is a valid `T`.
pub unsafe trait Zeroable {}

macro_rules! zeroable_prims {
    ($($t:ty),*) => {$(
        // SAFETY: zero is a valid value of every integer and atomic integer
        // or boolean type.
        unsafe impl Zeroable for $t {}
    )*};
}
zeroable_prims!(
    u8,
    u16,
    u32,
    u64,
    usize,
    i8,
    i16,
    i32,
    i64,
    isize,
    core::sync::atomic::AtomicBool,
    core::sync::atomic::AtomicU8,
    core::sync::atomic::AtomicU16,
    core::sync::atomic::AtomicU32,
    core::sync::atomic::AtomicU64,
    core::sync::atomic::AtomicUsize,
    core::sync::atomic::AtomicI32,
    core::sync::atomic::AtomicI64
);
// SAFETY: a zero AtomicPtr holds the null pointer, a valid value.
unsafe impl<T> Zeroable for core::sync::atomic::AtomicPtr<T> {}
// SAFETY: an array of zero-valid elements is zero-valid.
unsafe impl<T: Zeroable, const N: usize> Zeroable for [T; N] {}

/// A fixed array of `T` in memory from [`reserve`], never freed.
pub struct FixedArray<T: 'static> {
    items: &'static [T],
}

impl<T: Zeroable + 'static> FixedArray<T> {
    /// Reserves room for `len` items, all zero (one `mmap`).
    pub fn new(len: usize) -> Option<Self> {
        let bytes = len.checked_mul(core::mem::size_of::<T>())?;
        let p = reserve(page_round_up(bytes.max(1)));
        if p.is_null() {
            return None;
        }
        // SAFETY: the mapping is zero-filled, aligned to a page (enough for
        // any T), at least len * size_of::<T>() bytes, never unmapped, and
        // zero is a valid T (T: Zeroable).
        let items = unsafe { core::slice::from_raw_parts(p as *const T, len) };
        Some(FixedArray { items })
    }
}

impl<T: 'static> FixedArray<T> {
    pub fn get(&self, i: usize) -> Option<&'static T> {
        self.items.get(i)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The item at address `addr` (as `get(i)` returned it, kept as an
    /// integer); None for an address that is not an item's start.
    #[inline]
    pub fn at_addr(&self, addr: usize) -> Option<&'static T> {
        let size = core::mem::size_of::<T>();
        let off = addr.wrapping_sub(self.items.as_ptr() as usize);
        if size == 0 || !off.is_multiple_of(size) {
            return None;
        }
        self.items.get(off / size)
    }
}

/// Starts loading the cache line of `p` without waiting for it (a hint: no
/// fault, no effect on correctness).
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    // SAFETY: PREFETCHT0 never faults and has no architectural effect.
    unsafe { core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast()) }
}
