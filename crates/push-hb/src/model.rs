//! [`SyncModel`]: per-thread and per-sync-object clocks, advanced by the
//! synchronization events the runtime observes.
//!
//! See the crate docs for the model, the index-recycling rule and the table
//! of which pthread call maps to which method.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::mem::size_of;
use std::sync::atomic::Ordering as AtomicOrdering;

use crate::clock::{Epoch, ThreadIdx, VClock};
use crate::hash::AddrHasher;

mod footprint;
mod sync_object;
mod thread_slot;

pub use footprint::Footprint;
use sync_object::{Barrier, SyncObj};
pub use thread_slot::HbError;
use thread_slot::{slot_mut, Life, ThreadSlot};

type AddrMap<V> = HashMap<u64, V, BuildHasherDefault<AddrHasher>>;

/// The zero clock, returned for indices that name no thread.
static EMPTY: VClock = VClock::new();

/// The happens-before state of one process: a clock per thread and a clock
/// per sync object (keyed by its address).
///
/// Not internally synchronized: the runtime calls it under its own lock.
/// Nothing here panics on bad input; see each method for what it does with
/// an index that names no thread.
#[derive(Debug, Default)]
pub struct SyncModel {
    threads: Vec<ThreadSlot>,
    /// Indices of `Free` slots.
    free: Vec<ThreadIdx>,
    sync: AddrMap<SyncObj>,
}

impl SyncModel {
    /// An empty model: no threads, no sync objects.
    pub fn new() -> Self {
        Self::default()
    }

    // ---------------------------------------------------------------------
    // Thread lifecycle
    // ---------------------------------------------------------------------

    /// Registers a thread with no known creator (the main thread, or a thread
    /// the runtime first sees already running). Its clock starts at its own
    /// first epoch only: it is ordered after nothing.
    pub fn thread_create_root(&mut self) -> ThreadIdx {
        self.spawn(VClock::new())
    }

    /// `pthread_create` by `parent`: everything `parent` did so far happens
    /// before everything the child does. Call it before the real create, so
    /// the child can use its index from its first instruction. If `parent`
    /// names no thread, the child is registered as a root thread.
    ///
    /// If the real create then fails, free the index with
    /// `thread_detach(child)` and `thread_exit(child)`.
    pub fn thread_create(&mut self, parent: ThreadIdx) -> ThreadIdx {
        let start = match slot_mut(&mut self.threads, parent) {
            Some(p) => p.clock.clone(),
            None => VClock::new(),
        };
        let child = self.spawn(start);
        if let Some(p) = slot_mut(&mut self.threads, parent) {
            // Create is a release: the parent's later events are not the child's past.
            p.tick(parent);
        }
        child
    }

    /// Hands out an index for a new thread whose clock starts as `start`.
    ///
    /// Recycling rule: a free index `i` whose previous holders' components
    /// never went above `retired` may be taken only if `start[i] >= retired`,
    /// i.e. the new thread's creation happens after the previous holder's
    /// end. The new thread then continues the index's count at
    /// `retired + 1`, so the index's timeline stays one happens-before chain
    /// and every comparison means what it meant without recycling.
    fn spawn(&mut self, mut start: VClock) -> ThreadIdx {
        let threads = &self.threads;
        let pick = self
            .free
            .iter()
            .enumerate()
            .filter(|&(_, &i)| threads[i.index()].retired <= start.get(i))
            .min_by_key(|&(_, &i)| i)
            .map(|(pos, _)| pos);
        let (idx, first) = match pick {
            Some(pos) => {
                let idx = self.free.swap_remove(pos);
                let retired = self.threads[idx.index()].retired;
                debug_assert_eq!(start.get(idx), retired, "a clock ran past a retired index");
                (idx, retired + 1)
            }
            None => {
                let raw = u32::try_from(self.threads.len()).expect("more than 2^32 thread indices");
                self.threads.push(ThreadSlot::free(0));
                (ThreadIdx::from_u32(raw), 1)
            }
        };
        start.set_at(idx, first);
        let slot = &mut self.threads[idx.index()];
        slot.clock = start;
        slot.life = Life::Running;
        slot.joined = false;
        slot.detached = false;
        *slot.exposed.get_mut() = false;
        slot.retired = 0;
        idx
    }

