//! The runtime's clocks checked against push-hb's `SyncModel`, the
//! executable specification of the happens-before rules: random programs
//! of thread creations, joins, mutex sections, semaphore posts and waits,
//! rwlock sections and annotation edges are fed to both, and at every step
//! both must agree on whether a stamped epoch happens before a thread.

use crate::hb;
use crate::threads::{self, ThreadRecord};
use push_hb::{Epoch, SyncModel, ThreadIdx};

struct Thread {
    id: u32,
    rec: &'static ThreadRecord,
    model: ThreadIdx,
    live: bool,
}

struct Stamp {
    runtime: (usize, u64),
    model: Epoch,
    by: usize,
}

fn lcg(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *state >> 33
}

fn new_thread(model: ThreadIdx) -> Thread {
    let id = threads::reserve().expect("a free thread record").id;
    Thread {
        id,
        rec: threads::record(id).expect("its record"),
        model,
        live: true,
    }
}

/// Returns how many comparisons answered ordered and unordered.
fn run(seed: u64, steps: usize, base: usize) -> (usize, usize) {
    assert!(threads::init() && hb::init());
    let mut rng = seed;
    let mut m = SyncModel::new();
    let root = new_thread(m.thread_create_root());
    hb::on_adopt(root.id, root.rec);
    let mut ts = vec![root];
    let mut stamps: Vec<Stamp> = Vec::new();
    let addr = |k: u64| base + (k as usize) * 64;
    let mut seen = (0, 0);
    for step in 0..steps {
        let live: Vec<usize> = (0..ts.len()).filter(|&i| ts[i].live).collect();
        let i = live[(lcg(&mut rng) as usize) % live.len()];
        let a = lcg(&mut rng) % 4;
        match lcg(&mut rng) % 9 {
            0 if ts.len() < 12 => {
                let child = new_thread(m.thread_create(ts[i].model));
                hb::on_create(ts[i].id, ts[i].rec, child.id);
                ts.push(child);
            }
            1 => {
                // Join a live thread other than i: it exits first.
                let others: Vec<usize> = live.iter().copied().filter(|&j| j != i).collect();
                if let Some(&j) = others.get((lcg(&mut rng) as usize) % others.len().max(1)) {
                    m.thread_exit(ts[j].model).expect("exit");
                    m.thread_join(ts[i].model, ts[j].model).expect("join");
                    hb::on_join(ts[i].rec, ts[j].rec);
                    ts[j].live = false;
                }
            }
            2 | 3 => {
                // A mutex section: acquire, then release.
                m.acquire(ts[i].model, addr(a) as u64);
                hb::exclusive_acquire(ts[i].rec, addr(a));
                m.release(ts[i].model, addr(a) as u64);
                hb::exclusive_release(ts[i].id, ts[i].rec, addr(a));
            }
            4 => {
                m.sem_post(ts[i].model, addr(4 + a) as u64);
                hb::release(ts[i].id, ts[i].rec, addr(4 + a), false);
            }
            5 => {
                m.sem_acquired(ts[i].model, addr(4 + a) as u64);
                hb::acquire(ts[i].rec, addr(4 + a), true);
            }
            6 => {
                // An rwlock held shared, then held exclusive.
                let l = addr(8 + a);
                m.rw_read_acquire(ts[i].model, l as u64);
                hb::acquire(ts[i].rec, l, false);
                m.rw_read_release(ts[i].model, l as u64);
                hb::release(ts[i].id, ts[i].rec, l, true);
                m.rw_write_acquire(ts[i].model, l as u64);
                hb::acquire(ts[i].rec, l, true);
                m.rw_write_release(ts[i].model, l as u64);
                hb::release(ts[i].id, ts[i].rec, l, false);
            }
            _ => stamps.push(Stamp {
                runtime: hb::epoch(ts[i].id, ts[i].rec),
                model: m.epoch(ts[i].model),
                by: i,
            }),
        }
        for s in &stamps {
            for (j, t) in ts.iter().enumerate() {
                if !t.live || j == s.by {
                    continue;
                }
                let want = m.ordered(s.model, t.model);
                let got = hb::ordered_before(s.runtime.0, s.runtime.1, t.rec);
                if want {
                    seen.0 += 1;
                } else {
                    seen.1 += 1;
                }
                assert_eq!(
                    got, want,
                    "seed {seed} step {step}: epoch of thread {} vs thread {j}: runtime {got}, model {want}",
                    s.by
                );
            }
        }
    }
    seen
}

#[test]
fn the_runtime_clocks_agree_with_the_model_on_random_programs() {
    let (mut ordered, mut unordered) = (0, 0);
    for seed in 1..=40u64 {
        let (o, u) = run(seed, 300, 0x7e00_0000_0000 + (seed as usize) * 0x10_0000);
        ordered += o;
        unordered += u;
    }
    // Both answers must be exercised, many times.
    assert!(
        ordered > 1000 && unordered > 1000,
        "{ordered} ordered, {unordered} unordered"
    );
}
