//! [`TrackedBox`]: an owning pointer to a tracked object.

use crate::alloc::{allocate, deallocate};
use crate::error::PolicyError;
use crate::policy::{self, Lock};
use core::fmt;
use core::marker::PhantomData;
use core::mem::ManuallyDrop;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use std::alloc::Layout;
use std::thread::JoinHandle;

/// An owning pointer, like `Box<T>`, whose value is a tracked object: it
/// lives on pages of its own, starts private to the thread that created it,
/// and its accesses are checked against its sharing policy by the hardware.
///
/// The policy methods (`set_readonly`, `set_protected_by`, `transfer_to`,
/// `release`/`acquire`, `set_racy`, `set_private`) are the C API's. An
/// access the policy does not allow (a raw pointer used by the wrong thread,
/// a write to a read-only value) is reported as a data race with the source
/// line of the access.
///
/// Safe code cannot share a `TrackedBox` unsynchronized: `Send` and `Sync`
/// follow `T` as for `Box<T>`. What PUSh catches is what unsafe code, FFI
/// or wrong hand-over logic does with the value's address, and safe
/// accesses under a policy that forbids them (a `Deref` of a read-only
/// value is fine, a `DerefMut` write to it is reported).
///
/// Only the value's own bytes are tracked: a `TrackedBox<Vec<u8>>` tracks
/// the vector's pointer, length and capacity, not its heap buffer; use
/// `TrackedBox<[u8]>` ([`from_slice`](TrackedBox::from_slice),
/// [`from_fn`](TrackedBox::from_fn)) for buffers.
///
/// Without the runtime it is a plain heap allocation and every policy
/// method returns `Ok(())`.
///
/// ```
/// use push_annotate::TrackedBox;
///
/// let mut config = TrackedBox::new([1u32, 2, 3]);
/// config[0] = 10;                    // private to this thread: fine
/// config.set_readonly().unwrap();    // from now on: read by all, written by none
/// let config = std::sync::Arc::new(config);
/// let reader = {
///     let config = config.clone();
///     std::thread::spawn(move || config.iter().sum::<u32>())
/// };
/// assert_eq!(reader.join().unwrap(), 15);
/// ```
pub struct TrackedBox<T: ?Sized> {
    ptr: NonNull<T>,
    /// Owns a `T` (drop check, auto traits through `T`).
    _owns: PhantomData<T>,
}

// SAFETY: a TrackedBox owns its T exactly as Box<T> does.
unsafe impl<T: ?Sized + Send> Send for TrackedBox<T> {}
// SAFETY: &TrackedBox<T> only gives out &T.
unsafe impl<T: ?Sized + Sync> Sync for TrackedBox<T> {}

impl<T> TrackedBox<T> {
    /// Moves `value` into a new tracked object, private to the calling
    /// thread.
    ///
    /// ```
    /// let n = push_annotate::TrackedBox::new(41u64);
    /// assert_eq!(*n + 1, 42);
    /// ```
    pub fn new(value: T) -> Self {
        let ptr = allocate(Layout::new::<T>()).cast::<T>();
        // SAFETY: a fresh block with T's size and alignment, private to us.
        unsafe { ptr.as_ptr().write(value) };
        TrackedBox {
            ptr,
            _owns: PhantomData,
        }
    }

    /// Moves the value out and frees the tracked object.
    ///
    /// ```
    /// let b = push_annotate::TrackedBox::new(String::from("hi"));
    /// assert_eq!(b.into_inner(), "hi");
    /// ```
    pub fn into_inner(self) -> T {
        let this = ManuallyDrop::new(self);
        // SAFETY: the value is initialised and, `this` being forgotten, read
        // exactly once; the block came from `allocate` with T's layout.
        unsafe {
            let value = this.ptr.as_ptr().read();
            deallocate(this.ptr.cast(), Layout::new::<T>());
            value
        }
    }
}

