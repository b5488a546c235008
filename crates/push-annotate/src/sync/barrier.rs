use crate::hb::{happens_after, happens_before};
use std::sync::BarrierWaitResult;

/// A barrier with the API of [`std::sync::Barrier`]: every thread's
/// arrival at a round happens before every thread's departure from it, as
/// the runtime sees for `pthread_barrier_wait`.
///
/// ```
/// use push_annotate::sync::Barrier;
/// use std::sync::Arc;
///
/// let barrier = Arc::new(Barrier::new(2));
/// let other = {
///     let barrier = barrier.clone();
///     std::thread::spawn(move || barrier.wait().is_leader())
/// };
/// let me = barrier.wait().is_leader();
/// assert!(me ^ other.join().unwrap());
/// ```
#[derive(Debug)]
pub struct Barrier {
    inner: std::sync::Barrier,
}

impl Barrier {
    /// A barrier for `n` threads.
    ///
    /// ```
    /// let b = push_annotate::sync::Barrier::new(1);
    /// assert!(b.wait().is_leader());
    /// ```
    pub fn new(n: usize) -> Self {
        Barrier {
            inner: std::sync::Barrier::new(n),
        }
    }

    /// Blocks until `n` threads have called `wait`; see
    /// [`std::sync::Barrier::wait`].
    ///
    /// ```
    /// let b = push_annotate::sync::Barrier::new(1);
    /// b.wait();
    /// b.wait();
    /// ```
    pub fn wait(&self) -> BarrierWaitResult {
        happens_before(self);
        let result = self.inner.wait();
        happens_after(self);
        result
    }
}
