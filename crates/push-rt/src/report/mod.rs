//! Reports: captured raw where a rule breaks, symbolized and printed outside
//! the signal handler.
//!
//! - [`capture`]: one function per kind of report (data race, unordered
//!   access, unordered change, annotation error) fills a [`RawReport`]
//!   (plain integers, no allocation) and decides, in one place, whether
//!   it was reported before (the dedup keys);
//! - [`queue`]: reports from the fault handler go through a fixed queue to
//!   the reporter thread; reports from ordinary context (annotation errors,
//!   policy changes) are printed at once by the calling thread;
//! - [`printer`]: the one printer (a mutex the handler never takes), the
//!   log file and run directory, the SUMMARY;
//! - [`symbolize`], [`text`], [`json`]: from pcs to frames to the formats of
//!   `docs/reports.md`; [`suppress`]: ThreadSanitizer-style suppressions;
//!   [`render`]: rendering of collected JSON reports (run summaries, SARIF,
//!   GitHub annotations).

pub mod capture;
pub mod json;
pub mod printer;
pub mod queue;
pub mod render;
pub mod suppress;
pub mod symbolize;
pub mod text;

use crate::stack::Stack;
use crate::sys;
use core::sync::atomic::{AtomicU32, Ordering};

pub use printer::{
    backend_label, expand_log_path, finish, flush_map_warnings, init, summary_line,
    suppressions_text, warn,
};
pub use queue::{
    after_fork_child, after_fork_parent, before_fork, drain, ensure_reporter, HALT_PENDING,
};
pub use suppress::{parse_suppressions, template_match, Suppression};

/// What a report is about. Each kind has one capture function in
/// [`capture`]; the two unordered kinds print as one ("unordered policy
/// change"), seen from the access (rule 2) or from the change (rule 1).
/// Zero is a valid value (queue slots start zeroed).
#[repr(u8)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kind {
    /// An access the object's policy does not allow.
    #[default]
    Race = 0,
    /// A first access by another thread not ordered after a policy change.
    UnorderedAccess = 1,
    /// A policy change not ordered after the previous one.
    UnorderedChange = 2,
    /// A misuse of the API.
    Annotation = 3,
}

impl Kind {
    /// The name reports give the kind.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Race => "data race",
            Kind::UnorderedAccess | Kind::UnorderedChange => "unordered policy change",
            Kind::Annotation => "annotation error",
        }
    }

    /// The kind as a suppressions file names it.
    pub fn suppression_name(self) -> &'static str {
        match self {
            Kind::Race => "race",
            Kind::UnorderedAccess | Kind::UnorderedChange => "policy",
            Kind::Annotation => "annotation",
        }
    }

    /// Whether the report's stack was captured at a fault (its first pc is
    /// the exact faulting instruction), not in an API call (return
    /// addresses only).
    pub fn from_fault(self) -> bool {
        matches!(self, Kind::Race | Kind::UnorderedAccess)
    }

    fn counter(self) -> &'static AtomicU32 {
        match self {
            Kind::Race => &RACES,
            Kind::UnorderedAccess | Kind::UnorderedChange => &UNORDERED,
            Kind::Annotation => &ANNOTATIONS,
        }
    }
}

/// The API calls (and the allocation) reports name; stored in 4 bits of an
/// object's state as the kind of its last policy change.
#[repr(u8)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Api {
    /// The object's creation (its first "policy change").
    #[default]
    Allocation = 0,
    Malloc = 1,
    Calloc = 2,
    Realloc = 3,
    Free = 4,
    Private = 5,
    ReadOnly = 6,
    ProtectedBy = 7,
    Transfer = 8,
    Release = 9,
    Acquire = 10,
    Racy = 11,
    RegisterGlobal = 12,
    /// `free` of a tracked object by the program's allocator calls.
    PlainFree = 13,
    LockReleased = 14,
    /// A change registered for a barrier and applied when it opened (how
    /// objects record it: their change code has 4 bits).
    AtBarrier = 15,
    PrivateAt = 16,
    ReadOnlyAt = 17,
    ProtectedByAt = 18,
    RacyAt = 19,
    BarrierOpens = 20,
    Partition = 21,
}

impl Api {
    /// The calls an object's 4-bit change code can name.
    const STORED: [Api; 16] = [
        Api::Allocation,
        Api::Malloc,
        Api::Calloc,
        Api::Realloc,
        Api::Free,
        Api::Private,
        Api::ReadOnly,
        Api::ProtectedBy,
        Api::Transfer,
        Api::Release,
        Api::Acquire,
        Api::Racy,
        Api::RegisterGlobal,
        Api::PlainFree,
        Api::LockReleased,
        Api::AtBarrier,
    ];

    /// The call an object's stored change code names (4 bits).
    pub fn from_code(code: u8) -> Api {
        Api::STORED
            .get(code as usize)
            .copied()
            .unwrap_or(Api::Allocation)
    }

    /// The code an object stores for a change made by this call (4 bits:
    /// the barrier calls all store [`Api::AtBarrier`]).
    pub fn code(self) -> u8 {
        (self as u8).min(Api::AtBarrier as u8)
    }

