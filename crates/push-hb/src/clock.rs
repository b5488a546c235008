//! Vector clocks, thread indices and epochs.
//!
//! A [`VClock`] maps every [`ThreadIdx`] to a [`Timestamp`]; absent entries
//! are zero. The storage holds no trailing zeros (the last stored entry is
//! never 0), so every clock value has exactly one stored form. The comparison
//! fast paths and the derived-by-hand `Eq`/`Hash` rely on that invariant:
//! a longer clock has a non-zero entry where the shorter one has an implicit
//! zero, so it can never be `<=` the shorter one.
//!
//! Up to [`INLINE_LEN`] entries live inline in the clock; longer clocks spill
//! to the heap. The representation is invisible to every comparison.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// One component of a vector clock: how many synchronization epochs the
/// threads that held a [`ThreadIdx`] have gone through (see the crate docs).
///
/// 64 bits: a single index counts every release of every thread that ever
/// held it, which a lock-heavy program can push past `u32::MAX` in minutes.
pub type Timestamp = u64;

/// Index of a thread's component in every vector clock.
///
/// Indices are dense (0, 1, 2, ...) and are recycled after a thread is gone;
/// see the crate docs for when. Two threads alive at the same time never
/// share an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThreadIdx(u32);

impl ThreadIdx {
    /// Rebuilds an index from [`ThreadIdx::as_u32`] (for storage in atomics or
    /// thread-locals).
    #[inline]
    pub const fn from_u32(raw: u32) -> Self {
        Self(raw)
    }

    /// The raw index.
    #[inline]
    pub const fn as_u32(self) -> u32 {
        self.0
    }

    /// The index as a position in a clock's storage.
    #[inline]
    pub const fn index(self) -> usize {
        // Lossless: usize is at least 32 bits on every target we build for.
        self.0 as usize
    }
}

impl fmt::Display for ThreadIdx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "T{}", self.0)
    }
}

/// Number of entries a [`VClock`] stores without a heap allocation.
pub const INLINE_LEN: usize = 8;

#[derive(Debug)]
enum Repr {
    /// `buf[..len]` is the clock; `buf[len..]` is all zeros, so growing
    /// inline only has to bump `len`.
    Inline {
        len: u8,
        buf: [Timestamp; INLINE_LEN],
    },
    /// Used once a clock needed more than `INLINE_LEN` entries. It may later
    /// hold fewer (after `set_at(.., 0)`); that is fine, only the slice counts.
    Heap(Vec<Timestamp>),
}

/// A vector clock: a map from [`ThreadIdx`] to [`Timestamp`], zero where
/// nothing is stored.
///
/// `PartialOrd` is the happens-before order: `a <= b` iff every component of
/// `a` is at most the matching one of `b`; `partial_cmp` is `None` for
/// concurrent clocks. `Eq` and `Hash` compare values, so trailing zeros and
/// inline versus heap storage never matter.
pub struct VClock {
    repr: Repr,
}

impl VClock {
    /// The all-zero clock.
    #[inline]
    pub const fn new() -> Self {
        Self {
            repr: Repr::Inline {
                len: 0,
                buf: [0; INLINE_LEN],
            },
        }
    }

    /// A clock with `entries[i]` at index `i`; trailing zeros are dropped.
    pub fn from_slice(entries: &[Timestamp]) -> Self {
        let end = entries.iter().rposition(|&t| t != 0).map_or(0, |i| i + 1);
        Self::from_trimmed(&entries[..end])
    }

    /// Builds a clock from a slice that already has no trailing zero,
    /// choosing inline storage when it fits.
    fn from_trimmed(entries: &[Timestamp]) -> Self {
        debug_assert!(entries.last() != Some(&0));
        if entries.len() <= INLINE_LEN {
            let mut buf = [0; INLINE_LEN];
            buf[..entries.len()].copy_from_slice(entries);
            Self {
                repr: Repr::Inline {
                    // Fits: at most INLINE_LEN (8).
                    len: entries.len() as u8,
                    buf,
                },
            }
        } else {
            Self {
                repr: Repr::Heap(entries.to_vec()),
            }
        }
    }

    /// The stored entries: index `i` is `as_slice()[i]`, and the last entry,
    /// if any, is non-zero.
    #[inline]
    pub fn as_slice(&self) -> &[Timestamp] {
        let s: &[Timestamp] = match &self.repr {
            Repr::Inline { len, buf } => &buf[..usize::from(*len)],
            Repr::Heap(v) => v,
        };
        debug_assert!(s.last() != Some(&0), "VClock has a trailing zero: {s:?}");
        s
    }

    /// Number of stored entries: one more than the highest non-zero index,
    /// 0 for the zero clock.
    #[inline]
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether this is the all-zero clock.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the entries are stored inline (no heap allocation).
    #[inline]
    pub fn is_inline(&self) -> bool {
        matches!(self.repr, Repr::Inline { .. })
    }

