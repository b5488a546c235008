//! The clocks of exclusive locks (mutexes, spinlocks): a lock-free,
//! insert-only index by address, and a table indexed directly by arena page
//! for locks inside tracked objects. The real lock serialises everything
//! that touches one lock's clock, so they are read and written without a
//! lock of ours.

use super::{bump_own, on, raise_len, VC_LEN};
use crate::sys::FixedArray;
use crate::threads::{self, ThreadRecord};
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Clocks of exclusive locks (mutexes, spinlocks), indexed by address.
const EX_SLOTS: usize = 1 << 20;
pub(super) const EX_CLOCKS: usize = 1 << 19;
const EX_INLINE: usize = 5;
/// Clocks of locks inside tracked objects, indexed directly by arena page.
const ARENA_CLOCK_SLOTS: usize = 1 << 20;

#[derive(Default)]
pub(crate) struct ExSlot {
    addr: AtomicUsize,
    /// Index + 1 into the clock array.
    index: AtomicU32,
}

/// One cache line (owner, length, five components, the spill pointer):
/// clocks of locks used by different threads never share a line, and a
/// program with thousands of locks pays 64 bytes for each.
#[derive(Default)]
#[repr(align(64))]
pub(crate) struct ExClock {
    /// The lock that owns this clock (used by the arena table, where the
    /// slot is found from the address alone).
    addr: AtomicUsize,
    pub(super) len: AtomicU32,
    inline: [AtomicU64; EX_INLINE],
    /// Components from EX_INLINE on, allocated when a clock grows that long.
    spill: crate::sys::OncePtr<[AtomicU64; VC_LEN]>,
}

const _: () = assert!(core::mem::size_of::<ExClock>() == 64);

static EX_INDEX: OnceLock<FixedArray<ExSlot>> = OnceLock::new();
static EX_TABLE: OnceLock<FixedArray<ExClock>> = OnceLock::new();
pub(super) static EX_NEXT: AtomicU32 = AtomicU32::new(0);
/// A lock inside a tracked object finds its clock at its arena page's slot,
/// with no index to probe first: one cache line per lock operation, whose
/// address the lock hooks know (and prefetch) before any lookup. A second
/// lock on the same page uses the index.
static ARENA_CLOCKS: OnceLock<FixedArray<ExClock>> = OnceLock::new();
pub(super) static ARENA_CLOCKS_USED: AtomicU32 = AtomicU32::new(0);

pub(super) fn init() -> bool {
    let index = FixedArray::<ExSlot>::new(EX_SLOTS);
    let table = FixedArray::<ExClock>::new(EX_CLOCKS);
    let arena = FixedArray::<ExClock>::new(ARENA_CLOCK_SLOTS);
    match (index, table, arena) {
        (Some(i), Some(t), Some(a)) => {
            let _ = EX_INDEX.set(i);
            let _ = EX_TABLE.set(t);
            let _ = ARENA_CLOCKS.set(a);
            true
        }
        _ => false,
    }
}

/// The clock of exclusive lock `addr`; with `insert`, created if missing.
/// `None` when absent or when the tables are full (then the lock falls back
/// to the sharded map).
pub(super) fn ex_clock(addr: usize, insert: bool) -> Option<&'static ExClock> {
    if let Some(c) = arena_clock_slot(addr) {
        match c.addr.load(Ordering::Acquire) {
            a if a == addr => return Some(c),
            0 if !insert => return None,
            0 => match c
                .addr
                .compare_exchange(0, addr, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    ARENA_CLOCKS_USED.fetch_add(1, Ordering::Relaxed);
                    crate::clock_index::note(addr);
                    return Some(c);
                }
                Err(a) if a == addr => return Some(c),
                Err(_) => {} // another lock of this page took it: use the index
            },
            _ => {}
        }
    }
    let (index, table) = (EX_INDEX.get()?, EX_TABLE.get()?);
    let mut i = crate::registry::local_index(addr, EX_SLOTS);
    for _ in 0..64 {
        let slot = index.get(i)?;
        match slot.addr.load(Ordering::Acquire) {
            a if a == addr => {
                let ix = slot.index.load(Ordering::Acquire);
                return if ix == 0 {
                    None
                } else {
                    table.get(ix as usize - 1)
                };
            }
            0 if !insert => return None,
            0 => {
                if slot
                    .addr
                    .compare_exchange(0, addr, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    continue; // lost the slot; look at it again
                }
                let ix = EX_NEXT.fetch_add(1, Ordering::Relaxed);
                if ix as usize >= EX_CLOCKS {
                    return None;
                }
                slot.index.store(ix + 1, Ordering::Release);
                crate::clock_index::note(addr);
                return table.get(ix as usize);
            }
            _ => i = (i + 1) & (EX_SLOTS - 1),
        }
    }
    None
}

