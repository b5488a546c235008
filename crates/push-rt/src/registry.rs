//! Tracked objects: where they live, their policy, and the lock-free lookup
//! from an address to the object holding it.
//!
//! Heap objects come from one large reserved arena (lazily backed): each
//! object gets whole pages no other object uses, so its key can be set alone.
//! A page table (one `u32` per arena page) maps a page to its object id.
//! Tracked globals live in the application's own `.bss` (page-aligned and
//! padded by `PUSH_GLOBAL`) and are found through a short range list.
//! Lookups are lock-free and allocation-free (the fault handler uses them);
//! allocation and free take an ordinary mutex (never from a signal handler).

use crate::sys::{self, FixedArray, PAGE};
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

pub const ARENA_SIZE: usize = 1 << 37;
pub const MAX_OBJECTS: usize = 1 << 22;
const MAX_GLOBALS: usize = 4096;

/// A sharing policy, packed in one word: kind in the top 4 bits, payload
/// (thread id or lock address) in the low 60.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Policy {
    Private(u32),
    ReadOnly,
    ProtectedBy(usize),
    Released,
    Racy,
}

impl Policy {
    pub fn encode(self) -> u64 {
        match self {
            Policy::Private(t) => (1 << 60) | t as u64,
            Policy::ReadOnly => 2 << 60,
            Policy::ProtectedBy(l) => (3 << 60) | (l as u64 & ((1 << 60) - 1)),
            Policy::Released => 4 << 60,
            Policy::Racy => 5 << 60,
        }
    }

    pub fn decode(w: u64) -> Option<Policy> {
        let payload = w & ((1 << 60) - 1);
        Some(match w >> 60 {
            1 => Policy::Private(payload as u32),
            2 => Policy::ReadOnly,
            3 => Policy::ProtectedBy(payload as usize),
            4 => Policy::Released,
            5 => Policy::Racy,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Policy::Private(_) => "private",
            Policy::ReadOnly => "readonly",
            Policy::ProtectedBy(_) => "protected_by",
            Policy::Released => "released",
            Policy::Racy => "racy",
        }
    }
}

#[derive(Default)]
pub struct Object {
    /// Start of the object; 0 when the slot is free.
    pub base: AtomicUsize,
    pub size: AtomicUsize,
    /// Bytes of whole pages the object owns, starting at `base`.
    pub span: AtomicUsize,
    pub policy: AtomicU64,
    pub key: AtomicU32,
    pub alloc_thread: AtomicU32,
    pub alloc_stack: AtomicU32,
    /// 1 for a `PUSH_GLOBAL`, 0 for heap objects.
    pub global: AtomicU32,
    /// The key the policy calls for; `key` differs from it while the object
    /// is pending validation (then `key` is the `validate` key).
    pub policy_key: AtomicU32,
    /// The last policy change: thread, epoch (component << 48 | timestamp),
    /// stack id and API call.
    pub change_thread: AtomicU32,
    pub change_epoch: AtomicU64,
    pub change_stack: AtomicU32,
    pub change_api: AtomicU32,
    /// Faults of the changing thread itself while pending.
    pub pending_faults: AtomicU32,
}

/// Packs an epoch for `Object::change_epoch`.
pub fn pack_epoch(comp: usize, ts: u64) -> u64 {
    ((comp as u64) << 48) | (ts & ((1 << 48) - 1))
}

pub fn unpack_epoch(w: u64) -> (usize, u64) {
    ((w >> 48) as usize, w & ((1 << 48) - 1))
}

impl Object {
    pub fn policy(&self) -> Option<Policy> {
        Policy::decode(self.policy.load(Ordering::Acquire))
    }

