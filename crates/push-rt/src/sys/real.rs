//! The libc/pthread functions behind PUSh's interposers.
//!
//! libpush.so exports `pthread_mutex_lock`, `sigaction`, ... itself, so every
//! call to the real ones goes through a pointer found with
//! `dlsym(RTLD_NEXT, ...)` (`dlvsym` where glibc has two versions). Each is
//! resolved on first use and cached in an atomic; the ones the fault handler
//! needs are resolved at start-up by [`resolve_all`], since `dlsym` is not
//! async-signal-safe.
//!
//! # Safety
//! A resolved pointer is the C function of that name with the declared
//! signature (the libc ABI); calling it is as safe as calling the function.

use core::sync::atomic::{AtomicUsize, Ordering};
use libc::{c_int, c_void, pthread_attr_t, pthread_t, sigaction as SigAction, timespec};

#[inline(always)]
fn resolve(slot: &AtomicUsize, name: &'static [u8], version: Option<&'static [u8]>) -> usize {
    match slot.load(Ordering::Relaxed) {
        0 => resolve_slow(slot, name, version),
        cached => cached,
    }
}

#[cold]
#[inline(never)]
fn resolve_slow(slot: &AtomicUsize, name: &'static [u8], version: Option<&'static [u8]>) -> usize {
    let p = lookup(slot, name, version);
    if p == 0 {
        let msg = b"PUSh: fatal: cannot find a libc function to interpose\n";
        crate::sys::write_all(2, msg);
        crate::sys::exit_now(134);
    }
    p
}

/// Looks `name` up after libpush.so and caches it; 0 if this libc lacks it
/// (an older glibc without the clock or C11 forms: a program that calls
/// them cannot have been loaded with it).
fn lookup(slot: &AtomicUsize, name: &'static [u8], version: Option<&'static [u8]>) -> usize {
    // SAFETY: name and version are NUL-terminated literals.
    let p = unsafe {
        match version {
            Some(v) => libc::dlvsym(libc::RTLD_NEXT, name.as_ptr().cast(), v.as_ptr().cast()),
            None => core::ptr::null_mut(),
        }
    };
    let p = if p.is_null() {
        // SAFETY: as above.
        unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) }
    } else {
        p
    };
    slot.store(p as usize, Ordering::Relaxed);
    p as usize
}

macro_rules! real_functions {
    ($( $name:ident = $sym:literal $(@ $ver:literal)? : fn($($arg:ty),*) -> $ret:ty; )*) => {
        $(
            #[allow(non_upper_case_globals)]
            static $name: AtomicUsize = AtomicUsize::new(0);
        )*
        pub mod get {
            use super::*;
            $(
                #[inline]
                pub fn $name() -> unsafe extern "C" fn($($arg),*) -> $ret {
                    let version: Option<&'static [u8]> = None $(.or(Some(concat!($ver, "\0").as_bytes())))?;
                    let p = resolve(&super::$name, concat!($sym, "\0").as_bytes(), version);
                    // SAFETY: p is the libc function of this name (module doc).
                    unsafe { core::mem::transmute::<usize, unsafe extern "C" fn($($arg),*) -> $ret>(p) }
                }
            )*
        }
        /// Resolves every function this libc has now (from ordinary
        /// context), so that no hook calls `dlsym` later.
        pub fn resolve_all() {
            $(
                let version: Option<&'static [u8]> = None $(.or(Some(concat!($ver, "\0").as_bytes())))?;
                let _ = lookup(&$name, concat!($sym, "\0").as_bytes(), version);
            )*
        }
    };
}

type M = *mut libc::pthread_mutex_t;
type R = *mut libc::pthread_rwlock_t;
type C = *mut libc::pthread_cond_t;
type S = *mut libc::pthread_spinlock_t;
type StartFn = extern "C" fn(*mut c_void) -> *mut c_void;
type CloneFn = extern "C" fn(*mut c_void) -> c_int;
type Clock = libc::clockid_t;
type Once = *mut libc::pthread_once_t;
/// C11 `<threads.h>` objects: glibc lays `mtx_t`, `cnd_t` and `once_flag`
/// out as the pthread objects they wrap, and `thrd_t` is a `pthread_t`.
pub type C11Mutex = libc::pthread_mutex_t;
pub type C11Cond = libc::pthread_cond_t;
pub type C11Once = libc::pthread_once_t;
pub type C11Thread = pthread_t;
/// A C11 thread's start routine (`thrd_start_t`).
pub type C11StartFn = extern "C" fn(*mut c_void) -> c_int;
type Mtx = *mut C11Mutex;
type Cnd = *mut C11Cond;

