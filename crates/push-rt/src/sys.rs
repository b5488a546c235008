//! Raw system calls used from the fault handler and the hooks.
//!
//! # Safety
//! Every function here is async-signal-safe: a system call or plain memory
//! access, no allocation, no lock. The wrappers that hand out memory
//! ([`reserve`]) return zero-filled anonymous mappings that live for the rest
//! of the process; callers treat them as arrays of atomics, for which the
//! all-zero bit pattern is a valid value.

use core::sync::atomic::AtomicU32;

/// Reserves `len` bytes of zero-filled, lazily backed, read-write memory
/// (key 0, `MAP_NORESERVE`). Returns null on failure.
pub fn reserve(len: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at a kernel-chosen address touches
    // no existing memory.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        core::ptr::null_mut()
    } else {
        p.cast()
    }
}

/// Gives the pages back to the kernel; they read as zero afterwards.
///
/// # Safety
/// The range must be page-aligned private anonymous memory owned by the caller
/// and no longer in use.
pub unsafe fn discard(addr: *mut u8, len: usize) {
    // SAFETY: per the caller.
    unsafe {
        libc::madvise(addr.cast(), len, libc::MADV_DONTNEED);
    }
}

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

pub fn getpid() -> i32 {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

/// Waits while `word` holds `expected`, at most `timeout_ms` (0 = forever).
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout_ms: u64) {
    let ts = libc::timespec {
        tv_sec: (timeout_ms / 1000) as libc::time_t,
        tv_nsec: ((timeout_ms % 1000) * 1_000_000) as libc::c_long,
    };
    let tsp = if timeout_ms == 0 {
        core::ptr::null()
    } else {
        &ts as *const libc::timespec
    };
    // SAFETY: the futex word is a live AtomicU32; the kernel only reads it.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            tsp,
        );
    }
}

pub fn futex_wake(word: &AtomicU32) {
    // SAFETY: waking waiters on a live futex word touches no memory.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        );
    }
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

/// Number of bytes in a page.
pub const PAGE: usize = 4096;

pub fn page_round_up(n: usize) -> usize {
    n.div_ceil(PAGE) * PAGE
}

/// A fixed array of `T` in memory from [`reserve`], never freed.
pub struct FixedArray<T: 'static> {
    items: &'static [T],
}

impl<T: 'static> FixedArray<T> {
    /// Reserves room for `len` items.
    ///
    /// # Safety
    /// The all-zero bit pattern must be a valid `T` (atomics, integers).
    pub unsafe fn new(len: usize) -> Option<Self> {
        let bytes = len.checked_mul(core::mem::size_of::<T>())?;
        let p = reserve(page_round_up(bytes.max(1)));
        if p.is_null() {
            return None;
        }
        // SAFETY: the mapping is zero-filled, aligned to a page, lives forever,
        // and zero is a valid T per the caller.
        let items = unsafe { core::slice::from_raw_parts(p as *const T, len) };
        Some(FixedArray { items })
    }

    pub fn get(&self, i: usize) -> Option<&'static T> {
        self.items.get(i)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A mutex on a futex word that a fork handler can hold across `fork` and
/// release in both processes (the child's copy has no waiters).
///
/// Invariant: `value` is only reached through a [`FutexGuard`], or through
/// [`FutexMutex::locked_for_fork`] between [`FutexMutex::lock_for_fork`] and
/// [`FutexMutex::unlock_after_fork`] on the forking thread. Never used from
/// a signal handler.
pub struct FutexMutex<T> {
    word: AtomicU32,
    value: core::cell::UnsafeCell<T>,
}

// SAFETY: the lock word serializes every access to `value`.
unsafe impl<T: Send> Sync for FutexMutex<T> {}

pub struct FutexGuard<'a, T> {
    mutex: &'a FutexMutex<T>,
}

impl<T> FutexMutex<T> {
    pub const fn new(value: T) -> Self {
        FutexMutex {
            word: AtomicU32::new(0),
            value: core::cell::UnsafeCell::new(value),
        }
    }

    pub fn lock(&self) -> FutexGuard<'_, T> {
        use core::sync::atomic::Ordering::{Acquire, Relaxed};
        if self.word.compare_exchange(0, 1, Acquire, Relaxed).is_err() {
            // Critical sections are short: spin a little before sleeping.
            for _ in 0..64 {
                core::hint::spin_loop();
                if self.word.load(Relaxed) == 0
                    && self.word.compare_exchange(0, 1, Acquire, Relaxed).is_ok()
                {
                    return FutexGuard { mutex: self };
                }
            }
            while self.word.swap(2, Acquire) != 0 {
                futex_wait(&self.word, 2, 0);
            }
        }
        FutexGuard { mutex: self }
    }

    fn unlock(&self) {
        if self.word.swap(0, core::sync::atomic::Ordering::Release) == 2 {
            futex_wake(&self.word);
        }
    }

    /// Before `fork`: takes the lock and keeps it until [`Self::unlock_after_fork`].
    pub fn lock_for_fork(&self) {
        core::mem::forget(self.lock());
    }

    /// The value while [`Self::lock_for_fork`] holds the lock.
    ///
    /// # Safety
    /// The calling thread took the lock with `lock_for_fork` and has not
    /// released it; no other reference from this call is alive.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn locked_for_fork(&self) -> &mut T {
        // SAFETY: per the caller, this thread holds the lock.
        unsafe { &mut *self.value.get() }
    }

    /// After `fork`, in parent and child: releases what `lock_for_fork` took.
    ///
    /// # Safety
    /// The calling thread took the lock with `lock_for_fork`.
    pub unsafe fn unlock_after_fork(&self) {
        self.unlock();
    }
}

