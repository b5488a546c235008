//! PUSh core runtime: tracked objects with sharing policies, enforced per
//! thread with protection keys; a forbidden access faults and is reported.
//!
//! The model (docs/model.md): every tracked object has one policy — private to a
//! thread, read-only, protected by a lock, released, or racy — kept in the
//! [`registry`]. The [`domains`] module maps owners (threads, locks) to
//! protection keys and derives each thread's PKRU from its own domain and
//! the locks it holds. The [`fault`] handler treats a key fault as a hint:
//! the policy decides whether it is a race. Lock and thread hooks (in the
//! `preload` crate) call the `on_*` functions here; the C API calls the
//! `api_*` functions.
//!
//! Unsafe code lives in `sys`, `real`, `fault` and the table modules, each
//! stating its invariants; this file is the glue.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod backend;
pub mod barriers;
pub mod clock_index;
pub mod defaults;
pub mod domains;
pub mod exec_note;
pub mod fault;
pub mod hb;
#[cfg(test)]
mod hb_oracle;
pub mod maps;
pub mod options;
pub mod own_alloc;
pub mod policy;
pub mod real;
pub mod recycle;
pub mod registry;
pub mod rehash;
pub mod report;
pub mod run_dir;
pub mod stack;
pub mod sys;
pub mod threads;
pub mod windows;

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use domains::Keys;
use options::Options;
use registry::{Object, Policy};
use report::{capture, Api, Refusal};
use std::sync::OnceLock;

static ENABLED: AtomicBool = AtomicBool::new(false);
static INIT_DONE: AtomicBool = AtomicBool::new(false);
static OPTIONS: OnceLock<Options> = OnceLock::new();
static GLOBAL_LO: AtomicUsize = AtomicUsize::new(usize::MAX);
static GLOBAL_HI: AtomicUsize = AtomicUsize::new(0);
static EXITING: AtomicBool = AtomicBool::new(false);
/// When the runtime started (for the per-second rates of the stats).
static START: OnceLock<std::time::Instant> = OnceLock::new();

/// Whether policies are being enforced (PKU present and init succeeded).
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub fn options() -> &'static Options {
    OPTIONS.get_or_init(Options::default)
}

/// Why the runtime is not enforcing anything.
pub enum Disabled {
    /// `backend=mpk` was asked for and protection keys cannot be had.
    NoPku(String),
    /// The runtime could not set itself up (memory for its tables, the
    /// fault handler).
    Failed(String),
}

/// Start-up: parse options (exit 2 on a bad one), probe PKU, allocate keys
/// and tables, adopt the main thread, install the fault handlers.
/// `self_addr` is any address inside libpush.so (its frames are hidden).
pub fn init(self_range: (usize, usize)) -> Result<(), Disabled> {
    if INIT_DONE.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    // The program's compiled-in defaults first, PUSH_OPTIONS on top.
    let mut opts = Options::default();
    if let Some(d) = defaults::program_string("push_default_options") {
        if let Err(e) = opts.apply(&d) {
            let msg = format!(
                "PUSh: error in the program's push_default_options(): {e}\n{}",
                options::help()
            );
            sys::write_all(2, msg.as_bytes());
            sys::exit_now(2);
        }
    }
    let spec = std::env::var("PUSH_OPTIONS").unwrap_or_default();
    if let Err(e) = opts.apply(&spec) {
        let msg = format!("PUSh: error in PUSH_OPTIONS: {e}\n{}", options::help());
        sys::write_all(2, msg.as_bytes());
        sys::exit_now(2);
    }
    let _ = OPTIONS.set(opts.clone());
    if let (Some(d), Err(_)) = (&opts.run_dir, std::env::var(run_dir::ENV)) {
        // A plain LD_PRELOAD run with run_dir=DIR collects there too.
        let _ = std::fs::create_dir_all(d);
    }
    exec_note::init(
        std::env::var(run_dir::ENV)
            .ok()
            .or_else(|| opts.run_dir.clone())
            .as_deref(),
    );
    let _ = START.set(std::time::Instant::now());
    if !opts.hb {
        hb::disable();
    }
    if let Err(e) = report::init(&opts) {
        sys::write_all(2, format!("PUSh: error: {e}\n").as_bytes());
        sys::exit_now(2);
    }
    let (mut chosen, mut pkru_offset) = match choose_backend(opts.backend) {
        Ok(c) => c,
        Err(why) => {
            let msg = format!(
                "PUSh: error: backend=mpk needs protection keys, which this machine cannot use: {why}\n\
                 PUSh: use backend=mprotect (or auto) for the portable mode; 'push doctor' explains\n"
            );
            sys::write_all(2, msg.as_bytes());
            sys::exit_now(2);
        }
    };
    let seed = if opts.seed != 0 {
        opts.seed
    } else {
        let mut b = [0u8; 8];
        // SAFETY: getrandom writes at most 8 bytes into b.
        unsafe { libc::getrandom(b.as_mut_ptr().cast(), 8, libc::GRND_NONBLOCK) };
        u64::from_ne_bytes(b) | 1
    };
    if let Err(e) = domains::init(seed, chosen) {
        let why =
            format!("pkey_alloc could not provide the 5 protection keys PUSh needs (errno {e})");
        if opts.backend != options::BackendChoice::Auto {
            return Err(Disabled::NoPku(why));
        }
        say_portable_mode(&why);
        chosen = backend::Backend::Mprotect;
        pkru_offset = 0;
        if domains::init(seed, chosen).is_err() {
            return Err(Disabled::NoPku(why));
        }
    }
    backend::set(chosen);
    if !(threads::init()
        && windows::init()
        && hb::init()
        && registry::init()
        && stack::init_depot()
        && domains::init_lockset()
        && domains::init_owner_table())
    {
        return Err(Disabled::Failed(
            "could not reserve its tables (is the address space limited by ulimit -v, or \
             overcommit off with vm.overcommit_memory=2?)"
                .into(),
        ));
    }
    real::resolve_all();
    maps::init(options().max_maps);
    stack::set_self_range(self_range.0, self_range.1);
    let main = threads::reserve().unwrap_or(0);
    threads::adopt(main);
    threads::record_stack_bounds(main);
    give_alt_stack(main);
    if !fault::install(pkru_offset) {
        return Err(Disabled::Failed(
            "could not install the SIGSEGV handler".into(),
        ));
    }
    ENABLED.store(true, Ordering::Release);
    refresh_pkru();
    run_dir::record(run_dir::State::Started);
    Ok(())
}

