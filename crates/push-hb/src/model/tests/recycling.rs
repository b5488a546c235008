//! Index recycling: scenarios, and a randomized equivalence check against
//! a reference model with a fresh index per thread.

use super::*;

// ---------------------------------------------------------------------------
// Index recycling
// ---------------------------------------------------------------------------

#[test]
fn recycling_keeps_old_epochs_correctly_ordered() {
    let mut m = SyncModel::new();
    let main = m.thread_create_root();
    let d = m.thread_create(main);
    let t = m.thread_create(main); // concurrent with d, never syncs with it directly
    m.acquire(d, L);
    let ed = m.epoch(d); // e.g. d's last policy change on some object
    m.release(d, L);
    m.thread_exit(d).unwrap();
    m.thread_join(main, d).unwrap();

    let n = m.thread_create(main);
    assert_eq!(n, d, "main saw d's end, so its child reuses d's index");
    let en = m.epoch(n);
    assert!(en.ts > ed.ts, "the new holder continues the count");

    // d's epoch: ordered before n (d ended before n began), not before t.
    assert!(m.ordered(ed, n));
    assert!(m.ordered(ed, main));
    assert!(!m.ordered(ed, t));
    // n's epoch: not before main (main only knows d's end) nor t.
    assert!(!m.ordered(en, main));
    assert!(!m.ordered(en, t));
    // t learned d's old release through L: still does not make n's events its past.
    m.acquire(t, L);
    assert!(m.ordered(ed, t));
    assert!(
        !m.ordered(en, t),
        "an old value at the index must not cover the new thread"
    );
    // n publishes: t is now after n, and therefore really after d too.
    m.release(n, L2);
    m.acquire(t, L2);
    assert!(m.ordered(en, t) && m.ordered(ed, t));
}

#[test]
fn recycling_requires_the_creator_to_have_seen_the_end() {
    let mut m = SyncModel::new();
    let main = m.thread_create_root();
    let d = m.thread_create(main);
    let t = m.thread_create(main);
    let ed = m.epoch(d);
    m.thread_exit(d).unwrap();
    m.thread_join(main, d).unwrap();
    // t never synchronized with main after the join: its child must not
    // take d's index, or d's events would look ordered before that child.
    let c = m.thread_create(t);
    assert_ne!(c, d);
    assert!(!m.ordered(ed, c));
    // main's child may take it.
    assert_eq!(m.thread_create(main), d);
}

#[test]
fn detached_thread_ending_with_a_release_is_recycled() {
    let mut m = SyncModel::new();
    let main = m.thread_create_root();
    let d = m.thread_create(main);
    m.thread_detach(d).unwrap();
    let ed = m.epoch(d);
    m.sem_post(d, L); // "done" signal; nothing stamped after it
    m.thread_exit(d).unwrap();
    assert!(!m.is_registered(d));
    m.sem_acquired(main, L);
    let n = m.thread_create(main);
    assert_eq!(n, d, "the waiter saw everything d stamped");
    assert!(m.ordered(ed, n));
    assert!(!m.ordered(m.epoch(n), main));
}

#[test]
fn detached_thread_with_unseen_tail_is_not_recycled_early() {
    let mut m = SyncModel::new();
    let main = m.thread_create_root();
    let d = m.thread_create(main);
    m.thread_detach(d).unwrap();
    m.sem_post(d, L);
    let tail = m.epoch(d); // stamped after the last release: nobody can see it
    m.thread_exit(d).unwrap();
    m.sem_acquired(main, L);
    assert!(!m.ordered(tail, main));
    let n = m.thread_create(main);
    assert_ne!(n, d, "main has not seen d's tail");
    assert!(!m.ordered(tail, n));
}

#[test]
fn join_recorded_before_exit_frees_at_exit() {
    let mut m = SyncModel::new();
    let main = m.thread_create_root();
    let c = m.thread_create(main);
    let ec = m.epoch(c);
    m.thread_join(main, c).unwrap();
    assert!(m.ordered(ec, main));
    let other = m.thread_create(main);
    assert_ne!(other, c, "not recycled while still running");
    m.thread_exit(c).unwrap();
    let n = m.thread_create(main);
    assert_eq!(n, c);
    assert!(m.ordered(ec, n));
}

/// Reference model: the plain definition with a fresh index per thread,
/// never recycled, clocks as plain vectors.
#[derive(Default)]
struct RefModel {
    clocks: Vec<Vec<Timestamp>>,
    sync: HashMap<u64, Vec<Timestamp>>,
    reads: HashMap<u64, Vec<Timestamp>>,
}

fn vjoin(a: &mut Vec<Timestamp>, b: &[Timestamp]) {
    if a.len() < b.len() {
        a.resize(b.len(), 0);
    }
    for (x, &y) in a.iter_mut().zip(b) {
        *x = (*x).max(y);
    }
}

impl RefModel {
    fn create(&mut self, parent: Option<usize>) -> usize {
        let id = self.clocks.len();
        let mut c = parent.map(|p| self.clocks[p].clone()).unwrap_or_default();
        c.resize(id + 1, 0);
        c[id] = 1;
        self.clocks.push(c);
        if let Some(p) = parent {
            self.clocks[p][p] += 1;
        }
        id
    }
    fn release(&mut self, t: usize, addr: u64, read: bool) {
        let map = if read {
            &mut self.reads
        } else {
            &mut self.sync
        };
        vjoin(map.entry(addr).or_default(), &self.clocks[t]);
        self.clocks[t][t] += 1;
    }
    fn acquire(&mut self, t: usize, addr: u64, with_reads: bool) {
        if let Some(s) = self.sync.get(&addr) {
            vjoin(&mut self.clocks[t], s);
        }
        if with_reads {
            if let Some(s) = self.reads.get(&addr) {
                vjoin(&mut self.clocks[t], s);
            }
        }
    }
    fn join(&mut self, joiner: usize, joined: usize) {
        let c = self.clocks[joined].clone();
        vjoin(&mut self.clocks[joiner], &c);
    }
    fn epoch(&self, t: usize) -> (usize, Timestamp) {
        (t, self.clocks[t][t])
    }
    fn ordered(&self, (u, ts): (usize, Timestamp), later: usize) -> bool {
        u == later || ts <= self.clocks[later].get(u).copied().unwrap_or(0)
    }
}

