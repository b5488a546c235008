//! File-system calls and program starts whose string arguments (paths,
//! `argv`, `envp`) the kernel reads on the caller's behalf. The kernel
//! honours the calling thread's rights: a path in a tracked object
//! (annotated or watched) whose window is closed (`mprotect`), or whose
//! key the thread lacks (`mpk`), would fail the call with EFAULT. So such
//! strings are copied out of tracked memory first (by this thread, in user
//! mode: a fault there is a checked access like any other), and the call
//! gets the copies. Output structs (`stat`) and buffers (`readlink`) go
//! through `kernel_io`'s touch-and-grant. Strings outside tracked memory
//! pass straight to the real function.
//!
//! # Safety
//! Every export has the C signature of the function it replaces and
//! passes its arguments unchanged to the real one, except that a string
//! in tracked memory is replaced by an equal copy.

use crate::kernel_io::with_buffer;
use libc::{c_char, c_int, c_uint, mode_t};
use push_rt as rt;
use push_rt::real::get as real;

type CStrP = *const c_char;

/// A path copied out of tracked memory (PATH_MAX bytes at most).
pub(crate) struct PathCopy([u8; libc::PATH_MAX as usize]);

impl PathCopy {
    pub(crate) fn as_ptr(&self) -> CStrP {
        self.0.as_ptr().cast()
    }
}

/// The string at `p`, copied when it lies in
/// tracked memory (None: pass `p` itself).
///
/// # Safety
/// `p` is null or a NUL-terminated string.
pub(crate) unsafe fn path_copy(p: CStrP) -> Option<PathCopy> {
    if p.is_null() || !rt::maybe_tracked(p as usize) {
        return None;
    }
    let mut copy = PathCopy([0; libc::PATH_MAX as usize]);
    for (i, slot) in copy
        .0
        .iter_mut()
        .enumerate()
        .take(libc::PATH_MAX as usize - 1)
    {
        // SAFETY: within the caller's NUL-terminated string (we stop at its
        // NUL); a fault on it is handled as the thread's access.
        let b = unsafe { p.add(i).read() } as u8;
        *slot = b;
        if b == 0 {
            break;
        }
    }
    Some(copy)
}

/// The pointer to pass for `p`: its copy when there is one.
fn arg(p: CStrP, copy: &Option<PathCopy>) -> CStrP {
    copy.as_ref().map_or(p, PathCopy::as_ptr)
}

macro_rules! path_first {
    ($($name:ident($($a:ident: $t:ty),*) -> $r:ty;)*) => {$(
        #[no_mangle]
        pub unsafe extern "C" fn $name(path: CStrP, $($a: $t),*) -> $r {
            // SAFETY: the caller's NUL-terminated path (or null).
            let copy = unsafe { path_copy(path) };
            // SAFETY: the caller's arguments, the path perhaps as an equal copy.
            unsafe { real::$name()(arg(path, &copy), $($a),*) }
        }
    )*};
}

path_first! {
    open(flags: c_int, mode: c_uint) -> c_int;
    open64(flags: c_int, mode: c_uint) -> c_int;
    creat(mode: mode_t) -> c_int;
    access(mode: c_int) -> c_int;
    unlink() -> c_int;
    rmdir() -> c_int;
    remove() -> c_int;
    mkdir(mode: mode_t) -> c_int;
    chdir() -> c_int;
    chmod(mode: mode_t) -> c_int;
    truncate(len: libc::off_t) -> c_int;
    opendir() -> *mut libc::DIR;
}

#[no_mangle]
pub unsafe extern "C" fn openat(dir: c_int, path: CStrP, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: the caller's NUL-terminated path (or null).
    let copy = unsafe { path_copy(path) };
    // SAFETY: the caller's arguments, the path perhaps as an equal copy.
    unsafe { real::openat()(dir, arg(path, &copy), flags, mode) }
}

#[no_mangle]
pub unsafe extern "C" fn openat64(dir: c_int, path: CStrP, flags: c_int, mode: c_uint) -> c_int {
    // SAFETY: the caller's NUL-terminated path (or null).
    let copy = unsafe { path_copy(path) };
    // SAFETY: the caller's arguments, the path perhaps as an equal copy.
    unsafe { real::openat64()(dir, arg(path, &copy), flags, mode) }
}

