//! Round-aware barrier edges.
//!
//! A barrier round orders every arrival before every departure of that
//! round, and nothing of the next round before them. Recording the edge on
//! the barrier's address alone (release at arrival, acquire at departure)
//! let a thread that left late pick up arrivals of the next round, made by
//! threads that had already left and gone on: edges that never happened,
//! which can hide an unordered policy change. So each barrier counts its
//! arrivals (its thread count comes from `pthread_barrier_init`), and round
//! `r` keeps its edge in a clock of its own, one of two that alternate:
//! round `r + 2` cannot begin before every thread has left round `r`.
//!
//! A barrier whose `init` PUSh did not see falls back to the single clock.
//! Ordinary context only (the barrier hooks).

use crate::sys::FutexMutex;
use std::collections::HashMap;

const SHARDS: usize = 16;

#[derive(Clone, Copy)]
struct Barrier {
    count: u32,
    arrivals: u64,
}

type Shard = FutexMutex<Option<HashMap<usize, Barrier>>>;
static BARRIERS: [Shard; SHARDS] = [const { FutexMutex::new(None) }; SHARDS];

fn shard(addr: usize) -> &'static Shard {
    &BARRIERS[(addr >> 5) % SHARDS]
}

/// The clock of round `round` of the barrier at `addr`: addresses inside
/// the barrier object itself, so no other sync object shares them.
fn round_clock(addr: usize, round: u64) -> usize {
    addr + 1 + (round & 1) as usize
}

/// `pthread_barrier_init(addr, count)` succeeded: a fresh barrier.
pub fn on_init(addr: usize, count: u32) {
    if count == 0 {
        return;
    }
    shard(addr)
        .lock()
        .get_or_insert_with(HashMap::new)
        .insert(addr, Barrier { count, arrivals: 0 });
}

/// A thread arrives at the barrier: the address of the clock its round
/// releases into and departs from, and whether it is the round's last
/// arrival (the barrier opens with it; never known for a barrier whose
/// `init` PUSh did not see).
pub fn arrive(addr: usize) -> (usize, bool) {
    let mut g = shard(addr).lock();
    match g.as_mut().and_then(|m| m.get_mut(&addr)) {
        Some(b) => {
            let round = b.arrivals / b.count as u64;
            b.arrivals += 1;
            (
                round_clock(addr, round),
                b.arrivals.is_multiple_of(b.count as u64),
            )
        }
        None => (addr, false),
    }
}

/// The barrier is destroyed: the clocks it may have used.
pub fn on_destroy(addr: usize) -> [usize; 3] {
    if let Some(m) = shard(addr).lock().as_mut() {
        m.remove(&addr);
    }
    [addr, round_clock(addr, 0), round_clock(addr, 1)]
}

/// Before `fork`: hold every shard so the child gets them free.
pub fn before_fork() {
    crate::sys::lock_all_for_fork(&BARRIERS);
}

/// After `fork`, in parent and child.
pub fn after_fork() {
    crate::sys::unlock_all_after_fork(&BARRIERS);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_alternate_between_two_clocks_and_unknown_barriers_use_one() {
        let b = 0x5000_0000usize;
        on_init(b, 3);
        let clocks: Vec<(usize, bool)> = (0..9).map(|_| arrive(b)).collect();
        assert_eq!(
            clocks,
            [
                (b + 1, false),
                (b + 1, false),
                (b + 1, true),
                (b + 2, false),
                (b + 2, false),
                (b + 2, true),
                (b + 1, false),
                (b + 1, false),
                (b + 1, true)
            ]
        );
        assert_eq!(arrive(0x6000_0000), (0x6000_0000, false));
        assert_eq!(on_destroy(b), [b, b + 1, b + 2]);
        assert_eq!(arrive(b), (b, false));
    }

    #[test]
    fn init_again_starts_at_round_zero() {
        let b = 0x5100_0000usize;
        on_init(b, 2);
        arrive(b);
        on_init(b, 2);
        assert_eq!(arrive(b), (b + 1, false));
        assert_eq!(arrive(b), (b + 1, true));
        assert_eq!(arrive(b), (b + 2, false));
    }
}
