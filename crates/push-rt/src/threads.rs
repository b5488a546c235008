//! Thread records: who a thread is (`T<n>`, n in creation order, main = T0),
//! which locks it holds, and whether it has exited or been joined.
//!
//! Records live in a fixed table of key-0 memory that the fault handler reads
//! without locks; a thread finds its own through a const-initialised,
//! destructor-free thread-local, so hooks that run during thread teardown and
//! the signal handler can always use it. Records are never reused (ids stay
//! unambiguous in reports and policies); the table holds [`MAX_THREADS`].
//!
//! Only the owning thread writes its `held` array; others read it (reports,
//! holder lookups) with relaxed loads, which may be momentarily stale.

use crate::sys::{self, FixedArray};
use core::cell::Cell;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

pub const MAX_THREADS: usize = 1 << 15;
pub const MAX_HELD: usize = 64;

pub const STATE_FREE: u32 = 0;
pub const STATE_LIVE: u32 = 1;
pub const STATE_EXITED: u32 = 2;

/// A lock held by a thread: its address, whether exclusively, and the
/// recursion count.
#[derive(Default)]
pub struct HeldLock {
    pub addr: AtomicUsize,
    pub exclusive: AtomicBool,
    pub count: AtomicU32,
    /// The protection key of the objects this lock protects (0: none),
    /// cached at acquisition so PKRU updates need no lookup.
    pub key: AtomicU32,
}

/// Aligned to two cache lines so that neighbouring records (each written by
/// its own thread on every lock operation) never share one.
#[repr(align(128))]
pub struct ThreadRecord {
    pub state: AtomicU32,
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
    /// synchronization).
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
    pub vc: [AtomicU64; crate::hb::VC_LEN],
    /// Components at and above this index are zero.
    pub vc_len: AtomicU32,
    /// Direct-mapped cache of lock address -> clock (see `hb`), owner only.
    pub clock_cache: [[AtomicUsize; 2]; CLOCK_CACHE],
    /// `mprotect` backend: the windows this thread opened (see `windows`).
    pub windows: [AtomicU64; crate::windows::MAX_WINDOWS],
    pub nwindows: AtomicU32,
    /// Non-zero while the thread itself closes its windows.
    pub closing_windows: AtomicU32,
    /// Windows on lock words for the duration of a lock call.
    pub sync_grants: [AtomicU64; crate::windows::MAX_SYNC_GRANTS],
    pub nsync_grants: AtomicU32,
    /// Windows of the single-stepped instruction.
    pub steps: [AtomicU64; crate::windows::MAX_STEPS],
    pub nsteps: AtomicU32,
}

pub const CLOCK_CACHE: usize = 64;

static TABLE: OnceLock<FixedArray<ThreadRecord>> = OnceLock::new();
static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// The calling thread's view of itself, in one thread-local so a hook pays
/// for one TLS lookup. Const-initialised and without `Drop`, so it is usable
/// during thread teardown and from signal handlers.
struct Local {
    /// Set while the thread runs runtime code: hooks then pass straight through.
    in_runtime: Cell<bool>,
    /// Id + 1 of the calling thread's record; 0 until registered.
    id: Cell<u32>,
    record: Cell<*const ThreadRecord>,
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            in_runtime: Cell::new(false),
            id: Cell::new(0),
            record: Cell::new(core::ptr::null()),
        }
    };
}

/// Allocates the table. Called once from init, before any thread is registered.
pub fn init() -> bool {
    if TABLE.get().is_some() {
        return true;
    }
    // SAFETY: ThreadRecord is all atomics; zero is a valid (free) record.
    match unsafe { FixedArray::<ThreadRecord>::new(MAX_THREADS) } {
        Some(t) => TABLE.set(t).is_ok() || TABLE.get().is_some(),
        None => false,
    }
}

pub fn record(id: u32) -> Option<&'static ThreadRecord> {
    TABLE.get()?.get(id as usize)
}

pub fn count() -> u32 {
    NEXT_ID.load(Ordering::Acquire).min(MAX_THREADS as u32)
}

/// Reserves a record for a thread about to be created (state stays free until
/// the thread itself starts).
pub fn reserve() -> Option<u32> {
    TABLE.get()?;
    let id = NEXT_ID.fetch_add(1, Ordering::AcqRel);
    if (id as usize) < MAX_THREADS {
        record(id)?
            .ordinal
            .store(crate::domains::next_ordinal(), Ordering::Relaxed);
        Some(id)
    } else {
        NEXT_ID.store(MAX_THREADS as u32, Ordering::Release);
        None
    }
}

/// Makes `id` the calling thread's record. Async-signal-safe.
pub fn adopt(id: u32) {
    let Some(r) = record(id) else { return };
    r.tid.store(sys::gettid(), Ordering::Relaxed);
    // SAFETY: pthread_self only reads the thread pointer.
    r.pthread
        .store(unsafe { libc::pthread_self() } as u64, Ordering::Relaxed);
    r.state.store(STATE_LIVE, Ordering::Release);
    crate::hb::on_adopt(id, r);
    let _ = LOCAL.try_with(|l| {
        l.id.set(id + 1);
        l.record.set(r);
    });
}

/// Records the calling thread's stack bounds (normal context only).
pub fn record_stack_bounds(id: u32) {
    let Some(r) = record(id) else { return };
    // SAFETY: pthread_getattr_np fills a zeroed attr for the calling thread;
    // we destroy it afterwards.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) == 0 {
            let mut addr: *mut libc::c_void = core::ptr::null_mut();
            let mut size: libc::size_t = 0;
            if libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0 {
                r.stack_lo.store(addr as usize, Ordering::Relaxed);
                r.stack_hi.store(addr as usize + size, Ordering::Relaxed);
            }
            libc::pthread_attr_destroy(&mut attr);
        }
    }
}

