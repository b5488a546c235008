//! Third-party-style hazards: correct programs doing things that libraries
//! and servers do and that are hard on an interposing runtime (dlopen'd
//! code creating threads, cancellation inside interposed calls, robust and
//! process-shared locks, vfork and posix_spawn, TSD destructors after
//! thread exit, stack overflow on an alternate signal stack, fork handlers,
//! once and barriers, timed waits that expire). Each must run under PUSh
//! exactly as natively: same exit status, same stdout, no report.

use std::path::{Path, PathBuf};
use std::process::Command;

use push_tests::*;

/// Compiles `name` and checks it natively with `args`, then runs it under
/// `LD_PRELOAD` and under `push run` `runs` times each: exit 0, `expected`
/// stdout, no report, and nothing from PUSh on stderr.
fn check_hazard(name: &str, args: &[&str], expected: &str, runs: usize) {
    let bin = check_native_args(name, args, expected);
    require_pku!();
    for _ in 0..runs {
        for mode in MODES {
            let r = run_mode_args(mode, &bin, args);
            assert!(!r.timed_out, "hang ({mode:?})\n{r}");
            assert_clean(&r);
            assert_stdout(&r, expected);
            assert!(
                !r.stderr.contains("PUSh"),
                "a correct program's stderr must not mention PUSh ({mode:?})\n{r}"
            );
        }
    }
}

/// Builds `tests/c/<name>.c` as a shared library in a fresh scratch
/// directory and returns its path.
fn build_shared_lib(name: &str) -> PathBuf {
    let src = c_source(name);
    let out = scratch_dir(name).join(format!("lib{name}.so"));
    let r = Command::new("gcc")
        .args(CFLAGS)
        .arg(format!("-I{}", include_dir().display()))
        .args(["-shared", "-fPIC", "-o"])
        .arg(&out)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("cannot run gcc: {e}"));
    assert!(
        r.status.success(),
        "building {} failed:\n{}",
        src.display(),
        String::from_utf8_lossy(&r.stderr)
    );
    out
}

