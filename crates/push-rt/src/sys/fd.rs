//! File descriptors: writing, opening, closing.
//!
//! # Safety
//! Descriptors are plain integers; a wrapper passes the kernel only buffers
//! borrowed for the length of the call, so a wrong descriptor is an error
//! return, never memory unsafety.

use super::proc::errno;

/// Writes all of `bytes` to `fd`, retrying on EINTR and short writes.
pub fn write_all(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: the buffer is valid for its length.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

/// Closes `fd` (errors ignored).
pub fn close(fd: i32) {
    // SAFETY: closing a descriptor touches no memory of ours.
    unsafe { libc::close(fd) };
}

/// Opens `path` with `flags` (and `mode` for a new file); -1 on failure.
pub fn open(path: &core::ffi::CStr, flags: i32, mode: libc::mode_t) -> i32 {
    // SAFETY: path is NUL-terminated and lives for the call.
    unsafe { libc::open(path.as_ptr(), flags, mode) }
}

/// A new anonymous file (`memfd_create`, close-on-exec) named `name`.
pub fn memfd_create(name: &core::ffi::CStr) -> Option<i32> {
    // SAFETY: name is NUL-terminated and lives for the call.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    (fd >= 0).then_some(fd)
}

/// Sets the size of file `fd`; false on failure.
pub fn ftruncate(fd: i32, len: usize) -> bool {
    // SAFETY: integer arguments only.
    unsafe { libc::ftruncate(fd, len as libc::off_t) == 0 }
}

/// Reads at most `buf.len()` bytes at `offset`; the count, or -1.
pub fn pread(fd: i32, buf: &mut [u8], offset: u64) -> isize {
    // SAFETY: buf is writable for its length.
    unsafe {
        libc::pread(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            offset as libc::off_t,
        )
    }
}

/// Writes `buf` at `offset`; the count, or -1.
pub fn pwrite(fd: i32, buf: &[u8], offset: u64) -> isize {
    // SAFETY: buf is readable for its length.
    unsafe { libc::pwrite(fd, buf.as_ptr().cast(), buf.len(), offset as libc::off_t) }
}

/// `lseek(fd, offset, whence)`: the new offset, or -1.
pub fn lseek(fd: i32, offset: i64, whence: i32) -> i64 {
    // SAFETY: integer arguments only.
    unsafe { libc::lseek(fd, offset, whence) }
}

/// `fstat(fd)`.
pub fn fstat(fd: i32) -> Option<libc::stat> {
    // SAFETY: stat is plain data (zero is valid); fstat fills it.
    unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        (libc::fstat(fd, &mut st) == 0).then_some(st)
    }
}

/// `access(path, mode) == 0`.
pub fn access(path: &core::ffi::CStr, mode: i32) -> bool {
    // SAFETY: path is NUL-terminated and lives for the call.
    unsafe { libc::access(path.as_ptr(), mode) == 0 }
}
