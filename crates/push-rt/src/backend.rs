//! Enforcement backends: how accesses the policy may refuse reach the
//! decision.
//!
//! The decision itself ([`crate::policy::decide`]) is the same for both:
//!
//! * `mpk`: protection keys. Each object's pages carry the key of its owner
//!   (or a reserved key); each thread's PKRU opens the keys it may use, so an
//!   allowed access runs at full speed and only a refused one faults
//!   (`SEGV_PKUERR`). Needs a CPU and kernel with PKU.
//! * `mprotect`: portable. Pages carry process-wide protections: read-only
//!   objects `PROT_READ`, racy objects read-write, everything else closed. Every
//!   access a closed page refuses faults (`SEGV_ACCERR`) and is decided by
//!   the same function; an allowed one opens a window on the object (see
//!   [`crate::windows`]) that stays open until the thread's next
//!   synchronization. A race whose access falls inside another thread's open
//!   window is missed that time: this backend can hide a race, never invent
//!   one.
//!
//! The keys of [`crate::domains`] exist under both backends: under
//! `mprotect` they are plain numbers that name a page's base protection
//! ([`base_prot`]), allocated from no hardware.

use core::sync::atomic::{AtomicU32, AtomicU8, AtomicUsize, Ordering};

/// Which backend is enforcing policies.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Backend {
    Mpk,
    Mprotect,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Mpk => "mpk",
            Backend::Mprotect => "mprotect",
        }
    }
}

static CURRENT: AtomicU8 = AtomicU8::new(0);
/// `mprotect` system calls made to open and close windows and change keys.
pub static MPROTECT_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Records the backend chosen at start-up.
pub fn set(b: Backend) {
    CURRENT.store(
        match b {
            Backend::Mpk => 1,
            Backend::Mprotect => 2,
        },
        Ordering::Release,
    );
}

/// The backend in force (None before start-up chose one).
pub fn current() -> Option<Backend> {
    match CURRENT.load(Ordering::Acquire) {
        1 => Some(Backend::Mpk),
        2 => Some(Backend::Mprotect),
        _ => None,
    }
}

/// Whether protection keys enforce policies (PKRU may be read and written).
#[inline]
pub fn is_mpk() -> bool {
    CURRENT.load(Ordering::Relaxed) == 1
}

/// Whether the portable backend enforces policies.
#[inline]
pub fn is_mprotect() -> bool {
    CURRENT.load(Ordering::Relaxed) == 2
}

/// The keys the `mprotect` backend hands out instead of allocating them:
/// the same layout `domains` expects from `pkey_alloc` (key 0 stays
/// "untracked / racy").
pub const PORTABLE_KEYS: [u32; 15] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

/// The read-only key, once `domains` chose it (`u32::MAX` before): under
/// `mprotect`, the one key besides 0 whose pages are readable without a
/// window.
static READONLY_KEY: AtomicU32 = AtomicU32::new(u32::MAX);

/// Records the read-only key `domains` chose at start-up.
pub fn note_readonly_key(key: u32) {
    READONLY_KEY.store(key, Ordering::Relaxed);
}

/// The read-only key (`u32::MAX` before `domains` chose one).
pub fn readonly_key() -> u32 {
    READONLY_KEY.load(Ordering::Relaxed)
}

/// Under `mprotect`: the protection a page with `key` has when no window is
/// open on it. Key 0 (racy objects, fresh pages) is read-write, the
/// read-only key readable, every other key closed.
pub fn base_prot(key: u32, readonly_key: u32) -> i32 {
    if key == 0 {
        libc::PROT_READ | libc::PROT_WRITE
    } else if key == readonly_key {
        libc::PROT_READ
    } else {
        libc::PROT_NONE
    }
}

/// Sets the protection of `[addr, addr+len)` under the current backend: the
/// key (pages stay read-write) under `mpk`, the page protection `prot`
/// under `mprotect`. Async-signal-safe (one system call).
/// The range is page-aligned and belongs to a tracked object (or fresh
/// arena pages) of the runtime.
///
/// # Errors
/// The errno value of the system call.
pub fn protect(addr: usize, len: usize, key: u32, prot: i32) -> Result<(), i32> {
    if is_mpk() {
        crate::sys::pkru::pkey_mprotect(addr, len, key)
    } else {
        MPROTECT_CALLS.fetch_add(1, Ordering::Relaxed);
        crate::sys::mprotect(addr, len, prot)
    }
}
