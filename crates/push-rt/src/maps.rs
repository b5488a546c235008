//! The memory-mapping budget.
//!
//! The kernel caps the mappings of a process at `vm.max_map_count`; past it,
//! `mmap` and `pkey_mprotect` fail with ENOMEM. Every run of tracked pages
//! whose key differs from its neighbours' is a mapping of its own, so PUSh
//! counts what it adds: the registry reports each change in the number of
//! key runs ([`add`]), and the count of `/proc/self/maps` corrects the
//! estimate whenever a decision depends on it. New tracked objects are only
//! made while the process stays under the soft budget (the limit minus
//! headroom for the program's own mappings and for policy changes of objects
//! already tracked); past it they are allocated untracked, with one warning.
//! `max_maps=N` lowers the limit PUSh plans for.

use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// Mappings added by the runtime since the last recount (may drift).
static ESTIMATE: AtomicI64 = AtomicI64::new(0);
/// Mappings of the process at the last recount, minus `ESTIMATE` then.
static OTHER: AtomicI64 = AtomicI64::new(0);
static AT_RECOUNT: AtomicI64 = AtomicI64::new(i64::MIN);
static LIMIT: AtomicU64 = AtomicU64::new(65530);
static SYSTEM_LIMIT: AtomicU64 = AtomicU64::new(65530);
static EXHAUSTED_WARNED: AtomicBool = AtomicBool::new(false);
/// Allocations that fell back to plain memory because of the budget.
pub static UNTRACKED_ALLOCS: AtomicU64 = AtomicU64::new(0);
pub static RECOUNTS: AtomicU64 = AtomicU64::new(0);

/// `vm.max_map_count`, if readable.
pub fn system_limit() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Mappings kept free for the program and for policy changes.
pub fn headroom(limit: u64) -> u64 {
    (limit / 8).max(32)
}

/// The most mappings the process may have before new objects go untracked.
pub fn soft_budget(limit: u64) -> u64 {
    limit.saturating_sub(headroom(limit))
}

/// Sets the limit (`max_maps`, 0 = the system's) and takes the first count.
pub fn init(max_maps: u64) {
    let system = system_limit().unwrap_or(65530);
    SYSTEM_LIMIT.store(system, Ordering::Relaxed);
    let limit = if max_maps > 0 {
        max_maps.min(system)
    } else {
        system
    };
    LIMIT.store(limit, Ordering::Relaxed);
    recount();
}

pub fn limit() -> u64 {
    LIMIT.load(Ordering::Relaxed)
}

/// The runtime changed the number of mappings by `delta` (lock-free,
/// async-signal-safe).
pub fn add(delta: i64) {
    if delta != 0 {
        ESTIMATE.fetch_add(delta, Ordering::Relaxed);
    }
}

/// Lines of `/proc/self/maps`.
fn count_process_maps() -> Option<i64> {
    use std::io::Read;
    let mut f = std::fs::File::open("/proc/self/maps").ok()?;
    let mut buf = vec![0u8; 1 << 16];
    let mut lines = 0i64;
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Some(lines),
            Ok(n) => lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as i64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

fn recount() {
    let est = ESTIMATE.load(Ordering::Relaxed);
    if let Some(real) = count_process_maps() {
        OTHER.store(real - est, Ordering::Relaxed);
        AT_RECOUNT.store(est, Ordering::Relaxed);
        RECOUNTS.fetch_add(1, Ordering::Relaxed);
    }
}

/// The process's mappings as far as the runtime knows.
pub fn in_use() -> i64 {
    OTHER.load(Ordering::Relaxed) + ESTIMATE.load(Ordering::Relaxed)
}

/// Whether `extra` more mappings fit under the soft budget. Called by the
/// allocator (ordinary context); recounts before saying no.
pub fn room_for(extra: i64) -> bool {
    let soft = soft_budget(limit()) as i64;
    if in_use() + extra <= soft {
        return true;
    }
    let est = ESTIMATE.load(Ordering::Relaxed);
    if (est - AT_RECOUNT.load(Ordering::Relaxed)).abs() >= 64 {
        recount();
    }
    in_use() + extra <= soft
}

/// The most mappings key changes may bring the process to: past it a key
/// change is refused (the object keeps its key and the fault handler checks
/// every access against its policy: correct, slower).
pub fn hard_limit(limit: u64) -> u64 {
    limit.saturating_sub((limit / 16).max(16))
}

/// Whether a key change adding `delta` mappings may go ahead
/// (lock-free, async-signal-safe: no recount).
pub fn may_add(delta: i64) -> bool {
    if delta <= 0 || in_use() + delta <= hard_limit(limit()) as i64 {
        return true;
    }
    REFUSED_CHANGES.fetch_add(1, Ordering::Relaxed);
    LIMIT_SEEN.store(true, Ordering::Relaxed);
    false
}

/// Key changes refused at the hard limit (or by the kernel).
pub static REFUSED_CHANGES: AtomicU64 = AtomicU64::new(0);
static LIMIT_SEEN: AtomicBool = AtomicBool::new(false);

/// An allocation falls back to plain memory (the caller then prints the
/// warning of [`take_warning`]).
pub fn note_untracked() {
    UNTRACKED_ALLOCS.fetch_add(1, Ordering::Relaxed);
    LIMIT_SEEN.store(true, Ordering::Relaxed);
}

/// `pkey_mprotect` failed with ENOMEM: the kernel's limit was reached.
/// Async-signal-safe: the warning is printed later (see [`take_warning`]).
pub fn note_enomem() {
    REFUSED_CHANGES.fetch_add(1, Ordering::Relaxed);
    LIMIT_SEEN.store(true, Ordering::Relaxed);
}

/// The warning that the mapping limit was reached, once (ordinary
/// context; the fault handler only records it): the caller prints it
/// (`report::flush_map_warnings`).
pub fn take_warning() -> Option<String> {
    if !LIMIT_SEEN.load(Ordering::Relaxed) || EXHAUSTED_WARNED.swap(true, Ordering::Relaxed) {
        return None;
    }
    let limit = limit();
    let system = SYSTEM_LIMIT.load(Ordering::Relaxed);
    let why = if limit < system {
        format!("max_maps={limit}")
    } else {
        format!("vm.max_map_count={system}")
    };
    Some(format!(
        "PUSh: warning: the process is near its limit of memory mappings ({why}, about {} in use): \
         new objects are allocated untracked from now on, and objects whose protection cannot \
         change are checked at every access (slower). To track everything, raise the limit: \
         sysctl vm.max_map_count={}\n",
        in_use(),
        (system * 4).max(262_144)
    ))
}

/// The verbose-mode line.
pub fn stats() -> String {
    format!(
        "PUSh: stats: maps_limit={} maps_budget={} maps_in_use={} runtime_maps~{} untracked_allocs={} refused_key_changes={} maps_recounts={}\n",
        limit(),
        soft_budget(limit()),
        in_use(),
        ESTIMATE.load(Ordering::Relaxed),
        UNTRACKED_ALLOCS.load(Ordering::Relaxed),
        REFUSED_CHANGES.load(Ordering::Relaxed),
        RECOUNTS.load(Ordering::Relaxed),
    )
}
