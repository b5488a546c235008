//! The rest of the calls that hand the kernel user memory to fill or read
//! (random bytes, resource and process status, affinity masks, timers,
//! signal information, `epoll_ctl`'s event, file-system statistics,
//! `sendfile`'s offset, thread names), and the calls whose arguments PUSh
//! cannot interpret (`syscall`, `prctl`, `fcntl`). The kernel honours the
//! calling thread's rights, so without these a tracked buffer whose window
//! closed at the thread's last synchronization (`mprotect`) or whose key
//! the thread lacks (`mpk`) would fail the call with EFAULT and change
//! what a correct program does. A buffer of known size is prepared as in
//! `kernel_io` (touched as the thread, its access checked, then open to
//! the thread for the call); for the opaque calls, every argument that
//! points into tracked memory has its object opened for the call without
//! a check. Arguments outside tracked memory pass straight through.
//!
//! # Safety
//! Every export has the C signature of the function it replaces (the
//! variadic ones as `push_rt::real` explains) and passes its arguments
//! unchanged to the real one; the preparation only touches (reads, or
//! atomically rewrites unchanged) the ranges the caller hands the function.

use crate::kernel_io::{with_buffer, with_opaque_args};
use crate::kernel_paths::path_copy;
use core::mem::size_of;
use libc::{c_char, c_int, c_long, c_uint, c_ulong, c_void, pid_t, pthread_t, size_t, ssize_t};
use push_rt::real::get as real;

/// [`with_buffer`] for one `T` at `p` (null allowed).
fn with_struct<T, R>(p: *const T, write: bool, call: impl FnOnce() -> R) -> R {
    with_buffer(p.cast(), size_of::<T>(), write, call)
}

/// Hooks whose buffer is `$buf`, `$len` bytes, which the kernel writes
/// (`true`) or reads.
macro_rules! sized_buffer {
    ($($name:ident($($a:ident: $t:ty),*) -> $r:ty: $buf:ident[$len:ident], $write:expr;)*) => {$(
        #[no_mangle]
        pub unsafe extern "C" fn $name($($a: $t),*) -> $r {
            with_buffer($buf as *const c_void, $len, $write, || {
                // SAFETY: unchanged arguments.
                unsafe { real::$name()($($a),*) }
            })
        }
    )*};
}

/// Hooks whose struct arguments `$buf` (each null allowed) the kernel
/// writes (`true`) or reads.
macro_rules! struct_buffer {
    ($($name:ident($($a:ident: $t:ty),*) -> $r:ty: [$($buf:ident $write:literal),+];)*) => {$(
        #[no_mangle]
        pub unsafe extern "C" fn $name($($a: $t),*) -> $r {
            each_struct!([$($buf $write),+] real::$name()($($a),*))
        }
    )*};
}

/// `call` inside [`with_struct`] for each struct in the list.
macro_rules! each_struct {
    ([$buf:ident $write:literal] $call:expr) => {
        with_struct($buf as *const _, $write, || {
            // SAFETY: unchanged arguments.
            unsafe { $call }
        })
    };
    ([$buf:ident $write:literal, $($rest:tt)+] $call:expr) => {
        with_struct($buf as *const _, $write, || each_struct!([$($rest)+] $call))
    };
}

sized_buffer! {
    getrandom(buf: *mut c_void, n: size_t, flags: c_uint) -> ssize_t: buf[n], true;
    getentropy(buf: *mut c_void, n: size_t) -> c_int: buf[n], true;
    sched_getaffinity(pid: pid_t, size: size_t, mask: *mut libc::cpu_set_t) -> c_int: mask[size], true;
    sched_setaffinity(pid: pid_t, size: size_t, mask: *const libc::cpu_set_t) -> c_int: mask[size], false;
    pthread_getaffinity_np(thread: pthread_t, size: size_t, mask: *mut libc::cpu_set_t) -> c_int: mask[size], true;
    pthread_setaffinity_np(thread: pthread_t, size: size_t, mask: *const libc::cpu_set_t) -> c_int: mask[size], false;
    pthread_getname_np(thread: pthread_t, name: *mut c_char, n: size_t) -> c_int: name[n], true;
}

