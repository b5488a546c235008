//! The SIGSEGV and SIGTRAP handlers: a protection-key fault is a hint, the
//! policy decides.
//!
//! On `SEGV_PKUERR` inside a tracked object the handler checks the policy
//! for the faulting thread. Allowed (stale PKRU, a lazy grant, a hand-off
//! after join) → it writes the thread's correct PKRU into the signal frame
//! and resumes. Not allowed → it queues a report, then lets the access
//! through once: it grants the key in the frame's PKRU and sets the trap
//! flag; the SIGTRAP after that one instruction restores the PKRU. Every
//! other fault goes to the application's own handler (recorded by the
//! `sigaction`/`signal` interposers), or kills the process with the original
//! signal.
//!
//! Signal context: the handlers run with the kernel's default PKRU (key 0
//! only): they touch only key-0 runtime tables, allocate nothing, take no
//! lock, and preserve errno. The signal frame is reached through
//! [`sys::frame::SignalFrame`]; the application's handler is kept in a
//! [`sys::frame::ActionCell`] (double-buffered, read lock-free).

pub use crate::access::{access_allowed, asker};
pub use crate::counters::{FAULTS, REAPPLIED_KEYS, SILENT_FIXES};
use crate::domains;
use crate::registry::{self, Object};
use crate::report::capture::{self, FaultSite};
use crate::sys::frame::{self, ActionCell, SavedPkru, SignalFrame, SignalHandler};
use crate::threads::{self, ThreadRecord};
use crate::validate::{self, FirstAccess};
use crate::{backend, sys};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use libc::c_int;
use x86_check::pkru::Access;
use x86_check::Pkru;

mod portable;

const SEGV_ACCERR: c_int = 2;
const SEGV_PKUERR: c_int = 4;
/// The application's action for one signal.
type AppAction = ActionCell<libc::sigaction>;

static APP_SEGV: AppAction = AppAction::new(frame::zeroed());
static APP_TRAP: AppAction = AppAction::new(frame::zeroed());
static INSTALLED: AtomicBool = AtomicBool::new(false);
static PKRU_OFFSET: AtomicU32 = AtomicU32::new(0);

fn app_action(sig: c_int) -> Option<&'static AppAction> {
    match sig {
        libc::SIGSEGV => Some(&APP_SEGV),
        libc::SIGTRAP => Some(&APP_TRAP),
        _ => None,
    }
}

/// Installs the handlers, keeping whatever was there as the application's.
pub fn install(pkru_offset: u32) -> bool {
    PKRU_OFFSET.store(pkru_offset, Ordering::Relaxed);
    for sig in [libc::SIGSEGV, libc::SIGTRAP] {
        let old = if sig == libc::SIGSEGV {
            frame::install::<OnSegv>(sig)
        } else {
            frame::install::<OnTrap>(sig)
        };
        let Some(old) = old else { return false };
        if let Some(a) = app_action(sig) {
            a.set(&old);
        }
    }
    INSTALLED.store(true, Ordering::Release);
    true
}

/// The `sigaction` interposer's work for SIGSEGV and SIGTRAP: record the
/// application's action instead of replacing ours. Returns None for other
/// signals (the caller then uses the real sigaction). `act` and `old` are
/// `sigaction(2)`'s pointers, None where null.
pub fn app_sigaction(
    sig: c_int,
    act: Option<&libc::sigaction>,
    old: Option<&mut libc::sigaction>,
) -> Option<c_int> {
    if !INSTALLED.load(Ordering::Acquire) {
        return None;
    }
    let a = app_action(sig)?;
    let previous = a.get();
    if let Some(old) = old {
        *old = previous;
    }
    if let Some(act) = act {
        a.set(act);
    }
    Some(0)
}

/// Signals for which `siginterrupt(sig, 1)` asked that system calls be
/// interrupted rather than restarted (bit `sig`): glibc's `signal()` then
/// installs handlers without SA_RESTART.
static INTERRUPTING: AtomicU64 = AtomicU64::new(0);

