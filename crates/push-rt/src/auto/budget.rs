//! The cost bound of the annotation-free mode: each thread may spend a
//! share of its time (option `auto_budget`, percent) handling the faults
//! of watched objects.
//!
//! The model: a thread holds a credit in nanoseconds. It starts full
//! (what the budget earns in [`BURST_SECONDS`]: 50 ms at 10%), grows with
//! the thread's wall time at the budget's share (never above full), and every fault on a watched object costs
//! what the handler measured plus [`FAULT_ENTRY_NS`] for the kernel's part.
//! Under `mprotect`, closing a thread's windows at its synchronization
//! costs it too. A thread whose credit is spent *parks* the object it
//! faults on: the object takes [`PARKED`] (every thread may access it, on
//! key 0) and costs nothing until the sweeper thread brings it back
//! ([`unpark_slice`]: round robin, at a rate the budget pays for). A
//! refused access is observed and compared before its object parks, so
//! every fault still checks one access: detection becomes sampling in
//! time, and the cost stays bounded.
//!
//! Parking can hide a race, never invent one: a report still needs two
//! observed accesses that happens-before does not order. Async-signal-safe:
//! atomics, the vDSO clock and one protection change per park.
//!
//! Under the `mprotect` backend the same credit bounds annotated objects
//! (option `mprotect_budget`, when the mode is off): their faults and the
//! thread's window opens and closes are charged, and a thread that spent it
//! suspends the objects it would open a window on (`windows::suspended`)
//! until the sweeper closes them again ([`resume_slice`]).

use super::seen;
use crate::domains::Keys;
use crate::registry::{self, Object, Policy, WATCHED};
use crate::sys::monotonic_ns;
use core::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// The policy word of a parked object: watched, open to every thread.
pub const PARKED: u64 = (5 << 60) | WATCHED;

/// A full credit is what the budget earns in this time: short programs (and
/// the start of long ones) are checked in full.
pub const BURST_SECONDS: f64 = 0.5;
/// The same for annotated objects under `mprotect` (`mprotect_budget`): at
/// 10%, two seconds of checking at full cost per thread before any object
/// is suspended, so short programs (every test) are checked in full.
pub const MPROTECT_BURST_SECONDS: f64 = 20.0;
/// The kernel's part of one fault (signal delivery and return), which the
/// handler cannot time.
pub const FAULT_ENTRY_NS: u64 = 2_500;
/// How often the sweeper brings parked objects back.
pub const SWEEP_MS: u64 = 100;

/// The budget in millionths of a thread's time (0: no bound).
static SHARE_PPM: AtomicU32 = AtomicU32::new(0);

/// Times an object was parked.
pub static PARKS: AtomicUsize = AtomicUsize::new(0);

/// Times a budget paused checking of an object, parked (`auto_budget`) or
/// suspended (`mprotect_budget`): the SUMMARY's count.
pub fn paused() -> usize {
    PARKS.load(Ordering::Relaxed) + crate::windows::suspended::SUSPENDS.load(Ordering::Relaxed)
}
/// Times the sweeper brought one back.
pub static UNPARKS: AtomicUsize = AtomicUsize::new(0);
/// Faults on watched objects charged, and their nanoseconds.
static CHARGED_FAULTS: AtomicU64 = AtomicU64::new(0);
static CHARGED_NS: AtomicU64 = AtomicU64::new(0);

/// Sets the budget (start-up): `percent` of each thread's time, 0 for none.
pub fn set_share(percent: u32) {
    SHARE_PPM.store(percent.min(100) * 10_000, Ordering::Relaxed);
}

/// Sets the budget of annotated objects under `mprotect` (start-up,
/// without the annotation-free mode): `percent` of each thread's time,
/// with a full credit of [`MPROTECT_BURST_SECONDS`]' earnings.
pub fn set_mprotect_share(percent: u32) {
    set_share(percent);
    BURST_MS.store((MPROTECT_BURST_SECONDS * 1e3) as u32, Ordering::Relaxed);
}

