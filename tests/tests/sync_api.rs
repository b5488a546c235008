//! glibc's synchronization API beyond the classic calls (issue 18): the
//! clock forms (`pthread_mutex_clocklock`, `pthread_cond_clockwait`,
//! `pthread_rwlock_clock{rd,wr}lock`, `sem_clockwait`), the non-portable
//! joins (`pthread_{try,timed,clock}join_np`), robust mutexes
//! (`EOWNERDEAD`, `pthread_mutex_consistent`) and priority ceilings, the
//! init/destroy calls with attributes, and C11 `<threads.h>` (`mtx_*`,
//! `cnd_*`, `call_once`, `thrd_create/join/exit`), which glibc implements
//! with symbols of its own.
//!
//! Each clean program keeps its locks inside the tracked objects they
//! protect (so the lock code itself touches tracked memory) and orders
//! policy changes only through the function under test: it must run with
//! no report, exit 0 and print what it prints natively, under
//! `LD_PRELOAD` and under `push run`. Each racy twin forgets the lock or
//! the order and must be reported exactly once, at its `/* RACE:tag */`
//! line. Both backends (`PUSH_TEST_BACKEND`).

use push_tests::*;

/// [`check_racy`] for a program that takes arguments: natively it prints
/// `expected_stdout`; under the runtime, in both modes, it prints the same,
/// reports exactly one data race of `access` at `/* RACE:tag */` and
/// exits 66.
fn check_racy_args(name: &str, args: &[&str], tag: &str, access: Access, expected_stdout: &str) {
    let bin = check_native_args(name, args, expected_stdout);
    require_pku!();
    let file = c_file_name(name);
    let line = marker_line(name, tag);
    for mode in MODES {
        let r = run_mode_args(mode, &bin, args);
        assert_exit_code(&r, RACE_EXIT);
        assert_race_access(&r, DATA_RACE, access, &file, line);
        assert_report_count(&r, 1);
        assert_eq!(
            r.summary().map(|s| (s.reports, s.data_races)),
            Some((1, 1)),
            "summary ({mode:?})\n{r}"
        );
        assert_stdout(&r, expected_stdout);
    }
}

/// [`check_unordered`] for a program that takes arguments: exactly one
/// `unordered policy change` of the shape `expect` at `/* RACE:tag */`,
/// naming the change at `/* CHANGE:tag */`.
fn check_unordered_args(
    name: &str,
    args: &[&str],
    tag: &str,
    expect: Unordered<'_>,
    expected_stdout: &str,
) {
    let bin = check_native_args(name, args, expected_stdout);
    require_pku!();
    let file = c_file_name(name);
    let line = marker_line(name, tag);
    let change_line = change_marker_line(name, tag);
    for mode in MODES {
        let r = run_mode_args(mode, &bin, args);
        assert_exit_code(&r, RACE_EXIT);
        assert_unordered(&r, expect, &file, line, change_line);
        assert_report_count(&r, 1);
        assert_eq!(
            r.summary().map(|s| (s.reports, s.unordered_policy_changes)),
            Some((1, 1)),
            "summary ({mode:?})\n{r}"
        );
        assert_stdout(&r, expected_stdout);
    }
}

/// A transfer to the thread that then writes (or first reads) the object.
fn transfer_then(access: Access) -> Unordered<'static> {
    Unordered::Access {
        access,
        change: "push_transfer",
    }
}

// --- pthread_mutex_clocklock ------------------------------------------------

const CLOCKLOCK_OUT: &str = "started\neinval=1 timedout=1\nresult=9003,107,42\n";

#[test]
fn mutex_clocklock_monotonic_inside_its_object_orders_changes() {
    check_clean_args("sync_clocklock", &["monotonic"], CLOCKLOCK_OUT);
}

#[test]
fn mutex_clocklock_realtime_inside_its_object_orders_changes() {
    check_clean_args("sync_clocklock", &["realtime"], CLOCKLOCK_OUT);
}

#[test]
fn mutex_clocklock_that_timed_out_grants_nothing() {
    check_racy_args(
        "sync_clocklock_race",
        &[],
        "timedout",
        Access::Write,
        "started\ntimedout=1\nresult=11\n",
    );
}

// --- pthread_cond_clockwait -------------------------------------------------

const CLOCKWAIT_OUT: &str = "started\ntimedout=1\nresult=12538500 left=0\n";

#[test]
fn cond_clockwait_monotonic_inside_its_object_orders_changes() {
    check_clean_args("sync_cond_clockwait", &["monotonic"], CLOCKWAIT_OUT);
}

#[test]
fn cond_clockwait_realtime_inside_its_object_orders_changes() {
    check_clean_args("sync_cond_clockwait", &["realtime"], CLOCKWAIT_OUT);
}

#[test]
fn cond_clockwait_does_not_order_a_transfer_made_after_the_signal() {
    check_unordered_args(
        "sync_cond_clockwait_race",
        &[],
        "item",
        transfer_then(Access::Read),
        "started\nresult=5,7\n",
    );
}

// --- pthread_rwlock_clockrdlock / clockwrlock ---------------------------------

