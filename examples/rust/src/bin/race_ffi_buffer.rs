//! A buffer shared between Rust and a C library (c/shared_buffer.c): Rust
//! hands it to the C "device", which fills it in a thread of its own and
//! keeps it until `device_finish`; Rust reads it too early.
//!
//! Natively it prints `first=8 sum=...` and exits 0. Under PUSh the early
//! read is a data race on the line marked below (the buffer is private to
//! the C thread), and the process exits 66.

use push_annotate::TrackedBox;
use std::ffi::c_int;

extern "C" {
    fn device_start_fill(buf: *mut u8, len: usize) -> c_int;
    fn device_wait_filled();
    fn device_finish() -> c_int;
}

fn main() {
    let mut buf = TrackedBox::from_fn(4096, |_| 0u8);
    buf.release().expect("hand the buffer over");
    let len = buf.len();
    // SAFETY: the buffer outlives the device's use of it (device_finish
    // joins the filling thread before `buf` is dropped).
    let rc = unsafe { device_start_fill(buf.as_mut_ptr().cast::<u8>(), len) };
    assert_eq!(rc, 0, "pthread_create");
    // SAFETY: plain C calls.
    unsafe { device_wait_filled() };

    let first = buf[1]; // RACE:ffi

    // SAFETY: plain C call; it joins the device's thread.
    assert_eq!(unsafe { device_finish() }, 0);
    buf.acquire().expect("take the buffer back");
    let sum: u64 = buf.iter().map(|&b| u64::from(b)).sum();
    println!("first={first} sum={sum}");
}
