//! Reports: captured raw in the fault handler, symbolized and printed outside it.
//!
//! The handler fills a [`RawReport`] (plain integers, no allocation) into a
//! fixed queue and wakes the reporter thread, which symbolizes the stacks
//! (`backtrace` + `dladdr`), applies suppressions, and prints text or JSON.
//! Reports raised in ordinary context (annotation errors) are printed at once
//! by the calling thread. One mutex serialises printing; the handler never
//! takes it. See `docs/reports.md` for the formats.

use crate::options::{Options, ReportFormat};
use crate::registry::Policy;
use crate::stack::{self, Stack};
use crate::sys::{self, FixedArray};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::fmt::Write as _;
use std::sync::OnceLock;

pub const KIND_RACE: u8 = 1;
pub const KIND_UNORDERED: u8 = 2;
pub const KIND_ANNOTATION: u8 = 3;

/// API calls named in annotation errors.
pub const API_NAMES: &[&str] = &[
    "allocation",
    "push_malloc",
    "push_calloc",
    "push_realloc",
    "push_free",
    "push_private",
    "push_readonly",
    "push_protected_by",
    "push_transfer",
    "push_release",
    "push_acquire",
    "push_racy",
    "push_register_global",
    "free",
    "push_lock_released",
];

/// Why an annotation was refused.
pub const REASONS: &[&str] = &[
    "",
    "not a tracked object",
    "the caller may not change this object's policy",
    "not a live thread",
    "the object is not released",
    "a null lock",
    "out of tracked memory",
    "not a lock held by the caller",
];

/// Everything a report needs, captured without allocation.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct RawReport {
    pub seq: u64,
    pub kind: u8,
    pub is_write: u8,
    pub api: u8,
    pub reason: u8,
    pub errno: i32,
    pub thread: u32,
    pub tid: i32,
    pub addr: usize,
    pub arg2: usize,
    pub stack: Stack,
    pub has_obj: u8,
    pub obj_id: u32,
    pub obj_base: usize,
    pub obj_size: usize,
    pub policy: u64,
    pub alloc_thread: u32,
    pub alloc_stack: u32,
    pub nholders: u32,
    pub holders: [u32; 4],
    /// Unordered policy changes: the earlier change (thread, stack id).
    pub has_other: u8,
    pub other_thread: u32,
    pub other_stack: u32,
    pub other_api: u8,
    /// The rehash period the report was raised in.
    pub period: u64,
    /// The name of the thread `tid` (its `comm`: what `pthread_setname_np`
    /// set, 15 bytes at most, NUL-padded), captured when the report is
    /// raised; all zero when unknown.
    pub thread_name: [u8; 16],
}

/// Fills `r.thread_name` when `r` is raised by the thread it names: one
/// `prctl(PR_GET_NAME)` into the report itself. Async-signal-safe (a system
/// call, no allocation; `errno` is preserved).
fn capture_thread_name(r: &mut RawReport) {
    if r.tid == 0 || r.tid != sys::gettid() || r.thread_name[0] != 0 {
        return;
    }
    let saved = sys::errno();
    let mut name = [0u8; 16];
    // SAFETY: PR_GET_NAME writes at most 16 bytes (NUL included) into `name`.
    if unsafe { libc::prctl(libc::PR_GET_NAME, name.as_mut_ptr()) } == 0 {
        name[15] = 0;
        r.thread_name = name;
    }
    sys::set_errno(saved);
}

/// The captured thread name, if any.
fn thread_name(r: &RawReport) -> Option<String> {
    let len = r.thread_name.iter().position(|&b| b == 0).unwrap_or(16);
    (len > 0).then(|| String::from_utf8_lossy(&r.thread_name[..len]).into_owned())
}

/// `T1 "name" (tid 4243)`: the reporting thread as the text format shows it.
fn thread_text(r: &RawReport) -> String {
    match thread_name(r) {
        Some(name) => format!("{} {name:?} (tid {})", tname(r.thread), r.tid),
        None => format!("{} (tid {})", tname(r.thread), r.tid),
    }
}

struct Slot {
    state: AtomicU32,
    report: UnsafeCell<RawReport>,
}

// SAFETY: `report` is written only by the producer that moved `state` from
// EMPTY to WRITING, and read only by the consumer that sees READY (Acquire),
// under the print mutex; the state word orders the two.
unsafe impl Sync for Slot {}

const EMPTY: u32 = 0;
const WRITING: u32 = 1;
const READY: u32 = 2;
const QUEUE_LEN: usize = 256;

static QUEUE: OnceLock<FixedArray<Slot>> = OnceLock::new();
static SEQ: AtomicU32 = AtomicU32::new(0);
static DONE: AtomicU32 = AtomicU32::new(0);
static DROPPED: AtomicU32 = AtomicU32::new(0);
static REPORTER_RUNNING: AtomicBool = AtomicBool::new(false);
/// The reporter is (about to be) asleep on SEQ: producers must wake it.
static REPORTER_ASLEEP: AtomicBool = AtomicBool::new(true);
static NEXT_SEQ: AtomicU64 = AtomicU64::new(1);

pub static RACES: AtomicU32 = AtomicU32::new(0);
pub static UNORDERED: AtomicU32 = AtomicU32::new(0);
pub static ANNOTATIONS: AtomicU32 = AtomicU32::new(0);
pub static SUPPRESSED: AtomicU32 = AtomicU32::new(0);

/// Dedup set of (object, pc) pairs already reported.
const DEDUP_LEN: usize = 1 << 16;
static DEDUP: OnceLock<FixedArray<AtomicU64>> = OnceLock::new();

