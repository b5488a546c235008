//! The process and its threads: errno, ids, exit, robust futex lists,
//! prctl.
//!
//! # Safety
//! The wrappers pass the kernel only locals borrowed for the call; the
//! robust list is read only from the calling thread's glibc descriptor,
//! which is never tracked and stays readable while the thread lives.

pub fn errno() -> i32 {
    // SAFETY: __errno_location returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() }
}

pub fn set_errno(v: i32) {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = v }
}

pub fn gettid() -> i32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// The calling thread's name (`comm`: 15 bytes at most, NUL-padded), by
/// one `prctl`. Async-signal-safe; may change `errno`.
pub fn thread_comm() -> Option<[u8; 16]> {
    let mut name = [0u8; 16];
    // SAFETY: PR_GET_NAME writes at most 16 bytes (NUL included) into `name`.
    if unsafe { libc::prctl(libc::PR_GET_NAME, name.as_mut_ptr()) } != 0 {
        return None;
    }
    name[15] = 0;
    Some(name)
}

/// Copies up to `buf.len()` bytes of this process's memory at `addr` into
/// `buf` with `process_vm_readv`: an unmapped or unreadable address gives
/// a short count (0), never a fault. Async-signal-safe (one system call;
/// `errno` preserved). Returns the bytes copied.
pub fn read_own_memory(addr: usize, buf: &mut [u8]) -> usize {
    let saved = errno();
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `local` is our buffer, borrowed for the call; the kernel
    // reads `remote` itself and reports an unreadable range as an error.
    let n = unsafe { libc::process_vm_readv(getpid(), &local, 1, &remote, 1, 0) };
    set_errno(saved);
    n.max(0) as usize
}

pub fn getpid() -> i32 {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

/// Ends the process at once with `code` (no atexit handlers).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: exit_group never returns.
    unsafe {
        libc::syscall(libc::SYS_exit_group, code);
    }
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Whether kernel thread `tid` of this process still exists (a signal-0
/// probe). A recycled tid reads as alive, which only delays reuse.
pub fn thread_alive(tid: i32) -> bool {
    if tid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the thread exists.
    let r = unsafe { libc::syscall(libc::SYS_tgkill, getpid(), tid, 0) };
    r == 0 || errno() != libc::ESRCH
}

/// The calling thread's robust futex list head (`get_robust_list(2)`):
/// the first entry, the offset from an entry to its futex word, and the
/// entry of an operation in progress. None when the thread has none.
pub fn robust_list() -> Option<(usize, isize, usize, usize)> {
    let mut head: usize = 0;
    let mut len: usize = 0;
    // SAFETY: get_robust_list writes the two out-parameters only.
    let r = unsafe { libc::syscall(libc::SYS_get_robust_list, 0, &mut head, &mut len) };
    if r != 0 || head == 0 || len < 3 * core::mem::size_of::<usize>() {
        return None;
    }
    // SAFETY: the head is glibc's `robust_head` in this thread's descriptor
    // (never tracked, always readable): next, futex_offset, list_op_pending.
    let (next, offset, pending) = unsafe {
        let h = head as *const usize;
        (
            h.read_volatile(),
            h.add(1).read_volatile() as isize,
            h.add(2).read_volatile(),
        )
    };
    Some((head, offset, next, pending))
}

/// Calls `visit` on each entry of the calling thread's robust list after
/// `first` (glibc's PI bit 0 cleared), up to `head` or `limit` entries,
/// then reads the entry's `next` pointer. `visit` makes the entry's memory
/// readable if the runtime had closed it (an open `pthread_mutex_t` of the
/// thread's own, which glibc keeps alive while it is on the list).
pub fn walk_robust_list(head: usize, first: usize, limit: usize, mut visit: impl FnMut(usize)) {
    let mut entry = first;
    for _ in 0..limit {
        let e = entry & !1;
        if e == head || e == 0 {
            break;
        }
        visit(e);
        // SAFETY: `e` is an entry of this thread's robust list: a live,
        // aligned mutex glibc linked there, readable once `visit` opened it.
        entry = unsafe { (e as *const usize).read_volatile() };
    }
}

/// Makes this process a child subreaper (`PR_SET_CHILD_SUBREAPER`, kept
/// across `execve`): orphaned descendants are reparented to it instead of
/// init, so `push run` can still see and end them. Returns false when the
/// kernel refused.
pub fn set_child_subreaper() -> bool {
    // SAFETY: a prctl on the calling process with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 }
}

/// Eight bytes from the kernel's random pool (`getrandom`, non-blocking);
/// whatever it could not fill stays zero.
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: getrandom writes at most 8 bytes into b.
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), 8, libc::GRND_NONBLOCK) };
    u64::from_ne_bytes(b)
}

/// CPU time the calling thread has used, in nanoseconds.
pub fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// `CLOCK_MONOTONIC` in nanoseconds (the vDSO: async-signal-safe, no
/// system call).
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we pass.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `pthread_self()` of the calling thread, as an integer.
pub fn pthread_self() -> u64 {
    // SAFETY: pthread_self only reads the thread pointer.
    unsafe { libc::pthread_self() as u64 }
}

