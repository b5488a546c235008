//! Signals: real segfaults are not swallowed, and an application's own
//! SIGSEGV handler keeps working next to the runtime's.

use push_tests::*;

const SIGSEGV: i32 = 11;

#[test]
fn null_dereference_dies_of_sigsegv() {
    let bin = compile_c("segfault");
    let native = run_native(&bin);
    assert_signal(&native, SIGSEGV);
    assert_stdout(&native, "started\nbefore=1\n");
    require_pku!();

    let r = run_preload(&bin, "");
    assert_signal(&r, SIGSEGV);
    assert_stdout(&r, "started\nbefore=1\n");
    assert!(r.reports_of(DATA_RACE).is_empty(), "{r}");

    let r = run_cli(&bin, &[]);
    assert_exit_code(&r, CLI_SEGV_EXIT);
    assert_stdout(&r, "started\nbefore=1\n");
    assert!(r.reports_of(DATA_RACE).is_empty(), "{r}");
}

#[test]
fn application_sigsegv_handler_coexists_with_one_race() {
    let r = check_racy(
        "app_sigsegv",
        "write",
        Access::Write,
        "started\nresult=1,5 faults=7 page=42\n",
    );
    if let Some(r) = r {
        assert_eq!(r.access_thread().as_deref(), Some("T1"));
    }
}

/// A program that runs natively and under the runtime (both modes) with
/// the same exit status and stdout, and no report.
fn check_transparent(name: &str, expected_stdout: &str) {
    let bin = check_native(name, expected_stdout);
    require_pku!();
    for mode in MODES {
        let r = run_mode(mode, &bin);
        assert_clean(&r);
        assert_stdout(&r, expected_stdout);
    }
}

#[test]
fn sa_nodefer_handler_that_longjmps_recovers_every_time() {
    check_transparent("sig_nodefer_longjmp", "recovered=3\n");
}

#[test]
fn application_handler_runs_with_its_own_sa_mask() {
    check_transparent(
        "sig_handler_mask",
        "pending_in_handler=1 ran_in_handler=0 ran_after=1\n",
    );
}

#[test]
fn siginterrupt_then_signal_keeps_eintr() {
    check_transparent("sig_siginterrupt", "read=-1 eintr=1\n");
}

/// A stack overflow in a program with no alternate signal stack of its own
/// (main thread and a second thread): the runtime's SIGSEGV handler runs on
/// the stack PUSh gives each thread and passes the fault on, so the program
/// dies of its own SIGSEGV, with no report and nothing else from PUSh. With
/// a program handler installed without SA_ONSTACK ("handler"), that handler
/// must not run: natively it has no stack to run on.
#[test]
fn stack_overflow_without_an_alternate_stack_dies_of_its_own_sigsegv() {
    let bin = compile_c("hz_overflow");
    for arg in ["main", "thread", "handler"] {
        let native = run_native_args(&bin, &[arg]);
        assert_signal(&native, SIGSEGV);
        assert_stdout(&native, "started\n");
    }
    require_pku!();
    for arg in ["main", "thread", "handler"] {
        let r = run_preload_args(&bin, "", &[], &[arg]);
        assert_signal(&r, SIGSEGV);
        assert_stdout(&r, "started\n");
        assert!(!r.stderr.contains("PUSh"), "{r}");
        let r = run_cli_args(&bin, &[], &[], &[arg]);
        assert_exit_code(&r, CLI_SEGV_EXIT);
        assert_stdout(&r, "started\n");
        assert!(!r.stderr.contains("WARNING: PUSh"), "{r}");
    }
}

#[test]
fn sysv_signal_handler_is_chained_not_installed_over_the_runtime() {
    // __sysv_signal (signal() under strict ISO C; zstd uses it) used to
    // replace PUSh's SIGSEGV handler: the race went unseen and the
    // program's handler got PUSh's faults.
    check_racy(
        "sig_sysv_race",
        "write",
        Access::Write,
        "started\nresult=1,5 faults=5\n",
    );
}

#[test]
fn thread_blocking_every_signal_still_reports_and_sees_its_mask() {
    // A fault while SIGSEGV is blocked kills the process: PUSh keeps it
    // deliverable, and the thread still reads back the mask it set.
    check_racy(
        "sig_block_all_race",
        "write",
        Access::Write,
        "started\nblocked segv=1 trap=1 usr1=1 was_segv=0\nafter segv=0\nresult=1,5\n",
    );
}

#[test]
fn asynchronous_signals_reach_program_threads_outside_the_runtimes_handler() {
    // A process-directed SIGALRM used to land on PUSh's reporter thread (a
    // false report: the program's handler ran on a thread it never made),
    // and one arriving while PUSh's fault handler ran could run the
    // program's handler inside it, faulting with SIGSEGV blocked.
    check_transparent("sig_async_in_handler", "started\nresult=ok ticks=some\n");
}