struct Printer {
    opts: Options,
    suppressions: Vec<Suppression>,
    log_fd: i32,
    log_pid: i32,
    /// The run directory every report is also written to (`PUSH_RUN_DIR`,
    /// else the `run_dir` option), as JSON lines in `<dir>/<pid>.reports`.
    run_dir: Option<String>,
    /// Under `push run`: the launcher prints the run's SUMMARY.
    launcher_sums_up: bool,
    collect_fd: i32,
    collect_pid: i32,
    /// `report_format=sarif` without a run directory: the reports, for the
    /// SARIF log written at exit.
    kept: Vec<serde_json::Value>,
}

/// One suppression line: `kind:pattern`, where it came from, and how many
/// reports it hid.
pub struct Suppression {
    pub kind: u8,
    pub pattern: String,
    pub source: String,
    pub hits: u32,
}

/// A futex lock, not parking_lot's: a fork child must be able to release it
/// even when another thread was parked on it (parking_lot may hand the lock
/// to that waiter, who does not exist in the child: the child then hung).
static PRINTER: sys::FutexMutex<Option<Printer>> = sys::FutexMutex::new(None);
static OUT_FD: AtomicI32 = AtomicI32::new(2);

pub fn init(opts: &Options) -> Result<(), String> {
    // SAFETY: Slot is valid when zero (an empty slot of integers).
    let q = unsafe { FixedArray::<Slot>::new(QUEUE_LEN) }.ok_or("cannot map report queue")?;
    // SAFETY: AtomicU64 is valid when zero (an empty entry).
    let d = unsafe { FixedArray::<AtomicU64>::new(DEDUP_LEN) }.ok_or("cannot map dedup set")?;
    let _ = QUEUE.set(q);
    let _ = DEDUP.set(d);
    let mut suppressions = match &opts.suppressions {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("option 'suppressions': cannot read '{path}': {e}"))?;
            parse_suppressions(path, &text)?
        }
        None => Vec::new(),
    };
    if let Some(text) = crate::defaults::program_string("push_default_suppressions") {
        suppressions.extend(parse_suppressions("push_default_suppressions()", &text)?);
    }
    let from_env = std::env::var(crate::run_dir::ENV).ok();
    *PRINTER.lock() = Some(Printer {
        opts: opts.clone(),
        suppressions,
        log_fd: -1,
        log_pid: 0,
        launcher_sums_up: from_env.is_some(),
        run_dir: from_env.or_else(|| opts.run_dir.clone()),
        collect_fd: -1,
        collect_pid: 0,
        kept: Vec::new(),
    });
    Ok(())
}

/// Parses suppressions in ThreadSanitizer's format: one `kind:pattern` a
/// line, `#` comments, blank lines ignored. `origin` names the text in
/// errors (`FILE:LINE`).
///
/// # Errors
/// A message naming the first malformed line.
pub fn parse_suppressions(origin: &str, text: &str) -> Result<Vec<Suppression>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((kind, pat)) = line.split_once(':') else {
            return Err(format!(
                "{origin}:{}: expected KIND:PATTERN, got '{line}'",
                n + 1
            ));
        };
        let kind = match kind.trim() {
            "race" => KIND_RACE,
            "policy" => KIND_UNORDERED,
            "annotation" => KIND_ANNOTATION,
            k => {
                return Err(format!(
                    "{origin}:{}: unknown suppression kind '{k}' (race, policy, annotation)",
                    n + 1
                ))
            }
        };
        let pattern = pat.trim().to_string();
        if pattern.is_empty() || pattern == "^" || pattern == "$" {
            return Err(format!(
                "{origin}:{}: empty pattern in '{line}' (it would hide every report)",
                n + 1
            ));
        }
        out.push(Suppression {
            kind,
            pattern,
            source: format!("{origin}:{}", n + 1),
            hits: 0,
        });
    }
    Ok(out)
}

/// ThreadSanitizer's pattern match: `pattern` is found anywhere in `s`;
/// `*` matches any characters, a leading `^` anchors it at the start and a
/// trailing `$` at the end.
pub fn template_match(pattern: &str, s: &str) -> bool {
    let (start_anchor, p) = match pattern.strip_prefix('^') {
        Some(p) => (true, p),
        None => (false, pattern),
    };
    let (end_anchor, p) = match p.strip_suffix('$') {
        Some(p) => (true, p),
        None => (false, p),
    };
    let parts: Vec<&str> = p.split('*').collect();
    let mut pos = 0;
    for (i, part) in parts.iter().enumerate() {
        if part.is_empty() {
            continue;
        }
        let last = i == parts.len() - 1;
        if i == 0 && start_anchor {
            if !s.starts_with(part) {
                return false;
            }
            pos = part.len();
        } else if last && end_anchor {
            if s.len() < pos + part.len() || !s.ends_with(part) {
                return false;
            }
            pos = s.len();
        } else {
            match s[pos..].find(part) {
                Some(k) => pos += k + part.len(),
                None => return false,
            }
        }
    }
    // `^$`-anchored patterns without a trailing `*` must end the string.
    !end_anchor || pos == s.len() || p.ends_with('*')
}

/// Returns true the first time (object, pc) is seen. Async-signal-safe.
pub fn first_time(obj: u32, pc: usize) -> bool {
    let Some(d) = DEDUP.get() else { return true };
    let key = crate::domains::mix(((obj as u64) << 48) ^ pc as u64) | 1;
    let mut i = key as usize % DEDUP_LEN;
    for _ in 0..32 {
        let e = d.get(i).expect("in range");
        match e.compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return true,
            Err(v) if v == key => return false,
            Err(_) => i = (i + 1) % DEDUP_LEN,
        }
    }
    true
}

