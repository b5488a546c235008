//! Annotations for PUSh, the data race detector that prevents unintended
//! sharing, for unsafe Rust and Rust/C programs.
//!
//! # The model
//! Every *tracked object* has a sharing policy, enforced per thread by the
//! CPU's memory protection keys (or, without them, by `mprotect` windows):
//!
//! | policy | who may access | set with |
//! | --- | --- | --- |
//! | private(T) | thread T reads and writes; the default, T = the creator | [`TrackedBox::set_private`], [`TrackedBox::transfer_to`], [`TrackedBox::acquire`] |
//! | read-only | every thread reads, none writes | [`TrackedBox::set_readonly`] |
//! | protected by L | the holder of lock L (readers of L may read) | [`TrackedBox::set_protected_by`], [`sync::Mutex`], [`sync::RwLock`] |
//! | released | nobody, until a thread acquires it | [`TrackedBox::release`] |
//! | racy | everyone, never reported | [`TrackedBox::set_racy`] |
//!
//! An access the policy does not allow is a *data race* report naming the
//! source line (`.rs` file and line) of the access, and the process exits
//! with status 66. Who may change a policy: the owner of a private object,
//! a holder of the protecting lock, or anyone for read-only, released and
//! racy objects; anything else is an *annotation error* (the methods return
//! [`PolicyError`]). Policy changes are checked with happens-before: a
//! change must happen after the object's previous change, and the first
//! access by another thread after the change, or it is reported as an
//! *unordered policy change*.
//!
//! PUSh sees pthread synchronization and thread creation and join, but not
//! Rust's `std::sync` (futexes) nor atomics. Use the [`sync`] types, drop-in
//! replacements for their `std` namesakes that announce every acquire and
//! release, and [`happens_before`]/[`happens_after`] around atomics.
//!
//! # What is tracked
//! * [`TrackedBox<T>`]: a `Box`-like owning pointer to a tracked object;
//! * [`tracked_static!`]: a tracked `static` or `static mut`, the
//!   counterpart of `PUSH_GLOBAL` in `push.h`;
//! * the data of a [`sync::Mutex`] or [`sync::RwLock`], protected by it;
//! * anything C code allocated with `push_malloc`: change its policy with
//!   the [`policy`] functions, which take a pointer into any tracked object.
//!
//! # Running
//! Build as usual (no link-time dependency, stable Rust) and run under the
//! runtime: `push run -- target/debug/app`, or for tests set cargo's runner
//! in `.cargo/config.toml`:
//! ```toml
//! [target.x86_64-unknown-linux-gnu]
//! runner = ["push", "run", "--"]
//! ```
//! Build with debug information (the default for `dev`; `debug = 1` or more
//! in release) so that reports show `file:line`.
//!
//! # Without the runtime
//! The crate looks the runtime's C API up once, with
//! `dlsym(RTLD_DEFAULT, ...)`, and caches the answer. When `libpush.so` is
//! not loaded, tracked values come from the global allocator, every policy
//! change succeeds without doing anything, and every announcement is a
//! branch on a cached pointer: the program runs at native speed
//! ([`runtime_loaded`] tells which case holds).
//!
//! ```
//! use push_annotate::{sync::Mutex, TrackedBox};
//! use std::sync::Arc;
//!
//! // Read-only configuration shared by every thread.
//! let config = TrackedBox::new([4u64, 5, 6]);
//! config.set_readonly().unwrap();
//! let config = Arc::new(config);
//! // A total protected by its mutex.
//! let total = Arc::new(Mutex::new(0u64));
//!
//! let workers: Vec<_> = (0..3)
//!     .map(|i| {
//!         let (config, total) = (config.clone(), total.clone());
//!         std::thread::spawn(move || *total.lock().unwrap() += config[i])
//!     })
//!     .collect();
//! for w in workers {
//!     w.join().unwrap();
//! }
//! assert_eq!(*total.lock().unwrap(), 15);
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs, clippy::undocumented_unsafe_blocks)]

mod alloc;
mod error;
mod global;
mod hb;
pub mod policy;
mod runtime;
pub mod sync;
mod tracked;

pub use error::PolicyError;
#[doc(hidden)]
pub use global::__private;
pub use global::TrackedStatic;
pub use hb::{happens_after, happens_before, lock_acquired, lock_released};
pub use runtime::runtime_loaded;
pub use tracked::TrackedBox;

/// The examples of the crate's README, run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