    pub fn contains(&self, addr: usize) -> bool {
        let base = self.base.load(Ordering::Acquire);
        base != 0 && addr >= base && addr < base + self.span.load(Ordering::Relaxed).max(1)
    }
}

struct Tables {
    arena: usize,
    pages: FixedArray<AtomicU32>,
    objects: FixedArray<Object>,
    globals: FixedArray<[AtomicUsize; 3]>,
    nglobals: AtomicUsize,
}

static TABLES: OnceLock<Tables> = OnceLock::new();

struct AllocState {
    next_page: usize,
    next_id: u32,
    free_ids: Vec<u32>,
    /// Free page runs by length in pages.
    free_runs: std::collections::BTreeMap<usize, Vec<usize>>,
}

static ALLOC: Mutex<AllocState> = Mutex::new(AllocState {
    next_page: 0,
    next_id: 1,
    free_ids: Vec::new(),
    free_runs: std::collections::BTreeMap::new(),
});

pub static LIVE_OBJECTS: AtomicUsize = AtomicUsize::new(0);

pub fn init() -> bool {
    if TABLES.get().is_some() {
        return true;
    }
    let arena = sys::reserve(ARENA_SIZE);
    if arena.is_null() {
        return false;
    }
    // SAFETY: all three element types are atomics, valid when zero.
    let tables = unsafe {
        (
            FixedArray::<AtomicU32>::new(ARENA_SIZE / PAGE),
            FixedArray::<Object>::new(MAX_OBJECTS),
            FixedArray::<[AtomicUsize; 3]>::new(MAX_GLOBALS),
        )
    };
    let (Some(pages), Some(objects), Some(globals)) = tables else {
        return false;
    };
    let _ = TABLES.set(Tables {
        arena: arena as usize,
        pages,
        objects,
        globals,
        nglobals: AtomicUsize::new(0),
    });
    true
}

/// One past the highest object id handed out so far.
pub fn max_id() -> u32 {
    MAX_ID.load(Ordering::Relaxed)
}

static MAX_ID: AtomicU32 = AtomicU32::new(1);

pub fn object(id: u32) -> Option<&'static Object> {
    TABLES.get()?.objects.get(id as usize)
}

/// Whether `addr` lies in the heap arena (a cheap pre-check for hooks).
#[inline]
pub fn in_arena(addr: usize) -> bool {
    TABLES
        .get()
        .is_some_and(|t| addr.wrapping_sub(t.arena) < ARENA_SIZE)
}

/// The object holding `addr`. Lock-free, allocation-free.
pub fn lookup(addr: usize) -> Option<(u32, &'static Object)> {
    let t = TABLES.get()?;
    let off = addr.wrapping_sub(t.arena);
    if off < ARENA_SIZE {
        let id = t.pages.get(off / PAGE)?.load(Ordering::Acquire);
        let o = t.objects.get(id as usize)?;
        return (id != 0 && o.contains(addr)).then_some((id, o));
    }
    let n = t.nglobals.load(Ordering::Acquire).min(MAX_GLOBALS);
    for i in 0..n {
        let g = t.globals.get(i)?;
        let (start, end) = (g[0].load(Ordering::Relaxed), g[1].load(Ordering::Relaxed));
        if addr >= start && addr < end {
            let id = g[2].load(Ordering::Relaxed) as u32;
            let o = t.objects.get(id as usize)?;
            return o.contains(addr).then_some((id, o));
        }
    }
    None
}

fn new_id(st: &mut AllocState) -> Option<u32> {
    if let Some(id) = st.free_ids.pop() {
        return Some(id);
    }
    if (st.next_id as usize) < MAX_OBJECTS {
        st.next_id += 1;
        MAX_ID.store(st.next_id, Ordering::Relaxed);
        Some(st.next_id - 1)
    } else {
        None
    }
}

/// Where a new object comes from: its first owner and allocation stack.
#[derive(Clone, Copy)]
pub struct Origin {
    pub policy: Policy,
    pub thread: u32,
    pub stack: u32,
    /// The allocating thread's epoch (the object's first "policy change").
    pub epoch: u64,
}

fn fill(o: &Object, base: usize, size: usize, span: usize, origin: Origin, global: bool) {
    o.size.store(size, Ordering::Relaxed);
    o.span.store(span, Ordering::Relaxed);
    o.policy.store(origin.policy.encode(), Ordering::Relaxed);
    o.key.store(0, Ordering::Relaxed);
    o.policy_key.store(0, Ordering::Relaxed);
    o.change_thread.store(origin.thread, Ordering::Relaxed);
    o.change_epoch.store(origin.epoch, Ordering::Relaxed);
    o.change_stack.store(origin.stack, Ordering::Relaxed);
    o.change_api.store(0, Ordering::Relaxed);
    o.pending_faults.store(0, Ordering::Relaxed);
    o.alloc_thread.store(origin.thread, Ordering::Relaxed);
    o.alloc_stack.store(origin.stack, Ordering::Relaxed);
    o.global.store(global as u32, Ordering::Relaxed);
    o.base.store(base, Ordering::Release);
}

