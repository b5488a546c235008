//! Tracked objects: where they live, their policy, and the lock-free lookup
//! from an address to the object holding it.
//!
//! Every tracked heap object has a virtual page of its own in one reserved
//! arena, so its protection key can be set alone; an object's id is the
//! number of its first arena page, and its metadata (32 bytes) sits at that
//! index of one table, so a lookup is one load (two inside a large object:
//! a table of 4-byte entries names the first page of each later page).
//!
//! Small objects (up to 2 KiB, in size classes) are packed: a *chunk* of a
//! class is M physical pages of a memfd mapped K times (K = slots per page),
//! as K *regions* of M virtual pages; slot s of physical page p is used
//! through page p of region s only. Objects share physical pages, never
//! virtual ones. A region maps consecutive file pages, so neighbouring
//! pages with the same key merge into one kernel mapping: fresh slots are
//! handed out in runs of 32 consecutive pages of a region (block by block,
//! so few physical pages are half used), each run keyed at once, to the
//! free list of the allocating thread's key, and freed slots keep their key
//! for the next object of that key (no system call on reuse). Objects of more
//! than 2 KiB get whole anonymous pages. `maps` keeps the count of kernel
//! mappings under the budget; each key change reports how many runs of equal
//! keys it made or joined.
//!
//! Memfd pages stay shared across `fork`: before it, the file is copied, and
//! the child maps the copy over every region (with the keys its pages had).
//!
//! Tracked globals live in the application's own `.bss` (page-aligned and
//! padded by `PUSH_GLOBAL`) and are found through a short range list; their
//! ids follow the arena's pages.
//!
//! Lookups and key changes are lock-free and allocation-free (the fault
//! handler uses them); allocation and free take the allocator's mutex
//! (never from a signal handler).

use crate::maps;
use crate::sys::{self, FixedArray, FutexMutex, PAGE};
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

pub const ARENA_SIZE: usize = 1 << 37;
pub const ARENA_PAGES: usize = ARENA_SIZE / PAGE;
const MAX_GLOBALS: usize = 4096;
/// Ids of globals start here.
const GLOBAL_BASE: usize = ARENA_PAGES;
/// Object ids are below this.
pub const MAX_IDS: usize = GLOBAL_BASE + MAX_GLOBALS;

/// Slot sizes of packed objects: multiples of 16, at most 128 per page.
const CLASSES: [usize; 20] = [
    32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 1024, 1360,
    2048,
];
/// Pages per region of a class's chunks: 1, 2, 4, ... up to this.
const MAX_REGION_PAGES: usize = 128;
/// Fresh slots keyed together (one `pkey_mprotect`).
const BATCH: usize = 32;
/// Freed large objects from this size on give their pages back to the
/// kernel; smaller ones keep them for the next object of their page count.
const DISCARD_MIN: usize = 128 << 10;

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

/// The bits of `Object::state`.
mod bits {
    pub const KEY: u32 = 0xf;
    pub const POLICY_KEY_SHIFT: u32 = 4;
    pub const API_SHIFT: u32 = 8;
    pub const PENDING_SHIFT: u32 = 12;
    pub const LIVE: u32 = 1 << 16;
    pub const GLOBAL: u32 = 1 << 17;
    /// First / last page of a packed region (its neighbour is in another mapping).
    pub const REGION_FIRST: u32 = 1 << 18;
    pub const REGION_LAST: u32 = 1 << 19;
    pub const CLASS_SHIFT: u32 = 20;
    pub const SLOT_SHIFT: u32 = 25;
}

/// The metadata of one arena page (or global): a live object when
/// `state & LIVE`; a free packed slot otherwise, keeping its page's key.
#[repr(C)]
#[derive(Default)]
pub struct Object {
    /// Encoded policy.
    pub policy: AtomicU64,
    /// The last policy change's epoch (component << 48 | timestamp).
    pub change_epoch: AtomicU64,
    size: AtomicU32,
    /// key:4 policy_key:4 api:4 pending:4 live global first last class:5 slot:7.
    state: AtomicU32,
    /// (thread << 17 | stack) of the allocation and of the last change.
    alloc_site: AtomicU32,
    change_site: AtomicU32,
}

const _: () = assert!(core::mem::size_of::<Object>() == 32);

fn site(thread: u32, stack: u32) -> u32 {
    (thread << 17) | (stack & 0x1_ffff)
}

fn site_of_gone(site: u32) -> u32 {
    (crate::threads::GONE << 17) | (site & 0x1_ffff)
}

/// Packs an epoch for `Object::change_epoch`.
pub fn pack_epoch(comp: usize, ts: u64) -> u64 {
    ((comp as u64) << 48) | (ts & ((1 << 48) - 1))
}

pub fn unpack_epoch(w: u64) -> (usize, u64) {
    ((w >> 48) as usize, w & ((1 << 48) - 1))
}

fn class_of_state(s: u32) -> u32 {
    (s >> bits::CLASS_SHIFT) & 31
}

impl Object {
    fn state(&self) -> u32 {
        self.state.load(Ordering::Acquire)
    }