    /// The thread `t` is ending. Call it from the last hook the thread runs
    /// (after its TLS destructors if the runtime can), because once the
    /// thread is also joined or detached its index may be recycled, and later
    /// calls with it would be charged to the new holder.
    ///
    /// A detached thread's index is freed here; otherwise the clock is kept
    /// for the joiner.
    pub fn thread_exit(&mut self, t: ThreadIdx) -> Result<(), HbError> {
        let slot = slot_mut(&mut self.threads, t).ok_or(HbError::NotRegistered(t))?;
        if slot.life != Life::Running {
            return Err(HbError::AlreadyExited(t));
        }
        slot.life = Life::Exited;
        if slot.joined || slot.detached {
            self.retire(t);
        }
        Ok(())
    }

    /// `pthread_join(joined)` returned in `joiner`: everything `joined` did
    /// happens before `joiner`'s later events. Call it after the real join.
    ///
    /// If `thread_exit(joined)` was not seen yet (hook order), the joiner
    /// still learns the clock now and the index is freed at that exit.
    pub fn thread_join(&mut self, joiner: ThreadIdx, joined: ThreadIdx) -> Result<(), HbError> {
        if joiner == joined {
            return Err(HbError::SelfJoin(joiner));
        }
        if slot_mut(&mut self.threads, joiner).is_none() {
            return Err(HbError::NotRegistered(joiner));
        }
        let slot = slot_mut(&mut self.threads, joined).ok_or(HbError::NotRegistered(joined))?;
        if slot.joined {
            return Err(HbError::AlreadyJoined(joined));
        }
        if slot.detached {
            return Err(HbError::Detached(joined));
        }
        slot.joined = true;
        // The joiner will hold the current value of `joined`'s component.
        *slot.exposed.get_mut() = true;
        let exited = slot.life == Life::Exited;
        let (a, b) = two_slots(&mut self.threads, joiner, joined);
        a.clock.join(&b.clock);
        if exited {
            self.retire(joined);
        }
        Ok(())
    }

    /// `pthread_detach(t)` (or a thread created detached): nobody will join
    /// `t`, so its index is freed at its exit (now, if it already exited).
    pub fn thread_detach(&mut self, t: ThreadIdx) -> Result<(), HbError> {
        let slot = slot_mut(&mut self.threads, t).ok_or(HbError::NotRegistered(t))?;
        if slot.detached {
            return Err(HbError::Detached(t));
        }
        if slot.joined {
            return Err(HbError::AlreadyJoined(t));
        }
        slot.detached = true;
        if slot.life == Life::Exited {
            self.retire(t);
        }
        Ok(())
    }

    /// Frees an exited, joined-or-detached thread's index.
    fn retire(&mut self, t: ThreadIdx) {
        let slot = &mut self.threads[t.index()];
        debug_assert_eq!(slot.life, Life::Exited);
        let own = slot.clock.get(t);
        // Values copied into other clocks are always copied before an
        // increment, so unless the current value was exposed, nothing holds
        // more than `own - 1`. Retiring lower lets a thread that saw t's last
        // release (e.g. a detached worker's final sem_post) reuse the index.
        let retired = if *slot.exposed.get_mut() {
            own
        } else {
            own.saturating_sub(1)
        };
        *slot = ThreadSlot::free(retired);
        self.free.push(t);
    }

    // ---------------------------------------------------------------------
    // Locks
    // ---------------------------------------------------------------------

    /// A mutex or spinlock was acquired (after the real lock or a successful
    /// trylock/timedlock returned). Same as [`SyncModel::rw_write_acquire`].
    pub fn acquire(&mut self, t: ThreadIdx, addr: u64) {
        self.rw_write_acquire(t, addr);
    }

    /// A mutex or spinlock is about to be released (call before the real
    /// unlock). Same as [`SyncModel::rw_write_release`].
    pub fn release(&mut self, t: ThreadIdx, addr: u64) {
        self.release_to(t, addr);
    }

    /// Shared (read) acquire of a rwlock: joins the write releases only, so
    /// two readers are not ordered with each other.
    pub fn rw_read_acquire(&mut self, t: ThreadIdx, addr: u64) {
        self.acquire_from(t, addr, false);
    }

    /// Shared (read) release of a rwlock (before the real unlock): joins the
    /// thread's clock into the lock's read-release clock.
    pub fn rw_read_release(&mut self, t: ThreadIdx, addr: u64) {
        let Some(slot) = slot_mut(&mut self.threads, t) else {
            return;
        };
        let obj = self.sync.entry(addr).or_default();
        obj.extra().read.join(&slot.clock);
        slot.tick(t);
    }

