//! The lock and synchronization hooks: what happens around every lock,
//! unlock, condition wait, semaphore, barrier and custom synchronization.
//!
//! Two things meet here. Happens-before: each release and acquire moves
//! vector clocks (see `hb`, `barriers`). Enforcement: a thread's PKRU grants
//! the domain of each protecting lock it holds (see `domains`), so taking
//! and releasing such a lock rewrites PKRU; and a lock word inside a
//! tracked object must stay usable by the lock's own code and the kernel
//! (`futex`) whatever the object's key, which the *window* (the narrow
//! path, one WRPKRU per side) or the general path (every key open for the
//! call) guarantees. The `preload` crate's hooks choose between them with
//! [`lock_window_begin`] / [`lock_word`].

use crate::validate::{drop_validate_grant, take_validate_grant};
use crate::{
    access, backend, barriers, domains, enabled, hb, maybe_tracked, phases, refresh_pkru_of,
    registry, sys, threads, windows,
};
use core::sync::atomic::Ordering;

/// Before a call that lets the C library or the kernel at the memory at
/// `addrs` on the thread's behalf (a system call's buffers): if any of them
/// lies inside a tracked object, opens every key for the calling thread for
/// the duration of the call. Every key, not just the object's: another
/// thread may re-key the object (policy change, rehash, validation)
/// meanwhile, and the kernel checks the caller's PKRU, failing with EFAULT
/// rather than faulting. Returns whether a grant was made; the caller then
/// calls [`end_sync_grant`] afterwards. Under `mprotect` the objects are
/// opened for the call instead (see `windows`).
#[inline]
pub fn grant_for_sync(t: (u32, &threads::ThreadRecord), addrs: &[usize]) -> bool {
    if backend::is_mprotect() {
        return windows::grant_for_sync(t, addrs, false);
    }
    let granted = addrs
        .iter()
        .any(|&a| maybe_tracked(a) && registry::lookup(a).is_some());
    if granted {
        open_every_key();
    }
    granted
}

/// [`grant_for_sync`] for synchronization words (mutex, condvar, ...) that
/// the call is given by [`sync_word`]: a word with an alias needs no grant
/// (`mpk`); under `mprotect` its object is opened only to keep the
/// thread's window on it across the call's synchronization point (see
/// `windows::grant_for_sync`). Only the lock's own code runs in the grant
/// (signal handlers start with the default PKRU).
#[inline]
pub fn grant_for_words(t: (u32, &threads::ThreadRecord), addrs: &[usize]) -> bool {
    if backend::is_mprotect() {
        return windows::grant_for_sync(t, addrs, true);
    }
    let granted = addrs.iter().any(|&a| needs_grant(a));
    if granted {
        open_every_key();
    }
    granted
}

/// Whether a synchronization call on the word at `addr` takes the grant
/// path: the word lies in a tracked object, and either it has no alias
/// (see [`sync_word`]) or the backend is `mprotect`, whose grant path
/// then only keeps the holder's window on the object (see
/// `windows::grant_for_sync`).
#[inline]
fn needs_grant(addr: usize) -> bool {
    maybe_tracked(addr)
        && registry::lookup(addr).is_some()
        && (backend::is_mprotect() || registry::sync_alias(addr).is_none())
}

/// The address to give the C library for the synchronization object at
/// `addr`: its alias when it lies in a packed object (read-write whatever
/// the object's policy, so the call needs no grant), else `addr` itself.
/// Every hook that passes a synchronization object to the library must
/// pass this, on every call, whether or not the runtime checks the
/// calling thread: futex waiters and wakers must agree on the address.
#[inline]
pub fn sync_word(addr: usize) -> usize {
    if !maybe_tracked(addr) {
        return addr;
    }
    registry::sync_alias(addr).unwrap_or(addr)
}