macro_rules! fopen_like {
    ($($name:ident;)*) => {$(
        #[no_mangle]
        pub unsafe extern "C" fn $name(path: CStrP, mode: CStrP) -> *mut libc::FILE {
            // SAFETY: the caller's NUL-terminated strings (or null).
            let (p, m) = unsafe { (path_copy(path), path_copy(mode)) };
            // SAFETY: the caller's arguments, perhaps as equal copies.
            unsafe { real::$name()(arg(path, &p), arg(mode, &m)) }
        }
    )*};
}

fopen_like! {
    fopen;
    fopen64;
}

#[no_mangle]
pub unsafe extern "C" fn freopen(path: CStrP, mode: CStrP, f: *mut libc::FILE) -> *mut libc::FILE {
    // SAFETY: the caller's NUL-terminated strings (or null).
    let (p, m) = unsafe { (path_copy(path), path_copy(mode)) };
    // SAFETY: the caller's arguments, perhaps as equal copies.
    unsafe { real::freopen()(arg(path, &p), arg(mode, &m), f) }
}

#[no_mangle]
pub unsafe extern "C" fn rename(from: CStrP, to: CStrP) -> c_int {
    // SAFETY: the caller's NUL-terminated paths (or null).
    let (a, b) = unsafe { (path_copy(from), path_copy(to)) };
    // SAFETY: the caller's arguments, perhaps as equal copies.
    unsafe { real::rename()(arg(from, &a), arg(to, &b)) }
}

macro_rules! stat_like {
    ($($name:ident($buf:ty);)*) => {$(
        #[no_mangle]
        pub unsafe extern "C" fn $name(path: CStrP, buf: *mut $buf) -> c_int {
            // SAFETY: the caller's NUL-terminated path (or null).
            let copy = unsafe { path_copy(path) };
            with_buffer(buf.cast_const().cast(), core::mem::size_of::<$buf>(), true, || {
                // SAFETY: the caller's arguments, the path perhaps as an equal copy.
                unsafe { real::$name()(arg(path, &copy), buf) }
            })
        }
    )*};
}

stat_like! {
    stat(libc::stat);
    lstat(libc::stat);
    stat64(libc::stat64);
    lstat64(libc::stat64);
}

