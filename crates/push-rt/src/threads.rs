//! Thread records: who a thread is (`T<n>`, n in creation order, main = T0),
//! which locks it holds, and whether it has exited or been joined.
//!
//! Records live in a fixed table of key-0 memory that the fault handler reads
//! without locks; a thread finds its own through a const-initialised,
//! destructor-free thread-local, so hooks that run during thread teardown and
//! the signal handler can always use it. The table holds [`MAX_THREADS`]
//! records at once; once [`RECYCLE_FROM`] were handed out, the records of
//! threads that are gone (joined, or detached and finished) and own no
//! object are recycled (see `recycle`), so a program may create any number
//! of threads over its life. Reports name threads `T<n>`, n in creation
//! order ([`display_name`]), not by record.
//!
//! What the rest of the model adds when a record is reserved, adopted or
//! recycled (its owner ordinal, its clock) is done by `registration`, which
//! hooks and the fault handler call to register a thread.
//!
//! Only the owning thread writes its `held` array; others read it (reports,
//! holder lookups) with relaxed loads, which may be momentarily stale.

mod held_locks;
mod pthread_handles;
mod slot_cache;

use crate::sys::{self, FixedArray};
use core::cell::Cell;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
pub use held_locks::{holders_of, HeldLock};
pub use pthread_handles::{find_by_pthread, note_pthread};
pub use slot_cache::{SlotCache, CACHED_CLASSES, CACHE_DEPTH};
use std::sync::OnceLock;

pub const MAX_THREADS: usize = 1 << 15;
/// A record never handed out: objects whose allocating or changing thread's
/// record was recycled name this one ("an exited thread").
pub const GONE: u32 = MAX_THREADS as u32 - 1;
/// Records are recycled only once this many were handed out, so programs
/// with fewer threads keep one record per thread for their whole run.
pub const RECYCLE_FROM: u32 = 1024;
pub const MAX_HELD: usize = 64;

pub const STATE_FREE: u32 = 0;
pub const STATE_LIVE: u32 = 1;
pub const STATE_EXITED: u32 = 2;

/// Aligned to two cache lines so that neighbouring records (each written by
/// its own thread on every lock operation) never share one.
#[repr(align(128))]
pub struct ThreadRecord {
    pub state: AtomicU32,
    /// The thread's number in creation order: reports call it `T<serial>`.
    pub serial: AtomicU32,
    /// Created detached or detached later: nobody will join it.
    pub detached: AtomicBool,
    /// Another kernel thread runs on this thread's TLS (a raw `clone`
    /// without CLONE_SETTLS): the two cannot be told apart, so neither is
    /// checked (hooks pass through, faults are allowed).
    pub unchecked: AtomicBool,
    /// The alternate signal stack this record's threads use (0: none yet);
    /// kept when the record is recycled.
    pub alt_stack: AtomicUsize,
    /// Id + 1 of the next record on the free list (while free).
    pub next_free: AtomicU32,
    pub tid: AtomicI32,
    pub pthread: AtomicU64,
    /// Id + 1 of the thread that joined this one, 0 if none.
    pub joined_by: AtomicU32,
    pub stack_lo: AtomicUsize,
    pub stack_hi: AtomicUsize,
    pub held_len: AtomicU32,
    /// More locks held than `held` can record: lock checks are skipped.
    pub held_overflow: AtomicU32,
    pub held: [HeldLock; MAX_HELD],
    /// Non-zero while an access is being single-stepped with a temporary grant.
    pub stepping: AtomicU32,
    /// Address of the lock whose own code is running under a narrow grant
    /// (see `lock_window_begin`), 0 outside one; bit 0 is set by the fault
    /// handler when it had to open every key in that window.
    pub sync_window: AtomicUsize,
    /// Non-zero while the thread's PKRU carries the read grant on the
    /// `validate_read` key given at a changer's fault (dropped at its next
    /// synchronization; see `validate`).
    pub validate_grant: AtomicU32,
    /// Internal runtime threads (the reporter): hooks pass through.
    pub internal: AtomicBool,
    /// Owner ordinal: picks the thread's domain (see `domains`).
    pub ordinal: AtomicU32,
    /// Cached PKRU for key 0, read-only and the thread's own domain (0: not
    /// computed yet).
    pub base_pkru: AtomicU32,
    /// The domain period `base_pkru` and the held locks' keys belong to.
    pub key_period: AtomicU64,
    /// The thread's vector clock (see `hb`). Written only by the thread
    /// itself (and by its creator before it starts); read by the fault
    /// handler on the same thread and by joiners after it exits.
    pub vc: [AtomicU64; crate::limits::VC_LEN],
    /// Components at and above this index are zero.
    pub vc_len: AtomicU32,
    /// Direct-mapped cache of lock address -> clock (see `hb`), owner only.
    pub clock_cache: [[AtomicUsize; 2]; CLOCK_CACHE],
    /// `mprotect` backend: the windows this thread opened (see `windows`).
    pub windows: [AtomicU64; crate::limits::MAX_WINDOWS],
    pub nwindows: AtomicU32,
    /// Non-zero while the thread itself closes its windows.
    pub closing_windows: AtomicU32,
    /// Windows on lock words for the duration of a lock call.
    pub sync_grants: [AtomicU64; crate::limits::MAX_SYNC_GRANTS],
    pub nsync_grants: AtomicU32,
    /// Windows of the single-stepped instruction.
    pub steps: [AtomicU64; crate::limits::MAX_STEPS],
    pub nsteps: AtomicU32,
    /// Free packed slots kept for the thread's next allocations.
    pub slot_cache: SlotCache,
    /// What the thread may still spend on faults of watched objects
    /// (`auto`, see `auto::budget`).
    pub auto_credit: crate::auto::budget::Credit,
}

