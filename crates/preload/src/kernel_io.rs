//! I/O functions whose buffers the kernel reads or writes on the caller's
//! behalf, and the sleeps (window points of the annotation-free mode, see
//! `push_rt::auto::window_point`). The kernel honours the calling thread's
//! rights (a protection key it lacks, or a closed page, fails the call
//! with EFAULT), so a buffer in a tracked object (annotated or watched) is
//! touched first as the thread (`push_rt::access::prepare_for_call`): the
//! call's access is checked like one of the thread's (and a watched object
//! changes hands), then the call runs with the object open to the thread.
//! A buffer outside tracked memory costs one range check.
//!
//! # Safety
//! Every export has the C signature of the function it replaces and passes
//! its arguments unchanged to the real one; the touches only read (or
//! atomically rewrite unchanged) one byte per page of the ranges the
//! caller hands the function.

use libc::{c_int, c_void, size_t, ssize_t};
use push_rt as rt;
use push_rt::real::get as real;

/// Runs `call`, which hands `[p, p+len)` to the kernel (`write`: the call
/// writes it). A range in tracked memory is touched first as the thread
/// (its access is checked; a watched object changes hands), then the call
/// runs with the object open to the thread (as lock calls on tracked
/// memory do): under `mprotect` a window another thread opened can let the
/// touch through unchecked and close before the call.
#[inline]
pub(crate) fn with_buffer<R>(
    p: *const c_void,
    len: usize,
    write: bool,
    call: impl FnOnce() -> R,
) -> R {
    if p.is_null() || !rt::maybe_tracked(p as usize) {
        return call();
    }
    with_buffers(&[(p as usize, len)], write, call)
}

#[cold]
fn with_buffers<R>(ranges: &[(usize, usize)], write: bool, call: impl FnOnce() -> R) -> R {
    let Some(t) = rt::hook_thread() else {
        return call();
    };
    let mut addrs = [0usize; 16];
    let mut n = 0;
    for &(p, len) in ranges {
        if p == 0 || !rt::maybe_tracked(p) {
            continue;
        }
        rt::access::prepare_for_call(p, len, write);
        if n < addrs.len() {
            addrs[n] = p;
            n += 1;
        }
    }
    call_granted(t, &addrs[..n], call)
}

