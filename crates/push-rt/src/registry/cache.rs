//! Per-thread caches of free packed slots (`threads::SlotCache`): a thread
//! that frees a small object keeps its slot, if the slot's page carries the
//! thread's key, for its own next allocation of that class; both then run
//! without the allocator's lock, which every thread's allocations would
//! otherwise contend for.
//!
//! A cached slot is free (its live bit clear) and carries the cache's key;
//! only its thread touches the cache (and not from a signal handler that
//! interrupted a change of it: see `SlotCache::busy`). The cache goes back to the free lists
//! when the thread's key changes (rehash), when the thread exits, and when
//! its record is recycled (a thread that died without exiting).

use super::alloc::{fill_slot, release_slot, retire, zero_with_all_keys, Origin, ALLOC, CLASSES};
use super::object::{class_of_state, Object};
use super::table::{object, Tables, TABLES};
use crate::counters::{LIVE_OBJECTS, TRACKED_OBJECTS};
use crate::threads::{SlotCache, CACHED_CLASSES, CACHE_DEPTH};
use core::sync::atomic::compiler_fence;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};

const _: () = assert!(CLASSES.len() == CACHED_CLASSES);

/// An allocation of `size` bytes of size class `class` for the cache's
/// thread, whose key is `key`, from a cached slot: its id and address, or
/// None (the caller takes the allocator's path).
pub(super) fn take(
    t: &Tables,
    cache: &SlotCache,
    class: usize,
    size: usize,
    origin: Origin,
    key: u32,
    zero: bool,
) -> Option<(u32, usize)> {
    let id = editing(cache, || {
        if cache.key.load(Relaxed) != key + 1 {
            return None;
        }
        let n = cache.len[class].load(Relaxed) as usize;
        if n == 0 {
            return None;
        }
        cache.len[class].store(n as u32 - 1, Relaxed);
        Some(cache.ids[class][n - 1].load(Relaxed))
    })??;
    let o = t.objects.get(id as usize)?;
    if o.is_live() || o.key() != key || class_of_state(o.state()) as usize != class + 1 {
        // Never expected: leave the slot to the allocator's checks.
        give_back(id, o);
        return None;
    }
    fill_slot(o, size, origin, key);
    LIVE_OBJECTS.add(origin.thread as usize, 1);
    TRACKED_OBJECTS.add(origin.thread as usize, 1);
    let base = o.base();
    if zero {
        zero_with_all_keys(base, size);
    }
    Some((id, base))
}

/// Frees the packed object `id` for the calling thread `thread`, whose
/// cache is `cache` and key `key`: the slot goes to the cache when it fits (its
/// page carries the thread's key, the class has room), else to the free
/// lists. Other objects go through [`super::free`].
pub fn free_cached(id: u32, thread: u32, cache: &SlotCache, key: u32) -> bool {
    let Some(o) = object(id) else { return true };
    let class = class_of_state(o.state()) as usize;
    if class == 0 || o.is_global() {
        // Large objects and globals (packed ones are never partitioned).
        return super::free(id);
    }
    if !retire(id, o, thread) {
        return true;
    }
    if editing(cache, || put(cache, id, o, class - 1, key & 0xf)) != Some(true) {
        release_slot(&mut ALLOC.lock(), class - 1, id, o.key());
    }
    true
}

/// Runs `f`, which changes `cache`, unless a change of it is under way on
/// this thread (a signal handler interrupted it): then None.
fn editing<R>(cache: &SlotCache, f: impl FnOnce() -> R) -> Option<R> {
    if cache.busy.load(Relaxed) != 0 {
        return None;
    }
    cache.busy.store(1, Relaxed);
    compiler_fence(SeqCst);
    let r = f();
    compiler_fence(SeqCst);
    cache.busy.store(0, Relaxed);
    Some(r)
}

fn put(cache: &SlotCache, id: u32, o: &Object, class: usize, key: u32) -> bool {
    if cache.key.load(Relaxed) != key + 1 {
        flush(cache);
        cache.key.store(key + 1, Relaxed);
    }
    let n = cache.len[class].load(Relaxed) as usize;
    if o.key() != key || n >= CACHE_DEPTH {
        return false;
    }
    cache.ids[class][n].store(id, Relaxed);
    cache.len[class].store(n as u32 + 1, Relaxed);
    true
}

/// Gives every slot of `cache` back to the free lists (its thread's key
/// changed, or the thread is gone).
pub fn flush(cache: &SlotCache) {
    // From its thread (exit) outside any change of it, from `put` inside
    // one, or for a gone thread's record: no guard of its own.
    let key = cache.key.load(Acquire);
    if key == 0 || TABLES.get().is_none() {
        return;
    }
    let mut st = ALLOC.lock();
    for class in 0..CACHED_CLASSES {
        let n = cache.len[class].load(Relaxed) as usize;
        for slot in &cache.ids[class][..n.min(CACHE_DEPTH)] {
            release_slot(&mut st, class, slot.load(Relaxed), key - 1);
        }
        cache.len[class].store(0, Relaxed);
    }
    cache.key.store(0, Release);
}

/// A cached slot that is not what the cache promises goes to the free
/// list of its own class and key, if it is free.
fn give_back(id: u32, o: &Object) {
    let class = class_of_state(o.state()) as usize;
    let mut st = ALLOC.lock();
    if !o.is_live() && class > 0 {
        release_slot(&mut st, class - 1, id, o.key());
    }
}
