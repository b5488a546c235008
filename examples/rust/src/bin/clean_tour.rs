//! A race-free program that uses every push-annotate wrapper: tracked
//! statics, `TrackedBox` with each policy, the `sync` types (Mutex, RwLock,
//! Condvar, Barrier, Once, OnceLock, mpsc) and the happens-before and
//! custom-lock announcements.
//!
//! It prints the same lines natively and under PUSh, and under PUSh reports
//! nothing (exit 0): every hand-over goes through something PUSh sees.

use push_annotate::policy::{self, LockAddr};
use push_annotate::sync::{mpsc, Barrier, Condvar, Mutex, Once, OnceLock, RwLock};
use push_annotate::{happens_after, happens_before, lock_acquired, lock_released};
use push_annotate::{tracked_static, TrackedBox};
use std::collections::VecDeque;
use std::ptr::{addr_of, addr_of_mut};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

const THREADS: usize = 3;

tracked_static! {
    /// Incremented by every worker with `STATICS_LOCK` held.
    static mut TOTAL: u64 = 0;
}
tracked_static! {
    /// Relaxed statistics: intentionally racy.
    static HITS: AtomicU64 = AtomicU64::new(0);
}
tracked_static! {
    /// Set once (by `SCALE_ONCE`), then read-only.
    static mut SCALE: u64 = 0;
}
static SCALE_ONCE: Once = Once::new();
static SQUARES: OnceLock<TrackedBox<[u64]>> = OnceLock::new();

/// Tracked statics: one protected by a mutex, one racy.
fn statics() {
    let lock = Mutex::new(());
    policy::set_protected_by(addr_of!(TOTAL), &lock).unwrap();
    policy::set_racy(&HITS).unwrap();
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..1000 {
                    let _held = lock.lock().unwrap();
                    // SAFETY: TOTAL is accessed with `lock` held.
                    unsafe { *addr_of_mut!(TOTAL.value) += 1 };
                    HITS.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    let _held = lock.lock().unwrap();
    // SAFETY: TOTAL is accessed with `lock` held.
    let total = unsafe { *addr_of!(TOTAL.value) };
    println!(
        "statics total={total} hits={}",
        HITS.load(Ordering::Relaxed)
    );
}

/// Once and OnceLock: initialized by whichever thread comes first, then
/// read-only for all.
fn once_cells() {
    // SCALE is private to the main thread (as every tracked static starts):
    // hand it to whichever thread runs the initializer.
    policy::release(addr_of!(SCALE)).unwrap();
    let sums: Vec<u64> = thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    SCALE_ONCE.call_once(|| {
                        policy::acquire(addr_of!(SCALE)).unwrap();
                        // SAFETY: written once, inside the Once, before any read.
                        unsafe { *addr_of_mut!(SCALE.value) = 3 };
                        policy::set_readonly(addr_of!(SCALE)).unwrap();
                    });
                    let squares = SQUARES.get_or_init(|| {
                        let t = TrackedBox::from_fn(16, |i| (i * i) as u64);
                        t.set_readonly().unwrap();
                        t
                    });
                    // SAFETY: SCALE is read-only from here on.
                    let scale = unsafe { *addr_of!(SCALE.value) };
                    squares.iter().map(|v| v * scale).sum()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert!(SCALE_ONCE.is_completed());
    println!("once sums={sums:?}");
}

/// Mutex + Condvar: a bounded work queue between one producer and one
/// consumer.
fn queue() {
    struct Queue {
        items: VecDeque<u64>,
        closed: bool,
    }
    let shared = Arc::new((
        Mutex::new(Queue {
            items: VecDeque::new(),
            closed: false,
        }),
        Condvar::new(),
        Condvar::new(),
    ));
    let consumer = {
        let shared = shared.clone();
        thread::spawn(move || {
            let (queue, not_empty, not_full) = &*shared;
            let mut sum = 0;
            loop {
                let mut q = not_empty
                    .wait_while(queue.lock().unwrap(), |q| q.items.is_empty() && !q.closed)
                    .unwrap();
                match q.items.pop_front() {
                    Some(v) => sum += v,
                    None => return sum,
                }
                not_full.notify_one();
            }
        })
    };
    let (queue, not_empty, not_full) = &*shared;
    for v in 1..=100u64 {
        let mut q = queue.lock().unwrap();
        while q.items.len() >= 4 {
            q = not_full.wait(q).unwrap();
        }
        q.items.push_back(v);
        not_empty.notify_one();
    }
    queue.lock().unwrap().closed = true;
    not_empty.notify_all();
    println!("queue sum={}", consumer.join().unwrap());
}

/// RwLock: one writer, then readers in parallel.
fn rwlock() {
    let table = Arc::new(RwLock::new(Vec::new()));
    table.write().unwrap().extend(1..=10u64);
    let readers: Vec<_> = (0..THREADS)
        .map(|_| {
            let table = table.clone();
            thread::spawn(move || table.read().unwrap().iter().sum::<u64>())
        })
        .collect();
    let sums: Vec<u64> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    println!("rwlock sums={sums:?}");
}

/// Barrier: each thread fills its own object, makes it read-only, and
/// after the barrier reads everybody's. The objects' addresses travel
/// through relaxed atomics: only the barrier orders the accesses.
fn barrier() {
    let barrier = Barrier::new(THREADS);
    let slots: Vec<AtomicPtr<[u64; 4]>> = (0..THREADS)
        .map(|_| AtomicPtr::new(std::ptr::null_mut()))
        .collect();
    let totals: Vec<u64> = thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|me| {
                let (barrier, slots) = (&barrier, &slots);
                s.spawn(move || {
                    let mine = TrackedBox::new([me as u64 + 1; 4]);
                    mine.set_readonly().unwrap();
                    slots[me].store(TrackedBox::into_raw(mine), Ordering::Relaxed);
                    barrier.wait();
                    slots
                        .iter()
                        // SAFETY: every slot was filled before the barrier;
                        // the objects live until main frees them below.
                        .map(|slot| unsafe { (*slot.load(Ordering::Relaxed)).iter().sum::<u64>() })
                        .sum()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for slot in &slots {
        // SAFETY: from into_raw above, freed once, after every reader joined.
        drop(unsafe { TrackedBox::from_raw(slot.load(Ordering::Relaxed)) });
    }
    println!("barrier totals={totals:?}");
}

/// mpsc: a buffer handed to a known thread (transfer) and back to whoever
/// takes it (release/acquire); a racy scratch object made private again.
fn channels() {
    let (jobs, job_rx) = mpsc::channel::<TrackedBox<[u8; 64]>>();
    let (back, back_rx) = mpsc::sync_channel::<TrackedBox<[u8; 64]>>(1);
    let worker = thread::spawn(move || {
        for mut job in job_rx {
            for b in job.iter_mut() {
                *b = b.wrapping_mul(3);
            }
            job.release().unwrap();
            back.send(job).unwrap();
        }
    });
    let mut sum = 0u64;
    for round in 0..4u8 {
        let job = TrackedBox::new([round + 1; 64]);
        job.transfer_to(&worker).unwrap();
        jobs.send(job).unwrap();
        let done = back_rx.recv().unwrap();
        done.acquire().unwrap();
        sum += done.iter().map(|&b| u64::from(b)).sum::<u64>();
    }
    drop(jobs);
    worker.join().unwrap();

    let scratch = TrackedBox::new(AtomicU64::new(0));
    scratch.set_racy().unwrap();
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| scratch.fetch_add(1, Ordering::Relaxed));
        }
    });
    scratch.set_private().unwrap();
    println!(
        "channels sum={sum} scratch={}",
        scratch.load(Ordering::Relaxed)
    );
}

