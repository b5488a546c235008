//! The runtime's one unsafe fence: every raw system call, raw pointer and
//! `unsafe impl` of `push-rt` lives below this module; the crate root
//! denies `unsafe_code` everywhere else.
//!
//! Each submodule states in its `//!` doc the invariants it keeps so that
//! the safe functions it exports are sound for any safe caller; every
//! `unsafe` block carries a `// SAFETY:` comment saying why it holds.
//!
//! - [`heap`]: libc `malloc` for the C API's fallbacks.
//! - [`mem`]: anonymous mappings, [`FixedArray`] and [`Zeroable`] (the
//!   types valid when all-zero), page protection of program memory.
//! - [`once`]: [`OncePtr`], a pointer to a leaked value set at most once.
//! - [`own_alloc`]: the runtime's own allocator (its `GlobalAlloc`).
//! - [`real`]: the libc functions behind the hooks (`dlsym`'d pointers).
//! - [`zeroable`]: the `unsafe impl Zeroable` of the runtime's own table
//!   types, kept here (not next to each type) so that the files declaring
//!   them stay free of unsafe code; each impl says why zero is valid.
//! - [`frame`]: signal handlers in safe code: [`frame::SignalFrame`] (pc, frame
//!   pointer, error code, trap flag, saved PKRU), the application's actions.
//! - [`futex`]: futex wait/wake and [`FutexMutex`], a lock a fork handler
//!   can hold across `fork`.
//! - [`pkru`]: the one PKRU reader and writer, `pkey_mprotect`.
//! - [`proc`]: errno, ids, exit, robust lists, prctl.
//! - [`defaults`]: calls the program's `push_default_options()` (program
//!   code found by symbol: the one call into the program by address).
//! - [`fd`]: file descriptors.
//! - [`signal`]: signal masks, alternate signal stacks.
//! - [`slot`]: [`Slot`], a lock-free producer-to-consumer cell.
//!
//! Unless a function says otherwise it is async-signal-safe: a system call
//! or plain memory access, no allocation, no lock.

pub mod defaults;
pub mod fd;
pub mod frame;
pub mod futex;
pub mod heap;
pub mod mem;
pub mod once;
pub mod own_alloc;
pub mod pkru;
pub mod proc;
pub mod real;
pub mod signal;
pub mod slot;
pub mod zeroable;

pub use fd::*;
pub use futex::*;
pub use mem::*;
pub use once::OncePtr;
pub use proc::*;
pub use signal::*;
pub use slot::Slot;
