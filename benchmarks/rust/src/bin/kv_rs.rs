//! kv_rs: the Rust port of `benchmarks/workloads/kv.c`, a key-value store
//! with one lock per bucket, annotated with push-annotate the way a Rust
//! user would annotate it.
//!
//! Usage: `kv_rs THREADS MILLION_OPS [BUCKETS]` (defaults 2, 20, 8192).
//! Same workload, same operations, same output line and the same checksum
//! as the C version for the same arguments.
//!
//! Annotations:
//!   - each bucket: a `push_annotate::sync::Mutex<Bucket>`: the bucket is a
//!     tracked object protected by its mutex (BUCKETS tracked objects);
//!   - the server statistics, updated with relaxed atomics by every thread:
//!     a `TrackedBox` made racy (intentional);
//!   - per-thread counters: a `TrackedBox`, private to its thread;
//!   - the phases: a `push_annotate::sync::Barrier`.

use push_annotate::sync::{Barrier, Mutex};
use push_annotate::TrackedBox;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::thread;

const CAP: usize = 32;
const UPDATES: i64 = 1 << 16;
const LOOKUPS: i64 = 8 * UPDATES;

#[derive(Clone, Copy, Default)]
struct Entry {
    key: u64,
    val: i64,
}

struct Bucket {
    n: usize,
    e: [Entry; CAP],
}

#[derive(Default)]
struct Stats {
    gets: AtomicI64,
    hits: AtomicI64,
    updates: AtomicI64,
    inserts: AtomicI64,
    deletes: AtomicI64,
}

#[derive(Default)]
struct Local {
    lookup_sum: i64,
    gets: i64,
    hits: i64,
    updates: i64,
    inserts: i64,
    deletes: i64,
}

struct Store {
    table: Vec<Mutex<Bucket>>,
    stats: TrackedBox<Stats>,
    nkeys: u64,
    rounds: i64,
    threads: i64,
    barrier: Barrier,
}

/// splitmix64 (common.h's mix64).
fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Block partition of [0, n) into `parts` (common.h's part_lo).
fn part_lo(n: i64, parts: i64, p: i64) -> i64 {
    (i128::from(n) * i128::from(p) / i128::from(parts)) as i64
}

fn die(what: &str) -> ! {
    eprintln!("error: {what}");
    std::process::exit(3)
}

impl Store {
    /// Skewed key popularity: small key numbers are hot.
    fn key_of(&self, r: u64) -> u64 {
        let a = r % self.nkeys;
        let b = (r >> 32) % 1024 + 1;
        a * b / 1024
    }

    fn bucket_of(&self, key: u64) -> &Mutex<Bucket> {
        &self.table[(mix64(key ^ 0x5bd1_e995) % self.table.len() as u64) as usize]
    }

    fn flush_stats(&self, l: &mut Local) {
        let s = &self.stats;
        s.gets.fetch_add(l.gets, Ordering::Relaxed);
        s.hits.fetch_add(l.hits, Ordering::Relaxed);
        s.updates.fetch_add(l.updates, Ordering::Relaxed);
        s.inserts.fetch_add(l.inserts, Ordering::Relaxed);
        s.deletes.fetch_add(l.deletes, Ordering::Relaxed);
        l.gets = 0;
        l.hits = 0;
        l.updates = 0;
        l.inserts = 0;
        l.deletes = 0;
    }

    fn worker(&self, me: i64) -> i64 {
        let mut l = TrackedBox::new(Local::default());
        let (ulo, uhi) = (
            part_lo(UPDATES, self.threads, me),
            part_lo(UPDATES, self.threads, me + 1),
        );
        let (glo, ghi) = (
            part_lo(LOOKUPS, self.threads, me),
            part_lo(LOOKUPS, self.threads, me + 1),
        );
        for r in 0..self.rounds {
            for i in ulo..uhi {
                let h = mix64(((r as u64) << 40) ^ i as u64);
                let key = self.key_of(h);
                let delta = (mix64(h) % 4) as i64 - 1;
                {
                    let mut b = self.bucket_of(key).lock().unwrap();
                    let n = b.n;
                    match b.e[..n].iter().position(|e| e.key == key) {
                        Some(k) => {
                            b.e[k].val += delta;
                            if b.e[k].val == 0 {
                                b.n -= 1;
                                b.e[k] = b.e[n - 1];
                                l.deletes += 1;
                            }
                        }
                        None if delta != 0 => {
                            if n == CAP {
                                die("bucket full");
                            }
                            b.e[n] = Entry { key, val: delta };
                            b.n += 1;
                            l.inserts += 1;
                        }
                        None => {}
                    }
                }
                l.updates += 1;
            }
            self.barrier.wait();
            for i in glo..ghi {
                let h = mix64(((r as u64) << 40) ^ i as u64 ^ (1 << 39));
                let key = self.key_of(h);
                let v = {
                    let b = self.bucket_of(key).lock().unwrap();
                    match b.e[..b.n].iter().find(|e| e.key == key) {
                        Some(e) => {
                            l.hits += 1;
                            e.val
                        }
                        None => 0,
                    }
                };
                l.lookup_sum = l.lookup_sum.wrapping_add(v.wrapping_mul(i + 1));
                l.gets += 1;
                if l.gets & 4095 == 0 {
                    self.flush_stats(&mut l);
                }
            }
            self.barrier.wait();
        }
        self.flush_stats(&mut l);
        l.lookup_sum
    }
}

fn arg(args: &[String], i: usize, default: i64) -> i64 {
    match args.get(i) {
        None => default,
        Some(s) => s.parse().unwrap_or(-1),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (threads, size, nbuckets) = (arg(&args, 1, 2), arg(&args, 2, 20), arg(&args, 3, 8192));
    if args.len() > 4 || !(1..=256).contains(&threads) || size < 1 || nbuckets < 1 {
        eprintln!("usage: {} THREADS MILLION_OPS [BUCKETS]", args[0]);
        std::process::exit(2);
    }
    let stats = TrackedBox::new(Stats::default());
    if stats.set_racy().is_err() {
        die("push_racy");
    }
    let store = Arc::new(Store {
        table: (0..nbuckets)
            .map(|_| {
                Mutex::new(Bucket {
                    n: 0,
                    e: [Entry::default(); CAP],
                })
            })
            .collect(),
        stats,
        nkeys: 4 * nbuckets as u64,
        rounds: (size * 1_000_000 + UPDATES + LOOKUPS - 1) / (UPDATES + LOOKUPS),
        threads,
        barrier: Barrier::new(threads as usize),
    });

    let workers: Vec<_> = (0..threads)
        .map(|me| {
            let store = store.clone();
            thread::spawn(move || store.worker(me))
        })
        .collect();
    let sum = workers
        .into_iter()
        .map(|w| w.join().unwrap_or_else(|_| die("worker panicked")))
        .fold(0i64, i64::wrapping_add);

    let mut table_hash = 0u64;
    let mut live = 0usize;
    for bucket in &store.table {
        let b = bucket.lock().unwrap();
        for e in &b.e[..b.n] {
            table_hash = table_hash.wrapping_add(mix64(e.key ^ mix64(e.val as u64)));
        }
        live += b.n;
    }
    let s = &store.stats;
    let ops = s.gets.load(Ordering::Relaxed) + s.updates.load(Ordering::Relaxed);
    println!(
        "kv buckets={nbuckets} ops={ops} live={live} hits={}",
        s.hits.load(Ordering::Relaxed)
    );
    println!("checksum=0x{:016x}", mix64(table_hash ^ mix64(sum as u64)));
}
