//! Stack capture without an unwinder, usable from the fault handler.
//!
//! Frames are found by following saved frame pointers (`rbp` chains). Every
//! frame pointer is checked to lie inside the thread's stack and to grow
//! upward before it is read, so a program built without frame pointers gives
//! a short stack, never a crash. Frame 0 is always the exact instruction.
//! Allocation stacks go into a depot that stores each distinct stack once.

use crate::sys::FixedArray;
use crate::threads;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

pub const MAX_FRAMES: usize = 24;

/// A captured stack: return addresses (frame 0 is the exact pc).
#[derive(Clone, Copy)]
pub struct Stack {
    pub len: usize,
    pub pcs: [usize; MAX_FRAMES],
}

impl Default for Stack {
    fn default() -> Self {
        Stack {
            len: 0,
            pcs: [0; MAX_FRAMES],
        }
    }
}

impl Stack {
    pub fn frames(&self) -> &[usize] {
        &self.pcs[..self.len.min(MAX_FRAMES)]
    }
}

/// Address range of libpush.so itself, whose frames are left out of stacks.
static SELF_TEXT: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];

pub fn set_self_range(lo: usize, hi: usize) {
    SELF_TEXT[0].store(lo, Ordering::Relaxed);
    SELF_TEXT[1].store(hi, Ordering::Relaxed);
}

fn is_self(pc: usize) -> bool {
    pc >= SELF_TEXT[0].load(Ordering::Relaxed) && pc < SELF_TEXT[1].load(Ordering::Relaxed)
}

fn bounds() -> (usize, usize) {
    threads::current()
        .map(|(_, r)| {
            (
                r.stack_lo.load(Ordering::Relaxed),
                r.stack_hi.load(Ordering::Relaxed),
            )
        })
        .unwrap_or((0, 0))
}

/// Walks the frame-pointer chain starting at `fp`, appending return
/// addresses after `first` (the exact pc, if non-zero). A `first` inside
/// libpush.so is an access the runtime made for the program (a buffer
/// touched before a system call): frame 0 is then the program's call,
/// inside its call instruction (the return address less one).
pub fn walk(first: usize, mut fp: usize, out: &mut Stack) {
    let (lo, hi) = bounds();
    let for_caller = first != 0 && is_self(first);
    if first != 0 && !for_caller {
        out.pcs[0] = first;
        out.len = 1;
    }
    if lo == 0 {
        return;
    }
    let Some(stack) = crate::sys::own_stack(lo, hi) else {
        return;
    };
    while out.len < MAX_FRAMES {
        // Inside this thread's stack, which is mapped and readable for the
        // thread's lifetime.
        let Some((next, ret)) = stack.frame_record(fp) else {
            break;
        };
        if ret < 4096 {
            break;
        }
        if !is_self(ret) {
            out.pcs[out.len] = if for_caller && out.len == 0 {
                ret - 1
            } else {
                ret
            };
            out.len += 1;
        }
        if next <= fp {
            break;
        }
        fp = next;
    }
}

/// The calling code's stack, without runtime frames.
#[inline(never)]
pub fn capture_here() -> Stack {
    let fp = crate::sys::frame_pointer();
    let mut s = Stack::default();
    walk(0, fp, &mut s);
    s
}

/// Where the program called into the runtime: the first return address
/// outside libpush.so on the calling thread's stack (0 when the walk finds
/// none). A few loads; for the lock hooks, which keep it as the site where
/// a protecting lock was acquired.
#[inline(never)]
pub fn caller_pc() -> usize {
    let (lo, hi) = bounds();
    let Some(stack) = crate::sys::own_stack(lo, hi) else {
        return 0;
    };
    let mut fp = crate::sys::frame_pointer();
    for _ in 0..MAX_FRAMES {
        let Some((next, ret)) = stack.frame_record(fp) else {
            return 0;
        };
        if ret < 4096 {
            return 0;
        }
        if !is_self(ret) {
            return ret;
        }
        if next <= fp {
            return 0;
        }
        fp = next;
    }
    0
}

/// Distinct stacks, stored once, named by a small id (0 = none).
const DEPOT_SIZE: usize = 1 << 16;

#[derive(Default)]
pub(crate) struct DepotEntry {
    /// 0 empty, 1 being written, else the stack's hash | 2.
    hash: AtomicU64,
    len: AtomicU32,
    pcs: [AtomicUsize; MAX_FRAMES],
}

static DEPOT: OnceLock<FixedArray<DepotEntry>> = OnceLock::new();

pub fn init_depot() -> bool {
    DEPOT.get().is_some()
        || FixedArray::<DepotEntry>::new(DEPOT_SIZE)
            .is_some_and(|d| DEPOT.set(d).is_ok() || DEPOT.get().is_some())
}

fn hash_of(s: &Stack) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &pc in s.frames() {
        h = crate::hashing::mix(h ^ pc as u64);
    }
    h | 2
}

/// Stores `s` (if new) and returns its id; 0 if the depot is full.
pub fn intern(s: &Stack) -> u32 {
    let Some(d) = DEPOT.get() else { return 0 };
    if s.len == 0 {
        return 0;
    }
    let h = hash_of(s);
    let mut i = (h as usize) % DEPOT_SIZE;
    for _ in 0..64 {
        let e = d.get(i).expect("index in range");
        // A stack seen before (every allocation at one site) is found with
        // loads only: no write to an entry that all threads read.
        match e.hash.load(Ordering::Acquire) {
            0 => {}
            v if v == h && same(e, s) => return i as u32 + 1,
            _ => {
                i = (i + 1) % DEPOT_SIZE;
                continue;
            }
        }
        match e
            .hash
            .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                for (slot, &pc) in e.pcs.iter().zip(s.frames()) {
                    slot.store(pc, Ordering::Relaxed);
                }
                e.len.store(s.len as u32, Ordering::Relaxed);
                e.hash.store(h, Ordering::Release);
                return i as u32 + 1;
            }
            Err(v) if v == h && same(e, s) => return i as u32 + 1,
            Err(_) => i = (i + 1) % DEPOT_SIZE,
        }
    }
    0
}

fn same(e: &DepotEntry, s: &Stack) -> bool {
    e.len.load(Ordering::Relaxed) as usize == s.len
        && e.pcs
            .iter()
            .zip(s.frames())
            .all(|(a, &b)| a.load(Ordering::Relaxed) == b)
}

/// The stack stored under `id`.
pub fn get(id: u32) -> Stack {
    let mut s = Stack::default();
    if id == 0 {
        return s;
    }
    let Some(e) = DEPOT.get().and_then(|d| d.get(id as usize - 1)) else {
        return s;
    };
    if e.hash.load(Ordering::Acquire) < 2 {
        return s;
    }
    s.len = (e.len.load(Ordering::Relaxed) as usize).min(MAX_FRAMES);
    for (dst, src) in s.pcs.iter_mut().zip(e.pcs.iter()) {
        *dst = src.load(Ordering::Relaxed);
    }
    s
}