    fn update(&self, f: impl Fn(u32) -> u32) {
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| Some(f(s)));
    }

    pub fn is_live(&self) -> bool {
        self.state() & bits::LIVE != 0
    }

    /// The key its pages carry now.
    pub fn key(&self) -> u32 {
        self.state() & bits::KEY
    }

    /// The key its policy calls for; `key` differs while pending validation.
    pub fn policy_key(&self) -> u32 {
        (self.state() >> bits::POLICY_KEY_SHIFT) & 0xf
    }

    pub fn pending(&self) -> bool {
        let s = self.state();
        s & bits::KEY != (s >> bits::POLICY_KEY_SHIFT) & 0xf
    }

    pub fn is_global(&self) -> bool {
        self.state() & bits::GLOBAL != 0
    }

    fn class(&self) -> usize {
        let c = class_of_state(self.state());
        if (1..=CLASSES.len() as u32).contains(&c) {
            CLASSES[c as usize - 1]
        } else {
            0
        }
    }

    /// The object's id (index in the table).
    pub fn id(&self) -> u32 {
        let Some(t) = TABLES.get() else { return 0 };
        let first = t.objects.get(0).map_or(0, |o| o as *const Object as usize);
        ((self as *const Object as usize - first) / core::mem::size_of::<Object>()) as u32
    }

    /// First page of the object's own pages (0 when not live).
    pub fn page_start(&self) -> usize {
        let Some(t) = TABLES.get() else { return 0 };
        let id = self.id() as usize;
        if id >= GLOBAL_BASE {
            return t
                .globals
                .get(id - GLOBAL_BASE)
                .map_or(0, |g| g[0].load(Ordering::Relaxed));
        }
        t.arena + id * PAGE
    }

    /// Start of the object; 0 when it is not live.
    pub fn base(&self) -> usize {
        let s = self.state();
        if s & bits::LIVE == 0 {
            return 0;
        }
        let c = self.class();
        self.page_start() + c * ((s >> bits::SLOT_SHIFT) as usize)
    }

    pub fn size(&self) -> usize {
        self.size.load(Ordering::Relaxed) as usize
    }

    /// Resizes in place (at most [`Self::capacity`]).
    pub fn set_size(&self, size: usize) {
        self.size
            .store(size.min(self.capacity()) as u32, Ordering::Relaxed);
    }

    /// Bytes of whole pages whose key follows the object.
    pub fn span(&self) -> usize {
        if self.class() > 0 {
            return PAGE;
        }
        let Some(t) = TABLES.get() else { return 0 };
        let id = self.id() as usize;
        if id >= GLOBAL_BASE {
            return t.globals.get(id - GLOBAL_BASE).map_or(0, |g| {
                g[1].load(Ordering::Relaxed) - g[0].load(Ordering::Relaxed)
            });
        }
        sys::page_round_up(self.size().max(1))
    }

    /// Bytes the object may grow to in place.
    pub fn capacity(&self) -> usize {
        match self.class() {
            0 => self.span(),
            c => c,
        }
    }

    pub fn policy(&self) -> Option<Policy> {
        Policy::decode(self.policy.load(Ordering::Acquire))
    }

    pub fn alloc_thread(&self) -> u32 {
        self.alloc_site.load(Ordering::Relaxed) >> 17
    }

    pub fn alloc_stack(&self) -> u32 {
        self.alloc_site.load(Ordering::Relaxed) & 0x1_ffff
    }

    pub fn change_thread(&self) -> u32 {
        self.change_site.load(Ordering::Acquire) >> 17
    }

    /// Points the allocation and last-change sites that name a thread for
    /// which `gone` holds at `threads::GONE` (its record is being recycled).
    pub fn forget_thread_sites(&self, gone: impl Fn(u32) -> bool) {
        for site in [&self.alloc_site, &self.change_site] {
            let v = site.load(Ordering::Acquire);
            if gone(v >> 17) {
                // A change made meanwhile names a live thread: keep it.
                let _ =
                    site.compare_exchange(v, site_of_gone(v), Ordering::AcqRel, Ordering::Relaxed);
            }
        }
    }

    pub fn change_stack(&self) -> u32 {
        self.change_site.load(Ordering::Relaxed) & 0x1_ffff
    }

    pub fn change_api(&self) -> u8 {
        ((self.state() >> bits::API_SHIFT) & 0xf) as u8
    }

    /// Records a policy change (the policy word itself is stored by the caller).
    pub fn record_change(&self, thread: u32, stack: u32, api: u8, epoch: u64) {
        self.change_epoch.store(epoch, Ordering::Relaxed);
        self.update(|s| (s & !(0xf << bits::API_SHIFT)) | ((api as u32 & 0xf) << bits::API_SHIFT));
        self.change_site
            .store(site(thread, stack), Ordering::Release);
    }

    /// Copies the last change of `other` (realloc).
    pub fn copy_change(&self, other: &Object) {
        self.policy
            .store(other.policy.load(Ordering::Acquire), Ordering::Release);
        self.record_change(
            other.change_thread(),
            other.change_stack(),
            other.change_api(),
            other.change_epoch.load(Ordering::Relaxed),
        );
    }

    /// Counts a fault of the changing thread while pending; returns the count
    /// before (saturating at 15).
    pub fn bump_pending_faults(&self) -> u32 {
        let before = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
                let n = (s >> bits::PENDING_SHIFT) & 0xf;
                Some(if n < 15 {
                    s + (1 << bits::PENDING_SHIFT)
                } else {
                    s
                })
            })
            .unwrap_or(0);
        (before >> bits::PENDING_SHIFT) & 0xf
    }

    fn set_key_bits(&self, key: u32) {
        self.update(|s| (s & !bits::KEY) | key);
    }
}