/// How long, in all, a faulting thread waits for room in a full queue
/// before it drops its report. Bounded: the reporter could need a lock the
/// faulting thread holds (stdio, say), and a correct program must not hang.
const FULL_QUEUE_WAIT_MS: u64 = 2_000;

/// Set when a wait for room timed out: later reports do not wait (the
/// reporter is stuck, not slow); cleared when it prints again.
static REPORTER_STUCK: AtomicBool = AtomicBool::new(false);

/// Queues a report from signal context and wakes the reporter. When the
/// queue is full (the reporter is behind, e.g. on a busy machine), waits
/// for it to make room, up to [`FULL_QUEUE_WAIT_MS`]. Returns the report's
/// sequence number, or None if it was dropped (counted in `dropped`).
pub fn enqueue(r: &RawReport) -> Option<u32> {
    let q = QUEUE.get()?;
    let mut waited_ms = 0;
    loop {
        if let Some(s) = try_enqueue(q, r) {
            return Some(s);
        }
        let can_wait = REPORTER_RUNNING.load(Ordering::Acquire)
            && !REPORTER_STUCK.load(Ordering::Relaxed)
            && waited_ms < FULL_QUEUE_WAIT_MS;
        if !can_wait {
            if waited_ms >= FULL_QUEUE_WAIT_MS {
                REPORTER_STUCK.store(true, Ordering::Relaxed);
            }
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        // The reporter empties slots before it prints them and bumps DONE
        // after: a change of DONE (or 5 ms) is the time to look again.
        let done = DONE.load(Ordering::Acquire);
        sys::futex_wake(&SEQ);
        sys::futex_wait(&DONE, done, 5);
        waited_ms += 5;
    }
}

fn try_enqueue(q: &FixedArray<Slot>, r: &RawReport) -> Option<u32> {
    let seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
    let start = (seq as usize) % QUEUE_LEN;
    for k in 0..QUEUE_LEN {
        let slot = q.get((start + k) % QUEUE_LEN)?;
        if slot
            .state
            .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            // SAFETY: we own the slot (EMPTY -> WRITING) until we publish READY.
            unsafe {
                let dst = slot.report.get();
                *dst = *r;
                (*dst).seq = seq;
                capture_thread_name(&mut *dst);
            }
            slot.state.store(READY, Ordering::Release);
            // SeqCst pairs with the reporter's store of REPORTER_ASLEEP
            // before its futex wait on SEQ (store, then load, on both sides).
            let s = SEQ.fetch_add(1, Ordering::SeqCst) + 1;
            if REPORTER_ASLEEP.load(Ordering::SeqCst) {
                sys::futex_wake(&SEQ);
            }
            return Some(s);
        }
    }
    None
}

/// From signal context: waits until the reporter has printed everything up to
/// `seq` (at most `timeout_ms`). Returns false if nobody printed it.
pub fn wait_printed(seq: u32, timeout_ms: u64) -> bool {
    if !REPORTER_RUNNING.load(Ordering::Acquire) {
        return false;
    }
    let mut waited = 0;
    loop {
        let done = DONE.load(Ordering::Acquire);
        if done >= seq {
            return true;
        }
        if waited >= timeout_ms {
            return false;
        }
        sys::futex_wait(&DONE, done, 50);
        waited += 50;
    }
}

/// Starts the reporter thread if it is not running. Ordinary context only.
pub fn ensure_reporter() {
    if REPORTER_RUNNING.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("push-reporter".into())
        .stack_size(1 << 20)
        .spawn(|| {
            crate::threads::mark_internal();
            loop {
                REPORTER_ASLEEP.store(false, Ordering::Release);
                let seen = SEQ.load(Ordering::Acquire);
                drain();
                REPORTER_ASLEEP.store(true, Ordering::SeqCst);
                // A report queued after `seen` changes SEQ, so the wait returns.
                sys::futex_wait(&SEQ, seen, 0);
            }
        });
    if spawned.is_err() {
        REPORTER_RUNNING.store(false, Ordering::Release);
    }
}

/// With `halt_on_error`: a report was queued from the signal handler that
/// no reporter printed; ordinary context prints it and stops.
pub static HALT_PENDING: AtomicBool = AtomicBool::new(false);

/// In a forked child: the reporter thread did not survive the fork.
/// Before `fork`: holds the printer, so the child does not inherit it held
/// by the reporter thread (which does not exist there: the child would
/// block at exit). Taken before every other runtime lock.
pub fn before_fork() {
    PRINTER.lock_for_fork();
}

/// After `fork`, in the parent: releases what `before_fork` held.
pub fn after_fork_parent() {
    // SAFETY: before_fork locked PRINTER on this thread.
    unsafe { PRINTER.unlock_after_fork() };
}

/// After `fork`, in the child: releases the printer and drops the reports
/// still queued (the parent prints them; the child would print them again
/// under its own pid).
pub fn after_fork_child() {
    REPORTER_RUNNING.store(false, Ordering::Release);
    // SAFETY: before_fork locked PRINTER in the forking thread (this one).
    unsafe { PRINTER.unlock_after_fork() };
    if let Some(q) = QUEUE.get() {
        for i in 0..QUEUE_LEN {
            if let Some(slot) = q.get(i) {
                let _ =
                    slot.state
                        .compare_exchange(READY, EMPTY, Ordering::AcqRel, Ordering::Relaxed);
            }
        }
    }
}