/// Picks the backend `wanted` names: `auto` takes protection keys where CPU
/// and kernel offer them, else the portable backend (saying so on stderr).
/// Returns the backend and the offset of PKRU in signal frames (0 under
/// `mprotect`), or why the runtime cannot run.
fn choose_backend(wanted: options::BackendChoice) -> Result<(backend::Backend, u32), String> {
    use options::BackendChoice;
    let pku = x86_check::cpu_has_pku() && x86_check::os_enabled_pku();
    let offset = if pku {
        x86_check::xsave::pkru_component().map(|(o, _)| o)
    } else {
        None
    };
    let why_not = || {
        if pku {
            "the CPU does not report PKRU in XSAVE".to_string()
        } else {
            x86_check::probe().remedies().join("; ")
        }
    };
    match (wanted, offset) {
        (BackendChoice::Mprotect, _) => Ok((backend::Backend::Mprotect, 0)),
        (BackendChoice::Mpk | BackendChoice::Auto, Some(o)) => Ok((backend::Backend::Mpk, o)),
        (BackendChoice::Mpk, None) => Err(why_not()),
        (BackendChoice::Auto, None) => {
            say_portable_mode(&format!("no protection keys here ({})", short_reason(pku)));
            Ok((backend::Backend::Mprotect, 0))
        }
    }
}

/// The one line `auto` prints when it falls back to `mprotect`: once per
/// run, not once per exec'd child.
fn say_portable_mode(why: &str) {
    if !first_in_run("PUSH_SAID_PORTABLE") {
        return;
    }
    let line =
        format!("PUSh: {why}: detection runs in the slower portable mode (backend=mprotect)\n");
    sys::write_all(2, line.as_bytes());
}

/// Whether this process is the first of its run (itself and the children
/// it execs, which inherit the environment) to get here with `marker`:
/// start-up notices are said once per run, not once per process.
pub fn first_in_run(marker: &str) -> bool {
    if std::env::var_os(marker).is_some() {
        return false;
    }
    // Start-up runs in a library constructor, before the program's threads.
    std::env::set_var(marker, "1");
    true
}

fn short_reason(pku: bool) -> &'static str {
    if x86_check::simulated_absent() {
        "PUSH_SIMULATE_NO_PKU=1"
    } else if !x86_check::cpu_has_pku() {
        "the CPU has no 'pku' flag"
    } else if !pku {
        "the kernel has not enabled them: no 'ospke' flag"
    } else {
        "the CPU does not report PKRU in XSAVE"
    }
}

/// Starts the background threads (reporter, rehash) on first need.
static BACKGROUND_STARTED: AtomicBool = AtomicBool::new(false);

fn ensure_background() {
    report::ensure_reporter();
    if !BACKGROUND_STARTED.swap(true, Ordering::AcqRel) && backend::is_mpk() {
        // Under `mprotect` every closed page faults for every thread: no
        // key is shared, so there is nothing to re-draw.
        rehash::start(options().rehash_ms);
    }
}

/// Sets the calling thread's PKRU to what its domain and held locks grant.
#[inline]
pub fn refresh_pkru() {
    if let Some((id, rec)) = threads::current_or_register_record() {
        refresh_pkru_of(id, rec);
    }
}

#[inline]
pub fn refresh_pkru_of(id: u32, rec: &threads::ThreadRecord) {
    if let Some(keys) = domains::keys() {
        domains::apply_pkru(keys.pkru_for(id, rec));
    }
}

/// For hooks: the calling thread, or None when the hook must pass straight
/// through (runtime disabled, or the thread is inside runtime code).
#[inline]
pub fn hook_thread() -> Option<(u32, &'static threads::ThreadRecord)> {
    if !enabled() {
        return None;
    }
    let t = threads::hook_thread();
    if t.is_some() && report::HALT_PENDING.load(Ordering::Relaxed) {
        halt_from_hook();
    }
    t
}

/// A report the signal handler could not have printed is waiting
/// (`halt_on_error`): print it here, in ordinary context, and stop.
#[cold]
fn halt_from_hook() {
    let _inside = threads::enter();
    report::drain();
    halt_if_reported();
}

/// Whether `addr` may lie in a tracked object (a fast pre-check).
#[inline]
pub fn maybe_tracked(addr: usize) -> bool {
    registry::in_arena(addr)
        || (addr >= GLOBAL_LO.load(Ordering::Relaxed) && addr < GLOBAL_HI.load(Ordering::Relaxed))
}

/// Before a synchronization call on `addrs` (mutex, condvar, ...): if any of
/// them lies inside a tracked object, opens every key for the calling thread
/// for the duration of the call, so the library and the kernel can use the
/// lock word. Every key, not just the object's: another thread may re-key
/// the object (policy change, rehash, validation) while this one sleeps in
/// `futex`, and the kernel checks the caller's PKRU, failing with EFAULT
/// rather than faulting. Only the lock's own code runs in that window
/// (signal handlers start with the default PKRU). Returns whether a grant
/// was made; the caller then calls [`end_sync_grant`] afterwards.
/// Under `mprotect` the objects holding the words are opened for the call
/// instead (see `windows`).
#[inline]
pub fn grant_for_sync(t: (u32, &threads::ThreadRecord), addrs: &[usize]) -> bool {
    if backend::is_mprotect() {
        return windows::grant_for_sync(t.1, addrs);
    }
    let granted = addrs
        .iter()
        .any(|&a| maybe_tracked(a) && registry::lookup(a).is_some());
    if granted {
        open_every_key();
    }
    granted
}

