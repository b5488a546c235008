//! The C API of `include/push.h`: every `push_*` export, forwarding to
//! `push_rt::api_*`.

use libc::{c_int, c_void, pthread_t, size_t};
use push_rt as rt;
use push_rt::registry::Policy;
use push_rt::report::Api;

#[no_mangle]
pub extern "C" fn push_malloc(size: size_t) -> *mut c_void {
    let _g = rt::enter();
    rt::api_malloc(size).cast()
}

#[no_mangle]
pub extern "C" fn push_calloc(n: size_t, size: size_t) -> *mut c_void {
    let _g = rt::enter();
    rt::api_calloc(n, size).cast()
}

#[no_mangle]
pub unsafe extern "C" fn push_realloc(p: *mut c_void, size: size_t) -> *mut c_void {
    let _g = rt::enter();
    match rt::api_realloc(p as usize, size) {
        Some(r) => r.cast(),
        // SAFETY: the C contract of push_realloc: p is from malloc.
        None => unsafe { libc::realloc(p, size) },
    }
}

#[no_mangle]
pub unsafe extern "C" fn push_free(p: *mut c_void) {
    let _g = rt::enter();
    if !rt::api_free(p as usize, Api::Free) {
        // SAFETY: the C contract of push_free: p is from malloc.
        unsafe { libc::free(p) };
    }
}

#[no_mangle]
pub extern "C" fn push_private(obj: *mut c_void) -> c_int {
    let _g = rt::enter();
    rt::api_private(obj as usize)
}

#[no_mangle]
pub extern "C" fn push_readonly(obj: *mut c_void) -> c_int {
    let _g = rt::enter();
    rt::api_set_policy(Api::ReadOnly, obj as usize, Policy::ReadOnly)
}

#[no_mangle]
pub extern "C" fn push_protected_by(obj: *mut c_void, lock: *const c_void) -> c_int {
    let _g = rt::enter();
    rt::api_protected_by(obj as usize, lock as usize)
}

#[no_mangle]
pub extern "C" fn push_transfer(obj: *mut c_void, to: pthread_t) -> c_int {
    let _g = rt::enter();
    rt::api_transfer(obj as usize, to)
}

#[no_mangle]
pub extern "C" fn push_release(obj: *mut c_void) -> c_int {
    let _g = rt::enter();
    rt::api_set_policy(Api::Release, obj as usize, Policy::Released)
}

#[no_mangle]
pub extern "C" fn push_acquire(obj: *mut c_void) -> c_int {
    let _g = rt::enter();
    rt::api_acquire(obj as usize)
}

#[no_mangle]
pub extern "C" fn push_racy(obj: *mut c_void) -> c_int {
    let _g = rt::enter();
    rt::api_set_policy(Api::Racy, obj as usize, Policy::Racy)
}

#[no_mangle]
pub extern "C" fn push_partition(obj: *mut c_void, part_size: size_t) -> c_int {
    let _g = rt::enter();
    rt::api_partition(obj as usize, part_size)
}

#[no_mangle]
pub extern "C" fn push_private_at(
    barrier: *const c_void,
    obj: *mut c_void,
    to: pthread_t,
) -> c_int {
    let _g = rt::enter();
    rt::api_private_at(barrier as usize, obj as usize, to)
}

#[no_mangle]
pub extern "C" fn push_readonly_at(barrier: *const c_void, obj: *mut c_void) -> c_int {
    let _g = rt::enter();
    rt::api_policy_at(
        Api::ReadOnlyAt,
        barrier as usize,
        obj as usize,
        Policy::ReadOnly,
    )
}

#[no_mangle]
pub extern "C" fn push_protected_by_at(
    barrier: *const c_void,
    obj: *mut c_void,
    lock: *const c_void,
) -> c_int {
    let _g = rt::enter();
    rt::api_policy_at(
        Api::ProtectedByAt,
        barrier as usize,
        obj as usize,
        Policy::ProtectedBy(lock as usize),
    )
}

#[no_mangle]
pub extern "C" fn push_racy_at(barrier: *const c_void, obj: *mut c_void) -> c_int {
    let _g = rt::enter();
    rt::api_policy_at(Api::RacyAt, barrier as usize, obj as usize, Policy::Racy)
}

#[no_mangle]
pub extern "C" fn push_barrier_opens(barrier: *const c_void) {
    let _g = rt::enter();
    rt::api_barrier_opens(barrier as usize);
}

#[no_mangle]
pub extern "C" fn push_happens_before(addr: *const c_void) {
    if let Some(t) = rt::hook_thread() {
        rt::on_release(t, addr as usize);
    }
}

#[no_mangle]
pub extern "C" fn push_happens_after(addr: *const c_void) {
    if let Some(t) = rt::hook_thread() {
        rt::on_acquire(t, addr as usize);
    }
}

#[no_mangle]
pub extern "C" fn push_lock_acquired(lock: *const c_void, exclusive: c_int) {
    let _g = rt::enter();
    rt::api_lock_acquired(lock as usize, exclusive != 0);
}

#[no_mangle]
pub extern "C" fn push_lock_released(lock: *const c_void) {
    let _g = rt::enter();
    rt::api_lock_released(lock as usize);
}

#[no_mangle]
pub extern "C" fn push_register_global(addr: *mut c_void, size: size_t) {
    let _g = rt::enter();
    rt::api_register_global(addr as usize, size);
}