pub const CLOCK_CACHE: usize = 64;

static TABLE: OnceLock<FixedArray<ThreadRecord>> = OnceLock::new();
static NEXT_ID: AtomicU32 = AtomicU32::new(0);
static NEXT_SERIAL: AtomicU32 = AtomicU32::new(0);
/// Recycled records: (tag << 32) | (id + 1) of the top one, 0 when empty.
static FREE_HEAD: AtomicU64 = AtomicU64::new(0);

/// The calling thread's view of itself, in one thread-local so a hook pays
/// for one TLS lookup. Const-initialised and without `Drop`, so it is usable
/// during thread teardown and from signal handlers.
struct Local {
    /// Set while the thread runs runtime code: hooks then pass straight through.
    in_runtime: Cell<bool>,
    /// Id + 1 of the calling thread's record; 0 until registered.
    id: Cell<u32>,
    record: Cell<Option<&'static ThreadRecord>>,
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            in_runtime: Cell::new(false),
            id: Cell::new(0),
            record: Cell::new(None),
        }
    };
}

/// Allocates the table. Called once from init, before any thread is registered.
pub fn init() -> bool {
    if TABLE.get().is_some() {
        return true;
    }
    match FixedArray::<ThreadRecord>::new(MAX_THREADS) {
        Some(t) => TABLE.set(t).is_ok() || TABLE.get().is_some(),
        None => false,
    }
}

pub fn record(id: u32) -> Option<&'static ThreadRecord> {
    TABLE.get()?.get(id as usize)
}

/// Records handed out so far (the ids in use are below this).
pub fn count() -> u32 {
    NEXT_ID.load(Ordering::Acquire).min(GONE)
}

/// Threads the runtime has seen over the run (recycled records included).
pub fn created() -> u32 {
    NEXT_SERIAL.load(Ordering::Relaxed)
}

/// A record [`reserve`] handed out.
#[derive(Clone, Copy, Debug)]
pub struct Reserved {
    pub id: u32,
    /// Taken from the free list (a gone thread's record), not fresh.
    pub recycled: bool,
}

/// Reserves a record for a thread about to be created (state stays free until
/// the thread itself starts): a recycled one if any, else a fresh one. Its
/// owner ordinal is left to the caller (see `registration`).
/// Async-signal-safe.
pub fn reserve() -> Option<Reserved> {
    TABLE.get()?;
    let (id, recycled) = match pop_free() {
        Some(id) => (id, true),
        None => {
            let id = NEXT_ID.fetch_add(1, Ordering::AcqRel);
            if id >= GONE {
                NEXT_ID.store(GONE, Ordering::Release);
                return None;
            }
            (id, false)
        }
    };
    let r = record(id)?;
    r.serial.store(
        NEXT_SERIAL.fetch_add(1, Ordering::Relaxed),
        Ordering::Relaxed,
    );
    Some(Reserved { id, recycled })
}