/// What a full credit is worth in time earned, in milliseconds.
static BURST_MS: AtomicU32 = AtomicU32::new((BURST_SECONDS * 1e3) as u32);

/// A full credit, in nanoseconds: what the budget earns in [`BURST_SECONDS`]
/// ([`MPROTECT_BURST_SECONDS`] for `mprotect_budget`).
fn full_ns() -> i64 {
    i64::from(BURST_MS.load(Ordering::Relaxed)) * i64::from(SHARE_PPM.load(Ordering::Relaxed))
}

fn bounded() -> bool {
    SHARE_PPM.load(Ordering::Relaxed) != 0
}

/// One thread's credit (in its record; written by the thread and its own
/// signal handler only, so a lost update can only misplace a little
/// credit).
#[derive(Default)]
pub struct Credit {
    ns: AtomicI64,
    /// When the credit was last brought up to date (0: never: full).
    at: AtomicU64,
}

impl Credit {
    /// A recycled record's thread starts with full credit.
    pub fn reset(&self) {
        self.at.store(0, Ordering::Relaxed);
    }

    /// The credit now, after adding what the time since the last update
    /// earned.
    fn refresh(&self, now: u64) -> i64 {
        let full = full_ns();
        let at = self.at.swap(now, Ordering::Relaxed);
        if at == 0 || now < at {
            self.ns.store(full, Ordering::Relaxed);
            return full;
        }
        let earned =
            ((now - at) as u128 * u128::from(SHARE_PPM.load(Ordering::Relaxed)) / 1_000_000) as i64;
        let v = self
            .ns
            .load(Ordering::Relaxed)
            .saturating_add(earned)
            .min(full);
        self.ns.store(v, Ordering::Relaxed);
        v
    }

    /// Whether the thread has spent its credit.
    pub fn spent(&self) -> bool {
        bounded() && self.refresh(monotonic_ns()) <= 0
    }

    fn charge(&self, ns: u64) {
        self.ns
            .fetch_sub(ns.min(i64::MAX as u64) as i64, Ordering::Relaxed);
    }
}

/// A timer for work the budget pays for: started when a fault on a watched
/// object (or a window close) begins.
pub struct Timer(u64);

impl Timer {
    pub fn start() -> Timer {
        Timer(if bounded() { monotonic_ns() } else { 0 })
    }

    /// Charges the time since the start to `credit`; `fault`: the kernel's
    /// part of a fault is added.
    pub fn charge(self, credit: &Credit, fault: bool) {
        if self.0 == 0 {
            return;
        }
        let ns = monotonic_ns().saturating_sub(self.0) + if fault { FAULT_ENTRY_NS } else { 0 };
        credit.charge(ns);
        if fault {
            CHARGED_FAULTS.fetch_add(1, Ordering::Relaxed);
            CHARGED_NS.fetch_add(ns, Ordering::Relaxed);
        }
    }
}

/// Whether `obj` is parked.
#[inline]
pub fn is_parked(obj: &Object) -> bool {
    obj.policy.load(Ordering::Relaxed) == PARKED
}