fn path_arg(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

#[test]
fn dlopened_library_that_creates_threads() {
    let lib = build_shared_lib("hz_dlopen_lib");
    let mut expected = String::from("started\n");
    for load in 1..=3 {
        expected.push_str(&format!("load={load} counter=1200 helper_woke=1\n"));
    }
    expected.push_str("bystander_counted=1\n");
    check_hazard("hz_dlopen_threads", &[path_arg(&lib)], &expected, 1);
}

#[test]
fn cancel_in_pthread_join_and_sem_wait() {
    check_hazard(
        "hz_cancel",
        &["join"],
        "started\njoiner=canceled target=canceled\n",
        3,
    );
}

/// glibc re-takes the mutex inside pthread_cond_wait's own cancellation
/// cleanup; the interposer's bookkeeping after the real call (the mutex is
/// held again) runs from a cleanup buffer on the unwinding path (was a
/// false report in the program's cleanup handler).
#[test]
fn cancel_in_cond_wait_with_cleanup_handler_that_unlocks() {
    check_hazard(
        "hz_cancel",
        &["cond"],
        "started\ncond_waiter=canceled cleanups=1 mutex=free\n",
        3,
    );
}

/// A cancelled thread is marked exited from a cleanup buffer on the
/// unwinding path, so its private objects pass to its joiner (was a false
/// report when the joiner read them).
#[test]
fn cancelled_thread_objects_pass_to_its_joiner() {
    check_hazard(
        "hz_cancel",
        &["exit"],
        "started\nsem_waiter=canceled its_object=42\n",
        1,
    );
}

#[test]
fn robust_mutex_whose_owner_thread_or_process_died_untracked() {
    check_hazard(
        "hz_robust",
        &["plain"],
        "started\nplain: owner_thread_died=EOWNERDEAD balance=1000 relock=0\n",
        1,
    );
    check_hazard(
        "hz_robust",
        &["process"],
        "started\nprocess: owner_process_died=EOWNERDEAD relock=0\n",
        1,
    );
}

/// EOWNERDEAD counts as acquiring the lock (were 7 false reports under
/// mpk). Under mprotect the next locker hung: the dead owner's lock word is
/// on a closed page, which the kernel could not write when it marks the
/// lock FUTEX_OWNER_DIED at thread exit; a thread that exits holding robust
/// mutexes now opens their objects for good first.
#[test]
fn robust_mutex_inside_the_object_it_protects() {
    check_hazard(
        "hz_robust",
        &["object"],
        "started\nobject: owner_thread_died=EOWNERDEAD balance=1000 relock=0\n",
        3,
    );
}

/// Hung under PUSh (both backends): at thread exit the kernel marks each
/// robust mutex the thread still holds FUTEX_OWNER_DIED, writing the lock
/// word with the exiting thread's rights; here the word is in an object
/// protected by a lock the thread no longer holds, so the write failed
/// silently and the next locker waited forever on the dead owner's tid.
#[test]
fn robust_mutex_inside_an_object_protected_by_another_lock() {
    check_hazard(
        "hz_robust_nested",
        &[],
        "started\ninner=EOWNERDEAD n=1\n",
        3,
    );
}

#[test]
fn process_shared_mutex_and_condvar_across_fork() {
    check_hazard(
        "hz_pshared_fork",
        &[],
        "started\ncount=1000 turn=0 child_exit=0\n",
        1,
    );
}

#[test]
fn vfork_exec_and_posix_spawn_while_threads_hold_locks() {
    check_hazard(
        "hz_spawn",
        &[],
        "started\n\
         vfork-child\nvfork_exec=0\n\
         vfork_noexec=127\n\
         spawn-child\nposix_spawn=0\n\
         spawn-child-2\nposix_spawnp=0\n\
         held_during_spawns=yes held_count=1 churned=1\n",
        2,
    );
}

#[test]
fn tsd_destructors_that_free_and_set_again() {
    check_hazard(
        "hz_tsd_destructors",
        &[],
        "started\nstaged_calls=18 stage_sum=36 stubborn_calls=24\nmain_stage=1\n",
        1,
    );
}

#[test]
fn stack_overflow_recovered_on_an_alternate_signal_stack() {
    check_hazard(
        "hz_altstack_overflow",
        &[],
        "started\nthread_recovered=2 caught=2\nmain_recovered=1 caught=1\n",
        1,
    );
}

#[test]
fn atfork_handlers_and_fork_from_a_thread_while_others_hold_locks() {
    check_hazard(
        "hz_atfork",
        &[],
        "started\nprepare=1 parent=1 child=0 child_status=33 parent_sum=30\n",
        3,
    );
}

#[test]
fn once_raced_by_many_threads_and_a_reused_barrier() {
    check_hazard(
        "hz_once_barrier",
        &[],
        "started\nrounds=200 inits=200 serial=200 checksum=2559168\n",
        2,
    );
}

#[test]
fn timed_waits_that_expire_on_locks_inside_a_protected_object() {
    check_hazard(
        "hz_timeouts",
        &[],
        "started\n\
         mutex_timedlock=ETIMEDOUT\n\
         rwlock_timedrdlock=ETIMEDOUT\n\
         sem_timedwait=ETIMEDOUT\n\
         cond_timedwait=ETIMEDOUT\n\
         value=43\n",
        1,
    );
}

#[test]
fn fork_right_after_a_report_neither_hangs_nor_reports_twice() {
    require_pku!();
    let bin = compile_c("fork_after_report");
    for _ in 0..5 {
        for mode in MODES {
            let r = run_mode(mode, &bin);
            assert!(!r.timed_out, "hang\n{r}");
            assert_exit_code(&r, RACE_EXIT);
            assert_stdout(&r, "done\n");
            assert_race_access(
                &r,
                DATA_RACE,
                Access::Write,
                "fork_after_report.c",
                marker_line("fork_after_report", "write"),
            );
            assert_report_count(&r, 1);
        }
    }
}