#[derive(Clone, Copy)]
struct Th {
    r: usize,
    m: ThreadIdx,
    running: bool,
    joined: bool,
    detached: bool,
}

/// Random programs of thread churn and synchronization, run on the real
/// model (with recycling) and the reference (without). Every ordering
/// question about every stamped epoch, including epochs of long-dead
/// threads whose index now belongs to someone else, must get the same
/// answer from both.
#[test]
fn recycling_is_equivalent_to_unique_indices() {
    let mut recycled_total = 0;
    for seed in 0..60u64 {
        let mut rng = Rng::new(seed);
        let mut m = SyncModel::new();
        let mut r = RefModel::default();
        let root = Th {
            r: r.create(None),
            m: m.thread_create_root(),
            running: true,
            joined: false,
            detached: false,
        };
        let mut ths = vec![root];
        let mut stamps: Vec<(Epoch, (usize, Timestamp))> = Vec::new();
        let addrs = [L, L2, 0x3000, 0x4000];
        let max_live = 2 + (seed % 6) as usize;
        for _step in 0..400 {
            let running: Vec<usize> = (0..ths.len()).filter(|&i| ths[i].running).collect();
            let pick = |rng: &mut Rng, v: &[usize]| v[rng.below(v.len() as u64) as usize];
            let me = pick(&mut rng, &running);
            let addr = addrs[rng.below(addrs.len() as u64) as usize];
            match rng.below(12) {
                0 | 1 if running.len() < max_live => {
                    let child = Th {
                        r: r.create(Some(ths[me].r)),
                        m: m.thread_create(ths[me].m),
                        running: true,
                        joined: false,
                        detached: false,
                    };
                    if ths.iter().any(|t| t.m == child.m) {
                        recycled_total += 1;
                    }
                    ths.push(child);
                }
                2 if me != 0 => {
                    m.thread_exit(ths[me].m).unwrap();
                    ths[me].running = false;
                }
                3 => {
                    // Join some exited (or, rarely, running: hook order) thread.
                    let cands: Vec<usize> = (1..ths.len())
                        .filter(|&i| i != me && !ths[i].joined && !ths[i].detached)
                        .filter(|&i| !ths[i].running || rng.below(8) == 0)
                        .collect();
                    if !cands.is_empty() {
                        let j = pick(&mut rng, &cands);
                        let was_running = ths[j].running;
                        m.thread_join(ths[me].m, ths[j].m).unwrap();
                        r.join(ths[me].r, ths[j].r);
                        ths[j].joined = true;
                        if was_running {
                            // The joined thread's only remaining event is its exit.
                            m.thread_exit(ths[j].m).unwrap();
                            ths[j].running = false;
                        }
                    }
                }
                4 => {
                    let cands: Vec<usize> = (1..ths.len())
                        .filter(|&i| !ths[i].joined && !ths[i].detached)
                        .collect();
                    if !cands.is_empty() {
                        let d = pick(&mut rng, &cands);
                        m.thread_detach(ths[d].m).unwrap();
                        ths[d].detached = true;
                    }
                }
                5 => {
                    m.release(ths[me].m, addr);
                    r.release(ths[me].r, addr, false);
                }
                6 => {
                    m.acquire(ths[me].m, addr);
                    r.acquire(ths[me].r, addr, true);
                }
                7 => {
                    m.rw_read_release(ths[me].m, addr);
                    r.release(ths[me].r, addr, true);
                }
                8 => {
                    m.rw_read_acquire(ths[me].m, addr);
                    r.acquire(ths[me].r, addr, false);
                }
                9 => {
                    // Stamp only sometimes, so unexposed retirement is common.
                    if rng.below(3) == 0 {
                        stamps.push((m.epoch(ths[me].m), r.epoch(ths[me].r)));
                    }
                }
                _ => {
                    if let Some(&(em, er)) =
                        stamps.get(rng.below(stamps.len().max(1) as u64) as usize)
                    {
                        assert_eq!(
                            m.ordered(em, ths[me].m),
                            r.ordered(er, ths[me].r),
                            "seed {seed}"
                        );
                    }
                }
            }
            // Threads with a clock never share an index.
            let mut held: Vec<u32> = ths
                .iter()
                .filter(|t| t.running || !(t.joined || t.detached))
                .map(|t| t.m.as_u32())
                .collect();
            held.sort_unstable();
            let n = held.len();
            held.dedup();
            assert_eq!(
                n,
                held.len(),
                "seed {seed}: two live threads share an index"
            );
        }
        // Exhaustive final check: every stamp against every running thread.
        for &(em, er) in &stamps {
            for t in ths.iter().filter(|t| t.running) {
                assert_eq!(
                    m.ordered(em, t.m),
                    r.ordered(er, t.r),
                    "seed {seed}: {em} vs {}",
                    t.m
                );
            }
        }
        assert!(m.thread_slots() <= ths.len());
    }
    assert!(
        recycled_total > 100,
        "recycling exercised only {recycled_total} times"
    );
}