    /// Exclusive (write) acquire of a rwlock: joins every release, write and
    /// read, so the writer is ordered after all earlier readers and writers.
    pub fn rw_write_acquire(&mut self, t: ThreadIdx, addr: u64) {
        self.acquire_from(t, addr, true);
    }

    /// Exclusive (write) release of a rwlock (before the real unlock).
    pub fn rw_write_release(&mut self, t: ThreadIdx, addr: u64) {
        self.release_to(t, addr);
    }

    // ---------------------------------------------------------------------
    // Barriers, semaphores, annotations
    // ---------------------------------------------------------------------

    /// Call just before the real `pthread_barrier_wait`: a release into the
    /// barrier's current round.
    pub fn barrier_arrive(&mut self, t: ThreadIdx, addr: u64) {
        let Some(slot) = slot_mut(&mut self.threads, t) else {
            return;
        };
        let obj = self.sync.entry(addr).or_default();
        obj.extra()
            .barrier
            .get_or_insert_with(Barrier::default)
            .arrive(t, &mut slot.clock);
        slot.tick(t);
    }

    /// Call just after the real `pthread_barrier_wait` returned (either
    /// return value): the thread joins every arrival of the round it arrived
    /// in. A depart without an arrive does nothing.
    pub fn barrier_depart(&mut self, t: ThreadIdx, addr: u64) {
        let Some(slot) = slot_mut(&mut self.threads, t) else {
            return;
        };
        let barrier = self
            .sync
            .get_mut(&addr)
            .and_then(|o| o.extra.as_mut())
            .and_then(|e| e.barrier.as_mut());
        if let Some(b) = barrier {
            b.depart(t, &mut slot.clock);
        }
    }

    /// `sem_post` (call before the real post): accumulates into the
    /// semaphore's clock, since a wait may consume any earlier post.
    pub fn sem_post(&mut self, t: ThreadIdx, addr: u64) {
        self.release_to(t, addr);
    }

    /// A `sem_wait`/`sem_trywait`/`sem_timedwait` succeeded (call after it
    /// returned 0): the thread joins every earlier post.
    pub fn sem_acquired(&mut self, t: ThreadIdx, addr: u64) {
        self.acquire_from(t, addr, false);
    }

    /// `push_happens_before(addr)`: release on `addr`, accumulating (every
    /// earlier `happens_before` on `addr` stays in its clock).
    pub fn happens_before(&mut self, t: ThreadIdx, addr: u64) {
        self.release_to(t, addr);
    }

    /// `push_happens_after(addr)`: acquire on `addr`: the thread is ordered
    /// after every earlier `happens_before(addr)`.
    pub fn happens_after(&mut self, t: ThreadIdx, addr: u64) {
        self.acquire_from(t, addr, false);
    }

    /// The sync object at `addr` was destroyed (`*_destroy`, or its memory
    /// freed): drop its clocks. A later object at the same address starts
    /// fresh.
    pub fn forget(&mut self, addr: u64) {
        self.sync.remove(&addr);
    }

    fn release_to(&mut self, t: ThreadIdx, addr: u64) {
        let Some(slot) = slot_mut(&mut self.threads, t) else {
            return;
        };
        // Join rather than overwrite: for a lock the releaser acquired first,
        // so its clock already includes the lock's and the two agree; for
        // semaphores and annotations the accumulation is the semantics.
        let obj = self.sync.entry(addr).or_default();
        obj.clock.join(&slot.clock);
        slot.tick(t);
    }

    fn acquire_from(&mut self, t: ThreadIdx, addr: u64, with_reads: bool) {
        let Some(slot) = slot_mut(&mut self.threads, t) else {
            return;
        };
        let Some(obj) = self.sync.get(&addr) else {
            return; // never released: nothing to learn, nothing to store
        };
        slot.clock.join(&obj.clock);
        if with_reads {
            if let Some(e) = &obj.extra {
                slot.clock.join(&e.read);
            }
        }
    }

    // ---------------------------------------------------------------------
    // Queries and validation
    // ---------------------------------------------------------------------

    /// The current epoch of `t`: stamp a policy change with it. For an index
    /// that names no thread, `ts` is 0, which happens before everything (a
    /// stale index can hide a violation, never invent one).
    pub fn epoch(&self, t: ThreadIdx) -> Epoch {
        match self.threads.get(t.index()).filter(|s| s.life != Life::Free) {
            Some(s) => {
                s.exposed.store(true, AtomicOrdering::Relaxed);
                Epoch::new(t, s.clock.get(t))
            }
            None => Epoch::new(t, 0),
        }
    }

