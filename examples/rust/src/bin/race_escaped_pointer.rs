//! A raw pointer written by two threads, one of them without the lock: the
//! address of a `Mutex`'s data escapes its guard and is written later by a
//! thread that does not hold the mutex.
//!
//! Natively it prints `counter=10` and exits 0. Under PUSh the unlocked
//! write is a data race on the line marked below (the data is protected by
//! the mutex), and the process exits 66.

use push_annotate::sync::Mutex;
use std::sync::Arc;
use std::thread;

/// A raw pointer that may cross threads (the bug this program shows).
struct SharedPtr(*mut u64);
// SAFETY: deliberately unsound sharing: the point of the example.
unsafe impl Send for SharedPtr {}

impl SharedPtr {
    fn get(&self) -> *mut u64 {
        self.0
    }
}

fn main() {
    let counter = Arc::new(Mutex::new(0u64));
    let escaped = {
        let mut guard = counter.lock().unwrap();
        *guard += 1;
        SharedPtr(&mut *guard as *mut u64) // the address outlives the guard
    };

    let locked = {
        let counter = counter.clone();
        thread::spawn(move || {
            *counter.lock().unwrap() += 1; // with the lock: fine
        })
    };
    locked.join().unwrap();

    let unlocked = thread::spawn(move || {
        let p = escaped.get();
        // SAFETY: none; another thread may hold the lock (the bug).
        unsafe { *p = 10 }; // RACE:escaped
    });
    unlocked.join().unwrap();

    println!("counter={}", *counter.lock().unwrap());
}
