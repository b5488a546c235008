//! The allocator behind libpush.so's `malloc` family: the next definition
//! after libpush (glibc's, or a preloaded jemalloc, tcmalloc, mimalloc),
//! found with `dlsym(RTLD_NEXT)` on first use. `dlsym` may allocate: while
//! one thread resolves, every allocation comes from a small static
//! bootstrap arena whose blocks are never freed ([`is_bootstrap`] tells the
//! `free` interposer to leave them alone).
//!
//! # Safety
//! A resolved pointer is the C function of that name with the declared
//! signature, so calling it is as safe as calling the function. Bootstrap
//! blocks are disjoint ranges of a static buffer, each handed out once, 16
//! bytes aligned, with their size in the 8 bytes before them.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use libc::{c_int, c_void, size_t};

macro_rules! alloc_slots {
    ($($name:ident = $sym:literal;)*) => {
        $( #[allow(non_upper_case_globals)] static $name: AtomicUsize = AtomicUsize::new(0); )*
        fn lookup_all() {
            $(
                // SAFETY: a NUL-terminated literal.
                let p = unsafe { libc::dlsym(libc::RTLD_NEXT, concat!($sym, "\0").as_ptr().cast()) };
                $name.store(p as usize, Ordering::Release);
            )*
        }
    };
}

macro_rules! cxx_slots {
    ($($name:ident = $sym:literal;)*) => {
        $( #[allow(non_upper_case_globals)] static $name: AtomicUsize = AtomicUsize::new(0); )*
        /// The C++ runtime may be loaded after the first allocation
        /// (`dlopen`): looked up until found.
        fn lookup_cxx() {
            $(
                if $name.load(Ordering::Acquire) == 0 {
                    // SAFETY: a NUL-terminated literal.
                    let p = unsafe { libc::dlsym(libc::RTLD_NEXT, concat!($sym, "\0").as_ptr().cast()) };
                    $name.store(p as usize, Ordering::Release);
                }
            )*
        }
    };
}

cxx_slots! {
    NEW = "_Znwm";
    NEW_ARRAY = "_Znam";
    NEW_NOTHROW = "_ZnwmRKSt9nothrow_t";
    NEW_ARRAY_NOTHROW = "_ZnamRKSt9nothrow_t";
    NEW_ALIGNED = "_ZnwmSt11align_val_t";
    NEW_ARRAY_ALIGNED = "_ZnamSt11align_val_t";
    NEW_ALIGNED_NOTHROW = "_ZnwmSt11align_val_tRKSt9nothrow_t";
    NEW_ARRAY_ALIGNED_NOTHROW = "_ZnamSt11align_val_tRKSt9nothrow_t";
}

alloc_slots! {
    MALLOC = "malloc";
    CALLOC = "calloc";
    REALLOC = "realloc";
    POSIX_MEMALIGN = "posix_memalign";
    ALIGNED_ALLOC = "aligned_alloc";
    MEMALIGN = "memalign";
    VALLOC = "valloc";
    PVALLOC = "pvalloc";
    USABLE_SIZE = "malloc_usable_size";
}

/// The thread resolving now (0: none).
static RESOLVER: AtomicI32 = AtomicI32::new(0);

/// Whether the real functions are known; resolves them unless a resolution
/// is under way (then the caller uses the bootstrap arena).
#[inline]
fn ready() -> bool {
    MALLOC.load(Ordering::Acquire) != 0 || resolve()
}

#[cold]
fn resolve() -> bool {
    let me = super::gettid();
    if RESOLVER
        .compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return false;
    }
    lookup_all();
    RESOLVER.store(0, Ordering::Release);
    MALLOC.load(Ordering::Acquire) != 0
}

/// Resolves the real allocator now (start-up, ordinary context).
pub fn resolve_now() {
    let _ = ready();
}

const BOOT_SIZE: usize = 256 << 10;

#[repr(C, align(16))]
struct BootArena(UnsafeCell<[u8; BOOT_SIZE]>);
// SAFETY: every block is handed out once (an atomic bump offset), so no two
// threads write the same bytes through it.
unsafe impl Sync for BootArena {}

static BOOT: BootArena = BootArena(UnsafeCell::new([0; BOOT_SIZE]));
static BOOT_USED: AtomicUsize = AtomicUsize::new(0);

fn boot_alloc(size: usize, align: usize) -> *mut c_void {
    let align = align.max(16);
    let base = BOOT.0.get() as usize;
    loop {
        let used = BOOT_USED.load(Ordering::Relaxed);
        let start = (base + used + 8).next_multiple_of(align);
        let Some(end) = start.checked_add(size.max(1)) else {
            return core::ptr::null_mut();
        };
        if end > base + BOOT_SIZE {
            return core::ptr::null_mut();
        }
        if BOOT_USED
            .compare_exchange(used, end - base, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            // SAFETY: [start - 8, end) lies in the arena and is this
            // block's alone (the bump above); the static is zeroed memory.
            unsafe { ((start - 8) as *mut usize).write(size) };
            return start as *mut c_void;
        }
    }
}

/// Whether `p` is a bootstrap block (never to be freed).
#[inline]
pub fn is_bootstrap(p: usize) -> bool {
    let base = BOOT.0.get() as usize;
    p >= base && p < base + BOOT_SIZE
}

fn boot_size(p: usize) -> usize {
    // SAFETY: a bootstrap block keeps its size in the 8 bytes before it.
    unsafe { ((p - 8) as *const usize).read() }
}

macro_rules! call {
    ($slot:ident, fn($($t:ty),*) -> $r:ty, $($arg:expr),*) => {{
        let f = $slot.load(Ordering::Acquire);
        if f == 0 {
            None
        } else {
            // SAFETY: the resolved C function of this name (module doc),
            // called with the caller's arguments.
            Some(unsafe { core::mem::transmute::<usize, unsafe extern "C" fn($($t),*) -> $r>(f)($($arg),*) })
        }
    }};
}

pub fn malloc(size: size_t) -> *mut c_void {
    if !ready() {
        return boot_alloc(size, 16);
    }
    call!(MALLOC, fn(size_t) -> *mut c_void, size).unwrap_or(core::ptr::null_mut())
}

pub fn calloc(n: size_t, size: size_t) -> *mut c_void {
    if !ready() {
        // The bootstrap arena is zeroed static memory, never reused.
        return n
            .checked_mul(size)
            .map_or(core::ptr::null_mut(), |t| boot_alloc(t, 16));
    }
    call!(CALLOC, fn(size_t, size_t) -> *mut c_void, n, size).unwrap_or(core::ptr::null_mut())
}

/// `realloc` of a block of the real allocator (or a bootstrap block, which
/// moves to the real allocator).
///
/// # Safety
/// `p` is null, a live block of the real allocator, or a bootstrap block.
pub unsafe fn realloc(p: *mut c_void, size: size_t) -> *mut c_void {
    if is_bootstrap(p as usize) {
        let new = malloc(size);
        if !new.is_null() {
            let n = boot_size(p as usize).min(size);
            // SAFETY: both blocks hold at least n bytes and are distinct.
            unsafe { core::ptr::copy_nonoverlapping(p as *const u8, new.cast::<u8>(), n) };
        }
        return new;
    }
    if !ready() {
        return boot_alloc(size, 16);
    }
    call!(REALLOC, fn(*mut c_void, size_t) -> *mut c_void, p, size).unwrap_or(core::ptr::null_mut())
}

/// `posix_memalign`.
///
/// # Safety
/// `out` is writable.
pub unsafe fn posix_memalign(out: *mut *mut c_void, align: size_t, size: size_t) -> c_int {
    if !ready() {
        let p = boot_alloc(size, align);
        if p.is_null() {
            return libc::ENOMEM;
        }
        // SAFETY: per the contract.
        unsafe { out.write(p) };
        return 0;
    }
    call!(
        POSIX_MEMALIGN,
        fn(*mut *mut c_void, size_t, size_t) -> c_int,
        out,
        align,
        size
    )
    .unwrap_or(libc::ENOMEM)
}

pub fn aligned_alloc(align: size_t, size: size_t) -> *mut c_void {
    if !ready() {
        return boot_alloc(size, align);
    }
    call!(
        ALIGNED_ALLOC,
        fn(size_t, size_t) -> *mut c_void,
        align,
        size
    )
    .unwrap_or(core::ptr::null_mut())
}

pub fn memalign(align: size_t, size: size_t) -> *mut c_void {
    if !ready() {
        return boot_alloc(size, align);
    }
    call!(MEMALIGN, fn(size_t, size_t) -> *mut c_void, align, size).unwrap_or(core::ptr::null_mut())
}

pub fn valloc(size: size_t) -> *mut c_void {
    if !ready() {
        return boot_alloc(size, super::PAGE);
    }
    call!(VALLOC, fn(size_t) -> *mut c_void, size).unwrap_or(core::ptr::null_mut())
}

pub fn pvalloc(size: size_t) -> *mut c_void {
    if !ready() {
        return boot_alloc(super::page_round_up(size), super::PAGE);
    }
    call!(PVALLOC, fn(size_t) -> *mut c_void, size).unwrap_or(core::ptr::null_mut())
}

/// `malloc_usable_size` of a block of the real allocator.
///
/// # Safety
/// `p` is null or a live block of the real allocator (or a bootstrap one).
pub unsafe fn malloc_usable_size(p: *mut c_void) -> size_t {
    if is_bootstrap(p as usize) {
        return boot_size(p as usize);
    }
    if !ready() {
        return 0;
    }
    call!(USABLE_SIZE, fn(*mut c_void) -> size_t, p).unwrap_or(0)
}

/// Which C++ `operator new`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewForm {
    Plain,
    Array,
    Nothrow,
    ArrayNothrow,
}

