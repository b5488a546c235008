//! The way from the fault handler to the printer: a fixed queue of
//! [`RawReport`]s (filled in signal context, no allocation) emptied by the
//! reporter thread, which symbolizes and prints them; and, for ordinary
//! context, printing at once.

use super::printer::PRINTER;
use super::{total, RawReport};
use crate::sys::{self, FixedArray};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

type Slot = sys::Slot<RawReport>;

const QUEUE_LEN: usize = 256;

static QUEUE: OnceLock<FixedArray<Slot>> = OnceLock::new();
static SEQ: AtomicU32 = AtomicU32::new(0);
static DONE: AtomicU32 = AtomicU32::new(0);
pub(super) static DROPPED: AtomicU32 = AtomicU32::new(0);
static REPORTER_RUNNING: AtomicBool = AtomicBool::new(false);
/// The reporter is (about to be) asleep on SEQ: producers must wake it.
static REPORTER_ASLEEP: AtomicBool = AtomicBool::new(true);
pub(super) static NEXT_SEQ: AtomicU64 = AtomicU64::new(1);

/// How long, in all, a faulting thread waits for room in a full queue
/// before it drops its report. Bounded: the reporter could need a lock the
/// faulting thread holds (stdio, say), and a correct program must not hang.
const FULL_QUEUE_WAIT_MS: u64 = 2_000;

/// Set when a wait for room timed out: later reports do not wait (the
/// reporter is stuck, not slow); cleared when it prints again.
static REPORTER_STUCK: AtomicBool = AtomicBool::new(false);

