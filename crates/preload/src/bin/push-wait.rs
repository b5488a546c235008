//! `push-wait PID [RUN_DIR PROGRAM check|told [keep|remove]]`: what `push
//! run` becomes once the program has started.
//!
//! `push run` spawns the program, then execs this small binary in its own
//! process, which stays the program's parent: it waits for the program and
//! exits with its status (128 + N when signal N killed it). The launcher's
//! pages (argument parsing, the probe, Rust's runtime set-up) are gone: the
//! waiter starts at the C `main`, so it costs about a quarter of a MiB of
//! PSS instead of one MiB.
//!
//! Signals: SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to
//! this process are forwarded to the program (not those the terminal sent:
//! the program, in the same process group, got them already). After a
//! terminating one (TERM, INT, HUP, QUIT), once the program is gone, the
//! processes it left behind are ended too: `push run` is a child subreaper,
//! so they are its children; they get the same signal, then SIGKILL after
//! two seconds.
//!
//! With a run directory (see `push_rt::run_dir`), it then sums up the whole
//! run ([`push_rt::run_dir::end_of_run`]): one SUMMARY for every process,
//! the exit status (`exitcode` when any process reported), and removes the
//! directory unless it was the `run_dir` option's (`keep`).
#![no_main]

use core::ffi::{c_char, c_int, c_void, CStr};
use core::sync::atomic::{AtomicI32, Ordering};

/// The program's pid, for the signal handler.
static CHILD: AtomicI32 = AtomicI32::new(0);
/// The last terminating signal received (0: none).
static TERMINATING: AtomicI32 = AtomicI32::new(0);

const FORWARDED: [c_int; 6] = push_rt::sys::FORWARDED_SIGNALS;

/// The signal handler: forwards the signal to the program. Async-signal-
/// safe: atomics and `kill` only.
extern "C" fn forward(sig: c_int, info: *mut libc::siginfo_t, _ctx: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let code = unsafe { info.as_ref() }.map_or(0, |i| i.si_code);
    if sig != libc::SIGUSR1 && sig != libc::SIGUSR2 {
        TERMINATING.store(sig, Ordering::SeqCst);
    }
    // SI_KERNEL: from the terminal, sent to the whole foreground group.
    if code != libc::SI_KERNEL {
        let pid = CHILD.load(Ordering::SeqCst);
        if pid > 0 {
            // SAFETY: kill is async-signal-safe; errno is saved around it.
            unsafe {
                let saved = *libc::__errno_location();
                libc::kill(pid, sig);
                *libc::__errno_location() = saved;
            }
        }
    }
}

fn install_forwarding() {
    for sig in FORWARDED {
        // SAFETY: a zeroed sigaction is valid; we fill the handler, flags and
        // an empty mask before installing it. No SA_RESTART: waitpid returns
        // EINTR so the waiter sees a terminating signal at once.
        unsafe {
            let mut sa: libc::sigaction = core::mem::zeroed();
            sa.sa_sigaction = forward as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, core::ptr::null_mut());
        }
    }
    // `push run` blocked them until now: one that came early is delivered.
    push_rt::sys::block_forwarded_signals(false);
}

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
    let (Some(pid), 2 | 5 | 6) = (pid.filter(|&p| p > 0), argc) else {
        say(b"usage: push-wait PID [RUN_DIR PROGRAM check|told [keep|remove]] (started by `push run`)\n");
        return 2;
    };
    CHILD.store(pid, Ordering::SeqCst);
    install_forwarding();
    let status = wait_status(pid);
    let sig = TERMINATING.load(Ordering::SeqCst);
    if sig != 0 {
        end_leftovers(sig);
    }
    let Some((dir, program, told)) = arg(2).zip(arg(3)).zip(arg(4)).map(|((d, p), t)| (d, p, t))
    else {
        return status;
    };
    let keep = arg(5) == Some("keep");
    let dir = std::path::Path::new(dir);
    let spec = std::fs::read_to_string(dir.join("options")).unwrap_or_default();
    let opts = push_rt::options::Options::parse(spec.trim()).unwrap_or_default();
    let end = push_rt::run_dir::end_of_run(dir, &opts, program, told == "told", status, pid as u32);
    say(end.text.as_bytes());
    if !keep {
        let _ = std::fs::remove_dir_all(dir);
    }
    end.exit_code
}

fn say(msg: &[u8]) {
    push_rt::sys::write_all(2, msg);
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

/// The pids of this process's descendants (its children, theirs, ...),
/// from /proc.
fn descendants() -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut parent_of: Vec<(i32, i32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for e in entries.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // `pid (comm) state ppid ...`: comm may hold spaces and parens.
            let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                continue;
            };
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut out = vec![me];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out.remove(0);
    out
}

/// After a terminating signal: ends what the program left behind (its
/// orphans are this subreaper's children now): `sig`, then SIGKILL after
/// two seconds, and reaps them.
fn end_leftovers(sig: c_int) {
    let left = descendants();
    if left.is_empty() {
        return;
    }
    for &p in &left {
        // SAFETY: plain syscall on a descendant's pid.
        unsafe { libc::kill(p, sig) };
    }
    for round in 0..=40 {
        reap();
        if descendants().is_empty() {
            return;
        }
        if round == 40 {
            for p in descendants() {
                // SAFETY: plain syscall on a descendant's pid.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Every descendant got SIGKILL: reap them.
    for _ in 0..100 {
        reap();
        if descendants().is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Reaps the children that have ended.
fn reap() {
    loop {
        let mut st = 0;
        // SAFETY: waitpid writes the status through a valid pointer.
        if unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) } <= 0 {
            return;
        }
    }
}