#[no_mangle]
pub unsafe extern "C" fn fstat(fd: c_int, buf: *mut libc::stat) -> c_int {
    with_buffer(
        buf.cast_const().cast(),
        core::mem::size_of::<libc::stat>(),
        true,
        || {
            // SAFETY: unchanged arguments.
            unsafe { real::fstat()(fd, buf) }
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn fstat64(fd: c_int, buf: *mut libc::stat64) -> c_int {
    with_buffer(
        buf.cast_const().cast(),
        core::mem::size_of::<libc::stat64>(),
        true,
        || {
            // SAFETY: unchanged arguments.
            unsafe { real::fstat64()(fd, buf) }
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn readlink(path: CStrP, buf: *mut c_char, n: usize) -> isize {
    // SAFETY: the caller's NUL-terminated path (or null).
    let copy = unsafe { path_copy(path) };
    with_buffer(buf.cast_const().cast(), n, true, || {
        // SAFETY: the caller's arguments, the path perhaps as an equal copy.
        unsafe { real::readlink()(arg(path, &copy), buf, n) }
    })
}

macro_rules! dir_path {
    ($($name:ident($($a:ident: $t:ty),*) -> $r:ty;)*) => {$(
        #[no_mangle]
        pub unsafe extern "C" fn $name(dir: c_int, path: CStrP, $($a: $t),*) -> $r {
            // SAFETY: the caller's NUL-terminated path (or null).
            let copy = unsafe { path_copy(path) };
            // SAFETY: the caller's arguments, the path perhaps as an equal copy.
            unsafe { real::$name()(dir, arg(path, &copy), $($a),*) }
        }
    )*};
}

dir_path! {
    faccessat(mode: c_int, flags: c_int) -> c_int;
    unlinkat(flags: c_int) -> c_int;
    mkdirat(mode: mode_t) -> c_int;
    fchmodat(mode: mode_t, flags: c_int) -> c_int;
    fchownat(uid: libc::uid_t, gid: libc::gid_t, flags: c_int) -> c_int;
    utimensat(times: *const libc::timespec, flags: c_int) -> c_int;
}

path_first! {
    chown(uid: libc::uid_t, gid: libc::gid_t) -> c_int;
    lchown(uid: libc::uid_t, gid: libc::gid_t) -> c_int;
}

macro_rules! two_paths {
    ($($name:ident;)*) => {$(
        #[no_mangle]
        pub unsafe extern "C" fn $name(from: CStrP, to: CStrP) -> c_int {
            // SAFETY: the caller's NUL-terminated paths (or null).
            let (a, b) = unsafe { (path_copy(from), path_copy(to)) };
            // SAFETY: the caller's arguments, perhaps as equal copies.
            unsafe { real::$name()(arg(from, &a), arg(to, &b)) }
        }
    )*};
}

two_paths! {
    symlink;
    link;
}

#[no_mangle]
pub unsafe extern "C" fn renameat(fd1: c_int, from: CStrP, fd2: c_int, to: CStrP) -> c_int {
    // SAFETY: the caller's NUL-terminated paths (or null).
    let (a, b) = unsafe { (path_copy(from), path_copy(to)) };
    // SAFETY: the caller's arguments, perhaps as equal copies.
    unsafe { real::renameat()(fd1, arg(from, &a), fd2, arg(to, &b)) }
}

macro_rules! fstatat_like {
    ($($name:ident($buf:ty);)*) => {$(
        #[no_mangle]
        pub unsafe extern "C" fn $name(dir: c_int, path: CStrP, buf: *mut $buf, flags: c_int) -> c_int {
            // SAFETY: the caller's NUL-terminated path (or null).
            let copy = unsafe { path_copy(path) };
            with_buffer(buf.cast_const().cast(), core::mem::size_of::<$buf>(), true, || {
                // SAFETY: the caller's arguments, the path perhaps as an equal copy.
                unsafe { real::$name()(dir, arg(path, &copy), buf, flags) }
            })
        }
    )*};
}

fstatat_like! {
    fstatat(libc::stat);
    fstatat64(libc::stat64);
}

#[no_mangle]
pub unsafe extern "C" fn statx(
    dir: c_int,
    path: CStrP,
    flags: c_int,
    mask: c_uint,
    buf: *mut libc::statx,
) -> c_int {
    // SAFETY: the caller's NUL-terminated path (or null).
    let copy = unsafe { path_copy(path) };
    with_buffer(
        buf.cast_const().cast(),
        core::mem::size_of::<libc::statx>(),
        true,
        || {
            // SAFETY: the caller's arguments, the path perhaps as an equal copy.
            unsafe { real::statx()(dir, arg(path, &copy), flags, mask, buf) }
        },
    )
}

#[no_mangle]
pub unsafe extern "C" fn readlinkat(dir: c_int, path: CStrP, buf: *mut c_char, n: usize) -> isize {
    // SAFETY: the caller's NUL-terminated path (or null).
    let copy = unsafe { path_copy(path) };
    with_buffer(buf.cast_const().cast(), n, true, || {
        // SAFETY: the caller's arguments, the path perhaps as an equal copy.
        unsafe { real::readlinkat()(dir, arg(path, &copy), buf, n) }
    })
}

// ---------------------------------------------------------- program starts

/// Copies of a NULL-terminated string vector (`argv`, `envp`) outside the
/// tracked memory.
pub(crate) struct StrVec {
    _strings: Vec<Vec<u8>>,
    ptrs: Vec<CStrP>,
}

impl StrVec {
    pub(crate) fn as_ptr(&self) -> *const CStrP {
        self.ptrs.as_ptr()
    }
}

/// `v` copied when it, or one of its strings, lies in
/// tracked memory (None: pass `v` itself).
///
/// # Safety
/// `v` is null or a NULL-terminated array of NUL-terminated strings.
pub(crate) unsafe fn vec_copy(v: *const CStrP) -> Option<StrVec> {
    if v.is_null() {
        return None;
    }
    let tracked = |p: usize| rt::maybe_tracked(p);
    let mut n = 0;
    let mut any = tracked(v as usize);
    loop {
        // SAFETY: within the caller's NULL-terminated array.
        let s = unsafe { v.add(n).read() };
        if s.is_null() {
            break;
        }
        any |= tracked(s as usize);
        n += 1;
    }
    if !any {
        return None;
    }
    let mut strings = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: as above; each a NUL-terminated string.
        let s = unsafe { core::ffi::CStr::from_ptr(v.add(i).read()) };
        strings.push(s.to_bytes_with_nul().to_vec());
    }
    let mut ptrs: Vec<CStrP> = strings.iter().map(|s| s.as_ptr().cast()).collect();
    ptrs.push(core::ptr::null());
    Some(StrVec {
        _strings: strings,
        ptrs,
    })
}

/// The pointer to pass for `v`: its copy when there is one.
pub(crate) fn vec_arg(v: *const CStrP, copy: &Option<StrVec>) -> *const CStrP {
    copy.as_ref().map_or(v, StrVec::as_ptr)
}