    pub fn name(self) -> &'static str {
        match self {
            Api::Allocation => "allocation",
            Api::Malloc => "push_malloc",
            Api::Calloc => "push_calloc",
            Api::Realloc => "push_realloc",
            Api::Free => "push_free",
            Api::Private => "push_private",
            Api::ReadOnly => "push_readonly",
            Api::ProtectedBy => "push_protected_by",
            Api::Transfer => "push_transfer",
            Api::Release => "push_release",
            Api::Acquire => "push_acquire",
            Api::Racy => "push_racy",
            Api::RegisterGlobal => "push_register_global",
            Api::PlainFree => "free",
            Api::LockReleased => "push_lock_released",
            Api::AtBarrier => "a barrier opening (push_*_at)",
            Api::PrivateAt => "push_private_at",
            Api::ReadOnlyAt => "push_readonly_at",
            Api::ProtectedByAt => "push_protected_by_at",
            Api::RacyAt => "push_racy_at",
            Api::BarrierOpens => "push_barrier_opens",
            Api::Partition => "push_partition",
        }
    }
}

/// Why an annotation was refused.
#[repr(u8)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Refusal {
    #[default]
    Untracked = 0,
    NotAllowed = 1,
    NoThread = 2,
    NullLock = 3,
    NotHeld = 4,
    NullBarrier = 5,
    NotStart = 6,
    PartSize = 7,
    Packed = 8,
    AlreadyParts = 9,
    LaterPart = 10,
    Partitioned = 11,
    NoRoom = 12,
}

impl Refusal {
    pub fn text(self) -> &'static str {
        match self {
            Refusal::Untracked => "not a tracked object",
            Refusal::NotAllowed => "the caller may not change this object's policy",
            Refusal::NoThread => "not a live thread",
            Refusal::NullLock => "a null lock",
            Refusal::NotHeld => "not a lock held by the caller",
            Refusal::NullBarrier => "a null barrier",
            Refusal::NotStart => "not the start of a tracked object",
            Refusal::PartSize => {
                "the part size is not a whole number of pages (4096 bytes): \
                 round it up to pages, and pad each part's data to it"
            }
            Refusal::Packed => {
                "the object is too small to have pages of its own (2 KiB or less): \
                 allocate at least two pages"
            }
            Refusal::AlreadyParts => "the object is partitioned already, or a part",
            Refusal::LaterPart => {
                "a part of a partitioned allocation: free (or resize) the allocation, \
                 from its first part"
            }
            Refusal::Partitioned => "a partitioned allocation cannot be resized",
            Refusal::NoRoom => "no room for more tracked globals",
        }
    }
}

/// Everything a report needs, captured without allocation. Valid when
/// zero (queue slots start zeroed).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct RawReport {
    pub seq: u64,
    pub kind: Kind,
    pub is_write: u8,
    /// The call that raised it (unordered changes, annotation errors).
    pub api: Api,
    pub reason: Refusal,
    pub errno: i32,
    pub thread: u32,
    pub tid: i32,
    pub addr: usize,
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
    /// Where each holder acquired the lock (a return address, 0 unknown).
    pub holder_sites: [usize; 4],
    /// The protecting lock's last holder (thread + 1; 0 none known) and
    /// where it had acquired the lock, when nobody holds it now.
    pub last_holder: u32,
    pub last_holder_site: usize,
    /// The object's last policy change (its creation when `change_api` is
    /// `Allocation`): who made it, where, with which call.
    pub change_thread: u32,
    pub change_stack: u32,
    pub change_api: Api,
    /// Unordered policy changes: the earlier change (thread, stack id).
    pub has_other: u8,
    pub other_thread: u32,
    pub other_stack: u32,
    pub other_api: Api,
    /// Races of the annotation-free mode: the other access, observed
    /// earlier (0 none, 1 read, 2 write), and its address; its thread and
    /// stack are `other_thread` and `other_stack` (with `has_other`).
    pub previous_access: u8,
    pub previous_addr: usize,
    /// The rehash period the report was raised in.
    pub period: u64,
    /// The name of the thread `tid` (its `comm`: what `pthread_setname_np`
    /// set, 15 bytes at most, NUL-padded), captured when the report is
    /// raised; all zero when unknown.
    pub thread_name: [u8; 16],
}

impl RawReport {
    /// Fills `thread_name` when the report is raised by the thread it
    /// names: one `prctl(PR_GET_NAME)` into the report itself.
    /// Async-signal-safe (a system call, no allocation; `errno` is
    /// preserved).
    fn capture_thread_name(&mut self) {
        if self.tid == 0 || self.tid != sys::gettid() || self.thread_name[0] != 0 {
            return;
        }
        let saved = sys::errno();
        if let Some(name) = sys::thread_comm() {
            self.thread_name = name;
        }
        sys::set_errno(saved);
    }