/// Prints every queued report. Ordinary context only.
pub fn drain() {
    let Some(q) = QUEUE.get() else { return };
    let mut batch: Vec<RawReport> = Vec::new();
    let mut guard = PRINTER.lock();
    for i in 0..QUEUE_LEN {
        let Some(slot) = q.get(i) else { continue };
        if slot.state.load(Ordering::Acquire) == READY {
            // SAFETY: READY slots are complete and only consumed under PRINTER.
            batch.push(unsafe { *slot.report.get() });
            slot.state.store(EMPTY, Ordering::Release);
        }
    }
    batch.sort_by_key(|r| r.seq);
    let n = batch.len() as u32;
    let before = total();
    if let Some(p) = guard.as_mut() {
        for r in &batch {
            p.print(r);
        }
    }
    drop(guard);
    if total() > before {
        // With halt_on_error this ends the process before the faulting
        // thread, waiting for DONE, can go on.
        crate::halt_if_reported();
    }
    if n > 0 {
        REPORTER_STUCK.store(false, Ordering::Relaxed);
        DONE.fetch_add(n, Ordering::AcqRel);
        sys::futex_wake(&DONE);
    }
}

/// Prints a report raised in ordinary context (annotation errors) at once.
pub fn report_now(r: &RawReport) {
    drain();
    let mut guard = PRINTER.lock();
    if let Some(p) = guard.as_mut() {
        let mut r = *r;
        r.seq = NEXT_SEQ.fetch_add(1, Ordering::Relaxed);
        capture_thread_name(&mut r);
        p.print(&r);
    }
}

/// Total reports that count toward the exit status.
pub fn total() -> u32 {
    RACES.load(Ordering::Relaxed)
        + UNORDERED.load(Ordering::Relaxed)
        + ANNOTATIONS.load(Ordering::Relaxed)
}

fn backend_name() -> &'static str {
    crate::backend::current().map_or("none", |b| b.name())
}

/// The backend as the SUMMARY names it, with the protection keys PUSh gave
/// to the program (fewer domains for PUSh).
pub fn backend_label() -> String {
    match crate::domains::keys_given_to_program() {
        0 => backend_name().to_string(),
        n => format!(
            "{}, {n} protection key{} given to the program",
            backend_name(),
            if n == 1 { "" } else { "s" }
        ),
    }
}

/// The summary line of a run that reported `total` reports (`r` data
/// races, `u` unordered policy changes, `a` annotation errors) under
/// `backend` (as [`backend_label`] writes it).
pub fn summary_text(total: u64, r: u64, u: u64, a: u64, backend: &str) -> String {
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "SUMMARY: PUSh: {} ({}, {}, {}) [backend {backend}]",
        plural(total, "report", "reports"),
        plural(r, "data race", "data races"),
        plural(u, "unordered policy change", "unordered policy changes"),
        plural(a, "annotation error", "annotation errors"),
    )
}

/// The suppression kind as written in a suppressions file.
pub fn suppression_kind_name(k: u8) -> &'static str {
    match k {
        KIND_RACE => "race",
        KIND_UNORDERED => "policy",
        _ => "annotation",
    }
}

/// How many reports were dropped (report queue full).
pub fn dropped() -> u32 {
    DROPPED.load(Ordering::Relaxed)
}

/// The lines `print_suppressions=1` prints: each suppression with its
/// count, then the ones that matched nothing. `hits` holds, per line of
/// `sups` in order, the number of reports it hid.
pub fn suppressions_text(sups: &[(String, String, u64)]) -> String {
    let mut s = String::new();
    for (source, rule, hits) in sups.iter().filter(|x| x.2 > 0) {
        let _ = writeln!(
            s,
            "PUSh: suppression {rule} ({source}) matched {hits} time{}",
            if *hits == 1 { "" } else { "s" }
        );
    }
    for (source, rule, _) in sups.iter().filter(|x| x.2 == 0) {
        let _ = writeln!(s, "PUSh: suppression {rule} ({source}) was never used");
    }
    s
}

