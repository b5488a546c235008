//! Channels with the API of [`std::sync::mpsc`], whose hand-overs PUSh
//! sees: every `send` happens before the `recv` that returns a message sent
//! after it (so a value released, transferred or filled before `send` is
//! safe to take after `recv`).
//!
//! The edge is per channel, not per message: a `recv` is ordered after
//! every `send` that completed before it on that channel, which can only
//! add ordering (hide an unordered policy change), never report a false one.
//!
//! ```
//! use push_annotate::{sync::mpsc, TrackedBox};
//!
//! let (tx, rx) = mpsc::channel();
//! let worker = std::thread::spawn(move || {
//!     let job: TrackedBox<[u32; 4]> = rx.recv().unwrap();
//!     job.acquire().unwrap();
//!     job.iter().sum::<u32>()
//! });
//! let job = TrackedBox::new([1, 2, 3, 4]);
//! job.release().unwrap();
//! tx.send(job).unwrap();
//! assert_eq!(worker.join().unwrap(), 10);
//! ```

use crate::hb::{happens_after, happens_before};
use core::fmt;
use std::sync::Arc;
use std::time::Duration;

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

/// The name of one channel for the runtime: the address of this shared,
/// never-moved allocation.
struct ChannelName(#[allow(dead_code)] u8);

fn name() -> Arc<ChannelName> {
    Arc::new(ChannelName(0))
}

/// An unbounded channel; see [`std::sync::mpsc::channel`].
///
/// ```
/// let (tx, rx) = push_annotate::sync::mpsc::channel();
/// tx.send(1).unwrap();
/// assert_eq!(rx.recv(), Ok(1));
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let name = name();
    (
        Sender {
            inner: tx,
            name: name.clone(),
        },
        Receiver { inner: rx, name },
    )
}

/// A bounded channel of `bound` messages (0: rendezvous); see
/// [`std::sync::mpsc::sync_channel`].
///
/// ```
/// let (tx, rx) = push_annotate::sync::mpsc::sync_channel(1);
/// tx.send(1).unwrap();
/// assert!(tx.try_send(2).is_err());
/// assert_eq!(rx.recv(), Ok(1));
/// ```
pub fn sync_channel<T>(bound: usize) -> (SyncSender<T>, Receiver<T>) {
    let (tx, rx) = std::sync::mpsc::sync_channel(bound);
    let name = name();
    (
        SyncSender {
            inner: tx,
            name: name.clone(),
        },
        Receiver { inner: rx, name },
    )
}

/// The sending half of a [`channel`].
///
/// ```
/// let (tx, rx) = push_annotate::sync::mpsc::channel();
/// let tx2 = tx.clone();
/// std::thread::spawn(move || tx2.send(2).unwrap()).join().unwrap();
/// tx.send(1).unwrap();
/// let mut got: Vec<i32> = rx.try_iter().collect();
/// got.sort();
/// assert_eq!(got, [1, 2]);
/// ```
pub struct Sender<T> {
    inner: std::sync::mpsc::Sender<T>,
    name: Arc<ChannelName>,
}

/// The sending half of a [`sync_channel`].
///
/// ```
/// let (tx, rx) = push_annotate::sync::mpsc::sync_channel(0);
/// let t = std::thread::spawn(move || tx.send("hi").unwrap());
/// assert_eq!(rx.recv(), Ok("hi"));
/// t.join().unwrap();
/// ```
pub struct SyncSender<T> {
    inner: std::sync::mpsc::SyncSender<T>,
    name: Arc<ChannelName>,
}

/// The receiving half of a [`channel`] or [`sync_channel`].
///
/// ```
/// let (tx, rx) = push_annotate::sync::mpsc::channel();
/// for i in 0..3 {
///     tx.send(i).unwrap();
/// }
/// drop(tx);
/// assert_eq!(rx.iter().sum::<i32>(), 3);
/// ```
pub struct Receiver<T> {
    inner: std::sync::mpsc::Receiver<T>,
    name: Arc<ChannelName>,
}

impl<T> Sender<T> {
    /// Sends `value`; see [`std::sync::mpsc::Sender::send`]. What this
    /// thread did before happens before the `recv` that gets it.
    ///
    /// # Errors
    /// The receiver is gone; the value comes back.
    ///
    /// ```
    /// let (tx, rx) = push_annotate::sync::mpsc::channel();
    /// drop(rx);
    /// assert!(tx.send(1).is_err());
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        happens_before(Arc::as_ptr(&self.name));
        self.inner.send(value)
    }
}

