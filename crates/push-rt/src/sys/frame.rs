//! Signal handlers in safe code: [`SignalHandler`], [`SignalFrame`] (the
//! kernel's siginfo and ucontext, with accessors), [`SavedPkru`] (PKRU in
//! the frame's XSAVE area), the application's recorded actions
//! ([`ActionCell`]) and what chaining to them needs.
//!
//! # Safety
//! - A [`SignalFrame`] is made only by [`entry`], the `SA_SIGINFO`
//!   trampoline [`install`] registers, from the pointers the kernel passed:
//!   `info` and `ctx` are null or valid for the whole handler, which is the
//!   frame's lifetime `'a` (the frame is only lent to the handler, never
//!   stored). Accessors return neutral values (0, None) when a pointer is
//!   null.
//! - [`SavedPkru`] exists only after `xsave::frame_has_pkru` confirmed the
//!   PKRU component at the offset start-up read from CPUID; it writes into
//!   the kernel's XSAVE copy, memory no Rust reference covers.
//! - [`SignalFrame::call`] calls the application's handler with the
//!   signature its `SA_SIGINFO` flag promises, passing the kernel's own
//!   pointers.
//! - [`ActionCell`] is double-buffered: a slot is written only by the
//!   holder of `writing`, and only while it is not `current`. A reader
//!   racing two consecutive writes could copy a slot being written (a torn
//!   `sigaction`); programs do not call `sigaction` on SIGSEGV/SIGTRAP while
//!   those faults are being delivered. This is the one known gap.
//!
//! Everything here is async-signal-safe.

use super::mem::Zeroable;
use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use libc::{c_int, c_void, siginfo_t, ucontext_t};
use x86_check::Pkru;

// SAFETY: a zero sigaction is SIG_DFL, no flags, an empty mask.
unsafe impl Zeroable for libc::sigaction {}
// SAFETY: a signal set is a bit array: zero is the empty set.
unsafe impl Zeroable for libc::sigset_t {}

/// A zero `T` (`const`: usable in statics).
pub const fn zeroed<T: Zeroable>() -> T {
    // SAFETY: T: Zeroable.
    unsafe { core::mem::zeroed() }
}

/// The empty signal set.
pub fn empty_sigset() -> libc::sigset_t {
    let mut set: libc::sigset_t = zeroed();
    // SAFETY: fills a local set.
    unsafe { libc::sigemptyset(&mut set) };
    set
}

/// The set of every signal.
pub fn full_sigset() -> libc::sigset_t {
    let mut set: libc::sigset_t = zeroed();
    // SAFETY: fills a local set.
    unsafe { libc::sigfillset(&mut set) };
    set
}

/// Every asynchronous signal: all but the synchronous ones (SIGSEGV,
/// SIGTRAP, SIGBUS, SIGILL, SIGFPE), which a fault must still deliver.
pub fn async_sigset() -> libc::sigset_t {
    let mut set = full_sigset();
    for s in [
        libc::SIGSEGV,
        libc::SIGTRAP,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
    ] {
        sigset_del(&mut set, s);
    }
    set
}

/// Runs `spawn` (which starts one of PUSh's own threads) with every
/// asynchronous signal blocked, so the new thread starts with them blocked
/// and never takes a signal meant for the program (a process-directed
/// signal goes to any thread that does not block it).
pub fn with_async_signals_blocked<R>(spawn: impl FnOnce() -> R) -> R {
    let previous = set_thread_mask(&async_sigset());
    let r = spawn();
    set_thread_mask(&previous);
    r
}

/// Adds `sig` to `set` (ignored out of range).
pub fn sigset_add(set: &mut libc::sigset_t, sig: c_int) {
    // SAFETY: a local set; sigaddset checks the range.
    unsafe { libc::sigaddset(set, sig) };
}

/// Whether `set` has `sig`.
pub fn sigset_has(set: &libc::sigset_t, sig: c_int) -> bool {
    // SAFETY: reads the set; sigismember checks the range.
    unsafe { libc::sigismember(set, sig) == 1 }
}

/// Removes `sig` from `set` (ignored out of range).
pub fn sigset_del(set: &mut libc::sigset_t, sig: c_int) {
    // SAFETY: a local set; sigdelset checks the range.
    unsafe { libc::sigdelset(set, sig) };
}

/// Sets the calling thread's signal mask (with the real function, not
/// libpush.so's, which keeps SIGSEGV and SIGTRAP open); returns the
/// previous one.
pub fn set_thread_mask(mask: &libc::sigset_t) -> libc::sigset_t {
    let mut previous: libc::sigset_t = zeroed();
    // SAFETY: both sets are valid for the call (the real pthread_sigmask).
    unsafe { super::real::get::pthread_sigmask()(libc::SIG_SETMASK, mask, &mut previous) };
    previous
}

