use super::{map_lock_result, MutexGuard};
use crate::hb::HeldAnnouncement;
use core::fmt;
use std::sync::{LockResult, PoisonError, WaitTimeoutResult};
use std::time::Duration;

/// A condition variable with the API of [`std::sync::Condvar`], for use
/// with this crate's [`Mutex`](super::Mutex): a wait announces the
/// mutex's release and re-acquisition to the runtime, and the wait
/// conditions of `wait_while` run as holders of the mutex.
///
/// ```
/// use push_annotate::sync::{Condvar, Mutex};
/// use std::sync::Arc;
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let setter = {
///     let pair = pair.clone();
///     std::thread::spawn(move || {
///         *pair.0.lock().unwrap() = true;
///         pair.1.notify_one();
///     })
/// };
/// let (ready, cv) = &*pair;
/// let guard = cv.wait_while(ready.lock().unwrap(), |ready| !*ready).unwrap();
/// assert!(*guard);
/// drop(guard);
/// setter.join().unwrap();
/// ```
#[derive(Default)]
pub struct Condvar {
    inner: std::sync::Condvar,
}

impl Condvar {
    /// A new condition variable.
    ///
    /// ```
    /// static CV: push_annotate::sync::Condvar = push_annotate::sync::Condvar::new();
    /// CV.notify_all();
    /// ```
    pub const fn new() -> Self {
        Condvar {
            inner: std::sync::Condvar::new(),
        }
    }

    /// Releases the mutex, waits for a notification, re-acquires it; see
    /// [`std::sync::Condvar::wait`] (spurious wake-ups included).
    ///
    /// # Errors
    /// The mutex is poisoned; the guard is in the error.
    ///
    /// ```
    /// use push_annotate::sync::{Condvar, Mutex};
    /// use std::sync::Arc;
    ///
    /// let pair = Arc::new((Mutex::new(0), Condvar::new()));
    /// let p = pair.clone();
    /// std::thread::spawn(move || {
    ///     *p.0.lock().unwrap() = 1;
    ///     p.1.notify_one();
    /// });
    /// let mut n = pair.0.lock().unwrap();
    /// while *n == 0 {
    ///     n = pair.1.wait(n).unwrap();
    /// }
    /// ```
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        let (mutex, inner) = guard.into_std();
        map_lock_result(self.inner.wait(inner), |g| mutex.guard(g))
    }

    /// Waits while `condition` holds; see [`std::sync::Condvar::wait_while`].
    ///
    /// # Errors
    /// The mutex is poisoned; the guard is in the error.
    ///
    /// ```
    /// use push_annotate::sync::{Condvar, Mutex};
    /// let (m, cv) = (Mutex::new(3), Condvar::new());
    /// let g = cv.wait_while(m.lock().unwrap(), |n| *n == 0).unwrap();
    /// assert_eq!(*g, 3);
    /// ```
    pub fn wait_while<'a, T, F>(
        &self,
        guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        let (mutex, inner) = guard.into_std();
        let data = mutex.data_ptr();
        let result = self.inner.wait_while(inner, |_| {
            // std evaluates the condition with the mutex held.
            let _held = HeldAnnouncement::new(data, true);
            // SAFETY: the mutex is held, so this is the only reference.
            condition(unsafe { &mut *data })
        });
        map_lock_result(result, |g| mutex.guard(g))
    }

    /// [`wait`](Condvar::wait) for at most `dur`; see
    /// [`std::sync::Condvar::wait_timeout`].
    ///
    /// # Errors
    /// The mutex is poisoned; the guard and the timeout flag are in the
    /// error.
    ///
    /// ```
    /// use push_annotate::sync::{Condvar, Mutex};
    /// use std::time::Duration;
    /// let (m, cv) = (Mutex::new(()), Condvar::new());
    /// let (_g, timeout) = cv.wait_timeout(m.lock().unwrap(), Duration::from_millis(1)).unwrap();
    /// # let _ = timeout;
    /// ```
    pub fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let (mutex, inner) = guard.into_std();
        map_lock_result(self.inner.wait_timeout(inner, dur), |(g, t)| {
            (mutex.guard(g), t)
        })
    }

    /// [`wait_while`](Condvar::wait_while) for at most `dur`; see
    /// [`std::sync::Condvar::wait_timeout_while`].
    ///
    /// # Errors
    /// The mutex is poisoned; the guard and the timeout flag are in the
    /// error.
    ///
    /// ```
    /// use push_annotate::sync::{Condvar, Mutex};
    /// use std::time::Duration;
    /// let (m, cv) = (Mutex::new(false), Condvar::new());
    /// let (g, timeout) = cv
    ///     .wait_timeout_while(m.lock().unwrap(), Duration::from_millis(1), |set| !*set)
    ///     .unwrap();
    /// assert!(timeout.timed_out() && !*g);
    /// ```
    pub fn wait_timeout_while<'a, T, F>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let (mutex, inner) = guard.into_std();
        let data = mutex.data_ptr();
        let result = self.inner.wait_timeout_while(inner, dur, |_| {
            // std evaluates the condition with the mutex held.
            let _held = HeldAnnouncement::new(data, true);
            // SAFETY: the mutex is held, so this is the only reference.
            condition(unsafe { &mut *data })
        });
        match result {
            Ok((g, t)) => Ok((mutex.guard(g), t)),
            Err(p) => {
                let (g, t) = p.into_inner();
                Err(PoisonError::new((mutex.guard(g), t)))
            }
        }
    }

    /// Wakes one waiter; see [`std::sync::Condvar::notify_one`].
    ///
    /// ```
    /// push_annotate::sync::Condvar::new().notify_one();
    /// ```
    pub fn notify_one(&self) {
        self.inner.notify_one()
    }

    /// Wakes every waiter; see [`std::sync::Condvar::notify_all`].
    ///
    /// ```
    /// push_annotate::sync::Condvar::new().notify_all();
    /// ```
    pub fn notify_all(&self) {
        self.inner.notify_all()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
