//! The protection-key system calls: `pkey_alloc(2)`, `pkey_free(2)`,
//! `pkey_mprotect(2)`.
//!
//! # Safety
//! These are thin wrappers over raw system calls (no libc wrapper needed, no
//! allocation, async-signal-safe). `pkey_alloc` changes only the calling
//! thread's PKRU. [`mprotect`] changes the protection of memory the caller
//! names; the caller must own that memory.

/// Allocates a key with the given initial rights for the calling thread.
///
/// # Errors
/// The errno value (`ENOSPC` when no key is left, `EINVAL`/`ENOSYS` without support).
pub fn alloc(access_rights: u32) -> Result<u32, i32> {
    // SAFETY: pkey_alloc takes two integers and touches no user memory.
    let r = unsafe { libc::syscall(libc::SYS_pkey_alloc, 0u64, access_rights as u64) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(r as u32)
    }
}

/// Frees a key obtained from [`alloc`].
pub fn free(key: u32) -> Result<(), i32> {
    // SAFETY: pkey_free takes an integer and touches no user memory.
    let r = unsafe { libc::syscall(libc::SYS_pkey_free, key as u64) };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// Sets protection `prot` and key `key` on the pages `[addr, addr+len)`.
///
/// # Safety
/// `addr` must be page-aligned and the range must belong to the caller; a
/// protection that removes access from memory in use breaks that code.
///
/// # Errors
/// The errno value.
pub unsafe fn mprotect(addr: *mut u8, len: usize, prot: i32, key: u32) -> Result<(), i32> {
    // SAFETY: the caller owns the range; the kernel validates it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pkey_mprotect,
            addr as usize,
            len,
            prot as i64,
            key as u64,
        )
    };
    if r < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

fn errno() -> i32 {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// How many keys `pkey_alloc` can hand out right now (all are freed again).
///
/// # Errors
/// The errno value of the first failure when not even one key could be allocated.
pub fn count_allocatable() -> Result<u32, i32> {
    let mut keys = [0u32; 16];
    let mut n = 0;
    let mut first_err = 0;
    while n < keys.len() {
        match alloc(0) {
            Ok(k) => {
                keys[n] = k;
                n += 1;
            }
            Err(e) => {
                first_err = e;
                break;
            }
        }
    }
    for &k in &keys[..n] {
        let _ = free(k);
    }
    if n == 0 {
        Err(first_err)
    } else {
        Ok(n as u32)
    }
}
