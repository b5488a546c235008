//! Policy changes on any tracked object, named by a pointer into it.
//!
//! These are the C API's policy calls for objects the crate does not own:
//! a [`tracked_static!`](crate::tracked_static) (`static mut` ones
//! included, through `addr_of!`), a buffer a C library allocated with
//! `push_malloc`, or a [`TrackedBox`](crate::TrackedBox) reached through a
//! raw pointer. `obj` may point anywhere inside the object; the runtime
//! only looks the address up, so the functions are safe: a pointer outside
//! every tracked object is refused with [`PolicyError::InvalidArgument`]
//! and an `annotation error` report.
//!
//! Who may change a policy: the owner of a private object, a holder of the
//! protecting lock, or anyone for a read-only, released or racy object.
//! Every change is checked with happens-before: it must happen after the
//! object's previous change (unless the same thread made both), and the
//! first access by another thread under the new policy must happen after it.
//!
//! Without the runtime every function returns `Ok(())` and does nothing.

use crate::error::PolicyError;
use crate::runtime::{runtime, Runtime};
use core::ffi::{c_int, c_void};
use std::os::unix::thread::JoinHandleExt;
use std::thread::JoinHandle;

/// A lock PUSh can name: objects [protected by](set_protected_by) it are
/// readable and writable by the thread that holds it exclusively, readable
/// by threads that hold it in read mode, and by no one else.
///
/// The runtime knows a lock by an address, the one announced when the lock
/// is taken. [`sync::Mutex`](crate::sync::Mutex) and
/// [`sync::RwLock`](crate::sync::RwLock) implement it; [`LockAddr`] names a
/// pthread lock (from C code) or a custom lock announced with
/// [`lock_acquired`](crate::lock_acquired).
///
/// ```
/// use push_annotate::{policy::Lock, sync::Mutex};
///
/// let m = Mutex::new(0u32);
/// assert!(!m.lock_addr().is_null());
/// ```
pub trait Lock {
    /// The address the runtime knows this lock by.
    fn lock_addr(&self) -> *const c_void;
}

/// The address of a lock the runtime sees being taken: a
/// `pthread_mutex_t`, `pthread_rwlock_t` or `pthread_spinlock_t` (taken
/// through the pthread functions, which PUSh intercepts), or a custom lock
/// announced with [`lock_acquired`](crate::lock_acquired).
///
/// ```
/// use push_annotate::policy::{Lock, LockAddr};
///
/// let mut c_mutex: libc::pthread_mutex_t = libc::PTHREAD_MUTEX_INITIALIZER;
/// let lock = LockAddr::new(&mut c_mutex as *mut libc::pthread_mutex_t);
/// assert_eq!(lock.lock_addr(), &c_mutex as *const _ as *const libc::c_void);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LockAddr(usize);

impl LockAddr {
    /// Names the lock at `lock` (only the address is kept).
    ///
    /// ```
    /// use std::sync::atomic::AtomicBool;
    /// static SPIN: AtomicBool = AtomicBool::new(false);
    /// let lock = push_annotate::policy::LockAddr::new(&SPIN);
    /// # let _ = lock;
    /// ```
    pub fn new<T: ?Sized>(lock: *const T) -> Self {
        LockAddr(lock.cast::<c_void>() as usize)
    }
}

impl Lock for LockAddr {
    fn lock_addr(&self) -> *const c_void {
        self.0 as *const c_void
    }
}

impl<L: Lock + ?Sized> Lock for &L {
    fn lock_addr(&self) -> *const c_void {
        (**self).lock_addr()
    }
}

/// Runs one policy call of the runtime on `obj`.
fn change<T: ?Sized>(
    obj: *const T,
    call: impl FnOnce(&Runtime, *mut c_void) -> c_int,
) -> Result<(), PolicyError> {
    match runtime() {
        Some(rt) => PolicyError::check(call(rt, obj.cast::<c_void>().cast_mut())),
        None => Ok(()),
    }
}

/// Makes the object private to the calling thread (the policy of a new
/// object): read-write for it, no access for any other thread.
///
/// # Errors
/// [`PolicyError::InvalidArgument`] when `obj` is not in a tracked object,
/// [`PolicyError::NotPermitted`] when the caller may not change its policy.
///
/// ```
/// use push_annotate::{policy, TrackedBox};
///
/// let data = TrackedBox::new([0u8; 64]);
/// policy::set_private(data.as_ptr()).unwrap();
/// ```
pub fn set_private<T: ?Sized>(obj: *const T) -> Result<(), PolicyError> {
    // SAFETY: the runtime only looks the address up (crate::runtime # Safety).
    change(obj, |rt, p| unsafe { (rt.private)(p) })
}

/// Makes the object read-only: every thread may read it, none may write.
///
/// # Errors
/// As [`set_private`].
///
/// ```
/// use push_annotate::{policy, tracked_static};
///
/// tracked_static! { static TABLE: [u32; 4] = [1, 2, 3, 4]; }
/// policy::set_readonly(&TABLE).unwrap();
/// assert_eq!(TABLE[2], 3);
/// ```
pub fn set_readonly<T: ?Sized>(obj: *const T) -> Result<(), PolicyError> {
    // SAFETY: the runtime only looks the address up (crate::runtime # Safety).
    change(obj, |rt, p| unsafe { (rt.readonly)(p) })
}

