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
static ENOMEM_WARNED: AtomicBool = AtomicBool::new(false);
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

/// An allocation falls back to plain memory: counts it, warns once.
pub fn note_untracked() {
    UNTRACKED_ALLOCS.fetch_add(1, Ordering::Relaxed);
    if !EXHAUSTED_WARNED.swap(true, Ordering::Relaxed) {
        let limit = limit();
        let system = SYSTEM_LIMIT.load(Ordering::Relaxed);
        let why = if limit < system {
            format!("max_maps={limit}")
        } else {
            format!("vm.max_map_count={system}")
        };
        crate::report::warn(&format!(
            "PUSh: warning: the process is near its limit of memory mappings ({why}, {} in use); \
             new objects are allocated untracked from now on. To track them all, raise the limit: \
             sysctl vm.max_map_count={}\n",
            in_use(),
            (system * 4).max(262_144)
        ));
    }
}

/// `pkey_mprotect` failed with ENOMEM: the kernel's limit was reached.
/// Accesses stay correct (the fault handler checks the policy), only slower.
/// Async-signal-safe: the warning is printed later by [`flush_warnings`].
pub fn note_enomem() {
    ENOMEM_SEEN.store(true, Ordering::Relaxed);
}

static ENOMEM_SEEN: AtomicBool = AtomicBool::new(false);

/// Prints the warning [`note_enomem`] deferred (ordinary context).
pub fn flush_warnings() {
    if ENOMEM_SEEN.load(Ordering::Relaxed) && !ENOMEM_WARNED.swap(true, Ordering::Relaxed) {
        crate::report::warn(&format!(
            "PUSh: warning: the kernel refused a protection change (vm.max_map_count={} reached); \
             affected objects are checked on every access, slowly. Raise the limit: \
             sysctl vm.max_map_count={}\n",
            SYSTEM_LIMIT.load(Ordering::Relaxed),
            (SYSTEM_LIMIT.load(Ordering::Relaxed) * 4).max(262_144)
        ));
    }
}

/// The verbose-mode line.
pub fn stats() -> String {
    format!(
        "PUSh: stats: maps_limit={} maps_budget={} maps_in_use={} runtime_maps~{} untracked_allocs={} maps_recounts={}\n",
        limit(),
        soft_budget(limit()),
        in_use(),
        ESTIMATE.load(Ordering::Relaxed),
        UNTRACKED_ALLOCS.load(Ordering::Relaxed),
        RECOUNTS.load(Ordering::Relaxed),
    )
}
