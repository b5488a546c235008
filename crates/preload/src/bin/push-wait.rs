//! `push-wait PID`: what `push run` becomes once the program has started.
//!
//! `push run` spawns the program, then execs this small binary in its own
//! process, which stays the program's parent: it waits for the program and
//! exits with its status (128 + N when signal N killed it). The launcher's
//! pages (argument parsing, the probe, Rust's runtime set-up) are gone: the
//! waiter starts at the C `main`, so it costs about a quarter of a MiB of
//! PSS instead of one MiB.
#![no_main]

use core::ffi::{c_char, c_int};

/// # Safety
/// Called by the C runtime with `argc` valid strings in `argv`.
#[no_mangle]
pub unsafe extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    let pid = if argc == 2 {
        // SAFETY: the C runtime passes argc valid NUL-terminated strings.
        let arg = unsafe { core::ffi::CStr::from_ptr(*argv.add(1)) };
        arg.to_str().ok().and_then(|s| s.parse::<i32>().ok())
    } else {
        None
    };
    match pid {
        Some(pid) if pid > 0 => wait_status(pid),
        _ => {
            say(b"usage: push-wait PID (started by `push run`)\n");
            2
        }
    }
}

fn say(msg: &[u8]) {
    // SAFETY: writes `msg.len()` bytes from a live slice to stderr.
    let _ = unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}

/// The exit status a shell would give for child `pid`.
fn wait_status(pid: i32) -> c_int {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes the status through a valid pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        // SAFETY: reads the calling thread's errno.
        if r == -1 && unsafe { *libc::__errno_location() } != libc::EINTR {
            say(b"push: lost track of the program\n");
            return 1;
        }
    }
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}
