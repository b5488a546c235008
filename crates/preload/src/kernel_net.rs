//! More calls whose memory arguments the kernel reads or writes: message
//! sockets, polling, pipes, socket addresses and options, `getcwd`. Each
//! argument in tracked memory (annotated or watched) is prepared as in
//! `kernel_io` (touched as the thread, then open to it for the call);
//! arguments outside it pass straight to the real function.
//!
//! # Safety
//! Every export has the C signature of the function it replaces and passes
//! its arguments unchanged to the real one; the preparation only touches
//! (reads, or atomically rewrites unchanged) the ranges the caller hands
//! the function.

use crate::kernel_io::{with_buffer, with_iov};
use libc::{c_char, c_int, c_void, size_t, socklen_t, ssize_t};
use push_rt as rt;
use push_rt::real::get as real;

type Addr = *mut libc::sockaddr;
type AddrLen = *mut socklen_t;

/// The length the caller's `*len` says of the buffer at `buf`, 1 when
/// null or when the buffer is not tracked (then nothing is prepared).
///
/// # Safety
/// `len` is null or valid.
unsafe fn said_len(buf: *const c_void, len: *const socklen_t) -> usize {
    if len.is_null() || !rt::maybe_tracked(buf as usize) {
        return 1;
    }
    // SAFETY: per the contract; a fault on it is the thread's access.
    (unsafe { len.read() } as usize).max(1)
}

/// Runs `call`, which hands the kernel the message header at `msg` and
/// what it names (address, control data, iovecs and their buffers), each
/// prepared like a buffer of `read` (`write`: the kernel writes them) or
/// of `write`.
fn with_msg<R>(msg: *const libc::msghdr, write: bool, call: impl FnOnce() -> R) -> R {
    if msg.is_null() {
        return call();
    }
    // SAFETY: the caller's message header (recvmsg's and sendmsg's
    // contract); read here as the thread, like the kernel will.
    let m = unsafe { msg.read() };
    let header = core::mem::size_of::<libc::msghdr>();
    with_buffer(msg.cast(), header, write, || {
        with_buffer(
            m.msg_name.cast_const(),
            m.msg_namelen as usize,
            write,
            || {
                with_buffer(m.msg_control.cast_const(), m.msg_controllen, write, || {
                    with_iov(m.msg_iov, m.msg_iovlen as c_int, write, call)
                })
            },
        )
    })
}