/// Allocates a tracked heap object of `size` bytes on fresh (zeroed) pages,
/// still on key 0. The caller sets its key.
pub fn alloc(size: usize, origin: Origin) -> Option<(u32, usize)> {
    let t = TABLES.get()?;
    let npages = size.max(1).div_ceil(PAGE);
    let mut st = ALLOC.lock().unwrap_or_else(|e| e.into_inner());
    let page = match st.free_runs.get_mut(&npages).and_then(|v| v.pop()) {
        Some(p) => p,
        None => {
            if (st.next_page + npages) * PAGE > ARENA_SIZE {
                return None;
            }
            st.next_page += npages;
            st.next_page - npages
        }
    };
    let Some(id) = new_id(&mut st) else {
        st.free_runs.entry(npages).or_default().push(page);
        return None;
    };
    drop(st);
    let base = t.arena + page * PAGE;
    fill(
        t.objects.get(id as usize)?,
        base,
        size,
        npages * PAGE,
        origin,
        false,
    );
    for p in page..page + npages {
        t.pages.get(p)?.store(id, Ordering::Release);
    }
    LIVE_OBJECTS.fetch_add(1, Ordering::Relaxed);
    Some((id, base))
}

/// Frees a heap object: its pages go back to key 0, zeroed, for reuse.
pub fn free(id: u32) {
    let Some(t) = TABLES.get() else { return };
    let Some(o) = t.objects.get(id as usize) else {
        return;
    };
    let base = o.base.swap(0, Ordering::AcqRel);
    if base == 0 || o.global.load(Ordering::Relaxed) != 0 {
        return;
    }
    let span = o.span.load(Ordering::Relaxed);
    let page = (base - t.arena) / PAGE;
    for p in page..page + span / PAGE {
        if let Some(e) = t.pages.get(p) {
            e.store(0, Ordering::Release);
        }
    }
    // SAFETY: the pages belong to this freed object only; nobody tracks them now.
    unsafe {
        let _ =
            x86_check::pkey::mprotect(base as *mut u8, span, libc::PROT_READ | libc::PROT_WRITE, 0);
        sys::discard(base as *mut u8, span);
    }
    o.policy.store(0, Ordering::Release);
    LIVE_OBJECTS.fetch_sub(1, Ordering::Relaxed);
    let mut st = ALLOC.lock().unwrap_or_else(|e| e.into_inner());
    st.free_runs.entry(span / PAGE).or_default().push(page);
    st.free_ids.push(id);
}

/// Registers a `PUSH_GLOBAL`: page-aligned storage of `size` bytes padded to
/// whole pages by the macro.
pub fn register_global(addr: usize, size: usize, origin: Origin) -> Option<u32> {
    let t = TABLES.get()?;
    if !addr.is_multiple_of(PAGE) || size == 0 {
        return None;
    }
    let span = sys::page_round_up(size);
    let mut st = ALLOC.lock().unwrap_or_else(|e| e.into_inner());
    let i = t.nglobals.load(Ordering::Relaxed);
    if i >= MAX_GLOBALS {
        return None;
    }
    let id = new_id(&mut st)?;
    fill(t.objects.get(id as usize)?, addr, size, span, origin, true);
    let g = t.globals.get(i)?;
    g[0].store(addr, Ordering::Relaxed);
    g[1].store(addr + span, Ordering::Relaxed);
    g[2].store(id as usize, Ordering::Relaxed);
    t.nglobals.store(i + 1, Ordering::Release);
    LIVE_OBJECTS.fetch_add(1, Ordering::Relaxed);
    Some(id)
}

impl Object {
    pub fn pending(&self) -> bool {
        self.key.load(Ordering::Acquire) != self.policy_key.load(Ordering::Acquire)
    }
}

/// Gives the object the key its policy calls for, and (if `pending`) puts its
/// pages on `pending_key` until the first access by another thread.
pub fn set_policy_key(o: &Object, key: u32, pending_key: Option<u32>) -> Result<(), i32> {
    o.policy_key.store(key, Ordering::Release);
    o.pending_faults.store(0, Ordering::Relaxed);
    set_key(o, pending_key.unwrap_or(key))
}

/// Puts the object's pages under `key` (keeping them read-write).
/// Async-signal-safe (one system call).
pub fn set_key(o: &Object, key: u32) -> Result<(), i32> {
    let base = o.base.load(Ordering::Acquire);
    if base == 0 {
        return Err(libc::EINVAL);
    }
    if o.key.load(Ordering::Relaxed) == key {
        return Ok(());
    }
    // SAFETY: the range is the object's own pages (arena or padded global).
    unsafe {
        x86_check::pkey::mprotect(
            base as *mut u8,
            o.span.load(Ordering::Relaxed),
            libc::PROT_READ | libc::PROT_WRITE,
            key,
        )?;
    }
    o.key.store(key, Ordering::Release);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_words_round_trip() {
        for p in [
            Policy::Private(0),
            Policy::Private(u32::MAX),
            Policy::ReadOnly,
            Policy::ProtectedBy(0x7fff_ffff_f000),
            Policy::Released,
            Policy::Racy,
        ] {
            assert_eq!(Policy::decode(p.encode()), Some(p));
        }
        assert_eq!(Policy::decode(0), None);
    }
}
