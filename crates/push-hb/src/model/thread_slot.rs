//! The thread table of [`super::SyncModel`]: one slot per thread index,
//! its life (running, exited, free) and the misuse errors of the lifecycle
//! calls.

use std::fmt;
use std::sync::atomic::AtomicBool;

use crate::clock::{ThreadIdx, Timestamp, VClock};

/// Misuse of the thread lifecycle calls. The model is unchanged when one of
/// these is returned; the runtime may log it and go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HbError {
    /// The index names no thread: never created, or already exited and
    /// joined/detached (its slot is free or recycled).
    NotRegistered(ThreadIdx),
    /// `thread_exit` twice for the same thread.
    AlreadyExited(ThreadIdx),
    /// Join or detach of a thread that was already joined.
    AlreadyJoined(ThreadIdx),
    /// Join or detach of a thread that was already detached.
    Detached(ThreadIdx),
    /// A thread joining itself.
    SelfJoin(ThreadIdx),
}

impl fmt::Display for HbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotRegistered(t) => write!(f, "thread index {t} names no registered thread"),
            Self::AlreadyExited(t) => write!(f, "thread {t} already exited"),
            Self::AlreadyJoined(t) => write!(f, "thread {t} was already joined"),
            Self::Detached(t) => write!(f, "thread {t} is detached"),
            Self::SelfJoin(t) => write!(f, "thread {t} cannot join itself"),
        }
    }
}

impl std::error::Error for HbError {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Life {
    /// Created, `thread_exit` not yet seen.
    Running,
    /// Exited, waiting for a join or detach; its clock is kept for the joiner.
    Exited,
    /// No thread: the index may be handed to a new thread (see `retired`).
    Free,
}

#[derive(Debug)]
pub(super) struct ThreadSlot {
    /// The thread's clock; empty while `Free`.
    pub(super) clock: VClock,
    pub(super) life: Life,
    pub(super) joined: bool,
    pub(super) detached: bool,
    /// Whether the current value of the thread's own component may be held
    /// outside the model (handed out by `epoch`/`clock`, or taken by a
    /// joiner). Cleared when the component is incremented: everything the
    /// model copies into other clocks is copied *before* an increment, so
    /// while this is false no clock or epoch holds the current value.
    /// Atomic only so that `epoch(&self)` can set it; it is always accessed
    /// under the owner's lock, so `Relaxed` is enough.
    pub(super) exposed: AtomicBool,
    /// While `Free`: the largest value of this index's component that any
    /// clock or epoch can hold. The next thread on the index starts above it.
    pub(super) retired: Timestamp,
}

impl ThreadSlot {
    pub(super) fn free(retired: Timestamp) -> Self {
        Self {
            clock: VClock::new(),
            life: Life::Free,
            joined: false,
            detached: false,
            exposed: AtomicBool::new(false),
            retired,
        }
    }

    /// Ends the thread's current epoch (after a release-like event).
    pub(super) fn tick(&mut self, me: ThreadIdx) {
        self.clock.increment(me);
        *self.exposed.get_mut() = false;
    }
}

/// Mutable slot of a thread that has a clock (running or exited, not free).
pub(super) fn slot_mut(threads: &mut [ThreadSlot], t: ThreadIdx) -> Option<&mut ThreadSlot> {
    threads.get_mut(t.index()).filter(|s| s.life != Life::Free)
}