fn pop_free() -> Option<u32> {
    let mut head = FREE_HEAD.load(Ordering::Acquire);
    loop {
        let top = (head & 0xffff_ffff) as u32;
        if top == 0 {
            return None;
        }
        // Records are never unmapped: a stale read is caught by the tag.
        let next = record(top - 1)?.next_free.load(Ordering::Relaxed);
        let new = ((head >> 32).wrapping_add(1) << 32) | u64::from(next);
        match FREE_HEAD.compare_exchange_weak(head, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return Some(top - 1),
            Err(now) => head = now,
        }
    }
}

fn push_free(id: u32) {
    let Some(r) = record(id) else { return };
    let mut head = FREE_HEAD.load(Ordering::Relaxed);
    loop {
        r.next_free
            .store((head & 0xffff_ffff) as u32, Ordering::Relaxed);
        let new = ((head >> 32).wrapping_add(1) << 32) | u64::from(id + 1);
        match FREE_HEAD.compare_exchange_weak(head, new, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(now) => head = now,
        }
    }
}

/// Whether a free list of recycled records has any.
pub fn has_free() -> bool {
    FREE_HEAD.load(Ordering::Relaxed) & 0xffff_ffff != 0
}

/// Whether record `id` belongs to a thread that is gone for good: it exited
/// and was joined, or it was detached and its kernel thread has finished.
pub fn is_gone(id: u32) -> bool {
    let Some(r) = record(id) else { return false };
    if id == 0 || id == GONE || r.state.load(Ordering::Acquire) != STATE_EXITED {
        return false;
    }
    if r.joined_by.load(Ordering::Acquire) != 0 {
        return true;
    }
    r.detached.load(Ordering::Acquire) && !sys::thread_alive(r.tid.load(Ordering::Relaxed))
}

/// Gives a gone thread's record back for reuse. The caller made sure no
/// object is private to it and no object names it as its allocating or
/// changing thread. Its own clock component is kept, so the next thread of
/// this record continues it (epochs stay monotonic): `own` is the index of
/// that component (see `registration`).
pub fn recycle(id: u32, own: usize) {
    let Some(r) = record(id) else { return };
    for (i, c) in r.vc.iter().enumerate() {
        if i != own {
            c.store(0, Ordering::Relaxed);
        }
    }
    r.vc_len.store(own as u32 + 1, Ordering::Relaxed);
    for e in &r.clock_cache {
        e[0].store(0, Ordering::Relaxed);
        e[1].store(0, Ordering::Relaxed);
    }
    for h in &r.held {
        h.addr.store(0, Ordering::Relaxed);
        h.count.store(0, Ordering::Relaxed);
        h.key.store(0, Ordering::Relaxed);
    }
    for a in [
        &r.held_len,
        &r.held_overflow,
        &r.stepping,
        &r.validate_grant,
        &r.base_pkru,
        &r.nwindows,
        &r.closing_windows,
        &r.nsync_grants,
        &r.nsteps,
        &r.joined_by,
    ] {
        a.store(0, Ordering::Relaxed);
    }
    r.sync_window.store(0, Ordering::Relaxed);
    r.auto_credit.reset();
    r.key_period.store(0, Ordering::Relaxed);
    r.stack_lo.store(0, Ordering::Relaxed);
    r.stack_hi.store(0, Ordering::Relaxed);
    r.pthread.store(0, Ordering::Relaxed);
    r.tid.store(0, Ordering::Relaxed);
    r.detached.store(false, Ordering::Relaxed);
    r.unchecked.store(false, Ordering::Relaxed);
    r.internal.store(false, Ordering::Relaxed);
    r.state.store(STATE_FREE, Ordering::Release);
    push_free(id);
}

/// How reports name record `id`: `T<n>`, n in creation order; `T?` for a
/// thread whose record was recycled since.
pub fn display_name(id: u32) -> String {
    match display_number(id) {
        Some(n) => format!("T{n}"),
        None => "T?".into(),
    }
}