/// Gives `sig` its default action (through the real `sigaction`).
pub fn set_default_action(sig: c_int) {
    let dfl: libc::sigaction = zeroed();
    // SAFETY: the real sigaction with a valid action and no old one.
    unsafe { super::real::get::sigaction()(sig, &dfl, core::ptr::null_mut()) };
}

/// Sends `sig` to the calling thread.
pub fn raise_here(sig: c_int) {
    // SAFETY: tgkill with integer arguments.
    unsafe { libc::syscall(libc::SYS_tgkill, super::getpid(), super::gettid(), sig) };
}

/// A Rust signal handler: [`install`] registers its trampoline.
pub trait SignalHandler {
    fn handle(frame: &mut SignalFrame<'_>);
}

extern "C" fn entry<H: SignalHandler>(sig: c_int, info: *mut siginfo_t, ctx: *mut c_void) {
    let mut frame = SignalFrame {
        sig,
        info,
        ctx: ctx.cast(),
        _handler: PhantomData,
    };
    H::handle(&mut frame);
}

/// Installs `H` for `sig` through the real `sigaction` (`SA_SIGINFO |
/// SA_ONSTACK | SA_RESTART`, empty mask). Returns the previous action, or
/// None if the kernel refused.
pub fn install<H: SignalHandler>(sig: c_int) -> Option<libc::sigaction> {
    let mut act: libc::sigaction = zeroed();
    let mut old: libc::sigaction = zeroed();
    act.sa_sigaction = entry::<H> as extern "C" fn(c_int, *mut siginfo_t, *mut c_void) as usize;
    act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_RESTART;
    // Every asynchronous signal waits until the handler returns: a program
    // handler run inside ours (bash's SIGCHLD handler, during one of our
    // system calls) would fault on a tracked object with SIGSEGV blocked,
    // which kills the process. The synchronous ones stay deliverable.
    act.sa_mask = async_sigset();
    // SAFETY: the real sigaction with valid pointers to locals.
    (unsafe { super::real::get::sigaction()(sig, &act, &mut old) } == 0).then_some(old)
}

/// The signal being handled: what the kernel passed an `SA_SIGINFO`
/// handler, for the duration `'a` of the handler.
pub struct SignalFrame<'a> {
    sig: c_int,
    info: *mut siginfo_t,
    ctx: *mut ucontext_t,
    _handler: PhantomData<&'a mut ucontext_t>,
}

impl<'a> SignalFrame<'a> {
    pub fn sig(&self) -> c_int {
        self.sig
    }

    pub fn has_info(&self) -> bool {
        !self.info.is_null()
    }

    pub fn has_context(&self) -> bool {
        !self.ctx.is_null()
    }

    /// `si_code`; None without siginfo.
    pub fn code(&self) -> Option<c_int> {
        // SAFETY: a non-null info is the kernel's siginfo (module doc).
        (!self.info.is_null()).then(|| unsafe { (*self.info).si_code })
    }

    /// `si_addr` (the faulting address of SIGSEGV); 0 without siginfo.
    pub fn fault_addr(&self) -> usize {
        if self.info.is_null() {
            return 0;
        }
        // SAFETY: a non-null info is the kernel's siginfo (module doc).
        unsafe { (*self.info).si_addr() as usize }
    }

    /// Sent by a process (kill, tgkill, sigqueue) rather than raised by
    /// the kernel for a fault; also when there is no siginfo.
    pub fn user_sent(&self) -> bool {
        self.code().is_none_or(|c| c <= 0)
    }

    fn greg(&self, r: c_int) -> i64 {
        if self.ctx.is_null() {
            return 0;
        }
        // SAFETY: a non-null ctx is the kernel's ucontext (module doc).
        unsafe { (*self.ctx).uc_mcontext.gregs[r as usize] }
    }

    /// The interrupted instruction.
    pub fn pc(&self) -> usize {
        self.greg(libc::REG_RIP) as usize
    }

    /// The interrupted code's frame pointer (`rbp`).
    pub fn frame_pointer(&self) -> usize {
        self.greg(libc::REG_RBP) as usize
    }

    /// The interrupted code's stack pointer.
    pub fn stack_pointer(&self) -> usize {
        self.greg(libc::REG_RSP) as usize
    }

    /// The page-fault error code (bit 1: a write).
    pub fn error_code(&self) -> i64 {
        self.greg(libc::REG_ERR)
    }