struct_buffer! {
    getrusage(who: c_int, usage: *mut libc::rusage) -> c_int: [usage true];
    uname(buf: *mut libc::utsname) -> c_int: [buf true];
    sysinfo(info: *mut libc::sysinfo) -> c_int: [info true];
    times(buf: *mut libc::tms) -> libc::clock_t: [buf true];
    getrlimit(resource: c_int, limit: *mut libc::rlimit) -> c_int: [limit true];
    setrlimit(resource: c_int, limit: *const libc::rlimit) -> c_int: [limit false];
    prlimit(pid: pid_t, resource: c_int, new: *const libc::rlimit, old: *mut libc::rlimit) -> c_int:
        [new false, old true];
    prlimit64(pid: pid_t, resource: c_int, new: *const libc::rlimit64, old: *mut libc::rlimit64) -> c_int:
        [new false, old true];
    wait(status: *mut c_int) -> pid_t: [status true];
    waitpid(pid: pid_t, status: *mut c_int, options: c_int) -> pid_t: [status true];
    wait3(status: *mut c_int, options: c_int, usage: *mut libc::rusage) -> pid_t:
        [status true, usage true];
    wait4(pid: pid_t, status: *mut c_int, options: c_int, usage: *mut libc::rusage) -> pid_t:
        [status true, usage true];
    waitid(idtype: libc::idtype_t, id: libc::id_t, info: *mut libc::siginfo_t, options: c_int) -> c_int:
        [info true];
    epoll_ctl(epfd: c_int, op: c_int, fd: c_int, event: *mut libc::epoll_event) -> c_int: [event false];
    sigtimedwait(set: *const libc::sigset_t, info: *mut libc::siginfo_t, timeout: *const libc::timespec) -> c_int:
        [set false, info true, timeout false];
    sigwaitinfo(set: *const libc::sigset_t, info: *mut libc::siginfo_t) -> c_int: [set false, info true];
    timerfd_settime(fd: c_int, flags: c_int, new: *const libc::itimerspec, old: *mut libc::itimerspec) -> c_int:
        [new false, old true];
    timerfd_gettime(fd: c_int, cur: *mut libc::itimerspec) -> c_int: [cur true];
    getitimer(which: c_int, cur: *mut libc::itimerval) -> c_int: [cur true];
    setitimer(which: c_int, new: *const libc::itimerval, old: *mut libc::itimerval) -> c_int:
        [new false, old true];
    fstatfs(fd: c_int, buf: *mut libc::statfs) -> c_int: [buf true];
    sendfile(out: c_int, input: c_int, offset: *mut libc::off_t, count: size_t) -> ssize_t: [offset true];
}

#[no_mangle]
pub unsafe extern "C" fn getrlimit64(resource: c_int, limit: *mut libc::rlimit) -> c_int {
    // SAFETY: on x86-64 getrlimit64 is getrlimit.
    unsafe { getrlimit(resource, limit) }
}