/// The C++ runtime's `operator new` of that form (it throws `bad_alloc`
/// or returns null as the form says). None if no C++ runtime is loaded.
///
/// # Safety
/// `nothrow_tag` is the caller's `const std::nothrow_t&` for the nothrow
/// forms (ignored otherwise).
pub unsafe fn operator_new(
    form: NewForm,
    size: size_t,
    nothrow_tag: *const c_void,
) -> Option<*mut c_void> {
    lookup_cxx();
    match form {
        NewForm::Plain => call!(NEW, fn(size_t) -> *mut c_void, size),
        NewForm::Array => call!(NEW_ARRAY, fn(size_t) -> *mut c_void, size),
        NewForm::Nothrow => call!(
            NEW_NOTHROW,
            fn(size_t, *const c_void) -> *mut c_void,
            size,
            nothrow_tag
        ),
        NewForm::ArrayNothrow => call!(
            NEW_ARRAY_NOTHROW,
            fn(size_t, *const c_void) -> *mut c_void,
            size,
            nothrow_tag
        ),
    }
}

/// The C++ runtime's aligned `operator new` of that form.
///
/// # Safety
/// As [`operator_new`].
pub unsafe fn operator_new_aligned(
    form: NewForm,
    size: size_t,
    align: size_t,
    nothrow_tag: *const c_void,
) -> Option<*mut c_void> {
    lookup_cxx();
    match form {
        NewForm::Plain => call!(NEW_ALIGNED, fn(size_t, size_t) -> *mut c_void, size, align),
        NewForm::Array => call!(
            NEW_ARRAY_ALIGNED,
            fn(size_t, size_t) -> *mut c_void,
            size,
            align
        ),
        NewForm::Nothrow => call!(
            NEW_ALIGNED_NOTHROW,
            fn(size_t, size_t, *const c_void) -> *mut c_void,
            size,
            align,
            nothrow_tag
        ),
        NewForm::ArrayNothrow => call!(
            NEW_ARRAY_ALIGNED_NOTHROW,
            fn(size_t, size_t, *const c_void) -> *mut c_void,
            size,
            align,
            nothrow_tag
        ),
    }
}
