//! The `mprotect` backend's cost budget (`mprotect_budget=PERCENT`,
//! default 10): a thread that has spent its share of time on faults and on
//! opening and closing tracked objects suspends the objects it would open
//! (open to every thread) until a sweeper closes them again, every 100 ms.
//! Lock-per-operation code stays usable, checking becomes sampling, a race
//! that keeps happening is still reported, and no false report appears.
//! Under `mpk` the option does nothing: the same programs must behave the
//! same there.
//!
//! `budget_lock_in_object.c`: two threads take 64 locks, each inside the
//! object it protects, 40,000 times (two `mprotect` calls each under
//! `mprotect`), then one thread writes object 0 for about a second,
//! without its lock (`racy`) or with it (`clean`).

use push_tests::*;

const NAME: &str = "budget_lock_in_object";
const STDOUT: &str = "started\nresult=40000\n";

#[test]
fn a_race_that_keeps_happening_is_reported_after_objects_were_suspended() {
    let bin = check_native_args(NAME, &["racy"], STDOUT);
    require_pku!();
    let file = c_file_name(NAME);
    let line = marker_line(NAME, "write");
    for report in racy_in_each_mode(&bin, &["racy"], Access::Write, &file, line) {
        assert!(
            report
                .object_line()
                .is_some_and(|l| l.contains("protected_by")),
            "{:?}",
            report.object_line()
        );
    }
}

#[test]
fn lock_per_operation_objects_are_suspended_and_nothing_is_reported() {
    check_clean_args(NAME, &["clean"], STDOUT);
    if test_backend() != Backend::Mprotect {
        return;
    }
    let bin = compile_c(NAME);
    let r = run_preload_args(&bin, "verbose=1", &[], &["clean"]);
    assert_exit_code(&r, 0);
    assert!(r.reports().is_empty(), "{r}");
    assert!(
        r.stat("suspends").unwrap_or(0) > 0,
        "a lock inside each object it protects, taken 40,000 times, must spend the default budget\n{r}"
    );
    let r = run_preload_args(&bin, "verbose=1:mprotect_budget=0", &[], &["clean"]);
    assert_exit_code(&r, 0);
    assert!(r.reports().is_empty(), "{r}");
    assert_eq!(r.stat("suspends"), None, "no bound: nothing suspended\n{r}");
    assert_stdout(&r, STDOUT);
}