type Iov = *const libc::iovec;
type CStr = *const libc::c_char;
type File = *mut libc::FILE;
type Sockaddr = *mut libc::sockaddr;

real_functions! {
    read = "read": fn(c_int, *mut c_void, usize) -> isize;
    write = "write": fn(c_int, *const c_void, usize) -> isize;
    pread64 = "pread64": fn(c_int, *mut c_void, usize, i64) -> isize;
    // Variadic in C (`int ioctl(int, unsigned long, ...)`): glibc's is a
    // system-call stub that takes its third argument from its register,
    // which this fixed signature passes the same way on x86-64.
    ioctl = "ioctl": fn(c_int, libc::c_ulong, *mut c_void) -> c_int;
    getdents64 = "getdents64": fn(c_int, *mut c_void, usize) -> isize;
    pwrite64 = "pwrite64": fn(c_int, *const c_void, usize, i64) -> isize;
    readv = "readv": fn(c_int, Iov, c_int) -> isize;
    writev = "writev": fn(c_int, Iov, c_int) -> isize;
    recv = "recv": fn(c_int, *mut c_void, usize, c_int) -> isize;
    recvfrom = "recvfrom": fn(c_int, *mut c_void, usize, c_int, Sockaddr, *mut libc::socklen_t) -> isize;
    send = "send": fn(c_int, *const c_void, usize, c_int) -> isize;
    sendto = "sendto": fn(c_int, *const c_void, usize, c_int, *const libc::sockaddr, libc::socklen_t) -> isize;
    fread = "fread": fn(*mut c_void, usize, usize, File) -> usize;
    recvmsg = "recvmsg": fn(c_int, *mut libc::msghdr, c_int) -> isize;
    sendmsg = "sendmsg": fn(c_int, *const libc::msghdr, c_int) -> isize;
    poll = "poll": fn(*mut libc::pollfd, libc::nfds_t, c_int) -> c_int;
    ppoll = "ppoll": fn(*mut libc::pollfd, libc::nfds_t, *const timespec, *const libc::sigset_t) -> c_int;
    epoll_wait = "epoll_wait": fn(c_int, *mut libc::epoll_event, c_int, c_int) -> c_int;
    epoll_pwait = "epoll_pwait": fn(c_int, *mut libc::epoll_event, c_int, c_int, *const libc::sigset_t) -> c_int;
    select = "select": fn(c_int, *mut libc::fd_set, *mut libc::fd_set, *mut libc::fd_set, *mut libc::timeval) -> c_int;
    pipe = "pipe": fn(*mut c_int) -> c_int;
    pipe2 = "pipe2": fn(*mut c_int, c_int) -> c_int;
    socketpair = "socketpair": fn(c_int, c_int, c_int, *mut c_int) -> c_int;
    accept = "accept": fn(c_int, Sockaddr, *mut libc::socklen_t) -> c_int;
    accept4 = "accept4": fn(c_int, Sockaddr, *mut libc::socklen_t, c_int) -> c_int;
    getsockname = "getsockname": fn(c_int, Sockaddr, *mut libc::socklen_t) -> c_int;
    getpeername = "getpeername": fn(c_int, Sockaddr, *mut libc::socklen_t) -> c_int;
    getsockopt = "getsockopt": fn(c_int, c_int, c_int, *mut c_void, *mut libc::socklen_t) -> c_int;
    setsockopt = "setsockopt": fn(c_int, c_int, c_int, *const c_void, libc::socklen_t) -> c_int;
    connect = "connect": fn(c_int, *const libc::sockaddr, libc::socklen_t) -> c_int;
    bind = "bind": fn(c_int, *const libc::sockaddr, libc::socklen_t) -> c_int;
    getcwd = "getcwd": fn(*mut libc::c_char, usize) -> *mut libc::c_char;
    usleep = "usleep": fn(libc::useconds_t) -> c_int;
    open = "open": fn(CStr, c_int, libc::c_uint) -> c_int;
    open64 = "open64": fn(CStr, c_int, libc::c_uint) -> c_int;
    openat = "openat": fn(c_int, CStr, c_int, libc::c_uint) -> c_int;
    openat64 = "openat64": fn(c_int, CStr, c_int, libc::c_uint) -> c_int;
    creat = "creat": fn(CStr, libc::mode_t) -> c_int;
    fopen = "fopen": fn(CStr, CStr) -> File;
    fopen64 = "fopen64": fn(CStr, CStr) -> File;
    freopen = "freopen": fn(CStr, CStr, File) -> File;
    access = "access": fn(CStr, c_int) -> c_int;
    unlink = "unlink": fn(CStr) -> c_int;
    rmdir = "rmdir": fn(CStr) -> c_int;
    remove = "remove": fn(CStr) -> c_int;
    mkdir = "mkdir": fn(CStr, libc::mode_t) -> c_int;
    chdir = "chdir": fn(CStr) -> c_int;
    chmod = "chmod": fn(CStr, libc::mode_t) -> c_int;
    truncate = "truncate": fn(CStr, libc::off_t) -> c_int;
    opendir = "opendir": fn(CStr) -> *mut libc::DIR;
    rename = "rename": fn(CStr, CStr) -> c_int;
    stat = "stat": fn(CStr, *mut libc::stat) -> c_int;
    lstat = "lstat": fn(CStr, *mut libc::stat) -> c_int;
    stat64 = "stat64": fn(CStr, *mut libc::stat64) -> c_int;
    lstat64 = "lstat64": fn(CStr, *mut libc::stat64) -> c_int;
    fstat = "fstat": fn(c_int, *mut libc::stat) -> c_int;
    fstat64 = "fstat64": fn(c_int, *mut libc::stat64) -> c_int;
    readlink = "readlink": fn(CStr, *mut libc::c_char, usize) -> isize;
    fstatat = "fstatat": fn(c_int, CStr, *mut libc::stat, c_int) -> c_int;
    fstatat64 = "fstatat64": fn(c_int, CStr, *mut libc::stat64, c_int) -> c_int;
    statx = "statx": fn(c_int, CStr, c_int, libc::c_uint, *mut libc::statx) -> c_int;
    faccessat = "faccessat": fn(c_int, CStr, c_int, c_int) -> c_int;
    unlinkat = "unlinkat": fn(c_int, CStr, c_int) -> c_int;
    mkdirat = "mkdirat": fn(c_int, CStr, libc::mode_t) -> c_int;
    fchmodat = "fchmodat": fn(c_int, CStr, libc::mode_t, c_int) -> c_int;
    fchownat = "fchownat": fn(c_int, CStr, libc::uid_t, libc::gid_t, c_int) -> c_int;
    readlinkat = "readlinkat": fn(c_int, CStr, *mut libc::c_char, usize) -> isize;
    renameat = "renameat": fn(c_int, CStr, c_int, CStr) -> c_int;
    utimensat = "utimensat": fn(c_int, CStr, *const libc::timespec, c_int) -> c_int;
    chown = "chown": fn(CStr, libc::uid_t, libc::gid_t) -> c_int;
    lchown = "lchown": fn(CStr, libc::uid_t, libc::gid_t) -> c_int;
    symlink = "symlink": fn(CStr, CStr) -> c_int;
    link = "link": fn(CStr, CStr) -> c_int;
    nanosleep = "nanosleep": fn(*const timespec, *mut timespec) -> c_int;
    clock_nanosleep = "clock_nanosleep": fn(Clock, c_int, *const timespec, *mut timespec) -> c_int;
    sched_yield = "sched_yield": fn() -> c_int;
    getrandom = "getrandom": fn(*mut c_void, usize, libc::c_uint) -> isize;
    getentropy = "getentropy": fn(*mut c_void, usize) -> c_int;
    getrusage = "getrusage": fn(c_int, *mut libc::rusage) -> c_int;
    uname = "uname": fn(*mut libc::utsname) -> c_int;
    sysinfo = "sysinfo": fn(*mut libc::sysinfo) -> c_int;
    times = "times": fn(*mut libc::tms) -> libc::clock_t;
    getrlimit = "getrlimit": fn(c_int, *mut libc::rlimit) -> c_int;
    setrlimit = "setrlimit": fn(c_int, *const libc::rlimit) -> c_int;
    prlimit = "prlimit": fn(libc::pid_t, c_int, *const libc::rlimit, *mut libc::rlimit) -> c_int;
    prlimit64 = "prlimit64": fn(libc::pid_t, c_int, *const libc::rlimit64, *mut libc::rlimit64) -> c_int;
    sched_getaffinity = "sched_getaffinity": fn(libc::pid_t, usize, *mut libc::cpu_set_t) -> c_int;
    sched_setaffinity = "sched_setaffinity": fn(libc::pid_t, usize, *const libc::cpu_set_t) -> c_int;
    pthread_getaffinity_np = "pthread_getaffinity_np": fn(pthread_t, usize, *mut libc::cpu_set_t) -> c_int;
    pthread_setaffinity_np = "pthread_setaffinity_np": fn(pthread_t, usize, *const libc::cpu_set_t) -> c_int;
    pthread_getname_np = "pthread_getname_np": fn(pthread_t, *mut libc::c_char, usize) -> c_int;
    pthread_setname_np = "pthread_setname_np": fn(pthread_t, CStr) -> c_int;
    wait = "wait": fn(*mut c_int) -> libc::pid_t;
    waitpid = "waitpid": fn(libc::pid_t, *mut c_int, c_int) -> libc::pid_t;
    wait3 = "wait3": fn(*mut c_int, c_int, *mut libc::rusage) -> libc::pid_t;
    wait4 = "wait4": fn(libc::pid_t, *mut c_int, c_int, *mut libc::rusage) -> libc::pid_t;
    waitid = "waitid": fn(libc::idtype_t, libc::id_t, *mut libc::siginfo_t, c_int) -> c_int;
    epoll_ctl = "epoll_ctl": fn(c_int, c_int, c_int, *mut libc::epoll_event) -> c_int;
    sigtimedwait = "sigtimedwait": fn(*const libc::sigset_t, *mut libc::siginfo_t, *const timespec) -> c_int;
    sigwaitinfo = "sigwaitinfo": fn(*const libc::sigset_t, *mut libc::siginfo_t) -> c_int;
    timerfd_settime = "timerfd_settime": fn(c_int, c_int, *const libc::itimerspec, *mut libc::itimerspec) -> c_int;
    timerfd_gettime = "timerfd_gettime": fn(c_int, *mut libc::itimerspec) -> c_int;
    getitimer = "getitimer": fn(c_int, *mut libc::itimerval) -> c_int;
    setitimer = "setitimer": fn(c_int, *const libc::itimerval, *mut libc::itimerval) -> c_int;
    statfs = "statfs": fn(CStr, *mut libc::statfs) -> c_int;
    fstatfs = "fstatfs": fn(c_int, *mut libc::statfs) -> c_int;
    sendfile = "sendfile": fn(c_int, c_int, *mut libc::off_t, usize) -> isize;
    // Variadic in C (`long syscall(long, ...)`, `int prctl(int, ...)`,
    // `int fcntl(int, int, ...)`): on x86-64 the integer arguments travel
    // in the same registers (and the seventh on the stack) whatever the
    // declaration, so these fixed signatures pass them unchanged.
    syscall = "syscall": fn(libc::c_long, libc::c_long, libc::c_long, libc::c_long, libc::c_long, libc::c_long, libc::c_long) -> libc::c_long;
    prctl = "prctl": fn(c_int, libc::c_ulong, libc::c_ulong, libc::c_ulong, libc::c_ulong) -> c_int;
    fcntl = "fcntl": fn(c_int, c_int, libc::c_ulong) -> c_int;
    fcntl64 = "fcntl64": fn(c_int, c_int, libc::c_ulong) -> c_int;
    fwrite = "fwrite": fn(*const c_void, usize, usize, File) -> usize;
    sigaction = "sigaction": fn(c_int, *const SigAction, *mut SigAction) -> c_int;
    sigprocmask = "sigprocmask": fn(c_int, *const libc::sigset_t, *mut libc::sigset_t) -> c_int;
    pthread_sigmask = "pthread_sigmask": fn(c_int, *const libc::sigset_t, *mut libc::sigset_t) -> c_int;
    pthread_mutex_lock = "pthread_mutex_lock": fn(M) -> c_int;
    pthread_mutex_trylock = "pthread_mutex_trylock": fn(M) -> c_int;
    pthread_mutex_timedlock = "pthread_mutex_timedlock": fn(M, *const timespec) -> c_int;
    pthread_mutex_unlock = "pthread_mutex_unlock": fn(M) -> c_int;
    pthread_mutex_init = "pthread_mutex_init": fn(M, *const libc::pthread_mutexattr_t) -> c_int;
    pthread_mutex_destroy = "pthread_mutex_destroy": fn(M) -> c_int;
    pthread_rwlock_rdlock = "pthread_rwlock_rdlock": fn(R) -> c_int;
    pthread_rwlock_tryrdlock = "pthread_rwlock_tryrdlock": fn(R) -> c_int;
    pthread_rwlock_timedrdlock = "pthread_rwlock_timedrdlock": fn(R, *const timespec) -> c_int;
    pthread_rwlock_wrlock = "pthread_rwlock_wrlock": fn(R) -> c_int;
    pthread_rwlock_trywrlock = "pthread_rwlock_trywrlock": fn(R) -> c_int;
    pthread_rwlock_timedwrlock = "pthread_rwlock_timedwrlock": fn(R, *const timespec) -> c_int;
    pthread_rwlock_unlock = "pthread_rwlock_unlock": fn(R) -> c_int;
    pthread_spin_lock = "pthread_spin_lock": fn(S) -> c_int;
    pthread_spin_trylock = "pthread_spin_trylock": fn(S) -> c_int;
    pthread_spin_unlock = "pthread_spin_unlock": fn(S) -> c_int;
    pthread_cond_wait = "pthread_cond_wait" @ "GLIBC_2.3.2": fn(C, M) -> c_int;
    pthread_cond_timedwait = "pthread_cond_timedwait" @ "GLIBC_2.3.2": fn(C, M, *const timespec) -> c_int;
    pthread_cond_signal = "pthread_cond_signal" @ "GLIBC_2.3.2": fn(C) -> c_int;
    pthread_cond_broadcast = "pthread_cond_broadcast" @ "GLIBC_2.3.2": fn(C) -> c_int;
    pthread_cond_init = "pthread_cond_init" @ "GLIBC_2.3.2": fn(C, *const libc::pthread_condattr_t) -> c_int;
    pthread_cond_destroy = "pthread_cond_destroy" @ "GLIBC_2.3.2": fn(C) -> c_int;
    pthread_create = "pthread_create": fn(*mut pthread_t, *const pthread_attr_t, StartFn, *mut c_void) -> c_int;
    pthread_join = "pthread_join": fn(pthread_t, *mut *mut c_void) -> c_int;
    pthread_detach = "pthread_detach": fn(pthread_t) -> c_int;
    pthread_exit = "pthread_exit": fn(*mut c_void) -> ();
    pthread_barrier_wait = "pthread_barrier_wait": fn(*mut libc::pthread_barrier_t) -> c_int;
    sem_wait = "sem_wait": fn(*mut libc::sem_t) -> c_int;
    sem_trywait = "sem_trywait": fn(*mut libc::sem_t) -> c_int;
    sem_timedwait = "sem_timedwait": fn(*mut libc::sem_t, *const timespec) -> c_int;
    sem_post = "sem_post": fn(*mut libc::sem_t) -> c_int;
    pthread_once = "pthread_once": fn(Once, extern "C" fn()) -> c_int;
    pthread_rwlock_destroy = "pthread_rwlock_destroy": fn(R) -> c_int;
    pthread_spin_destroy = "pthread_spin_destroy": fn(S) -> c_int;
    signal = "signal": fn(c_int, libc::sighandler_t) -> libc::sighandler_t;
    sysv_signal = "__sysv_signal": fn(c_int, libc::sighandler_t) -> libc::sighandler_t;
    siginterrupt = "siginterrupt": fn(c_int, c_int) -> c_int;
    pkey_alloc = "pkey_alloc": fn(libc::c_uint, libc::c_uint) -> c_int;
    pkey_free = "pkey_free": fn(c_int) -> c_int;
    clone = "clone": fn(CloneFn, *mut c_void, c_int, *mut c_void, *mut libc::pid_t, *mut c_void, *mut libc::pid_t) -> c_int;
    // Clock-selecting and non-portable forms (glibc 2.30+, _np), robust
    // and priority-ceiling mutexes, initialisers.
    pthread_mutex_clocklock = "pthread_mutex_clocklock": fn(M, Clock, *const timespec) -> c_int;
    pthread_mutex_consistent = "pthread_mutex_consistent": fn(M) -> c_int;
    pthread_mutex_getprioceiling = "pthread_mutex_getprioceiling": fn(M, *mut c_int) -> c_int;
    pthread_mutex_setprioceiling = "pthread_mutex_setprioceiling": fn(M, c_int, *mut c_int) -> c_int;
    pthread_rwlock_clockrdlock = "pthread_rwlock_clockrdlock": fn(R, Clock, *const timespec) -> c_int;
    pthread_rwlock_clockwrlock = "pthread_rwlock_clockwrlock": fn(R, Clock, *const timespec) -> c_int;
    pthread_rwlock_init = "pthread_rwlock_init": fn(R, *const libc::pthread_rwlockattr_t) -> c_int;
    pthread_spin_init = "pthread_spin_init": fn(S, c_int) -> c_int;
    pthread_cond_clockwait = "pthread_cond_clockwait": fn(C, M, Clock, *const timespec) -> c_int;
    pthread_barrier_init = "pthread_barrier_init": fn(*mut libc::pthread_barrier_t, *const libc::pthread_barrierattr_t, libc::c_uint) -> c_int;
    pthread_barrier_destroy = "pthread_barrier_destroy": fn(*mut libc::pthread_barrier_t) -> c_int;
    sem_clockwait = "sem_clockwait": fn(*mut libc::sem_t, Clock, *const timespec) -> c_int;
    sem_init = "sem_init": fn(*mut libc::sem_t, c_int, libc::c_uint) -> c_int;
    sem_destroy = "sem_destroy": fn(*mut libc::sem_t) -> c_int;
    sem_getvalue = "sem_getvalue": fn(*mut libc::sem_t, *mut c_int) -> c_int;
    pthread_tryjoin_np = "pthread_tryjoin_np": fn(pthread_t, *mut *mut c_void) -> c_int;
    pthread_timedjoin_np = "pthread_timedjoin_np": fn(pthread_t, *mut *mut c_void, *const timespec) -> c_int;
    pthread_clockjoin_np = "pthread_clockjoin_np": fn(pthread_t, *mut *mut c_void, Clock, *const timespec) -> c_int;
    // C11 <threads.h>: separate symbols in libc that reach the pthread
    // code through internal calls, past the interposers above.
    mtx_init = "mtx_init": fn(Mtx, c_int) -> c_int;
    mtx_lock = "mtx_lock": fn(Mtx) -> c_int;
    mtx_trylock = "mtx_trylock": fn(Mtx) -> c_int;
    mtx_timedlock = "mtx_timedlock": fn(Mtx, *const timespec) -> c_int;
    mtx_unlock = "mtx_unlock": fn(Mtx) -> c_int;
    mtx_destroy = "mtx_destroy": fn(Mtx) -> ();
    cnd_init = "cnd_init": fn(Cnd) -> c_int;
    cnd_wait = "cnd_wait": fn(Cnd, Mtx) -> c_int;
    cnd_timedwait = "cnd_timedwait": fn(Cnd, Mtx, *const timespec) -> c_int;
    cnd_signal = "cnd_signal": fn(Cnd) -> c_int;
    cnd_broadcast = "cnd_broadcast": fn(Cnd) -> c_int;
    cnd_destroy = "cnd_destroy": fn(Cnd) -> ();
    call_once = "call_once": fn(*mut C11Once, extern "C" fn()) -> ();
    thrd_create = "thrd_create": fn(*mut C11Thread, C11StartFn, *mut c_void) -> c_int;
    thrd_join = "thrd_join": fn(C11Thread, *mut c_int) -> c_int;
    thrd_detach = "thrd_detach": fn(C11Thread) -> c_int;
    thrd_exit = "thrd_exit": fn(c_int) -> ();
    // Program starts: checked for programs the runtime cannot enter.
    execve = "execve": fn(*const libc::c_char, *const *const libc::c_char, *const *const libc::c_char) -> c_int;
    execv = "execv": fn(*const libc::c_char, *const *const libc::c_char) -> c_int;
    execvp = "execvp": fn(*const libc::c_char, *const *const libc::c_char) -> c_int;
    execvpe = "execvpe": fn(*const libc::c_char, *const *const libc::c_char, *const *const libc::c_char) -> c_int;
    posix_spawn = "posix_spawn": fn(*mut libc::pid_t, *const libc::c_char, *const libc::posix_spawn_file_actions_t, *const libc::posix_spawnattr_t, *const *mut libc::c_char, *const *mut libc::c_char) -> c_int;
    posix_spawnp = "posix_spawnp": fn(*mut libc::pid_t, *const libc::c_char, *const libc::posix_spawn_file_actions_t, *const libc::posix_spawnattr_t, *const *mut libc::c_char, *const *mut libc::c_char) -> c_int;
}