#[test]
fn rwlock_clock_forms_inside_their_object_order_changes() {
    check_clean(
        "sync_rwlock_clock",
        "started\neinval=1,1,1,1\nheld_w=110110 held_r=110000 (ETIMEDOUT=110)\nresult=3001,3040\n",
    );
}

#[test]
fn rwlock_clockrdlock_allows_no_write() {
    check_racy_args(
        "sync_rwlock_clock_race",
        &[],
        "write",
        Access::Write,
        "started\nresult=30,31\n",
    );
}

// --- sem_clockwait ------------------------------------------------------------

const SEM_CLOCKWAIT_OUT: &str = "started\ntimedout=1 einval=1 spare=1\nresult=204,12\n";

#[test]
fn sem_clockwait_monotonic_orders_changes() {
    check_clean_args("sync_sem_clockwait", &["monotonic"], SEM_CLOCKWAIT_OUT);
}

#[test]
fn sem_clockwait_realtime_orders_changes() {
    check_clean_args("sync_sem_clockwait", &["realtime"], SEM_CLOCKWAIT_OUT);
}

#[test]
fn sem_clockwait_that_timed_out_orders_nothing() {
    check_unordered_args(
        "sync_sem_clockwait_race",
        &[],
        "result",
        transfer_then(Access::Write),
        "started\ntimedout=1\nresult=6,7\n",
    );
}

// --- pthread_tryjoin_np / pthread_timedjoin_np / pthread_clockjoin_np -------

const JOIN_RESULT: &str = "result=88912,-88912,1007,42\n";

#[test]
fn tryjoin_np_orders_the_exited_threads_changes() {
    check_clean_args(
        "sync_join_np",
        &["try"],
        &format!("started\nfirst=EBUSY\n{JOIN_RESULT}"),
    );
}

#[test]
fn timedjoin_np_orders_the_exited_threads_changes() {
    check_clean_args(
        "sync_join_np",
        &["timed"],
        &format!("started\nfirst=ETIMEDOUT\n{JOIN_RESULT}"),
    );
}

#[test]
fn clockjoin_np_orders_the_exited_threads_changes() {
    check_clean_args(
        "sync_join_np",
        &["clock"],
        &format!("started\nfirst=ETIMEDOUT\n{JOIN_RESULT}"),
    );
}

#[test]
fn a_failed_join_np_orders_nothing() {
    for how in ["try", "timed", "clock"] {
        check_unordered_args(
            "sync_join_np_race",
            &[how],
            "given",
            transfer_then(Access::Write),
            "started\nfailed=1\nresult=8,9\n",
        );
    }
}

// --- robust mutexes, priority ceilings --------------------------------------

const ROBUST_OUT: &str = "started\nfirst=EOWNERDEAD again=0\n\
    ceiling=1 set=ok old=1 robust=EINVAL\n\
    second=EOWNERDEAD then=ENOTRECOVERABLE\nresult=100\n";

#[test]
fn robust_mutex_acquired_with_eownerdead_is_held() {
    for how in ["lock", "trylock", "timedlock", "clocklock"] {
        check_clean_args("sync_robust", &[how], ROBUST_OUT);
    }
}

/// The robust mutex inside the object it protects. When its holder dies,
/// the kernel marks the word (owner died) with the dying thread's access
/// rights: under `mpk` the thread still holds the lock, so its PKRU grants
/// the object's key; under `mprotect` the object's page would be closed
/// once the thread's windows close, so a thread exiting with robust
/// mutexes opens their objects for good first.
#[test]
fn robust_mutex_inside_its_object_acquired_with_eownerdead_is_held() {
    for how in ["lock", "trylock", "timedlock", "clocklock"] {
        check_clean_args("sync_robust", &[how, "inside"], ROBUST_OUT);
    }
}

// --- init and destroy with attributes -----------------------------------------

#[test]
fn init_getvalue_and_destroy_reach_words_the_caller_may_not_touch() {
    check_clean("sync_init_destroy", "started\nresult=600,600,1200\n");
}

// --- C11 <threads.h> ----------------------------------------------------------

#[test]
fn c11_threads_mutexes_condvars_once_and_join_are_clean() {
    check_clean(
        "sync_c11",
        "started\nbusy=1 timedout=1,1 exit=7\nresult=506387,3000,6000,12000,360,77\n",
    );
}

#[test]
fn c11_object_read_after_mtx_unlock_is_a_race() {
    check_racy_args(
        "sync_c11_race",
        &["mtx"],
        "mtx",
        Access::Read,
        "started\nresult=2,2\n",
    );
}

#[test]
fn c11_mtx_timedlock_that_timed_out_grants_nothing() {
    check_racy_args(
        "sync_c11_race",
        &["timedout"],
        "timedout",
        Access::Write,
        "started\nresult=1,11\n",
    );
}

#[test]
fn c11_table_read_without_call_once_is_unordered() {
    check_unordered_args(
        "sync_c11_race",
        &["once"],
        "once",
        Unordered::Access {
            access: Access::Read,
            change: "push_readonly",
        },
        "started\nresult=12,1\n",
    );
}

#[test]
fn c11_use_before_thrd_join_is_unordered() {
    check_unordered_args(
        "sync_c11_race",
        &["join"],
        "join",
        transfer_then(Access::Write),
        "started\nresult=9,1\n",
    );
}