struct Tables {
    arena: usize,
    objects: FixedArray<Object>,
    /// For each page of a large object after its first: the object's id.
    heads: FixedArray<AtomicU32>,
    globals: FixedArray<[AtomicUsize; 2]>,
    nglobals: AtomicUsize,
}

static TABLES: OnceLock<Tables> = OnceLock::new();

/// A chunk of a size class: `region_pages` file pages from `file_page`,
/// mapped as `slots` regions from arena page `start`.
#[derive(Clone, Copy)]
struct Chunk {
    start: usize,
    region_pages: usize,
    slots: usize,
    file_page: usize,
    /// Slots handed out so far (region-major: region s, page p).
    used: usize,
}

#[derive(Default)]
struct ClassState {
    current: Option<usize>,
    chunks_made: u32,
    /// Free slots by the key their page carries.
    free: [Vec<u32>; 16],
}

struct AllocState {
    /// Next arena page never handed out (page 0 is never used).
    next_page: usize,
    classes: Vec<ClassState>,
    chunks: Vec<Chunk>,
    /// Free runs of large objects' pages, by length in pages.
    large_runs: std::collections::BTreeMap<usize, Vec<usize>>,
    file_pages: usize,
    /// The snapshot of the memfd a fork child takes over.
    fork_copy: i32,
}

static ALLOC: FutexMutex<AllocState> = FutexMutex::new(AllocState {
    next_page: 1,
    classes: Vec::new(),
    chunks: Vec::new(),
    large_runs: std::collections::BTreeMap::new(),
    file_pages: 0,
    fork_copy: -1,
});

/// The memfd backing packed objects (-1 until the first chunk).
static MEMFD: AtomicI32 = AtomicI32::new(-1);
static NEXT_PAGE: AtomicU32 = AtomicU32::new(1);

pub static LIVE_OBJECTS: AtomicUsize = AtomicUsize::new(0);
/// Objects ever tracked in this process (allocations and globals).
pub static TRACKED_OBJECTS: AtomicUsize = AtomicUsize::new(0);

pub fn init() -> bool {
    if TABLES.get().is_some() {
        return true;
    }
    let arena = sys::reserve(ARENA_SIZE);
    if arena.is_null() {
        return false;
    }
    // SAFETY: every element type is atomics, valid when zero.
    let tables = unsafe {
        (
            FixedArray::<Object>::new(ARENA_PAGES + MAX_GLOBALS),
            FixedArray::<AtomicU32>::new(ARENA_PAGES),
            FixedArray::<[AtomicUsize; 2]>::new(MAX_GLOBALS),
        )
    };
    let (Some(objects), Some(heads), Some(globals)) = tables else {
        return false;
    };
    let _ = TABLES.set(Tables {
        arena: arena as usize,
        objects,
        heads,
        globals,
        nglobals: AtomicUsize::new(0),
    });
    true
}

/// Ids `scan_id(0..scan_len())` cover every object (for the rehash scan).
pub fn scan_len() -> u32 {
    let n = TABLES
        .get()
        .map_or(0, |t| t.nglobals.load(Ordering::Acquire));
    NEXT_PAGE.load(Ordering::Relaxed) + n as u32
}

pub fn scan_id(i: u32) -> u32 {
    let pages = NEXT_PAGE.load(Ordering::Relaxed);
    if i < pages {
        i
    } else {
        (GLOBAL_BASE as u32).wrapping_add(i - pages)
    }
}

/// The live object with this id.
pub fn object(id: u32) -> Option<&'static Object> {
    let o = TABLES.get()?.objects.get(id as usize)?;
    let s = o.state();
    (s & bits::LIVE != 0).then_some(o)
}

/// Whether `addr` lies in the heap arena (a cheap pre-check for hooks).
#[inline]
pub fn in_arena(addr: usize) -> bool {
    TABLES
        .get()
        .is_some_and(|t| addr.wrapping_sub(t.arena) < ARENA_SIZE)
}

/// The number of the arena page holding `addr`, if it is in the arena.
#[inline]
pub fn arena_page(addr: usize) -> Option<usize> {
    let off = addr.wrapping_sub(TABLES.get()?.arena);
    (off < ARENA_SIZE).then_some(off / PAGE)
}

/// Starts loading what [`lookup`] of `addr` will read, so that its cache
/// misses overlap with other work.
#[inline]
pub fn prefetch_lookup(addr: usize) {
    let Some(t) = TABLES.get() else { return };
    let off = addr.wrapping_sub(t.arena);
    if off < ARENA_SIZE {
        let page = off / PAGE;
        if let Some(h) = t.heads.get(page) {
            sys::prefetch(h);
        }
        if let Some(o) = t.objects.get(page) {
            sys::prefetch(o);
        }
    }
}

