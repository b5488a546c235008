//! PUSh core runtime: tracked objects with sharing policies, enforced per
//! thread with protection keys; a forbidden access faults and is reported.
//!
//! The model (docs/model.md): every tracked object has one policy — private to a
//! thread, read-only, protected by a lock, released, or racy — kept in the
//! [`registry`]. The [`domains`] module maps owners (threads, locks) to
//! protection keys and derives each thread's PKRU from its own domain and
//! the locks it holds. The [`fault`] handler treats a key fault as a hint:
//! the policy decides whether it is a race ([`report`] says so). Policy
//! changes are themselves checked with happens-before ([`validate`]). The hooks
//! of the `preload` crate call the `on_*` functions: lock and
//! synchronization hooks in `locks`, thread and fork hooks in `lifecycle`;
//! the C API calls the `api_*` functions of `api`. This file holds
//! start-up, the background threads, PKRU refresh and exit.
//!
//! Unsafe code lives in `sys` only (see its doc for the invariants each
//! submodule keeps); the rest of the crate is under `deny(unsafe_code)`.
//!
//! # Layers
//!
//! Top-level modules, each importing only from the layers before it
//! (within a layer, in the order listed):
//!
//! 1. `sys`, `options`, `hashing`, `backend`, `barriers`, `clock_index`,
//!    `limits` (the capacities of a thread record), `counters` (event
//!    counters for the summary and the stats), `maps` (the mapping budget),
//!    `window_words` (each object's window word under `mprotect` and the
//!    page protection it and the key call for);
//! 2. `threads` (the thread records);
//! 3. `registry` (tracked objects and their policies);
//! 4. `domains` (owners and keys), `windows` (the `mprotect` backend's
//!    access windows);
//! 5. `policy`, `hb`, `registration` (reserving, adopting and recycling
//!    thread records with their owner ordinal and clock), `stack`,
//!    `rehash`, `recycle`;
//! 6. `report`;
//! 7. `validate` (the happens-before checks of policy changes), `access`
//!    (may this thread make this access or change now), `objects` (new
//!    tracked objects), `phases`, `change` (making a policy change);
//! 8. `locks` (the lock and synchronization hooks), `auto` (the
//!    annotation-free mode: its allocation entry and the fault handler's
//!    learning), `fault`;
//! 9. `exec_note`, `run_dir`;
//! 10. `lifecycle`, `api`; then this file.
//!
//! One back-edge remains (a lower layer naming a higher one), and why:
//!
//! * `sys::zeroable` implements its unsafe `Zeroable` trait for types of
//!   `threads`, `registry`, `hb`, `domains`, `stack`, `report` and `auto`:
//!   the impls are unsafe, so they must live in `sys`.
//!
//! Besides, every layer may read the runtime's state kept in this file
//! (`enabled()`, `options()`, the global range, `refresh_pkru_of`).
//!
//! Former back-edges, now cut: registering a thread (its record with its owner ordinal
//! and clock) is `registration`'s, above `threads`, `domains` and `hb`;
//! the page protection that key changes and windows share is
//! `window_words`'s, below `registry` and `windows` (it sees an object
//! through its `ObjectPages` trait, and the read-only key through
//! `backend`); the unwatched-program notes `exec_note` writes are read
//! back by `run_dir`.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod access;
pub mod auto;
pub mod backend;
pub mod barriers;
pub mod clock_index;
pub mod counters;
pub use sys::defaults;
pub mod domains;
pub mod exec_note;
pub mod fault;
pub mod hashing;
pub mod hb;
#[cfg(test)]
mod hb_oracle;
pub mod limits;
pub mod maps;
pub mod objects;
pub mod options;
pub use sys::own_alloc;
pub mod phases;
pub mod policy;
pub use sys::real;
pub mod recycle;
pub mod registration;
pub mod registry;
pub mod rehash;
pub mod report;
pub mod run_dir;
pub mod stack;
#[allow(unsafe_code)]
pub mod sys;
pub mod threads;
pub mod validate;
pub mod window_words;
pub mod windows;