/// Drains and prints the summary line (if anything was reported).
pub fn finish(verbose_stats: Option<String>) {
    drain();
    let total = total();
    let mut guard = PRINTER.lock();
    let Some(p) = guard.as_mut() else { return };
    let (r, u, a) = (
        RACES.load(Ordering::Relaxed),
        UNORDERED.load(Ordering::Relaxed),
        ANNOTATIONS.load(Ordering::Relaxed),
    );
    // Under `push run`, the launcher prints one SUMMARY for the whole run
    // on stderr; a process's own log file still gets its own.
    let launcher = p.launcher_sums_up && !p.logs_to_file();
    if total > 0 && !launcher {
        let line = match p.opts.report_format {
            ReportFormat::Json => format!(
                "{}\n",
                serde_json::json!({"summary": {"reports": total, "data_races": r,
                    "unordered_policy_changes": u, "annotation_errors": a,
                    "backend": backend_name(),
                    "keys_given_to_program": crate::domains::keys_given_to_program()}})
            ),
            _ => format!(
                "{}\n",
                summary_text(total.into(), r.into(), u.into(), a.into(), &backend_label())
            ),
        };
        p.write(line.as_bytes());
    }
    if p.opts.report_format == ReportFormat::Sarif && p.run_dir.is_none() {
        let pid = sys::getpid() as u32;
        let file = match &p.opts.log_path {
            Some(path) => format!("{}.sarif", expand_log_path(path, pid, &program_name())),
            None => format!("push.{pid}.sarif"),
        };
        let cwd = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        let doc = crate::render::sarif(&p.kept, &cwd, env!("CARGO_PKG_VERSION"));
        let msg = match std::fs::write(&file, format!("{doc:#}\n")) {
            Ok(()) => format!("PUSh: SARIF log written to {file}\n"),
            Err(e) => format!("PUSh: cannot write the SARIF log {file}: {e}\n"),
        };
        p.write(msg.as_bytes());
    }
    let dropped = DROPPED.load(Ordering::Relaxed);
    if dropped > 0 {
        p.write(format!("PUSh: {dropped} reports were dropped (report queue full)\n").as_bytes());
    }
    let sups: Vec<(String, String, u64)> = p
        .suppressions
        .iter()
        .map(|x| {
            (
                x.source.clone(),
                format!("{}:{}", suppression_kind_name(x.kind), x.pattern),
                u64::from(x.hits),
            )
        })
        .collect();
    if let Some(dir) = &p.run_dir {
        if !sups.is_empty() {
            let body: String = sups
                .iter()
                .map(|(src, rule, hits)| format!("{hits}\t{src}\t{rule}\n"))
                .collect();
            let _ = std::fs::write(format!("{dir}/{}.supp", sys::getpid()), body);
        }
    }
    if p.opts.print_suppressions && !launcher {
        let text = suppressions_text(&sups);
        p.write(text.as_bytes());
    }
    if let Some(stats) = verbose_stats {
        p.write(stats.as_bytes());
    }
}

/// Writes a message on the report stream (errors and warnings of the runtime).
pub fn warn(msg: &str) {
    let mut guard = PRINTER.lock();
    match guard.as_mut() {
        Some(p) => p.write(msg.as_bytes()),
        None => sys::write_all(OUT_FD.load(Ordering::Relaxed), msg.as_bytes()),
    }
}

/// A symbolized frame.
struct Frame {
    pc: usize,
    function: Option<String>,
    file: Option<String>,
    line: Option<u32>,
    module: Option<String>,
    module_offset: usize,
}