/// The `signal()` interposer's work for SIGSEGV and SIGTRAP: what glibc's
/// `signal()` would install (the handler, the signal in its mask, SA_RESTART
/// unless `siginterrupt` said otherwise), recorded as the application's
/// action. Returns the previous handler, or None for other signals (the
/// caller then uses the real `signal`).
pub fn app_signal(sig: c_int, handler: libc::sighandler_t) -> Option<libc::sighandler_t> {
    let restart = INTERRUPTING.load(Ordering::Relaxed) & (1 << sig) == 0;
    record_app_handler(
        sig,
        handler,
        if restart { libc::SA_RESTART } else { 0 },
        true,
    )
}

/// The `sysv_signal()` interposer's work for SIGSEGV and SIGTRAP: what
/// glibc's System V `signal` installs (the handler, reset to the default
/// when it runs, the signal not blocked inside it, no SA_RESTART), recorded
/// as the application's action. Returns the previous handler, or None for
/// other signals (the caller then uses the real one).
pub fn app_sysv_signal(sig: c_int, handler: libc::sighandler_t) -> Option<libc::sighandler_t> {
    record_app_handler(sig, handler, libc::SA_RESETHAND | libc::SA_NODEFER, false)
}

/// Records `handler` with `flags` (and `sig` in its mask if `block_self`)
/// as the application's action for SIGSEGV or SIGTRAP; the previous
/// handler, or None for other signals or before start-up.
fn record_app_handler(
    sig: c_int,
    handler: libc::sighandler_t,
    flags: c_int,
    block_self: bool,
) -> Option<libc::sighandler_t> {
    if !INSTALLED.load(Ordering::Acquire) {
        return None;
    }
    let a = app_action(sig)?;
    let mut act: libc::sigaction = frame::zeroed();
    act.sa_sigaction = handler;
    act.sa_mask = frame::empty_sigset();
    if block_self {
        frame::sigset_add(&mut act.sa_mask, sig);
    }
    act.sa_flags = flags;
    let previous = a.get();
    a.set(&act);
    Some(previous.sa_sigaction)
}

/// Records `siginterrupt(sig, flag)` for [`app_signal`]; for SIGSEGV and
/// SIGTRAP also changes the recorded application action as glibc would the
/// kernel's (returns Some(0)); None: the caller calls the real one too.
pub fn app_siginterrupt(sig: c_int, flag: c_int) -> Option<c_int> {
    if !(1..64).contains(&sig) {
        return None;
    }
    if flag != 0 {
        INTERRUPTING.fetch_or(1 << sig, Ordering::Relaxed);
    } else {
        INTERRUPTING.fetch_and(!(1 << sig), Ordering::Relaxed);
    }
    if !INSTALLED.load(Ordering::Acquire) {
        return None;
    }
    let a = app_action(sig)?;
    let mut act = a.get();
    if flag != 0 {
        act.sa_flags &= !libc::SA_RESTART;
    } else {
        act.sa_flags |= libc::SA_RESTART;
    }
    a.set(&act);
    Some(0)
}

/// PKRU in the frame, when the frame carries it (`mpk`).
fn frame_pkru<'a>(f: &SignalFrame<'a>) -> Option<SavedPkru<'a>> {
    f.saved_pkru(PKRU_OFFSET.load(Ordering::Relaxed))
}

fn set_saved_pkru(area: SavedPkru<'_>, p: Pkru) {
    // The program's own keys keep the rights it gave them.
    area.set(crate::domains::keep_program_bits(p, area.get()));
}

struct OnSegv;

impl SignalHandler for OnSegv {
    fn handle(f: &mut SignalFrame<'_>) {
        let errno = sys::errno();
        let handled = handle_pku_fault(f);
        sys::set_errno(errno);
        if !handled {
            chain(f);
        }
    }
}

