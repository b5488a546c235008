//! A buffer used by its sender after `send`: the sender kept a raw pointer
//! to a buffer it handed over through a channel, and writes through it
//! while the receiver owns the buffer.
//!
//! Natively it prints `sum=8 seen=99` and exits 0. Under PUSh the write is
//! a data race on the line marked below (the buffer is private to the
//! receiver), and the process exits 66.

use push_annotate::{sync::mpsc, TrackedBox};
use std::thread;

fn main() {
    let (jobs, job_rx) = mpsc::channel::<TrackedBox<[u64; 8]>>();
    let (sums, sum_rx) = mpsc::channel::<u64>();
    let (done, done_rx) = mpsc::channel::<()>();

    let receiver = thread::spawn(move || {
        let buf = job_rx.recv().unwrap();
        buf.acquire().unwrap();
        sums.send(buf.iter().sum()).unwrap();
        // The buffer stays alive (and the receiver's) until the sender is done.
        done_rx.recv().unwrap();
        buf[0]
    });

    let mut buf = TrackedBox::new([1u64; 8]);
    let stale = buf.as_mut_ptr();
    buf.release().unwrap();
    jobs.send(buf).unwrap();
    let sum = sum_rx.recv().unwrap();
    // SAFETY: none: the buffer belongs to the receiver now (the bug).
    unsafe { (*stale)[0] = 99 }; // RACE:after_send
    done.send(()).unwrap();

    let seen = receiver.join().unwrap();
    println!("sum={sum} seen={seen}");
}