/// Atomics: a value published through a flag, with happens_before and
/// happens_after around the release store and the acquire load.
fn atomics() {
    static READY: AtomicBool = AtomicBool::new(false);
    static MESSAGE: AtomicPtr<u64> = AtomicPtr::new(std::ptr::null_mut());
    let reader = thread::spawn(|| {
        while !READY.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        happens_after(&READY);
        // SAFETY: published before READY; freed by main after the join.
        unsafe { *MESSAGE.load(Ordering::Relaxed) }
    });
    let message = TrackedBox::new(42u64);
    message.set_readonly().unwrap();
    MESSAGE.store(TrackedBox::into_raw(message), Ordering::Relaxed);
    happens_before(&READY);
    READY.store(true, Ordering::Release);
    let seen = reader.join().unwrap();
    // SAFETY: from into_raw above; the reader is done with it.
    drop(unsafe { TrackedBox::from_raw(MESSAGE.load(Ordering::Relaxed)) });
    println!("atomics seen={seen}");
}

/// A custom spinlock announced with lock_acquired/lock_released, and an
/// object protected by it.
fn spinlock() {
    struct SpinLock(AtomicBool);
    impl SpinLock {
        fn lock(&self) {
            while self.0.swap(true, Ordering::Acquire) {
                std::hint::spin_loop();
            }
            lock_acquired(&self.0, true);
        }
        fn unlock(&self) {
            lock_released(&self.0);
            self.0.store(false, Ordering::Release);
        }
    }
    let spin = SpinLock(AtomicBool::new(false));
    let count = TrackedBox::new(0u64);
    // Changed while holding the lock: later holders are ordered after it.
    spin.lock();
    count.set_protected_by(&LockAddr::new(&spin.0)).unwrap();
    spin.unlock();
    let raw = TrackedBox::into_raw(count) as usize;
    thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..1000 {
                    spin.lock();
                    // SAFETY: the object is only touched with the spinlock held.
                    unsafe { *(raw as *mut u64) += 1 };
                    spin.unlock();
                }
            });
        }
    });
    spin.lock();
    // SAFETY: from into_raw above; both workers are done; the lock is held.
    let count = unsafe { TrackedBox::from_raw(raw as *mut u64) };
    let total = *count;
    drop(count);
    spin.unlock();
    println!("spinlock count={total}");
}

fn main() {
    statics();
    once_cells();
    queue();
    rwlock();
    barrier();
    channels();
    atomics();
    spinlock();
    println!("done");
}