/// The object whose pages hold `addr`. Lock-free, allocation-free.
pub fn lookup(addr: usize) -> Option<(u32, &'static Object)> {
    let t = TABLES.get()?;
    let off = addr.wrapping_sub(t.arena);
    if off < ARENA_SIZE {
        let page = off / PAGE;
        let id = match t.heads.get(page)?.load(Ordering::Acquire) {
            0 => page,
            head => head as usize,
        };
        let o = t.objects.get(id)?;
        let s = o.state();
        let covers = id == page || (id < page && page < id + o.span() / PAGE);
        return (s & bits::LIVE != 0 && covers).then_some((id as u32, o));
    }
    let n = t.nglobals.load(Ordering::Acquire).min(MAX_GLOBALS);
    for i in 0..n {
        let g = t.globals.get(i)?;
        let (start, end) = (g[0].load(Ordering::Relaxed), g[1].load(Ordering::Relaxed));
        if addr >= start && addr < end {
            let id = GLOBAL_BASE + i;
            let o = t.objects.get(id)?;
            return o.is_live().then_some((id as u32, o));
        }
    }
    None
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

/// Makes `o` a live object whose pages carry `key`.
fn fill(o: &Object, size: usize, origin: Origin, key: u32, keep: u32) {
    o.policy.store(origin.policy.encode(), Ordering::Relaxed);
    o.change_epoch.store(origin.epoch, Ordering::Relaxed);
    o.size.store(size as u32, Ordering::Relaxed);
    let s = site(origin.thread, origin.stack);
    o.alloc_site.store(s, Ordering::Relaxed);
    o.change_site.store(s, Ordering::Relaxed);
    let kept = o.state() & keep;
    o.state.store(
        kept | bits::LIVE | key | (key << bits::POLICY_KEY_SHIFT),
        Ordering::Release,
    );
}

/// Why an allocation gave no tracked object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// The mapping budget is spent.
    Budget,
    /// Arena, tables or the system are out of room.
    NoRoom,
}

/// Allocates a tracked heap object of `size` bytes whose pages carry `key`
/// (the allocating thread's), zeroed if `zero`.
pub fn alloc(
    size: usize,
    origin: Origin,
    key: u32,
    zero: bool,
) -> Result<(u32, usize), AllocError> {
    let t = TABLES.get().ok_or(AllocError::NoRoom)?;
    if size > u32::MAX as usize {
        return Err(AllocError::NoRoom);
    }
    let mut st = ALLOC.lock();
    let (id, base, dirty) = match CLASSES.iter().position(|&c| c >= size.max(1)) {
        Some(class) => {
            let (id, base) = alloc_packed(t, &mut st, class, key, size, origin)?;
            (id, base, true)
        }
        None => alloc_large(t, &mut st, key, size, origin)?,
    };
    drop(st);
    if zero && dirty {
        zero_with_all_keys(base, size);
    }
    LIVE_OBJECTS.fetch_add(1, Ordering::Relaxed);
    TRACKED_OBJECTS.fetch_add(1, Ordering::Relaxed);
    Ok((id, base))
}

/// Zeroes memory whatever its key (a reused slot of a packed object).
fn zero_with_all_keys(base: usize, len: usize) {
    if !crate::backend::is_mpk() {
        // `mprotect`: open the pages (the allocating thread's window opens
        // them again right after), then zero.
        let start = base & !(PAGE - 1);
        let end = sys::page_round_up(base + len);
        // SAFETY: the pages of a slot just handed to the caller.
        if unsafe {
            crate::backend::protect(start, end - start, 0, libc::PROT_READ | libc::PROT_WRITE)
        }
        .is_ok()
        {
            // SAFETY: the bytes are the caller's fresh object, now writable.
            unsafe { core::ptr::write_bytes(base as *mut u8, 0, len) };
        }
        return;
    }
    // SAFETY: the bytes are a slot just handed to the caller; PKRU is
    // restored right after (this thread runs no other code in between).
    unsafe {
        let saved = x86_check::pkru::read();
        x86_check::pkru::write(x86_check::pkru::Pkru(0));
        core::ptr::write_bytes(base as *mut u8, 0, len);
        x86_check::pkru::write(saved);
    }
}

fn alloc_packed(
    t: &Tables,
    st: &mut AllocState,
    class: usize,
    key: u32,
    size: usize,
    origin: Origin,
) -> Result<(u32, usize), AllocError> {
    if st.classes.is_empty() {
        st.classes = (0..CLASSES.len()).map(|_| ClassState::default()).collect();
    }
    let key = key & 0xf;
    let id = match st.classes[class].free[key as usize].pop() {
        Some(id) => id,
        None => match steal_free_slot(t, st, class, key) {
            Some(id) => id,
            None => {
                fresh_run(t, st, class, key)?;
                st.classes[class].free[key as usize]
                    .pop()
                    .ok_or(AllocError::NoRoom)?
            }
        },
    };
    let o = t.objects.get(id as usize).ok_or(AllocError::NoRoom)?;
    let keep = bits::REGION_FIRST
        | bits::REGION_LAST
        | (31 << bits::CLASS_SHIFT)
        | (0x7f << bits::SLOT_SHIFT);
    fill(o, size, origin, key, keep);
    Ok((id, o.base()))
}

/// A free slot of the class under another key, moved to `key`.
fn steal_free_slot(t: &Tables, st: &mut AllocState, class: usize, key: u32) -> Option<u32> {
    let lists = &mut st.classes[class].free;
    let from = (0..16).max_by_key(|&k| lists[k].len())?;
    let id = lists[from].pop()?;
    let o = t.objects.get(id as usize)?;
    if rekey_pages(t, id as usize, 1, o, key).is_err() {
        lists[from].push(id);
        return None;
    }
    Some(id)
}

