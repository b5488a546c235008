//! The runtime's one unsafe fence: every raw system call, raw pointer
//! dereference and `unsafe impl` of `push-rt` lives below this module; the
//! crate root denies `unsafe_code` everywhere else.
//!
//! Each submodule's `# Safety` paragraph states the invariants it keeps so
//! that the safe functions it exports are sound for a safe caller (and
//! names the known gaps); every `unsafe` block carries a `// SAFETY:`
//! comment saying why it holds.
//!
//! - [`mem`]: anonymous mappings, [`FixedArray`] and [`Zeroable`] (types
//!   valid when all-zero), the object arena (range-checked mapping,
//!   zeroing, copying, discarding), page protection.
//! - [`zeroable`]: the `unsafe impl Zeroable` of the runtime's own table
//!   types. They live here, not next to each type, so that the files
//!   declaring the types stay under `deny(unsafe_code)`; the price is
//!   `pub(crate)` visibility of those types (not of their fields), and that
//!   a new field must be checked against its impl here (each impl lists
//!   what its fields are). A derive would need a proc-macro crate for a
//!   handful of types.
//! - [`futex`]: futex wait/wake and [`FutexMutex`], a lock a fork handler
//!   can hold across `fork`.
//! - [`slot`]: [`Slot`], a lock-free producer-to-consumer cell (the report
//!   queue).
//! - [`once`]: [`OncePtr`], a pointer to a leaked value set at most once.
//! - [`pkru`]: the one PKRU reader and writer, `pkey_mprotect`.
//! - [`frame`]: signal handlers in safe code: [`frame::SignalFrame`] (pc,
//!   frame pointer, error code, trap flag, saved mask, saved PKRU), the
//!   application's recorded actions, signal sets.
//! - [`signal`]: dispositions, masks, alternate signal stacks.
//! - [`proc`]: errno, ids, exit, robust lists, prctl, stack bounds and
//!   frame records, `dladdr`, `getenv`.
//! - [`fd`]: file descriptors.
//! - [`heap`]: libc `malloc` for the C API's fallbacks.
//! - [`own_alloc`]: the runtime's own allocator (its `GlobalAlloc`).
//! - [`real`]: the libc functions behind the hooks (`dlsym`'d pointers).
//! - [`defaults`]: calls the program's `push_default_options()` (program
//!   code found by symbol).
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
pub mod real_alloc;
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
