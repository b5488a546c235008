//! Periodic rehash: collisions may delay a report, never lose it.
//!
//! At most 11 domains exist for all owners (threads and protecting locks:
//! 15 keys less 4 for special policies, fewer when the program takes keys), so
//! owners share keys and a race between two owners on one key goes unseen.
//! Every `rehash_ms` a background thread moves the owners that currently
//! share a domain to domains drawn from the seed sequence (`domains::rehash`)
//! and starts a new period. Threads notice the new period at their next
//! synchronization (their cached keys carry the period) or at their next
//! fault, and recompute their PKRU. Objects of moved owners get their new
//! key from a background scan that stays within a CPU budget (2% of one core
//! by default), and from the fault handler whenever an allowed access finds
//! an object still on an old key. Neither path ever reports: a fault is
//! checked against the policy, which a rehash does not change.

use crate::registry;
use crate::sys::PAGE;
use core::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub static REHASHES: AtomicU64 = AtomicU64::new(0);
pub static OWNERS_MOVED: AtomicU64 = AtomicU64::new(0);
pub static COLLISIONS_SEEN: AtomicU64 = AtomicU64::new(0);
pub static OBJECTS_REKEYED: AtomicU64 = AtomicU64::new(0);
pub static PAGES_REKEYED: AtomicU64 = AtomicU64::new(0);
pub static LAZY_REKEYS: AtomicU64 = AtomicU64::new(0);
pub static CPU_NS: AtomicU64 = AtomicU64::new(0);
pub static WALL_NS: AtomicU64 = AtomicU64::new(0);

/// Share of one core the rehash thread may use.
pub const CPU_BUDGET: f64 = 0.02;
/// Owners moved per period: at most a quarter of the domains (3 of 12), and
/// no more than the budget can re-key. Moving every colliding owner at once
/// would re-key nearly every object each period when owners outnumber
/// domains (most of it through faults). Each period earns credit for the
/// objects the budget can re-key (one `pkey_mprotect` is about 4 us); a move
/// costs the average number of objects per owner. With many objects per
/// owner, owners move only every few periods: detection slows, the cost
/// stays bounded.
fn moves_per_period(credit: &mut f64, budget_ns: u64) -> u32 {
    const REKEY_NS: f64 = 4_000.0;
    let cap = crate::domains::keys().map_or(1, |k| (k.domain_count() as u32 / 4).max(1));
    let owners = crate::domains::owners().max(1) as f64;
    let per_owner = (registry::LIVE_OBJECTS.get() as f64 / owners).max(1.0);
    *credit = (*credit + budget_ns as f64 / REKEY_NS).min(per_owner * cap as f64 * 4.0);
    let moves = ((*credit / per_owner) as u32).min(cap);
    *credit -= moves as f64 * per_owner;
    moves
}

use crate::sys::thread_cpu_ns;

/// Starts the rehash thread (ordinary context; once).
pub fn start(period_ms: u64) {
    if period_ms == 0 {
        return;
    }
    let _ = crate::sys::frame::with_async_signals_blocked(|| {
        std::thread::Builder::new()
            .name("push-rehash".into())
            .stack_size(256 << 10)
            .spawn(move || {
                crate::threads::mark_internal();
                run(period_ms)
            })
    });
}

fn run(period_ms: u64) {
    let period = Duration::from_millis(period_ms);
    let started = std::time::Instant::now();
    let mut owner_cursor = 0u32;
    let mut object_cursor = 1u32;
    let mut debt_ns: u64 = 0;
    let mut credit = 0.0f64;
    // Objects may carry stale keys until a full scan follows the last move.
    let mut scan_due = false;
    let mut scanned_since_move = 0u32;
    loop {
        std::thread::sleep(period);
        let t0 = thread_cpu_ns();
        let budget = (period.as_nanos() as f64 * CPU_BUDGET) as u64;
        let moves = moves_per_period(&mut credit, budget);
        let (moved, collisions) = crate::domains::rehash(moves, &mut owner_cursor);
        REHASHES.fetch_add(1, Ordering::Relaxed);
        OWNERS_MOVED.fetch_add(moved as u64, Ordering::Relaxed);
        COLLISIONS_SEEN.fetch_add(collisions as u64, Ordering::Relaxed);
        if moved > 0 {
            scan_due = true;
            scanned_since_move = 0;
        }
        // Re-key objects while this period's budget lasts; carry overruns.
        let allowance = budget.saturating_sub(debt_ns);
        if scan_due {
            let before = object_cursor;
            object_cursor = rekey_slice(object_cursor, t0, allowance);
            let end = registry::scan_len();
            scanned_since_move += if object_cursor >= before {
                object_cursor - before
            } else {
                end.saturating_sub(before) + object_cursor
            };
            if scanned_since_move >= end {
                scan_due = false;
            }
        }
        let spent = thread_cpu_ns() - t0;
        debt_ns = (debt_ns + spent).saturating_sub(budget);
        CPU_NS.fetch_add(spent, Ordering::Relaxed);
        WALL_NS.store(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
}

/// Walks objects from `cursor`, giving each the key of the current period,
/// until `allowance_ns` of CPU time since `t0` is spent. Returns where to
/// continue.
fn rekey_slice(mut cursor: u32, t0: u64, allowance_ns: u64) -> u32 {
    let Some(keys) = crate::domains::keys() else {
        return cursor;
    };
    let end = registry::scan_len();
    let mut visited = 0u32;
    while visited < end.saturating_sub(1) {
        if cursor >= end {
            cursor = 1;
        }
        if let Some(o) = registry::object(registry::scan_id(cursor)) {
            if !o.pending() {
                if let Some(p) = o.policy() {
                    let want = keys.key_for(p);
                    let before = o.policy.load(Ordering::Acquire);
                    if want != o.key() && registry::set_policy_key(o, want, None).is_ok() {
                        if o.policy.load(Ordering::Acquire) != before {
                            // A policy change raced with us: give it the
                            // key of its new policy.
                            if let Some(p) = o.policy() {
                                let _ = registry::set_policy_key(o, keys.key_for(p), None);
                            }
                        }
                        OBJECTS_REKEYED.fetch_add(1, Ordering::Relaxed);
                        PAGES_REKEYED.fetch_add((o.span() / PAGE) as u64, Ordering::Relaxed);
                    }
                }
            }
        }
        cursor += 1;
        visited += 1;
        if visited.is_multiple_of(64) && thread_cpu_ns() - t0 >= allowance_ns {
            break;
        }
    }
    cursor
}

/// The verbose-mode line.
pub fn stats() -> String {
    let cpu = CPU_NS.load(Ordering::Relaxed);
    let wall = WALL_NS.load(Ordering::Relaxed).max(1);
    format!(
        "PUSh: stats: rehashes={} owners_moved={} collisions_seen={} objects_rekeyed={} pages_rekeyed={} lazy_rekeys={} rehash_cpu_ms={:.1} rehash_cpu_share={:.3}%\n",
        REHASHES.load(Ordering::Relaxed),
        OWNERS_MOVED.load(Ordering::Relaxed),
        COLLISIONS_SEEN.load(Ordering::Relaxed),
        OBJECTS_REKEYED.load(Ordering::Relaxed),
        PAGES_REKEYED.load(Ordering::Relaxed),
        LAZY_REKEYS.load(Ordering::Relaxed),
        cpu as f64 / 1e6,
        cpu as f64 * 100.0 / wall as f64,
    )
}