mod api;
mod change;
mod lifecycle;
mod locks;
pub use access::take_over_from_exited;
pub use api::*;
pub use change::apply_registered;
pub use lifecycle::*;
pub use locks::*;

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use options::Options;
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
    if chosen == backend::Backend::Mpk {
        // choose_backend saw CPU and kernel support (OSPKE).
        sys::pkru::mark_usable();
    }
    let seed = if opts.seed != 0 {
        opts.seed
    } else {
        sys::random_u64() | 1
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
    sys::real_alloc::resolve_now();
    if opts.auto && !auto::init(opts.sample_ppm, seed, opts.auto_budget) {
        return Err(Disabled::Failed(
            "could not reserve the annotation-free mode's tables".into(),
        ));
    }
    if !opts.auto && chosen == backend::Backend::Mprotect {
        auto::budget::set_mprotect_share(opts.mprotect_budget);
    }
    maps::init(options().max_maps);
    stack::set_self_range(self_range.0, self_range.1);
    let main = registration::reserve().unwrap_or(0);
    registration::adopt(main);
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
    if !BACKGROUND_STARTED.load(Ordering::Acquire)
        && !BACKGROUND_STARTED.swap(true, Ordering::AcqRel)
    {
        auto::budget::start_sweeper();
        if backend::is_mpk() {
            // Under `mprotect` every closed page faults for every thread: no
            // key is shared, so there is nothing to re-draw.
            rehash::start(options().rehash_ms);
        }
    }
}

/// Sets the calling thread's PKRU to what its domain and held locks grant.
#[inline]
pub fn refresh_pkru() {
    if let Some((id, rec)) = registration::current_or_register_record() {
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
    let t = registration::hook_thread();
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

/// With `halt_on_error`, ends the process once something was reported.
pub fn halt_if_reported() {
    if options().halt_on_error && report::total() > 0 {
        report::finish(None);
        run_dir::record(run_dir::State::Exited);
        sys::exit_now(options().exitcode);
    }
}

/// Process exit (atexit, `_exit`): prints pending reports and the summary;
/// returns the exit status to use instead of the program's, if any.
pub fn on_exit() -> Option<i32> {
    if EXITING.swap(true, Ordering::AcqRel) || !INIT_DONE.load(Ordering::Acquire) {
        return None;
    }
    report::flush_map_warnings();
    let stats = options().verbose.then(stats);
    report::finish(stats);
    run_dir::record(run_dir::State::Exited);
    (report::total() > 0).then(|| options().exitcode)
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
    let faults = counters::FAULTS.load(Ordering::Relaxed);
    let mprotects = backend::MPROTECT_CALLS.load(Ordering::Relaxed);
    let backend_line = format!(
        "PUSh: stats: backend={} run_s={secs:.3} faults_per_s={:.0} mprotect_calls={mprotects} mprotect_calls_per_s={:.0}\n",
        backend::current().map_or("none", |b| b.name()),
        faults as f64 / secs,
        mprotects as f64 / secs,
    );
    let auto = auto::stats_line()
        .or_else(auto::budget::mprotect_stats)
        .map(|l| format!("PUSh: stats: {l}\n"))
        .unwrap_or_default();
    format!(
        "{backend_line}{rehash}{auto}{}PUSh: stats: threads={} thread_records={} recycled_records={} live_objects={} faults={} silent_fixes={} reapplied_keys={} changer_read_grants={} suppressed={}\n\
         PUSh: stats: sync_objects_with_clocks={} sync_clock_bytes={} thread_clock_bytes={}\n",
        maps::stats(),
        threads::created(),
        threads::count(),
        recycle::RECYCLED.load(Ordering::Relaxed),
        counters::LIVE_OBJECTS.get(),
        faults,
        counters::SILENT_FIXES.load(Ordering::Relaxed),
        counters::REAPPLIED_KEYS.load(Ordering::Relaxed),
        validate::CHANGER_READ_GRANTS.load(Ordering::Relaxed),
        report::SUPPRESSED.load(Ordering::Relaxed),
        sync_objects,
        clock_bytes,
        thread_clock_bytes,
    )
}

pub use threads::enter;
