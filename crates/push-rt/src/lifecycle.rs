//! Threads and processes: a thread's record from `pthread_create` to
//! join (clocks, alternate signal stack, robust mutexes at exit, exited
//! owners' objects passing to their joiner) and the runtime's side of
//! `fork`.

use crate::registry;
use crate::validate::drop_validate_grant;
use crate::{
    backend, barriers, domains, enabled, ensure_background, hb, recycle, refresh_pkru, report, sys,
    threads, windows, BACKGROUND_STARTED, EXITING, RESTART_BACKGROUND,
};
use core::sync::atomic::Ordering;

#[inline]
pub(crate) fn current_thread() -> Option<(u32, &'static threads::ThreadRecord)> {
    crate::registration::current_or_register_record()
}

/// Parent side of `pthread_create`: reserves the child's record; the child
/// starts from the parent's clock.
pub fn on_thread_creating(parent: (u32, &threads::ThreadRecord)) -> Option<u32> {
    windows::sync_point(parent.1);
    recycle::before_create();
    let child = crate::registration::reserve()?;
    hb::on_create(parent.0, parent.1, child);
    Some(child)
}

/// Parent side, after the real `pthread_create` succeeded.
pub fn on_thread_created(child: u32, handle: u64, detached: bool) {
    if RESTART_BACKGROUND.load(Ordering::Relaxed)
        && RESTART_BACKGROUND.swap(false, Ordering::AcqRel)
    {
        ensure_background();
    }
    if let Some(r) = threads::record(child) {
        r.pthread.store(handle, Ordering::Relaxed);
        r.detached.store(detached, Ordering::Release);
        threads::note_pthread(child, handle);
        let _ = r.state.compare_exchange(
            threads::STATE_FREE,
            threads::STATE_LIVE,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }
}

/// Child side, first thing in the new thread.
pub fn on_thread_start(child: u32) {
    crate::registration::adopt(child);
    threads::record_stack_bounds(child);
    give_alt_stack(child);
    refresh_pkru();
}

/// Our SIGSEGV handler runs on an alternate stack (`SA_ONSTACK`): a thread
/// without one of its own gets one, so that a stack overflow in the program
/// reaches the handler (which passes it on: the program dies of its own
/// SIGSEGV) instead of faulting again on the exhausted stack.
pub(crate) fn give_alt_stack(id: u32) {
    let Some(rec) = threads::record(id) else {
        return;
    };
    let mut base = rec.alt_stack.load(Ordering::Acquire);
    if base == 0 {
        base = sys::map_alt_stack();
        rec.alt_stack.store(base, Ordering::Release);
    }
    sys::use_alt_stack(base);
}

/// The calling thread is exiting (its start routine returned or it called
/// `pthread_exit`).
pub fn on_thread_exit() {
    if let Some((_, rec)) = current_thread() {
        registry::flush_slot_cache(&rec.slot_cache);
        windows::close_everything(rec);
        open_robust_words_for_the_kernel(rec);
        sys::leave_alt_stack(rec.alt_stack.load(Ordering::Acquire));
        domains::retire_ordinal(rec.ordinal.load(Ordering::Relaxed));
        rec.state.store(threads::STATE_EXITED, Ordering::Release);
    }
}

/// When a thread exits holding robust mutexes, the kernel marks each lock
/// word FUTEX_OWNER_DIED, writing with the exiting thread's rights: a word
/// inside a tracked object the thread may not write (or, under `mprotect`,
/// on a closed page) would stay marked with the dead owner's tid and the
/// next locker would wait forever. So a thread that exits with a non-empty
/// robust list gives up its checks for the rest of its exit (its TSD
/// destructors run unchecked) with every key open, and under `mprotect`
/// the objects holding its lock words are opened for good (no longer
/// checked): a race can be missed there, never invented.
fn open_robust_words_for_the_kernel(rec: &threads::ThreadRecord) {
    let Some((head, offset, first, pending)) = sys::robust_list() else {
        return;
    };
    if first == head && pending == 0 {
        return;
    }
    rec.unchecked.store(true, Ordering::Release);
    if backend::is_mpk() {
        domains::apply_pkru(x86_check::Pkru(0));
        return;
    }
    let open_object_of = |entry: usize| {
        let word = entry.wrapping_add_signed(offset);
        for addr in [entry, word] {
            // A word with an alias was registered by its alias, which the
            // kernel can always write.
            if let Some((id, o)) = registry::lookup(addr) {
                windows::open_for_good(id, o);
            }
        }
    };
    if pending != 0 {
        open_object_of(pending & !1);
    }
    // glibc marks PI entries with bit 0; a list longer than this is cut
    // short (its rest stays as it would have been).
    sys::walk_robust_list(head, first, 1024, open_object_of);
}

/// The calling thread is about to `clone` a thread that will run on its
/// TLS (no CLONE_SETTLS): the runtime cannot tell the two apart, so it
/// stops checking both (never guessing is better than a false report or a
/// hang), and opens every key so neither faults.
pub fn on_clone_sharing_tls() {
    if let Some((_, rec)) = current_thread() {
        rec.unchecked.store(true, Ordering::Release);
        windows::close_everything(rec);
    }
    domains::apply_pkru(x86_check::Pkru(0));
}

/// `pthread_detach` succeeded for `handle`: nobody will join it.
pub fn on_thread_detached(handle: u64) {
    if let Some(r) = threads::find_by_pthread(handle).and_then(threads::record) {
        r.detached.store(true, Ordering::Release);
    }
}

/// `pthread_join` returned 0 for `handle`.
pub fn on_thread_joined(handle: u64) {
    let Some((me, rec)) = current_thread() else {
        return;
    };
    windows::sync_point(rec);
    if let Some(t) = threads::find_by_pthread(handle) {
        if let Some(r) = threads::record(t) {
            r.joined_by.store(me + 1, Ordering::Release);
            hb::on_join(rec, r);
            drop_validate_grant((me, rec));
        }
    }
}

/// Before `fork`: take the runtime's locks so the child gets them free.
pub fn on_fork_prepare() {
    report::before_fork();
    barriers::before_fork();
    crate::phases::before_fork();
    hb::before_fork();
    if enabled() {
        registry::before_fork();
    }
}

/// After `fork`, in the parent.
pub fn on_fork_parent() {
    report::after_fork_parent();
    if enabled() {
        registry::after_fork_parent();
    }
    hb::after_fork();
    barriers::after_fork();
    crate::phases::after_fork();
}

/// A forked child: only the forking thread survives.
pub fn on_fork_child() {
    let private = !enabled() || registry::after_fork_child();
    if enabled() {
        windows::after_fork_child();
    }
    hb::after_fork();
    barriers::after_fork();
    crate::phases::after_fork();
    report::after_fork_child();
    EXITING.store(false, Ordering::Release);
    if !private {
        report::warn(
            "PUSh: warning: could not copy tracked objects for this forked child; \
             it shares small tracked objects with its parent\n",
        );
    }
    // The background threads did not survive the fork: they restart when
    // the child tracks an object or creates a thread (a child that only
    // execs or exits never pays for them).
    if BACKGROUND_STARTED.swap(false, Ordering::AcqRel) {
        RESTART_BACKGROUND.store(true, Ordering::Release);
    }
}
