//! The clocks of one sync object (mutex, rwlock, spinlock, semaphore,
//! barrier, annotation address) in [`super::SyncModel`], with the barrier's
//! rounds.

use std::mem::size_of;

use crate::clock::{ThreadIdx, VClock};

/// One sync object (mutex, rwlock, spinlock, semaphore, barrier, annotation
/// address). Kinds share the struct so that an address reused for another
/// kind without `forget` still behaves sanely.
#[derive(Debug, Default)]
pub(super) struct SyncObj {
    /// Join of every release: mutex/spinlock unlocks, rwlock write unlocks,
    /// semaphore posts, `happens_before` annotations.
    pub(super) clock: VClock,
    /// Rarely needed state, boxed to keep the common entry small.
    pub(super) extra: Option<Box<Extra>>,
}

#[derive(Debug, Default)]
pub(super) struct Extra {
    /// Join of every rwlock read unlock.
    pub(super) read: VClock,
    pub(super) barrier: Option<Barrier>,
}

impl SyncObj {
    pub(super) fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.clock.heap_bytes()
            + self.extra.as_ref().map_or(0, |e| {
                size_of::<Extra>()
                    + e.read.heap_bytes()
                    + e.barrier.as_ref().map_or(0, Barrier::heap_bytes)
            })
    }
}

/// Barrier rounds. A round (generation) collects arrivals until its first
/// departure, which seals it: every arrival of a round is recorded before the
/// real `pthread_barrier_wait` can return to anyone, and no thread can arrive
/// for the next round before it has departed this one. Departures join the
/// clock of the round *they arrived in*, so a fast thread that already
/// arrived for round g+1 never leaks into a slow departer of round g.
#[derive(Debug, Default)]
pub(super) struct Barrier {
    /// Join of the arrivals of the open round.
    pub(super) open: VClock,
    pub(super) open_gen: u64,
    pub(super) open_arrivals: u32,
    /// Sealed rounds that still have departures to come.
    pub(super) sealed: Vec<SealedRound>,
    /// Threads between arrive and depart, with the round they arrived in.
    pub(super) waiting: Vec<(ThreadIdx, u64)>,
}

#[derive(Debug)]
pub(super) struct SealedRound {
    pub(super) generation: u64,
    pub(super) clock: VClock,
    pub(super) remaining: u32,
}

impl Barrier {
    pub(super) fn arrive(&mut self, t: ThreadIdx, clock: &mut VClock) {
        if self.waiting.iter().any(|&(w, _)| w == t) {
            // No depart was recorded for t's previous wait, yet t runs again:
            // that wait returned. Record the missing departure now.
            self.depart(t, clock);
        }
        self.open.join(clock);
        self.open_arrivals += 1;
        self.waiting.push((t, self.open_gen));
    }

    pub(super) fn depart(&mut self, t: ThreadIdx, clock: &mut VClock) {
        let Some(pos) = self.waiting.iter().position(|&(w, _)| w == t) else {
            return; // depart without arrive: nothing to learn
        };
        let (_, generation) = self.waiting.swap_remove(pos);
        if generation == self.open_gen {
            self.sealed.push(SealedRound {
                generation,
                clock: std::mem::take(&mut self.open),
                remaining: self.open_arrivals,
            });
            self.open_gen += 1;
            self.open_arrivals = 0;
        }
        if let Some(r) = self.sealed.iter().position(|r| r.generation == generation) {
            clock.join(&self.sealed[r].clock);
            self.sealed[r].remaining -= 1;
            if self.sealed[r].remaining == 0 {
                self.sealed.swap_remove(r);
            }
        }
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.open.heap_bytes()
            + self.sealed.capacity() * size_of::<SealedRound>()
            + self
                .sealed
                .iter()
                .map(|r| r.clock.heap_bytes())
                .sum::<usize>()
            + self.waiting.capacity() * size_of::<(ThreadIdx, u64)>()
    }
}