impl<T> SyncSender<T> {
    /// Sends `value`, blocking while the channel is full; see
    /// [`std::sync::mpsc::SyncSender::send`].
    ///
    /// # Errors
    /// The receiver is gone; the value comes back.
    ///
    /// ```
    /// let (tx, rx) = push_annotate::sync::mpsc::sync_channel(1);
    /// tx.send(5).unwrap();
    /// assert_eq!(rx.recv(), Ok(5));
    /// ```
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        happens_before(Arc::as_ptr(&self.name));
        self.inner.send(value)
    }

    /// Sends `value` if there is room; see
    /// [`std::sync::mpsc::SyncSender::try_send`].
    ///
    /// # Errors
    /// `Full` or `Disconnected`; the value comes back.
    ///
    /// ```
    /// let (tx, _rx) = push_annotate::sync::mpsc::sync_channel(0);
    /// assert!(tx.try_send(1).is_err()); // nobody is receiving
    /// ```
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        happens_before(Arc::as_ptr(&self.name));
        self.inner.try_send(value)
    }
}

impl<T> Receiver<T> {
    fn received<E>(&self, result: Result<T, E>) -> Result<T, E> {
        if result.is_ok() {
            happens_after(Arc::as_ptr(&self.name));
        }
        result
    }

    /// Blocks until a message arrives; see
    /// [`std::sync::mpsc::Receiver::recv`].
    ///
    /// # Errors
    /// Every sender is gone and the channel is empty.
    ///
    /// ```
    /// let (tx, rx) = push_annotate::sync::mpsc::channel::<u8>();
    /// drop(tx);
    /// assert!(rx.recv().is_err());
    /// ```
    pub fn recv(&self) -> Result<T, RecvError> {
        self.received(self.inner.recv())
    }

    /// A message if one is waiting; see
    /// [`std::sync::mpsc::Receiver::try_recv`].
    ///
    /// # Errors
    /// `Empty` or `Disconnected`.
    ///
    /// ```
    /// let (tx, rx) = push_annotate::sync::mpsc::channel();
    /// assert!(rx.try_recv().is_err());
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.received(self.inner.try_recv())
    }

    /// [`recv`](Receiver::recv) for at most `timeout`; see
    /// [`std::sync::mpsc::Receiver::recv_timeout`].
    ///
    /// # Errors
    /// `Timeout` or `Disconnected`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (_tx, rx) = push_annotate::sync::mpsc::channel::<u8>();
    /// assert!(rx.recv_timeout(Duration::from_millis(1)).is_err());
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.received(self.inner.recv_timeout(timeout))
    }

    /// An iterator that blocks for each message until every sender is gone.
    ///
    /// ```
    /// let (tx, rx) = push_annotate::sync::mpsc::channel();
    /// tx.send(1).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.iter().collect::<Vec<_>>(), [1]);
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// An iterator over the messages already waiting.
    ///
    /// ```
    /// let (tx, rx) = push_annotate::sync::mpsc::channel();
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.try_iter().count(), 1);
    /// ```
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { rx: self }
    }
}

/// The iterator of [`Receiver::iter`].
///
/// ```
/// let (tx, rx) = push_annotate::sync::mpsc::channel::<()>();
/// drop(tx);
/// let mut it: push_annotate::sync::mpsc::Iter<'_, ()> = rx.iter();
/// assert!(it.next().is_none());
/// ```
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

/// The iterator of [`Receiver::try_iter`].
///
/// ```
/// let (_tx, rx) = push_annotate::sync::mpsc::channel::<()>();
/// let mut it: push_annotate::sync::mpsc::TryIter<'_, ()> = rx.try_iter();
/// assert!(it.next().is_none());
/// ```
pub struct TryIter<'a, T> {
    rx: &'a Receiver<T>,
}

/// The iterator of a [`Receiver`] by value.
///
/// ```
/// let (tx, rx) = push_annotate::sync::mpsc::channel();
/// tx.send(7).unwrap();
/// drop(tx);
/// let all: Vec<i32> = rx.into_iter().collect();
/// assert_eq!(all, [7]);
/// ```
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;
    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            inner: self.inner.clone(),
            name: self.name.clone(),
        }
    }
}

impl<T> Clone for SyncSender<T> {
    fn clone(&self) -> Self {
        SyncSender {
            inner: self.inner.clone(),
            name: self.name.clone(),
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for SyncSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncSender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}