/// The n of [`display_name`].
pub fn display_number(id: u32) -> Option<u32> {
    if id == GONE {
        return None;
    }
    // Without a table (unit tests), records are their own numbers.
    Some(record(id).map_or(id, |r| r.serial.load(Ordering::Relaxed)))
}

/// The first half of making `id` the calling thread's record: it takes the
/// thread's tid and pthread and turns live. Then the thread's clock starts
/// and [`make_current`] finishes (see `registration::adopt`).
/// Async-signal-safe.
pub fn claim(id: u32) -> Option<&'static ThreadRecord> {
    let r = record(id)?;
    r.tid.store(sys::gettid(), Ordering::Relaxed);
    let me = sys::pthread_self();
    r.pthread.store(me, Ordering::Relaxed);
    note_pthread(id, me);
    r.state.store(STATE_LIVE, Ordering::Release);
    Some(r)
}

/// The second half: the calling thread finds record `id` (`r`) as its own
/// from now on. Async-signal-safe.
pub fn make_current(id: u32, r: &'static ThreadRecord) {
    let _ = LOCAL.try_with(|l| {
        l.id.set(id + 1);
        l.record.set(Some(r));
    });
}

/// Records the calling thread's stack bounds (normal context only).
pub fn record_stack_bounds(id: u32) {
    let Some(r) = record(id) else { return };
    if let Some((lo, hi)) = sys::stack_bounds() {
        r.stack_lo.store(lo, Ordering::Relaxed);
        r.stack_hi.store(hi, Ordering::Relaxed);
    }
}

/// The calling thread's id, if registered.
#[inline]
pub fn current_id() -> Option<u32> {
    let v = LOCAL.try_with(|l| l.id.get()).unwrap_or(0);
    (v != 0).then(|| v - 1)
}

/// What a hook learns of the calling thread from its thread-local, in one
/// TLS lookup (see `registration::hook_thread`).
pub enum HookView {
    /// Inside runtime code, or a thread nobody checks: the hook passes
    /// straight through.
    PassThrough,
    Registered(u32, &'static ThreadRecord),
    /// Not registered yet.
    Unregistered,
}

/// For hooks: the calling thread as its thread-local knows it. One TLS
/// lookup.
#[inline]
pub fn hook_view() -> HookView {
    let (inside, id, rec) = LOCAL
        .try_with(|l| (l.in_runtime.get(), l.id.get(), l.record.get()))
        .unwrap_or((true, 0, None));
    if inside {
        return HookView::PassThrough;
    }
    if let (true, Some(rec)) = (id != 0, rec) {
        if rec.unchecked.load(Ordering::Relaxed) {
            return HookView::PassThrough;
        }
        return HookView::Registered(id - 1, rec);
    }
    HookView::Unregistered
}

pub fn current() -> Option<(u32, &'static ThreadRecord)> {
    let id = current_id()?;
    Some((id, record(id)?))
}

/// The calling thread's id and record as its thread-local caches them (also
/// inside runtime code); None until registered.
#[inline]
pub fn current_cached() -> Option<(u32, &'static ThreadRecord)> {
    let (id, rec) = LOCAL
        .try_with(|l| (l.id.get(), l.record.get()))
        .unwrap_or((0, None));
    if let (true, Some(rec)) = (id != 0, rec) {
        return Some((id - 1, rec));
    }
    None
}

/// Enters runtime code on this thread; `None` if already inside (re-entry),
/// in which case the caller must pass straight through.
#[inline]
pub fn enter() -> Option<RuntimeGuard> {
    LOCAL
        .try_with(|l| {
            if l.in_runtime.get() {
                None
            } else {
                l.in_runtime.set(true);
                Some(RuntimeGuard(()))
            }
        })
        .ok()
        .flatten()
}

pub fn in_runtime() -> bool {
    LOCAL.try_with(|l| l.in_runtime.get()).unwrap_or(true)
}

/// Marks the calling thread as inside the runtime for good (internal threads).
pub fn mark_internal() {
    let _ = LOCAL.try_with(|l| l.in_runtime.set(true));
}

pub struct RuntimeGuard(());

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        let _ = LOCAL.try_with(|l| l.in_runtime.set(false));
    }
}
