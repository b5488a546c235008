//! The program's heap (libc `malloc`), for the C API's untracked
//! fallbacks, and copies out of tracked objects.
//!
//! # Safety
//! Only blocks this module allocated are written here; tracked objects are
//! read only inside the object arena ([`super::mem`]'s range check), where
//! no Rust reference points. Freeing or resizing a block the program got
//! from `malloc` stays with the caller that has the C contract (the
//! `preload` crate), so no safe function here takes a foreign pointer.
//! Not async-signal-safe (malloc).

/// `malloc(size)`: null on failure.
pub fn malloc(size: usize) -> *mut u8 {
    // libpush.so's own `malloc` would watch it: the real allocator's.
    super::real_alloc::malloc(size).cast()
}

/// `calloc(n, size)`: null on failure.
pub fn calloc(n: usize, size: usize) -> *mut u8 {
    super::real_alloc::calloc(n, size).cast()
}

/// A new `malloc` block of `size` bytes holding the first `len` (at most
/// `size`) bytes of the arena range at `src`; null on failure or when the
/// range is not in the arena.
pub fn malloc_copy_from_arena(src: usize, len: usize, size: usize) -> *mut u8 {
    let len = len.min(size);
    if !super::mem::in_arena(src, len) {
        return core::ptr::null_mut();
    }
    let p = malloc(size);
    if !p.is_null() {
        // SAFETY: the source is arena bytes (checked), read with the
        // calling thread's rights (a fault is the program's access); the
        // destination is the fresh block of at least `len` bytes.
        unsafe { core::ptr::copy_nonoverlapping(src as *const u8, p, len) };
    }
    p
}