/// The grant of [`grant_for_words`], for a caller that already knows the
/// word `lock` takes the grant path.
#[inline]
pub fn open_for_lock_call(t: (u32, &threads::ThreadRecord), lock: usize) {
    if backend::is_mprotect() {
        windows::grant_for_sync(t, &[lock], true);
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
        // Closing the call's windows is paid from the thread's budget, as
        // closing its windows at a synchronization is.
        let timer = crate::auto::budget::Timer::start();
        let keys = domains::keys();
        windows::end_sync_grant(t.1, |o| {
            keys.is_some_and(|k| access::access_allowed(k, t.0, t.1, o, true))
        });
        timer.charge(&t.1.auto_credit, false);
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
    let Some((id, obj)) = registry::lookup(lock) else {
        return LockWord::Untracked;
    };
    if !backend::is_mpk() {
        return mprotect_word(lock, (id, obj));
    }
    if registry::sync_alias(lock).is_some() {
        return LockWord::Untracked;
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

/// Under `mprotect`, a word in tracked object `obj`: the lock call takes
/// the grant path ([`LockWord::Tracked`]) unless the word has an alias and
/// its object is parked by `auto`'s fault budget or suspended by
/// `mprotect_budget` (open to every thread: there is no window to keep,
/// see `windows::grant_for_sync`).
#[inline]
fn mprotect_word(lock: usize, (id, obj): (u32, &registry::Object)) -> LockWord {
    let open_to_all = crate::auto::budget::is_parked(obj) || windows::suspended::is_suspended(id);
    if open_to_all && registry::sync_alias(lock).is_some() {
        LockWord::Untracked
    } else {
        LockWord::Tracked
    }
}

/// Where a lock's word lies, [`LockWord::Tracked`] or
/// [`LockWord::Untracked`], without opening a window: for a lock call that
/// must not be tried first (its arguments are checked before the lock).
#[inline]
pub fn lock_word(lock: usize) -> LockWord {
    if needs_grant(lock) {
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
    t.1.push_lock(lock, kind != LockKind::Read, key, acquire_site(key));
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
    let Some((id, obj)) = registry::lookup(lock) else {
        return LockWord::Untracked;
    };
    if !backend::is_mpk() {
        return mprotect_word(lock, (id, obj));
    }
    if registry::sync_alias(lock).is_some() {
        return LockWord::Untracked;
    }
    if !crate::sys::pkru::read().is_some_and(|now| now.allows(obj.key(), true)) {
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
    t.1.push_lock(lock, exclusive, key, acquire_site(key));
    match kind {
        LockKind::Exclusive => hb::exclusive_acquire(t.1, lock),
        _ => hb::acquire(t.1, lock, exclusive),
    }
    if take_validate_grant(t.1) || force_refresh || key != 0 {
        refresh_pkru_of(t.0, t.1);
    }
    if backend::is_mprotect() {
        windows::open_for_holder(t, lock);
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
    let (key, site) = t.1.pop_lock(lock);
    if site != 0 {
        domains::note_last_holder(lock, t.0, site);
    }
    key != 0
}

/// Where the program acquires a protecting lock (`key` != 0), kept so a
/// report on an object it protects can say where its holder took it; not
/// looked up for other locks.
#[inline]
fn acquire_site(key: u32) -> usize {
    if key == 0 {
        0
    } else {
        crate::stack::caller_pc()
    }
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
///
/// The last arrival of a round opens the barrier: the policy changes
/// registered for it (see `phases`) are made then, by this thread, after
/// it joined every arrival of the round and before its own arrival is
/// released, so before any thread leaves.
pub fn on_barrier_arrival(t: Option<(u32, &threads::ThreadRecord)>, addr: usize) -> usize {
    let (clock, opens) = barriers::arrive(addr);
    if let Some(t) = t {
        if opens && phases::any_for(addr) {
            let _inside = threads::enter();
            on_acquire(t, clock);
            crate::change::apply_registered(t, addr);
        }
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

/// An untracked block `[addr, addr + len)` is about to be freed.
pub fn on_untracked_free(addr: usize, len: usize) {
    if enabled() {
        hb::forget_range(addr, len);
    }
}

/// A synchronization object was destroyed.
pub fn on_sync_destroyed(addr: usize) {
    if enabled() {
        hb::forget(addr);
    }
}