thread_local! {
    /// The calling thread's stack as [`stack_bounds`] last found it: the
    /// range an [`OwnStack`] may cover.
    static OWN_STACK: core::cell::Cell<(usize, usize)> =
        const { core::cell::Cell::new((0, 0)) };
}

/// The calling thread's stack, `[lo, hi)`, from `pthread_getattr_np`
/// (also remembered for [`own_stack`]). Ordinary context only
/// (it may allocate).
pub fn stack_bounds() -> Option<(usize, usize)> {
    let b = stack_bounds_now()?;
    let _ = OWN_STACK.try_with(|s| s.set(b));
    Some(b)
}

/// Part `[lo, hi)` of the calling thread's own stack, checked against the
/// bounds [`stack_bounds`] found for it: frame records in it may be read.
/// Not `Send`: it is only meaningful on the thread that made it.
pub struct OwnStack {
    lo: usize,
    hi: usize,
    _this_thread: core::marker::PhantomData<*const ()>,
}

/// `[lo, hi)` as an [`OwnStack`], if it lies within the calling thread's
/// stack as [`stack_bounds`] found it. Async-signal-safe.
pub fn own_stack(lo: usize, hi: usize) -> Option<OwnStack> {
    let (own_lo, own_hi) = OWN_STACK.try_with(|s| s.get()).unwrap_or((0, 0));
    (own_lo != 0 && lo >= own_lo && hi <= own_hi && lo < hi).then_some(OwnStack {
        lo,
        hi,
        _this_thread: core::marker::PhantomData,
    })
}

impl OwnStack {
    /// The two words at `fp` and `fp + 8` (a frame record: the caller's
    /// frame pointer and the return address), if `[fp, fp + 16)` is
    /// 8-aligned and inside this range; None otherwise.
    #[inline]
    pub fn frame_record(&self, fp: usize) -> Option<(usize, usize)> {
        if fp < self.lo || fp.checked_add(16)? > self.hi || !fp.is_multiple_of(8) {
            return None;
        }
        // SAFETY: [fp, fp+16) lies inside the calling thread's own stack
        // (own_stack checked the range against the bounds pthread gave for
        // this thread, and OwnStack does not leave the thread), which is
        // mapped and readable while the thread runs; frame records chain
        // upwards from the running frame, above the stack pointer.
        Some(unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) })
    }
}

/// The calling code's frame pointer (`rbp`).
#[inline(always)]
pub fn frame_pointer() -> usize {
    let fp: usize;
    // SAFETY: reads the frame-pointer register; no memory access.
    unsafe {
        core::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags))
    };
    fp
}

fn stack_bounds_now() -> Option<(usize, usize)> {
    // SAFETY: pthread_getattr_np fills a zeroed attr for the calling thread;
    // we destroy it afterwards; the out-parameters are locals.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = core::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let r = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        (r == 0).then(|| (addr as usize, addr as usize + size))
    }
}

/// What the dynamic loader knows of an address ([`dladdr`]).
pub struct DlInfo {
    /// The file of the object holding it.
    pub module: Option<String>,
    /// Where that object is loaded.
    pub module_base: usize,
    /// The nearest symbol below it, and that symbol's address.
    pub symbol: Option<String>,
    pub symbol_addr: usize,
}

/// `dladdr(addr)`. Ordinary context only (allocates the strings).
pub fn dladdr(addr: usize) -> Option<DlInfo> {
    let name = |p: *const libc::c_char| {
        if p.is_null() {
            return None;
        }
        // SAFETY: a non-null name from dladdr is a NUL-terminated string in
        // the loader's tables, alive while the object stays loaded (now).
        let s = unsafe { std::ffi::CStr::from_ptr(p) };
        Some(s.to_string_lossy().into_owned())
    };
    // SAFETY: Dl_info is plain data (zero is valid); dladdr only reads
    // loader tables and fills info.
    let info = unsafe {
        let mut info: libc::Dl_info = core::mem::zeroed();
        if libc::dladdr(addr as *const libc::c_void, &mut info) == 0 {
            return None;
        }
        info
    };
    Some(DlInfo {
        module: name(info.dli_fname),
        module_base: info.dli_fbase as usize,
        symbol: name(info.dli_sname),
        symbol_addr: info.dli_saddr as usize,
    })
}

/// Effective user and group ids.
pub fn effective_ids() -> (u32, u32) {
    // SAFETY: plain getters.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

/// Runs `f` on the value of environment variable `name` (`getenv`, no
/// allocation: async-signal-safe as long as nobody changes the
/// environment meanwhile, the same condition as for `getenv`).
pub fn with_env<R>(name: &core::ffi::CStr, f: impl FnOnce(Option<&[u8]>) -> R) -> R {
    // SAFETY: getenv reads the environment.
    let p = unsafe { libc::getenv(name.as_ptr()) };
    // SAFETY: a non-null result is a NUL-terminated string in the
    // environment, which stays put while `f` runs (nobody calls setenv
    // from an exec hook's thread meanwhile).
    let v = (!p.is_null()).then(|| unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes());
    f(v)
}