/// Protects the object by `lock`: read-write for the thread holding it
/// exclusively, read-only for threads holding it in read mode, no access
/// for others.
///
/// # Errors
/// As [`set_private`]; also [`PolicyError::InvalidArgument`] for a null lock.
///
/// ```
/// use push_annotate::{policy, sync::Mutex, tracked_static};
/// use std::ptr::addr_of_mut;
///
/// tracked_static! { static mut HITS: u64 = 0; }
/// let lock = Mutex::new(());
/// policy::set_protected_by(std::ptr::addr_of!(HITS), &lock).unwrap();
/// {
///     let _held = lock.lock().unwrap();
///     // SAFETY: HITS is only touched with `lock` held.
///     unsafe { *addr_of_mut!(HITS.value) += 1 };
/// }
/// ```
pub fn set_protected_by<T: ?Sized, L: Lock + ?Sized>(
    obj: *const T,
    lock: &L,
) -> Result<(), PolicyError> {
    let lock = lock.lock_addr();
    // SAFETY: the runtime only looks both addresses up (crate::runtime # Safety).
    change(obj, |rt, p| unsafe { (rt.protected_by)(p, lock) })
}

/// Makes the object private to the thread of `thread` (which must not have
/// exited). Hand the object over afterwards through something the runtime
/// sees (a [`sync`](crate::sync) channel or lock, or thread creation): its
/// first access must happen after this call.
///
/// # Errors
/// As [`set_private`]; [`PolicyError::InvalidArgument`] also when the thread
/// has exited.
///
/// ```
/// use push_annotate::{policy, TrackedBox};
///
/// let job = TrackedBox::new([7u8; 16]);
/// let worker = std::thread::spawn(|| ());
/// policy::transfer_to(job.as_ptr(), &worker).ok(); // the thread may be gone already
/// worker.join().unwrap();
/// ```
pub fn transfer_to<T: ?Sized, R>(obj: *const T, thread: &JoinHandle<R>) -> Result<(), PolicyError> {
    transfer_to_pthread(obj, thread.as_pthread_t())
}

/// [`transfer_to`] a thread named by its `pthread_t` (for example one a C
/// library created, or `libc::pthread_self()` sent by a scoped thread).
///
/// # Errors
/// As [`transfer_to`].
///
/// ```
/// use push_annotate::{policy, TrackedBox};
///
/// let data = TrackedBox::new(5u64);
/// // SAFETY: pthread_self has no preconditions.
/// let me = unsafe { libc::pthread_self() };
/// policy::transfer_to_pthread(data.as_ptr(), me).unwrap();
/// ```
pub fn transfer_to_pthread<T: ?Sized>(
    obj: *const T,
    thread: libc::pthread_t,
) -> Result<(), PolicyError> {
    // SAFETY: the runtime only looks the address and the thread up.
    change(obj, |rt, p| unsafe { (rt.transfer)(p, thread) })
}

/// Releases the object: no thread may access it until one calls
/// [`acquire`], which makes it private to that thread. For hand-overs where
/// the receiving thread is not known in advance (work queues).
///
/// # Errors
/// As [`set_private`].
///
/// ```
/// use push_annotate::{policy, TrackedBox};
///
/// let buf = TrackedBox::new([0u8; 32]);
/// policy::release(buf.as_ptr()).unwrap();
/// policy::acquire(buf.as_ptr()).unwrap();
/// assert_eq!(buf[0], 0);
/// ```
pub fn release<T: ?Sized>(obj: *const T) -> Result<(), PolicyError> {
    // SAFETY: the runtime only looks the address up (crate::runtime # Safety).
    change(obj, |rt, p| unsafe { (rt.release)(p) })
}

/// Takes a released object: it becomes private to the calling thread. The
/// call must happen after the [`release`] (through synchronization the
/// runtime sees), or it is reported as an `unordered policy change`.
///
/// # Errors
/// As [`set_private`].
///
/// ```
/// use push_annotate::{policy, TrackedBox};
///
/// let buf = TrackedBox::new(1u32);
/// policy::release(buf.as_ptr()).unwrap();
/// policy::acquire(buf.as_ptr()).unwrap();
/// ```
pub fn acquire<T: ?Sized>(obj: *const T) -> Result<(), PolicyError> {
    // SAFETY: the runtime only looks the address up (crate::runtime # Safety).
    change(obj, |rt, p| unsafe { (rt.acquire)(p) })
}

/// Marks the object intentionally racy: no access to it is ever reported
/// (statistics counters updated with relaxed atomics, say).
///
/// # Errors
/// As [`set_private`].
///
/// ```
/// use push_annotate::{policy, TrackedBox};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// let hits = TrackedBox::new(AtomicU64::new(0));
/// policy::set_racy(hits.as_ptr()).unwrap();
/// hits.fetch_add(1, Ordering::Relaxed);
/// ```
pub fn set_racy<T: ?Sized>(obj: *const T) -> Result<(), PolicyError> {
    // SAFETY: the runtime only looks the address up (crate::runtime # Safety).
    change(obj, |rt, p| unsafe { (rt.racy)(p) })
}
