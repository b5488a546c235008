//! Scenario tests for `SyncModel` and the footprint test; index recycling
//! (with a randomized equivalence check against a model with unique
//! indices) in `recycling`.

use std::collections::{HashMap, VecDeque};

use super::*;
use crate::clock::Timestamp;
use crate::test_rng::Rng;

mod recycling;

const L: u64 = 0x1000;
const L2: u64 = 0x2000;

/// Main thread plus `n` children created by it.
fn setup(n: usize) -> (SyncModel, ThreadIdx, Vec<ThreadIdx>) {
    let mut m = SyncModel::new();
    let main = m.thread_create_root();
    let kids = (0..n).map(|_| m.thread_create(main)).collect();
    (m, main, kids)
}

#[test]
fn model_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<SyncModel>();
    check::<VClock>();
}

#[test]
fn no_sync_means_concurrent() {
    let (m, main, k) = setup(2);
    let (a, b) = (k[0], k[1]);
    let (ea, eb, em) = (m.epoch(a), m.epoch(b), m.epoch(main));
    assert!(!m.ordered(ea, b));
    assert!(!m.ordered(eb, a));
    // Main's events after the creates are not the children's past...
    assert!(!m.ordered(em, a) && !m.ordered(em, b));
    // ...and the children's events are not main's past.
    assert!(!m.ordered(ea, main) && !m.ordered(eb, main));
    // Clocks of concurrent threads are incomparable.
    assert_eq!(m.clock(a).partial_cmp(m.clock(b)), None);
    // Same thread is always ordered.
    assert!(m.ordered(ea, a));
}

#[test]
fn create_and_join_edges() {
    let mut m = SyncModel::new();
    let main = m.thread_create_root();
    let before = m.epoch(main);
    let c = m.thread_create(main);
    let after = m.epoch(main);
    assert!(m.ordered(before, c), "parent before create -> child");
    assert!(
        !m.ordered(after, c),
        "parent after create is concurrent with child"
    );
    let ec = m.epoch(c);
    assert!(!m.ordered(ec, main));
    m.thread_exit(c).unwrap();
    assert!(!m.ordered(ec, main), "exit alone orders nothing");
    m.thread_join(main, c).unwrap();
    assert!(m.ordered(ec, main), "child -> joiner");
    // And onward to main's later children.
    let c2 = m.thread_create(main);
    assert!(m.ordered(ec, c2));
}

#[test]
fn mutex_handoff_orders() {
    let (mut m, _main, k) = setup(3);
    let (a, b, c) = (k[0], k[1], k[2]);
    m.acquire(a, L);
    let ea = m.epoch(a);
    m.release(a, L);
    let ea_after = m.epoch(a);
    assert!(!m.ordered(ea, b));
    m.acquire(b, L);
    assert!(m.ordered(ea, b), "release -> acquire");
    assert!(
        !m.ordered(ea_after, b),
        "a's events after its unlock are not b's past"
    );
    let eb = m.epoch(b);
    assert!(!m.ordered(eb, a), "the edge is one way");
    m.release(b, L);
    m.acquire(c, L);
    assert!(
        m.ordered(ea, c) && m.ordered(eb, c),
        "transitive through the lock"
    );
    // A different lock carries nothing.
    m.acquire(a, L2);
    assert!(!m.ordered(eb, a));
    // Spinlocks are the same calls; acquiring a never-released lock is a no-op.
    let n = m.sync_objects();
    m.acquire(a, 0xdead);
    assert_eq!(m.sync_objects(), n);
}

