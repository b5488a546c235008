//! Signal dispositions and masks, alternate signal stacks.
//!
//! # Safety
//! Signal sets are built in locals; an alternate stack handed to the
//! kernel is a mapping from [`map_alt_stack`], never unmapped, so a thread
//! may run on it for as long as it lives.

use super::mem::reserve;

/// Gives SIGPIPE its default action back (Rust programs start with it
/// ignored), so a command-line tool whose output is piped into `head` ends
/// quietly, as Unix tools do, instead of failing on a write.
pub fn default_sigpipe() {
    // SAFETY: installs the default disposition for one signal; no handler
    // code is involved.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// Bytes of an alternate signal stack PUSh gives a thread (above one guard
/// page).
pub const ALT_STACK_SIZE: usize = 64 << 10;

/// Whether the calling thread has an alternate signal stack now, and its
/// base.
fn current_alt_stack() -> Option<usize> {
    // SAFETY: sigaltstack with a null new stack only writes `old`.
    unsafe {
        let mut old: libc::stack_t = core::mem::zeroed();
        if libc::sigaltstack(core::ptr::null(), &mut old) != 0 {
            return None;
        }
        (old.ss_flags & libc::SS_DISABLE == 0).then_some(old.ss_sp as usize)
    }
}

/// Gives the calling thread the alternate signal stack at `base` (made by
/// [`map_alt_stack`]) unless it has one already. Returns whether it did.
pub fn use_alt_stack(base: usize) -> bool {
    if base == 0 || current_alt_stack().is_some() {
        return false;
    }
    let st = libc::stack_t {
        ss_sp: base as *mut libc::c_void,
        ss_flags: 0,
        ss_size: ALT_STACK_SIZE,
    };
    // SAFETY: `base` is a live mapping of ALT_STACK_SIZE bytes.
    unsafe { libc::sigaltstack(&st, core::ptr::null_mut()) == 0 }
}

/// Maps an alternate signal stack with a guard page below it (never
/// unmapped: thread records keep theirs for the next thread). 0 on failure.
pub fn map_alt_stack() -> usize {
    let page = 4096;
    let p = reserve(ALT_STACK_SIZE + page);
    if p.is_null() {
        return 0;
    }
    // SAFETY: the lowest page of the mapping just made becomes the guard.
    if unsafe { libc::mprotect(p.cast(), page, libc::PROT_NONE) } != 0 {
        return 0;
    }
    p as usize + page
}

/// Takes the calling thread off the alternate signal stack at `base`, if
/// that is the one it uses (before its record may go to another thread).
pub fn leave_alt_stack(base: usize) {
    if base == 0 || current_alt_stack() != Some(base) {
        return;
    }
    let st = libc::stack_t {
        ss_sp: core::ptr::null_mut(),
        ss_flags: libc::SS_DISABLE,
        ss_size: 0,
    };
    // SAFETY: disabling the alternate stack passes no memory; this runs in
    // the thread's ordinary context, not on that stack.
    unsafe { libc::sigaltstack(&st, core::ptr::null_mut()) };
}

/// The signals `push run` forwards to its program (see push-wait).
pub const FORWARDED_SIGNALS: [i32; 6] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Blocks (`block`) or unblocks the forwarded signals in the calling
/// thread. `push run` blocks them before it starts the program, so one
/// sent before push-wait's handlers are in place stays pending (the mask
/// survives `execve`) instead of killing the launcher; the program starts
/// with an empty mask (the standard library resets it in the child).
pub fn block_forwarded_signals(block: bool) {
    // SAFETY: builds a signal set on the stack and changes this thread's
    // mask; no handler is involved.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED_SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        let how = if block {
            libc::SIG_BLOCK
        } else {
            libc::SIG_UNBLOCK
        };
        libc::pthread_sigmask(how, &set, core::ptr::null_mut());
    }
}

/// Makes `cmd`'s child start with the forwarded signals unblocked (the
/// launcher blocks them, see [`block_forwarded_signals`]; a blocked mask
/// is inherited across fork and exec).
pub fn unblock_forwarded_signals_in_child(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only changes the
    // signal mask (sigemptyset/sigaddset/pthread_sigmask are
    // async-signal-safe); it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(|| {
            block_forwarded_signals(false);
            Ok(())
        });
    }
}