/// Parks watched `obj` for the fault handler, its observation record held
/// by the caller: every thread may access it until the sweeper brings it
/// back. False when it is not watched or parked already. Should its pages
/// fail to open, the access retried faults once more and finds it parked:
/// allowed, it opens a window as for any allowed access.
pub fn park_locked(keys: &Keys, obj: &Object) -> bool {
    let word = obj.policy.load(Ordering::Acquire);
    if word & WATCHED == 0
        || word == PARKED
        || obj
            .policy
            .compare_exchange(word, PARKED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    {
        return false;
    }
    PARKS.fetch_add(1, Ordering::Relaxed);
    let _ = registry::set_policy_key(obj, keys.key_for(Policy::Racy), None);
    true
}

/// An access the policy of watched object `obj_id` allows faulted (a
/// window to open, under `mprotect`) and the thread's credit is spent:
/// parks the object. True when this call parked it.
pub fn park_if_spent(keys: &Keys, credit: &Credit, (obj_id, obj): (u32, &Object)) -> bool {
    if !credit.spent() {
        return false;
    }
    let Some(_record) = seen::lock(obj_id) else {
        return false;
    };
    park_locked(keys, obj)
}

/// Where the sweeper is: its cursor over object ids, and the park and
/// comeback counts at its last turn.
#[derive(Default)]
pub struct Sweep {
    cursor: u32,
    parks: usize,
    unparks: usize,
}

/// The sweeper's turn (every [`SWEEP_MS`]): walks objects from the cursor,
/// bringing parked ones back as read-only watched objects (the next write
/// faults and is observed), as many as one thread's budget for the period
/// pays for. A comeback costs a protection change, and, for an object
/// still in use, the fault that follows and parking again: the share of
/// comebacks parked again since the last turn says how many do (an object
/// parked and never used again costs only its protection change).
pub fn unpark_slice(sweep: &mut Sweep, period: Duration) {
    let Some(mut allowance) = sweep.allowance(&PARKS, &UNPARKS, period) else {
        return;
    };
    let Some(keys) = crate::domains::keys() else {
        return;
    };
    let end = registry::scan_len();
    let t0 = crate::sys::thread_cpu_ns();
    let mut visited = 0u32;
    let mut cursor = sweep.cursor;
    while allowance > 0 && visited < end.saturating_sub(1) {
        if cursor >= end {
            cursor = 1;
        }
        if let Some(o) = registry::object(registry::scan_id(cursor)) {
            if is_parked(o) && !o.pending() && unpark(keys, o) {
                allowance -= 1;
            }
        }
        cursor += 1;
        visited += 1;
        // The walk itself stays within 2% of the period.
        if visited.is_multiple_of(256)
            && crate::sys::thread_cpu_ns() - t0 >= period.as_nanos() as u64 / 50
        {
            break;
        }
    }
    sweep.cursor = cursor;
}

/// The sweeper's turn for suspended annotated objects (`mprotect`): ends
/// as many suspensions as one thread's budget for the period pays for
/// (priced like a parked object's comeback), at least one.
pub fn resume_slice(sweep: &mut Sweep, period: Duration) {
    use crate::windows::suspended::{self, RESUMES, SUSPENDS};
    let Some(allowance) = sweep.allowance(&SUSPENDS, &RESUMES, period) else {
        return;
    };
    let mut cursor = sweep.cursor as usize;
    suspended::resume_from(&mut cursor, allowance);
    sweep.cursor = cursor as u32;
}

impl Sweep {
    /// A turn's bookkeeping, from the counts of pauses (parks or
    /// suspensions) and comebacks: how many comebacks one thread's budget
    /// for the period pays for (at least one), or None when nothing is
    /// paused.
    fn allowance(
        &mut self,
        paused: &AtomicUsize,
        back: &AtomicUsize,
        period: Duration,
    ) -> Option<u64> {
        let (paused, back) = (paused.load(Ordering::Relaxed), back.load(Ordering::Relaxed));
        let pending = paused.saturating_sub(back);
        let (again, came_back) = (
            paused.saturating_sub(self.parks),
            back.saturating_sub(self.unparks),
        );
        (self.parks, self.unparks) = (paused, back);
        if pending == 0 {
            return None;
        }
        let faults = CHARGED_FAULTS.load(Ordering::Relaxed).max(1);
        let per_fault = (CHARGED_NS.load(Ordering::Relaxed) / faults).max(FAULT_ENTRY_NS);
        let share = u64::from(SHARE_PPM.load(Ordering::Relaxed));
        let budget = period.as_nanos() as u64 * share / 1_000_000;
        Some((budget / comeback_ns(per_fault, again, came_back)).clamp(1, pending as u64))
    }
}

/// What one comeback is expected to cost: a protection change, plus a
/// fault and a park for the share of comebacks parked again (all of them
/// before the first turn that saw any).
fn comeback_ns(per_fault: u64, reparked: usize, came_back: usize) -> u64 {
    let share_in_use = if came_back == 0 {
        1.0
    } else {
        (reparked as f64 / came_back as f64).min(1.0)
    };
    (per_fault as f64 * (1.0 + 2.0 * share_in_use)).max(1.0) as u64
}

fn unpark(keys: &Keys, o: &Object) -> bool {
    let word = Policy::ReadOnly.encode() | WATCHED;
    if o.policy
        .compare_exchange(PARKED, word, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return false;
    }
    let _ = registry::set_policy_key(o, keys.key_for(Policy::ReadOnly), None);
    UNPARKS.fetch_add(1, Ordering::Relaxed);
    true
}

/// Starts the sweeper thread (ordinary context) when the mode is on with a
/// budget.
pub fn start_sweeper() {
    if !bounded() {
        return;
    }
    let _ = crate::sys::frame::with_async_signals_blocked(|| {
        std::thread::Builder::new()
            .name("push-auto".into())
            .stack_size(256 << 10)
            .spawn(|| {
                crate::threads::mark_internal();
                let period = Duration::from_millis(SWEEP_MS);
                let mut sweep = Sweep::default();
                let mut resumes = Sweep::default();
                loop {
                    std::thread::sleep(period);
                    unpark_slice(&mut sweep, period);
                    resume_slice(&mut resumes, period);
                }
            })
    });
}

/// The verbose line of `mprotect_budget` (annotated objects), when it
/// bounds anything.
pub fn mprotect_stats() -> Option<String> {
    use crate::windows::suspended::{RESUMES, SUSPENDS};
    (bounded() && !super::on()).then(|| {
        format!(
            "mprotect_budget: {}",
            counts_line("suspends", &SUSPENDS, "resumes", &RESUMES)
        )
    })
}

/// The verbose line's part.
pub fn stats() -> String {
    counts_line("parks", &PARKS, "unparks", &UNPARKS)
}

fn counts_line(paused: &str, n: &AtomicUsize, back: &str, m: &AtomicUsize) -> String {
    let faults = CHARGED_FAULTS.load(Ordering::Relaxed);
    format!(
        "budget={}% {paused}={} {back}={} fault_ns_avg={}",
        SHARE_PPM.load(Ordering::Relaxed) / 10_000,
        n.load(Ordering::Relaxed),
        m.load(Ordering::Relaxed),
        CHARGED_NS.load(Ordering::Relaxed) / faults.max(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parked_word_is_a_watched_racy_policy() {
        assert_eq!(Policy::decode(PARKED), Some(Policy::Racy));
        assert_ne!(PARKED & WATCHED, 0);
    }

    #[test]
    fn comebacks_of_objects_left_idle_cost_less() {
        assert_eq!(comeback_ns(10_000, 0, 0), 30_000);
        assert_eq!(comeback_ns(10_000, 50, 50), 30_000);
        assert_eq!(comeback_ns(10_000, 90, 30), 30_000);
        assert_eq!(comeback_ns(10_000, 1, 100), 10_200);
        assert_eq!(comeback_ns(10_000, 0, 100), 10_000);
    }

    #[test]
    fn credit_starts_full_and_earns_its_share() {
        set_share(10);
        let full = 50_000_000;
        let c = Credit::default();
        assert_eq!(c.refresh(1_000), full);
        c.charge(full as u64 + 1_000_000);
        assert_eq!(c.refresh(1_000), -1_000_000);
        // 20 ms at 10% earns 2 ms.
        assert_eq!(c.refresh(1_000 + 20_000_000), 1_000_000);
        // Never above the burst.
        assert_eq!(c.refresh(10_000_000_000), full);
        c.reset();
        c.charge(5);
        assert_eq!(c.refresh(20_000_000_000), full);
    }
}