#[no_mangle]
pub unsafe extern "C" fn setrlimit64(resource: c_int, limit: *const libc::rlimit) -> c_int {
    // SAFETY: on x86-64 setrlimit64 is setrlimit.
    unsafe { setrlimit(resource, limit) }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_setname_np(thread: pthread_t, name: *const c_char) -> c_int {
    // SAFETY: the caller's NUL-terminated name.
    let copy = unsafe { path_copy(name) };
    let name = copy.as_ref().map_or(name, |c| c.as_ptr());
    // SAFETY: the caller's arguments, the name perhaps as an equal copy.
    unsafe { real::pthread_setname_np()(thread, name) }
}

#[no_mangle]
pub unsafe extern "C" fn statfs(path: *const c_char, buf: *mut libc::statfs) -> c_int {
    // SAFETY: the caller's NUL-terminated path.
    let copy = unsafe { path_copy(path) };
    let path = copy.as_ref().map_or(path, |c| c.as_ptr());
    with_struct(buf.cast_const(), true, || {
        // SAFETY: the caller's arguments, the path perhaps as an equal copy.
        unsafe { real::statfs()(path, buf) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn statfs64(path: *const c_char, buf: *mut libc::statfs) -> c_int {
    // SAFETY: on x86-64 statfs64 is statfs.
    unsafe { statfs(path, buf) }
}

#[no_mangle]
pub unsafe extern "C" fn fstatfs64(fd: c_int, buf: *mut libc::statfs) -> c_int {
    // SAFETY: on x86-64 fstatfs64 is fstatfs.
    unsafe { fstatfs(fd, buf) }
}

#[no_mangle]
pub unsafe extern "C" fn sendfile64(
    out: c_int,
    input: c_int,
    offset: *mut libc::off_t,
    count: size_t,
) -> ssize_t {
    // SAFETY: on x86-64 sendfile64 is sendfile.
    unsafe { sendfile(out, input, offset, count) }
}

/// System calls whose address arguments name ranges of the address space
/// rather than memory the kernel reads or writes as the thread (and the
/// runtime's own calls without memory arguments): they pass straight
/// through, whatever their arguments look like.
fn takes_ranges_or_nothing(nr: c_long) -> bool {
    matches!(
        nr,
        libc::SYS_mmap
            | libc::SYS_munmap
            | libc::SYS_mprotect
            | libc::SYS_pkey_mprotect
            | libc::SYS_pkey_alloc
            | libc::SYS_pkey_free
            | libc::SYS_madvise
            | libc::SYS_mremap
            | libc::SYS_msync
            | libc::SYS_mlock
            | libc::SYS_mlock2
            | libc::SYS_munlock
            | libc::SYS_brk
            | libc::SYS_gettid
            | libc::SYS_getpid
            | libc::SYS_tgkill
            | libc::SYS_tkill
            | libc::SYS_exit
            | libc::SYS_exit_group
            | libc::SYS_sched_yield
    )
}

/// `syscall(number, ...)`: PUSh does not know which arguments are
/// buffers, so every argument that points into tracked memory has its
/// object opened for the call (unchecked).
#[no_mangle]
pub unsafe extern "C" fn syscall(
    nr: c_long,
    a1: c_long,
    a2: c_long,
    a3: c_long,
    a4: c_long,
    a5: c_long,
    a6: c_long,
) -> c_long {
    // SAFETY: unchanged arguments.
    let call = || unsafe { real::syscall()(nr, a1, a2, a3, a4, a5, a6) };
    if takes_ranges_or_nothing(nr) {
        return call();
    }
    let args = [a1, a2, a3, a4, a5, a6].map(|a| a as usize);
    with_opaque_args(&args, call)
}

/// `prctl(option, ...)`: as `syscall`, every argument in tracked memory
/// (PR_GET_NAME's buffer, PR_SET_NAME's string, ...) is opened for the call.
#[no_mangle]
pub unsafe extern "C" fn prctl(
    option: c_int,
    a2: c_ulong,
    a3: c_ulong,
    a4: c_ulong,
    a5: c_ulong,
) -> c_int {
    with_opaque_args(
        &[a2 as usize, a3 as usize, a4 as usize, a5 as usize],
        || {
            // SAFETY: unchanged arguments.
            unsafe { real::prctl()(option, a2, a3, a4, a5) }
        },
    )
}

/// `fcntl(fd, cmd, arg)`: a lock description (`F_GETLK`, `F_SETLK`,
/// `F_OFD_*`) or owner struct in tracked memory is opened for the call.
#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    with_opaque_args(&[arg as usize], || {
        // SAFETY: unchanged arguments.
        unsafe { real::fcntl()(fd, cmd, arg) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    with_opaque_args(&[arg as usize], || {
        // SAFETY: unchanged arguments.
        unsafe { real::fcntl64()(fd, cmd, arg) }
    })
}
