use crate::hb::{happens_after, happens_before};
use core::fmt;
use std::sync::OnceState;

/// A one-time initialization with the API of [`std::sync::Once`]: the
/// initialization happens before every return from `call_once` (and every
/// `is_completed` that returns true), as the runtime sees for
/// `pthread_once`.
///
/// ```
/// use push_annotate::{policy, sync::Once, tracked_static};
///
/// tracked_static! { static mut TABLE: [u32; 4] = [0; 4]; }
/// static INIT: Once = Once::new();
///
/// fn table() -> &'static [u32; 4] {
///     INIT.call_once(|| {
///         // SAFETY: written once, before anyone reads it (the Once orders it).
///         unsafe { (*std::ptr::addr_of_mut!(TABLE.value)) = [1, 2, 3, 4] };
///         policy::set_readonly(std::ptr::addr_of!(TABLE)).unwrap();
///     });
///     // SAFETY: read-only from now on.
///     unsafe { &*std::ptr::addr_of!(TABLE.value) }
/// }
/// assert_eq!(std::thread::spawn(|| table()[3]).join().unwrap(), 4);
/// ```
pub struct Once {
    inner: std::sync::Once,
}

impl Once {
    /// A new `Once`.
    ///
    /// ```
    /// static ONCE: push_annotate::sync::Once = push_annotate::sync::Once::new();
    /// assert!(!ONCE.is_completed());
    /// ```
    pub const fn new() -> Self {
        Once {
            inner: std::sync::Once::new(),
        }
    }

    /// Runs `f` if no call has run yet; see [`std::sync::Once::call_once`].
    ///
    /// ```
    /// let once = push_annotate::sync::Once::new();
    /// let mut runs = 0;
    /// once.call_once(|| runs += 1);
    /// once.call_once(|| runs += 1);
    /// assert_eq!(runs, 1);
    /// ```
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        self.inner.call_once(|| {
            f();
            happens_before(self);
        });
        happens_after(self);
    }

    /// [`call_once`](Once::call_once) that also runs after a poisoning
    /// panic; see [`std::sync::Once::call_once_force`].
    ///
    /// ```
    /// let once = push_annotate::sync::Once::new();
    /// once.call_once_force(|state| assert!(!state.is_poisoned()));
    /// assert!(once.is_completed());
    /// ```
    pub fn call_once_force<F: FnOnce(&OnceState)>(&self, f: F) {
        self.inner.call_once_force(|state| {
            f(state);
            happens_before(self);
        });
        happens_after(self);
    }

    /// Whether an initialization completed; see
    /// [`std::sync::Once::is_completed`].
    ///
    /// ```
    /// let once = push_annotate::sync::Once::new();
    /// once.call_once(|| {});
    /// assert!(once.is_completed());
    /// ```
    pub fn is_completed(&self) -> bool {
        let done = self.inner.is_completed();
        if done {
            happens_after(self);
        }
        done
    }
}

impl Default for Once {
    fn default() -> Self {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once").finish_non_exhaustive()
    }
}

/// A write-once cell with the API of [`std::sync::OnceLock`]: the
/// initialization happens before every access that finds the value.
///
/// ```
/// use push_annotate::{sync::OnceLock, TrackedBox};
///
/// static CONFIG: OnceLock<TrackedBox<[u8; 8]>> = OnceLock::new();
///
/// let config = CONFIG.get_or_init(|| {
///     let c = TrackedBox::new(*b"settings");
///     c.set_readonly().unwrap();
///     c
/// });
/// let seen = std::thread::spawn(|| CONFIG.get().map(|c| c[0])).join().unwrap();
/// assert_eq!(seen, Some(config[0]));
/// ```
pub struct OnceLock<T> {
    inner: std::sync::OnceLock<T>,
}

impl<T> OnceLock<T> {
    /// An empty cell.
    ///
    /// ```
    /// let cell = push_annotate::sync::OnceLock::<u8>::new();
    /// assert!(cell.get().is_none());
    /// ```
    pub const fn new() -> Self {
        OnceLock {
            inner: std::sync::OnceLock::new(),
        }
    }

    /// The value, if set; see [`std::sync::OnceLock::get`].
    ///
    /// ```
    /// let cell = push_annotate::sync::OnceLock::new();
    /// cell.set(3).unwrap();
    /// assert_eq!(cell.get(), Some(&3));
    /// ```
    pub fn get(&self) -> Option<&T> {
        let value = self.inner.get();
        if value.is_some() {
            happens_after(self);
        }
        value
    }

    /// The value, mutably, if set; see [`std::sync::OnceLock::get_mut`].
    ///
    /// ```
    /// let mut cell = push_annotate::sync::OnceLock::new();
    /// cell.set(3).unwrap();
    /// *cell.get_mut().unwrap() += 1;
    /// assert_eq!(cell.get(), Some(&4));
    /// ```
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.inner.get_mut()
    }

    /// Sets the value if the cell is empty; see
    /// [`std::sync::OnceLock::set`].
    ///
    /// # Errors
    /// The cell was already set: `value` comes back.
    ///
    /// ```
    /// let cell = push_annotate::sync::OnceLock::new();
    /// assert_eq!(cell.set(1), Ok(()));
    /// assert_eq!(cell.set(2), Err(2));
    /// ```
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut value = Some(value);
        self.get_or_init(|| value.take().expect("the initializer runs at most once"));
        match value {
            None => Ok(()),
            Some(v) => Err(v),
        }
    }

    /// The value, initializing it with `f` if the cell is empty; see
    /// [`std::sync::OnceLock::get_or_init`].
    ///
    /// ```
    /// let cell = push_annotate::sync::OnceLock::new();
    /// assert_eq!(*cell.get_or_init(|| 5), 5);
    /// assert_eq!(*cell.get_or_init(|| 6), 5);
    /// ```
    pub fn get_or_init<F: FnOnce() -> T>(&self, f: F) -> &T {
        let value = self.inner.get_or_init(|| {
            let value = f();
            happens_before(self);
            value
        });
        happens_after(self);
        value
    }

    /// The value, if set, consuming the cell; see
    /// [`std::sync::OnceLock::into_inner`].
    ///
    /// ```
    /// let cell = push_annotate::sync::OnceLock::new();
    /// cell.set("x").unwrap();
    /// assert_eq!(cell.into_inner(), Some("x"));
    /// ```
    pub fn into_inner(self) -> Option<T> {
        self.inner.into_inner()
    }

    /// Takes the value out, leaving the cell empty; see
    /// [`std::sync::OnceLock::take`].
    ///
    /// ```
    /// let mut cell = push_annotate::sync::OnceLock::new();
    /// cell.set(1).unwrap();
    /// assert_eq!(cell.take(), Some(1));
    /// assert!(cell.get().is_none());
    /// ```
    pub fn take(&mut self) -> Option<T> {
        self.inner.take()
    }
}

impl<T> Default for OnceLock<T> {
    fn default() -> Self {
        OnceLock::new()
    }
}

impl<T> From<T> for OnceLock<T> {
    fn from(value: T) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(value);
        cell
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OnceLock").field(&self.inner.get()).finish()
    }
}
