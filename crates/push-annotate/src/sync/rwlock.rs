use super::{map_lock_result, map_try_lock_result, LockData};
use crate::hb::{lock_acquired, lock_released};
use crate::policy::Lock;
use core::ffi::c_void;
use core::fmt;
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use std::sync::{LockResult, TryLockResult};

/// A reader-writer lock with the API of [`std::sync::RwLock`], whose data
/// is a tracked object protected by the lock: readers (holding it in read
/// mode) may read it, the writer may read and write it, nobody else may
/// touch it. Every acquisition and release is announced to the runtime.
///
/// ```
/// use push_annotate::sync::RwLock;
/// use std::sync::Arc;
///
/// let table = Arc::new(RwLock::new(vec![1, 2, 3]));
/// table.write().unwrap().push(4);
/// let reader = {
///     let table = table.clone();
///     std::thread::spawn(move || table.read().unwrap().len())
/// };
/// assert_eq!(reader.join().unwrap(), 4);
/// ```
pub struct RwLock<T> {
    inner: std::sync::RwLock<()>,
    data: LockData<T>,
    _owns: PhantomData<T>,
}

// SAFETY: as std::sync::RwLock: the data moves with the lock.
unsafe impl<T: Send> Send for RwLock<T> {}
// SAFETY: as std::sync::RwLock: readers share &T (T: Sync), the writer is
// alone with &mut T (T: Send).
unsafe impl<T: Send + Sync> Sync for RwLock<T> {}

/// Shared access to the data of a read-locked [`RwLock`].
///
/// ```
/// let lock = push_annotate::sync::RwLock::new(7);
/// let r = lock.read().unwrap();
/// assert_eq!(*r, 7);
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T> {
    lock: &'a RwLock<T>,
    _inner: std::sync::RwLockReadGuard<'a, ()>,
    _data: PhantomData<&'a T>,
}

/// Exclusive access to the data of a write-locked [`RwLock`].
///
/// ```
/// let lock = push_annotate::sync::RwLock::new(7);
/// *lock.write().unwrap() += 1;
/// assert_eq!(*lock.read().unwrap(), 8);
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T> {
    lock: &'a RwLock<T>,
    _inner: std::sync::RwLockWriteGuard<'a, ()>,
    _data: PhantomData<&'a mut T>,
}

impl<T> RwLock<T> {
    /// A new lock holding `value` in a tracked object protected by it.
    ///
    /// ```
    /// let lock = push_annotate::sync::RwLock::new("v1");
    /// assert_eq!(*lock.read().unwrap(), "v1");
    /// ```
    pub fn new(value: T) -> Self {
        RwLock {
            inner: std::sync::RwLock::new(()),
            data: LockData::new(value),
            _owns: PhantomData,
        }
    }

    /// Blocks until the lock is held in read mode; see
    /// [`std::sync::RwLock::read`].
    ///
    /// # Errors
    /// The lock is poisoned; the guard is in the error.
    ///
    /// ```
    /// let lock = push_annotate::sync::RwLock::new(1);
    /// let (a, b) = (lock.read().unwrap(), lock.read().unwrap());
    /// assert_eq!(*a + *b, 2);
    /// ```
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        map_lock_result(self.inner.read(), |g| self.read_guard(g))
    }

    /// Takes the lock in read mode if no writer holds it; see
    /// [`std::sync::RwLock::try_read`].
    ///
    /// # Errors
    /// `WouldBlock` when a writer holds it; `Poisoned` as for `read`.
    ///
    /// ```
    /// let lock = push_annotate::sync::RwLock::new(1);
    /// assert!(lock.try_read().is_ok());
    /// ```
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        map_try_lock_result(self.inner.try_read(), |g| self.read_guard(g))
    }

    /// Blocks until the lock is held exclusively; see
    /// [`std::sync::RwLock::write`].
    ///
    /// # Errors
    /// The lock is poisoned; the guard is in the error.
    ///
    /// ```
    /// let lock = push_annotate::sync::RwLock::new(1);
    /// *lock.write().unwrap() = 2;
    /// ```
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        map_lock_result(self.inner.write(), |g| self.write_guard(g))
    }

    /// Takes the lock exclusively if it is free; see
    /// [`std::sync::RwLock::try_write`].
    ///
    /// # Errors
    /// `WouldBlock` when it is held; `Poisoned` as for `write`.
    ///
    /// ```
    /// let lock = push_annotate::sync::RwLock::new(1);
    /// let reading = lock.read().unwrap();
    /// assert!(lock.try_write().is_err());
    /// drop(reading);
    /// assert!(lock.try_write().is_ok());
    /// ```
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        map_try_lock_result(self.inner.try_write(), |g| self.write_guard(g))
    }

    /// Whether a writer panicked; see [`std::sync::RwLock::is_poisoned`].
    ///
    /// ```
    /// assert!(!push_annotate::sync::RwLock::new(0).is_poisoned());
    /// ```
    pub fn is_poisoned(&self) -> bool {
        self.inner.is_poisoned()
    }

    /// Clears the poisoned state; see [`std::sync::RwLock::clear_poison`].
    ///
    /// ```
    /// let lock = push_annotate::sync::RwLock::new(0);
    /// lock.clear_poison();
    /// ```
    pub fn clear_poison(&self) {
        self.inner.clear_poison()
    }

    /// Consumes the lock and returns the data; see
    /// [`std::sync::RwLock::into_inner`].
    ///
    /// # Errors
    /// The lock is poisoned; the data is in the error.
    ///
    /// ```
    /// let lock = push_annotate::sync::RwLock::new(vec![1]);
    /// assert_eq!(lock.into_inner().unwrap(), [1]);
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

    fn read_guard<'a>(
        &'a self,
        inner: std::sync::RwLockReadGuard<'a, ()>,
    ) -> RwLockReadGuard<'a, T> {
        lock_acquired(self.data.addr(), false);
        RwLockReadGuard {
            lock: self,
            _inner: inner,
            _data: PhantomData,
        }
    }

    fn write_guard<'a>(
        &'a self,
        inner: std::sync::RwLockWriteGuard<'a, ()>,
    ) -> RwLockWriteGuard<'a, T> {
        lock_acquired(self.data.addr(), true);
        RwLockWriteGuard {
            lock: self,
            _inner: inner,
            _data: PhantomData,
        }
    }
}

impl<T> Lock for RwLock<T> {
    fn lock_addr(&self) -> *const c_void {
        self.data.addr()
    }
}

impl<T> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: read mode: no writer holds the lock, readers only share.
        unsafe { &*self.lock.data.ptr.as_ptr() }
    }
}

impl<T> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: write mode: this guard is the only access to the data.
        unsafe { &*self.lock.data.ptr.as_ptr() }
    }
}

impl<T> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref; &mut self makes this the only borrow.
        unsafe { &mut *self.lock.data.ptr.as_ptr() }
    }
}

impl<T> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        // Before the real unlock (the std guard, a field, drops after this).
        lock_released(self.lock.data.addr());
    }
}

impl<T> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        // Before the real unlock (the std guard, a field, drops after this).
        lock_released(self.lock.data.addr());
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> Self {
        RwLock::new(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.field("poisoned", &self.is_poisoned())
            .finish_non_exhaustive()
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
