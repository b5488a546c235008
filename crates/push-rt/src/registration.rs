//! Registering threads: a thread record's life as the rest of the model
//! sees it. Reserving a record gives it an owner ordinal (its domain, see
//! `domains`), adopting it starts the thread's clock (see `hb`), recycling
//! it keeps the clock's own component; `threads` keeps the records
//! themselves.
//!
//! Hooks and the fault handler register a thread they do not know yet
//! (one created before the runtime started, or by a raw `clone`) here, in
//! one step. Async-signal-safe: atomics only, no allocation, no lock.

use crate::threads::{self, HookView, ThreadRecord};
use core::sync::atomic::Ordering;

/// Reserves a record for a thread about to be created (see
/// [`threads::reserve`]) and gives it an owner ordinal: a recycled record
/// keeps the gone thread's (it owned nothing), so owners stay as many as
/// records. Async-signal-safe.
pub fn reserve() -> Option<u32> {
    let threads::Reserved { id, recycled } = threads::reserve()?;
    let r = threads::record(id)?;
    if recycled {
        crate::domains::revive_ordinal(r.ordinal.load(Ordering::Relaxed));
    } else {
        r.ordinal
            .store(crate::domains::next_ordinal(), Ordering::Relaxed);
    }
    Some(id)
}

/// Makes `id` the calling thread's record and starts its clock.
/// Async-signal-safe.
pub fn adopt(id: u32) {
    let Some(r) = threads::claim(id) else { return };
    crate::hb::on_adopt(id, r);
    threads::make_current(id, r);
}

/// Gives a gone thread's record back for reuse (see [`threads::recycle`]),
/// keeping its own clock component.
pub fn recycle(id: u32) {
    threads::recycle(id, crate::hb::comp(id));
}

/// The calling thread's id, registering it first if needed.
/// Async-signal-safe (stack bounds are filled in later from normal context).
pub fn current_or_register() -> Option<u32> {
    if let Some(id) = threads::current_id() {
        return Some(id);
    }
    let id = reserve()?;
    adopt(id);
    Some(id)
}

/// For hooks: the calling thread's id and record (registering it if needed),
/// or None when the thread is inside runtime code. One TLS lookup.
#[inline]
pub fn hook_thread() -> Option<(u32, &'static ThreadRecord)> {
    match threads::hook_view() {
        HookView::PassThrough => None,
        HookView::Registered(id, rec) => Some((id, rec)),
        HookView::Unregistered => registered_record(),
    }
}

/// Like [`hook_thread`] but also inside runtime code.
#[inline]
pub fn current_or_register_record() -> Option<(u32, &'static ThreadRecord)> {
    threads::current_cached().or_else(registered_record)
}

fn registered_record() -> Option<(u32, &'static ThreadRecord)> {
    current_or_register().and_then(|id| Some((id, threads::record(id)?)))
}