/// Hands a run of fresh slots of `class` to the free list of `key`.
fn fresh_run(t: &Tables, st: &mut AllocState, class: usize, key: u32) -> Result<(), AllocError> {
    let slots = PAGE / CLASSES[class];
    let needs_chunk = match st.classes[class].current {
        Some(c) => st.chunks[c].used >= st.chunks[c].slots * st.chunks[c].region_pages,
        None => true,
    };
    if needs_chunk {
        if !maps::room_for(slots as i64 + 3) {
            return Err(AllocError::Budget);
        }
        let region_pages = (1usize << st.classes[class].chunks_made.min(7)).min(MAX_REGION_PAGES);
        let c = new_chunk(t, st, slots, region_pages)?;
        st.classes[class].current = Some(c);
        st.classes[class].chunks_made += 1;
    } else if !maps::room_for(2) {
        return Err(AllocError::Budget);
    }
    let ci = st.classes[class].current.ok_or(AllocError::NoRoom)?;
    let ch = st.chunks[ci];
    // Runs go block by block: the same pages of every region, so only the
    // block's physical pages are in use until its slots run out.
    let n = BATCH.min(ch.region_pages);
    let per_block = ch.slots * n;
    let (block, within) = (ch.used / per_block, ch.used % per_block);
    let (region, p) = (within / n, block * n);
    let first = ch.start + region * ch.region_pages + p;
    if key != 0 {
        let addr = (t.arena + first * PAGE) as *mut u8;
        // SAFETY: fresh pages of a region of ours, holding no object.
        if unsafe { crate::backend::protect(addr as usize, n * PAGE, key, base_prot(key)) }.is_err()
        {
            return Err(AllocError::NoRoom);
        }
        // Fresh neighbours carry key 0; the run's left neighbour was keyed earlier.
        let left = (p > 0).then(|| t.objects.get(first - 1).map_or(0, |o| o.key()));
        let right = (p + n < ch.region_pages).then_some(0);
        maps::add(run_delta(left, right, 0, key));
    }
    let class_bits =
        ((class as u32 + 1) << bits::CLASS_SHIFT) | ((region as u32) << bits::SLOT_SHIFT);
    for i in 0..n {
        let page = first + i;
        let mut bits = class_bits | key | (key << bits::POLICY_KEY_SHIFT);
        if p + i == 0 {
            bits |= bits::REGION_FIRST;
        }
        if p + i == ch.region_pages - 1 {
            bits |= bits::REGION_LAST;
        }
        if let Some(o) = t.objects.get(page) {
            o.state.store(bits, Ordering::Release);
        }
    }
    st.chunks[ci].used += n;
    let list = &mut st.classes[class].free[key as usize];
    list.extend((first..first + n).rev().map(|p| p as u32));
    Ok(())
}

/// Maps a new chunk: `region_pages` fresh file pages, `slots` times.
fn new_chunk(
    t: &Tables,
    st: &mut AllocState,
    slots: usize,
    region_pages: usize,
) -> Result<usize, AllocError> {
    let vpages = slots * region_pages;
    if st.next_page + vpages > ARENA_PAGES {
        return Err(AllocError::NoRoom);
    }
    let mut fd = MEMFD.load(Ordering::Relaxed);
    if fd < 0 {
        // SAFETY: memfd_create with a static name.
        fd = unsafe { libc::memfd_create(c"push-objects".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(AllocError::NoRoom);
        }
        MEMFD.store(fd, Ordering::Relaxed);
    }
    let file_page = st.file_pages;
    // SAFETY: growing our own memfd.
    if unsafe { libc::ftruncate(fd, ((file_page + region_pages) * PAGE) as libc::off_t) } != 0 {
        return Err(AllocError::NoRoom);
    }
    st.file_pages += region_pages;
    let start = st.next_page;
    for s in 0..slots {
        let addr = t.arena + (start + s * region_pages) * PAGE;
        if !map_region(fd, addr, region_pages, file_page) {
            return Err(AllocError::NoRoom);
        }
    }
    maps::add(slots as i64 + 1);
    st.next_page += vpages;
    NEXT_PAGE.store(st.next_page as u32, Ordering::Relaxed);
    st.chunks.push(Chunk {
        start,
        region_pages,
        slots,
        file_page,
        used: 0,
    });
    Ok(st.chunks.len() - 1)
}

fn map_region(fd: i32, addr: usize, pages: usize, file_page: usize) -> bool {
    // SAFETY: the range is arena pages of ours that hold no object.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            pages * PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_FIXED,
            fd,
            (file_page * PAGE) as libc::off_t,
        )
    };
    p as usize == addr
}