#[test]
fn rwlock_readers_unordered_writers_ordered() {
    let (mut m, _main, k) = setup(5);
    let (w, r1, r2, w2, r3) = (k[0], k[1], k[2], k[3], k[4]);
    m.rw_write_acquire(w, L);
    let ew = m.epoch(w);
    m.rw_write_release(w, L);

    m.rw_read_acquire(r1, L);
    m.rw_read_acquire(r2, L);
    assert!(m.ordered(ew, r1) && m.ordered(ew, r2), "write -> read");
    let e1 = m.epoch(r1);
    m.rw_read_release(r1, L);
    let e2 = m.epoch(r2);
    m.rw_read_release(r2, L);
    // r2 took its read lock before r1 released, but even a read acquire
    // after a read release does not order two readers.
    m.rw_read_acquire(r2, L);
    assert!(!m.ordered(e1, r2), "read -> read must not order");
    assert!(!m.ordered(e2, r1));

    m.rw_write_acquire(w2, L);
    assert!(
        m.ordered(e1, w2) && m.ordered(e2, w2) && m.ordered(ew, w2),
        "all releases -> writer"
    );
    let ew2 = m.epoch(w2);
    m.rw_write_release(w2, L);
    m.rw_read_acquire(r3, L);
    assert!(m.ordered(ew2, r3));
    assert!(
        m.ordered(e1, r3),
        "read -> write -> read is ordered through the writer"
    );
}

#[test]
fn mutex_calls_and_rwlock_write_calls_agree() {
    let (mut m, _main, k) = setup(3);
    m.rw_read_acquire(k[0], L);
    let e = m.epoch(k[0]);
    m.rw_read_release(k[0], L);
    m.acquire(k[1], L); // exclusive acquire through the mutex interface
    assert!(m.ordered(e, k[1]));
    let e1 = m.epoch(k[1]);
    m.release(k[1], L);
    m.rw_read_acquire(k[2], L);
    assert!(m.ordered(e1, k[2]));
}

#[test]
fn barrier_orders_arrivals_before_departures() {
    let (mut m, _main, k) = setup(3);
    let before: Vec<Epoch> = k.iter().map(|&t| m.epoch(t)).collect();
    for &t in &k {
        m.barrier_arrive(t, L);
    }
    let between: Vec<Epoch> = k.iter().map(|&t| m.epoch(t)).collect();
    for &t in &k {
        m.barrier_depart(t, L);
    }
    for &e in &before {
        for &t in &k {
            assert!(m.ordered(e, t), "{e} arrival -> departure of {t}");
        }
    }
    // Events after a thread's own arrival are not published by that round.
    for (i, &e) in between.iter().enumerate() {
        for (j, &t) in k.iter().enumerate() {
            assert_eq!(m.ordered(e, t), i == j);
        }
    }
}

#[test]
fn barrier_rounds_do_not_mix() {
    let (mut m, _main, k) = setup(2);
    let (a, b) = (k[0], k[1]);
    // Round 1.
    let a1 = m.epoch(a);
    m.barrier_arrive(a, L);
    m.barrier_arrive(b, L);
    // a leaves first and arrives for round 2 while b has not left round 1.
    m.barrier_depart(a, L);
    let a_mid = m.epoch(a);
    m.barrier_arrive(a, L);
    m.barrier_depart(b, L);
    assert!(
        m.ordered(a1, b),
        "round-1 arrival of a -> b's round-1 departure"
    );
    assert!(
        !m.ordered(a_mid, b),
        "a's round-2 arrival must not reach b's round-1 departure"
    );
    // Round 2 completes.
    let b_mid = m.epoch(b);
    m.barrier_arrive(b, L);
    m.barrier_depart(b, L);
    m.barrier_depart(a, L);
    assert!(
        m.ordered(a_mid, b) && m.ordered(b_mid, a),
        "round 2 orders its arrivals"
    );
}

#[test]
fn barrier_missing_depart_is_recovered() {
    let (mut m, _main, k) = setup(2);
    let (a, b) = (k[0], k[1]);
    let eb = m.epoch(b);
    m.barrier_arrive(a, L);
    m.barrier_arrive(b, L);
    m.barrier_depart(b, L);
    // The runtime missed a's depart; a's next arrival implies it passed.
    m.barrier_arrive(a, L);
    assert!(m.ordered(eb, a));
    // A depart with no arrive is ignored.
    m.barrier_depart(b, L2);
    m.barrier_depart(b, L);
}