/// Runs `call` with the objects holding `addrs` open to thread `t`.
fn call_granted<R>(
    t: (u32, &'static rt::threads::ThreadRecord),
    addrs: &[usize],
    call: impl FnOnce() -> R,
) -> R {
    let granted = rt::grant_for_sync(t, addrs);
    let r = call();
    // The call's errno is the program's, whatever closing the grant does.
    let errno = rt::sys::errno();
    rt::end_sync_grant(t, granted);
    rt::sys::set_errno(errno);
    r
}

/// Runs `call`, which hands the kernel memory at `p` of a size and
/// direction PUSh does not know (an `ioctl` whose number encodes neither):
/// the object holding `p` is opened for the call without a touch, so the
/// call's access is not checked (a race through it can be missed, none
/// invented) and cannot fail with EFAULT.
#[inline]
fn with_opaque<R>(p: *const c_void, call: impl FnOnce() -> R) -> R {
    with_opaque_args(&[p as usize], call)
}

/// [`with_opaque`] for every argument of a call whose arguments PUSh does
/// not know the meaning of (`syscall`, `prctl`, `fcntl`): each value that
/// points into tracked memory has its object opened for the call; a value
/// that only looks like such an address opens an object for nothing.
#[inline]
pub(crate) fn with_opaque_args<R>(args: &[usize], call: impl FnOnce() -> R) -> R {
    if !args.iter().any(|&a| rt::maybe_tracked(a)) {
        return call();
    }
    // Ranges of no length: opened for the call, never touched.
    let mut ranges = [(0usize, 0usize); 8];
    for (r, &a) in ranges.iter_mut().zip(args) {
        r.0 = a;
    }
    with_buffers(&ranges[..args.len().min(8)], false, call)
}

/// [`with_buffer`] for an iovec array and every buffer it names.
pub(crate) fn with_iov<R>(
    iov: *const libc::iovec,
    n: c_int,
    write: bool,
    call: impl FnOnce() -> R,
) -> R {
    if iov.is_null() || n <= 0 {
        return call();
    }
    let n = (n as usize).min(64);
    let mut ranges = [(0usize, 0usize); 65];
    ranges[0] = (iov as usize, n * core::mem::size_of::<libc::iovec>());
    // The array itself is read here, as the thread (a fault on it is the
    // thread's access, checked like any).
    for (i, r) in ranges[1..=n].iter_mut().enumerate() {
        // SAFETY: the caller's array of at least `n` iovecs (readv/writev's
        // contract).
        let v = unsafe { iov.add(i).read() };
        *r = (v.iov_base as usize, v.iov_len);
    }
    if !ranges[..=n].iter().any(|&(p, _)| rt::maybe_tracked(p)) {
        return call();
    }
    with_buffers(&ranges[..=n], write, call)
}

#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    with_buffer(buf.cast_const(), n, true, || {
        // SAFETY: unchanged arguments.
        unsafe { real::read()(fd, buf, n) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t {
    with_buffer(buf, n, false, || {
        // SAFETY: unchanged arguments.
        unsafe { real::write()(fd, buf, n) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn pread64(fd: c_int, buf: *mut c_void, n: size_t, off: i64) -> ssize_t {
    with_buffer(buf, n, true, || {
        // SAFETY: unchanged arguments.
        unsafe { real::pread64()(fd, buf, n, off) }
    })
}

/// `ioctl(fd, request, arg)`: a request number with `_IOC` direction and
/// size bits says how many bytes at `arg` the kernel reads or writes, and
/// the buffer is prepared like `read`'s or `write`'s; for older numbers
/// (FIONREAD, TIOCGWINSZ, ...) the object is only opened for the call.
#[no_mangle]
pub unsafe extern "C" fn ioctl(fd: c_int, request: libc::c_ulong, arg: *mut c_void) -> c_int {
    // SAFETY: unchanged arguments.
    let call = || unsafe { real::ioctl()(fd, request, arg) };
    let dir = (request >> 30) & 3;
    let size = ((request >> 16) & 0x3fff) as usize;
    if dir != 0 && size != 0 {
        // _IOC_READ (2): the kernel writes the caller's buffer.
        with_buffer(arg, size, dir & 2 != 0, call)
    } else {
        with_opaque(arg, call)
    }
}

#[no_mangle]
pub unsafe extern "C" fn getdents64(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t {
    with_buffer(buf, n, true, || {
        // SAFETY: unchanged arguments.
        unsafe { real::getdents64()(fd, buf, n) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn pread(fd: c_int, buf: *mut c_void, n: size_t, off: i64) -> ssize_t {
    // SAFETY: on x86-64 pread is pread64.
    unsafe { pread64(fd, buf, n, off) }
}

#[no_mangle]
pub unsafe extern "C" fn pwrite64(fd: c_int, buf: *const c_void, n: size_t, off: i64) -> ssize_t {
    with_buffer(buf, n, false, || {
        // SAFETY: unchanged arguments.
        unsafe { real::pwrite64()(fd, buf, n, off) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn pwrite(fd: c_int, buf: *const c_void, n: size_t, off: i64) -> ssize_t {
    // SAFETY: on x86-64 pwrite is pwrite64.
    unsafe { pwrite64(fd, buf, n, off) }
}

#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const libc::iovec, n: c_int) -> ssize_t {
    with_iov(iov, n, true, || {
        // SAFETY: unchanged arguments.
        unsafe { real::readv()(fd, iov, n) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const libc::iovec, n: c_int) -> ssize_t {
    with_iov(iov, n, false, || {
        // SAFETY: unchanged arguments.
        unsafe { real::writev()(fd, iov, n) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, n: size_t, flags: c_int) -> ssize_t {
    with_buffer(buf, n, true, || {
        // SAFETY: unchanged arguments.
        unsafe { real::recv()(fd, buf, n, flags) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    n: size_t,
    flags: c_int,
    addr: *mut libc::sockaddr,
    len: *mut libc::socklen_t,
) -> ssize_t {
    with_buffer(buf, n, true, || {
        // SAFETY: unchanged arguments.
        unsafe { real::recvfrom()(fd, buf, n, flags, addr, len) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, n: size_t, flags: c_int) -> ssize_t {
    with_buffer(buf, n, false, || {
        // SAFETY: unchanged arguments.
        unsafe { real::send()(fd, buf, n, flags) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    n: size_t,
    flags: c_int,
    addr: *const libc::sockaddr,
    len: libc::socklen_t,
) -> ssize_t {
    with_buffer(buf, n, false, || {
        // SAFETY: unchanged arguments.
        unsafe { real::sendto()(fd, buf, n, flags, addr, len) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn fread(
    buf: *mut c_void,
    size: size_t,
    n: size_t,
    f: *mut libc::FILE,
) -> size_t {
    with_buffer(buf, size.saturating_mul(n), true, || {
        // SAFETY: unchanged arguments.
        unsafe { real::fread()(buf, size, n, f) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn fwrite(
    buf: *const c_void,
    size: size_t,
    n: size_t,
    f: *mut libc::FILE,
) -> size_t {
    with_buffer(buf, size.saturating_mul(n), false, || {
        // SAFETY: unchanged arguments.
        unsafe { real::fwrite()(buf, size, n, f) }
    })
}

// ------------------------------------------------------------------ sleeps

#[no_mangle]
pub unsafe extern "C" fn usleep(us: libc::useconds_t) -> c_int {
    rt::auto::window_point();
    // SAFETY: unchanged argument.
    unsafe { real::usleep()(us) }
}

#[no_mangle]
pub unsafe extern "C" fn nanosleep(req: *const libc::timespec, rem: *mut libc::timespec) -> c_int {
    rt::auto::window_point();
    // SAFETY: unchanged arguments.
    unsafe { real::nanosleep()(req, rem) }
}

#[no_mangle]
pub unsafe extern "C" fn clock_nanosleep(
    clock: libc::clockid_t,
    flags: c_int,
    req: *const libc::timespec,
    rem: *mut libc::timespec,
) -> c_int {
    rt::auto::window_point();
    // SAFETY: unchanged arguments.
    unsafe { real::clock_nanosleep()(clock, flags, req, rem) }
}

#[no_mangle]
pub extern "C" fn sched_yield() -> c_int {
    rt::auto::window_point();
    // SAFETY: no arguments.
    unsafe { real::sched_yield()() }
}