/// The grant of [`grant_for_sync`], for a caller that already knows the
/// word `lock` is tracked.
#[inline]
pub fn open_for_lock_call(t: (u32, &threads::ThreadRecord), lock: usize) {
    if backend::is_mprotect() {
        windows::grant_for_sync(t.1, &[lock]);
    } else {
        open_every_key();
    }
}

/// Opens every key for the calling thread (`mpk`).
#[inline]
fn open_every_key() {
    domains::apply_pkru(x86_check::Pkru(0));
}

/// Where a lock's word lies, as the lock hooks see it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LockWord {
    /// Not in tracked memory: the lock call needs no grant.
    Untracked,
    /// In a tracked object, and the narrow window is open; for an acquire,
    /// with the key the lock grants.
    Window(u32),
    /// In a tracked object the window cannot cover: every key must be open
    /// around the call ([`open_every_key`], then [`end_sync_grant`]).
    Tracked,
}

/// After the synchronization call: drops the grant of [`grant_for_sync`].
#[inline]
pub fn end_sync_grant(t: (u32, &threads::ThreadRecord), granted: bool) {
    if !granted {
        return;
    }
    if backend::is_mprotect() {
        let keys = domains::keys();
        windows::end_sync_grant(t.1, |o| {
            keys.is_some_and(|k| fault::access_allowed(k, t.0, t.1, o, true))
        });
    } else {
        refresh_pkru_of(t.0, t.1);
    }
}

/// The narrow path for a lock word inside a tracked object that the holder
/// will be allowed to write once it holds the lock (typically a mutex inside
/// the object it protects). Instead of opening every key around the lock
/// call and recomputing PKRU twice (four WRPKRU per lock/unlock pair), the
/// thread switches once, before a non-blocking attempt, to the PKRU it will
/// hold the lock with, and once after the unlock: two WRPKRU per pair.
///
/// Only the lock's own code runs in the window. If the object is re-keyed
/// meanwhile (rehash, lazy re-key), the fault handler sees the window
/// (`ThreadRecord::sync_window`) and opens every key instead of judging the
/// access; the closing call then restores the right PKRU.
///
/// Returns [`LockWord::Window`] with the key the lock grants when the
/// window is open; otherwise where the word lies, for the general path.
#[inline]
pub fn lock_window_begin(
    t: (u32, &threads::ThreadRecord),
    lock: usize,
    kind: LockKind,
) -> LockWord {
    if !maybe_tracked(lock) {
        return LockWord::Untracked;
    }
    // The lookups below each miss the cache for a lock not used lately:
    // start them together.
    registry::prefetch_lookup(lock);
    domains::prefetch_lock(lock);
    if kind == LockKind::Exclusive {
        hb::prefetch_ex(t.1, lock);
    }
    sys::prefetch(lock as *const u8);
    let Some((_, obj)) = registry::lookup(lock) else {
        return LockWord::Untracked;
    };
    if !backend::is_mpk() {
        return LockWord::Tracked;
    }
    let Some(keys) = domains::keys() else {
        return LockWord::Tracked;
    };
    let key = keys.lock_key(lock);
    let access = if kind == LockKind::Read {
        x86_check::pkru::Access::Read
    } else {
        x86_check::pkru::Access::ReadWrite
    };
    let mut want = keys.pkru_for(t.0, t.1);
    if key != 0 {
        want = want.grant(key, access);
    }
    if !want.allows(obj.key(), true) {
        return LockWord::Tracked;
    }
    open_window(t.1, lock);
    domains::apply_pkru(want);
    LockWord::Window(key)
}

/// Where a lock's word lies, [`LockWord::Tracked`] or
/// [`LockWord::Untracked`], without opening a window: for a lock call that
/// must not be tried first (its arguments are checked before the lock).
#[inline]
pub fn lock_word(lock: usize) -> LockWord {
    if maybe_tracked(lock) && registry::lookup(lock).is_some() {
        LockWord::Tracked
    } else {
        LockWord::Untracked
    }
}

fn open_window(t: &threads::ThreadRecord, lock: usize) {
    t.sync_window.store(lock & !1, Ordering::Relaxed);
    core::sync::atomic::compiler_fence(Ordering::SeqCst);
}

/// Closes the window; true if the fault handler opened every key in it.
fn close_window(t: &threads::ThreadRecord) -> bool {
    core::sync::atomic::compiler_fence(Ordering::SeqCst);
    // Load and store, not a swap: the lock call has returned, so no fault of
    // the window can come between them.
    let w = t.sync_window.load(Ordering::Relaxed);
    t.sync_window.store(0, Ordering::Relaxed);
    w & 1 != 0
}

/// After the attempt of [`lock_window_begin`]: `acquired` says whether the
/// thread now holds the lock. Leaves PKRU right either way.
#[inline]
pub fn lock_window_end(
    t: (u32, &threads::ThreadRecord),
    lock: usize,
    kind: LockKind,
    key: u32,
    acquired: bool,
) {
    let opened_all = close_window(t.1);
    if !acquired {
        refresh_pkru_of(t.0, t.1);
        return;
    }
    t.1.push_lock(lock, kind != LockKind::Read, key);
    match kind {
        LockKind::Exclusive => hb::exclusive_acquire(t.1, lock),
        _ => hb::acquire(t.1, lock, kind != LockKind::Read),
    }
    if take_validate_grant(t.1) || opened_all {
        refresh_pkru_of(t.0, t.1);
    }
}