#[test]
fn semaphore_post_then_wait() {
    let (mut m, _main, k) = setup(3);
    let (p1, p2, w) = (k[0], k[1], k[2]);
    let e1 = m.epoch(p1);
    m.sem_acquired(w, L); // a wait with no recorded post (initial count) orders nothing
    assert!(!m.ordered(e1, w));
    m.sem_post(p1, L);
    let e2 = m.epoch(p2);
    m.sem_post(p2, L);
    m.sem_acquired(w, L);
    // Accumulating: the waiter is ordered after every post so far.
    assert!(m.ordered(e1, w) && m.ordered(e2, w));
    let ew = m.epoch(w);
    assert!(!m.ordered(ew, p1), "wait -> post is not an edge");
}

#[test]
fn annotations_accumulate() {
    let (mut m, _main, k) = setup(3);
    let (a, b, c) = (k[0], k[1], k[2]);
    let ea = m.epoch(a);
    m.happens_before(a, L);
    let eb = m.epoch(b);
    m.happens_before(b, L);
    assert!(!m.ordered(ea, c));
    m.happens_after(c, L);
    assert!(m.ordered(ea, c) && m.ordered(eb, c));
    m.happens_after(a, L2); // nothing published on L2
    assert!(!m.ordered(eb, a));
}

#[test]
fn forget_drops_sync_state() {
    let (mut m, _main, k) = setup(2);
    let e = m.epoch(k[0]);
    m.release(k[0], L);
    assert_eq!(m.sync_objects(), 1);
    m.forget(L);
    assert_eq!(m.sync_objects(), 0);
    m.acquire(k[1], L);
    assert!(
        !m.ordered(e, k[1]),
        "a new object at the address starts fresh"
    );
}

#[test]
fn validation_rules_as_the_runtime_uses_them() {
    let (mut m, main, k) = setup(2);
    let (a, b) = (k[0], k[1]);
    // Rule 1: a stamps a policy change; b's change without sync is unordered.
    let stamp = m.epoch(a);
    assert!(m.ordered(stamp, a), "same thread may change again");
    assert!(!m.ordered(stamp, b), "rule 1 violation");
    // a publishes through a lock (e.g. push_protected_by then unlock).
    m.release(a, L);
    m.acquire(b, L);
    assert!(m.ordered(stamp, b), "rule 1 satisfied");
    // Rule 2: first access by main under the new policy, without sync.
    assert!(!m.ordered(stamp, main), "rule 2 violation");
}

#[test]
fn lifecycle_errors() {
    let mut m = SyncModel::new();
    let main = m.thread_create_root();
    let c = m.thread_create(main);
    assert_eq!(m.thread_join(main, main), Err(HbError::SelfJoin(main)));
    let bogus = ThreadIdx::from_u32(77);
    assert_eq!(m.thread_exit(bogus), Err(HbError::NotRegistered(bogus)));
    assert_eq!(m.thread_join(bogus, c), Err(HbError::NotRegistered(bogus)));
    m.thread_exit(c).unwrap();
    assert_eq!(m.thread_exit(c), Err(HbError::AlreadyExited(c)));
    m.thread_join(main, c).unwrap();
    assert_eq!(m.thread_join(main, c), Err(HbError::NotRegistered(c)));
    assert!(!m.is_registered(c));

    let d = m.thread_create(main);
    m.thread_detach(d).unwrap();
    assert_eq!(m.thread_detach(d), Err(HbError::Detached(d)));
    assert_eq!(m.thread_join(main, d), Err(HbError::Detached(d)));
    let j = m.thread_create(main);
    m.thread_join(main, j).unwrap(); // join recorded before exit (hook order)
    assert_eq!(m.thread_detach(j), Err(HbError::AlreadyJoined(j)));
    assert!(m.is_registered(j), "freed only at its exit");
    m.thread_exit(j).unwrap();
    assert!(!m.is_registered(j));
    assert!(!HbError::Detached(d).to_string().is_empty());

    // Calls with unregistered indices are ignored; queries give zero/empty.
    m.release(bogus, L);
    m.acquire(bogus, L);
    assert_eq!(m.sync_objects(), 0);
    assert_eq!(m.epoch(bogus).ts, 0);
    assert!(m.clock(bogus).is_empty());
    // A child of an unknown parent is a root thread.
    let r = m.thread_create(bogus);
    assert_eq!(m.clock(r).len(), r.index() + 1);
    assert_eq!(m.clock(r).as_slice().iter().filter(|&&x| x != 0).count(), 1);
}