fn handle_pku_fault(f: &mut SignalFrame<'_>) -> bool {
    let Some(code) = f.code() else { return false };
    if !crate::enabled() {
        return false;
    }
    let addr = f.fault_addr();
    if code == SEGV_ACCERR && backend::is_mprotect() {
        return portable::handle_access_fault(addr, f);
    }
    if code != SEGV_PKUERR {
        return false;
    }
    let (Some(keys), Some(area)) = (domains::keys(), frame_pkru(f)) else {
        return false;
    };
    let Some((obj_id, obj, id, rec)) = tracked_fault(addr) else {
        return false;
    };
    if crate::in_lock_window(rec, addr) {
        // A lock's own code at its word while the object was re-keyed: not
        // an access of the program's.
        set_saved_pkru(area, Pkru(0));
        return true;
    }
    let write = f.error_code() & 2 != 0;
    let stepping = rec.stepping.load(Ordering::Relaxed) != 0;
    let correct = keys.pkru_fresh(id, rec);
    let base = if stepping { area.get() } else { correct };
    let key = obj.key();

    if access_allowed(keys, id, rec, obj, write) {
        let site = || fault_site(addr, write, f);
        if validate::first_access((id, rec), (obj_id, obj), site) == FirstAccess::ChangerAccess {
            if validate::changer_read_grant(keys, key, write) {
                // Reading what it just made read-only: the grant stays in
                // its PKRU until its next synchronization.
                validate::hold_read_grant(rec);
                set_saved_pkru(area, base.grant(key, Access::Read));
                return true;
            }
            // Let this access through once.
            step_with_grant(f, area, rec, base, key, write);
            return true;
        }
        let mut key = obj.key();
        if !obj.pending() {
            // After a rehash the object may still carry an older period's
            // key: move it to the current one (one system call).
            if let Some(want) = obj.policy().map(|p| keys.key_for(p)) {
                if want != key && registry::set_policy_key(obj, want, None).is_ok() {
                    crate::rehash::LAZY_REKEYS.fetch_add(1, Ordering::Relaxed);
                    key = want;
                }
            }
        }
        if base.allows(key, write) {
            if area.get().allows(key, write) {
                // The thread's PKRU already allowed the key the object's
                // metadata names, and the access faulted all the same: its
                // pages carry another key (two key changes applied their
                // system calls in one order and recorded their keys in the
                // other). Put the pages under the recorded key, or this
                // access would fault here forever.
                let _ = registry::reapply_key(obj);
                REAPPLIED_KEYS.fetch_add(1, Ordering::Relaxed);
            }
            SILENT_FIXES.fetch_add(1, Ordering::Relaxed);
            set_saved_pkru(area, base);
            return true;
        }
        step_with_grant(f, area, rec, base, key, write);
        return true;
    }

    if crate::auto::is_watched(obj) {
        // The annotation-free mode: an observation, not a report by itself;
        // the object then takes a policy that lets this thread in (or
        // parks, over the thread's budget: see `auto::budget`).
        let timer = crate::auto::budget::Timer::start();
        crate::auto::on_refused_access(keys, (id, rec), (obj_id, obj), fault_site(addr, write, f));
        timer.charge(&rec.auto_credit, true);
        let fresh = keys.pkru_fresh(id, rec);
        let key = obj.key();
        if access_allowed(keys, id, rec, obj, write) && fresh.allows(key, write) {
            set_saved_pkru(area, fresh);
        } else {
            step_with_grant(f, area, rec, fresh, key, write);
        }
        return true;
    }
    capture::data_race((id, rec), fault_site(addr, write, f), (obj_id, obj));
    step_with_grant(f, area, rec, base, key, write);
    true
}

/// The tracked object at `addr` and the faulting thread (registered if
/// new), counting the fault; None for a fault PUSh does not own.
fn tracked_fault(addr: usize) -> Option<(u32, &'static Object, u32, &'static ThreadRecord)> {
    let (obj_id, obj) = registry::lookup(addr)?;
    let id = crate::registration::current_or_register()?;
    let rec = threads::record(id)?;
    FAULTS.fetch_add(1, Ordering::Relaxed);
    Some((obj_id, obj, id, rec))
}

/// Where a refused or checked access happened, for a report.
fn fault_site(addr: usize, write: bool, f: &SignalFrame<'_>) -> FaultSite {
    FaultSite {
        addr,
        write,
        pc: f.pc(),
        frame_pointer: f.frame_pointer(),
    }
}

fn step_with_grant(
    f: &mut SignalFrame<'_>,
    area: SavedPkru<'_>,
    rec: &ThreadRecord,
    base: Pkru,
    key: u32,
    write: bool,
) {
    let access = if write {
        Access::ReadWrite
    } else {
        Access::Read
    };
    set_saved_pkru(area, base.grant(key, access));
    f.set_trap_flag(true);
    rec.stepping.store(1, Ordering::Relaxed);
}

