//! libpush.so: every symbol PUSh exports. This file holds start-up (the
//! runtime's allocator, `.init_array` init, the exit and fork handlers);
//! the exports live in one module per job:
//!
//! * [`c_api`]: the C API of `include/push.h` (`push_*`), forwarding to
//!   `push_rt::api_*`;
//! * interposers for glibc's whole synchronization API, which tell the
//!   runtime about synchronization and give lock calls access to locks
//!   stored inside protected objects: [`locks`] (pthread mutexes, rwlocks,
//!   spinlocks), [`waits`] (condition variables, barriers, semaphores,
//!   once), [`threads`] (thread creation, join and exit), with their timed,
//!   clock and `_np` forms, and [`c11_threads`] (C11 `<threads.h>`); the
//!   shapes they share are in [`hook_shape`];
//! * [`signals`]: `sigaction`/`signal`, so the application's SIGSEGV/SIGTRAP
//!   handlers are chained behind PUSh's instead of replacing them;
//! * [`pkeys`]: `pkey_alloc`/`pkey_free`, sharing the key space with a
//!   program that uses protection keys itself;
//! * [`free_exit`]: `free` (a tracked pointer freed with plain `free`),
//!   `_exit`/`_Exit` (reports and the summary are printed before the
//!   process ends);
//! * [`exec`]: program starts LD_PRELOAD cannot enter are noted.
//!
//! `#[no_mangle]` exports work from any module of the cdylib.
//!
//! Hook shape: pass straight through when the runtime is disabled or the
//! thread is inside runtime code; otherwise grant → real call → record.
//! No hook allocates except `pthread_create` (the start-routine wrapper;
//! `thrd_create` uses a static slot per thread record instead).
//!
//! # Safety
//! Every export has the C signature of the function it replaces, and passes
//! its arguments unchanged to the real function found by `push_rt::real`.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![allow(clippy::missing_safety_doc)]

mod auto_alloc;
mod c11_threads;
mod c_api;
mod exec;
mod free_exit;
mod hook_shape;
mod kernel_calls;
mod kernel_io;
mod kernel_net;
mod kernel_paths;
mod locks;
mod mask;
mod pkeys;
mod signals;
mod threads;
mod waits;

use crate::free_exit::resolve_free;
use libc::{c_int, c_void, size_t};
use push_rt as rt;

// ------------------------------------------------------------------ start-up

/// Everything the runtime allocates comes from its own allocator, never from
/// the program's `malloc` (see `push_rt::own_alloc`).
#[global_allocator]
static RUNTIME_ALLOCATOR: rt::own_alloc::RuntimeAllocator = rt::own_alloc::RuntimeAllocator;

#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = push_init;

extern "C" fn push_init() {
    resolve_free();
    match rt::init(own_text_range()) {
        Ok(()) => {
            // SAFETY: registering plain extern "C" callbacks with libc.
            unsafe {
                libc::atexit(at_exit);
                libc::pthread_atfork(
                    Some(before_fork),
                    Some(after_fork_parent),
                    Some(after_fork_child),
                );
            }
        }
        Err(rt::Disabled::NoPku(why)) => {
            let msg = format!(
                "PUSh: warning: protection keys are not available ({why}); the program runs without race detection. Run 'push doctor' for details.\n"
            );
            if rt::first_in_run("PUSH_SAID_DISABLED") {
                rt::sys::write_all(2, msg.as_bytes());
            }
            rt::run_dir::record(rt::run_dir::State::Disabled);
        }
        Err(rt::Disabled::Failed(why)) => {
            let msg = format!(
                "PUSh: warning: the runtime could not start: {why}; the program runs without race detection\n"
            );
            if rt::first_in_run("PUSH_SAID_DISABLED") {
                rt::sys::write_all(2, msg.as_bytes());
            }
            rt::run_dir::record(rt::run_dir::State::Disabled);
        }
    }
}

extern "C" fn at_exit() {
    if let Some(code) = rt::on_exit() {
        // SAFETY: flushing stdio streams at exit, as exit() itself would.
        unsafe { libc::fflush(core::ptr::null_mut()) };
        rt::sys::exit_now(code);
    }
}

extern "C" fn before_fork() {
    rt::on_fork_prepare();
}

extern "C" fn after_fork_parent() {
    rt::on_fork_parent();
}

extern "C" fn after_fork_child() {
    rt::on_fork_child();
}

/// The address range of libpush.so's own code.
fn own_text_range() -> (usize, usize) {
    struct Search {
        addr: usize,
        range: (usize, usize),
    }
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: size_t,
        data: *mut c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr passes valid info and our Search pointer.
        unsafe {
            let s = &mut *(data as *mut Search);
            let info = &*info;
            let base = info.dlpi_addr as usize;
            let (mut lo, mut hi) = (usize::MAX, 0);
            for i in 0..info.dlpi_phnum as usize {
                let ph = &*info.dlpi_phdr.add(i);
                if ph.p_type == libc::PT_LOAD {
                    lo = lo.min(base + ph.p_vaddr as usize);
                    hi = hi.max(base + (ph.p_vaddr + ph.p_memsz) as usize);
                }
            }
            if s.addr >= lo && s.addr < hi {
                s.range = (lo, hi);
                return 1;
            }
        }
        0
    }
    let mut s = Search {
        addr: push_init as *const () as usize,
        range: (0, 0),
    };
    // SAFETY: the callback only reads the headers and writes into `s`.
    unsafe { libc::dl_iterate_phdr(Some(visit), (&mut s as *mut Search).cast()) };
    s.range
}

#[inline(always)]
pub(crate) fn passthrough() -> bool {
    !rt::enabled() || rt::threads::in_runtime()
}
