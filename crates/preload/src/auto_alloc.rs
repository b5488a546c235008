//! The heap allocation functions: `malloc` and its family, and C++
//! `operator new`. With the annotation-free mode off (the default) each
//! goes straight to the next allocator (`push_rt::sys::real_alloc`); with
//! `auto=1` an allocation the mode watches becomes a tracked object
//! (`push_rt::auto`). Blocks of the tracked arena are resized and measured
//! by the runtime; `free` is in lib.rs with the other functions that end a
//! block's or the process's life.
//!
//! # Safety
//! Every export has the C signature of the function it replaces and passes
//! its arguments unchanged to the real one, except for blocks the runtime
//! made (inside the tracked arena), which the runtime handles.

use libc::{c_int, c_void, size_t};
use push_rt as rt;
use rt::sys::real_alloc::{self as real, NewForm};

/// Whether this allocation is one the annotation-free mode may watch.
#[inline]
fn watching() -> bool {
    rt::auto::on() && !crate::passthrough()
}

/// A watched allocation, or null when the mode leaves it to the real
/// allocator.
#[cold]
fn watched(size: size_t, align: size_t, zero: bool) -> *mut c_void {
    let Some(_g) = rt::enter() else {
        return core::ptr::null_mut();
    };
    rt::auto::alloc(size, align, zero) as *mut c_void
}

#[no_mangle]
pub extern "C" fn malloc(size: size_t) -> *mut c_void {
    if watching() {
        let p = watched(size, 0, false);
        if !p.is_null() {
            return p;
        }
    }
    real::malloc(size)
}

#[no_mangle]
pub extern "C" fn calloc(n: size_t, size: size_t) -> *mut c_void {
    if watching() {
        let Some(total) = n.checked_mul(size) else {
            rt::sys::set_errno(libc::ENOMEM);
            return core::ptr::null_mut();
        };
        let p = watched(total, 0, true);
        if !p.is_null() {
            return p;
        }
    }
    real::calloc(n, size)
}

#[no_mangle]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: size_t) -> *mut c_void {
    if p.is_null() {
        return malloc(size);
    }
    if rt::registry::in_arena(p as usize) {
        let _g = rt::enter();
        if let Some(q) = rt::api_realloc(p as usize, size) {
            return q.cast();
        }
    }
    // SAFETY: a block of the real allocator (or a bootstrap one), unchanged.
    unsafe { real::realloc(p, size) }
}

#[no_mangle]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: size_t, size: size_t) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        rt::sys::set_errno(libc::ENOMEM);
        return core::ptr::null_mut();
    };
    // SAFETY: as realloc's.
    unsafe { realloc(p, total) }
}

/// An aligned allocation: watched, or from the real allocator's function.
fn aligned(align: size_t, size: size_t, real_fn: impl FnOnce() -> *mut c_void) -> *mut c_void {
    if watching() && align.is_power_of_two() {
        let p = watched(size, align, false);
        if !p.is_null() {
            return p;
        }
    }
    real_fn()
}

#[no_mangle]
pub unsafe extern "C" fn posix_memalign(
    out: *mut *mut c_void,
    align: size_t,
    size: size_t,
) -> c_int {
    if watching() && align.is_power_of_two() && align.is_multiple_of(core::mem::size_of::<usize>())
    {
        let p = watched(size, align, false);
        if !p.is_null() {
            // SAFETY: the caller's out pointer, as posix_memalign's contract.
            unsafe { out.write(p) };
            return 0;
        }
    }
    // SAFETY: unchanged arguments.
    unsafe { real::posix_memalign(out, align, size) }
}

#[no_mangle]
pub extern "C" fn aligned_alloc(align: size_t, size: size_t) -> *mut c_void {
    aligned(align, size, || real::aligned_alloc(align, size))
}

#[no_mangle]
pub extern "C" fn memalign(align: size_t, size: size_t) -> *mut c_void {
    aligned(align, size, || real::memalign(align, size))
}

#[no_mangle]
pub extern "C" fn valloc(size: size_t) -> *mut c_void {
    aligned(rt::sys::PAGE, size, || real::valloc(size))
}