impl<T: Copy> TrackedBox<[T]> {
    /// A tracked copy of `items`.
    ///
    /// ```
    /// let buf = push_annotate::TrackedBox::from_slice(b"abc");
    /// assert_eq!(&buf[..], b"abc");
    /// ```
    pub fn from_slice(items: &[T]) -> Self {
        Self::from_fn(items.len(), |i| items[i])
    }
}

impl<T> TrackedBox<[T]> {
    /// A tracked slice of `len` elements, element `i` being `f(i)`. (If `f`
    /// panics, the elements made so far and the block are leaked.)
    ///
    /// ```
    /// let squares = push_annotate::TrackedBox::from_fn(4, |i| i * i);
    /// assert_eq!(&squares[..], &[0, 1, 4, 9]);
    /// ```
    pub fn from_fn(len: usize, mut f: impl FnMut(usize) -> T) -> Self {
        let layout = Layout::array::<T>(len).expect("slice too large for the address space");
        let base = allocate(layout).cast::<T>();
        for i in 0..len {
            // SAFETY: element i of a fresh block of `len` elements.
            unsafe { base.as_ptr().add(i).write(f(i)) };
        }
        TrackedBox {
            ptr: NonNull::slice_from_raw_parts(base, len),
            _owns: PhantomData,
        }
    }
}

impl<T: ?Sized> TrackedBox<T> {
    /// The value's address (for FFI, or code the policy must check).
    ///
    /// ```
    /// let b = push_annotate::TrackedBox::new(3u8);
    /// // SAFETY: the box is alive and nobody writes it.
    /// assert_eq!(unsafe { *b.as_ptr() }, 3);
    /// ```
    pub fn as_ptr(&self) -> *const T {
        self.ptr.as_ptr()
    }

    /// The value's address, for writing through.
    ///
    /// ```
    /// let mut b = push_annotate::TrackedBox::new(3u8);
    /// let p = b.as_mut_ptr();
    /// // SAFETY: the box is alive and not otherwise borrowed.
    /// unsafe { *p = 4 };
    /// assert_eq!(*b, 4);
    /// ```
    pub fn as_mut_ptr(&mut self) -> *mut T {
        self.ptr.as_ptr()
    }

    /// Gives up ownership: the caller frees the value with
    /// [`from_raw`](TrackedBox::from_raw) (C code may keep it meanwhile).
    ///
    /// ```
    /// use push_annotate::TrackedBox;
    /// let p = TrackedBox::into_raw(TrackedBox::new(9i32));
    /// // SAFETY: `p` came from into_raw and is given back once.
    /// let b = unsafe { TrackedBox::from_raw(p) };
    /// assert_eq!(*b, 9);
    /// ```
    pub fn into_raw(this: Self) -> *mut T {
        ManuallyDrop::new(this).ptr.as_ptr()
    }

    /// Takes back ownership of what [`into_raw`](TrackedBox::into_raw)
    /// returned.
    ///
    /// # Safety
    /// `ptr` came from `TrackedBox::<T>::into_raw` and is taken back once.
    ///
    /// ```
    /// use push_annotate::TrackedBox;
    /// let p = TrackedBox::into_raw(TrackedBox::from_slice(&[1u16, 2]));
    /// // SAFETY: `p` came from into_raw and is given back once.
    /// let b = unsafe { TrackedBox::from_raw(p) };
    /// assert_eq!(b.len(), 2);
    /// ```
    pub unsafe fn from_raw(ptr: *mut T) -> Self {
        TrackedBox {
            // SAFETY: per the caller, non-null (it came from into_raw).
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            _owns: PhantomData,
        }
    }

    fn layout(&self) -> Layout {
        // SAFETY: the pointer is valid for T's metadata (a slice length at
        // most); computing the layout reads none of the value's bytes.
        Layout::for_value(unsafe { self.ptr.as_ref() })
    }

    /// Runs a policy call unless the value has no bytes to protect.
    fn policy(
        &self,
        call: impl FnOnce(*const T) -> Result<(), PolicyError>,
    ) -> Result<(), PolicyError> {
        if self.layout().size() == 0 {
            return Ok(());
        }
        call(self.as_ptr())
    }