#[test]
fn failed_create_frees_the_index() {
    let (mut m, main, _) = setup(0);
    let c = m.thread_create(main);
    m.thread_detach(c).unwrap();
    m.thread_exit(c).unwrap();
    assert_eq!(
        m.thread_create(main),
        c,
        "the unused index is handed out again"
    );
}
// ---------------------------------------------------------------------------
// Footprint
// ---------------------------------------------------------------------------

#[test]
fn footprint_with_thread_churn_and_many_locks() {
    const THREADS: usize = 1_000;
    const MAX_LIVE: usize = 32;
    const LOCKS: u64 = 100_000;
    const PER_THREAD: u64 = LOCKS / THREADS as u64;
    let addr = |i: u64| 0x5555_0000_0000 + i * 64;

    let mut rng = Rng::new(2019);
    let mut m = SyncModel::new();
    let main = m.thread_create_root();
    let mut live: VecDeque<ThreadIdx> = VecDeque::new();
    // What the same run would cost with one index per thread: the clock of
    // the n-th thread would have n + 2 entries (main, then its own index).
    let mut unrecycled_bytes: u64 = 0;
    for n in 0..THREADS {
        if live.len() == MAX_LIVE {
            let old = live.pop_front().unwrap();
            m.thread_exit(old).unwrap();
            m.thread_join(main, old).unwrap();
        }
        let t = m.thread_create(main);
        live.push_back(t);
        // Its own share of the lock addresses...
        for k in 0..PER_THREAD {
            let a = addr(n as u64 * PER_THREAD + k);
            m.acquire(t, a);
            m.release(t, a);
            unrecycled_bytes += (n as u64 + 2) * 8;
        }
        // ...and some contended locks shared by whoever is live.
        for _ in 0..20 {
            let u = live[rng.below(live.len() as u64) as usize];
            let a = addr(rng.below(64));
            m.acquire(u, a);
            m.release(u, a);
        }
    }
    let f = m.memory_footprint();
    while let Some(t) = live.pop_front() {
        m.thread_exit(t).unwrap();
        m.thread_join(main, t).unwrap();
    }
    println!("push-hb footprint after {THREADS} threads (<= {MAX_LIVE} live), {LOCKS} locks: {f}");
    println!(
        "  {:.1} MiB total, {} bytes per sync object; without index recycling the lock clocks alone would need ~{:.1} MiB",
        f.total_bytes as f64 / (1024.0 * 1024.0),
        f.sync_bytes / f.sync_objects,
        unrecycled_bytes as f64 / (1024.0 * 1024.0)
    );
    println!(
        "  size_of: VClock {} B, sync entry {} B",
        size_of::<VClock>(),
        size_of::<(u64, SyncObj)>()
    );
    assert_eq!(f.sync_objects, LOCKS as usize);
    assert!(f.thread_slots <= MAX_LIVE + 1, "{f}");
    assert!(f.max_clock_len <= MAX_LIVE + 1, "{f}");
    assert!(f.sync_bytes / f.sync_objects < 512, "{f}");
    assert!(f.total_bytes < 48 << 20, "{f}");
    assert!((f.total_bytes as u64) * 10 < unrecycled_bytes);
}
