//! Capacities of the per-thread records: the length of a thread's vector
//! clock (`hb`) and of its `mprotect` window lists (`windows`). They size
//! the arrays of [`crate::threads::ThreadRecord`], so they sit below it; the
//! modules that use them re-export them under their old names.

/// Clock components; thread ids fold onto them modulo this length.
pub const VC_LEN: usize = 128;

/// Regular windows a thread may hold at once; past that, the fault handler
/// closes the older half.
pub const MAX_WINDOWS: usize = 128;
/// Lock-call windows at once (a condvar wait needs two).
pub const MAX_SYNC_GRANTS: usize = 4;
/// Objects one single-stepped instruction may touch.
pub const MAX_STEPS: usize = 4;