    /// Makes the value private to the calling thread. See
    /// [`policy::set_private`].
    ///
    /// # Errors
    /// [`PolicyError`] when the runtime refuses (it also reports why).
    ///
    /// ```
    /// let b = push_annotate::TrackedBox::new(0u32);
    /// b.set_private().unwrap();
    /// ```
    pub fn set_private(&self) -> Result<(), PolicyError> {
        self.policy(|p| policy::set_private(p))
    }

    /// Makes the value read-only for every thread. See
    /// [`policy::set_readonly`].
    ///
    /// # Errors
    /// [`PolicyError`] when the runtime refuses (it also reports why).
    ///
    /// ```
    /// let b = push_annotate::TrackedBox::new([1u8; 8]);
    /// b.set_readonly().unwrap();
    /// assert_eq!(b[7], 1);
    /// ```
    pub fn set_readonly(&self) -> Result<(), PolicyError> {
        self.policy(|p| policy::set_readonly(p))
    }

    /// Protects the value by `lock`: only the thread holding it may access
    /// it. See [`policy::set_protected_by`].
    ///
    /// # Errors
    /// [`PolicyError`] when the runtime refuses (it also reports why).
    ///
    /// ```
    /// use push_annotate::{sync::Mutex, TrackedBox};
    ///
    /// let lock = Mutex::new(());
    /// let mut shared = TrackedBox::new(0u64);
    /// shared.set_protected_by(&lock).unwrap();
    /// let _held = lock.lock().unwrap();
    /// *shared += 1;
    /// ```
    pub fn set_protected_by<L: Lock + ?Sized>(&self, lock: &L) -> Result<(), PolicyError> {
        self.policy(|p| policy::set_protected_by(p, lock))
    }

    /// Makes the value private to the thread of `thread`. See
    /// [`policy::transfer_to`].
    ///
    /// # Errors
    /// [`PolicyError`] when the runtime refuses (it also reports why), for
    /// instance when the thread has exited.
    ///
    /// ```
    /// use push_annotate::{sync::mpsc, TrackedBox};
    ///
    /// let (tx, rx) = mpsc::channel::<TrackedBox<[u8; 4]>>();
    /// let worker = std::thread::spawn(move || rx.recv().unwrap()[3]);
    /// let job = TrackedBox::new([1, 2, 3, 4]);
    /// job.transfer_to(&worker).unwrap();
    /// tx.send(job).unwrap();
    /// assert_eq!(worker.join().unwrap(), 4);
    /// ```
    pub fn transfer_to<R>(&self, thread: &JoinHandle<R>) -> Result<(), PolicyError> {
        self.policy(|p| policy::transfer_to(p, thread))
    }

    /// [`transfer_to`](TrackedBox::transfer_to) a thread named by its
    /// `pthread_t`. See [`policy::transfer_to_pthread`].
    ///
    /// # Errors
    /// As [`transfer_to`](TrackedBox::transfer_to).
    ///
    /// ```
    /// let b = push_annotate::TrackedBox::new(1u8);
    /// // SAFETY: pthread_self has no preconditions.
    /// b.transfer_to_pthread(unsafe { libc::pthread_self() }).unwrap();
    /// ```
    pub fn transfer_to_pthread(&self, thread: libc::pthread_t) -> Result<(), PolicyError> {
        self.policy(|p| policy::transfer_to_pthread(p, thread))
    }

    /// Releases the value: nobody may access it until a thread
    /// [`acquire`](TrackedBox::acquire)s it. See [`policy::release`].
    ///
    /// # Errors
    /// [`PolicyError`] when the runtime refuses (it also reports why).
    ///
    /// ```
    /// use push_annotate::{sync::mpsc, TrackedBox};
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let buf = TrackedBox::new([0u8; 16]);
    /// buf.release().unwrap();
    /// tx.send(buf).unwrap();
    /// let taker = std::thread::spawn(move || {
    ///     let mut buf: TrackedBox<[u8; 16]> = rx.recv().unwrap();
    ///     buf.acquire().unwrap();
    ///     buf[0] = 1;
    ///     buf[0]
    /// });
    /// assert_eq!(taker.join().unwrap(), 1);
    /// ```
    pub fn release(&self) -> Result<(), PolicyError> {
        self.policy(|p| policy::release(p))
    }

