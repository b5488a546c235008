//! Policy changes at barrier phases.
//!
//! Programs that work in phases change who may touch what between two
//! phases: a slice written by one thread in phase k is read by all in phase
//! k+1. A change made before the barrier races with threads still in phase
//! k; one made after it by a single thread is not ordered before the other
//! threads' first accesses. So a change can be registered for a barrier
//! (`push_private_at` and the like, by a thread that may make it) and the
//! runtime applies it when the barrier next opens: in the arrival of the
//! last thread, after joining the clocks of every arrival of the round and
//! before releasing its own, so the change is ordered after every thread's
//! phase and before every thread's next one. For a barrier PUSh does not
//! see (built on a condition variable), the program's last arriving thread
//! calls `push_barrier_opens` before it wakes the others.
//!
//! Ordinary context only (API calls and barrier hooks).

use crate::registry::Policy;
use crate::report::Api;
use crate::sys::FutexMutex;
use std::collections::HashMap;

/// One registered change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    /// A pointer into the object, as the program passed it.
    pub obj: usize,
    pub policy: Policy,
    /// The registering call (for reports).
    pub api: Api,
}

const SHARDS: usize = 16;
type Shard = FutexMutex<Option<HashMap<usize, Vec<Pending>>>>;
static PENDING: [Shard; SHARDS] = [const { FutexMutex::new(None) }; SHARDS];

fn shard(barrier: usize) -> &'static Shard {
    &PENDING[(barrier >> 5) % SHARDS]
}

/// Registers `change` for the next opening of `barrier`. A later change of
/// the same object for the same barrier replaces the earlier one.
pub fn register(barrier: usize, change: Pending) {
    let mut g = shard(barrier).lock();
    let list = g
        .get_or_insert_with(HashMap::new)
        .entry(barrier)
        .or_default();
    match list.iter_mut().find(|p| p.obj == change.obj) {
        Some(p) => *p = change,
        None => list.push(change),
    }
}

/// Whether changes wait for `barrier` (cheap when none wait anywhere).
pub fn any_for(barrier: usize) -> bool {
    shard(barrier)
        .lock()
        .as_ref()
        .is_some_and(|m| m.contains_key(&barrier))
}

/// The changes registered for `barrier`, in registration order; they are
/// no longer pending.
pub fn take(barrier: usize) -> Vec<Pending> {
    shard(barrier)
        .lock()
        .as_mut()
        .and_then(|m| m.remove(&barrier))
        .unwrap_or_default()
}

/// Before `fork`: hold every shard so the child gets them free.
pub fn before_fork() {
    crate::sys::lock_all_for_fork(&PENDING);
}

/// After `fork`, in parent and child.
pub fn after_fork() {
    crate::sys::unlock_all_after_fork(&PENDING);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_wait_for_their_barrier_and_the_last_one_per_object_wins() {
        let (b, other) = (0x7000_0000usize, 0x7000_1000usize);
        let change = |obj, policy| Pending {
            obj,
            policy,
            api: Api::PrivateAt,
        };
        register(b, change(0x10, Policy::Private(1)));
        register(b, change(0x20, Policy::ReadOnly));
        register(b, change(0x10, Policy::Private(2)));
        assert!(any_for(b) && !any_for(other));
        assert_eq!(
            take(b),
            [
                change(0x10, Policy::Private(2)),
                change(0x20, Policy::ReadOnly)
            ]
        );
        assert!(!any_for(b));
        assert!(take(b).is_empty());
    }
}
