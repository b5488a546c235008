//! `free` (a tracked pointer freed with plain `free`) and `_exit`/`_Exit`
//! (reports and the summary are printed before the process ends).

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use libc::{c_int, c_void, size_t};
use push_rt as rt;
use push_rt::report::Api;

static REAL_FREE: AtomicUsize = AtomicUsize::new(0);

extern "C" {
    fn __libc_free(p: *mut c_void);
}

static RESOLVING_FREE: AtomicBool = AtomicBool::new(false);

pub(crate) fn resolve_free() {
    // dlsym may free its own error state: those frees take __libc_free.
    if RESOLVING_FREE.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: NUL-terminated name; while this runs, our `free` uses __libc_free.
    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, c"free".as_ptr()) };
    // SAFETY: as above.
    let usable = unsafe { libc::dlsym(libc::RTLD_NEXT, c"malloc_usable_size".as_ptr()) };
    if !p.is_null() && !usable.is_null() && same_object(p, usable) {
        USABLE_SIZE.store(usable as usize, Ordering::Release);
    }
    REAL_FREE.store(p as usize, Ordering::Release);
    RESOLVING_FREE.store(false, Ordering::Release);
}

/// `malloc_usable_size` of the allocator whose `free` is next after ours,
/// when both come from the same object (asking another allocator about a
/// block it did not make could read anything); 0 otherwise.
static USABLE_SIZE: AtomicUsize = AtomicUsize::new(0);

fn same_object(a: *mut c_void, b: *mut c_void) -> bool {
    let base = |f: *mut c_void| {
        let mut info: libc::Dl_info = empty_dl_info();
        // SAFETY: dladdr writes `info` for an address it knows.
        (unsafe { libc::dladdr(f, &mut info) } != 0).then_some(info.dli_fbase as usize)
    };
    matches!((base(a), base(b)), (Some(x), Some(y)) if x == y)
}

fn empty_dl_info() -> libc::Dl_info {
    libc::Dl_info {
        dli_fname: core::ptr::null(),
        dli_fbase: core::ptr::null_mut(),
        dli_sname: core::ptr::null(),
        dli_saddr: core::ptr::null_mut(),
    }
}

/// Before an untracked block goes back to its allocator: the clocks of
/// sync objects inside it go too (see `push_rt::clock_index`).
fn forget_clocks_in(p: *mut c_void) {
    if !rt::clock_index::any() {
        return;
    }
    let usable = USABLE_SIZE.load(Ordering::Acquire);
    if usable == 0 {
        return;
    }
    let Some(_g) = rt::enter() else {
        return;
    };
    // SAFETY: `usable` is malloc_usable_size of the allocator that made `p`
    // (checked in resolve_free), called on a live block of it.
    let size = unsafe {
        let f: unsafe extern "C" fn(*mut c_void) -> size_t = core::mem::transmute(usable);
        f(p)
    };
    rt::on_untracked_free(p as usize, size);
}

#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    if rt::sys::real_alloc::is_bootstrap(p as usize) {
        // Allocated while the real allocator was being looked up: kept.
        return;
    }
    if !p.is_null() && rt::registry::in_arena(p as usize) {
        let _g = rt::enter();
        // p lies in the tracked arena: ours to free (when the runtime is
        // off, api_free says so and it goes to the allocator below, as
        // before through libc's free).
        if rt::api_free(p as usize, Api::PlainFree) {
            return;
        }
    }
    if !p.is_null() {
        forget_clocks_in(p);
    }
    let mut real = REAL_FREE.load(Ordering::Acquire);
    if real == 0 {
        // A constructor that runs before ours (another preloaded allocator's)
        // frees through us: find the next `free` now, so its memory goes back
        // to the allocator that gave it.
        resolve_free();
        real = REAL_FREE.load(Ordering::Acquire);
    }
    match real {
        // SAFETY: glibc's own free, when no other could be found.
        0 => unsafe { __libc_free(p) },
        f => {
            // SAFETY: f is the next `free` in lookup order (libc or the
            // application's allocator), with free's signature.
            let f: unsafe extern "C" fn(*mut c_void) = unsafe { core::mem::transmute(f) };
            // SAFETY: unchanged argument.
            unsafe { f(p) }
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn _exit(code: c_int) -> ! {
    let code = rt::on_exit().unwrap_or(code);
    rt::sys::exit_now(code)
}

#[no_mangle]
pub unsafe extern "C" fn _Exit(code: c_int) -> ! {
    let code = rt::on_exit().unwrap_or(code);
    rt::sys::exit_now(code)
}