fn symbolize(pc: usize, exact: bool) -> Frame {
    // backtrace::resolve treats its argument as a return address and looks
    // up the byte before it; an exact pc is therefore passed as pc + 1.
    let lookup = if exact { pc } else { pc.saturating_sub(1) };
    let mut f = Frame {
        pc,
        function: None,
        file: None,
        line: None,
        module: None,
        module_offset: 0,
    };
    backtrace::resolve((lookup + 1) as *mut libc::c_void, |sym| {
        if f.function.is_none() {
            // `{:#}`: demangled without the hash of Rust symbols.
            f.function = sym.name().map(|n| format!("{n:#}"));
        }
        if f.file.is_none() {
            f.file = sym.filename().map(|p| p.display().to_string());
            f.line = sym.lineno();
        }
    });
    // SAFETY: dladdr only reads loader tables; info is a valid out-pointer.
    unsafe {
        let mut info: libc::Dl_info = core::mem::zeroed();
        if libc::dladdr(lookup as *const libc::c_void, &mut info) != 0 {
            if !info.dli_fname.is_null() {
                f.module = Some(
                    std::ffi::CStr::from_ptr(info.dli_fname)
                        .to_string_lossy()
                        .into_owned(),
                );
            }
            f.module_offset = pc.wrapping_sub(info.dli_fbase as usize);
            if f.function.is_none() && !info.dli_sname.is_null() {
                f.function = Some(
                    std::ffi::CStr::from_ptr(info.dli_sname)
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    f
}

fn symbolize_stack(s: &Stack, first_exact: bool) -> Vec<Frame> {
    s.frames()
        .iter()
        .enumerate()
        .map(|(i, &pc)| symbolize(pc, first_exact && i == 0))
        .collect()
}

fn module_name() -> String {
    std::env::current_exe()
        .ok()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn tid_of(id: u32) -> i32 {
    crate::threads::record(id)
        .map(|r| r.tid.load(Ordering::Relaxed))
        .unwrap_or(0)
}

/// How a report names thread record `id`: `T<n>`, n in creation order.
fn tname(id: u32) -> String {
    crate::threads::display_name(id)
}

fn policy_text(r: &RawReport) -> String {
    match Policy::decode(r.policy) {
        Some(Policy::Private(t)) => format!("private({})", tname(t)),
        Some(Policy::ProtectedBy(l)) => {
            let holders = &r.holders[..(r.nholders as usize).min(4)];
            if holders.is_empty() {
                format!("protected_by(lock {l:#x}, not held)")
            } else {
                let names: Vec<String> = holders.iter().map(|&h| tname(h)).collect();
                format!("protected_by(lock {l:#x}, held by {})", names.join(", "))
            }
        }
        Some(p) => p.name().to_string(),
        None => "none".into(),
    }
}

impl Printer {
    /// Whether `log_path` names this process's report file (under `push
    /// run` with `report_format=sarif` it names the run's SARIF log).
    fn logs_to_file(&self) -> bool {
        self.opts.log_path.is_some()
            && !(self.launcher_sums_up && self.opts.report_format == ReportFormat::Sarif)
    }

    fn fd(&mut self) -> i32 {
        if !self.logs_to_file() {
            return OUT_FD.load(Ordering::Relaxed);
        }
        let Some(path) = &self.opts.log_path else {
            return OUT_FD.load(Ordering::Relaxed);
        };
        let pid = sys::getpid();
        if self.log_fd < 0 || self.log_pid != pid {
            if self.log_fd >= 0 && self.log_pid != pid {
                // SAFETY: the inherited descriptor is ours to close in the child.
                unsafe { libc::close(self.log_fd) };
            }
            let name = format!("{}\0", expand_log_path(path, pid as u32, &program_name()));
            self.log_fd = open_append(&name);
            self.log_pid = pid;
            if self.log_fd < 0 {
                let msg = format!(
                    "PUSh: cannot open log_path '{}', writing to stderr\n",
                    &name[..name.len() - 1]
                );
                sys::write_all(2, msg.as_bytes());
                return 2;
            }
        }
        self.log_fd
    }

    fn write(&mut self, bytes: &[u8]) {
        let fd = self.fd();
        sys::write_all(fd, bytes);
    }

    /// Appends one report to `<run_dir>/<pid>.reports`, tagged with the
    /// process's command line: one `write` of one line, so processes that
    /// report at once never mix their lines.
    fn collect(&mut self, v: &serde_json::Value) {
        let Some(dir) = &self.run_dir else { return };
        let pid = sys::getpid();
        if self.collect_fd < 0 || self.collect_pid != pid {
            if self.collect_fd >= 0 {
                // SAFETY: the inherited descriptor is ours to close in the child.
                unsafe { libc::close(self.collect_fd) };
            }
            self.collect_fd = open_append(&format!("{dir}/{pid}.reports\0"));
            self.collect_pid = pid;
        }
        if self.collect_fd >= 0 {
            let mut v = v.clone();
            v["command"] = serde_json::Value::String(command_line());
            v["exe"] = serde_json::Value::String(module_name());
            sys::write_all(self.collect_fd, format!("{v}\n").as_bytes());
        }
    }

    fn suppressed(&mut self, kind: u8, frames: &[Frame]) -> bool {
        for sup in self.suppressions.iter_mut() {
            if sup.kind != kind {
                continue;
            }
            let hit = frames.iter().any(|f| {
                [&f.function, &f.file, &f.module].iter().any(|s| {
                    s.as_deref()
                        .is_some_and(|s| template_match(&sup.pattern, s))
                })
            });
            if hit {
                sup.hits += 1;
                return true;
            }
        }
        false
    }

    fn print(&mut self, r: &RawReport) {
        // Stacks captured at a fault start at the exact pc; stacks captured
        // in an API call hold return addresses only.
        let from_fault = r.kind == KIND_RACE || (r.kind == KIND_UNORDERED && r.api == 0);
        let frames = symbolize_stack(&r.stack, from_fault);
        if self.suppressed(r.kind, &frames) {
            SUPPRESSED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match r.kind {
            KIND_RACE => RACES.fetch_add(1, Ordering::Relaxed),
            KIND_UNORDERED => UNORDERED.fetch_add(1, Ordering::Relaxed),
            _ => ANNOTATIONS.fetch_add(1, Ordering::Relaxed),
        };
        let alloc = (r.has_obj != 0).then(|| symbolize_stack(&stack::get(r.alloc_stack), false));
        let other = (r.has_other != 0).then(|| symbolize_stack(&stack::get(r.other_stack), false));
        let format = self.opts.report_format;
        let value = (self.run_dir.is_some() || format != ReportFormat::Text)
            .then(|| json_value(r, &frames, alloc.as_deref(), other.as_deref()));
        if let Some(v) = &value {
            self.collect(v);
        }
        let mut out = match format {
            ReportFormat::Json => format!("{}\n", value.as_ref().expect("built for json")),
            _ => text(r, &frames, alloc.as_deref(), other.as_deref()),
        };
        if format == ReportFormat::Github {
            if let Some(line) = value.as_ref().and_then(crate::render::github_line) {
                out.push_str(&line);
            }
        }
        if format == ReportFormat::Sarif && self.run_dir.is_none() {
            if let Some(v) = value {
                self.kept.push(v);
            }
        }
        self.write(out.as_bytes());
    }
}

/// Opens `name` (NUL-terminated) for appending; -1 on failure.
fn open_append(name: &str) -> i32 {
    debug_assert!(name.ends_with('\0'));
    // SAFETY: name is NUL-terminated.
    unsafe {
        libc::open(
            name.as_ptr().cast(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND | libc::O_CLOEXEC,
            0o644,
        )
    }
}

/// The file name `log_path=path` gives process `pid` running `program`:
/// `%p` is the pid, `%e` the program's name, `%%` a `%`; without `%p` or
/// `%e`, `.<pid>` is appended (one file per process).
pub fn expand_log_path(path: &str, pid: u32, program: &str) -> String {
    let mut out = String::new();
    let mut substituted = false;
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('p') => {
                let _ = write!(out, "{pid}");
                substituted = true;
            }
            Some('e') => {
                out.push_str(program);
                substituted = true;
            }
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    if !substituted {
        let _ = write!(out, ".{pid}");
    }
    out
}

/// This program's name (the last component of its executable's path).
fn program_name() -> String {
    let exe = module_name();
    exe.rsplit('/').next().unwrap_or("").to_string()
}

/// This process's command line, arguments separated by spaces (quoted when
/// they hold a space).
fn command_line() -> String {
    let Ok(raw) = std::fs::read("/proc/self/cmdline") else {
        return module_name();
    };
    raw.split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| {
            let a = String::from_utf8_lossy(a);
            if a.contains(' ') || a.is_empty() {
                format!("{a:?}")
            } else {
                a.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn kind_name(k: u8) -> &'static str {
    match k {
        KIND_RACE => "data race",
        KIND_UNORDERED => "unordered policy change",
        _ => "annotation error",
    }
}

fn frame_text(out: &mut String, i: usize, f: &Frame) {
    let func = f.function.as_deref().unwrap_or("??");
    match (&f.file, f.line) {
        (Some(file), Some(line)) => {
            let _ = writeln!(out, "    #{i} {:#x} in {func} {file}:{line}", f.pc);
        }
        _ => {
            let m = f.module.clone().unwrap_or_else(module_name);
            let _ = writeln!(
                out,
                "    #{i} {:#x} in {func} ({m}+{:#x})",
                f.pc, f.module_offset
            );
        }
    }
}

fn stack_text(out: &mut String, frames: &[Frame]) {
    if frames.is_empty() {
        out.push_str("    <no stack>\n");
    }
    for (i, f) in frames.iter().enumerate() {
        frame_text(out, i, f);
    }
}

fn text(
    r: &RawReport,
    frames: &[Frame],
    alloc: Option<&[Frame]>,
    other: Option<&[Frame]>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "==================\nWARNING: PUSh: {} (pid={})",
        kind_name(r.kind),
        sys::getpid()
    );
    match r.kind {
        KIND_UNORDERED if r.api != 0 => {
            let _ = writeln!(
                s,
                "  {}({:#x}) by thread {}: not ordered after the previous policy change",
                API_NAMES.get(r.api as usize).copied().unwrap_or("?"),
                r.addr,
                thread_text(r)
            );
            stack_text(&mut s, frames);
            let _ = writeln!(
                s,
                "\n  Previous change by {} in thread {} (tid {}):",
                API_NAMES.get(r.other_api as usize).copied().unwrap_or("?"),
                tname(r.other_thread),
                tid_of(r.other_thread)
            );
            stack_text(&mut s, other.unwrap_or(&[]));
        }
        KIND_ANNOTATION => {
            let reason = REASONS.get(r.reason as usize).copied().unwrap_or("");
            let _ = writeln!(
                s,
                "  {}({:#x}) by thread {}: {} ({})",
                API_NAMES.get(r.api as usize).copied().unwrap_or("?"),
                r.addr,
                thread_text(r),
                reason,
                errno_name(r.errno)
            );
            stack_text(&mut s, frames);
        }
        _ => {
            let _ = writeln!(
                s,
                "  {} at {:#x} (offset {} in object {:#x}) by thread {}:",
                if r.is_write != 0 { "Write" } else { "Read" },
                r.addr,
                r.addr.wrapping_sub(r.obj_base),
                r.obj_base,
                thread_text(r)
            );
            stack_text(&mut s, frames);
            if let Some(o) = other {
                let _ = writeln!(
                    s,
                    "\n  Policy changed by {} in thread {} (tid {}), not ordered before this access:",
                    API_NAMES.get(r.other_api as usize).copied().unwrap_or("?"),
                    tname(r.other_thread),
                    tid_of(r.other_thread)
                );
                stack_text(&mut s, o);
            }
        }
    }
    if r.has_obj != 0 {
        let _ = writeln!(
            s,
            "\n  Object {:#x} of {} bytes, policy {}",
            r.obj_base,
            r.obj_size,
            policy_text(r)
        );
        let _ = writeln!(
            s,
            "  allocated by thread {} (tid {}) at:",
            tname(r.alloc_thread),
            tid_of(r.alloc_thread)
        );
        stack_text(&mut s, alloc.unwrap_or(&[]));
    }
    s.push_str("==================\n");
    s
}

fn errno_name(e: i32) -> &'static str {
    match e {
        libc::EINVAL => "EINVAL",
        libc::EPERM => "EPERM",
        libc::ENOMEM => "ENOMEM",
        libc::ESRCH => "ESRCH",
        0 => "0",
        _ => "error",
    }
}

fn frames_json(frames: &[Frame]) -> serde_json::Value {
    serde_json::Value::Array(
        frames
            .iter()
            .map(|f| {
                serde_json::json!({
                    "pc": format!("{:#x}", f.pc),
                    "function": f.function,
                    "file": f.file,
                    "line": f.line,
                    "module": f.module,
                })
            })
            .collect(),
    )
}

/// A thread in JSON: its number (the n of `T<n>`, null when the record was
/// recycled since) and its OS thread id.
fn thread_json(id: u32, tid: i32) -> serde_json::Value {
    serde_json::json!({"id": crate::threads::display_number(id), "tid": tid})
}

fn json_value(
    r: &RawReport,
    frames: &[Frame],
    alloc: Option<&[Frame]>,
    other: Option<&[Frame]>,
) -> serde_json::Value {
    use serde_json::{json, Value};
    let mut v = json!({"kind": kind_name(r.kind), "pid": sys::getpid(), "period": r.period});
    let mut thread = thread_json(r.thread, r.tid);
    if let Some(name) = thread_name(r) {
        thread["name"] = Value::String(name);
    }
    let message;
    if r.kind == KIND_UNORDERED && r.api != 0 {
        let api = API_NAMES.get(r.api as usize).copied().unwrap_or("?");
        let prev = API_NAMES.get(r.other_api as usize).copied().unwrap_or("?");
        message = format!(
            "{api} by {} is not ordered after {prev} by {}",
            tname(r.thread),
            tname(r.other_thread)
        );
        v["call"] = json!({"function": api, "argument": format!("{:#x}", r.addr),
            "thread": thread, "stack": frames_json(frames)});
        v["previous_call"] = json!({"function": prev,
            "thread": thread_json(r.other_thread, tid_of(r.other_thread)),
            "stack": frames_json(other.unwrap_or(&[]))});
    } else if r.kind == KIND_ANNOTATION {
        let reason = REASONS.get(r.reason as usize).copied().unwrap_or("");
        let api = API_NAMES.get(r.api as usize).copied().unwrap_or("?");
        message = format!("{api}({:#x}) by {}: {reason}", r.addr, tname(r.thread));
        v["call"] = json!({"function": api, "argument": format!("{:#x}", r.addr),
            "errno": errno_name(r.errno), "thread": thread, "stack": frames_json(frames)});
    } else {
        let access = if r.is_write != 0 { "write" } else { "read" };
        message = format!(
            "{access} by {} not allowed by {}",
            tname(r.thread),
            policy_text(r)
        );
        v["access"] = json!({"type": access, "address": format!("{:#x}", r.addr),
            "offset": r.addr.wrapping_sub(r.obj_base), "thread": thread, "stack": frames_json(frames)});
        if let Some(o) = other {
            v["call"] = json!({"function": API_NAMES.get(r.other_api as usize).copied().unwrap_or("?"),
                "thread": thread_json(r.other_thread, tid_of(r.other_thread)), "stack": frames_json(o)});
        }
    }
    if r.has_obj != 0 {
        let policy = Policy::decode(r.policy);
        let owner = match policy {
            Some(Policy::Private(t)) => thread_json(t, tid_of(t)),
            _ => Value::Null,
        };
        let lock = match policy {
            Some(Policy::ProtectedBy(l)) => Value::String(format!("{l:#x}")),
            _ => Value::Null,
        };
        v["object"] = json!({
            "address": format!("{:#x}", r.obj_base),
            "size": r.obj_size,
            "policy": policy.map(|p| p.name()).unwrap_or("none"),
            "owner": owner,
            "lock": lock,
            "lock_holders": r.holders[..(r.nholders as usize).min(4)]
                .iter()
                .map(|&h| crate::threads::display_number(h))
                .collect::<Vec<_>>(),
            "allocated_by": thread_json(r.alloc_thread, tid_of(r.alloc_thread)),
            "allocation_stack": frames_json(alloc.unwrap_or(&[])),
        });
    }
    v["message"] = Value::String(message);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &[u8]) -> RawReport {
        let mut r = RawReport {
            thread: 3,
            tid: 4243,
            ..RawReport::default()
        };
        r.thread_name[..name.len()].copy_from_slice(name);
        r
    }

    #[test]
    fn tsan_patterns() {
        for (p, s, m) in [
            ("intruder", "intruder", true),
            ("trud", "intruder", true),
            ("^intr", "intruder", true),
            ("^trud", "intruder", false),
            ("der$", "intruder", true),
            ("de$", "intruder", false),
            ("^intruder$", "intruder", true),
            ("^intr*der$", "intruder", true),
            ("^in*x*er$", "intruder", false),
            ("src/*.c", "/w/src/racy.c", true),
            ("*", "anything", true),
            ("a*b*c", "xaxbxcx", true),
            ("a*b*c", "xaxcxbx", false),
        ] {
            assert_eq!(template_match(p, s), m, "{p} ~ {s}");
        }
    }

    #[test]
    fn suppression_files_parse_like_tsan() {
        let s = parse_suppressions("f", "# c\n\nrace:a*b\n policy : x \nannotation:^y$\n").unwrap();
        let got: Vec<(u8, &str, &str)> = s
            .iter()
            .map(|x| (x.kind, x.pattern.as_str(), x.source.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (KIND_RACE, "a*b", "f:3"),
                (KIND_UNORDERED, "x", "f:4"),
                (KIND_ANNOTATION, "^y$", "f:5")
            ]
        );
        assert!(parse_suppressions("f", "race:").is_err());
        assert!(parse_suppressions("f", "deadlock:x").is_err());
        assert!(parse_suppressions("f", "nocolon").is_err());
    }

    #[test]
    fn log_paths_expand_like_tsan() {
        assert_eq!(expand_log_path("/t/push", 42, "app"), "/t/push.42");
        assert_eq!(expand_log_path("/t/%e.%p.log", 42, "app"), "/t/app.42.log");
        assert_eq!(expand_log_path("/t/all-%e", 42, "app"), "/t/all-app");
        assert_eq!(expand_log_path("/t/100%%", 42, "app"), "/t/100%.42");
    }

    #[test]
    fn thread_text_quotes_and_escapes_the_name() {
        assert_eq!(thread_text(&named(b"")), "T3 (tid 4243)");
        assert_eq!(
            thread_text(&named(b"racy_counter")),
            "T3 \"racy_counter\" (tid 4243)"
        );
        assert_eq!(
            thread_text(&named(b"a \"b\"")),
            r#"T3 "a \"b\"" (tid 4243)"#
        );
    }

    #[test]
    fn the_reporting_thread_captures_its_own_name() {
        let named = std::thread::Builder::new()
            .name("capture-name-test".into())
            .spawn(|| {
                let mut r = RawReport {
                    tid: sys::gettid(),
                    ..RawReport::default()
                };
                capture_thread_name(&mut r);
                // Another thread's report is left alone.
                let mut other = RawReport {
                    tid: sys::gettid() + 1,
                    ..RawReport::default()
                };
                capture_thread_name(&mut other);
                (thread_name(&r), thread_name(&other))
            })
            .unwrap();
        // The kernel keeps 15 bytes of a thread name.
        assert_eq!(
            named.join().unwrap(),
            (Some("capture-name-te".to_string()), None)
        );
    }
}