    /// Sets or clears the trap flag (EFLAGS.TF) the interrupted code
    /// resumes with: set, it traps after one instruction.
    pub fn set_trap_flag(&mut self, on: bool) {
        if self.ctx.is_null() {
            return;
        }
        const TF: i64 = 1 << 8;
        // SAFETY: a non-null ctx is the kernel's ucontext, which this
        // handler may change (sigreturn restores it).
        let efl = unsafe { &mut (*self.ctx).uc_mcontext.gregs[libc::REG_EFL as usize] };
        if on {
            *efl |= TF;
        } else {
            *efl &= !TF;
        }
    }

    /// The interrupted code's signal mask.
    pub fn saved_mask(&self) -> Option<libc::sigset_t> {
        // SAFETY: a non-null ctx is the kernel's ucontext (module doc).
        (!self.ctx.is_null()).then(|| unsafe { (*self.ctx).uc_sigmask })
    }

    /// PKRU as the interrupted code had it, in the frame's XSAVE area at
    /// `offset` (from CPUID; 0 = none); None when the frame has no PKRU.
    pub fn saved_pkru(&self, offset: u32) -> Option<SavedPkru<'a>> {
        if self.ctx.is_null() || offset == 0 {
            return None;
        }
        // SAFETY: a non-null ctx is the kernel's ucontext (module doc).
        let area = unsafe { (*self.ctx).uc_mcontext.fpregs } as *mut u8;
        // SAFETY: a non-null fpregs points to the frame's XSAVE area (at
        // least its 512-byte legacy part and header), which frame_has_pkru
        // reads to see whether PKRU follows at `offset`.
        (!area.is_null() && unsafe { x86_check::xsave::frame_has_pkru(area, offset) }).then_some(
            SavedPkru {
                area,
                offset,
                _frame: PhantomData,
            },
        )
    }

    /// Calls the application's handler `act.sa_sigaction` for this signal
    /// as the kernel would have (three arguments with `SA_SIGINFO`, else
    /// one). `act` must be a handler, not SIG_DFL or SIG_IGN (then this
    /// does nothing).
    pub fn call(&mut self, act: &libc::sigaction) {
        let h = act.sa_sigaction;
        if h == libc::SIG_DFL || h == libc::SIG_IGN {
            return;
        }
        // SAFETY: h is the handler the application installed for this
        // signal, with the signature its SA_SIGINFO flag promises; it gets
        // the kernel's own pointers.
        unsafe {
            if act.sa_flags & libc::SA_SIGINFO != 0 {
                let f: extern "C" fn(c_int, *mut siginfo_t, *mut c_void) = core::mem::transmute(h);
                f(self.sig, self.info, self.ctx.cast());
            } else {
                let f: extern "C" fn(c_int) = core::mem::transmute(h);
                f(self.sig);
            }
        }
    }
}

/// PKRU in a signal frame's XSAVE area: what the interrupted code resumes
/// with.
#[derive(Clone, Copy)]
pub struct SavedPkru<'a> {
    area: *mut u8,
    offset: u32,
    _frame: PhantomData<&'a mut u8>,
}

impl SavedPkru<'_> {
    pub fn get(&self) -> Pkru {
        // SAFETY: frame_has_pkru validated the area (module doc).
        unsafe { x86_check::xsave::read_saved(self.area, self.offset) }
    }

    pub fn set(&self, p: Pkru) {
        // SAFETY: frame_has_pkru validated the area (module doc).
        unsafe { x86_check::xsave::write_saved(self.area, self.offset, p) }
    }
}

/// A value written rarely and read from signal handlers without a lock
/// (the application's action for SIGSEGV/SIGTRAP), double-buffered.
pub struct ActionCell<T> {
    slots: [UnsafeCell<T>; 2],
    current: AtomicUsize,
    writing: AtomicBool,
}

// SAFETY: see the module doc (a slot is written only by the holder of
// `writing` and only while it is not `current`).
unsafe impl<T: Copy + Send> Sync for ActionCell<T> {}

impl<T: Copy> ActionCell<T> {
    pub const fn new(v: T) -> Self {
        ActionCell {
            slots: [UnsafeCell::new(v), UnsafeCell::new(v)],
            current: AtomicUsize::new(0),
            writing: AtomicBool::new(false),
        }
    }

    pub fn get(&self) -> T {
        let i = self.current.load(Ordering::Acquire);
        // SAFETY: see the module doc; the slot holds a valid T.
        unsafe { *self.slots[i & 1].get() }
    }

    pub fn set(&self, v: &T) {
        while self
            .writing
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        let next = (self.current.load(Ordering::Relaxed) + 1) & 1;
        // SAFETY: we hold `writing` and `next` is not the slot readers use.
        unsafe { *self.slots[next].get() = *v };
        self.current.store(next, Ordering::Release);
        self.writing.store(false, Ordering::Release);
    }
}