fn alloc_large(
    t: &Tables,
    st: &mut AllocState,
    key: u32,
    size: usize,
    origin: Origin,
) -> Result<(u32, usize, bool), AllocError> {
    let npages = size.div_ceil(PAGE);
    if !maps::room_for(2) {
        return Err(AllocError::Budget);
    }
    let mut dirty = false;
    let page = match st.large_runs.get_mut(&npages).and_then(|v| v.pop()) {
        Some(p) => {
            dirty = npages * PAGE < DISCARD_MIN;
            p
        }
        None => {
            if st.next_page + npages > ARENA_PAGES {
                return Err(AllocError::NoRoom);
            }
            st.next_page += npages;
            NEXT_PAGE.store(st.next_page as u32, Ordering::Relaxed);
            st.next_page - npages
        }
    };
    let o = t.objects.get(page).ok_or(AllocError::NoRoom)?;
    let old_key = o.key();
    for p in page + 1..page + npages {
        if let Some(h) = t.heads.get(p) {
            h.store(page as u32, Ordering::Release);
        }
    }
    o.size.store(size as u32, Ordering::Relaxed);
    o.state.store(old_key, Ordering::Release);
    if old_key != key && rekey_pages(t, page, npages, o, key).is_err() {
        st.large_runs.entry(npages).or_default().push(page);
        return Err(AllocError::NoRoom);
    }
    fill(o, size, origin, key, 0);
    Ok((page as u32, t.arena + page * PAGE, dirty))
}

/// Frees a heap object. A packed slot keeps its key for the next object of
/// that key; a large object's pages are given back to the kernel (zero) from
/// 128 KiB on, kept for reuse below.
pub fn free(id: u32) {
    let Some(t) = TABLES.get() else { return };
    let Some(o) = object(id) else { return };
    if o.is_global() {
        return;
    }
    let mut st = ALLOC.lock();
    if !o.is_live() {
        return;
    }
    let class = class_of_state(o.state());
    let span = o.span();
    if crate::backend::is_mprotect() {
        crate::windows::forget(id, o);
    }
    o.update(|s| s & !bits::LIVE & !(0xff << bits::API_SHIFT));
    o.policy.store(0, Ordering::Release);
    LIVE_OBJECTS.fetch_sub(1, Ordering::Relaxed);
    if class > 0 {
        st.classes[class as usize - 1].free[o.key() as usize].push(id);
    } else {
        if span >= DISCARD_MIN {
            // SAFETY: the pages belong to this freed object only.
            unsafe { sys::discard((t.arena + id as usize * PAGE) as *mut u8, span) };
        }
        st.large_runs
            .entry(span / PAGE)
            .or_default()
            .push(id as usize);
    }
}

/// Registers a `PUSH_GLOBAL`: page-aligned storage of `size` bytes padded to
/// whole pages by the macro.
pub fn register_global(addr: usize, size: usize, origin: Origin) -> Option<u32> {
    let t = TABLES.get()?;
    if !addr.is_multiple_of(PAGE) || size == 0 || size > u32::MAX as usize {
        return None;
    }
    let span = sys::page_round_up(size);
    let _st = ALLOC.lock();
    let i = t.nglobals.load(Ordering::Relaxed);
    if i >= MAX_GLOBALS {
        return None;
    }
    let o = t.objects.get(GLOBAL_BASE + i)?;
    let g = t.globals.get(i)?;
    g[0].store(addr, Ordering::Relaxed);
    g[1].store(addr + span, Ordering::Relaxed);
    fill(o, size, origin, 0, 0);
    o.update(|s| s | bits::GLOBAL);
    t.nglobals.store(i + 1, Ordering::Release);
    LIVE_OBJECTS.fetch_add(1, Ordering::Relaxed);
    TRACKED_OBJECTS.fetch_add(1, Ordering::Relaxed);
    Some((GLOBAL_BASE + i) as u32)
}

/// Change in the number of mappings when a run of pages goes from key `old`
/// to `new`, given the keys of its neighbours in the same mapping (None: the
/// neighbour is in another mapping anyway).
fn run_delta(left: Option<u32>, right: Option<u32>, old: u32, new: u32) -> i64 {
    let (old, new) = (mapping_class(old), mapping_class(new));
    [left, right]
        .into_iter()
        .flatten()
        .map(mapping_class)
        .map(|k| (k != new) as i64 - (k != old) as i64)
        .sum()
}

/// What makes the kernel keep neighbouring pages in separate mappings: the
/// key under `mpk`, the base protection under `mprotect` (pages of different
/// keys with the same protection merge).
fn mapping_class(key: u32) -> u32 {
    if crate::backend::is_mprotect() {
        base_prot(key) as u32 | 0x100
    } else {
        key
    }
}

/// The key of the page before `first` (or after `last`) when it may share a
/// mapping with the object's pages.
fn neighbour_key(t: &Tables, o: &Object, first: usize, last: usize, after: bool) -> Option<u32> {
    let s = o.state();
    if class_of_state(s) != 0 {
        // A packed page: its region's neighbours.
        let edge = if after {
            bits::REGION_LAST
        } else {
            bits::REGION_FIRST
        };
        if s & edge != 0 {
            return None;
        }
        let n = if after {
            last + 1
        } else {
            first.checked_sub(1)?
        };
        return t.objects.get(n).map(|o| o.key());
    }
    let n = if after {
        last + 1
    } else {
        first.checked_sub(1)?
    };
    if n == 0 || n >= ARENA_PAGES {
        return None;
    }
    let n = match t.heads.get(n)?.load(Ordering::Acquire) {
        0 => n,
        head => head as usize,
    };
    let no = t.objects.get(n)?;
    (class_of_state(no.state()) == 0).then(|| no.key())
}

