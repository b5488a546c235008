//! From a pthread handle to the thread record it names (for join and
//! transfer): a hint table by hash of the handle, checked against the record.

use super::{count, record, STATE_FREE};
use core::sync::atomic::{AtomicU32, Ordering};

/// The newest record created for a pthread handle, by a hash of the
/// handle (id + 1; 0: none); a hint, checked against the record.
static BY_PTHREAD: [AtomicU32; 4096] = [const { AtomicU32::new(0) }; 4096];

fn pthread_slot(p: u64) -> &'static AtomicU32 {
    &BY_PTHREAD[(p.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize]
}

/// Remembers that record `id` now belongs to pthread handle `p`.
pub fn note_pthread(id: u32, p: u64) {
    pthread_slot(p).store(id + 1, Ordering::Release);
}

fn joinable_with(id: u32, p: u64) -> bool {
    record(id).is_some_and(|r| {
        r.pthread.load(Ordering::Relaxed) == p
            && r.state.load(Ordering::Acquire) != STATE_FREE
            && r.joined_by.load(Ordering::Relaxed) == 0
    })
}

/// Finds the record of a pthread handle that may still be joined (or
/// transferred to): not yet joined, and of the newest thread with that handle
/// (glibc reuses a handle once its thread is gone).
pub fn find_by_pthread(p: u64) -> Option<u32> {
    let hint = pthread_slot(p).load(Ordering::Acquire);
    if hint != 0 && joinable_with(hint - 1, p) {
        return Some(hint - 1);
    }
    (0..count())
        .filter(|&id| joinable_with(id, p))
        .max_by_key(|&id| record(id).map_or(0, |r| r.serial.load(Ordering::Relaxed)))
}
