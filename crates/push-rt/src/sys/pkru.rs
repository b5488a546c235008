//! PKRU: the one place the runtime reads or writes the register, and
//! `pkey_mprotect`.
//!
//! # Safety
//! RDPKRU/WRPKRU fault (#UD) unless the OS enabled protection keys
//! (OSPKE). [`mark_usable`] is called once start-up has seen OSPKE; until
//! then [`read`] returns None and [`write`] does nothing. Changing PKRU
//! changes which pages the thread may touch, never their contents: a
//! wrong value makes an access fault (and reach the fault handler), it
//! does not make memory unsafe.

use core::sync::atomic::{AtomicBool, Ordering};
use x86_check::Pkru;

static USABLE: AtomicBool = AtomicBool::new(false);

/// Start-up saw CPU and kernel support for protection keys (OSPKE).
pub fn mark_usable() {
    USABLE.store(true, Ordering::Release);
}

/// The calling thread's PKRU; None before [`mark_usable`].
/// Async-signal-safe (one instruction).
#[inline]
pub fn read() -> Option<Pkru> {
    if !USABLE.load(Ordering::Relaxed) {
        return None;
    }
    // SAFETY: OSPKE is enabled (mark_usable); RDPKRU only reads.
    Some(unsafe { x86_check::pkru::read() })
}

/// Sets the calling thread's PKRU (nothing before [`mark_usable`]).
/// Async-signal-safe (one instruction).
#[inline]
pub fn write(value: Pkru) {
    if !USABLE.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: OSPKE is enabled (mark_usable); see the module doc for why
    // any value is memory-safe.
    unsafe { x86_check::pkru::write(value) }
}

/// Runs `f` with every key open (PKRU 0), then restores the thread's
/// PKRU. Async-signal-safe if `f` is.
pub fn with_all_keys<R>(f: impl FnOnce() -> R) -> R {
    let saved = read();
    write(Pkru(0));
    let r = f();
    if let Some(s) = saved {
        write(s);
    }
    r
}

/// Puts `[addr, addr+len)` under key `key`, read-write (one
/// `pkey_mprotect`). Async-signal-safe. Errors: the errno value.
///
/// See [`super::mem::mprotect`] for why this is safe to call on any range.
pub fn pkey_mprotect(addr: usize, len: usize, key: u32) -> Result<(), i32> {
    // SAFETY: changes the key of pages, not their contents; the pages stay
    // read-write (see super::mem's doc on page protection).
    unsafe {
        x86_check::pkey::mprotect(
            addr as *mut u8,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            key,
        )
    }
}