/// Under `mprotect`: the protection of pages with `key` and no window.
fn base_prot(key: u32) -> i32 {
    crate::windows::prot_of(0, key)
}

/// Puts `pages` arena pages from `first` (the pages of `o`) under `key`.
fn rekey_pages(t: &Tables, first: usize, pages: usize, o: &Object, key: u32) -> Result<(), i32> {
    let old = o.key();
    let last = first + pages - 1;
    let left = neighbour_key(t, o, first, last, false);
    let right = neighbour_key(t, o, first, last, true);
    let delta = run_delta(left, right, old, key);
    if !maps::may_add(delta) {
        return Err(libc::ENOMEM);
    }
    let r = if crate::backend::is_mpk() {
        // SAFETY: the range is the object's own pages in the arena.
        unsafe {
            x86_check::pkey::mprotect(
                (t.arena + first * PAGE) as *mut u8,
                pages * PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                key,
            )
        }
    } else {
        // `mprotect`: the key names the base protection; open windows keep
        // their pages open (see `windows`).
        // A live object goes through its window word (one `mprotect` per
        // state it sees); a slot or run not handed out yet has no window.
        o.set_key_bits(key);
        let id = first as u32;
        crate::windows::touch(id);
        if o.is_live() {
            crate::windows::reprotect(id, o)
        } else {
            let prot = crate::windows::prot_for(id, key);
            // SAFETY: the range is the object's own pages in the arena.
            unsafe { crate::backend::protect(t.arena + first * PAGE, pages * PAGE, key, prot) }
        }
    };
    if let Err(e) = r {
        if e == libc::ENOMEM {
            maps::note_enomem();
        }
        if !crate::backend::is_mpk() {
            o.set_key_bits(old);
            crate::windows::touch(first as u32);
            let _ = crate::windows::reprotect(first as u32, o);
        }
        return Err(e);
    }
    maps::add(delta);
    o.set_key_bits(key);
    Ok(())
}

/// Gives the object the key its policy calls for, and (if `pending`) puts its
/// pages on `pending_key` until the first access by another thread.
pub fn set_policy_key(o: &Object, key: u32, pending_key: Option<u32>) -> Result<(), i32> {
    o.update(|s| {
        (s & !(0xf << bits::POLICY_KEY_SHIFT) & !(0xf << bits::PENDING_SHIFT))
            | ((key & 0xf) << bits::POLICY_KEY_SHIFT)
    });
    set_key(o, pending_key.unwrap_or(key))
}

/// Puts the object's pages under `key` (keeping them read-write).
/// Async-signal-safe (one system call).
pub fn set_key(o: &Object, key: u32) -> Result<(), i32> {
    let Some(t) = TABLES.get() else {
        return Err(libc::EINVAL);
    };
    if !o.is_live() {
        return Err(libc::EINVAL);
    }
    if o.key() == key {
        return Ok(());
    }
    let id = o.id() as usize;
    if id >= GLOBAL_BASE {
        if crate::backend::is_mpk() {
            // SAFETY: the padded pages of a registered global.
            unsafe {
                x86_check::pkey::mprotect(
                    o.page_start() as *mut u8,
                    o.span(),
                    libc::PROT_READ | libc::PROT_WRITE,
                    key,
                )?;
            }
            o.set_key_bits(key);
        } else {
            o.set_key_bits(key);
            crate::windows::touch(id as u32);
            crate::windows::reprotect(id as u32, o)?;
        }
        return Ok(());
    }
    rekey_pages(t, id, o.span() / PAGE, o, key)
}

/// Moves every object on key `from` (or waiting to return to it after a
/// pending check) to key `to`: `from` is leaving PUSh (given to the program).
pub fn move_key(from: u32, to: u32) {
    for id in used_ids() {
        let Some(o) = object(id) else { continue };
        if !o.is_live() {
            continue;
        }
        o.update(|s| {
            if (s >> bits::POLICY_KEY_SHIFT) & 0xf == from {
                (s & !(0xf << bits::POLICY_KEY_SHIFT)) | ((to & 0xf) << bits::POLICY_KEY_SHIFT)
            } else {
                s
            }
        });
        if o.key() == from {
            let _ = set_key(o, to);
        }
    }
}

// ---------------------------------------------------------------- fork

/// Before `fork` (parent): holds the allocator and snapshots the memfd, so
/// the child can take a private copy of every packed object.
pub fn before_fork() {
    ALLOC.lock_for_fork();
    // SAFETY: lock_for_fork holds the lock on this thread.
    let st = unsafe { ALLOC.locked_for_fork() };
    st.fork_copy = -1;
    let fd = MEMFD.load(Ordering::Relaxed);
    if fd >= 0 {
        st.fork_copy = copy_memfd(fd, st.file_pages * PAGE).unwrap_or(-1);
    }
}

/// After `fork`, in the parent.
pub fn after_fork_parent() {
    // SAFETY: before_fork holds the lock on this thread.
    let st = unsafe { ALLOC.locked_for_fork() };
    if st.fork_copy >= 0 {
        // SAFETY: closing the snapshot descriptor we made.
        unsafe { libc::close(st.fork_copy) };
        st.fork_copy = -1;
    }
    // SAFETY: before_fork took the lock on this thread.
    unsafe { ALLOC.unlock_after_fork() };
}

