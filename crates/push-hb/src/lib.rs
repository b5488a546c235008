//! Happens-before model for PUSh: vector clocks and the policy-change
//! validation rules.
//!
//! PUSh lets the hardware enforce each object's sharing policy; this crate
//! states when a *policy change* is itself properly synchronized.
//!
//! **What the runtime uses, and what it does not.** The runtime
//! (`push-rt`'s `hb` module) uses this crate's clock types ([`VClock`],
//! [`ThreadIdx`]) for the clocks of condvars, rwlocks, semaphores, barriers
//! and annotation addresses, and keeps its own allocation-free clocks for
//! threads and exclusive locks, because its hooks may not allocate and its
//! fault handler may not lock. It does **not** call [`SyncModel`]: the model
//! is the executable specification of the rules below (thread-index
//! recycling, round-aware barriers, rwlock modes), checked by its own tests
//! against a model with unique indices over random programs. The runtime
//! implements the same rules its own way (barrier rounds in
//! `push-rt/src/barriers.rs`, record recycling in `recycle.rs`); checking
//! the runtime's clocks against this model on random traces is still to do.
//! The table under "Calling it from the runtime" is how a runtime would
//! drive the model, not a description of `push-rt`.
//!
//! Pure safe Rust, no dependencies; it allocates, so a caller must use it
//! from ordinary context (never from a fault handler).
//!
//! # Timestamps
//!
//! Every thread holds a vector clock [`VClock`]: one [`Timestamp`] per thread
//! index. A thread's *own* component counts its synchronization epochs: it is
//! incremented right after every release-like event the thread performs
//! (unlock, read unlock, semaphore post, barrier arrival, `happens_before`,
//! thread create). So epoch `c@t` is "the stretch of `t`'s execution after
//! its (c-1)-th release and up to its c-th". Acquire-like events (lock,
//! semaphore wait, barrier departure, `happens_after`, join) join the
//! sync object's clock into the thread's. Component `u` of `t`'s clock is
//! then the latest epoch of `u` that happens before `t`'s present, and
//! `c@u` happens before `t` iff `c <= clock(t)[u]` ([`Epoch::happens_before`],
//! an O(1) check as in FastTrack). Releases *join* the thread clock into the
//! object's clock. For a lock this equals FastTrack's "copy" (the releaser
//! acquired first, so its clock already covers the lock's); for semaphores
//! and annotations the accumulation is the intended semantics.
//!
//! # Thread indices and their recycling
//!
//! A run can create thousands of threads; with one index per thread forever,
//! every clock would grow to that many entries. Indices are recycled
//! instead, under this rule:
//!
//! 1. An index is *free* once its thread has exited **and** been joined or
//!    detached. Free indices remember `retired`: the largest value of their
//!    component that any clock or stamped epoch can hold. That is the final
//!    component if the thread was joined (the joiner took it) or its current
//!    epoch was handed out ([`SyncModel::epoch`]/[`SyncModel::clock`]);
//!    otherwise one less, because the model copies a thread's clock anywhere
//!    only *before* incrementing it. Hence a detached worker that ends with
//!    a `sem_post`/unlock does not leave its unseen last epoch behind.
//! 2. A new thread may take free index `i` only if its start clock (its
//!    creator's clock) has `start[i] >= retired[i]`: its creator has seen the
//!    whole life of `i`'s previous holder, which therefore happens before
//!    everything the new thread does. This is how the final clock of the
//!    dead thread has been folded into every clock that can meet the index
//!    again: every later clock that learns of the new thread also learns of
//!    the old one's end, because the new thread's own past includes it.
//! 3. The new holder does not restart at 1: it continues the index's count at
//!    `retired + 1`.
//!
//! With (2) and (3) the successive holders of an index form one
//! happens-before chain, exactly like a single thread's history, so every
//! comparison gives the same answer as with fresh indices: an old epoch
//! `c@i` of a dead thread is ordered before `U` iff `U` really follows it
//! (through a join, or through the new holder's events, which follow the old
//! holder's end); the new holder's epochs start above anything stamped by the
//! old one, so nothing the old thread's observers hold makes the new thread's
//! events look ordered. The tests check this equivalence against a
//! model with unique indices over random programs.
//!
//! The free index chosen is the lowest eligible one, so clock length stays
//! around the maximum number of simultaneously live threads (plus the few
//! indices whose ends no creator has seen yet: a thread joined by one thread
//! and replaced by a creator that never synchronized with that joiner gets a
//! fresh index; correctness first).
//!
//! # Keeping clocks small
//!
//! * Index recycling (above) bounds clock length by the live-thread count.
//! * Trailing zeros are never stored (the [`VClock`] invariant), so a clock
//!   only pays for the indices it actually knows of.
//! * Up to [`INLINE_LEN`] (8) entries live inline in the clock; longer
//!   clocks spill to one exact-size heap allocation.
//! * Sync objects are one hash-table entry each (a clock plus a pointer to
//!   rarely used rwlock/barrier state); [`SyncModel::forget`] drops destroyed
//!   ones. [`SyncModel::memory_footprint`] estimates the total.
//!
//! # Calling it from the runtime
//!
//! Release-like calls go **before** the real operation and acquire-like ones
//! **after** it returns successfully; otherwise another thread could record
//! its acquire before our release is recorded.
//!
//! | program event | call |
//! |---|---|
//! | main thread / unknown running thread | [`SyncModel::thread_create_root`] |
//! | `pthread_create` (before the real call) | [`SyncModel::thread_create`]`(parent)`; pass the child index to the child |
//! | thread ends (last hook it runs) | [`SyncModel::thread_exit`] |
//! | `pthread_join` returned | [`SyncModel::thread_join`]`(joiner, joined)` |
//! | `pthread_detach`, detached-state create | [`SyncModel::thread_detach`] |
//! | mutex/spinlock lock, successful trylock/timedlock | [`SyncModel::acquire`] |
//! | mutex/spinlock unlock | [`SyncModel::release`] |
//! | `pthread_cond_*wait` | `release(mutex)` before, `acquire(mutex)` after; optionally `happens_before(cond)` at signal/broadcast and `happens_after(cond)` after the wait |
//! | rwlock rdlock / unlock held shared | [`SyncModel::rw_read_acquire`] / [`SyncModel::rw_read_release`] |
//! | rwlock wrlock / unlock held exclusive | [`SyncModel::rw_write_acquire`] / [`SyncModel::rw_write_release`] |
//! | `push_lock_acquired(l, excl)` / `push_lock_released(l)` | the rwlock calls in the mode the lock was taken |
//! | `pthread_barrier_wait` | [`SyncModel::barrier_arrive`] before, [`SyncModel::barrier_depart`] after |
//! | `sem_post` / successful `sem_*wait` | [`SyncModel::sem_post`] / [`SyncModel::sem_acquired`] |
//! | `push_happens_before(a)` / `push_happens_after(a)` | [`SyncModel::happens_before`] / [`SyncModel::happens_after`] |
//! | `*_destroy`, or freeing memory holding a sync object | [`SyncModel::forget`] |
//!
//! `pthread_rwlock_unlock` does not say which mode it releases: the runtime
//! must remember whether the caller holds the lock shared or exclusive.
//! Mutex `acquire`/`release` are the rwlock write calls, so one address used
//! through both interfaces stays consistent.
//!
//! # Validation rules
//!
//! The runtime stores, per tracked object, the [`Epoch`] of its last policy
//! change ([`SyncModel::epoch`] of the changing thread, taken at the change).
//!
//! * **Rule 1**: a policy change by thread `T` must happen after the
//!   object's previous change `prev`, unless the same thread made both:
//!   report `unordered policy change` unless
//!   [`SyncModel::ordered`]`(prev, T)`.
//! * **Rule 2**: the first access by a thread `U` under the new policy must
//!   happen after the change: report unless `ordered(stamp, U)`.
//! * Objects private to an exited thread `D` pass to a thread that accesses
//!   them after joining `D`: stamp them (or remember `epoch(D)`) when `D`
//!   exits; `ordered(that, U)` holds exactly for threads ordered after the
//!   join, and stays correct after `D`'s index is recycled.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod clock;
mod hash;
mod model;
#[cfg(test)]
mod test_rng;

pub use clock::{Epoch, ThreadIdx, Timestamp, VClock, INLINE_LEN};
pub use model::{Footprint, HbError, SyncModel};
