//! Happens-before tracking for validating policy changes.
//!
//! Every thread carries a vector clock in its record: component `c` holds the
//! latest epoch of the threads folded onto `c` that happens before the
//! thread's present. Thread `T` owns component `T mod VC_LEN` and increments
//! it after each release-like event, so a policy change stamped with epoch
//! `(c, ts)` happens before thread `U` iff `ts <= U.vc[c]` (or `U` made it).
//! Folding threads onto shared components can make an unordered pair look
//! ordered — it can hide a breach, never invent one.
//!
//! Synchronization objects (locks, semaphores, barriers, once controls,
//! annotation addresses) keep clocks in a sharded map, touched only from
//! ordinary context (the hooks). Releases join the thread's clock into the
//! object's, then bump the thread's own component; acquires join the
//! object's clock into the thread's. An rwlock keeps separate clocks for
//! write and read releases: a read acquire joins the write clock only, a
//! write acquire joins both.
//!
//! Mutexes and spinlocks take a faster path: the real lock already
//! serialises everything that touches that lock's clock (the release is
//! recorded before the real unlock, the acquire after the real lock), so
//! their clocks live in a lock-free, insert-only index and are read and
//! written without a lock of ours (the `exclusive` submodule).
//!
//! The fault handler only reads its own thread's clock (atomics in key-0
//! memory), so the rule-2 check at a first access needs no lock.

mod exclusive;

use crate::threads::{self, ThreadRecord};
use core::sync::atomic::Ordering;
pub use exclusive::prefetch_ex;
use exclusive::{ex_acquire, ex_clock, ex_release, ARENA_CLOCKS_USED, EX_CLOCKS, EX_NEXT};
pub(crate) use exclusive::{ExClock, ExSlot};
use push_hb::{ThreadIdx, VClock};
use std::collections::HashMap;

pub use crate::limits::VC_LEN;
const SHARDS: usize = 64;

static ENABLED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(true);

/// Turns tracking off (`hb=0`): every change then counts as ordered.
pub fn disable() {
    ENABLED.store(false, Ordering::Relaxed);
}

#[inline]
fn on() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub fn init() -> bool {
    exclusive::init()
}

/// A mutex or spinlock was released / acquired.
pub fn exclusive_release(id: u32, t: &ThreadRecord, addr: usize) {
    if on() && !ex_release(id, t, addr) {
        release(id, t, addr, false);
    }
}

pub fn exclusive_acquire(t: &ThreadRecord, addr: usize) {
    if on() && !ex_acquire(t, addr) {
        acquire(t, addr, true);
    }
}

pub fn comp(id: u32) -> usize {
    id as usize % VC_LEN
}

#[derive(Default)]
struct SyncClock {
    /// Releases by writers / exclusive holders (and every plain release).
    write: VClock,
    /// Releases by readers of an rwlock.
    read: VClock,
}

/// Addresses are already well spread after one multiply-xorshift; SipHash
/// would cost more than the rest of a lock operation.
#[derive(Default, Clone, Copy)]
struct AddrHasher(u64);

impl core::hash::Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        let x = (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ (x >> 29);
    }
}

type Map = HashMap<usize, SyncClock, core::hash::BuildHasherDefault<AddrHasher>>;
/// Futex locks: a fork child releases them whatever waited on them (see
/// `sys::FutexMutex`).
type Shard = crate::sys::FutexMutex<Option<Map>>;

static SYNC: [Shard; SHARDS] = [const { crate::sys::FutexMutex::new(None) }; SHARDS];

fn shard(addr: usize) -> &'static Shard {
    &SYNC[(addr >> 4) % SHARDS]
}

fn with_clock<R>(addr: usize, f: impl FnOnce(&mut SyncClock) -> R) -> R {
    let mut g = shard(addr).lock();
    let clock = match g.get_or_insert_with(Map::default).entry(addr) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => {
            crate::clock_index::note(addr);
            e.insert(SyncClock::default())
        }
    };
    f(clock)
}