/// Before `fork`: takes every lock of `shards` (see
/// [`FutexMutex::lock_for_fork`]).
pub fn lock_all_for_fork<T>(shards: &[FutexMutex<T>]) {
    for s in shards {
        s.lock_for_fork();
    }
}

/// After `fork`, in parent and child: releases what [`lock_all_for_fork`]
/// took.
///
/// # Safety
/// The calling thread took every lock of `shards` with `lock_all_for_fork`.
pub unsafe fn unlock_all_after_fork<T>(shards: &[FutexMutex<T>]) {
    for s in shards {
        // SAFETY: per the caller, this thread holds every shard.
        unsafe { s.unlock_after_fork() };
    }
}

impl<T> core::ops::Deref for FutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T> core::ops::DerefMut for FutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, so this is the only reference.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T> Drop for FutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

/// Starts loading the cache line of `p` without waiting for it (a hint: no
/// fault, no effect on correctness).
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    // SAFETY: PREFETCHT0 never faults and has no architectural effect.
    unsafe { core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast()) }
}

/// Gives SIGPIPE its default action back (Rust programs start with it
/// ignored), so a command-line tool whose output is piped into `head` ends
/// quietly, as Unix tools do, instead of failing on a write.
pub fn default_sigpipe() {
    // SAFETY: installs the default disposition for one signal; no handler
    // code is involved.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
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

/// Reads the `next` pointer of a robust list entry.
///
/// # Safety
/// `entry` is an entry of the calling thread's robust list whose memory is
/// readable by this thread now.
pub unsafe fn robust_next(entry: usize) -> usize {
    // SAFETY: per the caller.
    unsafe { (entry as *const usize).read_volatile() }
}

/// Bytes of an alternate signal stack PUSh gives a thread (above one guard
/// page).
pub const ALT_STACK_SIZE: usize = 64 << 10;

/// Whether the calling thread has an alternate signal stack now, and its
/// base.
fn current_alt_stack() -> Option<usize> {
    // SAFETY: sigaltstack with a null new stack only writes `old`.
    unsafe {
        let mut old: libc::stack_t = core::mem::zeroed();
        if libc::sigaltstack(core::ptr::null(), &mut old) != 0 {
            return None;
        }
        (old.ss_flags & libc::SS_DISABLE == 0).then_some(old.ss_sp as usize)
    }
}

/// Gives the calling thread the alternate signal stack at `base` (made by
/// [`map_alt_stack`]) unless it has one already. Returns whether it did.
pub fn use_alt_stack(base: usize) -> bool {
    if base == 0 || current_alt_stack().is_some() {
        return false;
    }
    let st = libc::stack_t {
        ss_sp: base as *mut libc::c_void,
        ss_flags: 0,
        ss_size: ALT_STACK_SIZE,
    };
    // SAFETY: `base` is a live mapping of ALT_STACK_SIZE bytes.
    unsafe { libc::sigaltstack(&st, core::ptr::null_mut()) == 0 }
}

/// Maps an alternate signal stack with a guard page below it (never
/// unmapped: thread records keep theirs for the next thread). 0 on failure.
pub fn map_alt_stack() -> usize {
    let page = 4096;
    let p = reserve(ALT_STACK_SIZE + page);
    if p.is_null() {
        return 0;
    }
    // SAFETY: the lowest page of the mapping just made becomes the guard.
    if unsafe { libc::mprotect(p.cast(), page, libc::PROT_NONE) } != 0 {
        return 0;
    }
    p as usize + page
}

/// Takes the calling thread off the alternate signal stack at `base`, if
/// that is the one it uses (before its record may go to another thread).
pub fn leave_alt_stack(base: usize) {
    if base == 0 || current_alt_stack() != Some(base) {
        return;
    }
    let st = libc::stack_t {
        ss_sp: core::ptr::null_mut(),
        ss_flags: libc::SS_DISABLE,
        ss_size: 0,
    };
    // SAFETY: disabling the alternate stack passes no memory; this runs in
    // the thread's ordinary context, not on that stack.
    unsafe { libc::sigaltstack(&st, core::ptr::null_mut()) };
}

/// Makes this process a child subreaper (`PR_SET_CHILD_SUBREAPER`, kept
/// across `execve`): orphaned descendants are reparented to it instead of
/// init, so `push run` can still see and end them. Returns false when the
/// kernel refused.
pub fn set_child_subreaper() -> bool {
    // SAFETY: a prctl on the calling process with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 }
}

/// The signals `push run` forwards to its program (see push-wait).
pub const FORWARDED_SIGNALS: [i32; 6] = [
    libc::SIGTERM,
    libc::SIGINT,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Blocks (`block`) or unblocks the forwarded signals in the calling
/// thread. `push run` blocks them before it starts the program, so one
/// sent before push-wait's handlers are in place stays pending (the mask
/// survives `execve`) instead of killing the launcher; the program starts
/// with an empty mask (the standard library resets it in the child).
pub fn block_forwarded_signals(block: bool) {
    // SAFETY: builds a signal set on the stack and changes this thread's
    // mask; no handler is involved.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED_SIGNALS {
            libc::sigaddset(&mut set, s);
        }
        let how = if block {
            libc::SIG_BLOCK
        } else {
            libc::SIG_UNBLOCK
        };
        libc::pthread_sigmask(how, &set, core::ptr::null_mut());
    }
}

/// Makes `cmd`'s child start with the forwarded signals unblocked (the
/// launcher blocks them, see [`block_forwarded_signals`]; a blocked mask
/// is inherited across fork and exec).
pub fn unblock_forwarded_signals_in_child(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and only changes the
    // signal mask (sigemptyset/sigaddset/pthread_sigmask are
    // async-signal-safe); it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(|| {
            block_forwarded_signals(false);
            Ok(())
        });
    }
}
