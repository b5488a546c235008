//! `push-wait PID [RUN_DIR PROGRAM check|told]`: what `push run` becomes once
//! the program has started.
//!
//! `push run` spawns the program, then execs this small binary in its own
//! process, which stays the program's parent: it waits for the program and
//! exits with its status (128 + N when signal N killed it). The launcher's
//! pages (argument parsing, the probe, Rust's runtime set-up) are gone: the
//! waiter starts at the C `main`, so it costs about a quarter of a MiB of
//! PSS instead of one MiB.
//!
//! With a run directory (see `push_rt::run_dir`), it then reads what every
//! process of the run checked and says so when nothing was (`told`: the
//! launcher already said why the program cannot be watched), and removes
//! the directory.
#![no_main]

use core::ffi::{c_char, c_int, CStr};

/// # Safety
/// Called by the C runtime with `argc` valid strings in `argv`.
#[no_mangle]
pub unsafe extern "C" fn main(argc: c_int, argv: *const *const c_char) -> c_int {
    let arg = |i: c_int| -> Option<&str> {
        if i >= argc {
            return None;
        }
        // SAFETY: the C runtime passes argc valid NUL-terminated strings.
        unsafe { CStr::from_ptr(*argv.add(i as usize)) }
            .to_str()
            .ok()
    };
    let pid = arg(1).and_then(|s| s.parse::<i32>().ok());
    let (Some(pid), 2 | 5) = (pid.filter(|&p| p > 0), argc) else {
        say(b"usage: push-wait PID [RUN_DIR PROGRAM check|told] (started by `push run`)\n");
        return 2;
    };
    let status = wait_status(pid);
    if let (Some(dir), Some(program), Some(told)) = (arg(2), arg(3), arg(4)) {
        let dir = std::path::Path::new(dir);
        let records = push_rt::run_dir::read_all(dir);
        if let Some(notice) = push_rt::run_dir::nothing_checked_notice(&records, program) {
            if told == "check" || !records.is_empty() {
                say(notice.as_bytes());
            }
        }
        let _ = std::fs::remove_dir_all(dir);
    }
    status
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