#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut libc::msghdr, flags: c_int) -> ssize_t {
    with_msg(msg, true, || {
        // SAFETY: unchanged arguments.
        unsafe { real::recvmsg()(fd, msg, flags) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const libc::msghdr, flags: c_int) -> ssize_t {
    with_msg(msg, false, || {
        // SAFETY: unchanged arguments.
        unsafe { real::sendmsg()(fd, msg, flags) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut libc::pollfd, n: libc::nfds_t, timeout: c_int) -> c_int {
    let len = n as usize * core::mem::size_of::<libc::pollfd>();
    with_buffer(fds.cast_const().cast(), len, true, || {
        // SAFETY: unchanged arguments.
        unsafe { real::poll()(fds, n, timeout) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn ppoll(
    fds: *mut libc::pollfd,
    n: libc::nfds_t,
    timeout: *const libc::timespec,
    mask: *const libc::sigset_t,
) -> c_int {
    let len = n as usize * core::mem::size_of::<libc::pollfd>();
    with_buffer(fds.cast_const().cast(), len, true, || {
        // SAFETY: unchanged arguments.
        unsafe { real::ppoll()(fds, n, timeout, mask) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn epoll_wait(
    epfd: c_int,
    events: *mut libc::epoll_event,
    max: c_int,
    timeout: c_int,
) -> c_int {
    let len = max.max(0) as usize * core::mem::size_of::<libc::epoll_event>();
    with_buffer(events.cast_const().cast(), len, true, || {
        // SAFETY: unchanged arguments.
        unsafe { real::epoll_wait()(epfd, events, max, timeout) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    events: *mut libc::epoll_event,
    max: c_int,
    timeout: c_int,
    mask: *const libc::sigset_t,
) -> c_int {
    let len = max.max(0) as usize * core::mem::size_of::<libc::epoll_event>();
    with_buffer(events.cast_const().cast(), len, true, || {
        // SAFETY: unchanged arguments.
        unsafe { real::epoll_pwait()(epfd, events, max, timeout, mask) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn select(
    n: c_int,
    r: *mut libc::fd_set,
    w: *mut libc::fd_set,
    e: *mut libc::fd_set,
    tv: *mut libc::timeval,
) -> c_int {
    let set = core::mem::size_of::<libc::fd_set>();
    with_buffer(r.cast_const().cast(), set, true, || {
        with_buffer(w.cast_const().cast(), set, true, || {
            with_buffer(e.cast_const().cast(), set, true, || {
                let tvlen = core::mem::size_of::<libc::timeval>();
                with_buffer(tv.cast_const().cast(), tvlen, true, || {
                    // SAFETY: unchanged arguments.
                    unsafe { real::select()(n, r, w, e, tv) }
                })
            })
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn pipe(fds: *mut c_int) -> c_int {
    with_buffer(fds.cast_const().cast(), 8, true, || {
        // SAFETY: unchanged argument.
        unsafe { real::pipe()(fds) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn pipe2(fds: *mut c_int, flags: c_int) -> c_int {
    with_buffer(fds.cast_const().cast(), 8, true, || {
        // SAFETY: unchanged arguments.
        unsafe { real::pipe2()(fds, flags) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn socketpair(
    domain: c_int,
    kind: c_int,
    proto: c_int,
    sv: *mut c_int,
) -> c_int {
    with_buffer(sv.cast_const().cast(), 8, true, || {
        // SAFETY: unchanged arguments.
        unsafe { real::socketpair()(domain, kind, proto, sv) }
    })
}

/// A call writing a socket address and its length.
///
/// # Safety
/// `len` is null or valid.
unsafe fn with_addr_out<R>(addr: Addr, len: AddrLen, call: impl FnOnce() -> R) -> R {
    with_buffer(len.cast_const().cast(), 4, true, || {
        // SAFETY: per the contract.
        let n = unsafe { said_len(addr.cast_const().cast(), len) };
        with_buffer(addr.cast_const().cast(), n, true, call)
    })
}

#[no_mangle]
pub unsafe extern "C" fn accept(fd: c_int, addr: Addr, len: AddrLen) -> c_int {
    // SAFETY: the caller's length pointer; unchanged arguments.
    unsafe { with_addr_out(addr, len, || real::accept()(fd, addr, len)) }
}

#[no_mangle]
pub unsafe extern "C" fn accept4(fd: c_int, addr: Addr, len: AddrLen, flags: c_int) -> c_int {
    // SAFETY: the caller's length pointer; unchanged arguments.
    unsafe { with_addr_out(addr, len, || real::accept4()(fd, addr, len, flags)) }
}

#[no_mangle]
pub unsafe extern "C" fn getsockname(fd: c_int, addr: Addr, len: AddrLen) -> c_int {
    // SAFETY: the caller's length pointer; unchanged arguments.
    unsafe { with_addr_out(addr, len, || real::getsockname()(fd, addr, len)) }
}

#[no_mangle]
pub unsafe extern "C" fn getpeername(fd: c_int, addr: Addr, len: AddrLen) -> c_int {
    // SAFETY: the caller's length pointer; unchanged arguments.
    unsafe { with_addr_out(addr, len, || real::getpeername()(fd, addr, len)) }
}

#[no_mangle]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *mut c_void,
    len: AddrLen,
) -> c_int {
    with_buffer(len.cast_const().cast(), 4, true, || {
        // SAFETY: the caller's length pointer.
        let n = unsafe { said_len(value.cast_const(), len) };
        with_buffer(value.cast_const(), n, true, || {
            // SAFETY: unchanged arguments.
            unsafe { real::getsockopt()(fd, level, name, value, len) }
        })
    })
}

#[no_mangle]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> c_int {
    with_buffer(value, len as usize, false, || {
        // SAFETY: unchanged arguments.
        unsafe { real::setsockopt()(fd, level, name, value, len) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const libc::sockaddr, len: socklen_t) -> c_int {
    with_buffer(addr.cast(), len as usize, false, || {
        // SAFETY: unchanged arguments.
        unsafe { real::connect()(fd, addr, len) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn bind(fd: c_int, addr: *const libc::sockaddr, len: socklen_t) -> c_int {
    with_buffer(addr.cast(), len as usize, false, || {
        // SAFETY: unchanged arguments.
        unsafe { real::bind()(fd, addr, len) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn getcwd(buf: *mut c_char, size: size_t) -> *mut c_char {
    with_buffer(buf.cast_const().cast(), size, true, || {
        // SAFETY: unchanged arguments.
        unsafe { real::getcwd()(buf, size) }
    })
}