/// The calling thread's id, if registered.
#[inline]
pub fn current_id() -> Option<u32> {
    let v = LOCAL.try_with(|l| l.id.get()).unwrap_or(0);
    (v != 0).then(|| v - 1)
}

/// For hooks: the calling thread's id and record (registering it if needed),
/// or None when the thread is inside runtime code. One TLS lookup.
#[inline]
pub fn hook_thread() -> Option<(u32, &'static ThreadRecord)> {
    let (inside, id, rec) = LOCAL
        .try_with(|l| (l.in_runtime.get(), l.id.get(), l.record.get()))
        .unwrap_or((true, 0, core::ptr::null()));
    if inside {
        return None;
    }
    if id != 0 && !rec.is_null() {
        // SAFETY: `record` points into the never-freed thread table.
        return Some((id - 1, unsafe { &*rec }));
    }
    current_or_register().and_then(|id| Some((id, record(id)?)))
}

/// The calling thread's id, registering it first if needed.
/// Async-signal-safe (stack bounds are filled in later from normal context).
pub fn current_or_register() -> Option<u32> {
    if let Some(id) = current_id() {
        return Some(id);
    }
    let id = reserve()?;
    adopt(id);
    Some(id)
}

pub fn current() -> Option<(u32, &'static ThreadRecord)> {
    let id = current_id()?;
    Some((id, record(id)?))
}

/// Like [`hook_thread`] but also inside runtime code.
#[inline]
pub fn current_or_register_record() -> Option<(u32, &'static ThreadRecord)> {
    let (id, rec) = LOCAL
        .try_with(|l| (l.id.get(), l.record.get()))
        .unwrap_or((0, core::ptr::null()));
    if id != 0 && !rec.is_null() {
        // SAFETY: `record` points into the never-freed thread table.
        return Some((id - 1, unsafe { &*rec }));
    }
    current_or_register().and_then(|id| Some((id, record(id)?)))
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

/// Finds the live or exited (not yet reused) record of a pthread handle.
pub fn find_by_pthread(p: u64) -> Option<u32> {
    let n = count();
    (0..n).rev().find(|&id| {
        record(id).is_some_and(|r| {
            r.state.load(Ordering::Acquire) != STATE_FREE && r.pthread.load(Ordering::Relaxed) == p
        })
    })
}

impl ThreadRecord {
    /// Records an acquisition of `addr`. Owner thread only.
    #[inline]
    pub fn push_lock(&self, addr: usize, exclusive: bool, key: u32) {
        let len = self.held_len.load(Ordering::Relaxed) as usize;
        for h in self.held[..len].iter().rev() {
            if h.addr.load(Ordering::Relaxed) == addr {
                // Only the owner writes its held array: no read-modify-write needed.
                h.count
                    .store(h.count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                return;
            }
        }
        if len == MAX_HELD {
            self.held_overflow.store(
                self.held_overflow.load(Ordering::Relaxed) + 1,
                Ordering::Relaxed,
            );
            return;
        }
        let h = &self.held[len];
        h.addr.store(addr, Ordering::Relaxed);
        h.exclusive.store(exclusive, Ordering::Relaxed);
        h.count.store(1, Ordering::Relaxed);
        h.key.store(key, Ordering::Relaxed);
        self.held_len.store(len as u32 + 1, Ordering::Release);
    }

    /// Records a release of `addr`; returns the key cached for it (0 if the
    /// lock protects nothing or was not recorded as held). Owner thread only.
    #[inline]
    pub fn pop_lock(&self, addr: usize) -> u32 {
        let len = self.held_len.load(Ordering::Relaxed) as usize;
        for i in (0..len).rev() {
            let h = &self.held[i];
            if h.addr.load(Ordering::Relaxed) != addr {
                continue;
            }
            let key = h.key.load(Ordering::Relaxed);
            let count = h.count.load(Ordering::Relaxed);
            if count > 1 {
                h.count.store(count - 1, Ordering::Relaxed);
                return key;
            }
            for j in i..len - 1 {
                let (dst, src) = (&self.held[j], &self.held[j + 1]);
                dst.addr
                    .store(src.addr.load(Ordering::Relaxed), Ordering::Relaxed);
                dst.exclusive
                    .store(src.exclusive.load(Ordering::Relaxed), Ordering::Relaxed);
                dst.count
                    .store(src.count.load(Ordering::Relaxed), Ordering::Relaxed);
                dst.key
                    .store(src.key.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            self.held_len.store(len as u32 - 1, Ordering::Release);
            return key;
        }
        let overflow = self.held_overflow.load(Ordering::Relaxed);
        if overflow > 0 {
            self.held_overflow.store(overflow - 1, Ordering::Relaxed);
        }
        0
    }

    /// How this thread holds `addr`: Some(true) exclusively, Some(false) shared.
    pub fn holds(&self, addr: usize) -> Option<bool> {
        let len = self.held_len.load(Ordering::Acquire) as usize;
        self.held[..len.min(MAX_HELD)]
            .iter()
            .find(|h| h.addr.load(Ordering::Relaxed) == addr)
            .map(|h| h.exclusive.load(Ordering::Relaxed))
    }

    pub fn overflowed(&self) -> bool {
        self.held_overflow.load(Ordering::Relaxed) > 0
    }
}

/// Threads currently holding `lock` (at most `out.len()`), for reports.
pub fn holders_of(lock: usize, out: &mut [u32]) -> usize {
    let mut n = 0;
    for id in 0..count() {
        if n == out.len() {
            break;
        }
        if let Some(r) = record(id) {
            if r.state.load(Ordering::Relaxed) == STATE_LIVE && r.holds(lock).is_some() {
                out[n] = id;
                n += 1;
            }
        }
    }
    n
}