/// The ids objects may have now: arena pages handed out so far, then the
/// registered globals.
pub fn used_ids() -> impl Iterator<Item = u32> {
    let pages = NEXT_PAGE.load(Ordering::Acquire) as usize;
    let globals = TABLES
        .get()
        .map_or(0, |t| t.nglobals.load(Ordering::Acquire).min(MAX_GLOBALS));
    (0..pages.min(ARENA_PAGES))
        .chain(GLOBAL_BASE..GLOBAL_BASE + globals)
        .map(|i| i as u32)
}

/// After `fork`, in the child: maps the snapshot over every region and
/// gives each page its key again. Returns false if the child still shares
/// packed objects with its parent (the snapshot could not be made).
pub fn after_fork_child() -> bool {
    // SAFETY: before_fork holds the lock on this thread.
    let st = unsafe { ALLOC.locked_for_fork() };
    let ok = remap_from_copy(st);
    // SAFETY: before_fork took the lock on this thread.
    unsafe { ALLOC.unlock_after_fork() };
    ok
}

fn remap_from_copy(st: &mut AllocState) -> bool {
    let old = MEMFD.load(Ordering::Relaxed);
    if old < 0 {
        return true;
    }
    let copy = core::mem::replace(&mut st.fork_copy, -1);
    let Some(t) = TABLES.get() else { return false };
    if copy < 0 {
        return false;
    }
    let mut ok = true;
    for ch in &st.chunks {
        for s in 0..ch.slots {
            let first = ch.start + s * ch.region_pages;
            ok &= map_region(copy, t.arena + first * PAGE, ch.region_pages, ch.file_page);
            let mut run = first;
            for p in first..=first + ch.region_pages {
                let key = |p: usize| t.objects.get(p).map_or(0, |o| o.key());
                if p == first + ch.region_pages || key(p) != key(run) {
                    let k = key(run);
                    if k != 0 {
                        // SAFETY: pages of a region just mapped again.
                        ok &= unsafe {
                            crate::backend::protect(
                                t.arena + run * PAGE,
                                (p - run) * PAGE,
                                k,
                                base_prot(k),
                            )
                        }
                        .is_ok();
                    }
                    run = p;
                }
            }
        }
    }
    MEMFD.store(copy, Ordering::Relaxed);
    // SAFETY: the parent's memfd is no longer mapped through this descriptor's use.
    unsafe { libc::close(old) };
    ok
}

/// A new memfd with the data of `fd`'s first `len` bytes (holes stay holes).
fn copy_memfd(fd: i32, len: usize) -> Option<i32> {
    // SAFETY: memfd_create with a static name.
    let copy = unsafe { libc::memfd_create(c"push-objects".as_ptr(), libc::MFD_CLOEXEC) };
    if copy < 0 {
        return None;
    }
    // SAFETY: sizing and filling our own descriptors; offsets stay within len.
    let ok = unsafe {
        libc::ftruncate(copy, len as libc::off_t) == 0 && copy_data(fd, copy, len as i64)
    };
    if ok {
        Some(copy)
    } else {
        // SAFETY: closing the descriptor we just made.
        unsafe { libc::close(copy) };
        None
    }
}

/// Copies the data extents of `from` to the same offsets of `to`.
///
/// # Safety
/// Both are open descriptors of regular files at least `len` bytes long.
unsafe fn copy_data(from: i32, to: i32, len: i64) -> bool {
    let mut pos: i64 = 0;
    let mut buf = vec![0u8; 1 << 16];
    while pos < len {
        // SAFETY: lseek on our descriptor.
        let start = unsafe { libc::lseek(from, pos, libc::SEEK_DATA) };
        if start < 0 {
            return sys::errno() == libc::ENXIO;
        }
        // SAFETY: as above.
        let end = unsafe { libc::lseek(from, start, libc::SEEK_HOLE) }.min(len);
        let mut off = start;
        while off < end {
            let n = ((end - off) as usize).min(buf.len());
            // SAFETY: buf holds n bytes.
            let r = unsafe { libc::pread(from, buf.as_mut_ptr().cast(), n, off) };
            if r <= 0 {
                return false;
            }
            // SAFETY: writing the r bytes just read.
            if unsafe { libc::pwrite(to, buf.as_ptr().cast(), r as usize, off) } != r {
                return false;
            }
            off += r as i64;
        }
        pos = end.max(start + 1);
    }
    true
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

    #[test]
    fn classes_fit_pages() {
        for &c in &CLASSES {
            assert!(c % 16 == 0 && PAGE / c >= 2 && PAGE / c <= 128, "{c}");
        }
        assert_eq!(*CLASSES.last().unwrap(), 2048);
    }

    #[test]
    fn run_delta_counts_boundaries() {
        // A page between two key-0 neighbours going to key 3: two new boundaries.
        assert_eq!(run_delta(Some(0), Some(0), 0, 3), 2);
        // Back again: both disappear.
        assert_eq!(run_delta(Some(0), Some(0), 3, 0), -2);
        // Joining a left neighbour of the same key.
        assert_eq!(run_delta(Some(3), Some(0), 0, 3), 0);
        // Region edges never change.
        assert_eq!(run_delta(None, None, 0, 3), 0);
    }
}
