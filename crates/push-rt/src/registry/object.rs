//! What the registry knows of one object: its sharing [`Policy`], packed in
//! one word, and [`Object`], the 32 bytes of metadata at the object's id (a
//! live object, or a free packed slot keeping its page's key). The state
//! word's bits (keys, pending count, liveness, region edges, class and slot)
//! are defined here and read and written only through the registry.

use super::alloc::CLASSES;
use super::table::{GLOBAL_BASE, TABLES};
use crate::sys::{self, PAGE};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

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

/// A flag beside the policy in `Object::policy`: the object is watched by
/// the annotation-free mode (`auto`), which learns its policy from faults
/// (see `crate::auto`). An annotation call on it replaces the whole word,
/// making it an annotated object.
pub const WATCHED: u64 = 1 << 59;

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
        let payload = w & (WATCHED - 1);
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
pub(super) mod bits {
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
    pub(super) size: AtomicU32,
    /// key:4 policy_key:4 api:4 pending:4 live global first last class:5 slot:7.
    pub(super) state: AtomicU32,
    /// (thread << 17 | stack) of the allocation and of the last change.
    pub(super) alloc_site: AtomicU32,
    pub(super) change_site: AtomicU32,
}

const _: () = assert!(core::mem::size_of::<Object>() == 32);

pub(super) fn site(thread: u32, stack: u32) -> u32 {
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

pub(super) fn class_of_state(s: u32) -> u32 {
    (s >> bits::CLASS_SHIFT) & 31
}

impl Object {
    pub(super) fn state(&self) -> u32 {
        self.state.load(Ordering::Acquire)
    }

    pub(super) fn update(&self, f: impl Fn(u32) -> u32) {
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

    pub(super) fn class(&self) -> usize {
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

    pub(super) fn set_key_bits(&self, key: u32) {
        self.update(|s| (s & !bits::KEY) | key);
    }
}

/// The page protection of `window_words` sees an object through this.
impl crate::window_words::ObjectPages for Object {
    fn page_start(&self) -> usize {
        Object::page_start(self)
    }
    fn span(&self) -> usize {
        Object::span(self)
    }
    fn key(&self) -> u32 {
        Object::key(self)
    }
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