/// Queues a report from signal context and wakes the reporter. When the
/// queue is full (the reporter is behind, e.g. on a busy machine), waits
/// for it to make room, up to [`FULL_QUEUE_WAIT_MS`]. Returns the report's
/// sequence number, or None if it was dropped (counted in `dropped`).
fn enqueue(r: &RawReport) -> Option<u32> {
    let q = QUEUE.get()?;
    let mut waited_ms = 0;
    loop {
        if let Some(s) = try_enqueue(q, r) {
            return Some(s);
        }
        let can_wait = REPORTER_RUNNING.load(Ordering::Acquire)
            && !REPORTER_STUCK.load(Ordering::Relaxed)
            && waited_ms < FULL_QUEUE_WAIT_MS;
        if !can_wait {
            if waited_ms >= FULL_QUEUE_WAIT_MS {
                REPORTER_STUCK.store(true, Ordering::Relaxed);
            }
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        // The reporter empties slots before it prints them and bumps DONE
        // after: a change of DONE (or 5 ms) is the time to look again.
        let done = DONE.load(Ordering::Acquire);
        sys::futex_wake(&SEQ);
        sys::futex_wait(&DONE, done, 5);
        waited_ms += 5;
    }
}

fn try_enqueue(q: &FixedArray<Slot>, r: &RawReport) -> Option<u32> {
    let seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
    let start = (seq as usize) % QUEUE_LEN;
    for k in 0..QUEUE_LEN {
        let slot = q.get((start + k) % QUEUE_LEN)?;
        if slot.try_fill(|dst| {
            *dst = *r;
            dst.seq = seq;
            dst.capture_thread_name();
        }) {
            // SeqCst pairs with the reporter's store of REPORTER_ASLEEP
            // before its futex wait on SEQ (store, then load, on both sides).
            let s = SEQ.fetch_add(1, Ordering::SeqCst) + 1;
            if REPORTER_ASLEEP.load(Ordering::SeqCst) {
                sys::futex_wake(&SEQ);
            }
            return Some(s);
        }
    }
    None
}

/// From signal context: waits until the reporter has printed everything up to
/// `seq` (at most `timeout_ms`). Returns false if nobody printed it.
fn wait_printed(seq: u32, timeout_ms: u64) -> bool {
    if !REPORTER_RUNNING.load(Ordering::Acquire) {
        return false;
    }
    let mut waited = 0;
    loop {
        let done = DONE.load(Ordering::Acquire);
        if done >= seq {
            return true;
        }
        if waited >= timeout_ms {
            return false;
        }
        sys::futex_wait(&DONE, done, 50);
        waited += 50;
    }
}

/// Starts the reporter thread if it is not running. Ordinary context only.
pub fn ensure_reporter() {
    if REPORTER_RUNNING.load(Ordering::Acquire) || REPORTER_RUNNING.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = sys::frame::with_async_signals_blocked(|| {
        std::thread::Builder::new()
            .name("push-reporter".into())
            .stack_size(1 << 20)
            .spawn(|| {
                crate::threads::mark_internal();
                loop {
                    REPORTER_ASLEEP.store(false, Ordering::Release);
                    let seen = SEQ.load(Ordering::Acquire);
                    drain();
                    REPORTER_ASLEEP.store(true, Ordering::SeqCst);
                    // A report queued after `seen` changes SEQ, so the wait returns.
                    sys::futex_wait(&SEQ, seen, 0);
                }
            })
    });
    if spawned.is_err() {
        REPORTER_RUNNING.store(false, Ordering::Release);
    }
}

/// With `halt_on_error`: a report was queued from the signal handler that
/// no reporter printed; ordinary context prints it and stops.
pub static HALT_PENDING: AtomicBool = AtomicBool::new(false);

/// In a forked child: the reporter thread did not survive the fork.
/// Before `fork`: holds the printer, so the child does not inherit it held
/// by the reporter thread (which does not exist there: the child would
/// block at exit). Taken before every other runtime lock.
pub fn before_fork() {
    PRINTER.lock_for_fork();
}

/// After `fork`, in the parent: releases what `before_fork` held.
pub fn after_fork_parent() {
    PRINTER.unlock_after_fork();
}

/// After `fork`, in the child: releases the printer and drops the reports
/// still queued (the parent prints them; the child would print them again
/// under its own pid).
pub fn after_fork_child() {
    REPORTER_RUNNING.store(false, Ordering::Release);
    PRINTER.unlock_after_fork();
    if let Some(q) = QUEUE.get() {
        for i in 0..QUEUE_LEN {
            if let Some(slot) = q.get(i) {
                slot.discard();
            }
        }
    }
}

/// Prints every queued report. Ordinary context only.
pub fn drain() {
    let Some(q) = QUEUE.get() else { return };
    let mut batch: Vec<RawReport> = Vec::new();
    let mut guard = PRINTER.lock();
    for i in 0..QUEUE_LEN {
        let Some(slot) = q.get(i) else { continue };
        if let Some(r) = slot.take() {
            batch.push(r);
        }
    }
    batch.sort_by_key(|r| r.seq);
    let n = batch.len() as u32;
    let before = total();
    if let Some(p) = guard.as_mut() {
        for r in &batch {
            p.print(r);
        }
    }
    drop(guard);
    if total() > before {
        // With halt_on_error this ends the process before the faulting
        // thread, waiting for DONE, can go on.
        crate::halt_if_reported();
    }
    if n > 0 {
        REPORTER_STUCK.store(false, Ordering::Relaxed);
        DONE.fetch_add(n, Ordering::AcqRel);
        sys::futex_wake(&DONE);
    }
}

/// Prints a report raised in ordinary context (annotation errors) at once.
pub(super) fn report_now(r: &RawReport) {
    drain();
    let mut guard = PRINTER.lock();
    if let Some(p) = guard.as_mut() {
        let mut r = *r;
        r.seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
        r.capture_thread_name();
        p.print(&r);
    }
}

/// Maps the queue. Start-up only.
pub(super) fn init() -> Result<(), String> {
    let q = FixedArray::<Slot>::new(QUEUE_LEN).ok_or("cannot map report queue")?;
    let _ = QUEUE.set(q);
    Ok(())
}

/// Queues a report raised in the fault handler. With `halt_on_error`,
/// waits until the reporter printed it (which ends the process); if no
/// reporter can (a forked child before it starts one, or a stuck one),
/// printing here would allocate and take locks inside a signal handler:
/// the access goes through and the next hook call of any thread, or the
/// exit, stops the process.
pub(super) fn queue_from_handler(r: &RawReport) {
    let seq = enqueue(r);
    if crate::options().halt_on_error {
        if let Some(seq) = seq {
            if !wait_printed(seq, 10_000) {
                HALT_PENDING.store(true, Ordering::Release);
            }
        }
    }
}