impl ExClock {
    pub(super) fn component(&self, i: usize) -> Option<&AtomicU64> {
        if i < EX_INLINE {
            return self.inline.get(i);
        }
        self.spill.get().and_then(|s| s.get(i))
    }

    fn component_or_grow(&self, i: usize) -> &AtomicU64 {
        if let Some(c) = self.component(i) {
            return c;
        }
        // Only the lock holder sets it; a lost race keeps the winner's.
        let spill = self
            .spill
            .get_or_init(|| Box::new([const { AtomicU64::new(0) }; VC_LEN]));
        &spill[i]
    }
}

/// The arena table's slot for a lock inside a tracked object.
#[inline]
fn arena_clock_slot(addr: usize) -> Option<&'static ExClock> {
    let page = crate::registry::arena_page(addr)?;
    ARENA_CLOCKS.get()?.get(page & (ARENA_CLOCK_SLOTS - 1))
}

/// Starts loading what an exclusive acquire or release of `addr` will read:
/// its arena clock, the cached clock, or else the index slot it will probe
/// first.
#[inline]
pub fn prefetch_ex(t: &ThreadRecord, addr: usize) {
    if !on() {
        return;
    }
    if let Some(c) = arena_clock_slot(addr) {
        crate::sys::prefetch(c);
        return;
    }
    let e = &t.clock_cache[(addr >> 4) % threads::CLOCK_CACHE];
    if e[0].load(Ordering::Relaxed) == addr {
        crate::sys::prefetch(e[1].load(Ordering::Relaxed) as *const ExClock);
    } else if let Some(slot) = EX_INDEX
        .get()
        .and_then(|i| i.get(crate::registry::local_index(addr, EX_SLOTS)))
    {
        crate::sys::prefetch(slot);
    }
}

/// `ex_clock` through the thread's cache (clocks never move, so a cached
/// pointer stays valid).
fn ex_clock_cached(t: &ThreadRecord, addr: usize, insert: bool) -> Option<&'static ExClock> {
    let e = &t.clock_cache[(addr >> 4) % threads::CLOCK_CACHE];
    if e[0].load(Ordering::Relaxed) == addr {
        let p = e[1].load(Ordering::Relaxed);
        // Cached from `ex_clock`: the address of an item of one of the two
        // never-freed tables.
        let hit = ARENA_CLOCKS
            .get()
            .and_then(|a| a.at_addr(p))
            .or_else(|| EX_TABLE.get().and_then(|t| t.at_addr(p)));
        if let Some(c) = hit {
            return Some(c);
        }
    }
    let c = ex_clock(addr, insert)?;
    e[0].store(addr, Ordering::Relaxed);
    e[1].store(c as *const ExClock as usize, Ordering::Relaxed);
    Some(c)
}

/// Release of an exclusive lock, recorded before the real unlock.
pub(super) fn ex_release(id: u32, t: &ThreadRecord, addr: usize) -> bool {
    let Some(c) = ex_clock_cached(t, addr, true) else {
        return false;
    };
    let len = (t.vc_len.load(Ordering::Relaxed) as usize).min(VC_LEN);
    for (i, v) in t.vc[..len].iter().enumerate() {
        let v = v.load(Ordering::Relaxed);
        if v != 0 {
            let dst = c.component_or_grow(i);
            if v > dst.load(Ordering::Relaxed) {
                dst.store(v, Ordering::Relaxed);
            }
        }
    }
    if c.len.load(Ordering::Relaxed) < len as u32 {
        c.len.store(len as u32, Ordering::Release);
    }
    bump_own(id, t);
    true
}

/// Acquire of an exclusive lock, recorded after the real lock.
pub(super) fn ex_acquire(t: &ThreadRecord, addr: usize) -> bool {
    let Some(c) = ex_clock_cached(t, addr, false) else {
        return false;
    };
    let len = (c.len.load(Ordering::Acquire) as usize).min(VC_LEN);
    for i in 0..len {
        let Some(src) = c.component(i) else { break };
        let v = src.load(Ordering::Relaxed);
        if v > t.vc[i].load(Ordering::Relaxed) {
            t.vc[i].store(v, Ordering::Relaxed);
        }
    }
    raise_len(t, len);
    true
}
