use super::{map_lock_result, map_try_lock_result, LockData};
use crate::hb::{lock_acquired, lock_released};
use crate::policy::Lock;
use core::ffi::c_void;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use std::sync::{LockResult, TryLockResult};

/// A mutual exclusion lock with the API of [`std::sync::Mutex`], whose data
/// is a tracked object protected by the lock: only the thread holding the
/// lock may access it, and every lock and unlock is announced to the
/// runtime (so hand-overs through the mutex order policy changes).
///
/// The lock is named by the data's address ([`Lock::lock_addr`]): pass the
/// mutex to [`set_protected_by`](crate::policy::set_protected_by) to
/// protect other objects by it too.
///
/// ```
/// use push_annotate::sync::Mutex;
/// use std::sync::Arc;
///
/// let total = Arc::new(Mutex::new(0u64));
/// let workers: Vec<_> = (0..2)
///     .map(|_| {
///         let total = total.clone();
///         std::thread::spawn(move || *total.lock().unwrap() += 1)
///     })
///     .collect();
/// for w in workers {
///     w.join().unwrap();
/// }
/// assert_eq!(*total.lock().unwrap(), 2);
/// ```
pub struct Mutex<T> {
    inner: std::sync::Mutex<()>,
    data: LockData<T>,
    _owns: PhantomData<T>,
}

// SAFETY: as std::sync::Mutex: the data moves with the mutex.
unsafe impl<T: Send> Send for Mutex<T> {}
// SAFETY: as std::sync::Mutex: the data is only reached through a guard,
// which exists on one thread at a time.
unsafe impl<T: Send> Sync for Mutex<T> {}

/// The guard of a locked [`Mutex`]: access to the data; unlocks on drop.
///
/// ```
/// let m = push_annotate::sync::Mutex::new(vec![1]);
/// let mut guard = m.lock().unwrap();
/// guard.push(2);
/// assert_eq!(*guard, [1, 2]);
/// ```
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T> {
    lock: &'a Mutex<T>,
    /// `None` only while a condition variable waits with the mutex.
    inner: Option<std::sync::MutexGuard<'a, ()>>,
    /// Sync only if T is (a &guard gives &T); never Send (std's guard).
    _data: PhantomData<&'a mut T>,
}

impl<T> Mutex<T> {
    /// A new mutex holding `value` in a tracked object protected by it.
    ///
    /// ```
    /// let m = push_annotate::sync::Mutex::new(5);
    /// assert_eq!(*m.lock().unwrap(), 5);
    /// ```
    pub fn new(value: T) -> Self {
        Mutex {
            inner: std::sync::Mutex::new(()),
            data: LockData::new(value),
            _owns: PhantomData,
        }
    }

    /// Blocks until the lock is held; see [`std::sync::Mutex::lock`].
    ///
    /// # Errors
    /// The mutex is poisoned (a holder panicked); the guard is in the error.
    ///
    /// ```
    /// let m = push_annotate::sync::Mutex::new(1);
    /// *m.lock().unwrap() += 1;
    /// assert_eq!(*m.lock().unwrap(), 2);
    /// ```
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        map_lock_result(self.inner.lock(), |g| self.guard(g))
    }

    /// Takes the lock if it is free; see [`std::sync::Mutex::try_lock`].
    ///
    /// # Errors
    /// `WouldBlock` when another thread holds it; `Poisoned` as for `lock`.
    ///
    /// ```
    /// let m = push_annotate::sync::Mutex::new(1);
    /// let held = m.lock().unwrap();
    /// assert!(m.try_lock().is_err());
    /// drop(held);
    /// assert!(m.try_lock().is_ok());
    /// ```
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        map_try_lock_result(self.inner.try_lock(), |g| self.guard(g))
    }

    /// Whether a holder panicked; see [`std::sync::Mutex::is_poisoned`].
    ///
    /// ```
    /// assert!(!push_annotate::sync::Mutex::new(()).is_poisoned());
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.inner.is_poisoned()
    }

    /// Clears the poisoned state; see [`std::sync::Mutex::clear_poison`].
    ///
    /// ```
    /// let m = push_annotate::sync::Mutex::new(());
    /// m.clear_poison();
    /// assert!(!m.is_poisoned());
    /// ```
    pub fn clear_poison(&self) {
        self.inner.clear_poison()
    }

    /// Consumes the mutex and returns the data; see
    /// [`std::sync::Mutex::into_inner`].
    ///
    /// # Errors
    /// The mutex is poisoned; the data is in the error.
    ///
    /// ```
    /// let m = push_annotate::sync::Mutex::new(String::from("done"));
    /// assert_eq!(m.into_inner().unwrap(), "done");
    /// ```
    pub fn into_inner(self) -> LockResult<T> {
        let poisoned = self.inner.is_poisoned();
        let value = self.data.into_inner();
        if poisoned {
            Err(std::sync::PoisonError::new(value))
        } else {
            Ok(value)
        }
    }

    /// Wraps a `std` guard of `inner`, announcing the acquisition.
    pub(super) fn guard<'a>(&'a self, inner: std::sync::MutexGuard<'a, ()>) -> MutexGuard<'a, T> {
        lock_acquired(self.data.addr(), true);
        MutexGuard {
            lock: self,
            inner: Some(inner),
            _data: PhantomData,
        }
    }

    pub(super) fn data_ptr(&self) -> *mut T {
        self.data.ptr.as_ptr()
    }
}

impl<'a, T> MutexGuard<'a, T> {
    /// Announces the release and hands out the `std` guard (for a condition
    /// variable's wait); the returned guard still holds the mutex.
    pub(super) fn into_std(mut self) -> (&'a Mutex<T>, std::sync::MutexGuard<'a, ()>) {
        lock_released(self.lock.data.addr());
        let inner = self
            .inner
            .take()
            .expect("a MutexGuard holds its std guard until dropped");
        (self.lock, inner)
    }
}

impl<T> Lock for Mutex<T> {
    fn lock_addr(&self) -> *const c_void {
        self.data.addr()
    }
}

impl<T> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the mutex, so no other reference to the
        // data exists; the data lives as long as the mutex.
        unsafe { &*self.lock.data_ptr() }
    }
}

impl<T> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref; &mut self makes this the only borrow.
        unsafe { &mut *self.lock.data_ptr() }
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            // Announced before the real unlock: the next holder is ordered
            // after everything this one did.
            lock_released(self.lock.data.addr());
            drop(inner);
        }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.field("poisoned", &self.is_poisoned())
            .finish_non_exhaustive()
    }
}

impl<T: fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