    /// Heap bytes owned by this clock (0 when inline).
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Inline { .. } => 0,
            Repr::Heap(v) => v.capacity() * std::mem::size_of::<Timestamp>(),
        }
    }

    /// The component of `idx` (0 when not stored).
    #[inline]
    pub fn get(&self, idx: ThreadIdx) -> Timestamp {
        self.as_slice().get(idx.index()).copied().unwrap_or(0)
    }

    /// Adds one to the component of `idx` and returns the new value.
    ///
    /// # Panics
    /// If the component would overflow `u64` (not reachable in practice).
    pub fn increment(&mut self, idx: ThreadIdx) -> Timestamp {
        let i = idx.index();
        let slot = &mut self.grow_to(i + 1)[i];
        *slot = slot
            .checked_add(1)
            .expect("vector clock component overflow");
        *slot
    }

    /// Sets the component of `idx` to `ts` (which may be lower than before;
    /// setting the last entry to 0 shortens the clock).
    pub fn set_at(&mut self, idx: ThreadIdx, ts: Timestamp) {
        let i = idx.index();
        if i < self.len() {
            self.stored_mut()[i] = ts;
            if ts == 0 {
                self.trim();
            }
        } else if ts != 0 {
            self.grow_to(i + 1)[i] = ts;
        }
    }

    /// Pointwise maximum: afterwards `self` is the least clock `>=` both
    /// `self` and `other`.
    pub fn join(&mut self, other: &VClock) {
        let rhs = other.as_slice();
        let lhs = self.grow_to(rhs.len());
        for (l, &r) in lhs.iter_mut().zip(rhs) {
            if r > *l {
                *l = r;
            }
        }
    }

    /// Resets to the zero clock and frees any heap storage.
    pub fn clear(&mut self) {
        *self = Self::new();
    }

    /// The stored entries, mutable. The caller must restore the invariant
    /// (no trailing zero) before the next `as_slice`.
    fn stored_mut(&mut self) -> &mut [Timestamp] {
        match &mut self.repr {
            Repr::Inline { len, buf } => &mut buf[..usize::from(*len)],
            Repr::Heap(v) => v,
        }
    }

    /// Makes at least `n` entries stored (new ones zero) and returns them all.
    /// The caller must make the last entry non-zero if the length grew.
    fn grow_to(&mut self, n: usize) -> &mut [Timestamp] {
        if let Repr::Inline { len, buf } = &self.repr {
            if n > INLINE_LEN {
                let mut v = Vec::with_capacity(n);
                v.extend_from_slice(&buf[..usize::from(*len)]);
                self.repr = Repr::Heap(v);
            }
        }
        match &mut self.repr {
            Repr::Inline { len, buf } => {
                if usize::from(*len) < n {
                    // Fits: n <= INLINE_LEN here.
                    *len = n as u8;
                }
                &mut buf[..usize::from(*len)]
            }
            Repr::Heap(v) => {
                if v.len() < n {
                    v.reserve_exact(n - v.len());
                    v.resize(n, 0);
                }
                v
            }
        }
    }

    /// Drops trailing zeros.
    fn trim(&mut self) {
        match &mut self.repr {
            Repr::Inline { len, buf } => {
                // The dropped entries are zero, so `buf[len..]` stays all zero.
                while *len > 0 && buf[usize::from(*len) - 1] == 0 {
                    *len -= 1;
                }
            }
            Repr::Heap(v) => {
                while v.last() == Some(&0) {
                    v.pop();
                }
            }
        }
    }
}

impl Default for VClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clone for VClock {
    fn clone(&self) -> Self {
        Self::from_trimmed(self.as_slice())
    }

    fn clone_from(&mut self, source: &Self) {
        let src = source.as_slice();
        match &mut self.repr {
            // Reuse the allocation.
            Repr::Heap(v) if src.len() > INLINE_LEN => {
                v.clear();
                v.extend_from_slice(src);
            }
            _ => *self = Self::from_trimmed(src),
        }
    }
}

impl PartialEq for VClock {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for VClock {}

impl Hash for VClock {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for VClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VClock")?;
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// Happens-before order on clocks. Every method is a fast path over the
/// stored slices that uses the no-trailing-zero invariant; the tests check
/// each against the plain pointwise definition.
impl PartialOrd for VClock {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        let (a, b) = (self.as_slice(), other.as_slice());
        // The longer clock has a non-zero entry where the shorter has an
        // implicit zero: that position alone already orders them strictly.
        let mut order = a.len().cmp(&b.len());
        for (x, y) in a.iter().zip(b) {
            match x.cmp(y) {
                Ordering::Equal => {}
                o if order == Ordering::Equal => order = o,
                o if o != order => return None,
                _ => {}
            }
        }
        Some(order)
    }

    fn le(&self, other: &Self) -> bool {
        let (a, b) = (self.as_slice(), other.as_slice());
        a.len() <= b.len() && a.iter().zip(b).all(|(x, y)| x <= y)
    }

    fn lt(&self, other: &Self) -> bool {
        let (a, b) = (self.as_slice(), other.as_slice());
        if a.len() > b.len() {
            return false;
        }
        // A shorter `a` is strictly below `b` at b's last entry.
        let mut strict = a.len() < b.len();
        for (x, y) in a.iter().zip(b) {
            if x > y {
                return false;
            }
            strict |= x < y;
        }
        strict
    }

    fn ge(&self, other: &Self) -> bool {
        other.le(self)
    }

    fn gt(&self, other: &Self) -> bool {
        other.lt(self)
    }
}

/// One point in one thread's history: FastTrack's `c@t`.
///
/// An epoch names the thread's events between two of its releases; it
/// happens before a clock `V` iff `ts <= V[thread]` (an O(1) check, no
/// vector needed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Epoch {
    /// The thread's clock index.
    pub thread: ThreadIdx,
    /// The thread's own component at the time of the event.
    pub ts: Timestamp,
}

impl Epoch {
    /// The epoch `ts@thread`.
    #[inline]
    pub const fn new(thread: ThreadIdx, ts: Timestamp) -> Self {
        Self { thread, ts }
    }

    /// Whether the event(s) of this epoch happen before (or are part of) the
    /// point in time that `clock` describes: `ts <= clock[thread]`.
    #[inline]
    pub fn happens_before(&self, clock: &VClock) -> bool {
        self.ts <= clock.get(self.thread)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.ts, self.thread)
    }
}

#[cfg(test)]
mod tests;