fn read_clock<R>(addr: usize, f: impl FnOnce(&SyncClock) -> R) -> Option<R> {
    let g = shard(addr).lock();
    g.as_ref()?.get(&addr).map(f)
}

/// The epoch a thread is in: its own component and value.
pub fn epoch(id: u32, t: &ThreadRecord) -> (usize, u64) {
    let c = comp(id);
    (c, t.vc[c].load(Ordering::Relaxed))
}

/// Whether the epoch `(c, ts)` happens before the present of thread `t`.
/// Async-signal-safe.
pub fn ordered_before(c: usize, ts: u64, t: &ThreadRecord) -> bool {
    !on() || t.vc.get(c).is_some_and(|v| ts <= v.load(Ordering::Relaxed))
}

fn bump_own(id: u32, t: &ThreadRecord) {
    let c = comp(id);
    let v = &t.vc[c];
    v.store(v.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    raise_len(t, c + 1);
}

fn raise_len(t: &ThreadRecord, len: usize) {
    if t.vc_len.load(Ordering::Relaxed) < len as u32 {
        t.vc_len.store(len as u32, Ordering::Relaxed);
    }
}

fn join_into_sync(dst: &mut VClock, t: &ThreadRecord) {
    let len = (t.vc_len.load(Ordering::Relaxed) as usize).min(VC_LEN);
    for (i, v) in t.vc[..len].iter().enumerate() {
        let v = v.load(Ordering::Relaxed);
        let idx = ThreadIdx::from_u32(i as u32);
        if v > dst.get(idx) {
            dst.set_at(idx, v);
        }
    }
}

fn join_into_thread(t: &ThreadRecord, src: &VClock) {
    let s = src.as_slice();
    for (i, &v) in s.iter().enumerate().take(VC_LEN) {
        if v > t.vc[i].load(Ordering::Relaxed) {
            t.vc[i].store(v, Ordering::Relaxed);
        }
    }
    raise_len(t, s.len().min(VC_LEN));
}

/// A release of `addr` (unlock, post, arrival, `push_happens_before`).
pub fn release(id: u32, t: &ThreadRecord, addr: usize, reader: bool) {
    if !on() {
        return;
    }
    with_clock(addr, |c| {
        join_into_sync(if reader { &mut c.read } else { &mut c.write }, t)
    });
    bump_own(id, t);
}

/// An acquire of `addr`. `exclusive` acquires also join read releases.
pub fn acquire(t: &ThreadRecord, addr: usize, exclusive: bool) {
    if !on() {
        return;
    }
    let _ = read_clock(addr, |c| {
        join_into_thread(t, &c.write);
        if exclusive {
            join_into_thread(t, &c.read);
        }
    });
}

/// A sync object was destroyed: forget its clock.
pub fn forget(addr: usize) {
    crate::clock_index::unnote(addr);
    drop_clock(addr);
}

/// Memory `[start, start + len)` was freed: forget the clocks of the sync
/// objects that lived in it (programs often free a lock without destroying
/// it; a new lock at the same address must start with a clean clock).
pub fn forget_range(start: usize, len: usize) {
    crate::clock_index::take_range(start, len, drop_clock);
}

fn drop_clock(addr: usize) {
    if let Some(c) = ex_clock(addr, false) {
        let len = (c.len.load(Ordering::Relaxed) as usize).min(VC_LEN);
        for i in 0..len {
            if let Some(v) = c.component(i) {
                v.store(0, Ordering::Relaxed);
            }
        }
        c.len.store(0, Ordering::Release);
    }
    let mut g = shard(addr).lock();
    if let Some(m) = g.as_mut() {
        m.remove(&addr);
        // Give the memory back when most sync objects are gone (programs
        // that create and destroy locks by the million).
        if m.capacity() > 1024 && m.len() * 4 < m.capacity() {
            m.shrink_to(m.len() * 2);
        }
    }
}

/// Thread creation: the child starts with the parent's clock; then the
/// parent moves to a new epoch.
pub fn on_create(parent: u32, p: &ThreadRecord, child: u32) {
    let Some(c) = threads::record(child) else {
        return;
    };
    join_threads(c, p);
    bump_own(child, c);
    bump_own(parent, p);
}

/// A thread that was not created through our hook (the main thread, or one
/// made with raw clone) starts its own component.
pub fn on_adopt(id: u32, t: &ThreadRecord) {
    if t.vc[comp(id)].load(Ordering::Relaxed) == 0 {
        bump_own(id, t);
    }
}

/// `pthread_join` returned: the joined thread's whole life happens before.
pub fn on_join(joiner: &ThreadRecord, joined: &ThreadRecord) {
    join_threads(joiner, joined);
}

/// `dst`'s clock joins `src`'s (pointwise maximum).
fn join_threads(dst: &ThreadRecord, src: &ThreadRecord) {
    let len = (src.vc_len.load(Ordering::Acquire) as usize).min(VC_LEN);
    for i in 0..len {
        let v = src.vc[i].load(Ordering::Relaxed);
        if v > dst.vc[i].load(Ordering::Relaxed) {
            dst.vc[i].store(v, Ordering::Relaxed);
        }
    }
    raise_len(dst, len);
}

/// Sync objects with clocks, and the bytes their clocks use (for `verbose`).
pub fn footprint() -> (usize, usize) {
    let ex = (EX_NEXT.load(Ordering::Relaxed) as usize).min(EX_CLOCKS);
    let arena = ARENA_CLOCKS_USED.load(Ordering::Relaxed) as usize;
    let mut objects = ex + arena;
    let mut bytes = (ex + arena) * core::mem::size_of::<ExClock>();
    let occupied_slots = ex * core::mem::size_of::<ExSlot>();
    bytes += occupied_slots;
    for s in &SYNC {
        if let Some(m) = s.lock().as_ref() {
            objects += m.len();
            bytes += m.capacity() * (core::mem::size_of::<(usize, SyncClock)>() + 8);
            bytes += m
                .values()
                .map(|c| c.write.heap_bytes() + c.read.heap_bytes())
                .sum::<usize>();
        }
    }
    (objects, bytes)
}

/// Before `fork`: hold every shard so the child does not inherit a lock
/// taken by a thread that will not exist there.
pub fn before_fork() {
    crate::sys::lock_all_for_fork(&SYNC);
    crate::clock_index::before_fork();
}

/// After `fork`, in parent and child: release what `before_fork` took.
pub fn after_fork() {
    crate::clock_index::after_fork();
    crate::sys::unlock_all_after_fork(&SYNC);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(id: u32) -> &'static ThreadRecord {
        assert!(threads::init());
        let _ = id;
        let rid = threads::reserve().expect("record").id;
        threads::record(rid).expect("record")
    }

    #[test]
    fn release_acquire_orders() {
        let (a, b) = (fresh(0), fresh(1));
        let (ia, ib) = (7, 8);
        on_adopt(ia, a);
        on_adopt(ib, b);
        let (c, ts) = epoch(ia, a);
        assert!(!ordered_before(c, ts, b));
        release(ia, a, 0x1000, false);
        acquire(b, 0x1000, true);
        assert!(ordered_before(c, ts, b));
        // After the release, a's new epoch is not ordered before b.
        let (c2, ts2) = epoch(ia, a);
        assert!(!ordered_before(c2, ts2, b));
    }

    #[test]
    fn read_acquire_ignores_read_releases() {
        let (a, b) = (fresh(0), fresh(1));
        let (ia, ib) = (17, 18);
        on_adopt(ia, a);
        on_adopt(ib, b);
        let (c, ts) = epoch(ia, a);
        release(ia, a, 0x2000, true);
        acquire(b, 0x2000, false);
        assert!(!ordered_before(c, ts, b), "reader->reader is not ordered");
        acquire(b, 0x2000, true);
        assert!(ordered_before(c, ts, b), "reader->writer is ordered");
    }
}