    /// The current clock of `t` (the zero clock for an index that names no
    /// thread).
    pub fn clock(&self, t: ThreadIdx) -> &VClock {
        match self.threads.get(t.index()).filter(|s| s.life != Life::Free) {
            Some(s) => {
                s.exposed.store(true, AtomicOrdering::Relaxed);
                &s.clock
            }
            None => &EMPTY,
        }
    }

    fn clock_ref(&self, t: ThreadIdx) -> &VClock {
        match self.threads.get(t.index()) {
            Some(s) if s.life != Life::Free => &s.clock,
            _ => &EMPTY,
        }
    }

    /// The validation check: does the event stamped `earlier` happen before
    /// `later_thread`'s current point (or was it made by the same index)?
    ///
    /// Rule 1: at a policy change of an object by thread `T`, with the
    /// object's previous change stamped `prev`, report an unordered policy
    /// change unless `ordered(prev, T)`; then stamp the object with
    /// `epoch(T)`. Rule 2: at the first access by a thread `U` to the object
    /// under its new policy, report unless `ordered(stamp, U)`.
    ///
    /// The same-index shortcut also holds across recycling: an index is
    /// reused only by a thread created after its previous holder ended.
    pub fn ordered(&self, earlier: Epoch, later_thread: ThreadIdx) -> bool {
        earlier.thread == later_thread || earlier.happens_before(self.clock_ref(later_thread))
    }

    /// Whether `t` names a thread with a clock (running, or exited and not
    /// yet joined/detached).
    pub fn is_registered(&self, t: ThreadIdx) -> bool {
        self.threads
            .get(t.index())
            .is_some_and(|s| s.life != Life::Free)
    }

    /// Thread indices ever allocated (the bound on clock length).
    pub fn thread_slots(&self) -> usize {
        self.threads.len()
    }

    /// Threads that have a clock (running, or exited and not yet joined).
    pub fn live_threads(&self) -> usize {
        self.threads.len() - self.free.len()
    }

    /// Number of sync objects that hold a clock.
    pub fn sync_objects(&self) -> usize {
        self.sync.len()
    }

    /// Estimated bytes held by the model (tables plus clock storage); O(number
    /// of sync objects), meant for end-of-run or periodic reporting.
    pub fn memory_footprint(&self) -> Footprint {
        let thread_bytes = size_of::<Self>()
            + self.threads.capacity() * size_of::<ThreadSlot>()
            + self.free.capacity() * size_of::<ThreadIdx>()
            + self
                .threads
                .iter()
                .map(|s| s.clock.heap_bytes())
                .sum::<usize>();
        // hashbrown: a power-of-two bucket count at most 7/8 full, one
        // control byte per bucket plus a group of trailing control bytes.
        let cap = self.sync.capacity();
        let buckets = if cap == 0 {
            0
        } else {
            (cap * 8 / 7).next_power_of_two()
        };
        let entry = size_of::<(u64, SyncObj)>();
        let table = if buckets == 0 {
            0
        } else {
            buckets * (entry + 1) + 16
        };
        let sync_bytes = table + self.sync.values().map(SyncObj::heap_bytes).sum::<usize>();
        let max_thread = self.threads.iter().map(|s| s.clock.len());
        let max_sync = self.sync.values().map(|o| o.clock.len());
        Footprint {
            total_bytes: thread_bytes + sync_bytes,
            thread_bytes,
            sync_bytes,
            thread_slots: self.thread_slots(),
            live_threads: self.live_threads(),
            sync_objects: self.sync.len(),
            max_clock_len: max_thread.chain(max_sync).max().unwrap_or(0),
        }
    }
}

/// Two distinct thread slots, mutably.
fn two_slots(
    threads: &mut [ThreadSlot],
    a: ThreadIdx,
    b: ThreadIdx,
) -> (&mut ThreadSlot, &mut ThreadSlot) {
    let (a, b) = (a.index(), b.index());
    assert_ne!(a, b);
    if a < b {
        let (lo, hi) = threads.split_at_mut(b);
        (&mut lo[a], &mut hi[0])
    } else {
        let (lo, hi) = threads.split_at_mut(a);
        (&mut hi[0], &mut lo[b])
    }
}

#[cfg(test)]
mod tests;
