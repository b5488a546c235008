//! Registration of tracked globals (`PUSH_GLOBAL`): page-aligned storage
//! in the application's own `.bss`, found through `table`'s range list,
//! with the ids that follow the arena's pages.

use super::alloc::{fill, Origin, ALLOC};
use super::object::bits;
use super::table::{GLOBAL_BASE, MAX_GLOBALS, TABLES};
use crate::counters::{LIVE_OBJECTS, TRACKED_OBJECTS};
use crate::sys::{self, PAGE};
use core::sync::atomic::Ordering;

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
    LIVE_OBJECTS.add(0, 1);
    TRACKED_OBJECTS.add(0, 1);
    Some((GLOBAL_BASE + i) as u32)
}
