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
//! object it protects, for 1.5 s (two `mprotect` calls per critical section under
//! `mprotect`), then one thread writes object 0 for about a second,
//! without its lock (`racy`) or with it (`clean`).

use push_tests::*;

const NAME: &str = "budget_lock_in_object";
const STDOUT: &str = "started\nresult=1\n";

/// The budget at 1% (a full credit of 200 ms per thread): phase 1
/// spends it, in both ways of starting the program.
fn run_at_one_percent(mode: Mode, bin: &std::path::Path, arg: &str) -> RunResult {
    match mode {
        Mode::Preload => run_preload_args(bin, "mprotect_budget=1:verbose=1", &[], &[arg]),
        Mode::Cli => run_cli_args(
            bin,
            &["--mprotect-budget", "1", "--verbose", "1"],
            &[],
            &[arg],
        ),
    }
}

#[test]
fn a_race_that_keeps_happening_is_reported_after_objects_were_suspended() {
    let bin = check_native_args(NAME, &["racy"], STDOUT);
    require_pku!();
    let file = c_file_name(NAME);
    let line = marker_line(NAME, "write");
    for mode in MODES {
        let r = run_at_one_percent(mode, &bin, "racy");
        assert_exit_code(&r, RACE_EXIT);
        assert_stdout(&r, STDOUT);
        let report = assert_race_access(&r, DATA_RACE, Access::Write, &file, line);
        assert!(
            report
                .object_line()
                .is_some_and(|l| l.contains("protected_by")),
            "{:?}",
            report.object_line()
        );
        if test_backend() == Backend::Mprotect {
            assert!(
                r.stat("suspends").unwrap_or(0) > 0,
                "phase 1 must spend a 1% budget ({mode:?})\n{r}"
            );
        }
    }
}

#[test]
fn lock_per_operation_objects_are_suspended_and_nothing_is_reported() {
    check_clean_args(NAME, &["clean"], STDOUT);
    if test_backend() != Backend::Mprotect {
        return;
    }
    let bin = compile_c(NAME);
    for mode in MODES {
        let r = run_at_one_percent(mode, &bin, "clean");
        assert_exit_code(&r, 0);
        assert!(r.reports().is_empty(), "{r}");
        assert_stdout(&r, STDOUT);
        assert!(
            r.stat("suspends").unwrap_or(0) > 0,
            "a lock inside each object it protects, taken for 1.5 s, must spend a 1% budget\n{r}"
        );
    }
    // The default budget (10%, a full credit of 2 s per thread) is not
    // spent by this short run, and no budget suspends nothing.
    for options in ["verbose=1", "verbose=1:mprotect_budget=0"] {
        let r = run_preload_args(&bin, options, &[], &["clean"]);
        assert_exit_code(&r, 0);
        assert!(r.reports().is_empty(), "{r}");
        assert_eq!(r.stat("suspends").unwrap_or(0), 0, "{options}\n{r}");
    }
}
