//! A `static mut` counter protected by a mutex, incremented once without it.
//!
//! Natively it prints `counter=101` and exits 0. Under PUSh the unlocked
//! increment is a data race on the line marked below, and the process
//! exits 66.

use push_annotate::{policy, sync::Mutex, tracked_static};
use std::ptr::{addr_of, addr_of_mut};
use std::thread;

tracked_static! {
    /// Incremented by the workers; protected by `LOCK` (see main).
    static mut COUNTER: u64 = 0;
}

fn main() {
    let lock = Mutex::new(());
    policy::set_protected_by(addr_of!(COUNTER), &lock).expect("protect COUNTER");

    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..100 {
                let _held = lock.lock().unwrap();
                // SAFETY: COUNTER is accessed with the lock held.
                unsafe { *addr_of_mut!(COUNTER.value) += 1 };
            }
        })
        .join()
        .unwrap();
        s.spawn(|| {
            // SAFETY: none: the lock is not held (the bug).
            unsafe { *addr_of_mut!(COUNTER.value) += 1 }; // RACE:unlocked
        });
    });

    let _held = lock.lock().unwrap();
    // SAFETY: COUNTER is accessed with the lock held.
    println!("counter={}", unsafe { *addr_of!(COUNTER.value) });
}
