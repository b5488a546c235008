//! Tracked memory handed to the kernel: a system call reads or writes a
//! buffer with the calling thread's rights (a closed page under `mprotect`,
//! a key the thread lacks under `mpk`, fails it with EFAULT). PUSh checks
//! the call's access as the thread's first, then opens the object for the
//! call: a correct program's calls succeed, and a call that races is
//! reported at the program's line.

use push_tests::*;

#[test]
fn annotated_buffers_handed_to_system_calls_after_synchronization_work() {
    // read, getrandom, syscall, getrusage, uname, sysinfo, times,
    // getrlimit, sched_getaffinity, prctl, pthread_getname_np, statfs,
    // fcntl(F_GETLK), epoll_ctl, waitpid: 15 calls, each into a private
    // object whose window closed at the mutex just before.
    check_clean("kernel_buffers_clean", "started\nresult=15\n");
}

#[test]
fn a_system_call_writing_another_threads_private_object_is_a_write_race() {
    let r = check_racy(
        "kernel_buffer_race",
        "write",
        Access::Write,
        "started\nresult=8 zeros=8\n",
    );
    if let Some(r) = r {
        assert!(
            r.object_line()
                .is_some_and(|l| l.contains("policy private(T0)")),
            "{:?}",
            r.object_line()
        );
    }
}
