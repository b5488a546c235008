//! Key changes: putting an object's pages under a protection key, and
//! moving every object off a key that leaves PUSh.
//!
//! Neighbouring pages that carry the same key (under `mprotect`, the same
//! base protection) merge into one kernel mapping. `maps` keeps the count
//! of kernel mappings under the budget; each key change reports how many
//! runs of equal keys it made or joined, from the keys of the pages next to
//! the object's that may share its mapping.
//!
//! Lock-free and allocation-free: the fault handler changes keys.

use super::object::{bits, class_of_state, Object};
use super::table::{object, used_ids, Tables, ARENA_PAGES, GLOBAL_BASE, TABLES};
use crate::maps;
use crate::sys::PAGE;
use core::sync::atomic::Ordering;

/// Change in the number of mappings when a run of pages goes from key `old`
/// to `new`, given the keys of its neighbours in the same mapping (None: the
/// neighbour is in another mapping anyway).
pub(super) fn run_delta(left: Option<u32>, right: Option<u32>, old: u32, new: u32) -> i64 {
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
pub(super) fn base_prot(key: u32) -> i32 {
    crate::window_words::prot_of(0, key)
}

/// Puts `pages` arena pages from `first` (the pages of `o`) under `key`.
pub(super) fn rekey_pages(
    t: &Tables,
    first: usize,
    pages: usize,
    o: &Object,
    key: u32,
) -> Result<(), i32> {
    let old = o.key();
    let last = first + pages - 1;
    let left = neighbour_key(t, o, first, last, false);
    let right = neighbour_key(t, o, first, last, true);
    let delta = run_delta(left, right, old, key);
    if !maps::may_add(delta) {
        return Err(libc::ENOMEM);
    }
    let r = if crate::backend::is_mpk() {
        // The object's own pages in the arena.
        crate::sys::pkru::pkey_mprotect(t.arena + first * PAGE, pages * PAGE, key)
    } else {
        // `mprotect`: the key names the base protection; open windows keep
        // their pages open (see `windows`).
        // A live object goes through its window word (one `mprotect` per
        // state it sees); a slot or run not handed out yet has no window.
        o.set_key_bits(key);
        let id = first as u32;
        crate::window_words::touch(id);
        if o.is_live() {
            crate::window_words::reprotect(id, o)
        } else {
            let prot = crate::window_words::prot_for(id, key);
            // The object's own pages in the arena.
            crate::backend::protect(t.arena + first * PAGE, pages * PAGE, key, prot)
        }
    };
    if let Err(e) = r {
        if e == libc::ENOMEM {
            maps::note_enomem();
        }
        if !crate::backend::is_mpk() {
            o.set_key_bits(old);
            crate::window_words::touch(first as u32);
            let _ = crate::window_words::reprotect(first as u32, o);
        }
        return Err(e);
    }
    maps::add(delta);
    o.set_key_bits(key);
    Ok(())
}

/// Gives the object the key its policy calls for, and (if `pending_key`)
/// puts its pages on `pending_key` until the first access by another thread
/// (see `validate`, which chooses it and settles the object).
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
            // The padded pages of a registered global.
            crate::sys::pkru::pkey_mprotect(o.page_start(), o.span(), key)?;
            o.set_key_bits(key);
        } else {
            o.set_key_bits(key);
            crate::window_words::touch(id as u32);
            crate::window_words::reprotect(id as u32, o)?;
        }
        return Ok(());
    }
    rekey_pages(t, id, o.span() / PAGE, o, key)
}

/// Puts the object's pages (under `mpk`) back under the key its metadata
/// names. For the fault handler, when an access faulted although the
/// thread's PKRU allowed that key: two concurrent key changes of one object
/// can apply their `pkey_mprotect` calls in one order and record their keys
/// in the other. Async-signal-safe (one system call).
pub fn reapply_key(o: &Object) -> Result<(), i32> {
    if !crate::backend::is_mpk() || !o.is_live() {
        return Ok(());
    }
    let (start, span) = (o.page_start(), o.span());
    if start == 0 || span == 0 {
        return Err(libc::EINVAL);
    }
    crate::sys::pkru::pkey_mprotect(start, span, o.key())
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

#[cfg(test)]
mod tests {
    use super::*;

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
