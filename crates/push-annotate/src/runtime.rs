//! Finding the PUSh runtime's C API (`include/push.h`) at run time.
//!
//! The crate never links against `libpush.so`. The first annotation looks
//! every `push_*` function up with `dlsym(RTLD_DEFAULT, ...)`; the answer,
//! the whole table or nothing, is cached in a [`OnceLock`] for the life of
//! the process, so later calls cost one atomic load and a branch. When the
//! runtime is not loaded (a plain run, `cargo test` without the runner) the
//! table is absent: allocation falls back to the global allocator and every
//! annotation is a no-op that succeeds.
//!
//! # Safety
//! Each function pointer is the runtime's export of that name, whose C
//! signature (in `include/push.h`) the field's type spells; the runtime
//! accepts any pointer value in them (an untracked one gives `EINVAL` and a
//! report, never a crash), except `push_free`, which takes what
//! `push_malloc` returned.

use core::ffi::{c_int, c_void, CStr};
use std::sync::OnceLock;

type Malloc = unsafe extern "C" fn(usize) -> *mut c_void;
type Free = unsafe extern "C" fn(*mut c_void);
type PolicyCall = unsafe extern "C" fn(*mut c_void) -> c_int;
type ProtectedBy = unsafe extern "C" fn(*mut c_void, *const c_void) -> c_int;
type Transfer = unsafe extern "C" fn(*mut c_void, libc::pthread_t) -> c_int;
type AddrCall = unsafe extern "C" fn(*const c_void);
type LockAcquired = unsafe extern "C" fn(*const c_void, c_int);
type RegisterGlobal = unsafe extern "C" fn(*mut c_void, usize);

/// The runtime's C API, as function pointers.
pub(crate) struct Runtime {
    pub malloc: Malloc,
    pub free: Free,
    pub private: PolicyCall,
    pub readonly: PolicyCall,
    pub protected_by: ProtectedBy,
    pub transfer: Transfer,
    pub release: PolicyCall,
    pub acquire: PolicyCall,
    pub racy: PolicyCall,
    pub happens_before: AddrCall,
    pub happens_after: AddrCall,
    pub lock_acquired: LockAcquired,
    pub lock_released: AddrCall,
    pub register_global: RegisterGlobal,
}

static RUNTIME: OnceLock<Option<Runtime>> = OnceLock::new();

/// The runtime's API, or `None` when it is not loaded in this process.
#[inline]
pub(crate) fn runtime() -> Option<&'static Runtime> {
    RUNTIME.get_or_init(resolve).as_ref()
}

/// Whether the PUSh runtime (`libpush.so`) is loaded in this process, so
/// that annotations take effect.
///
/// ```
/// // Doc tests run without the runtime: every annotation is a no-op.
/// assert!(!push_annotate::runtime_loaded());
/// ```
pub fn runtime_loaded() -> bool {
    runtime().is_some()
}

fn lookup(name: &CStr) -> *mut c_void {
    // SAFETY: dlsym only reads the loader's tables; `name` is NUL-terminated.
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) }
}

fn resolve() -> Option<Runtime> {
    macro_rules! function {
        ($name:literal as $ty:ty) => {{
            let p = lookup($name);
            if p.is_null() {
                return None;
            }
            // SAFETY: `p` is the runtime's export of this name; the field's
            // type is its C signature from include/push.h (module # Safety).
            unsafe { core::mem::transmute::<*mut c_void, $ty>(p) }
        }};
    }
    Some(Runtime {
        malloc: function!(c"push_malloc" as Malloc),
        free: function!(c"push_free" as Free),
        private: function!(c"push_private" as PolicyCall),
        readonly: function!(c"push_readonly" as PolicyCall),
        protected_by: function!(c"push_protected_by" as ProtectedBy),
        transfer: function!(c"push_transfer" as Transfer),
        release: function!(c"push_release" as PolicyCall),
        acquire: function!(c"push_acquire" as PolicyCall),
        racy: function!(c"push_racy" as PolicyCall),
        happens_before: function!(c"push_happens_before" as AddrCall),
        happens_after: function!(c"push_happens_after" as AddrCall),
        lock_acquired: function!(c"push_lock_acquired" as LockAcquired),
        lock_released: function!(c"push_lock_released" as AddrCall),
        register_global: function!(c"push_register_global" as RegisterGlobal),
    })
}