    /// Takes a released value: it becomes private to the calling thread.
    /// See [`policy::acquire`].
    ///
    /// # Errors
    /// [`PolicyError`] when the runtime refuses (it also reports why).
    ///
    /// ```
    /// let b = push_annotate::TrackedBox::new(2u16);
    /// b.release().unwrap();
    /// b.acquire().unwrap();
    /// assert_eq!(*b, 2);
    /// ```
    pub fn acquire(&self) -> Result<(), PolicyError> {
        self.policy(|p| policy::acquire(p))
    }

    /// Marks the value intentionally racy: never reported. See
    /// [`policy::set_racy`].
    ///
    /// # Errors
    /// [`PolicyError`] when the runtime refuses (it also reports why).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// let stats = push_annotate::TrackedBox::new(AtomicUsize::new(0));
    /// stats.set_racy().unwrap();
    /// stats.fetch_add(1, Ordering::Relaxed);
    /// ```
    pub fn set_racy(&self) -> Result<(), PolicyError> {
        self.policy(|p| policy::set_racy(p))
    }
}

impl<T: ?Sized> Deref for TrackedBox<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the value is initialised and owned by self; shared borrows
        // of self give shared borrows of it, as for Box.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: ?Sized> DerefMut for TrackedBox<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref; &mut self is exclusive.
        unsafe { self.ptr.as_mut() }
    }
}

impl<T: ?Sized> Drop for TrackedBox<T> {
    fn drop(&mut self) {
        let layout = self.layout();
        // SAFETY: the value is initialised and dropped once; the block came
        // from `allocate` with this layout.
        unsafe {
            core::ptr::drop_in_place(self.ptr.as_ptr());
            deallocate(self.ptr.cast(), layout);
        }
    }
}

impl<T: Clone> Clone for TrackedBox<T> {
    /// A new tracked object (private to the cloning thread) holding a clone.
    fn clone(&self) -> Self {
        TrackedBox::new((**self).clone())
    }
}

impl<T: Clone> Clone for TrackedBox<[T]> {
    /// A new tracked slice (private to the cloning thread) of clones.
    fn clone(&self) -> Self {
        TrackedBox::from_fn(self.len(), |i| self[i].clone())
    }
}

impl<T: Default> Default for TrackedBox<T> {
    fn default() -> Self {
        TrackedBox::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for TrackedBox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn values_are_dropped_once() {
        let counter = Rc::new(());
        let b = TrackedBox::new(counter.clone());
        assert_eq!(Rc::strong_count(&counter), 2);
        let c = b.clone();
        assert_eq!(Rc::strong_count(&counter), 3);
        drop(b);
        let inner = c.into_inner();
        assert_eq!(Rc::strong_count(&counter), 2);
        drop(inner);
        let s = TrackedBox::from_fn(3, |_| counter.clone());
        assert_eq!(Rc::strong_count(&counter), 4);
        drop(s);
        assert_eq!(Rc::strong_count(&counter), 1);
    }

    #[test]
    fn zero_sized_values_and_empty_slices() {
        let unit = TrackedBox::new(());
        unit.set_readonly().unwrap();
        let empty: TrackedBox<[u64]> = TrackedBox::from_slice(&[]);
        assert!(empty.is_empty());
        empty.release().unwrap();
    }

    #[test]
    fn over_aligned_values() {
        #[repr(align(64))]
        #[derive(Clone, Copy)]
        struct Line([u8; 64]);
        let b = TrackedBox::new(Line([3; 64]));
        assert_eq!(b.as_ptr() as usize % 64, 0);
        assert_eq!(b.0[63], 3);
        let s = TrackedBox::from_slice(&[Line([1; 64]); 3]);
        assert_eq!(s.as_ptr() as *const u8 as usize % 64, 0);
    }
}