/// Before releasing `lock`: when its word lies in a tracked object the
/// thread can write with its present PKRU, opens the window (no PKRU
/// change) and returns [`LockWord::Window`]; the caller then releases with
/// [`on_lock_releasing`] and closes with [`unlock_window_end`].
#[inline]
pub fn unlock_window_begin(t: &threads::ThreadRecord, lock: usize) -> LockWord {
    if !maybe_tracked(lock) {
        return LockWord::Untracked;
    }
    let Some((_, obj)) = registry::lookup(lock) else {
        return LockWord::Untracked;
    };
    if !backend::is_mpk() {
        return LockWord::Tracked;
    }
    // SAFETY: RDPKRU only reads; init verified OSPKE before hooks run.
    let now = unsafe { x86_check::pkru::read() };
    if !now.allows(obj.key(), true) {
        return LockWord::Tracked;
    }
    open_window(t, lock);
    LockWord::Window(0)
}

/// After the real unlock in a window: the thread's PKRU without the lock.
#[inline]
pub fn unlock_window_end(t: (u32, &threads::ThreadRecord), refresh: bool) {
    if close_window(t.1) || refresh {
        refresh_pkru_of(t.0, t.1);
    }
}

/// Fault handler side of the window: whether a fault at `addr` is the
/// window's lock code touching its lock word, in which case the handler
/// opens every key for the rest of the window.
pub fn in_lock_window(t: &threads::ThreadRecord, addr: usize) -> bool {
    let w = t.sync_window.load(Ordering::Relaxed) & !1;
    if w != 0 && addr.wrapping_sub(w) < 64 {
        t.sync_window.fetch_or(1, Ordering::Relaxed);
        return true;
    }
    false
}

/// A lock was acquired by thread `t` (exclusive: mutex, spinlock, write lock).
#[inline]
pub fn on_lock_acquired(
    t: (u32, &threads::ThreadRecord),
    lock: usize,
    kind: LockKind,
    force_refresh: bool,
) {
    windows::sync_point(t.1);
    let key = domains::keys().map_or(0, |k| k.lock_key(lock));
    let exclusive = kind != LockKind::Read;
    t.1.push_lock(lock, exclusive, key);
    match kind {
        LockKind::Exclusive => hb::exclusive_acquire(t.1, lock),
        _ => hb::acquire(t.1, lock, exclusive),
    }
    if take_validate_grant(t.1) || force_refresh || key != 0 {
        refresh_pkru_of(t.0, t.1);
    }
}

/// Thread `t` is about to release a lock. Returns whether the caller must
/// refresh PKRU after the real release.
#[inline]
pub fn on_lock_releasing(t: (u32, &threads::ThreadRecord), lock: usize, kind: LockKind) -> bool {
    windows::sync_point(t.1);
    match kind {
        LockKind::Exclusive => hb::exclusive_release(t.0, t.1, lock),
        _ => {
            let reader = t.1.holds(lock) == Some(false);
            hb::release(t.0, t.1, lock, reader);
        }
    }
    t.1.pop_lock(lock) != 0
}

/// How a lock is held, for happens-before: `Exclusive` locks (mutexes,
/// spinlocks) serialise their own clock; reader-writer and custom locks
/// (`Read`/`Write`) go through the locked clock map.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LockKind {
    Exclusive,
    Write,
    Read,
}

/// Release-like synchronization on `addr` (sem_post, barrier arrival,
/// `push_happens_before`).
pub fn on_release(t: (u32, &threads::ThreadRecord), addr: usize) {
    windows::sync_point(t.1);
    hb::release(t.0, t.1, addr, false);
}

/// A thread arrives at the barrier `addr`: its arrival happens before
/// every departure of its round (and of no other round, see `barriers`).
/// Returns the address of the round's clock, for [`on_barrier_departure`].
/// `t` is None for a thread PUSh does not check: its arrival still counts.
pub fn on_barrier_arrival(t: Option<(u32, &threads::ThreadRecord)>, addr: usize) -> usize {
    let clock = barriers::arrive(addr);
    if let Some(t) = t {
        on_release(t, clock);
    }
    clock
}

/// The thread leaves the round whose clock [`on_barrier_arrival`] gave.
pub fn on_barrier_departure(t: (u32, &threads::ThreadRecord), clock: usize) {
    on_acquire(t, clock);
}

/// `pthread_barrier_init` succeeded.
pub fn on_barrier_init(addr: usize, count: u32) {
    if enabled() {
        for a in barriers::on_destroy(addr) {
            hb::forget(a);
        }
        barriers::on_init(addr, count);
    }
}

/// `pthread_barrier_destroy` is called.
pub fn on_barrier_destroy(addr: usize) {
    if enabled() {
        for a in barriers::on_destroy(addr) {
            hb::forget(a);
        }
    }
}

/// Acquire-like synchronization on `addr` (a successful sem_wait, barrier
/// departure, return from pthread_once, `push_happens_after`).
pub fn on_acquire(t: (u32, &threads::ThreadRecord), addr: usize) {
    windows::sync_point(t.1);
    hb::acquire(t.1, addr, true);
    drop_validate_grant(t);
}

/// After an acquire-like event: ends a changer's read grant on
/// `validate_read` (see `fault`), so that from here on its first read of
/// another thread's fresh read-only object is checked again.
#[inline]
fn drop_validate_grant(t: (u32, &threads::ThreadRecord)) {
    if take_validate_grant(t.1) {
        refresh_pkru_of(t.0, t.1);
    }
}

/// Clears the thread's read grant mark; true if it had one (its PKRU must
/// then be recomputed, which drops the grant).
#[inline]
fn take_validate_grant(t: &threads::ThreadRecord) -> bool {
    let had = t.validate_grant.load(Ordering::Relaxed) != 0;
    if had {
        t.validate_grant.store(0, Ordering::Relaxed);
    }
    had
}

/// A synchronization object was destroyed.
/// An untracked block `[addr, addr + len)` is about to be freed.
pub fn on_untracked_free(addr: usize, len: usize) {
    if enabled() {
        hb::forget_range(addr, len);
    }
}