struct OnTrap;

impl SignalHandler for OnTrap {
    fn handle(f: &mut SignalFrame<'_>) {
        let errno = sys::errno();
        let mut handled = false;
        if backend::is_mprotect() {
            handled = portable::end_step(f);
        } else if let (Some((id, rec)), Some(keys), Some(area)) =
            (threads::current(), domains::keys(), frame_pkru(f))
        {
            if rec.stepping.swap(0, Ordering::Relaxed) != 0 {
                f.set_trap_flag(false);
                set_saved_pkru(area, keys.pkru_fresh(id, rec));
                handled = true;
            }
        }
        sys::set_errno(errno);
        if !handled {
            chain(f);
        }
    }
}

/// Hands a signal PUSh does not own to the application's handler, or applies
/// the default action.
fn chain(f: &mut SignalFrame<'_>) {
    let sig = f.sig();
    let Some(app) = app_action(sig) else { return };
    let act = app.get();
    let user_sent = f.user_sent();
    match act.sa_sigaction {
        libc::SIG_DFL => die_by(sig, user_sent),
        libc::SIG_IGN => {
            if !user_sent {
                // A synchronous fault cannot be ignored: the kernel would kill.
                die_by(sig, false);
            }
        }
        _ if act.sa_flags & libc::SA_ONSTACK == 0 && stack_exhausted(f) => {
            // Natively the kernel could not have pushed the handler's frame
            // on the exhausted stack and would have killed the process; it
            // reached us only on the alternate stack PUSh gave the thread.
            die_by(sig, false);
        }
        _ => {
            if act.sa_flags & libc::SA_RESETHAND != 0 {
                // Zero is SIG_DFL.
                app.set(&frame::zeroed());
            }
            // The application's handler runs with the mask the kernel would
            // have given it: the interrupted code's mask, plus its sa_mask,
            // plus the signal itself unless SA_NODEFER. A handler that leaves
            // by longjmp keeps that mask, as it would natively.
            let ours = handler_mask_for(&act, sig, f);
            // The kernel entered our handler with its default PKRU (every
            // key but 0 denied): with SIGSEGV blocked, the handler's first
            // access to a tracked object would kill the process. It runs
            // with the rights of the code it interrupted.
            if let Some(area) = frame_pkru(f) {
                crate::domains::apply_pkru(area.get());
            }
            let previous = frame::set_thread_mask(&ours);
            f.call(&act);
            // Restores the mask our handler ran with; sigreturn then
            // restores the interrupted code's.
            frame::set_thread_mask(&previous);
        }
    }
}

/// Whether the interrupted code's stack pointer is within a page of (or
/// below) the lowest address of its thread's stack: too little room for a
/// signal frame.
fn stack_exhausted(f: &SignalFrame<'_>) -> bool {
    if !f.has_context() {
        return false;
    }
    let sp = f.stack_pointer();
    let Some((_, rec)) = crate::threads::current() else {
        return false;
    };
    let lo = rec.stack_lo.load(Ordering::Relaxed);
    lo != 0 && sp < lo.saturating_add(4096) && sp + (1 << 20) > lo
}

/// The signal mask an application handler `act` for `sig` runs with, when
/// the kernel delivers it to code whose mask is saved in `ctx`.
fn handler_mask_for(act: &libc::sigaction, sig: c_int, f: &SignalFrame<'_>) -> libc::sigset_t {
    let mut mask: libc::sigset_t = f.saved_mask().unwrap_or(frame::zeroed());
    for s in 1..=64 {
        if frame::sigset_has(&act.sa_mask, s) {
            frame::sigset_add(&mut mask, s);
        }
    }
    if act.sa_flags & libc::SA_NODEFER == 0 {
        frame::sigset_add(&mut mask, sig);
    }
    mask
}

/// Restores the default action so the signal kills the process: a fault
/// re-executes and faults again; a sent signal is raised again.
fn die_by(sig: c_int, resend: bool) {
    frame::set_default_action(sig);
    if resend {
        frame::raise_here(sig);
    }
}
