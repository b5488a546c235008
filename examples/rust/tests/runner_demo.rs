//! `cargo test` under PUSh: with cargo's runner set to `push run --` (in
//! `.cargo/config.toml`, see the README), the test binary runs under the
//! runtime. `clean_handoff` passes quietly; `racy_counter` writes an object
//! owned by another thread, and the report names the test: libtest runs
//! each test in a thread named after it, and the report's thread line shows
//! that name (the kernel keeps 15 bytes of a thread name).
//!
//! Natively both tests pass. Under PUSh the binary exits 66, so `cargo
//! test` fails and prints the report.
//!
//! Not run by a plain `cargo test` (`test = false`): run it with
//! `cargo test -p push-rust-examples --test runner_demo`.

use push_annotate::{sync::mpsc, TrackedBox};
use std::thread;

/// A raw pointer sent to another thread (the bug `racy_counter` shows).
struct SentPtr(*mut u64);
// SAFETY: deliberately unsound sharing: the point of the example.
unsafe impl Send for SentPtr {}

impl SentPtr {
    fn get(&self) -> *mut u64 {
        self.0
    }
}

#[test]
fn clean_handoff() {
    let (tx, rx) = mpsc::channel::<TrackedBox<[u64; 4]>>();
    let worker = thread::spawn(move || rx.recv().unwrap().iter().sum::<u64>());
    let job = TrackedBox::new([1, 2, 3, 4]);
    job.transfer_to(&worker).unwrap();
    tx.send(job).unwrap();
    assert_eq!(worker.join().unwrap(), 10);
}

#[test]
fn racy_counter() {
    let (addr_tx, addr_rx) = mpsc::channel::<SentPtr>();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    // The owner thread's counter: private to it.
    let owner = thread::spawn(move || {
        let mut counter = TrackedBox::new(0u64);
        addr_tx.send(SentPtr(counter.as_mut_ptr())).unwrap();
        stop_rx.recv().unwrap();
        *counter
    });
    let counter = addr_rx.recv().unwrap();
    // SAFETY: none: the counter belongs to the owner thread (the bug).
    unsafe { *counter.get() = 1 }; // RACE:test
    stop_tx.send(()).unwrap();
    assert_eq!(owner.join().unwrap(), 1);
}