#[no_mangle]
pub extern "C" fn pvalloc(size: size_t) -> *mut c_void {
    let rounded = rt::sys::page_round_up(size.max(1));
    aligned(rt::sys::PAGE, rounded, || real::pvalloc(size))
}

#[no_mangle]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> size_t {
    if !p.is_null() && rt::registry::in_arena(p as usize) {
        if let Some(n) = rt::api_usable_size(p as usize) {
            return n;
        }
    }
    // SAFETY: a block of the real allocator (or null), unchanged.
    unsafe { real::malloc_usable_size(p) }
}

// ----------------------------------------------------------- operator new

/// `operator new` of `form`: watched, else the C++ runtime's own (which
/// throws `bad_alloc` or returns null as its form says).
///
/// # Safety
/// `tag` is the caller's `const std::nothrow_t&` for the nothrow forms.
unsafe fn new_of(form: NewForm, size: size_t, align: size_t, tag: *const c_void) -> *mut c_void {
    if watching() {
        let p = watched(size, align, false);
        if !p.is_null() {
            return p;
        }
    }
    // SAFETY: per the contract.
    let r = unsafe {
        if align == 0 {
            real::operator_new(form, size, tag)
        } else {
            real::operator_new_aligned(form, size, align, tag)
        }
    };
    match r {
        Some(p) => p,
        // No C++ runtime to throw: plain memory, or abort as an uncaught
        // bad_alloc would.
        None => {
            let p = if align == 0 {
                real::malloc(size.max(1))
            } else {
                real::aligned_alloc(align, size.max(1).next_multiple_of(align))
            };
            if p.is_null() && matches!(form, NewForm::Plain | NewForm::Array) {
                rt::sys::write_all(2, b"PUSh: operator new: out of memory\n");
                rt::sys::exit_now(134);
            }
            p
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn _Znwm(size: size_t) -> *mut c_void {
    // SAFETY: no tag for this form.
    unsafe { new_of(NewForm::Plain, size, 0, core::ptr::null()) }
}

#[no_mangle]
pub unsafe extern "C" fn _Znam(size: size_t) -> *mut c_void {
    // SAFETY: no tag for this form.
    unsafe { new_of(NewForm::Array, size, 0, core::ptr::null()) }
}

#[no_mangle]
pub unsafe extern "C" fn _ZnwmRKSt9nothrow_t(size: size_t, tag: *const c_void) -> *mut c_void {
    // SAFETY: the caller's tag.
    unsafe { new_of(NewForm::Nothrow, size, 0, tag) }
}

#[no_mangle]
pub unsafe extern "C" fn _ZnamRKSt9nothrow_t(size: size_t, tag: *const c_void) -> *mut c_void {
    // SAFETY: the caller's tag.
    unsafe { new_of(NewForm::ArrayNothrow, size, 0, tag) }
}

#[no_mangle]
pub unsafe extern "C" fn _ZnwmSt11align_val_t(size: size_t, align: size_t) -> *mut c_void {
    // SAFETY: no tag for this form.
    unsafe { new_of(NewForm::Plain, size, align, core::ptr::null()) }
}

#[no_mangle]
pub unsafe extern "C" fn _ZnamSt11align_val_t(size: size_t, align: size_t) -> *mut c_void {
    // SAFETY: no tag for this form.
    unsafe { new_of(NewForm::Array, size, align, core::ptr::null()) }
}

#[no_mangle]
pub unsafe extern "C" fn _ZnwmSt11align_val_tRKSt9nothrow_t(
    size: size_t,
    align: size_t,
    tag: *const c_void,
) -> *mut c_void {
    // SAFETY: the caller's tag.
    unsafe { new_of(NewForm::Nothrow, size, align, tag) }
}

#[no_mangle]
pub unsafe extern "C" fn _ZnamSt11align_val_tRKSt9nothrow_t(
    size: size_t,
    align: size_t,
    tag: *const c_void,
) -> *mut c_void {
    // SAFETY: the caller's tag.
    unsafe { new_of(NewForm::ArrayNothrow, size, align, tag) }
}