pub fn on_sync_destroyed(addr: usize) {
    if enabled() {
        hb::forget(addr);
    }
}

#[inline]
fn current_thread() -> Option<(u32, &'static threads::ThreadRecord)> {
    threads::current_or_register_record()
}

/// Parent side of `pthread_create`: reserves the child's record; the child
/// starts from the parent's clock.
pub fn on_thread_creating(parent: (u32, &threads::ThreadRecord)) -> Option<u32> {
    windows::sync_point(parent.1);
    recycle::before_create();
    let child = threads::reserve()?;
    hb::on_create(parent.0, parent.1, child);
    Some(child)
}

/// Parent side, after the real `pthread_create` succeeded.
pub fn on_thread_created(child: u32, handle: u64, detached: bool) {
    if RESTART_BACKGROUND.load(Ordering::Relaxed)
        && RESTART_BACKGROUND.swap(false, Ordering::AcqRel)
    {
        ensure_background();
    }
    if let Some(r) = threads::record(child) {
        r.pthread.store(handle, Ordering::Relaxed);
        r.detached.store(detached, Ordering::Release);
        threads::note_pthread(child, handle);
        let _ = r.state.compare_exchange(
            threads::STATE_FREE,
            threads::STATE_LIVE,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }
}

/// Child side, first thing in the new thread.
pub fn on_thread_start(child: u32) {
    threads::adopt(child);
    threads::record_stack_bounds(child);
    give_alt_stack(child);
    refresh_pkru();
}

/// Our SIGSEGV handler runs on an alternate stack (`SA_ONSTACK`): a thread
/// without one of its own gets one, so that a stack overflow in the program
/// reaches the handler (which passes it on: the program dies of its own
/// SIGSEGV) instead of faulting again on the exhausted stack.
fn give_alt_stack(id: u32) {
    let Some(rec) = threads::record(id) else {
        return;
    };
    let mut base = rec.alt_stack.load(Ordering::Acquire);
    if base == 0 {
        base = sys::map_alt_stack();
        rec.alt_stack.store(base, Ordering::Release);
    }
    sys::use_alt_stack(base);
}

/// The calling thread is exiting (its start routine returned or it called
/// `pthread_exit`).
pub fn on_thread_exit() {
    if let Some((_, rec)) = current_thread() {
        windows::close_everything(rec);
        open_robust_words_for_the_kernel(rec);
        sys::leave_alt_stack(rec.alt_stack.load(Ordering::Acquire));
        domains::retire_ordinal(rec.ordinal.load(Ordering::Relaxed));
        rec.state.store(threads::STATE_EXITED, Ordering::Release);
    }
}

/// When a thread exits holding robust mutexes, the kernel marks each lock
/// word FUTEX_OWNER_DIED, writing with the exiting thread's rights: a word
/// inside a tracked object the thread may not write (or, under `mprotect`,
/// on a closed page) would stay marked with the dead owner's tid and the
/// next locker would wait forever. So a thread that exits with a non-empty
/// robust list gives up its checks for the rest of its exit (its TSD
/// destructors run unchecked) with every key open, and under `mprotect`
/// the objects holding its lock words are opened for good (no longer
/// checked): a race can be missed there, never invented.
fn open_robust_words_for_the_kernel(rec: &threads::ThreadRecord) {
    let Some((head, offset, first, pending)) = sys::robust_list() else {
        return;
    };
    if first == head && pending == 0 {
        return;
    }
    rec.unchecked.store(true, Ordering::Release);
    if backend::is_mpk() {
        domains::apply_pkru(x86_check::Pkru(0));
        return;
    }
    let open_object_of = |entry: usize| {
        let word = entry.wrapping_add_signed(offset);
        for addr in [entry, word] {
            if let Some((id, o)) = registry::lookup(addr) {
                windows::open_for_good(id, o);
            }
        }
    };
    if pending != 0 {
        open_object_of(pending & !1);
    }
    // glibc marks PI entries with bit 0; a list longer than this is cut
    // short (its rest stays as it would have been).
    let mut entry = first;
    for _ in 0..1024 {
        let e = entry & !1;
        if e == head || e == 0 {
            break;
        }
        open_object_of(e);
        // SAFETY: `e` is an entry of this thread's robust list, and the
        // object holding it (if tracked) was just opened.
        entry = unsafe { sys::robust_next(e) };
    }
}

/// The calling thread is about to `clone` a thread that will run on its
/// TLS (no CLONE_SETTLS): the runtime cannot tell the two apart, so it
/// stops checking both (never guessing is better than a false report or a
/// hang), and opens every key so neither faults.
pub fn on_clone_sharing_tls() {
    if let Some((_, rec)) = current_thread() {
        rec.unchecked.store(true, Ordering::Release);
        windows::close_everything(rec);
    }
    domains::apply_pkru(x86_check::Pkru(0));
}

/// `pthread_detach` succeeded for `handle`: nobody will join it.
pub fn on_thread_detached(handle: u64) {
    if let Some(r) = threads::find_by_pthread(handle).and_then(threads::record) {
        r.detached.store(true, Ordering::Release);
    }
}

/// `pthread_join` returned 0 for `handle`.
pub fn on_thread_joined(handle: u64) {
    let Some((me, rec)) = current_thread() else {
        return;
    };
    windows::sync_point(rec);
    if let Some(t) = threads::find_by_pthread(handle) {
        if let Some(r) = threads::record(t) {
            r.joined_by.store(me + 1, Ordering::Release);
            hb::on_join(rec, r);
            drop_validate_grant((me, rec));
        }
    }
}

/// Private to `owner`, which has exited and was joined by `id`: the object
/// passes to `id`. Called from the fault handler and policy changes.
pub fn take_over_from_exited(keys: &Keys, id: u32, obj: &Object, owner: u32) -> bool {
    let (Some(r), Some(me)) = (threads::record(owner), threads::record(id)) else {
        return false;
    };
    if r.state.load(Ordering::Acquire) != threads::STATE_EXITED {
        return false;
    }
    // Joined by `id`, or the owner's whole life happens before `id` now.
    let (c, last) = hb::epoch(owner, r);
    if r.joined_by.load(Ordering::Acquire) != id + 1 && !hb::ordered_before(c, last, me) {
        return false;
    }
    let ok = obj
        .policy
        .compare_exchange(
            Policy::Private(owner).encode(),
            Policy::Private(id).encode(),
            Ordering::AcqRel,
            Ordering::Acquire,
        )
        .is_ok();
    ok && registry::set_policy_key(obj, keys.of_thread(id), None).is_ok()
}

// ---------------------------------------------------------------- the C API

/// A new tracked object, private to its creator (which starts the
/// background threads on first use).
fn new_object_origin(id: u32, rec: &threads::ThreadRecord) -> registry::Origin {
    ensure_background();
    registry::Origin {
        policy: Policy::Private(id),
        thread: id,
        stack: stack::intern(&stack::capture_here()),
        epoch: current_epoch(id, rec),
    }
}

/// The calling thread's current epoch, packed for `Object::change_epoch`.
fn current_epoch(id: u32, rec: &threads::ThreadRecord) -> u64 {
    let (c, ts) = hb::epoch(id, rec);
    registry::pack_epoch(c, ts)
}

/// With `halt_on_error`, ends the process once something was reported.
pub fn halt_if_reported() {
    if options().halt_on_error && report::total() > 0 {
        report::finish(None);
        run_dir::record(run_dir::State::Exited);
        sys::exit_now(options().exitcode);
    }
}

/// A tracked object private to the caller; 0 when it must be plain memory
/// (after noting why).
fn alloc_tracked(size: usize, zero: bool) -> usize {
    let (Some((id, rec)), Some(keys)) = (current_thread(), domains::keys()) else {
        return 0;
    };
    maps::flush_warnings();
    match registry::alloc(size, new_object_origin(id, rec), keys.of_thread(id), zero) {
        Ok((obj_id, base)) => {
            if backend::is_mprotect() {
                // The creator is about to write it: open it now rather than
                // at the first fault.
                if let Some(o) = registry::object(obj_id) {
                    windows::open_from_thread(rec, obj_id, o, windows::Access::ReadWrite);
                }
            }
            base
        }
        Err(e) => {
            UNTRACKED_FALLBACK.store(true, Ordering::Relaxed);
            match e {
                registry::AllocError::Budget => maps::note_untracked(),
                registry::AllocError::NoRoom => warn_untracked(),
            }
            0
        }
    }
}

/// Some allocation fell back to plain memory: annotations of untracked
/// pointers are then taken for annotations of such objects and ignored.
static UNTRACKED_FALLBACK: AtomicBool = AtomicBool::new(false);
static UNTRACKED_WARNED: AtomicBool = AtomicBool::new(false);

fn warn_untracked() {
    if !UNTRACKED_WARNED.swap(true, Ordering::Relaxed) {
        report::warn(
            "PUSh: warning: out of room for tracked objects (arena or system); further objects are allocated untracked\n",
        );
    }
}

/// `push_malloc`: a tracked object private to the caller, on a virtual page
/// of its own.
pub fn api_malloc(size: usize) -> *mut u8 {
    if !enabled() {
        // SAFETY: plain libc allocation.
        return unsafe { libc::malloc(size) }.cast();
    }
    match alloc_tracked(size, false) {
        // SAFETY: plain libc allocation.
        0 => unsafe { libc::malloc(size) }.cast(),
        p => p as *mut u8,
    }
}

pub fn api_calloc(n: usize, size: usize) -> *mut u8 {
    let Some(total) = n.checked_mul(size) else {
        sys::set_errno(libc::ENOMEM);
        return core::ptr::null_mut();
    };
    if !enabled() {
        // SAFETY: plain libc allocation.
        return unsafe { libc::calloc(n, size) }.cast();
    }
    match alloc_tracked(total, true) {
        // SAFETY: plain libc allocation.
        0 => unsafe { libc::calloc(n, size) }.cast(),
        p => p as *mut u8,
    }
}

/// `push_free` (and plain `free` of a tracked pointer).
///
/// # Safety
/// `ptr` is null, a tracked object, or a pointer libc's allocator may free.
pub unsafe fn api_free(ptr: *mut u8, api: Api) {
    if ptr.is_null() {
        return;
    }
    let addr = ptr as usize;
    if !enabled() || !registry::in_arena(addr) {
        // SAFETY: not ours: the pointer came from libc's allocator.
        unsafe { libc::free(ptr.cast()) };
        return;
    }
    match registry::lookup(addr) {
        Some((id, o)) if o.base() == addr => {
            hb::forget_range(addr, o.size());
            registry::free(id);
        }
        other => {
            capture::annotation_error(api, Refusal::Untracked, libc::EINVAL, addr, other);
        }
    }
}

/// `push_realloc`: keeps contents and policy.
///
/// # Safety
/// `ptr` is null, a tracked object, or a pointer libc's allocator may resize.
pub unsafe fn api_realloc(ptr: *mut u8, size: usize) -> *mut u8 {
    if ptr.is_null() {
        return api_malloc(size);
    }
    let addr = ptr as usize;
    if !enabled() || !registry::in_arena(addr) {
        // SAFETY: not ours: the pointer came from libc's allocator.
        return unsafe { libc::realloc(ptr.cast(), size) }.cast();
    }
    let Some((id, o)) = registry::lookup(addr).filter(|(_, o)| o.base() == addr) else {
        capture::annotation_error(Api::Realloc, Refusal::Untracked, libc::EINVAL, addr, None);
        return core::ptr::null_mut();
    };
    if size == 0 {
        registry::free(id);
        return core::ptr::null_mut();
    }
    if size <= o.capacity() {
        o.set_size(size);
        return ptr;
    }
    let old_size = o.size();
    let new = alloc_tracked(size, false);
    if new == 0 {
        // No room for a tracked object: the data moves to plain memory.
        // SAFETY: plain libc allocation.
        let plain: *mut u8 = unsafe { libc::malloc(size) }.cast();
        if plain.is_null() {
            return plain;
        }
        // SAFETY: the old object holds old_size bytes; the new block at least
        // size. Reading the old one with the caller's rights is realloc's access.
        unsafe { core::ptr::copy_nonoverlapping(ptr, plain, old_size.min(size)) };
        registry::free(id);
        return plain;
    }
    let Some((_, new_obj)) = registry::lookup(new) else {
        return core::ptr::null_mut();
    };
    // SAFETY: both ranges are live tracked objects of at least old_size bytes;
    // the new one is still private to the caller. Reading the old one with the
    // caller's rights is the access realloc makes.
    unsafe { core::ptr::copy_nonoverlapping(ptr, new as *mut u8, old_size.min(size)) };
    new_obj.copy_change(o);
    let _ = registry::set_policy_key(new_obj, o.policy_key(), None);
    registry::free(id);
    new as *mut u8
}

/// Registers a `PUSH_GLOBAL`, private to the calling (main) thread.
pub fn api_register_global(addr: usize, size: usize) {
    if !enabled() {
        return;
    }
    let (Some((id, rec)), Some(keys)) = (current_thread(), domains::keys()) else {
        return;
    };
    let Some(obj_id) = registry::register_global(addr, size, new_object_origin(id, rec)) else {
        capture::annotation_error(
            Api::RegisterGlobal,
            Refusal::Untracked,
            libc::EINVAL,
            addr,
            None,
        );
        return;
    };
    let span = sys::page_round_up(size);
    GLOBAL_LO.fetch_min(addr, Ordering::Relaxed);
    GLOBAL_HI.fetch_max(addr + span, Ordering::Relaxed);
    if let Some(o) = registry::object(obj_id) {
        let _ = registry::set_policy_key(o, keys.of_thread(id), None);
    }
}

/// May thread `id` change the policy of `obj` now?
fn may_change(keys: &Keys, id: u32, rec: &threads::ThreadRecord, obj: &Object) -> bool {
    match policy::change(obj.policy(), &fault::asker(id, rec)) {
        policy::Verdict::Allow => true,
        policy::Verdict::Deny => false,
        policy::Verdict::OwnerMayHaveExited(owner) => take_over_from_exited(keys, id, obj, owner),
    }
}

/// The policy calls: checks who may change, then sets policy and key.
pub fn api_set_policy(api: Api, obj_ptr: usize, new: Policy) -> i32 {
    if !enabled() {
        return 0;
    }
    let (Some((id, rec)), Some(keys)) = (current_thread(), domains::keys()) else {
        return 0;
    };
    // A policy change is a synchronization of the changer's.
    windows::sync_point(rec);
    let Some((obj_id, obj)) = registry::lookup(obj_ptr) else {
        if UNTRACKED_FALLBACK.load(Ordering::Relaxed) && !registry::in_arena(obj_ptr) {
            // Most likely an object allocated untracked past the budget.
            return 0;
        }
        return capture::annotation_error(api, Refusal::Untracked, libc::EINVAL, obj_ptr, None);
    };
    if api == Api::Acquire {
        if let Some(Policy::Private(owner)) = obj.policy() {
            if owner == id {
                return 0;
            }
        }
    }
    if !may_change(keys, id, rec, obj) {
        return capture::annotation_error(
            api,
            Refusal::NotAllowed,
            libc::EPERM,
            obj_ptr,
            Some((obj_id, obj)),
        );
    }
    // Rule 1: a change must happen after the previous one, unless the same
    // thread made both.
    let prev_thread = obj.change_thread();
    if prev_thread != id {
        let (c, ts) = registry::unpack_epoch(obj.change_epoch.load(Ordering::Acquire));
        if !hb::ordered_before(c, ts, rec) {
            capture::unordered_change(api, obj_ptr, (obj_id, obj), (id, rec));
        }
    }
    let key = match new {
        Policy::Private(t) => keys.of_thread(t),
        Policy::ReadOnly => keys.readonly,
        Policy::ProtectedBy(lock) => {
            domains::add_protecting(lock);
            keys.of_lock(lock)
        }
        Policy::Released => keys.noaccess,
        Policy::Racy => 0,
    };
    obj.policy.store(new.encode(), Ordering::Release);
    obj.record_change(
        id,
        stack::intern(&stack::capture_here()),
        api.code(),
        current_epoch(id, rec),
    );
    // Rule 2 is checked at the first access by another thread that the new
    // policy lets in: until then the object sits on the `validate` key
    // (not with `hb=0`: nothing would be checked).
    // Not needed when the changer holds the new protecting lock exclusively:
    // anyone else must take it after this thread's release.
    let others_may_access = options().hb
        && match new {
            Policy::Private(t) => t != id,
            Policy::ReadOnly => true,
            Policy::ProtectedBy(lock) => rec.holds(lock) != Some(true),
            Policy::Released | Policy::Racy => false,
        };
    let pending_key = if new == Policy::ReadOnly {
        keys.validate_read
    } else {
        keys.validate
    };
    match registry::set_policy_key(obj, key, others_may_access.then_some(pending_key)) {
        // Out of mappings: the object keeps its key and the fault handler
        // enforces the new policy at every access.
        Err(libc::ENOMEM) => maps::flush_warnings(),
        Err(e) => return e,
        Ok(()) => {}
    }
    if let Policy::ProtectedBy(lock) = new {
        if rec.holds(lock).is_some() {
            // The lock's key is new: refresh the cached keys of held locks.
            domains::apply_pkru(keys.pkru_fresh(id, rec));
        }
    }
    0
}

pub fn api_protected_by(obj: usize, lock: usize) -> i32 {
    if !enabled() {
        return 0;
    }
    if lock == 0 {
        return capture::annotation_error(
            Api::ProtectedBy,
            Refusal::NullLock,
            libc::EINVAL,
            obj,
            None,
        );
    }
    api_set_policy(Api::ProtectedBy, obj, Policy::ProtectedBy(lock))
}

pub fn api_transfer(obj: usize, to: u64) -> i32 {
    if !enabled() {
        return 0;
    }
    let target = threads::find_by_pthread(to).filter(|&t| {
        threads::record(t).is_some_and(|r| r.state.load(Ordering::Acquire) == threads::STATE_LIVE)
    });
    match target {
        Some(t) => api_set_policy(Api::Transfer, obj, Policy::Private(t)),
        None => capture::annotation_error(
            Api::Transfer,
            Refusal::NoThread,
            libc::EINVAL,
            obj,
            registry::lookup(obj),
        ),
    }
}

pub fn api_acquire(obj: usize) -> i32 {
    let Some((id, _)) = current_thread() else {
        return 0;
    };
    api_set_policy(Api::Acquire, obj, Policy::Private(id))
}

pub fn api_private(obj: usize) -> i32 {
    let Some((id, _)) = current_thread() else {
        return 0;
    };
    api_set_policy(Api::Private, obj, Policy::Private(id))
}

/// `push_lock_acquired` for custom locks.
pub fn api_lock_acquired(lock: usize, exclusive: bool) {
    if let (true, Some(t)) = (enabled(), current_thread()) {
        let kind = if exclusive {
            LockKind::Write
        } else {
            LockKind::Read
        };
        on_lock_acquired(t, lock, kind, false);
    }
}

/// `push_lock_released` for custom locks.
pub fn api_lock_released(lock: usize) {
    if !enabled() {
        return;
    }
    let Some(t) = current_thread() else { return };
    if t.1.holds(lock).is_none() && !t.1.overflowed() {
        capture::annotation_error(
            Api::LockReleased,
            Refusal::NotHeld,
            libc::EINVAL,
            lock,
            None,
        );
        return;
    }
    if on_lock_releasing(t, lock, LockKind::Write) {
        refresh_pkru_of(t.0, t.1);
    }
}

/// Process exit (atexit, `_exit`): prints pending reports and the summary;
/// returns the exit status to use instead of the program's, if any.
pub fn on_exit() -> Option<i32> {
    if EXITING.swap(true, Ordering::AcqRel) || !INIT_DONE.load(Ordering::Acquire) {
        return None;
    }
    maps::flush_warnings();
    let stats = options().verbose.then(stats);
    report::finish(stats);
    run_dir::record(run_dir::State::Exited);
    (report::total() > 0).then(|| options().exitcode)
}

/// Before `fork`: take the runtime's locks so the child gets them free.
pub fn on_fork_prepare() {
    report::before_fork();
    barriers::before_fork();
    hb::before_fork();
    if enabled() {
        registry::before_fork();
    }
}

/// After `fork`, in the parent.
pub fn on_fork_parent() {
    report::after_fork_parent();
    if enabled() {
        registry::after_fork_parent();
    }
    hb::after_fork();
    barriers::after_fork();
}

/// A forked child: only the forking thread survives.
pub fn on_fork_child() {
    let private = !enabled() || registry::after_fork_child();
    if enabled() {
        windows::after_fork_child();
    }
    hb::after_fork();
    barriers::after_fork();
    report::after_fork_child();
    EXITING.store(false, Ordering::Release);
    if !private {
        report::warn(
            "PUSh: warning: could not copy tracked objects for this forked child; \
             it shares small tracked objects with its parent\n",
        );
    }
    // The background threads did not survive the fork: they restart when
    // the child tracks an object or creates a thread (a child that only
    // execs or exits never pays for them).
    if BACKGROUND_STARTED.swap(false, Ordering::AcqRel) {
        RESTART_BACKGROUND.store(true, Ordering::Release);
    }
}

/// Set in a forked child whose parent ran the background threads.
static RESTART_BACKGROUND: AtomicBool = AtomicBool::new(false);

fn stats() -> String {
    let (sync_objects, clock_bytes) = hb::footprint();
    let thread_clock_bytes = threads::count() as usize
        * (hb::VC_LEN * core::mem::size_of::<u64>() + core::mem::size_of::<u32>());
    let rehash = if options().rehash_ms > 0 && backend::is_mpk() {
        rehash::stats()
    } else {
        String::new()
    };
    let secs = START
        .get()
        .map_or(0.0, |t| t.elapsed().as_secs_f64())
        .max(1e-6);
    let faults = fault::FAULTS.load(Ordering::Relaxed);
    let mprotects = backend::MPROTECT_CALLS.load(Ordering::Relaxed);
    let backend_line = format!(
        "PUSh: stats: backend={} run_s={secs:.3} faults_per_s={:.0} mprotect_calls={mprotects} mprotect_calls_per_s={:.0}\n",
        backend::current().map_or("none", |b| b.name()),
        faults as f64 / secs,
        mprotects as f64 / secs,
    );
    format!(
        "{backend_line}{rehash}{}PUSh: stats: threads={} thread_records={} recycled_records={} live_objects={} faults={} silent_fixes={} changer_read_grants={} suppressed={}\n\
         PUSh: stats: sync_objects_with_clocks={} sync_clock_bytes={} thread_clock_bytes={}\n",
        maps::stats(),
        threads::created(),
        threads::count(),
        recycle::RECYCLED.load(Ordering::Relaxed),
        registry::LIVE_OBJECTS.load(Ordering::Relaxed),
        faults,
        fault::SILENT_FIXES.load(Ordering::Relaxed),
        fault::CHANGER_READ_GRANTS.load(Ordering::Relaxed),
        report::SUPPRESSED.load(Ordering::Relaxed),
        sync_objects,
        clock_bytes,
        thread_clock_bytes,
    )
}

pub use threads::enter;