    /// The captured thread name, if any.
    pub fn thread_name(&self) -> Option<String> {
        let len = self.thread_name.iter().position(|&b| b == 0).unwrap_or(16);
        (len > 0).then(|| String::from_utf8_lossy(&self.thread_name[..len]).into_owned())
    }
}

pub static RACES: AtomicU32 = AtomicU32::new(0);
pub static UNORDERED: AtomicU32 = AtomicU32::new(0);
pub static ANNOTATIONS: AtomicU32 = AtomicU32::new(0);
pub static SUPPRESSED: AtomicU32 = AtomicU32::new(0);

/// Total reports that count toward the exit status.
pub fn total() -> u32 {
    RACES.load(Ordering::Relaxed)
        + UNORDERED.load(Ordering::Relaxed)
        + ANNOTATIONS.load(Ordering::Relaxed)
}

/// What was checked: tracked objects, and accesses to them that faulted
/// and were checked against their policy. Every SUMMARY says it, so a run
/// that checked nothing does not read as "no races".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Checked {
    pub objects: u64,
    pub accesses: u64,
    /// Objects the annotation-free mode stopped watching (shared too
    /// finely to check at bounded cost).
    pub unwatched: u64,
    /// Times the annotation-free mode parked an object to stay within the
    /// fault budget (`auto_budget`): its accesses went unchecked a while.
    pub parked: u64,
}

impl Checked {
    /// This process so far.
    pub fn of_this_process() -> Checked {
        Checked {
            objects: crate::counters::TRACKED_OBJECTS.get() as u64,
            accesses: crate::counters::FAULTS.load(Ordering::Relaxed) as u64,
            unwatched: crate::counters::UNWATCHED_OBJECTS.load(Ordering::Relaxed) as u64,
            parked: crate::auto::budget::paused() as u64,
        }
    }

    /// `2 objects tracked, 5 accesses checked`, as the SUMMARY ends (and
    /// `, 1 object no longer watched (shared too finely)` when the
    /// annotation-free mode gave some up, and `, checking paused 3 times
    /// (cost budget)` when a budget paused checking: parked or suspended
    /// objects).
    pub fn text(self) -> String {
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        let mut s = format!(
            "{} object{} tracked, {} access{} checked",
            self.objects,
            plural(self.objects),
            self.accesses,
            if self.accesses == 1 { "" } else { "es" }
        );
        if self.unwatched > 0 {
            s.push_str(&format!(
                ", {} object{} no longer watched (shared too finely)",
                self.unwatched,
                plural(self.unwatched)
            ));
        }
        if self.parked > 0 {
            s.push_str(&format!(
                ", checking paused {} time{} (cost budget)",
                self.parked,
                plural(self.parked)
            ));
        }
        s
    }
}

/// How many reports were dropped (report queue full).
pub fn dropped() -> u32 {
    queue::DROPPED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_checked_reads_as_words() {
        let c = |objects, accesses| {
            Checked {
                objects,
                accesses,
                ..Checked::default()
            }
            .text()
        };
        assert_eq!(c(0, 0), "0 objects tracked, 0 accesses checked");
        assert_eq!(c(1, 1), "1 object tracked, 1 access checked");
        assert_eq!(c(12, 40), "12 objects tracked, 40 accesses checked");
        let given_up = Checked {
            objects: 9,
            accesses: 300,
            unwatched: 2,
            parked: 0,
        };
        assert_eq!(
            given_up.text(),
            "9 objects tracked, 300 accesses checked, 2 objects no longer watched (shared too finely)"
        );
        let parked = Checked {
            parked: 1,
            ..given_up
        };
        assert_eq!(
            parked.text(),
            "9 objects tracked, 300 accesses checked, 2 objects no longer watched (shared too finely), checking paused 1 time (cost budget)"
        );
    }

    #[test]
    fn api_codes_round_trip_and_fit_four_bits() {
        for api in Api::STORED {
            assert!(api.code() < 16);
            assert_eq!(Api::from_code(api.code()), api);
        }
        assert_eq!(Api::from_code(16), Api::Allocation);
        for api in [
            Api::PrivateAt,
            Api::ReadOnlyAt,
            Api::ProtectedByAt,
            Api::RacyAt,
        ] {
            assert_eq!(Api::from_code(api.code()), Api::AtBarrier);
        }
    }

    #[test]
    fn both_unordered_kinds_count_and_print_as_one() {
        assert_eq!(Kind::UnorderedAccess.name(), Kind::UnorderedChange.name());
        assert!(core::ptr::eq(
            Kind::UnorderedAccess.counter(),
            Kind::UnorderedChange.counter()
        ));
        assert!(Kind::Race.from_fault() && !Kind::UnorderedChange.from_fault());
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
                r.capture_thread_name();
                // Another thread's report is left alone.
                let mut other = RawReport {
                    tid: sys::gettid() + 1,
                    ..RawReport::default()
                };
                other.capture_thread_name();
                (r.thread_name(), other.thread_name())
            })
            .unwrap();
        // The kernel keeps 15 bytes of a thread name.
        assert_eq!(
            named.join().unwrap(),
            (Some("capture-name-te".to_string()), None)
        );
    }
}
